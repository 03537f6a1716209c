"""The frame: dependencies in sync, the two commands, CI calls `make test`, quiet imports."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"]) + list(project["optional-dependencies"]["dev"])
    return {_name(r): r.replace(" ", "") for r in requirements}


def _environment_yml_pip_requirements() -> dict[str, str]:
    # environment.yml is simple enough to read without PyYAML: the entries under "- pip:".
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    entries = []
    for line in lines[start + 1:]:
        stripped = line.strip()
        if not stripped.startswith("- "):
            break
        entries.append(stripped[2:].strip())
    return {_name(e): e.replace(" ", "") for e in entries if not e.startswith("-e")}


def test_environment_yml_names_the_same_dependencies_as_pyproject():
    pyproject = _pyproject_requirements()
    conda = _environment_yml_pip_requirements()
    assert set(pyproject) == set(conda), (
        f"only in pyproject.toml: {sorted(set(pyproject) - set(conda))}; "
        f"only in environment.yml: {sorted(set(conda) - set(pyproject))}")
    for name, requirement in pyproject.items():
        assert conda[name] == requirement, f"{name}: pyproject says {requirement}, " \
                                           f"environment.yml says {conda[name]}"


def test_environment_yml_installs_this_package_and_uses_conda_forge():
    text = (ROOT / "environment.yml").read_text()
    assert "conda-forge" in text
    assert re.search(r"^\s*- -e \.\s*$", text, re.M), "the pip section must install the course"


def test_dependencies_are_cross_platform_and_have_lower_bounds():
    requirements = _pyproject_requirements()
    for required in ("tensorflow", "keras", "numpy", "matplotlib", "sympy", "ipywidgets",
                     "jupyterlab", "nbval", "pytest", "pillow"):
        assert required in requirements, f"{required} missing from pyproject.toml"
        assert ">=" in requirements[required], f"{required} needs a known-good lower bound"
    # A Linux-only wheel name would lock out macOS / Windows students.
    assert not {"tensorflow-cpu", "tensorflow-intel", "tf-nightly"} & set(requirements)


def test_ci_runs_make_test():
    script = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^\s*make test\b", script, re.M)


@pytest.mark.parametrize("target", ["test", "lab"])
def test_make_targets_install_before_running(target):
    # make calls course.py (the entry point for students without make), which installs first.
    plan = subprocess.run(["make", "-n", target, "VENV=/nonexistent-venv"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout
    assert f"course.py --venv /nonexistent-venv {target}" in plan
    plan = subprocess.run([sys.executable, "course.py", "--venv", "/nonexistent-venv",
                           "--dry-run", target], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout
    assert "-m venv /nonexistent-venv" in plan
    assert "pip install --quiet -e .[dev]" in plan
    assert ("-m pytest" if target == "test" else "-m jupyterlab --notebook-dir=notebooks") in plan


def test_make_test_does_not_reinstall_when_nothing_changed():
    stamp = ROOT / ".venv" / ".lrp-teach-installed"
    if not stamp.exists():
        pytest.skip("not running inside the course's .venv")
    if (ROOT / "pyproject.toml").stat().st_mtime > stamp.stat().st_mtime:
        pytest.skip("pyproject.toml changed since the last install: the next run reinstalls")
    plan = subprocess.run([sys.executable, "course.py", "--dry-run", "test"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout
    assert "pip install" not in plan and "-m venv" not in plan
    assert "-m pytest" in plan


def test_import_is_lazy_and_quiet():
    code = ("import sys, lrp_teach; assert 'tensorflow' not in sys.modules; "
            "lrp_teach.setup_notebook(); assert 'tensorflow' in sys.modules; "
            "import tensorflow as tf; print(float(tf.constant(2.0) * 2))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "4.0"
    assert result.stderr == "", f"TensorFlow noise reached stderr:\n{result.stderr}"


def test_setup_notebook_is_deterministic():
    code = ("import lrp_teach; lrp_teach.setup_notebook(seed=3); import numpy as np, keras; "
            "print(np.random.rand(), float(keras.random.uniform(())))")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           cwd=ROOT).stdout for _ in range(2)}
    assert len(runs) == 1 and runs != {""}
