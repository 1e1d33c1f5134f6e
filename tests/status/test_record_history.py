"""A record's failure history from the state store (SQLite file and real PostgreSQL): newest first, only the
connection's runs, only that side's record, limited; and the paths the card links to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from tandem.status.history import history_path, record_history, retry_command, retry_deployment, retry_path
from tandem.store import RecordErrorEntry, Side, add_record_errors, create_connection, finish_run, require_id, start_run
from tandem.store.tables import RecordError

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
_ERRORS: sa.Table = RecordError.__table__  # type: ignore[attr-defined]


def _fail(session: Session, run_id: int, side: Side, record_id: str, code: str, at: datetime) -> None:
    add_record_errors(session, run_id, [RecordErrorEntry("contact", side, record_id, code, f"{code} on {record_id}")])
    session.exec(sa.update(_ERRORS).where(_ERRORS.c.run_id == run_id, _ERRORS.c.record_id == record_id,
                                          _ERRORS.c.side == side).values(occurred_at=at))


def test_a_records_failures_newest_first_in_its_connections_runs(session: Session, cid: int, engine: Engine) -> None:
    other = require_id(create_connection(session, name="other", crm_org_id="00D000000000002", erp_account_id="X2"))
    runs = [require_id(start_run(session, cid, procedure, flow_run_id=f"flow-{n}"))
            for n, procedure in enumerate(["full-sync", "incremental-sync", "retry-records"])]
    codes = ["INVALID_EMAIL_ADDRESS", "DUPLICATE_VALUE", "INVALID_EMAIL_ADDRESS"]
    for n, (run_id, code) in enumerate(zip(runs, codes, strict=True)):
        _fail(session, run_id, Side.ERP, "2397", code, T0 + timedelta(hours=n))
    _fail(session, runs[0], Side.CRM, "2397", "NOT_THIS_SIDE", T0 + timedelta(hours=5))
    _fail(session, runs[0], Side.ERP, "2398", "NOT_THIS_RECORD", T0 + timedelta(hours=5))
    elsewhere = require_id(start_run(session, other, "full-sync"))
    _fail(session, elsewhere, Side.ERP, "2397", "OTHER_CONNECTION", T0 + timedelta(hours=6))
    finish_run(session, runs[0])
    session.commit()

    history = record_history(engine, "acme", "contact", Side.ERP, "2397")
    assert [(e.code, e.procedure, e.run_id) for e in history] == [
        ("INVALID_EMAIL_ADDRESS", "retry-records", runs[2]), ("DUPLICATE_VALUE", "incremental-sync", runs[1]),
        ("INVALID_EMAIL_ADDRESS", "full-sync", runs[0]),
    ]
    assert history[0].occurred_at == T0 + timedelta(hours=2) and history[0].flow_run_id == "flow-2"
    assert (history[0].run_state, history[2].run_state) == ("running", "succeeded")
    assert history[0].as_dict()["occurred_at"] == (T0 + timedelta(hours=2)).isoformat()
    assert [e.code for e in record_history(engine, "acme", "contact", Side.ERP, "2397", limit=1)] == [
        "INVALID_EMAIL_ADDRESS"]
    assert record_history(engine, "acme", "customer", Side.ERP, "2397") == []
    assert [e.code for e in record_history(engine, "other", "contact", Side.ERP, "2397")] == ["OTHER_CONNECTION"]


def test_the_paths_and_the_command_a_card_links_to() -> None:
    assert history_path("contact", Side.ERP, "23/97") == "/failures/contact/erp/23%2F97"
    assert retry_path("contact", "crm", "003A") == "/failures/contact/crm/003A/retry"
    assert retry_deployment("acme") == "retry-records/acme-retry-records"
    assert retry_command("acme", "contact", "2397") == (
        "prefect deployment run 'retry-records/acme-retry-records' -p entity=contact -p 'record_ids=[\"2397\"]' "
        "--watch")
