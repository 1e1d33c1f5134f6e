"""The flow tests' Prefect server: one per pytest-xdist worker, in its own process, on a temporary database.

It is what Prefect's ``prefect_test_harness`` starts (the API app under uvicorn, as an ephemeral server: no UI, the
ephemeral servers' services), started here without importing Prefect's server into the test process: that import
alone cost each pytest process (the workers and the controller, which loads this module with tests/conftest.py)
about 2-3 s of CPU. The database starts as a copy of the run's migrated template (tests/support/prefect_database.py).

The server runs without the services that only turn events into records no harness test reads
(:data:`UNUSED_SERVICES`): the task run recorder (task runs' states, from the events every task run sends), the
automations' triggers and the event logger. The task run recorder alone was more than half the server's CPU: about
20 ms per task run, on a 2-core machine that also runs the flows. The event persister stays (the heartbeat test
reads events back). The deployment tests' real servers (tests/support/prefect_server.py) keep every service:
task runs and alerts are checked there.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import prefect
import prefect.context
from prefect.settings import PREFECT_API_URL, temporary_settings

from tests.support.prefect_server import PrefectServer, free_port, send_what_is_queued, started_server

STARTUP_TIMEOUT_SECONDS = 120
#: Server services whose records no harness test reads (see the module's docstring).
UNUSED_SERVICES = (
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED",
    "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED",
    "PREFECT_SERVER_SERVICES_EVENT_LOGGER_ENABLED",
)


@contextmanager
def prefect_harness(shared_dir: Path) -> Iterator[PrefectServer]:
    """Run the harness's server for the ``with`` block, this process's Prefect client pointed at it.

    ``shared_dir`` is shared by every worker of the run (pytest's base temporary directory's parent): the migrated
    template database is kept there.
    """
    directory = Path(tempfile.mkdtemp(prefix="prefect-harness-"))
    home = directory / "home"
    home.mkdir()
    database = directory / "prefect.db"
    port = free_port()
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, directory, ignore_errors=True)
        server = stack.enter_context(started_server(
            "harness server", _uvicorn(port), _server_env(home, database), home=home, port=port, database=database,
            shared_dir=shared_dir, log_path=directory / "server.log", timeout=STARTUP_TIMEOUT_SECONDS,
        ))
        stack.enter_context(temporary_settings(updates={PREFECT_API_URL: server.api_url}))
        # Threads started without this context (a web app served in one, a flow run in another) see the settings
        # too: they become the process's global settings, as Prefect's harness makes them (its own helper).
        stack.enter_context(prefect.context._temporary_global_settings_context(prefect.context.get_settings_context()))
        yield server
        send_what_is_queued()


def _uvicorn(port: int) -> list[str]:
    """The command Prefect's harness runs: the API app's factory under uvicorn, on ``port``."""
    return [
        sys.executable, "-m", "uvicorn", "--app-dir", str(Path(prefect.__file__).parents[1]),
        "--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
        "--log-level", "error", "--lifespan", "on",
    ]


def _server_env(home: Path, database: Path) -> dict[str, str]:
    """The server's environment: the inherited one without Prefect's settings, then the harness's."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{database}",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
        PREFECT__SERVER_EPHEMERAL="1",  # as the harness: the ephemeral servers' services, no UI
        PREFECT__SERVER_FINAL="1",
        DO_NOT_TRACK="1",
        **dict.fromkeys(UNUSED_SERVICES, "false"),
    )
    return env
