"""The HubSpot emulator out of process (demo seed), started once per test session and reset before each test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.support.emulator import RunningEmulator, start_emulator


@pytest.fixture(scope="session")
def hubspot_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """The HubSpot emulator with its demo data."""
    emulator = start_emulator("hubspot", tmp_path_factory.mktemp("hubspot"), "--seed", "demo")
    yield emulator
    emulator.stop()


@pytest.fixture
def hubspot(hubspot_emulator: RunningEmulator) -> RunningEmulator:
    """The emulator back to its demo data, real time, default rate limits, no faults."""
    hubspot_emulator.control("POST", "reset", json={"seed": "demo"})
    hubspot_emulator.control("POST", "clock", json={"reset": True})
    hubspot_emulator.control("POST", "rate-limits", json={"interval_max": 190, "daily_max": 650_000,
                                                         "search_per_second": 0, "reset": True})
    return hubspot_emulator


class Api:
    """A tiny client for the raw wire: ``api.post("/crm/v3/...", json=...)`` with the demo token."""

    def __init__(self, emulator: RunningEmulator, token: str | None = None) -> None:
        self.base = emulator.base_url
        self.session = emulator.session()
        self.session.headers["Authorization"] = f"Bearer {token or emulator.info['access_token']}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Call the emulator (10 s timeout)."""
        return self.session.request(method, self.base + path, timeout=10, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        """GET."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        """POST."""
        return self.request("POST", path, **kwargs)


@pytest.fixture
def api(hubspot: RunningEmulator) -> Iterator[Api]:
    """A raw client on the fresh emulator."""
    client = Api(hubspot)
    yield client
    client.session.close()
