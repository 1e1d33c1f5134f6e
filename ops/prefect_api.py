"""The Prefect server the operator commands talk to, checked fast before any work."""

from __future__ import annotations

import requests

from tandem.errors import CommandError

#: How long a command waits for the Prefect server's health check.
HEALTH_TIMEOUT_SECONDS = 5.0


def api_url() -> str:
    """The Prefect API address in force (``PREFECT_API_URL`` or the active profile's).

    Raises:
        CommandError: no address is set (Prefect would quietly start a temporary server of its own).
    """
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise CommandError(
            "no Prefect server set: export PREFECT_API_URL=http://127.0.0.1:4200/api (make serve starts one)"
        )
    return str(url).rstrip("/")


def require_server(timeout: float = HEALTH_TIMEOUT_SECONDS) -> str:
    """The API address, once its health check answers.

    Raises:
        CommandError: no address is set, or the server does not answer within ``timeout`` seconds.
    """
    url = api_url()
    session = requests.Session()
    session.trust_env = False
    try:
        healthy = session.get(f"{url}/health", timeout=timeout).json() is True
    except (requests.RequestException, ValueError):
        healthy = False
    if not healthy:
        raise CommandError(
            f"no Prefect server answers at {url}: start one with `make serve` or set PREFECT_API_URL"
        )
    return url
