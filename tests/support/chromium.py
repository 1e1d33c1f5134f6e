"""Headless Chromium for tests: Debian's ``chromium`` package, installed through apt when missing.

A test fails (never skips) when the browser cannot be installed or started. :func:`dump_dom` returns
the DOM a page rendered to; :func:`screenshot` writes a PNG of it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support.requirements import tool_missing

_APT_TIMEOUT_S = 900
_RUN_TIMEOUT_S = 90
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage",
    "--no-first-run", "--disable-extensions", "--hide-scrollbars",
)


class ChromiumUnavailableError(RuntimeError):
    """Chromium could not be installed or run."""


def chromium() -> str:
    """The path of the ``chromium`` binary, installing Debian's package first when it is missing."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        tool_missing("the browser tests need Chromium: install the 'chromium' package (installing it here needs "
                     "root and apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=_APT_TIMEOUT_S, check=False)
        if done.returncode != 0:
            tool_missing(f"the browser tests need Chromium and {' '.join(command)} failed: {done.stderr[-500:]}")
    found = shutil.which("chromium")
    if not found:
        raise ChromiumUnavailableError("apt-get installed chromium, but no chromium binary is on PATH")
    return found


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="tandem-chromium-") as profile:
        done = subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
            timeout=_RUN_TIMEOUT_S, check=False,
        )
    if done.returncode != 0:
        raise ChromiumUnavailableError(f"chromium {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done


def dump_dom(url: str) -> str:
    """The DOM ``url`` rendered to, as HTML."""
    return _run("--dump-dom", url).stdout


def screenshot(url: str, path: Path, *, width: int = 480, height: int = 360) -> Path:
    """A PNG screenshot of ``url`` at ``path``."""
    _run(f"--screenshot={path}", f"--window-size={width},{height}", url)
    if not path.exists():
        raise ChromiumUnavailableError(f"chromium wrote no screenshot of {url}")
    return path
