"""Alembic's environment for the state store: the store's tables as the target, batch mode on SQLite.

Tandem passes the connection to migrate in ``config.attributes["connection"]`` (already in a transaction it
commits itself: :mod:`tandem.store.upgrade`). Run by the ``alembic`` command instead, the database is
``$TANDEM_STATE_URL`` (see :func:`tandem.store.engine.resolve_url`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context
from sqlmodel import SQLModel

from tandem.store.engine import create_store_engine
from tandem.store.tables import TABLES
from tandem.store.upgrade import migration_connection

_STORE_TABLES = frozenset(table.name for table in TABLES)


def _is_store_object(obj: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
    """Compare only the store's own tables (a shared database may hold others)."""
    del obj, reflected, compare_to
    return kind != "table" or name in _STORE_TABLES


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        include_object=_is_store_object,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    given = context.config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    engine = create_store_engine()
    try:
        with migration_connection(engine) as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("the state store's migrations run online only (against a database)")
_run_online()
