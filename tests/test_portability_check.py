"""tools/portability_check.py: it catches an output that depends on the numerical configuration.

The real notebooks are far too slow for a unit test, so these tests build tiny notebooks whose
printed output depends (or not) on the variables a configuration sets, and run the tool on them
in a temporary "repository" (the tool works in the current directory, like from a repo root).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "portability_check.py"


@functools.cache
def load_tool():
    spec = importlib.util.spec_from_file_location("portability_check", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def write_notebook(path: Path, cells: list[tuple[str, str]]) -> None:
    """cells: (source, committed stdout) pairs, stored as executed cells (nbval compares them)."""
    nb = new_notebook(cells=[
        new_code_cell(source, execution_count=i + 1,
                      outputs=[new_output("stream", name="stdout", text=out)] if out else [])
        for i, (source, out) in enumerate(cells)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "notebooks").mkdir()
    shutil.copy(ROOT / "notebooks" / "sanitize.cfg", tmp_path / "notebooks" / "sanitize.cfg")
    # committed on the reference machine: 2 threads, default kernels
    write_notebook(tmp_path / "notebooks" / "01_fragile.ipynb", [
        ("print('stable', 1 + 1)", "stable 2\n"),
        ("import os\nprint('threads', os.environ.get('LRP_TEACH_THREADS', '2'))", "threads 2\n"),
        ("import os\nassert 'ONEDNN_MAX_CPU_ISA' not in os.environ, 'kernel ISA capped'", ""),
    ])
    write_notebook(tmp_path / "notebooks" / "02_stable.ipynb", [
        ("print(round(0.1 + 0.2, 3))", "0.3\n"),
    ])
    return tmp_path


def run_tool(repo: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in load_tool().CONTROLLED}
    return subprocess.run([sys.executable, str(TOOL), *args], cwd=repo, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)


def test_catches_outputs_and_assertions_that_depend_on_the_configuration(repo):
    result = run_tool(repo, "--configs", "1-thread,sse41-cpu")
    out = result.stdout
    assert result.returncode == 1, out
    rows = [line.split() for line in out.splitlines() if " FAIL " in f" {line} "
            and line.split()[:1] and line.split()[0] in ("1-thread", "sse41-cpu")]
    failing = {(row[0], row[1], int(row[2])) for row in rows if row[3] == "FAIL"}
    assert failing == {("1-thread", "01_fragile.ipynb", 1), ("sse41-cpu", "01_fragile.ipynb", 2)}
    # the differing output and the failed assertion are shown, labelled
    assert "committed: threads 2" in out and "this run : threads 1" in out
    assert "AssertionError: kernel ISA capped" in out
    summary = out[out.index("summary"):].splitlines()
    assert any(line.split()[:1] == ["1-thread"] and "FAIL" in line for line in summary)


def test_passes_when_every_configuration_reproduces_the_committed_outputs(repo):
    result = run_tool(repo, "--configs", "sse41-cpu", "notebooks/02_stable.ipynb")
    assert result.returncode == 0, result.stdout
    assert "OK: every committed output holds in every configuration" in result.stdout


def test_usage_errors_name_the_problem(repo):
    result = run_tool(repo, "--configs", "2-threads")
    assert result.returncode == 2 and "unknown configuration" in result.stdout
    result = run_tool(repo, "notebooks/99_missing.ipynb")
    assert result.returncode == 2 and "99_missing.ipynb" in result.stdout


def test_each_configuration_sets_exactly_its_variables():
    tool = load_tool()
    base = {"PATH": "/bin", "TF_ENABLE_ONEDNN_OPTS": "1", "LRP_TEACH_THREADS": "7"}
    assert tool.config_environment("reference", base) == {"PATH": "/bin"}
    env = tool.config_environment("1-thread", base)
    assert env["LRP_TEACH_THREADS"] == "1" and env["TF_ENABLE_ONEDNN_OPTS"] == "0"
    assert "ONEDNN_MAX_CPU_ISA" not in env and env["PATH"] == "/bin"
    for name, (_, variables) in tool.CONFIGS.items():
        assert set(variables) <= set(tool.CONTROLLED), name
    assert set(tool.DEFAULT_CONFIGS) <= set(tool.CONFIGS)


def test_excerpt_relabels_pytest_diff_and_keeps_the_exception():
    tool = load_tool()
    mismatch = ("Cell 23: Cell outputs differ\n\nTraceback:\n mismatch 'stdout'\n\n"
                " assert reference_output == test_output failed:\n\n"
                "  'a 17.127' == 'a 17.123'\n  \n  - a 17.123\n  ?       ^\n  + a 17.127\n"
                "  ?       ^\n")
    assert tool.excerpt_of_failure(mismatch) == ["committed: a 17.127", "this run : a 17.123"]
    raised = ("Cell 25: Cell execution caused an exception\nTraceback:\n"
              "#x1B[31mAssertionError#x1B[39m: \nNot equal to tolerance rtol=0.0001\n"
              "Mismatched elements: 2 / 20402 (0.0098%)\n")
    excerpt = tool.excerpt_of_failure(raised)
    assert excerpt[0] == "AssertionError:" and "Mismatched elements: 2 / 20402 (0.0098%)" in excerpt


def test_the_two_mixed_configurations_change_everything_the_four_single_ones_change():
    tool = load_tool()
    mixed_a, mixed_b = tool.CONFIGS["mixed-a"][1], tool.CONFIGS["mixed-b"][1]
    assert mixed_a == {**tool.CONFIGS["4-threads"][1], **tool.CONFIGS["sse41-cpu"][1]}
    assert mixed_b == {**tool.CONFIGS["1-thread"][1], **tool.CONFIGS["xla"][1]}
    for single in tool.SINGLE_CONFIGS:   # each single change is inside one of the two
        variables = tool.CONFIGS[single][1].items()
        assert variables <= mixed_a.items() or variables <= mixed_b.items(), single
    assert mixed_a["TF_ENABLE_ONEDNN_OPTS"] != mixed_b["TF_ENABLE_ONEDNN_OPTS"]  # both ways
    assert tool.DEFAULT_CONFIGS == ("mixed-a", "mixed-b")


def test_ci_runs_make_test_under_one_mixed_configuration_and_portability_under_the_other():
    script = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    assert "--shell-env mixed-a)" in script and "make portability CONFIGS=mixed-b" in script
    assert script.index("--shell-env mixed-a") < script.index("    make test")


def test_shell_env_prints_exactly_the_configuration(capsys):
    tool = load_tool()
    assert tool.main(["--shell-env", "mixed-b"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("unset ") and set(lines[0].split()[1:]) == set(tool.CONTROLLED)
    assert "export TF_XLA_FLAGS='--tf_xla_auto_jit=2 --tf_xla_cpu_global_jit'" in lines
    assert len(lines) == 1 + len(tool.CONFIGS["mixed-b"][1])


def test_a_timeout_is_reported_as_such_with_the_last_cells_reached(repo, monkeypatch):
    tool = load_tool()

    def too_slow(*args, **kwargs):
        raise subprocess.TimeoutExpired(args[0], 5, output=b"nb.ipynb::Cell 3 PASSED\n")
    monkeypatch.setattr(tool.subprocess, "run", too_slow)
    results, _ = tool.run_config("1-thread", [Path("nb.ipynb")], {}, timeout=5)
    (result,) = results
    assert not result.passed
    assert result.excerpt[-1] == "nbval did not finish within 5 s (--timeout)"
    assert "nb.ipynb::Cell 3 PASSED" in result.excerpt
