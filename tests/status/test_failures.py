"""Failing records across runs, from the state store alone, on a SQLite file and on a real PostgreSQL server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session

from tandem.status.failures import (
    FailureSource,
    UnknownEntityError,
    failing_records,
    failing_statement,
    failures_path,
    parse_since,
)
from tandem.store import (
    BindingFailure,
    BindingRecord,
    BindingStatus,
    RecordErrorEntry,
    Side,
    add_record_errors,
    archive_bindings,
    create_connection,
    create_schema,
    create_store_engine,
    mark_failed,
    require_id,
    start_run,
    upsert_bindings,
)
from tandem.store.bindings import CONFLICT_HELD
from tandem.store.tables import Binding, RecordError

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
ENTITIES = ["customer", "contact", "item"]
_BINDINGS: sa.Table = Binding.__table__  # type: ignore[attr-defined]
_ERRORS: sa.Table = RecordError.__table__  # type: ignore[attr-defined]


def _id_column(side: Side) -> sa.Column[str]:
    return _BINDINGS.c.crm_id if side is Side.CRM else _BINDINGS.c.erp_id


def _fail(
    session: Session, cid: int, run_id: int, entity: str, side: Side, record_id: str, code: str, at: datetime
) -> None:
    """What a pass stores when a record fails: its binding marked failed and a record error of the run, at ``at``."""
    mark_failed(session, cid, entity, [BindingFailure(record_id, code, f"{code} on {record_id}")], key=side)
    add_record_errors(session, run_id, [RecordErrorEntry(entity, side, record_id, code, f"{code} on {record_id}")])
    session.exec(sa.update(_ERRORS).where(_ERRORS.c.run_id == run_id, _ERRORS.c.record_id == record_id)
                 .values(occurred_at=at))
    _stamp(session, cid, entity, side, record_id, at)


def _sync(session: Session, cid: int, entity: str, crm_id: str, erp_id: str, at: datetime) -> None:
    record = BindingRecord(crm_id=crm_id, erp_id=erp_id, status=BindingStatus.SYNCED, last_synced_at=at)
    upsert_bindings(session, cid, entity, [record], key=Side.CRM)
    _stamp(session, cid, entity, Side.CRM, crm_id, at)


def _stamp(session: Session, cid: int, entity: str, side: Side, record_id: str, at: datetime) -> None:
    session.exec(
        sa.update(_BINDINGS)
        .where(_BINDINGS.c.connection_id == cid, _BINDINGS.c.entity == entity, _id_column(side) == record_id)
        .values(updated_at=at)
    )


@pytest.fixture
def history(session: Session, cid: int) -> int:
    """Three runs of connection ``acme`` with failures, recoveries, a held conflict, and another connection's."""
    make_history(session, cid)
    return cid


def make_history(session: Session, cid: int) -> None:
    """The runs of :func:`history`, committed."""
    run1 = require_id(start_run(session, cid, "full-sync", flow_run_id="flow-run-1"))
    _fail(session, cid, run1, "customer", Side.CRM, "001A", "DUPLICATE_VALUE", T0)
    _fail(session, cid, run1, "customer", Side.CRM, "001B", "DUPLICATE_VALUE", T0)
    _fail(session, cid, run1, "customer", Side.CRM, "001C", "DUPLICATE_VALUE", T0)
    _fail(session, cid, run1, "contact", Side.ERP, "501", "INVALID_EMAIL_ADDRESS", T0)
    _fail(session, cid, run1, "item", Side.ERP, "700", "UNMAPPED_VALUE", T0)
    archive_bindings(session, cid, "item")  # history: not failing any more

    run2 = require_id(start_run(session, cid, "incremental-sync", flow_run_id="flow-run-2"))
    _fail(session, cid, run2, "customer", Side.CRM, "001A", "REQUIRED_FIELD_MISSING", T0 + HOUR)  # fails again
    _sync(session, cid, "customer", "001B", "9002", T0 + HOUR)  # failed, then synced: not failing
    _sync(session, cid, "customer", "001C", "9003", T0 + HOUR)

    run3 = require_id(start_run(session, cid, "incremental-sync", flow_run_id="flow-run-3"))
    _fail(session, cid, run3, "customer", Side.CRM, "001C", "INVALID_FLD_VALUE", T0 + 2 * HOUR)  # its update failed
    held = BindingRecord(crm_id="001D", erp_id="9004", status=BindingStatus.FAILED, error_code=CONFLICT_HELD,
                         error_message="changed in both systems since its last sync")
    upsert_bindings(session, cid, "customer", [held], key=Side.CRM)
    _stamp(session, cid, "customer", Side.CRM, "001D", T0 + 3 * HOUR)

    other = require_id(create_connection(session, name="other", crm_org_id="00D000000000002",
                                         erp_account_id="TSTDRV2"))
    elsewhere = require_id(start_run(session, other, "full-sync"))
    _fail(session, other, elsewhere, "customer", Side.CRM, "001A", "DUPLICATE_VALUE", T0 - 24 * HOUR)
    session.commit()


