"""Deployment tests: a real Prefect server and worker in their own processes; the emulators of the flow tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

# The flow tests' emulator fixtures (both emulators with their demo data), shared rather than copied.
from tests.flows.conftest import crm, erp  # noqa: F401
from tests.support.prefect_database import run_directory
from tests.support.prefect_server import PrefectServer, prefect_server, send_what_is_queued

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

