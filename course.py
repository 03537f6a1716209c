#!/usr/bin/env python3
"""The course's commands, on Windows, macOS and Linux: the Makefile calls this too.

    python course.py lab          # = make lab: create .venv, install the course, open JupyterLab
    python course.py test         # = make test: the same install step, then every test and notebook

On Windows: ``py -3.11 course.py lab`` and ``py -3.11 course.py test``.

Other commands (each = the make target of the same name): ``install``, ``unit`` (without the
slow tests), ``nbval``, ``explain`` (the command-line heatmap: ``course.py explain PHOTO
--target 285 -o heatmap.png``), ``notebooks`` (re-execute; ``--normalize-only`` rewrites without
running), ``student``, ``lab-instructor`` (JupyterLab with nbgrader's Formgrader),
``schedule`` (the four-week schedule; ``--nbgrader-course DIR``: one nbgrader assignment per week), ``site`` (``--instructor``
for the edition with solutions), ``site-check``, ``bench``, ``browser-test``, ``portability``
(``--configs all`` for a release). ``site-check`` and ``browser-test`` take ``--browser PATH``.
Arguments after the command go to the program it runs (``python course.py test -k taylor``,
``python course.py lab --port 8890``). ``--dry-run`` prints what would run.

The first run creates ``.venv`` with this Python (``python -m venv``) and installs the course
into it (``pip install -e .[dev]``); later runs skip the install unless ``pyproject.toml`` is
newer than the last install. ``site`` / ``site-check`` also install the ``[site]`` extra.
Only the standard library is used here, so any Python 3.10+ can run it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
INSTALL_STAMP = ".lrp-teach-installed"        # same file the Makefile used: an upgrade keeps it
SITE_STAMP = ".lrp-teach-site-installed"
BROWSER_STAMP = ".lrp-teach-browser-installed"   # the Makefile's browser-test stamp, too
EXTRAS = {"course": "dev", "site": "dev,site", "browser": "dev,browser"}
EXTRA_STAMPS = {"course": [INSTALL_STAMP], "site": [INSTALL_STAMP, SITE_STAMP],
                "browser": [INSTALL_STAMP, BROWSER_STAMP]}

# JupyterLab for students: nbgrader's Formgrader / Assignment List / Create Assignment are
# switched off by this configuration folder (JUPYTER_CONFIG_PATH: it outranks the environment's
# own config, where nbgrader enables them, and leaves the user's ~/.jupyter alone).
# `lab-instructor` starts JupyterLab without it.
STUDENT_LAB_CONFIG = "tools/student-lab-config"
# setuptools' "Editable installation" BuildBackendWarning box during `pip install -e .`: it is
# about developing setuptools-packaged code in place, which is what the course wants.
QUIET_INSTALL_WARNINGS = "ignore:Editable installation"

# command -> (extras it needs, what it runs with the environment's Python)
COMMANDS: dict[str, tuple[str, list[str]]] = {
    "install": ("course", []),
    "lab": ("course", ["-m", "jupyterlab", "--notebook-dir=notebooks"]),
    "lab-instructor": ("course", ["-m", "jupyterlab", "--notebook-dir=."]),
    "test": ("course", ["-m", "pytest"]),          # unit tests + nbval (pyproject's testpaths)
    "unit": ("course", ["-m", "pytest", "tests", "-m", "not slow"]),   # the fast inner loop
    "nbval": ("course", ["-m", "pytest", "notebooks"]),
    "explain": ("course", ["-m", "lrp_teach", "explain"]),
    "notebooks": ("course", ["tools/run_notebooks.py"]),
    "student": ("course", ["tools/make_student.py", "--out", "student"]),
    "schedule": ("course", ["tools/course_schedule.py"]),
    "bench": ("course", ["benchmarks/bench_lrp.py"]),
    "portability": ("course", ["tools/portability_check.py"]),
    "browser-test": ("browser", ["-m", "pytest", "browser_tests", "-o", "addopts=",
                                 "-p", "no:cacheprovider"]),
    "site": ("site", ["tools/build_site.py"]),
    "site-check": ("site", ["tools/check_site.py"]),
}


def venv_python(venv: Path, windows: bool = os.name == "nt") -> Path:
    return venv / ("Scripts/python.exe" if windows else "bin/python")


def needs_install(stamp: Path, pyproject: Path) -> bool:
    """True if the environment was never installed, or pyproject.toml changed since."""
    return not stamp.exists() or pyproject.stat().st_mtime > stamp.stat().st_mtime


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def command_line(command: str, venv: Path, extra: list[str], root: bool | None = None) -> list[str]:
    """What `command` runs, with the environment's Python."""
    if command not in COMMANDS:
        raise SystemExit(f"unknown command {command!r}; choose one of: {', '.join(COMMANDS)}")
    _, args = COMMANDS[command]
    if not args:
        return []
    line = [str(venv_python(venv))] + args
    if command.startswith("lab") and any(a.startswith(("--notebook-dir", "--ServerApp.root_dir"))
                                         for a in extra):
        line = [a for a in line if not a.startswith("--notebook-dir")]  # given twice: an error
    if command.startswith("lab") and (is_root() if root is None else root):
        line.append("--allow-root")  # Jupyter refuses to start as root without it (containers, CI)
    if command == "notebooks" and not any(not a.startswith("-") for a in extra):
        line += [str(p.relative_to(ROOT).as_posix())  # every notebook (make notebooks without NB)
                 for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))]
    return line + extra


