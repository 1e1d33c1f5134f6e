"""Bindings: uniqueness both ways, batch lookups and idempotent batch upserts on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from tandem.store import (
    Binding,
    BindingConflict,
    BindingConflictError,
    BindingFailure,
    BindingRecord,
    BindingStatus,
    Side,
    WatermarkAdvance,
    archive_bindings,
    bindings_by_crm_ids,
    bindings_by_erp_ids,
    count_by_status,
    get_watermark,
    list_bindings,
    mark_failed,
    set_status,
    upsert_bindings,
)

ENTITY = "customer"
SYNCED_AT = datetime(2026, 11, 22, 20, 0, tzinfo=UTC)


def _page(count: int, start: int = 0) -> list[BindingRecord]:
    return [
        BindingRecord(
            crm_id=f"001{n:015d}",
            erp_id=f"{n + 1000}",
            external_id=f"ext-{n}",
            crm_hash=f"c{n}",
            erp_hash=f"e{n}",
            last_synced_at=SYNCED_AT,
        )
        for n in range(start, start + count)
    ]


@contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def _record(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        if not statement.startswith(("SAVEPOINT", "RELEASE", "BEGIN", "PRAGMA")):
            seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", _record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", _record)


def _all_rows(session: Session) -> list[Binding]:
    return list(session.exec(select(Binding).execution_options(populate_existing=True)).all())


def test_a_page_is_written_in_two_statements_and_looked_up_in_one(engine: Engine, session: Session, cid: int) -> None:
    page = _page(2_000)
    with _statements(engine) as seen:
        result = upsert_bindings(session, cid, ENTITY, page, key=Side.CRM)
    assert result.written == 2_000 and result.conflicts == []
    assert len(seen) == 2  # the conflict check and one INSERT ... ON CONFLICT
    session.commit()

    crm_ids = [f"001{n:015d}" for n in range(2_000)]
    with _statements(engine) as seen:
        by_crm = bindings_by_crm_ids(session, cid, ENTITY, [*crm_ids, "001unknown"])
    assert len(seen) == 1
    assert set(by_crm) == set(crm_ids)
    with _statements(engine) as seen:
        by_erp = bindings_by_erp_ids(session, cid, ENTITY, [r.erp_id for r in page[:10]])  # type: ignore[misc]
    assert len(seen) == 1
    binding = by_erp["1003"]
    assert (binding.crm_id, binding.external_id, binding.crm_hash, binding.erp_hash) == (
        "001000000000000003",
        "ext-3",
        "c3",
        "e3",
    )
    assert binding.status is BindingStatus.SYNCED
    assert binding.last_synced_at == SYNCED_AT


def test_repeating_a_batch_changes_nothing(session: Session, cid: int) -> None:
    page = _page(50)
    for _ in range(3):
        assert upsert_bindings(session, cid, ENTITY, page, key=Side.CRM).written == 50
        session.commit()
    for _ in range(2):
        upsert_bindings(session, cid, ENTITY, page, key=Side.ERP)
        session.commit()
    rows = _all_rows(session)
    assert len(rows) == 50
    assert {(r.crm_id, r.erp_id, r.crm_hash) for r in rows} == {(p.crm_id, p.erp_id, p.crm_hash) for p in page}


def test_the_database_refuses_a_second_active_binding_for_either_id(session: Session, cid: int) -> None:
    upsert_bindings(session, cid, ENTITY, _page(1), key=Side.CRM)
    session.commit()
    for duplicate in (
        Binding(connection_id=cid, entity=ENTITY, crm_id="001000000000000000", erp_id="other"),
        Binding(connection_id=cid, entity=ENTITY, crm_id="001other", erp_id="1000"),
    ):
        session.add(duplicate)
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()
    # the same ids are fine for another entity
    session.add(Binding(connection_id=cid, entity="contact", crm_id="001000000000000000", erp_id="1000"))
    session.commit()


def test_an_upsert_updates_instead_of_duplicating(session: Session, cid: int) -> None:
    upsert_bindings(session, cid, ENTITY, _page(1), key=Side.CRM)
    later = SYNCED_AT + timedelta(hours=1)
    changed = BindingRecord(crm_id="001000000000000000", erp_id="1000", crm_hash="c-new", last_synced_at=later)
    upsert_bindings(session, cid, ENTITY, [changed], key=Side.CRM)
    by_erp = BindingRecord(erp_id="1000", erp_hash="e-new")
    upsert_bindings(session, cid, ENTITY, [by_erp], key=Side.ERP)
    session.commit()
    [row] = _all_rows(session)
    assert (row.crm_hash, row.erp_hash, row.external_id, row.last_synced_at) == ("c-new", "e-new", "ext-0", later)


def test_an_id_bound_to_another_record_is_reported_not_written(session: Session, cid: int) -> None:
    upsert_bindings(session, cid, ENTITY, _page(2), key=Side.CRM)
    steal = BindingRecord(crm_id="001new", erp_id="1000")
    twice = [BindingRecord(crm_id="001a", erp_id="9"), BindingRecord(crm_id="001b", erp_id="9")]
    result = upsert_bindings(session, cid, ENTITY, [steal, *twice], key=Side.CRM)
    assert result.written == 1
    assert result.conflicts == [
        BindingConflict(key_id="001new", other_id="1000", bound_to="001000000000000000"),
        BindingConflict(key_id="001b", other_id="9", bound_to=None),
    ]
    session.commit()
    assert bindings_by_erp_ids(session, cid, ENTITY, ["1000", "9"])["9"].crm_id == "001a"
    assert len(_all_rows(session)) == 3


def test_the_last_record_wins_when_a_batch_repeats_a_key(session: Session, cid: int) -> None:
    first, second = BindingRecord(crm_id="001x", crm_hash="one"), BindingRecord(crm_id="001x", crm_hash="two")
    assert upsert_bindings(session, cid, ENTITY, [first, second], key=Side.CRM).written == 1
    assert bindings_by_crm_ids(session, cid, ENTITY, ["001x"])["001x"].crm_hash == "two"


def test_archived_bindings_do_not_count_for_uniqueness(session: Session, cid: int) -> None:
    upsert_bindings(session, cid, ENTITY, _page(3), key=Side.CRM)
    assert archive_bindings(session, cid) == 3
    session.commit()
    assert bindings_by_crm_ids(session, cid, ENTITY, [r.crm_id for r in _page(3)]) == {}  # type: ignore[misc]
    fresh = [BindingRecord(crm_id=r.crm_id, erp_id=r.erp_id, crm_hash="fresh") for r in _page(3)]
    assert upsert_bindings(session, cid, ENTITY, fresh, key=Side.CRM).written == 3
    session.add(Binding(connection_id=cid, entity=ENTITY, crm_id="001000000000000000", archived=True))
    session.commit()
    rows = _all_rows(session)
    assert len(rows) == 7
    active = bindings_by_erp_ids(session, cid, ENTITY, ["1000", "1001", "1002"])
    assert {b.crm_hash for b in active.values()} == {"fresh"}
    assert sum(count_by_status(session, cid).values()) == 3


def test_failures_are_recorded_and_cleared_by_a_later_success(session: Session, cid: int) -> None:
    upsert_bindings(session, cid, ENTITY, _page(1), key=Side.CRM)
    failures = [
        BindingFailure(record_id="001000000000000000", code="INVALID_FIELD", message="No such column 'Foo__c'"),
        BindingFailure(record_id="001never", code="DUPLICATE_VALUE", message="duplicate value found: ext id"),
    ]
    assert mark_failed(session, cid, ENTITY, failures, key=Side.CRM) == 2
    session.commit()
    found = bindings_by_crm_ids(session, cid, ENTITY, ["001000000000000000", "001never"])
    bound, unbound = found["001000000000000000"], found["001never"]
    assert (bound.status, bound.error_code, bound.erp_id, bound.crm_hash) == (
        BindingStatus.FAILED,
        "INVALID_FIELD",
        "1000",
        "c0",
    )
    assert bound.last_synced_at == SYNCED_AT
    assert (unbound.status, unbound.error_code, unbound.erp_id) == (BindingStatus.FAILED, "DUPLICATE_VALUE", None)
    assert count_by_status(session, cid, ENTITY)[BindingStatus.FAILED] == 2

    upsert_bindings(session, cid, ENTITY, [BindingRecord(crm_id="001never", erp_id="77")], key=Side.CRM)
    session.commit()
    healed = bindings_by_erp_ids(session, cid, ENTITY, ["77"])["77"]
    assert (healed.status, healed.error_code, healed.error_message) == (BindingStatus.SYNCED, None, None)


def test_a_binding_known_on_one_side_is_completed_not_duplicated(session: Session, cid: int) -> None:
    failure = BindingFailure(record_id="5005", code="UNMAPPED_VALUE", message="value not in value map")
    mark_failed(session, cid, ENTITY, [failure], key=Side.ERP)
    completed = BindingRecord(crm_id="001c", erp_id="5005", crm_hash="h")
    result = upsert_bindings(session, cid, ENTITY, [completed], key=Side.CRM)
    assert (result.written, result.conflicts) == (1, [])
    session.commit()
    [row] = _all_rows(session)
    assert (row.crm_id, row.erp_id, row.status, row.error_code) == ("001c", "5005", BindingStatus.SYNCED, None)


def test_statuses_and_counts(session: Session, cid: int) -> None:
    upsert_bindings(session, cid, ENTITY, _page(5), key=Side.CRM)
    assert set_status(session, cid, ENTITY, ["1000", "1001"], key=Side.ERP, status=BindingStatus.DELETED) == 2
    set_status(session, cid, ENTITY, ["001000000000000004"], key=Side.CRM, status=BindingStatus.EXCLUDED)
    upsert_bindings(session, cid, "contact", _page(2), key=Side.CRM)
    session.commit()
    counts = count_by_status(session, cid, ENTITY)
    assert counts == {
        BindingStatus.SYNCED: 2,
        BindingStatus.FAILED: 0,
        BindingStatus.EXCLUDED: 1,
        BindingStatus.DELETED: 2,
        BindingStatus.PENDING: 0,
    }
    assert count_by_status(session, cid)[BindingStatus.SYNCED] == 4


def test_list_bindings_pages_in_id_order(session: Session, cid: int) -> None:
    upsert_bindings(session, cid, ENTITY, _page(5), key=Side.CRM)
    mark_failed(session, cid, ENTITY, [BindingFailure("1004", "X", "y")], key=Side.ERP)
    session.commit()
    first = list_bindings(session, cid, ENTITY, limit=3)
    rest = list_bindings(session, cid, ENTITY, after_id=first[-1].id or 0, limit=3)
    assert [b.erp_id for b in first + rest] == ["1000", "1001", "1002", "1003", "1004"]
    assert [b.erp_id for b in list_bindings(session, cid, ENTITY, status=BindingStatus.FAILED)] == ["1004"]


def test_the_watermark_commits_or_rolls_back_with_its_batch(engine: Engine, cid: int) -> None:
    mark = datetime(2026, 11, 22, 21, 0, 0, 123456, tzinfo=UTC)
    with Session(engine) as session:
        upsert_bindings(session, cid, ENTITY, _page(3), key=Side.CRM, watermark=WatermarkAdvance(Side.CRM, mark))
        session.rollback()
    with Session(engine) as session:
        assert get_watermark(session, cid, ENTITY, Side.CRM) is None
        assert _all_rows(session) == []
        result = upsert_bindings(
            session, cid, ENTITY, _page(3), key=Side.CRM, watermark=WatermarkAdvance(Side.CRM, mark)
        )
        assert result.watermark == mark
        session.commit()
    with Session(engine) as session:
        assert get_watermark(session, cid, ENTITY, Side.CRM) == mark
        assert len(_all_rows(session)) == 3


def test_a_batch_needs_its_key_ids(session: Session, cid: int) -> None:
    with pytest.raises(ValueError, match="needs a crm id"):
        upsert_bindings(session, cid, ENTITY, [BindingRecord(erp_id="1")], key=Side.CRM)


def test_lookups_are_served_by_the_partial_unique_indexes(engine: Engine, session: Session, cid: int) -> None:
    upsert_bindings(session, cid, ENTITY, _page(2_000), key=Side.CRM)
    session.commit()
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE bindings")
    lookups = (
        (bindings_by_crm_ids, ["001000000000000001", "001000000000000002"], "uq_bindings_active_crm_id"),
        (bindings_by_erp_ids, ["1001", "1002"], "uq_bindings_active_erp_id"),
    )
    captured: list[tuple[str, Any]] = []

    def _capture(_conn: object, _cursor: object, statement: str, parameters: Any, *_rest: object) -> None:
        if statement.startswith("SELECT"):
            captured.append((statement, parameters))

    for lookup, ids, index in lookups:
        captured.clear()
        sa.event.listen(engine, "before_cursor_execute", _capture)
        try:
            assert len(lookup(session, cid, ENTITY, ids)) == 2
        finally:
            sa.event.remove(engine, "before_cursor_execute", _capture)
        [(statement, parameters)] = captured
        explain = "EXPLAIN QUERY PLAN" if engine.dialect.name == "sqlite" else "EXPLAIN"
        with engine.begin() as conn:
            plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(f"{explain} {statement}", parameters))
        assert index in plan, plan


def test_a_concurrent_binding_between_check_and_write_is_a_conflict_error(
    engine: Engine, session: Session, cid: int
) -> None:
    sneaked: list[bool] = []

    def _sneak_in(_conn: object, cursor: Any, statement: str, *_rest: object) -> None:
        if statement.startswith("INSERT INTO bindings") and not sneaked:
            sneaked.append(True)
            cursor.execute(
                "INSERT INTO bindings (connection_id, entity, crm_id, status, archived, created_at, updated_at) "
                f"VALUES ({cid}, '{ENTITY}', '001race', 'pending', false, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )

    sa.event.listen(engine, "before_cursor_execute", _sneak_in)
    try:
        with pytest.raises(BindingConflictError, match="roll back and retry"):
            upsert_bindings(session, cid, ENTITY, [BindingRecord(crm_id="001race", erp_id="1")], key=Side.ERP)
    finally:
        sa.event.remove(engine, "before_cursor_execute", _sneak_in)
    session.rollback()
    assert _all_rows(session) == []


def test_a_batch_for_an_unknown_connection_is_refused(session: Session) -> None:
    with pytest.raises(IntegrityError):
        upsert_bindings(session, 4242, ENTITY, [BindingRecord(crm_id="001a")], key=Side.CRM)
