"""The store's migrations: an old store is upgraded with its rows intact, a fresh one is created at the head,
an unversioned store is recognised by its tables, and a second upgrade does nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from ops.cli import main
from tandem.store import create_schema, create_store_engine, session_scope
from tandem.store.tables import TABLES, SyncJob, SyncRun
from tandem.store.upgrade import (
    StoreUpgradeError,
    alembic_config,
    detect_revision,
    head_revision,
    migration_connection,
    store_revision,
    upgrade_store,
)

SCHEMAS = Path(__file__).with_name("schemas")
OLD_DIGEST = "a" * 64  # a whole-record hash, as Tandem 0.1 stored it
FIELD_DIGEST = "~" + "x" * 404  # a field digest of 50 fields: longer than the old columns took


@pytest.fixture(params=["sqlite", "postgresql"])
def blank(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Engine, str]]:
    """An empty database on each backend (PostgreSQL: a new database on the session's server) and its URL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.sqlite3'}"
        engine = create_store_engine(url)
        yield engine, url
        engine.dispose()
        return
    server: Engine = request.getfixturevalue("postgres_engine")
    name = f"tandem_migrations_{uuid.uuid4().hex[:12]}"
    admin = server.execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    url = server.url.set(database=name).render_as_string(hide_password=False)
    engine = create_store_engine(url)
    yield engine, url
    engine.dispose()
    with admin.connect() as connection:
        connection.exec_driver_sql(f"DROP DATABASE {name}")


def create_first_schema(engine: Engine) -> None:
    """Create the tables of Tandem 0.1.0 exactly as it did (its DDL, kept in tests/store/schemas)."""
    lines = (SCHEMAS / f"first_{engine.dialect.name}.sql").read_text().splitlines()
    script = "\n".join(line for line in lines if not line.startswith("--"))
    statements = [statement for statement in script.split(";\n") if statement.strip()]
    with engine.begin() as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)


def fill_old_store(engine: Engine) -> None:
    """A connection with two bindings, a watermark, and a run with a job and a record error."""
    with engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO connections (name, crm_org_id, erp_account_id, environment, enabled, options, created_at, "
            "updated_at, archived) VALUES ('acme', '00D000000000001', 'TSTDRV1', 'production', true, '{}', "
            "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, false)"))
        for crm_id, erp_id, status in (("001A", "118", "synced"), ("001B", None, "failed")):
            connection.execute(sa.text(
                "INSERT INTO bindings (connection_id, entity, crm_id, erp_id, crm_hash, erp_hash, status, archived, "
                "created_at, updated_at) VALUES (1, 'customer', :c, :e, :h, :h, :s, false, CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP)"), {"c": crm_id, "e": erp_id, "h": OLD_DIGEST, "s": status})
        connection.execute(sa.text(
            "INSERT INTO watermarks (connection_id, entity, side, value, updated_at) "
            "VALUES (1, 'customer', 'crm', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        connection.execute(sa.text(
            "INSERT INTO sync_runs (connection_id, procedure, state, started_at, flow_run_id) "
            "VALUES (1, 'full-sync', 'succeeded', CURRENT_TIMESTAMP, 'flow-1')"))
        connection.execute(sa.text(
            "INSERT INTO sync_jobs (run_id, entity, state, inserted, modified, deleted, unchanged, skipped, failed, "
            "coupled, created_at) VALUES (1, 'customer', 'succeeded', 1, 0, 0, 0, 0, 1, 0, CURRENT_TIMESTAMP)"))
        connection.execute(sa.text(
            "INSERT INTO record_errors (run_id, job_id, entity, side, record_id, code, message, occurred_at) "
            "VALUES (1, 1, 'customer', 'crm', '001B', 'INVALID_FLD_VALUE', 'bad', CURRENT_TIMESTAMP)"))


def rows(engine: Engine, table: str, *columns: str) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        query = sa.text(f"SELECT {', '.join(columns)} FROM {table} ORDER BY id")
        return [tuple(row) for row in connection.execute(query)]


def schema_differences(engine: Engine) -> list[object]:
    """What Alembic's autogenerate finds between the store and tables.py (the store's tables only)."""
    names = {table.name for table in TABLES}
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "compare_type": True,
            "include_object": lambda _o, name, kind, _r, _c: kind != "table" or name in names,
        })
        differences = compare_metadata(context, SQLModel.metadata)
    if engine.dialect.name == "sqlite":  # 0007 leaves SQLite's digest columns VARCHAR(64) (no length enforced)
        differences = [d for d in differences if not (
            isinstance(d, list) and d[0][0] == "modify_type" and d[0][2:4] in (("bindings", "crm_hash"),
                                                                                ("bindings", "erp_hash")))]
    return differences


