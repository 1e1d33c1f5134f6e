"""Where the commands that read blocks (``card``, ``serve``, ``failures``) find them: your Prefect server, or
the demo's own Prefect home.

``make demo`` keeps Prefect's home (and its temporary server's database, with the ``demo`` blocks) under
``.tandem/demo/prefect``. A command run afterwards without ``PREFECT_API_URL`` would otherwise start a
temporary server on ``~/.prefect`` (15 to 30 s) and then not find the block. So, decided before Prefect
is imported (its settings are read once, at import):

1. ``PREFECT_API_URL`` set (in the environment, the active profile, or Prefect's settings already in force):
   that server;
2. ``PREFECT_HOME`` set: a temporary server on that home, as Prefect would;
3. a demo was run in the working directory (``.tandem/demo/prefect/prefect.db``, where ``tandem demo`` keeps
   it): the demo's home, with the settings the demo runs with;
4. none of these: one line saying what to do, at once.
"""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import MutableMapping
from pathlib import Path

from tandem.errors import CommandError

#: The demo's Prefect home, relative to the directory ``make demo`` runs in (flows/demo.py).
DEMO_PREFECT_HOME = Path(".tandem") / "demo" / "prefect"
#: What the demo sets for its temporary server (flows/demo.py), so a command reads its blocks the same way.
DEMO_SETTINGS = {
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
}
NO_PREFECT = (
    "no Prefect server set and no demo run in this directory: run `make demo` here first (its blocks live in "
    ".tandem/demo/prefect), or export PREFECT_API_URL=http://127.0.0.1:4200/api for your server (make serve starts one)"
)


def profile_api_url(environ: MutableMapping[str, str]) -> str | None:
    """The ``PREFECT_API_URL`` of the active Prefect profile (``~/.prefect/profiles.toml``), if it sets one."""
    home = Path(environ.get("PREFECT_HOME") or Path(environ.get("HOME", "~")) / ".prefect").expanduser()
    path = Path(environ.get("PREFECT_PROFILES_PATH", str(home / "profiles.toml"))).expanduser()
    try:
        profiles = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return None
    active = environ.get("PREFECT_PROFILE") or profiles.get("active")
    settings = profiles.get("profiles", {}).get(active, {}) if isinstance(active, str) else {}
    url = settings.get("PREFECT_API_URL") if isinstance(settings, dict) else None
    return str(url) if url else None


def demo_home(places: tuple[Path, ...]) -> Path | None:
    """The first demo Prefect home under ``places`` that holds a database."""
    for place in places:
        home = (place / DEMO_PREFECT_HOME).resolve()
        if (home / "prefect.db").is_file():
            return home
    return None


def use_demo_home_when_unset(
    environ: MutableMapping[str, str] | None = None, places: tuple[Path, ...] | None = None
) -> Path | None:
    """Point Prefect at the demo's home when no server or home is chosen; return that home (else ``None``).

    Call it before Prefect is imported. When Prefect is already imported (a test harness, a program that
    calls the CLI), its settings stand and nothing changes.

    Args:
        environ: the environment to read and update (``os.environ``).
        places: where to look for ``.tandem/demo/prefect`` (the working directory).

    Raises:
        CommandError: no server, no home and no demo: the message says to run the demo or set PREFECT_API_URL.
    """
    environ = os.environ if environ is None else environ
    places = (Path.cwd(),) if places is None else places
    if "prefect.settings" in sys.modules:
        return None
    if environ.get("PREFECT_API_URL") or environ.get("PREFECT_HOME") or profile_api_url(environ):
        return None
    home = demo_home(places)
    if home is None:
        raise CommandError(NO_PREFECT)
    environ["PREFECT_HOME"] = str(home)
    for name, value in DEMO_SETTINGS.items():
        environ.setdefault(name, value)
    return home
