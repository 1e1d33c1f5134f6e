"""Deployment tests: a real Prefect server and worker in their own processes; the emulators of the flow tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker
from prefect.settings import PREFECT_API_URL, temporary_settings

from tests.deployments.prefect_server import PrefectServer, prefect_server

# The flow tests' emulator fixtures (both emulators with their demo data), shared rather than copied.
from tests.flows.conftest import crm, erp  # noqa: F401
from tests.support.prefect_harness import run_directory

SERVER_STARTUP_SECONDS = 120.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """``prefect server start`` on a free port with its own home and database; this process's client uses it."""
    with (
        prefect_server(
            tmp_path_factory.mktemp("prefect"), run_directory(tmp_path_factory), timeout=SERVER_STARTUP_SECONDS
        ) as running,
        temporary_settings(updates={PREFECT_API_URL: running.api_url}),
    ):
        yield running
        send_what_is_queued()


#: How long the module's server is given to take what this process still has queued for it.
DRAIN_SECONDS = 60.0


def send_what_is_queued() -> None:
    """Send the events and log lines this process queued for the module's server while it still runs (a flow run in
    this process, a block saved), and stop their workers. Left queued for a stopped server, they would hang the
    next Prefect test harness of this pytest worker where it drains them, at the end of the session."""
    for worker in (EventsWorker, APILogWorker):
        worker.drain_all(timeout=DRAIN_SECONDS, at_exit=False)