def test_an_old_store_is_upgraded_by_the_command_with_its_bindings_intact(
    blank: tuple[Engine, str], capsys: pytest.CaptureFixture[str],
) -> None:
    engine, url = blank
    create_first_schema(engine)
    fill_old_store(engine)
    binding_columns = ("id", "connection_id", "entity", "crm_id", "erp_id", "crm_hash", "erp_hash", "status")
    bindings_before = rows(engine, "bindings", *binding_columns)
    with pytest.raises(IntegrityError), session_scope(engine) as session:  # the old store refuses the new state
        session.execute(sa.text("UPDATE sync_runs SET state = 'crashed'"))

    assert main(["store", "current", "--url", url]) == 0
    assert "unversioned, its tables are revision 0001" in capsys.readouterr().out
    assert main(["store", "upgrade", "--url", url]) == 0
    assert f"stamped and upgraded to {head_revision()}" in capsys.readouterr().out

    assert store_revision(engine) == head_revision()
    assert rows(engine, "bindings", *binding_columns) == bindings_before
    assert rows(engine, "sync_runs", "id", "procedure", "state", "flow_run_id", "message") == [
        (1, "full-sync", "succeeded", "flow-1", None)]
    assert rows(engine, "sync_jobs", "id", "run_id", "entity", "inserted", "failed") == [(1, 1, "customer", 1, 1)]
    assert rows(engine, "record_errors", "run_id", "job_id", "record_id") == [(1, 1, "001B")]
    assert rows(engine, "watermarks", "entity", "side") == [("customer", "crm")]
    assert schema_differences(engine) == []
    with session_scope(engine) as session:  # today's features work on the upgraded store
        session.execute(sa.text("UPDATE sync_runs SET state = 'crashed', message = 'died'"))
        session.execute(sa.text("UPDATE bindings SET crm_hash = :d WHERE crm_id = '001A'"), {"d": FIELD_DIGEST})
        session.execute(sa.text(
            "INSERT INTO deletion_watermarks (connection_id, entity, side, value, updated_at) "
            "VALUES (1, 'customer', 'erp', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
    assert rows(engine, "bindings", "crm_hash")[0] == (FIELD_DIGEST,)
    with pytest.raises(IntegrityError), session_scope(engine) as session:  # foreign keys still hold
        session.add(SyncJob(run_id=999_999, entity="customer"))
    with pytest.raises(IntegrityError), session_scope(engine) as session:  # and so does the state check
        session.execute(sa.text("UPDATE sync_runs SET state = 'exploded'"))
    with session_scope(engine) as session:  # deleting the run still takes its jobs and errors with it
        session.execute(sa.delete(SyncRun.__table__))  # type: ignore[attr-defined]
    assert rows(engine, "sync_jobs", "id") == [] and rows(engine, "record_errors", "id") == []

    assert main(["store", "upgrade", "--url", url]) == 0  # a second time changes nothing
    assert "nothing to do" in capsys.readouterr().out
    assert main(["store", "current", "--url", url]) == 0
    assert f"revision {head_revision()} (head)" in capsys.readouterr().out


def test_a_fresh_store_is_created_at_the_head_and_a_second_upgrade_does_nothing(blank: tuple[Engine, str]) -> None:
    engine, _ = blank
    done = upgrade_store(engine)
    assert done.created and done.before is None and done.after == head_revision()
    assert store_revision(engine) == head_revision()
    assert schema_differences(engine) == []
    again = upgrade_store(engine)
    assert not again.changed and again.before == again.after == head_revision()
    create_schema(engine)  # what every engine does at start
    assert store_revision(engine) == head_revision()


@pytest.mark.parametrize("revision", ["0002", "0003", "0004", "0005", "0006"])
def test_an_unversioned_store_is_recognised_by_its_tables(revision: str, tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'state.sqlite3'}")
    try:
        create_first_schema(engine)
        with migration_connection(engine) as connection:
            config = alembic_config(connection)
            command.stamp(config, "0001")
            command.upgrade(config, revision)
            connection.exec_driver_sql("DROP TABLE alembic_version")
        with engine.connect() as connection:
            assert detect_revision(connection) == revision
        done = upgrade_store(engine)
        assert (done.detected, done.before, done.after) == (True, revision, head_revision())
        assert schema_differences(engine) == []
    finally:
        engine.dispose()


def test_a_store_migrated_by_a_newer_tandem_is_refused(tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'state.sqlite3'}")
    try:
        create_schema(engine)
        with engine.begin() as connection:
            connection.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
        with pytest.raises(StoreUpgradeError, match="9999, which this Tandem does not know"):
            upgrade_store(engine)
    finally:
        engine.dispose()


def test_the_command_takes_the_store_from_the_environment_and_asks_for_one_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TANDEM_STATE_URL", f"sqlite:///{tmp_path / 'state.sqlite3'}")
    assert main(["store", "upgrade"]) == 0
    assert f"created at revision {head_revision()} (head)" in capsys.readouterr().out
    monkeypatch.delenv("TANDEM_STATE_URL")
    assert main(["store", "current"]) == 2
    assert "name the store: --connection NAME, --url URL or $TANDEM_STATE_URL" in capsys.readouterr().err
