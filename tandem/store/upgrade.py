"""Bring a state store created by an earlier Tandem up to the current tables, keeping every row.

The changes so far: the bindings' ``crm_hash``/``erp_hash`` hold field digests, longer than the 64
characters a whole-record hash took (PostgreSQL widens them to ``TEXT``; SQLite does not enforce a
length); ``sync_runs`` gained the ``message`` column and the ``crashed`` state (SQLite cannot
change a CHECK constraint in place, so there the table is rebuilt the way SQLite documents: new table,
copy, drop, rename, with foreign keys off meanwhile; PostgreSQL alters it), and indexes added since a
store was created are created (``create_all`` adds indexes only with their table). Running it on a
current store does nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Engine

from tandem.store.tables import TABLES, Binding, RunState, SyncRun

_RUNS: sa.Table = SyncRun.__table__  # type: ignore[attr-defined]
_BINDINGS: sa.Table = Binding.__table__  # type: ignore[attr-defined]
_DIGESTS = ("crm_hash", "erp_hash")
_SCRATCH = "sync_runs_upgrade"


def upgrade_store(engine: Engine) -> bool:
    """Upgrade the tables of an older store in place; return whether anything was changed."""
    inspector = sa.inspect(engine)
    columns = {column["name"] for column in inspector.get_columns(_RUNS.name)}
    changed = "message" not in columns
    if changed and engine.dialect.name == "postgresql":
        _upgrade_postgresql(engine)
    elif changed:
        _upgrade_sqlite(engine, sorted(columns))
    if engine.dialect.name == "postgresql":
        changed = _widen_digests(engine) or changed
    for table in TABLES:
        present = {index["name"] for index in sa.inspect(engine).get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in present:
                index.create(engine)
                changed = True
    return changed


def _widen_digests(engine: Engine) -> bool:
    """Make the bindings' digest columns ``TEXT`` where an older store has ``VARCHAR(64)``."""
    narrow = [
        column["name"] for column in sa.inspect(engine).get_columns(_BINDINGS.name)
        if column["name"] in _DIGESTS and getattr(column["type"], "length", None) is not None
    ]
    if narrow:
        with engine.begin() as connection:
            for name in narrow:
                connection.exec_driver_sql(f"ALTER TABLE {_BINDINGS.name} ALTER COLUMN {name} TYPE TEXT")
    return bool(narrow)


def _state_check() -> str:
    states = ", ".join(f"'{state.value}'" for state in RunState)
    return f"state IN ({states})"


def _upgrade_postgresql(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql(f"ALTER TABLE {_RUNS.name} ADD COLUMN message TEXT")
        connection.exec_driver_sql(f"ALTER TABLE {_RUNS.name} DROP CONSTRAINT IF EXISTS ck_sync_runs_state")
        connection.exec_driver_sql(
            f"ALTER TABLE {_RUNS.name} ADD CONSTRAINT ck_sync_runs_state CHECK ({_state_check()})"
        )


def _upgrade_sqlite(engine: Engine, old_columns: list[str]) -> None:
    current = str(sa.schema.CreateTable(_RUNS).compile(dialect=engine.dialect))
    create = current.replace(f"CREATE TABLE {_RUNS.name} ", f"CREATE TABLE {_SCRATCH} ", 1)
    copied = ", ".join(old_columns)
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        raw.execute("PRAGMA foreign_keys=OFF")  # outside any transaction, or SQLite ignores it
        try:
            with connection.begin():
                connection.exec_driver_sql(f"DROP TABLE IF EXISTS {_SCRATCH}")
                connection.exec_driver_sql(create)
                connection.exec_driver_sql(
                    f"INSERT INTO {_SCRATCH} ({copied}) SELECT {copied} FROM {_RUNS.name}"
                )
                connection.exec_driver_sql(f"DROP TABLE {_RUNS.name}")
                connection.exec_driver_sql(f"ALTER TABLE {_SCRATCH} RENAME TO {_RUNS.name}")
                for index in _RUNS.indexes:
                    index.create(connection)
        finally:
            raw.execute("PRAGMA foreign_keys=ON")
