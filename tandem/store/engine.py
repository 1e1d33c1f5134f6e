"""Engine creation, schema creation and transactions for the state store.

SQLite (a local file) is the default; PostgreSQL is the production choice. The URL comes from the
caller or from the ``TANDEM_STATE_URL`` environment variable.

SQLite connections are set up for a store shared by several workers: write-ahead logging (readers
never block the writer), foreign keys enforced and a busy timeout. A :func:`session_scope` for
writing begins with ``BEGIN IMMEDIATE``: it takes the write lock when it starts, so two writers
that read before they write queue behind each other instead of one failing with "database is
locked" half-way through. Other sessions begin deferred, as SQLite does by default. Keep write
transactions short: never hold one open across calls to the CRM or the ERP.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, SQLModel

from tandem.store.exceptions import StoreUnavailableError
from tandem.store.tables import TABLES

#: Environment variable naming the state store's database URL.
URL_ENVIRONMENT_VARIABLE = "TANDEM_STATE_URL"
#: The URL used when neither the caller nor the environment names one.
DEFAULT_URL = "sqlite:///tandem-state.sqlite3"
#: How long a SQLite connection waits for a lock, in milliseconds.
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: How long a PostgreSQL connection attempt may take, in seconds.
POSTGRES_CONNECT_TIMEOUT_S = 10
#: The execution option naming how a SQLite transaction begins (``DEFERRED`` or ``IMMEDIATE``).
SQLITE_BEGIN_OPTION = "tandem_sqlite_begin"
_SQLITE_BEGIN_MODES = frozenset({"DEFERRED", "IMMEDIATE"})


def resolve_url(url: str | None = None) -> str:
    """The database URL to use: ``url``, else ``$TANDEM_STATE_URL``, else :data:`DEFAULT_URL`."""
    return url or os.environ.get(URL_ENVIRONMENT_VARIABLE) or DEFAULT_URL


def create_store_engine(url: str | None = None, *, echo: bool = False) -> Engine:
    """Create an engine for the state store (does not create the schema; see :func:`create_schema`).

    Args:
        url: a SQLAlchemy URL (``sqlite:///path/state.db``, ``postgresql+psycopg://user@host/db``);
            defaults to :func:`resolve_url`.
        echo: log SQL statements (statements only: parameters are hidden).

    Returns:
        The engine. For a SQLite file, the file's directory is created when missing.

    Raises:
        ValueError: for a database other than SQLite or PostgreSQL.
    """
    parsed = make_url(resolve_url(url))
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, echo=echo)
    if backend == "postgresql":
        return sa.create_engine(
            parsed,
            echo=echo,
            hide_parameters=True,
            pool_pre_ping=True,
            connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S, "options": "-c timezone=UTC"},
        )
    raise ValueError(f"the state store supports SQLite and PostgreSQL, not {backend!r}")


def _sqlite_engine(url: sa.URL, *, echo: bool) -> Engine:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url,
        echo=echo,
        hide_parameters=True,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
        if mode not in _SQLITE_BEGIN_MODES:
            raise ValueError(f"unknown SQLite transaction mode {mode!r}")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def open_existing_store(url: str) -> Engine:
    """Open a store that a run has already created, for a command that reads it (a card, the failures).

    Unlike :func:`create_store_engine` with :func:`create_schema`, it never creates a store: a missing SQLite file
    would otherwise become a new empty store, and every record would read as never synced. An older store is
    upgraded, as a run would.

    Raises:
        StoreUnavailableError: the SQLite file does not exist, or the database cannot be opened.
    """
    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    database = parsed.database or ""
    if parsed.get_backend_name() == "sqlite" and database != ":memory:" and not database.startswith("file:"):
        given = Path(database).expanduser()
        path = given.resolve()
        if not path.is_file():
            where = "" if given.is_absolute() else (
                f" (the url {shown} is relative: read from this directory, {Path.cwd()}; run the command where "
                "the connection's runs run)"
            )
            raise StoreUnavailableError(
                f"no state store at {path}{where}: a run of the connection creates it, so run its initial import first"
            )
    engine = create_store_engine(url)
    try:
        create_schema(engine)
    except sa.exc.OperationalError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
        raise StoreUnavailableError(f"the state store {shown} cannot be opened: {reason}") from None
    return engine


def create_schema(engine: Engine) -> None:
    """Bring the store to the current schema: create an empty one, upgrade an older one (its migrations).

    See :func:`tandem.store.upgrade.upgrade_store`; a store already at the current schema is only read.
    """
    from tandem.store.upgrade import upgrade_store  # the migrations' env.py imports this module

    upgrade_store(engine)


def drop_schema(engine: Engine) -> None:
    """Drop the store's tables and its schema version (all state is lost)."""
    SQLModel.metadata.drop_all(engine, tables=TABLES)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")


@contextmanager
def session_scope(engine: Engine, *, write: bool = True) -> Iterator[Session]:
    """A session whose work is one transaction: committed when the block ends, rolled back on an error.

    Objects stay readable after the commit (they are not expired).

    Args:
        engine: the store's engine.
        write: on SQLite, take the write lock when the transaction begins (``BEGIN IMMEDIATE``);
            pass ``False`` for read-only work so it never waits for a writer. No effect on PostgreSQL.

    Example:
        >>> with session_scope(engine) as session:  # doctest: +SKIP
        ...     upsert_bindings(session, connection_id, "customer", batch, key=Side.CRM)
    """
    bind = engine.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"}) if write else engine
    with Session(bind, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
