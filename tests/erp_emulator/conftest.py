"""Fixtures: one ERP emulator for the session, a signed zeep client, a unique prefix per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.erp_emulator.soap import ErpClient
from tests.support.emulator import RunningEmulator, running_emulator


@pytest.fixture(scope="session")
def erp_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """An ERP emulator (no seed, default limits) shared by the session."""
    data_dir: Path = tmp_path_factory.mktemp("erp")
    with running_emulator("erp", data_dir, "--seed", "none", "--get-deleted-page-size", "1000") as emulator:
        yield emulator


@pytest.fixture(scope="session")
def erp(erp_emulator: RunningEmulator) -> ErpClient:
    """A zeep client over the session emulator."""
    return ErpClient(erp_emulator)


@pytest.fixture(autouse=True)
def _clean_controls(request: pytest.FixtureRequest) -> Iterator[None]:
    """Clear fault rules and the clock offset after each test that used the session emulator."""
    if "erp_emulator" not in request.fixturenames and "erp" not in request.fixturenames:
        yield
        return
    emulator: RunningEmulator = request.getfixturevalue("erp_emulator")
    client: ErpClient = request.getfixturevalue("erp")
    yield
    emulator.control("DELETE", "faults")
    emulator.control("POST", "clock", json={"reset": True})
    client.clock_offset = 0.0


@pytest.fixture
def tag() -> str:
    """A prefix that keeps this test's externalIds apart from other tests' records."""
    return f"t{uuid.uuid4().hex[:10]}"
