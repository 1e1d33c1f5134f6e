"""An older store (sync runs without ``message`` and the ``crashed`` state) is upgraded in place, rows kept."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from tandem.store import create_schema, session_scope
from tandem.store.tables import SyncJob, SyncRun
from tandem.store.upgrade import upgrade_store

OLD_STATES = "('running', 'succeeded', 'failed', 'cancelled')"
OLD_SQLITE_RUNS = f"""CREATE TABLE sync_runs (
    id INTEGER NOT NULL, connection_id INTEGER NOT NULL, flow_run_id VARCHAR(64), procedure VARCHAR(64) NOT NULL,
    state VARCHAR(9) NOT NULL, started_at DATETIME NOT NULL, finished_at DATETIME, PRIMARY KEY (id),
    FOREIGN KEY(connection_id) REFERENCES connections (id) ON DELETE CASCADE,
    CONSTRAINT ck_sync_runs_state CHECK (state IN {OLD_STATES}))"""


def make_old(engine: Engine) -> None:
    """Give ``sync_runs`` the shape Tandem 0.1 created."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE sync_runs DROP COLUMN message")
            connection.exec_driver_sql("ALTER TABLE sync_runs DROP CONSTRAINT ck_sync_runs_state")
            connection.exec_driver_sql(
                f"ALTER TABLE sync_runs ADD CONSTRAINT ck_sync_runs_state CHECK (state IN {OLD_STATES})"
            )
        return
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        raw.execute("PRAGMA foreign_keys=OFF")
        raw.execute("DROP TABLE sync_runs")
        raw.execute(OLD_SQLITE_RUNS)
        raw.execute("CREATE INDEX ix_sync_runs_flow_run_id ON sync_runs (flow_run_id)")
        raw.execute("PRAGMA foreign_keys=ON")


def test_an_old_store_is_upgraded_with_its_runs_and_jobs_kept(engine: Engine, cid: int) -> None:
    make_old(engine)
    with session_scope(engine) as session:
        runs = (("full-sync", "succeeded", "flow-1"), ("incremental-sync", "running", None))
        for procedure, state, flow_run_id in runs:
            session.execute(sa.text(
                "INSERT INTO sync_runs (connection_id, procedure, state, started_at, flow_run_id) "
                "VALUES (:c, :p, :s, CURRENT_TIMESTAMP, :f)"), {"c": cid, "p": procedure, "s": state, "f": flow_run_id})
        first = session.execute(sa.text("SELECT min(id) FROM sync_runs")).scalar_one()
        session.execute(sa.text(
            "INSERT INTO sync_jobs (run_id, entity, state, inserted, modified, deleted, unchanged, skipped, failed, "
            "coupled, created_at) VALUES (:r, 'currency', 'succeeded', 1, 0, 0, 0, 0, 0, 0, CURRENT_TIMESTAMP)"
        ), {"r": first})
    with pytest.raises(IntegrityError), session_scope(engine) as session:  # the old store refuses the new state
        session.execute(sa.text("UPDATE sync_runs SET state = 'crashed'"))

    create_schema(engine)

    assert upgrade_store(engine) is False  # a second time changes nothing
    with session_scope(engine) as session:
        runs = session.execute(sa.select(SyncRun.__table__)).all()  # type: ignore[attr-defined]
        assert [(r.procedure, r.state, r.flow_run_id) for r in runs] == [
            ("full-sync", "succeeded", "flow-1"), ("incremental-sync", "running", None)]
        session.execute(sa.text("UPDATE sync_runs SET state = 'crashed', message = 'died' WHERE state = 'running'"))
        jobs = session.execute(sa.select(SyncJob.__table__)).all()  # type: ignore[attr-defined]
        assert [(j.run_id, j.entity) for j in jobs] == [(runs[0].id, "currency")]
    with pytest.raises(IntegrityError), session_scope(engine) as session:  # foreign keys still hold
        session.add(SyncJob(run_id=999_999, entity="customer"))
    with pytest.raises(IntegrityError), session_scope(engine) as session:  # and so does the state check
        session.execute(sa.text("UPDATE sync_runs SET state = 'exploded'"))
    indexes = {index["name"] for index in sa.inspect(engine).get_indexes("sync_runs")}
    assert "ix_sync_runs_flow_run_id" in indexes


def test_an_index_added_since_the_store_was_created_is_created(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP INDEX ix_record_errors_record")
    assert upgrade_store(engine) is True
    assert "ix_record_errors_record" in {i["name"] for i in sa.inspect(engine).get_indexes("record_errors")}
    assert upgrade_store(engine) is False


def test_the_digest_columns_of_an_older_store_take_field_digests(engine: Engine, cid: int) -> None:
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            for name in ("crm_hash", "erp_hash"):
                connection.exec_driver_sql(f"ALTER TABLE bindings ALTER COLUMN {name} TYPE VARCHAR(64)")
        assert upgrade_store(engine) is True
    digest = "~" + "x" * 404  # a field digest of 50 fields
    with session_scope(engine) as session:
        session.execute(sa.text(
            "INSERT INTO bindings (connection_id, entity, crm_id, crm_hash, erp_hash, status, archived, created_at, "
            "updated_at) VALUES (:c, 'customer', '001', :d, :d, 'synced', false, CURRENT_TIMESTAMP, "
            "CURRENT_TIMESTAMP)"), {"c": cid, "d": digest})
    with session_scope(engine) as session:
        stored = session.execute(sa.text("SELECT crm_hash, erp_hash FROM bindings")).one()
    assert tuple(stored) == (digest, digest)
    assert upgrade_store(engine) is False
