"""Engine set-up: SQLite pragmas, foreign keys, UTC datetimes in and out, transactions."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, StatementError
from sqlmodel import Session

from tandem.store import (
    Binding,
    BindingRecord,
    Side,
    StoreUnavailableError,
    create_connection,
    create_schema,
    create_store_engine,
    get_connection,
    list_connections,
    open_existing_store,
    resolve_url,
    session_scope,
    update_connection,
    upsert_bindings,
)
from tests.support.prefect_server import free_port


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'nested' / 'state.sqlite3'}")
    try:
        create_schema(engine)
        create_schema(engine)  # idempotent
        with engine.connect() as conn:
            pragmas = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout")
            }
        assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 30_000}
    finally:
        engine.dispose()


def test_the_url_comes_from_the_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TANDEM_STATE_URL", raising=False)
    assert resolve_url() == "sqlite:///tandem-state.sqlite3"
    monkeypatch.setenv("TANDEM_STATE_URL", "postgresql+psycopg://tandem@db/tandem")
    assert resolve_url() == "postgresql+psycopg://tandem@db/tandem"
    assert resolve_url("sqlite:///x.db") == "sqlite:///x.db"
    with pytest.raises(ValueError, match="SQLite and PostgreSQL"):
        create_store_engine("mysql://u@h/db")


def test_foreign_keys_are_enforced(session: Session) -> None:
    session.add(Binding(connection_id=4242, entity="customer", crm_id="001x"))
    with pytest.raises(IntegrityError):
        session.flush()


def test_datetimes_round_trip_as_aware_utc(engine: Engine, cid: int) -> None:
    tokyo = timezone(timedelta(hours=9))
    enabled_at = datetime(2026, 3, 29, 1, 30, 15, 123_456, tzinfo=tokyo)
    synced_at = datetime(2026, 10, 25, 0, 59, 59, 999_999, tzinfo=UTC)
    with session_scope(engine) as session:
        update_connection(session, cid, sync_enabled_at=enabled_at)
        upsert_bindings(
            session, cid, "customer", [BindingRecord(crm_id="001a", last_synced_at=synced_at)], key=Side.CRM
        )
    with session_scope(engine, write=False) as session:
        loaded = get_connection(session, "acme")
        assert loaded.sync_enabled_at == enabled_at
        assert loaded.sync_enabled_at.tzinfo is UTC and loaded.sync_enabled_at.hour == 16
        assert loaded.created_at.tzinfo is UTC
        binding = session.exec(sa.select(Binding.__table__.c.last_synced_at)).one()  # type: ignore[attr-defined,call-overload]
        assert binding[0] == synced_at and binding[0].tzinfo is UTC


def test_naive_datetimes_are_refused(session: Session, cid: int) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        update_connection(session, cid, sync_enabled_at=datetime(2026, 1, 1))
    loaded = get_connection(session, "acme")
    loaded.sync_enabled_at = datetime(2026, 1, 1)
    session.add(loaded)
    with pytest.raises(StatementError, match="timezone-aware"):
        session.flush()


def test_session_scope_commits_or_rolls_back(engine: Engine, cid: int) -> None:
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        upsert_bindings(session, cid, "customer", [BindingRecord(crm_id="001a")], key=Side.CRM)
        raise RuntimeError("a task failed half-way")
    with session_scope(engine) as session:
        assert session.exec(sa.select(sa.func.count()).select_from(Binding)).one()[0] == 0  # type: ignore[call-overload]
        upsert_bindings(session, cid, "customer", [BindingRecord(crm_id="001a")], key=Side.CRM)
    with session_scope(engine, write=False) as session:
        assert session.exec(sa.select(sa.func.count()).select_from(Binding)).one()[0] == 1  # type: ignore[call-overload]


def test_two_sqlite_writers_that_read_first_queue_instead_of_failing(tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'state.sqlite3'}")
    create_schema(engine)
    first_has_read = threading.Event()
    finished: list[str] = []

    def write(name: str, wait_for: threading.Event | None) -> None:
        if wait_for is not None:
            wait_for.wait(timeout=10)
        with session_scope(engine) as session:
            list_connections(session)
            if wait_for is None:
                first_has_read.set()
                time.sleep(0.3)  # the second writer starts meanwhile and must wait, not fail
            create_connection(session, name=name, crm_org_id=f"00D-{name}", erp_account_id=f"E-{name}")
        finished.append(name)

    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = [pool.submit(write, "first", None), pool.submit(write, "second", first_has_read)]
            for future in futures:
                future.result(timeout=30)
        assert finished == ["first", "second"]
        with session_scope(engine, write=False) as session:
            assert [c.name for c in list_connections(session)] == ["first", "second"]
    finally:
        engine.dispose()


def test_a_store_a_command_reads_is_never_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "runs" / "state.sqlite3"
    with pytest.raises(StoreUnavailableError) as raised:
        open_existing_store(f"sqlite:///{missing}")
    assert str(raised.value) == (
        f"no state store at {missing}: a run of the connection creates it, so run its initial import first"
    )
    monkeypatch.chdir(tmp_path)  # a relative url is read from the working directory: the message says which
    with pytest.raises(StoreUnavailableError, match=f"the url sqlite:///runs/state.sqlite3 is relative: read from "
                                                    f"this directory, {tmp_path};"):
        open_existing_store("sqlite:///runs/state.sqlite3")
    assert not (tmp_path / "runs").exists()  # neither a file nor its directory was made

    made = create_store_engine(f"sqlite:///{missing}")
    create_schema(made)
    made.dispose()
    engine = open_existing_store(f"sqlite:///{missing}")
    try:
        with session_scope(engine, write=False) as session:
            assert list_connections(session) == []
    finally:
        engine.dispose()


def test_a_store_that_cannot_be_opened_is_named_without_its_password() -> None:
    url = f"postgresql+psycopg://tandem:not-this-one@127.0.0.1:{free_port()}/tandem"
    with pytest.raises(StoreUnavailableError) as raised:
        open_existing_store(url)
    message = str(raised.value)
    assert message.startswith(f"the state store {url.replace('not-this-one', '***')} cannot be opened: "), message
    assert "not-this-one" not in message and "\n" not in message
