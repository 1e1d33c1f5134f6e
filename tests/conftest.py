"""Session fixtures several test directories share: one of each per pytest-xdist worker, whichever directories'
tests the worker runs (tests/flows/conftest.py's ``prefect_server``, ``crm`` and ``erp`` hand them out)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.emulator import RunningEmulator, start_emulator
from tests.support.prefect_harness import prefect_harness, run_directory


@pytest.fixture(scope="session")
def shared_prefect_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A temporary Prefect server and database for the whole session (Prefect's test harness, its database
    copied from one already migrated: tests/support/prefect_harness.py)."""
    with prefect_harness(run_directory(tmp_path_factory)):
        yield


@pytest.fixture(scope="session")
def shared_crm_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """The Salesforce emulator (production org, demo data)."""
    emulator = start_emulator("salesforce", tmp_path_factory.mktemp("crm"), "--seed", "demo", "--api-limit", "1000000")
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def shared_erp_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """The ERP emulator (production account, demo data)."""
    emulator = start_emulator("erp", tmp_path_factory.mktemp("erp"), "--seed", "demo")
    yield emulator
    emulator.stop()