def _listing(session: Session, key: int | str, **filters: object) -> list[tuple[object, ...]]:
    found = failing_records(session.connection(), key, entities=ENTITIES, **filters)  # type: ignore[arg-type]
    return [(r.entity, r.side, r.record_id, r.error_code) for r in found.records]


def test_only_records_whose_latest_state_is_failed_newest_first(session: Session, history: int) -> None:
    found = failing_records(session.connection(), history, entities=ENTITIES)
    assert not found.truncated
    assert [(r.entity, r.side, r.record_id, r.error_code) for r in found.records] == [
        ("customer", None, "001D", CONFLICT_HELD),
        ("customer", Side.CRM, "001C", "INVALID_FLD_VALUE"),
        ("customer", Side.CRM, "001A", "REQUIRED_FIELD_MISSING"),
        ("contact", Side.ERP, "501", "INVALID_EMAIL_ADDRESS"),
    ]
    held, updated, again, contact = found.records
    # Failing since its first failure after the last successful sync; the run is the latest failure's.
    assert (again.failing_since, again.last_attempt_at, again.run_id) == (T0, T0 + HOUR, 2)
    assert (again.flow_run_id, again.procedure) == ("flow-run-2", "incremental-sync")
    assert (updated.failing_since, updated.crm_id, updated.erp_id) == (T0 + 2 * HOUR, "001C", "9003")
    assert (updated.run_id, updated.flow_run_id) == (3, "flow-run-3")
    assert (held.failing_since, held.run_id, held.crm_id, held.erp_id) == (None, None, "001D", "9004")
    assert (contact.failing_since, contact.erp_id, contact.crm_id, contact.procedure) == (T0, "501", None, "full-sync")
    assert contact.as_dict() == {
        "entity": "contact", "side": "erp", "record_id": "501", "crm_id": None, "erp_id": "501",
        "error_code": "INVALID_EMAIL_ADDRESS", "error_message": "INVALID_EMAIL_ADDRESS on 501",
        "failing_since": T0.isoformat(), "last_attempt_at": T0.isoformat(), "run_id": 1, "flow_run_id": "flow-run-1",
        "procedure": "full-sync",
    }


def test_filters_limit_and_the_connection_by_name(session: Session, history: int) -> None:
    everything = _listing(session, history)
    assert _listing(session, "acme") == everything
    assert _listing(session, "nobody") == []
    assert [r[2] for r in _listing(session, history, since=T0 + HOUR + timedelta(minutes=30))] == ["001D", "001C"]
    assert [r[2] for r in _listing(session, history, since=T0 + HOUR)] == ["001D", "001C", "001A"]
    assert [r[2] for r in _listing(session, history, ids=["9003", "501", "001B", "unknown"])] == ["001C", "501"]
    assert _listing(session, history, ids=[]) == []
    cut = failing_records(session.connection(), history, entities=ENTITIES, limit=2)
    assert (len(cut.records), cut.truncated) == (2, True)
    assert [r.record_id for r in failing_records(session.connection(), "other", entities=ENTITIES).records] == ["001A"]


def test_the_source_checks_the_entity(engine: Engine, history: int) -> None:
    source = FailureSource(connection="acme", store=engine, entities=ENTITIES)
    assert [r.record_id for r in source.failures(entity="contact").records] == ["501"]
    assert len(source.failures().records) == 4
    with pytest.raises(UnknownEntityError, match=r"no entity 'lead' in the mapping set of connection 'acme'"):
        source.failures(entity="lead")


def test_the_bindings_are_read_through_their_status_index(tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'plan.sqlite3'}")  # PostgreSQL plans tiny tables as scans
    create_schema(engine)
    statement = failing_statement("acme", entities=ENTITIES, ids=None)
    sql = str(statement.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    with engine.connect() as connection:
        plan = " | ".join(str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    engine.dispose()
    assert "bindings USING INDEX ix_bindings_connection_status" in plan, plan
    assert "SCAN bindings" not in plan, plan
    for seek in ("first_crm_error", "first_erp_error", "last_crm_error", "last_erp_error"):
        assert f"SEARCH {seek} USING INDEX ix_record_errors_record (entity=? AND record_id=? AND occurred_at>?)" \
            in plan, plan


def test_since_and_the_page_address() -> None:
    assert parse_since("2026-12-05") == datetime(2026, 12, 5, tzinfo=UTC)
    assert parse_since("2026-12-05T10:30+01:00") == datetime(2026, 12, 5, 9, 30, tzinfo=UTC)
    assert parse_since(" 2026-12-05 09:30Z ") == datetime(2026, 12, 5, 9, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="'last week' is not an ISO date"):
        parse_since("last week")
    assert failures_path() == "/failures"
    assert failures_path("sales order") == "/failures?entity=sales+order"
