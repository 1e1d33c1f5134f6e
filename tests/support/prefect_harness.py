"""Prefect's test harness (``prefect_test_harness``) started from a database that is already migrated.

A harness server spends about half of its start (some 4-5 s of CPU on this machine) running Prefect's ~100
database migrations on an empty SQLite file. Every pytest-xdist worker that runs flow tests starts one. Here the
first harness of a test run migrates as usual and its database, right after the server answered, becomes the
template: the next harnesses (the other workers') start from a copy of it, the migrations find nothing to do. The
server, its settings and everything the tests see are the harness's own; the server also sends no telemetry.
The real ``prefect server start`` of the deployment tests starts from the same template
(:func:`database_from_template`).

The harness server runs without the services that only turn events into records no harness test reads
(:data:`UNUSED_SERVICES`): the task run recorder (task runs' states, from the events every task run sends), the
automations' triggers and the event logger. The task run recorder alone was more than half the server's CPU: about
20 ms per task run, on a 2-core machine that also runs the flows. The event persister stays (the heartbeat test
reads events back). The deployment tests' real servers (tests/deployments/prefect_server.py) keep every service:
task runs and alerts are checked there.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import prefect
import prefect.testing.utilities as harness_module
import pytest
from prefect.settings import (
    PREFECT_SERVER_ANALYTICS_ENABLED,
    PREFECT_SERVER_SERVICES_EVENT_LOGGER_ENABLED,
    PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED,
    PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED,
    temporary_settings,
)
from prefect.testing.utilities import prefect_test_harness

#: The file the harness keeps its database in, inside the temporary directory it makes.
HARNESS_DATABASE = "prefect-test.db"
STARTUP_TIMEOUT_SECONDS = 120
#: Server services whose records no harness test reads (see the module's docstring).
UNUSED_SERVICES = (
    PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED,
    PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED,
    PREFECT_SERVER_SERVICES_EVENT_LOGGER_ENABLED,
)


@contextmanager
def prefect_harness(shared_dir: Path) -> Iterator[None]:
    """Run Prefect's test harness for the ``with`` block, its database copied from the template in ``shared_dir``.

    ``shared_dir`` is shared by every worker of the run (pytest's base temporary directory's parent); the first
    harness writes the template there, under a lock the others wait on.
    """
    template = template_database(shared_dir)
    with ExitStack() as stack:
        with _exclusive(_template_lock(shared_dir)):
            seeded = template if template.exists() else None
            made: list[Path] = []
            with _temp_dirs_seeded_from(seeded, made):
                off = {PREFECT_SERVER_ANALYTICS_ENABLED: False, **dict.fromkeys(UNUSED_SERVICES, False)}
                stack.enter_context(temporary_settings(updates=off))
                stack.enter_context(prefect_test_harness(server_startup_timeout=STARTUP_TIMEOUT_SECONDS))
            if seeded is None and made:
                _copy_database(made[0] / HARNESS_DATABASE, template)
        yield


@contextmanager
def database_from_template(shared_dir: Path, database: Path) -> Iterator[None]:
    """Start a Prefect server on the SQLite file ``database`` in the ``with`` block, from the run's template.

    ``database`` is a copy of the template in ``shared_dir`` when there is one; when there is none yet, the block's
    server migrates as usual and ``database``, once the block is left (the server answered), becomes the template.
    The block holds the lock the harnesses of the other workers wait on.
    """
    template = template_database(shared_dir)
    with _exclusive(_template_lock(shared_dir)):
        seeded = template.exists()
        if seeded:
            _copy_database(template, database)
        yield
        if not seeded and database.exists():
            _copy_database(database, template)


def template_database(shared_dir: Path) -> Path:
    """Where the run's migrated database (this Prefect version's) is kept."""
    return shared_dir / f"prefect-{prefect.__version__}-migrated.db"


def _template_lock(shared_dir: Path) -> Path:
    return shared_dir / "prefect-template.lock"


def run_directory(factory: pytest.TempPathFactory) -> Path:
    """The temporary directory of this test run that every pytest-xdist worker shares (each has its own below)."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` (between processes) for the ``with`` block."""
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _temp_dirs_seeded_from(template: Path | None, made: list[Path]) -> Iterator[None]:
    """While the harness starts, the temporary directory it makes for its database gets a copy of ``template``
    (when there is one); the directories made are appended to ``made``."""
    original = harness_module.mkdtemp

    def mkdtemp() -> str:
        directory = Path(original())
        if template is not None:
            _copy_database(template, directory / HARNESS_DATABASE)
        made.append(directory)
        return str(directory)

    harness_module.mkdtemp = mkdtemp  # type: ignore[assignment]
    try:
        yield
    finally:
        harness_module.mkdtemp = original


def _copy_database(source: Path, target: Path) -> None:
    """A consistent copy of the SQLite database ``source`` (a server may be writing it) to ``target``."""
    partial = target.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as reader, sqlite3.connect(partial) as writer:
        reader.backup(writer)
    reader.close()
    writer.close()
    partial.replace(target)
