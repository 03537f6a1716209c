"""JupyterLab in a real browser, for the explorers (`make browser-test`; see README).

What this sets up, once per session:

- ``course``: a temporary copy of every notebook with an explorer, instructor version and student
  version (``tools/make_student.py``). The course itself is never opened, so never rewritten; at
  the end the course notebooks are checked to be byte-for-byte unchanged.
- ``lab``: JupyterLab on 127.0.0.1 with a random token, autosave off, its own Jupyter config,
  data and runtime folders (so no setting, kernel or trust database of yours takes part).
- ``browser``: Chromium driven by Playwright -- the system's Chromium (``executable_path``), never
  a browser downloaded by ``playwright install``.

Screenshots go to ``browser_tests/screenshots/`` (git-ignored): ``FAILED-*.png`` on failure, and
a few of each passing run to look at.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import NamedTuple

import pytest

REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
#: notebooks with an explorer (add later ones here)
EXPLORER_NOTEBOOKS = ("02_root_points.ipynb", "05_vgg16_lrp.ipynb", "06_efficientnet_lrp.ipynb")

sys.path.insert(0, str(REPO / "tools"))
from find_browser import HOW_TO_GET_ONE as HOW_TO_GET_CHROMIUM  # noqa: E402
from find_browser import find_browser  # noqa: E402


def find_chromium() -> str | None:
    """A Chromium-family browser: $LRP_TEACH_CHROMIUM (``course.py browser-test --browser PATH``
    sets it), else chromium, chrome, msedge... on the PATH or in the usual places."""
    return find_browser()


def digest(paths) -> dict:
    return {str(path): hashlib.sha256(path.read_bytes()).hexdigest() for path in paths}


@pytest.fixture(scope="session", autouse=True)
def course_is_not_rewritten():
    notebooks = sorted((REPO / "notebooks").glob("*.ipynb"))
    before = digest(notebooks)
    yield
    assert digest(notebooks) == before, "the browser test changed the course's notebooks"


@pytest.fixture(scope="session")
def course(tmp_path_factory) -> Path:
    """<tmp>/course/{notebooks,student}/NN_*.ipynb, next to a link to data/ (as in the repo)."""
    root = tmp_path_factory.mktemp("course")
    (root / "notebooks").mkdir()
    for name in EXPLORER_NOTEBOOKS:
        shutil.copy2(REPO / "notebooks" / name, root / "notebooks" / name)
    (root / "data").symlink_to(REPO / "data")
    subprocess.run([sys.executable, str(REPO / "tools" / "make_student.py"), "--out",
                    str(root / "student"), *(str(REPO / "notebooks" / n) for n in EXPLORER_NOTEBOOKS)],
                   check=True, cwd=REPO, capture_output=True, text=True)
    for name in EXPLORER_NOTEBOOKS:
        assert (root / "student" / name).exists(), f"make_student.py wrote no {name}"
    return root


class Lab(NamedTuple):
    url: str
    token: str
    course: Path  # the folder JupyterLab serves


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def lab(course, tmp_path_factory):
    """A JupyterLab server over ``course``; yields a Lab (url, token, course)."""
    home = tmp_path_factory.mktemp("jupyter")
    settings = home / "lab-settings"
    for plugin, values in {
        # autosave off: the copies are never written behind our back; start the notebook's kernel
        # without the "Select Kernel" dialog
        "@jupyterlab/docmanager-extension/plugin": {"autosave": False,
                                                    "autoStartDefaultKernel": True},
        # every cell in the page (no lazy rendering), so that "every cell ran" sees every cell
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false",
                                                        "checkForUpdates": False},
    }.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    token = secrets.token_hex(16)
    port = free_port()
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTER_DATA_DIR=str(home / "data"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               PYTHONUNBUFFERED="1")
    env.pop("MPLBACKEND", None)  # the notebooks choose their backend themselves
    log = open(home / "lab.log", "w")
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
               f"--port={port}", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={course}", f"--LabApp.user_settings_dir={settings}",
               f"--LabApp.workspaces_dir={home / 'workspaces'}"]
    if hasattr(os, "getuid") and os.getuid() == 0:
        command.append("--allow-root")  # CI machines run as root
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                              start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5):
                break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise RuntimeError("JupyterLab did not start:\n" + (home / "lab.log").read_text())
            time.sleep(0.5)
    yield Lab(url, token, course)
    os.killpg(server.pid, signal.SIGTERM)  # the server and the kernels it started
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
    log.close()


SESSION_START = time.monotonic()


def pytest_terminal_summary(terminalreporter):
    """Wall time and the CPU time of everything started (JupyterLab, kernels, browser): on a busy
    machine the wall time says little, CPU seconds / 2 cores is what a quiet 2-core machine needs."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    terminalreporter.write_line(
        f"browser test: {time.monotonic() - SESSION_START:.0f} s wall; CPU of JupyterLab, kernels "
        f"and browser: {children.ru_utime + children.ru_stime:.0f} s; screenshots in {SCREENSHOTS}")


@pytest.fixture(scope="session")
def browser():
    executable = find_chromium()
    if executable is None:
        pytest.exit("no Chromium found.\n" + HOW_TO_GET_CHROMIUM, returncode=3)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.exit("Playwright for Python is missing.\n" + HOW_TO_GET_CHROMIUM, returncode=3)
    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True,
            # --no-sandbox: Chromium refuses to run as root (CI) with its sandbox
            args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        page = item.funcargs.get("page")
        if page is not None:
            name = item.name.replace("/", "_").replace("[", "-").replace("]", "")
            try:
                path = SCREENSHOTS / f"FAILED-{name}.png"
                page.screenshot(path=str(path), full_page=False)
                report.sections.append(("screenshot", str(path)))
            except Exception as error:  # the page may be gone
                report.sections.append(("screenshot", f"none: {error}"))


def shut_down_kernels(lab):
    """Each test starts with no kernel running (05's holds VGG16: ~2 GB)."""
    def call(method, path):
        request = urllib.request.Request(f"{lab.url}{path}?token={lab.token}", method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    for session in call("GET", "/api/sessions"):
        call("DELETE", f"/api/sessions/{session['id']}")


@pytest.fixture
def page(browser, lab):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.console_errors = []
    page.on("console", lambda message: message.type == "error"
            and page.console_errors.append(message.text))
    yield page
    context.close()
    shut_down_kernels(lab)
