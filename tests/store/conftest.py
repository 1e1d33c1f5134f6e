"""Fixtures: every store test runs on a SQLite file and on a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from tandem.store import create_connection, create_schema, create_store_engine, require_id
from tandem.store.tables import TABLES
from tests.support.postgres import PostgresUnavailableError, postgres_server
from tests.support.requirements import tool_missing


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[Engine]:
    """A state store schema on a throw-away PostgreSQL server (skipped with the reason when this machine cannot
    provide one, failed in CI: tests/support/requirements.py)."""
    with ExitStack() as stack:
        try:
            server = stack.enter_context(postgres_server())
        except PostgresUnavailableError as exc:
            tool_missing(f"the state store tests need PostgreSQL: {exc}")
        engine = create_store_engine(server.url)
        stack.callback(engine.dispose)
        create_schema(engine)
        yield engine


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """An empty state store on each backend."""
    if request.param == "sqlite":
        sqlite_engine = create_store_engine(f"sqlite:///{tmp_path_factory.mktemp('store') / 'state.sqlite3'}")
        create_schema(sqlite_engine)
        yield sqlite_engine
        sqlite_engine.dispose()
        return
    pg_engine: Engine = request.getfixturevalue("postgres_engine")
    names = ", ".join(table.name for table in TABLES)
    with pg_engine.begin() as connection:
        connection.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    yield pg_engine


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on the store (tests commit explicitly when they mean to)."""
    with Session(engine, expire_on_commit=False) as store_session:
        yield store_session


@pytest.fixture
def cid(session: Session) -> int:
    """The id of a committed production connection named ``acme`` (CRM org 00D000000000001, ERP TSTDRV1)."""
    created = create_connection(session, name="acme", crm_org_id="00D000000000001", erp_account_id="TSTDRV1")
    session.commit()
    return require_id(created)
