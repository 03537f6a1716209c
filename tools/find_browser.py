#!/usr/bin/env python
"""Find a Chromium-family browser for the site check and the browser test (standard library only).

Order: an explicit path (``--browser PATH``), then ``$LRP_TEACH_CHROMIUM``, then the first of
``chromium``, ``chromium-browser``, ``google-chrome``, ``chrome``, ``msedge``... on the PATH, then
the usual install locations on macOS and Windows. Playwright drives whichever is found; nothing
is downloaded (never ``playwright install``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ENVIRONMENT_VARIABLE = "LRP_TEACH_CHROMIUM"
NAMES_ON_PATH = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
                 "chrome", "microsoft-edge", "microsoft-edge-stable", "msedge")
_PROGRAM_FILES = [os.environ.get(name) for name in ("PROGRAMFILES", "PROGRAMFILES(X86)",
                                                     "LOCALAPPDATA")]
INSTALL_LOCATIONS = (
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    "/Applications/Microsoft Edge.app/Contents/MacOS/Microsoft Edge",
    *[str(Path(base) / tail) for base in _PROGRAM_FILES if base
      for tail in ("Google/Chrome/Application/chrome.exe", "Microsoft/Edge/Application/msedge.exe",
                   "Chromium/Application/chrome.exe")],
)
HOW_TO_GET_ONE = """\
no Chromium found: no Chromium-family browser (chromium, chromium-browser, google-chrome, chrome,
msedge) on the PATH or in the usual places.
  Debian/Ubuntu:  sudo apt-get install -y chromium     (Ubuntu: chromium-browser, or Google Chrome)
  macOS:          brew install --cask chromium          (or install Google Chrome)
  Windows:        Microsoft Edge or Google Chrome (installed in the usual place is found)
  any:            pass --browser PATH (course.py site-check --browser PATH), or set
                  LRP_TEACH_CHROMIUM=PATH
Playwright for Python drives the browser you have: do NOT run `playwright install` (it downloads
another browser, and fails offline)."""


def find_browser(explicit: str | None = None, environ=None, which=shutil.which,
                 exists=os.path.exists) -> str | None:
    """The path of a Chromium-family browser, or None. An explicit path that does not exist
    gives None (it is never silently replaced by another browser)."""
    environ = os.environ if environ is None else environ
    chosen = explicit or environ.get(ENVIRONMENT_VARIABLE)
    if chosen:
        return which(chosen) or (chosen if exists(chosen) else None)
    for name in NAMES_ON_PATH:
        found = which(name)
        if found:
            return found
    for location in INSTALL_LOCATIONS:
        if exists(location):
            return location
    return None


if __name__ == "__main__":
    import sys

    found = find_browser(sys.argv[1] if len(sys.argv) > 1 else None)
    print(found or HOW_TO_GET_ONE)
    sys.exit(0 if found else 1)
