"""The Prefect servers of a test run start from one migrated SQLite database.

A Prefect server spends about half of its start (some 4-5 s of CPU on this machine) running Prefect's ~100
database migrations on an empty SQLite file. Every pytest-xdist worker that runs flow tests starts one (the harness,
tests/support/prefect_harness.py), and the deployment tests start real ones (tests/support/prefect_server.py). The
first server of a test run migrates as usual and its database, once the server answered, becomes the template: the
next servers start from a copy of it, their migrations find nothing to do.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import prefect
import pytest


@contextmanager
def database_from_template(shared_dir: Path, database: Path) -> Iterator[None]:
    """Start a Prefect server on the SQLite file ``database`` in the ``with`` block, from the run's template.

    ``database`` is a copy of the template in ``shared_dir`` when there is one; when there is none yet, the block's
    server migrates as usual and ``database``, once the block is left (the server answered), becomes the template.
    The block holds the lock the servers of the other workers wait on.
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


def _copy_database(source: Path, target: Path) -> None:
    """A consistent copy of the SQLite database ``source`` (a server may be writing it) to ``target``."""
    partial = target.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as reader, sqlite3.connect(partial) as writer:
        reader.backup(writer)
    reader.close()
    writer.close()
    partial.replace(target)
