"""What the incremental sync and the deletion sweep keep in the store, on both databases: failed records
to try again, held conflicts, conflicts per run, detached and archived bindings, last successful runs."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session, select

from tandem.store import BindingRecord, BindingStatus, RunState, Side, upsert_bindings
from tandem.store.bindings import (
    CONFLICT_HELD,
    UNLINKED,
    archive_deleted,
    bindings_by_ids,
    bound_ids,
    detach_side,
    failed_ids,
    held_bindings,
)
from tandem.store.conflicts import ConflictEntry, list_conflicts, record_conflicts
from tandem.store.runs import finish_run, last_succeeded_run, start_run
from tandem.store.tables import Binding

ENTITY = "customer"
AT = datetime(2026, 11, 22, 20, 0, tzinfo=UTC)


def _bind(session: Session, cid: int, *records: BindingRecord) -> None:
    upsert_bindings(session, cid, ENTITY, list(records), key=Side.CRM)
    session.commit()


def _pair(n: int, **fields: object) -> BindingRecord:
    values: dict[str, object] = {"crm_id": f"001{n:03d}", "erp_id": str(n), "external_id": f"X-{n}",
                                 "crm_hash": "c", "erp_hash": "e", "last_synced_at": AT, **fields}
    return BindingRecord(**values)  # type: ignore[arg-type]


def test_failed_records_to_try_again_leave_out_held_conflicts(session: Session, cid: int) -> None:
    _bind(
        session, cid, _pair(1), _pair(2, status=BindingStatus.FAILED, error_code="INVALID_EMAIL_ADDRESS"),
        _pair(3, status=BindingStatus.FAILED, error_code=CONFLICT_HELD),
        BindingRecord(crm_id="001004", status=BindingStatus.FAILED, error_code="UNRESOLVED_REFERENCE"),
    )
    assert sorted(failed_ids(session, cid, ENTITY, Side.CRM)) == ["001002", "001004"]
    assert failed_ids(session, cid, ENTITY, Side.ERP) == ["2"]  # the one without an ERP id has none to read
    assert [b.crm_id for b in held_bindings(session, cid, ENTITY)] == ["001003"]
    assert [b.crm_id for b in held_bindings(session, cid, ENTITY, ["3"])] == ["001003"]  # by ERP id too
    assert held_bindings(session, cid, ENTITY, ["001001"]) == []


def test_a_conflict_is_stored_once_per_run(session: Session, cid: int) -> None:
    run = start_run(session, cid, "incremental-sync", entities=[ENTITY])
    assert run.id is not None
    entry = ConflictEntry(ENTITY, "001001", "1", AT, None, "crm_wins", "crm")
    record_conflicts(session, run.id, [entry])
    record_conflicts(session, run.id, [entry, ConflictEntry(ENTITY, "001002", "2", None, AT, "hold", "held")])
    session.commit()
    stored = list_conflicts(session, run.id)
    assert [(c.crm_id, c.erp_id, c.policy, c.outcome) for c in stored] == [
        ("001001", "1", "crm_wins", "crm"), ("001002", "2", "hold", "held"),
    ]
    assert stored[0].crm_modified_at == AT and stored[0].erp_modified_at is None


def test_detaching_a_deleted_side_keeps_the_partner_and_frees_the_id(session: Session, cid: int) -> None:
    _bind(session, cid, _pair(1), _pair(2))
    changed = detach_side(session, cid, ENTITY, Side.ERP, ["1"], status=BindingStatus.EXCLUDED,
                          error_code=UNLINKED, error_message="its ERP partner was deleted")
    session.commit()
    assert changed == 1
    [binding] = bindings_by_ids(session, cid, ENTITY, Side.CRM, ["001001"]).values()
    assert (binding.erp_id, binding.erp_hash, binding.crm_hash) == (None, None, "c")
    assert (binding.status, binding.error_code) == (BindingStatus.EXCLUDED, UNLINKED)
    # The ERP id is free again for another record.
    _bind(session, cid, BindingRecord(crm_id="001009", erp_id="1"))
    assert bound_ids(session, cid, ENTITY, Side.ERP) == ["1", "2"]


def test_archived_deletions_are_history_and_no_longer_found(session: Session, cid: int) -> None:
    _bind(session, cid, _pair(1), _pair(2), _pair(3))
    assert archive_deleted(session, cid, ENTITY, Side.CRM, ["001001", "001003"]) == 2
    session.commit()
    assert sorted(bindings_by_ids(session, cid, ENTITY, Side.CRM, ["001001", "001002", "001003"])) == ["001002"]
    archived = session.exec(select(Binding).where(Binding.archived == True)).all()  # noqa: E712
    assert sorted((b.crm_id, b.status) for b in archived) == [
        ("001001", BindingStatus.DELETED), ("001003", BindingStatus.DELETED),
    ]
    assert archive_deleted(session, cid, ENTITY, Side.CRM, ["001001"]) == 0  # twice: nothing more


def test_bound_ids_page_in_id_order(session: Session, cid: int) -> None:
    _bind(session, cid, *(_pair(n) for n in range(1, 8)), BindingRecord(crm_id="001099"))
    first = bound_ids(session, cid, ENTITY, Side.ERP, limit=3)
    rest = bound_ids(session, cid, ENTITY, Side.ERP, after=first[-1])
    assert first + rest == sorted(str(n) for n in range(1, 8))


def test_the_last_succeeded_run_of_a_procedure(session: Session, cid: int) -> None:
    assert last_succeeded_run(session, cid, "deletion-sweep") is None
    good = start_run(session, cid, "deletion-sweep")
    assert good.id is not None
    finish_run(session, good.id, RunState.SUCCEEDED)
    bad = start_run(session, cid, "deletion-sweep")
    assert bad.id is not None
    finish_run(session, bad.id, RunState.FAILED)
    other = start_run(session, cid, "incremental-sync")
    assert other.id is not None
    finish_run(session, other.id, RunState.SUCCEEDED)
    session.commit()
    found = last_succeeded_run(session, cid, "deletion-sweep")
    assert found is not None and found.id == good.id
