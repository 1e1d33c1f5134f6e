"""Fixtures: a Salesforce emulator with the demo org (every object Tandem maps holds records), adapters on it."""

from __future__ import annotations

from typing import Any

import pytest

from tandem.salesforce.adapter import SalesforceAdapter
from tests.salesforce_adapter.conftest import credentials
from tests.support.emulator import RunningEmulator


@pytest.fixture
def org(shared_crm_emulator: RunningEmulator) -> RunningEmulator:
    """The worker's demo org (tests/conftest.py) as seeded, no faults, its call counters at zero."""
    shared_crm_emulator.control("POST", "clock", json={"reset": True})
    shared_crm_emulator.control("POST", "reset", json={"seed": "demo"})
    shared_crm_emulator.control("DELETE", "counters")
    return shared_crm_emulator


def adapter(emulator: RunningEmulator, **settings: Any) -> SalesforceAdapter:
    """An adapter on ``emulator`` built by the credentials block, with these block settings."""
    return credentials(emulator, **settings).get_client()


def calls(emulator: RunningEmulator) -> dict[str, int]:
    """The emulator's calls by endpoint name since its counters were last cleared."""
    return dict(emulator.control("GET", "counters")["by_endpoint"])
