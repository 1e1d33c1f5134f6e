"""Session fixtures several test directories share: one of each per pytest-xdist worker, whichever directories'
tests the worker runs (tests/flows/conftest.py's ``prefect_server``, ``crm`` and ``erp`` hand them out)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.emulator import RunningEmulator, start_emulator
from tests.support.prefect_database import run_directory
from tests.support.prefect_harness import prefect_harness


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: two pytest-xdist workers per core this process may use.

    Part of a flow test is waiting (injected latency, a schedule firing by itself, a killed run's lock running out),
    so a worker per core leaves cores idle. Measured on 2 cores, 6 December 2026, the same code back to back: 4
    workers 503 s of wall time and 940 s of CPU, 3 workers 570 s and 1,050 s (the machine was slow that hour: an
    hour earlier 3 workers took 388 s and 2 workers 499 s). ``-n N`` or ``PYTEST_XDIST_AUTO_NUM_WORKERS`` choose
    otherwise.
    """
    return 2 * len(os.sched_getaffinity(0))


@pytest.fixture(scope="session")
def shared_prefect_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A temporary Prefect server and database for the whole session (what Prefect's test harness starts, its
    database copied from one already migrated: tests/support/prefect_harness.py)."""
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


#: The longest test files, longest first (their wall time in a run of 6 December 2026 with ``--durations``, after
#: the day's CPU cuts: the sandbox refresh's about 2½ minutes on its worker (its kills in one chain), the operator
#: path's 3 with a schedule that must fire by itself, the others 1 to 2). With ``--dist loadfile`` a worker that
#: starts one of these near the end keeps the whole run waiting, so they are handed out first; every other file
#: keeps its place. (This needs ``--no-loadscope-reorder`` in pyproject.toml's addopts: by default xdist hands out
#: the files with the most tests first, whatever the collection order, and the sandbox refresh started a minute
#: late.)
LONGEST_FIRST = (
    "tests/flows/test_sandbox_refresh.py",
    "tests/deployments/test_operator_path.py",
    "tests/flows/test_review_and_tasks.py",
    "tests/deployments/test_partitioned_workers.py",
    "tests/flows/test_incremental_deletions.py",
    "tests/flows/test_sync_properties.py",
    "tests/flows/test_status_cards.py",
    "tests/test_demo.py",
    "tests/flows/test_incremental_sync.py",
    "tests/flows/test_deletion_sweep.py",
    "tests/flows/test_kill_and_rerun.py",
    "tests/flows/test_field_level.py",
    "tests/deployments/test_alerts.py",
    "tests/flows/test_full_sync.py",
    "tests/flows/test_bulk_full_sync.py",
    "tests/salesforce_metadata/test_metadata_api.py",
    "tests/flows/test_couple_records.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the tests of :data:`LONGEST_FIRST` first, in its order (a stable sort: each file stays in one piece)."""
    rank = {path: index for index, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
