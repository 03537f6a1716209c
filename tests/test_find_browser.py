"""tools/find_browser.py: site-check and the browser test find a Chromium-family browser on any
system, or take the one named, instead of assuming /usr/bin/chromium."""

from __future__ import annotations

from exercise_helpers import _load_tool

find_browser = _load_tool("find_browser")


def _which(available: dict):
    return lambda name: available.get(name)


def test_the_first_chromium_family_name_on_the_path_wins():
    which = _which({"google-chrome": "/opt/google/chrome/google-chrome",
                    "msedge": "C:/Edge/msedge.exe"})
    assert find_browser.find_browser(environ={}, which=which, exists=lambda p: False) == \
        "/opt/google/chrome/google-chrome"
    which = _which({"msedge": "C:/Edge/msedge.exe"})
    assert find_browser.find_browser(environ={}, which=which, exists=lambda p: False) == \
        "C:/Edge/msedge.exe"


def test_usual_install_folders_when_nothing_is_on_the_path():
    wanted = find_browser.INSTALL_LOCATIONS[1]
    assert find_browser.find_browser(environ={}, which=_which({}),
                                     exists=lambda p: p == wanted) == wanted
    assert find_browser.find_browser(environ={}, which=_which({}), exists=lambda p: False) is None


def test_an_explicit_browser_is_used_or_refused_never_replaced():
    which = _which({"chromium": "/usr/bin/chromium"})
    assert find_browser.find_browser("/my/edge", environ={}, which=which,
                                     exists=lambda p: p == "/my/edge") == "/my/edge"
    assert find_browser.find_browser("/typo/edge", environ={}, which=which,
                                     exists=lambda p: False) is None
    env = {find_browser.ENVIRONMENT_VARIABLE: "/env/chrome"}
    assert find_browser.find_browser(environ=env, which=which,
                                     exists=lambda p: p == "/env/chrome") == "/env/chrome"


def test_the_message_says_how_to_get_one_and_what_not_to_do():
    message = find_browser.HOW_TO_GET_ONE
    for needle in ("apt-get install -y chromium", "brew install", "--browser PATH", "Edge",
                   "playwright install"):
        assert needle in message
