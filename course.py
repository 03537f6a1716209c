#!/usr/bin/env python3
"""The course's commands without `make` (Windows, or anywhere): the Makefile calls this too.

    python course.py lab          # = make lab: create .venv, install the course, open JupyterLab
    python course.py test         # = make test: the same install step, then every test and notebook

On Windows: ``py -3.11 course.py lab`` and ``py -3.11 course.py test``.

Other commands: ``install``, ``unit``, ``nbval``, ``student``, ``site``, ``site-check``.
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
EXTRAS = {"course": "dev", "site": "dev,site"}

# command -> (extras it needs, what it runs with the environment's Python)
COMMANDS: dict[str, tuple[str, list[str]]] = {
    "install": ("course", []),
    "lab": ("course", ["-m", "jupyterlab", "--notebook-dir=notebooks"]),
    "test": ("course", ["-m", "pytest"]),          # unit tests + nbval (pyproject's testpaths)
    "unit": ("course", ["-m", "pytest", "tests"]),
    "nbval": ("course", ["-m", "pytest", "notebooks"]),
    "student": ("course", ["tools/make_student.py", "--out", "student"]),
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
    if command == "lab" and (is_root() if root is None else root):
        line.append("--allow-root")  # Jupyter refuses to start as root without it (containers, CI)
    return line + extra


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
    parser.add_argument("command", choices=list(COMMANDS))
    parser.add_argument("args", nargs=argparse.REMAINDER,
                        help="passed on to pytest / jupyter lab / the tool")
    options = parser.parse_args(argv)
    if sys.version_info < (3, 10):
        raise SystemExit(f"Python {sys.version.split()[0]} is too old: the course needs 3.10 or "
                         "newer (3.11 is tested). Windows: py -3.11 course.py ...")

    venv = options.venv if options.venv.is_absolute() else ROOT / options.venv
    extras, _ = COMMANDS[options.command]
    stamps = [venv / INSTALL_STAMP] + ([venv / SITE_STAMP] if extras == "site" else [])
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

    line = command_line(options.command, venv, options.args)
    if not line:
        return 0
    env = dict(os.environ)  # tools started by the command (nbconvert, jupyter) from the venv first
    env["PATH"] = str(venv_python(venv).parent) + os.pathsep + env.get("PATH", "")
    return run(line, options.dry_run, env)


if __name__ == "__main__":
    sys.exit(main())
