"""Bring a state store to the current schema with its Alembic migrations (``tandem/store/migrations``).

A brand-new store gets today's tables and is stamped at the head revision. A store created before Tandem
versioned its schema has no ``alembic_version`` table: its revision is detected from its tables, columns and
indexes (:func:`detect_revision`), stamped, then upgraded like any other. A store at the head is left alone
(one read of its version).

Only one process migrates a store at a time: PostgreSQL takes a transaction-level advisory lock, SQLite the
write lock (``BEGIN IMMEDIATE``). The whole upgrade is one transaction (PostgreSQL's DDL is transactional;
SQLite's is too when, as here, SQLAlchemy rather than the driver begins it), so a failed revision leaves the
store as it was. On SQLite foreign keys are off while revisions rebuild tables (SQLite's documented way to
change a table's shape) and checked before the commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlmodel import SQLModel

from tandem.store.engine import SQLITE_BEGIN_OPTION
from tandem.store.tables import TABLES

#: Where the revisions live (``env.py`` and ``versions/``).
MIGRATIONS_DIRECTORY = Path(__file__).with_name("migrations")
#: The key of the PostgreSQL advisory lock held while a store is migrated.
_ADVISORY_LOCK_KEY = 0x74616E64656D  # "tandem"


class StoreUpgradeError(RuntimeError):
    """A store cannot be upgraded (it is newer than this Tandem, or its rows break a foreign key)."""


@dataclass(frozen=True)
class StoreUpgrade:
    """What :func:`upgrade_store` did.

    Attributes:
        before: the store's revision before (``None``: the store was empty, or unversioned and not recognised).
        after: its revision now (the head).
        detected: the store had no version table: ``before`` was detected from its tables and stamped.
        created: the store was empty: today's tables were created and stamped at the head.
    """

    before: str | None
    after: str
    detected: bool = False
    created: bool = False

    @property
    def changed(self) -> bool:
        """Whether anything was written to the store."""
        return self.created or self.detected or self.before != self.after


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """Alembic's configuration for the store's migrations, migrating ``connection`` when given."""
    config = Config(str(MIGRATIONS_DIRECTORY / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIRECTORY))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def head_revision() -> str:
    """The newest revision (the schema of ``tables.py``)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise StoreUpgradeError(f"no revisions in {MIGRATIONS_DIRECTORY}")
    return head


def store_revision(engine: Engine) -> str | None:
    """The revision the store is stamped at (``None``: an empty store or one created before versioning)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def detect_revision(connection: sa.Connection) -> str | None:
    """The revision an unversioned store's tables match, newest first (``None``: no store tables at all).

    Each revision left a mark an older store lacks: a table, a column or an index.
    """
    inspector = sa.inspect(connection)
    tables = set(inspector.get_table_names())
    if "deletion_watermarks" in tables:
        return "0006"  # 0007 (wider digest columns on PostgreSQL) runs again harmlessly
    if "record_errors" in tables and "ix_record_errors_record" in {
        index["name"] for index in inspector.get_indexes("record_errors")
    }:
        return "0005"
    if "sync_runs" in tables and "message" in {column["name"] for column in inspector.get_columns("sync_runs")}:
        return "0004"
    for table, revision in (("sandbox_refreshes", "0003"), ("connection_locks", "0002"), ("connections", "0001")):
        if table in tables:
            return revision
    return None


def upgrade_store(engine: Engine) -> StoreUpgrade:
    """Bring the store to the head revision (create it when empty); a store at the head is not touched.

    Raises:
        StoreUpgradeError: the store is at a revision this Tandem does not know (a newer Tandem migrated it),
            or, on SQLite, the upgraded rows break a foreign key (nothing is committed then).
    """
    head = head_revision()
    if store_revision(engine) == head:
        return StoreUpgrade(before=head, after=head)
    with migration_connection(engine) as connection:
        config = alembic_config(connection)
        before = MigrationContext.configure(connection).get_current_revision()
        if before == head:
            return StoreUpgrade(before=head, after=head)
        known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
        if before is not None and before not in known:
            raise StoreUpgradeError(
                f"the state store is at revision {before}, which this Tandem does not know (head {head}): "
                "a newer Tandem upgraded it; run that version"
            )
        if before is None:
            before = detect_revision(connection)
            if before is None:
                SQLModel.metadata.create_all(connection, tables=TABLES)
                command.stamp(config, head)
                return StoreUpgrade(before=None, after=head, created=True)
            command.stamp(config, before)
            command.upgrade(config, "head")
            return StoreUpgrade(before=before, after=head, detected=True)
        command.upgrade(config, "head")
        return StoreUpgrade(before=before, after=head)


@contextmanager
def migration_connection(engine: Engine) -> Iterator[sa.Connection]:
    """A connection in a transaction that only one migrator holds, committed when the block ends.

    On SQLite, foreign keys are off inside (``PRAGMA foreign_keys`` is ignored inside a transaction, so it is
    set before one begins) and ``PRAGMA foreign_key_check`` must find nothing before the commit.
    """
    with engine.connect() as connection:
        if engine.dialect.name != "sqlite":
            with connection.begin():
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
                yield connection
            return
        raw = connection.connection.dbapi_connection
        if raw is None:
            raise StoreUpgradeError("the SQLite connection is closed")
        raw.execute("PRAGMA foreign_keys=OFF")
        try:
            writer = connection.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            with writer.begin():
                yield writer
                broken = writer.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    tables = sorted({row[0] for row in broken})
                    raise StoreUpgradeError(f"the upgrade would break foreign keys in {', '.join(tables)}")
        finally:
            raw.execute("PRAGMA foreign_keys=ON")
