"""`make browser-test` is optional: students' `make test` needs neither a browser nor Playwright,
and without Chromium the target says what to install instead of failing obscurely."""

import os
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_playwright_is_an_optional_extra_not_a_test_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert any(r.startswith("playwright") for r in extras["browser"])
    everything_else = list(project["dependencies"]) + list(extras["dev"])
    assert not any(r.startswith("playwright") for r in everything_else)


def test_make_test_neither_installs_nor_collects_the_browser_test():
    plan = subprocess.run(["make", "-n", "test", "VENV=/nonexistent-venv"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout
    assert "browser" not in plan and "playwright" not in plan
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'testpaths = ["tests", "notebooks"]' in pyproject  # browser_tests/ is not collected


def test_browser_test_without_chromium_says_what_to_install():
    if not (ROOT / ".venv" / ".lrp-teach-installed").exists():
        pytest.skip("not running inside the course's .venv")
    env = dict(os.environ, LRP_TEACH_CHROMIUM="/nonexistent/chromium")
    result = subprocess.run(["make", "--no-print-directory", "browser-test"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    message = result.stderr
    assert "no Chromium found" in message
    assert "apt-get install -y chromium" in message and "brew install" in message
    assert "playwright install" in message  # ... as what NOT to do
    assert "pytest" not in result.stdout  # stopped before running anything


def test_ci_runs_the_browser_test_after_make_test():
    script = (ROOT / ".ci" / "run").read_text()
    assert script.index("make test") < script.index("make browser-test")
    assert "apt-get install -y" in script and "chromium" in script
