"""course.py (the path without make, e.g. on Windows) and the Makefile run the same commands."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_course():
    spec = importlib.util.spec_from_file_location("course_entry", ROOT / "course.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


course = _load_course()


def _make_plan(*targets, **variables):
    # A plain top-level make: under `make test` the environment carries MAKELEVEL/MAKEFLAGS (a
    # nested make adds "make[1]: Entering/Leaving directory" lines to its plan) and the variables
    # given on make's command line (e.g. PYTEST_ARGS), which would change the plan.
    args = ["make", "-n", "--no-print-directory", *targets] + [f"{k}={v}" for k, v in variables.items()]
    inherited = ("MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES", "PYTEST_ARGS", "LAB_ARGS",
                 "SITE_ARGS", "PYTHON", "VENV", "NB", "CONFIGS")
    env = {k: v for k, v in os.environ.items() if k not in inherited}
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=True,
                          env=env).stdout


def _course_plan(*args):
    result = subprocess.run([sys.executable, "course.py", "--dry-run", *args], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


MAKE_TARGETS = ["install", "lab", "lab-instructor", "test", "unit", "nbval", "portability",
                "student", "notebooks", "schedule", "explain", "browser-test", "bench", "site",
                "site-check"]


@pytest.mark.parametrize("target", MAKE_TARGETS)
def test_make_target_is_a_call_of_course_py(target):
    plan = _make_plan(target, PYTHON="python3.11", VENV="/tmp/some-venv")
    assert plan.strip().splitlines()[-1].strip() == \
        f"python3.11 course.py --venv /tmp/some-venv {target}"


def test_every_make_target_but_clean_is_listed_above():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([\w-]+):", makefile, re.M)) - {"clean", "site-instructor"}
    assert targets == set(MAKE_TARGETS)
    plan = _make_plan("site-instructor", PYTHON="python3.11", VENV="/tmp/v")
    assert plan.strip().splitlines()[-1].strip() == "python3.11 course.py --venv /tmp/v site --instructor"


def test_course_unit_runs_exactly_what_make_unit_runs():
    line = course.command_line("unit", Path("v"), [])
    assert line[1:] == ["-m", "pytest", "tests", "-m", "not slow"]
    assert _make_plan("unit", VENV="v").strip().endswith("course.py --venv v unit")


def test_make_variables_reach_the_course_py_command():
    assert _make_plan("notebooks", NB="notebooks/03_z.ipynb").strip().endswith(
        "notebooks notebooks/03_z.ipynb")
    assert _make_plan("portability", CONFIGS="all").strip().endswith("portability --configs all")
    # course.py notebooks without a notebook: every notebooks/NN_*.ipynb, as make notebooks did
    line = course.command_line("notebooks", Path("v"), [])
    assert line[1] == "tools/run_notebooks.py"
    assert line[2:] == [f"notebooks/{p.name}" for p in
                        sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))]
    assert course.command_line("notebooks", Path("v"), ["notebooks/03_z.ipynb"])[2:] == \
        ["notebooks/03_z.ipynb"]


def test_students_lab_switches_nbgrader_off_and_the_instructors_does_not():
    env = course.command_environment("lab", Path("v"), base={"PATH": "/bin"})
    config = Path(env["JUPYTER_CONFIG_PATH"].split(os.pathsep)[0])
    assert config == ROOT / course.STUDENT_LAB_CONFIG
    import json
    server = json.loads((config / "jupyter_server_config.d" / "lrp-teach-student.json").read_text())
    disabled = server["ServerApp"]["jpserver_extensions"]
    assert disabled["nbgrader.server_extensions.formgrader"] is False
    assert disabled["nbgrader.server_extensions.assignment_list"] is False
    page = json.loads((config / "labconfig" / "page_config.json").read_text())
    assert page["disabledExtensions"]["@jupyter/nbgrader"] is True
    assert "JUPYTER_CONFIG_PATH" not in course.command_environment(
        "lab-instructor", Path("v"), base={"PATH": "/bin"})


def test_browser_option_becomes_the_browser_tests_variable():
    assert course.split_browser_option(["-k", "x", "--browser", "/opt/edge"]) == (["-k", "x"],
                                                                                "/opt/edge")
    assert course.split_browser_option(["--browser=/b"]) == ([], "/b")


def test_every_command_the_makefile_passes_exists_in_course_py():
    makefile = (ROOT / "Makefile").read_text()
    used = set(re.findall(r"\$\(COURSE\) ([\w-]+)", makefile))
    assert {"install", "lab", "test"} <= used
    assert used <= set(course.COMMANDS), f"unknown to course.py: {used - set(course.COMMANDS)}"


def test_make_installs_only_through_course_py_with_the_old_stamps():
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install" not in makefile and "STAMP" not in makefile
    # the stamp files the Makefile used to write: an existing .venv is not reinstalled
    assert course.INSTALL_STAMP == ".lrp-teach-installed"
    assert course.BROWSER_STAMP == ".lrp-teach-browser-installed"


def test_arguments_after_the_command_reach_pytest_and_jupyter():
    assert "-m pytest -k taylor -x" in _course_plan("test", "-k", "taylor", "-x")
    assert "--port 8890" in _course_plan("lab", "--port", "8890")
    make_plan = _make_plan("test", PYTEST_ARGS="-k taylor")
    assert "course.py --venv .venv test -k taylor" in make_plan


def test_fresh_environment_is_created_then_installed_then_used():
    plan = _course_plan("--venv", "/nonexistent-venv", "site").splitlines()
    assert plan[0].endswith("-m venv /nonexistent-venv")
    assert any(line.endswith("pip install --quiet -e .[dev,site]") for line in plan)
    assert plan[-1] == "+ /nonexistent-venv/bin/python tools/build_site.py"


def test_site_commands_install_the_site_extra_once(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    (venv / course.INSTALL_STAMP).touch()
    plan = _course_plan("--venv", str(venv), "site")
    assert "pip install --quiet -e .[dev,site]" in plan     # the course is there, the site extra not
    assert "-m venv" not in plan                             # the environment exists
    (venv / course.SITE_STAMP).touch()
    assert "pip install" not in _course_plan("--venv", str(venv), "site")
    assert "pip install" not in _course_plan("--venv", str(venv), "unit")


def test_needs_install_follows_pyproject_mtime(tmp_path):
    pyproject, stamp = tmp_path / "pyproject.toml", tmp_path / "stamp"
    pyproject.write_text("")
    assert course.needs_install(stamp, pyproject)            # never installed
    stamp.touch()
    os.utime(pyproject, (1_000, 1_000))
    os.utime(stamp, (2_000, 2_000))
    assert not course.needs_install(stamp, pyproject)
    os.utime(pyproject, (3_000, 3_000))                      # pyproject.toml edited since
    assert course.needs_install(stamp, pyproject)


def test_windows_and_posix_environment_layout():
    assert course.venv_python(Path("v"), windows=True) == Path("v/Scripts/python.exe")
    assert course.venv_python(Path("v"), windows=False) == Path("v/bin/python")


def test_lab_allows_root_only_as_root():
    assert course.command_line("lab", Path("v"), [], root=True)[-1] == "--allow-root"
    assert "--allow-root" not in course.command_line("lab", Path("v"), [], root=False)


def test_unknown_command_is_refused_with_the_list():
    result = subprocess.run([sys.executable, "course.py", "tset"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "invalid choice: 'tset'" in result.stderr and "test" in result.stderr


def test_readme_gives_the_windows_commands_next_to_make():
    readme = (ROOT / "README.md").read_text()
    for command in ("make lab", "make test", "py -3.11 course.py lab", "py -3.11 course.py test"):
        assert command in readme, f"README does not show `{command}`"


def test_lab_takes_another_notebook_folder_instead_of_the_default():
    line = course.command_line("lab", Path("v"), ["--notebook-dir=student"], root=False)
    assert [a for a in line if a.startswith("--notebook-dir")] == ["--notebook-dir=student"]
    assert "--notebook-dir=notebooks" in course.command_line("lab", Path("v"), [], root=False)