def split_browser_option(extra: list[str]) -> tuple[list[str], str | None]:
    """``--browser PATH`` / ``--browser=PATH`` out of the arguments (browser-test: pytest does
    not know it; the browser test reads it from $LRP_TEACH_CHROMIUM)."""
    rest, browser, items = [], None, iter(extra)
    for item in items:
        if item == "--browser":
            browser = next(items, None)
        elif item.startswith("--browser="):
            browser = item.split("=", 1)[1]
        else:
            rest.append(item)
    return rest, browser


def command_environment(command: str, venv: Path, base: dict | None = None) -> dict:
    """The environment a command runs in: the venv's programs first on the PATH."""
    env = dict(os.environ if base is None else base)
    env["PATH"] = str(venv_python(venv).parent) + os.pathsep + env.get("PATH", "")
    if command == "lab":
        env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(
            [str(ROOT / STUDENT_LAB_CONFIG)] + ([env["JUPYTER_CONFIG_PATH"]]
                                                if env.get("JUPYTER_CONFIG_PATH") else []))
    return env


def install_steps(venv: Path, extras: str) -> list[list[str]]:
    """Commands that create the environment (if missing) and install the course into it."""
    python = str(venv_python(venv))
    steps = []
    if not venv_python(venv).exists():
        steps += [[sys.executable, "-m", "venv", str(venv)],
                  [python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"]]
    steps += [[python, "-m", "pip", "install", "--quiet", "-e", f".[{EXTRAS[extras]}]"],
              [python, "-m", "pip", "check"]]
    return steps


def run(line: list[str], dry_run: bool, env: dict | None = None) -> int:
    print("+ " + " ".join(line), flush=True)
    if env is None:
        env = dict(os.environ, PYTHONWARNINGS=QUIET_INSTALL_WARNINGS)
    if dry_run:
        return 0
    try:
        return subprocess.call(line, cwd=ROOT, env=env)
    except KeyboardInterrupt:  # Ctrl-C in JupyterLab: a normal way to stop it
        return 130


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="commands: " + ", ".join(COMMANDS) + ". Windows: py -3.11 course.py lab")
    parser.add_argument("--venv", type=Path, default=Path(".venv"),
                        help="the environment's folder (default .venv)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    parser.add_argument("command", choices=list(COMMANDS), metavar="command",
                        help=", ".join(COMMANDS))
    parser.add_argument("args", nargs=argparse.REMAINDER,
                        help="passed on to pytest / jupyter lab / the tool")
    options = parser.parse_args(argv)
    if sys.version_info < (3, 10):
        raise SystemExit(f"Python {sys.version.split()[0]} is too old: the course needs 3.10 or "
                         "newer (3.11 is tested). Windows: py -3.11 course.py ...")

    extra, browser = options.args, None
    if options.command == "browser-test":
        extra, browser = split_browser_option(extra)
    if options.command in ("browser-test", "site-check"):
        # before installing anything: without a browser these cannot run
        sys.path.insert(0, str(ROOT / "tools"))
        from find_browser import HOW_TO_GET_ONE, find_browser

        explicit = browser or next((a.split("=", 1)[1] for a in extra
                                    if a.startswith("--browser=")), None)
        if explicit is None and "--browser" in extra[:-1]:
            explicit = extra[extra.index("--browser") + 1]
        browser = find_browser(explicit)
        if browser is None and not options.dry_run:
            print(f"course.py {options.command}: {HOW_TO_GET_ONE}", file=sys.stderr)
            return 3

    venv = options.venv if options.venv.is_absolute() else ROOT / options.venv
    extras, _ = COMMANDS[options.command]
    stamps = [venv / stamp for stamp in EXTRA_STAMPS[extras]]
    if any(needs_install(stamp, ROOT / "pyproject.toml") for stamp in stamps):
        for step in install_steps(venv, extras):
            code = run(step, options.dry_run)
            if code:
                print(f"course.py: the install step failed (exit {code}). Check the Python "
                      "version (3.10+ with TensorFlow wheels; 3.11 is tested) and see the "
                      "README's Troubleshooting; delete the .venv folder after changing Python.",
                      file=sys.stderr)
                return code
        if not options.dry_run:
            for stamp in stamps:
                stamp.touch()

    line = command_line(options.command, venv, extra)
    if not line:
        return 0
    env = command_environment(options.command, venv)
    if browser and options.command == "browser-test":
        env["LRP_TEACH_CHROMIUM"] = browser  # the browser test's conftest.py reads it
    return run(line, options.dry_run, env)


if __name__ == "__main__":
    sys.exit(main())
