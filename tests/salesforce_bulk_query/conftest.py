"""Fixtures: a Salesforce emulator with the demo org (every object Tandem maps holds records), adapters on it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tandem.salesforce.adapter import SalesforceAdapter
from tests.salesforce_adapter.conftest import credentials
from tests.support.emulator import RunningEmulator, start_emulator


@pytest.fixture(scope="session")
def demo_org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """An emulator with the demo data, its clock at real time; tests here only read it, or reset it first."""
    emulator = start_emulator(
        "salesforce", tmp_path_factory.mktemp("sf-bulk-query"), "--seed", "demo", "--api-limit", "1000000"
    )
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def org(demo_org: RunningEmulator) -> RunningEmulator:
    """The demo org as seeded, no faults, its call counters at zero."""
    demo_org.control("POST", "clock", json={"reset": True})
    demo_org.control("POST", "reset", json={"seed": "demo"})
    demo_org.control("DELETE", "counters")
    return demo_org


def adapter(emulator: RunningEmulator, **settings: Any) -> SalesforceAdapter:
    """An adapter on ``emulator`` built by the credentials block, with these block settings."""
    return credentials(emulator, **settings).get_client()


def calls(emulator: RunningEmulator) -> dict[str, int]:
    """The emulator's calls by endpoint name since its counters were last cleared."""
    return dict(emulator.control("GET", "counters")["by_endpoint"])
