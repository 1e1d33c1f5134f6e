"""Deletions in every incremental run: read since each side's deletion watermark, settled by each entity's
deletion policy in the runs going the way the deletion acts; the deletion sweep stays as the safety net."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
import yaml
from sqlmodel import select

from flows.deletion_sweep import deletion_sweep
from flows.full_sync import full_sync
from flows.incremental_sync import incremental_sync
from flows.initial_import import initial_import
from flows.parameters import EntityName
from tandem.mapping import MAPPINGS_DIR, Direction
from tandem.store import create_store_engine, session_scope
from tandem.store.bindings import UNLINKED
from tandem.store.tables import Binding, BindingStatus, Connection, Side
from tandem.store.types import utc_now
from tandem.store.watermarks import get_deletion_watermark, reset_deletion_watermark
from tests.flows.clients import erp_client, salesforce
from tests.flows.conftest import save_connection
from tests.support.emulator import RunningEmulator

BASE = ["currency", "salesperson", "payment_term", "customer"]
NAME = "incremental-deletions"


def names(*entities: str) -> list[EntityName]:
    return [EntityName(e) for e in entities]


def by_entity(rows: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(row["entity"]): row for row in rows}


def run(entity: str, direction: Direction = Direction.BOTH, *, dry_run: bool = False) -> dict[str, object]:
    """One incremental run of ``entity``; its counts row."""
    rows = incremental_sync(connection=NAME, direction=direction, entities=names(entity), dry_run=dry_run)
    return by_entity(rows)[entity]


def set_up(crm: RunningEmulator, erp: RunningEmulator, store_path: Path, entities: list[str], **fields: object) -> None:
    """An org created half an hour ago; initial import and full sync, then a first incremental run (the
    deletion watermarks are in place)."""
    # Salesforce reports deletions only from the org's creation (nothing purged yet): an org created by the
    # fixture's reset a moment ago could not cover a watermark set back a few minutes.
    crm.control("POST", "clock", json={"advance_seconds": -1800})
    crm.control("POST", "reset", json={"seed": "demo"})
    crm.control("POST", "clock", json={"reset": True})
    save_connection(NAME, crm, erp, store_path, **fields)
    initial_import(connection=NAME, entities=names(*entities))
    rows = by_entity(full_sync(connection=NAME, entities=names(*entities)))
    assert all(row["state"] == "succeeded" for row in rows.values()), rows
    first = run(entities[-1])
    assert first["deleted"] == 0 and first["failed"] == 0, first


def engine_of(store_path: Path) -> sa.Engine:
    return create_store_engine(f"sqlite:///{store_path}")


def connection_id(store_path: Path) -> int:
    with session_scope(engine_of(store_path), write=False) as session:
        connection = session.exec(select(Connection)).one()
    assert connection.id is not None
    return connection.id


def deletion_watermark(store_path: Path, entity: str, side: Side) -> datetime | None:
    with session_scope(engine_of(store_path), write=False) as session:
        return get_deletion_watermark(session, connection_id(store_path), entity, side)


def as_if_read(store_path: Path, entity: str, ago: timedelta) -> datetime:
    """Set both deletion watermarks of ``entity`` back, as if the last run read deletions ``ago``."""
    value = utc_now() - ago
    cid = connection_id(store_path)
    with session_scope(engine_of(store_path)) as session:
        for side in Side:
            reset_deletion_watermark(session, cid, entity, side, value)
    return value


def binding_of(store_path: Path, entity: str, **ids: str) -> Binding | None:
    """The active binding of ``entity`` with these ids."""
    with session_scope(engine_of(store_path), write=False) as session:
        statement = select(Binding).where(Binding.entity == entity, Binding.archived == sa.false())
        for column, value in ids.items():
            statement = statement.where(getattr(Binding, column) == value)
        return session.exec(statement).first()


def coupled(store_path: Path, entity: str) -> Binding:
    """A binding of ``entity`` with both sides, synced."""
    with session_scope(engine_of(store_path), write=False) as session:
        binding = session.exec(
            select(Binding).where(
                Binding.entity == entity, Binding.status == BindingStatus.SYNCED, Binding.archived == sa.false(),
                Binding.crm_id.is_not(None), Binding.erp_id.is_not(None),  # type: ignore[union-attr]
            ).order_by(Binding.id)
        ).first()
    assert binding is not None
    return binding


def delete_in_salesforce(crm: RunningEmulator, sobject: str, record_id: str) -> None:
    """Delete a record two minutes ago, Salesforce time: ``deleted/`` counts whole minutes up to now only."""
    crm.control("POST", "clock", json={"advance_seconds": -120})
    getattr(salesforce(crm), sobject).delete(record_id)
    crm.control("POST", "clock", json={"reset": True})


def new_account(crm: RunningEmulator, store_path: Path, name: str) -> Binding:
    """An Account created in Salesforce and synced to the ERP by an incremental run; its binding."""
    account_id = str(salesforce(crm).Account.create({"Name": name})["id"])
    assert run("customer")["inserted"] == 1
    binding = binding_of(store_path, "customer", crm_id=account_id)
    assert binding is not None and binding.erp_id is not None
    return binding


def test_a_task_deleted_in_salesforce_goes_with_the_next_run_towards_the_erp(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path
) -> None:
    crm, erp = fresh
    store_path = tmp_path / "state.sqlite3"
    set_up(crm, erp, store_path, [*BASE, "task"])
    task = coupled(store_path, "task")
    erp_user = erp_client(erp)
    marked = as_if_read(store_path, "task", timedelta(minutes=10))  # the last run read deletions 10 minutes ago
    delete_in_salesforce(crm, "Task", str(task.crm_id))

    to_crm = run("task", Direction.TO_CRM)  # ERP → Salesforce: Salesforce's deletions are not its business
    assert to_crm["deleted"] == 0 and str(to_crm["crm deletions read"]).startswith("not read"), to_crm
    assert to_crm["erp deletions read"] == "window"
    assert not erp_user.read_by_keys("task", "internalId", [str(task.erp_id)], fields=["title"]).empty
    assert deletion_watermark(store_path, "task", Side.CRM) == marked

    dry = run("task", Direction.TO_ERP, dry_run=True)  # says what it would delete, deletes nothing, moves nothing
    assert (dry["deleted"], dry["deleted in crm"], dry["crm deletions read"]) == (1, 1, "window"), dry
    assert not erp_user.read_by_keys("task", "internalId", [str(task.erp_id)], fields=["title"]).empty
    assert deletion_watermark(store_path, "task", Side.CRM) == marked

    to_erp = run("task", Direction.TO_ERP)
    assert (to_erp["deleted"], to_erp["failed"], to_erp["deleted in crm"]) == (1, 0, 1), to_erp
    assert erp_user.read_by_keys("task", "internalId", [str(task.erp_id)], fields=["title"]).empty
    assert binding_of(store_path, "task", crm_id=str(task.crm_id)) is None  # archived: history only
    moved = deletion_watermark(store_path, "task", Side.CRM)
    assert moved is not None and moved > marked

    again = run("task")  # both ways: reads both sides again, nothing more to do
    assert (again["deleted"], again["failed"], again["inserted"]) == (0, 0, 0), again
    sweep = by_entity(deletion_sweep(connection=NAME, entities=names("task")))["task"]
    assert (sweep["deleted"], sweep["failed"], sweep["couplings removed"]) == (0, 0, 0), sweep


def test_an_erp_customer_deleted_loses_its_coupling_in_the_next_run_and_its_account_stays(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path
) -> None:
    crm, erp = fresh
    store_path = tmp_path / "state.sqlite3"
    set_up(crm, erp, store_path, BASE)  # customers: deletion policy unlink
    binding = new_account(crm, store_path, "Unlink Me Incrementally Ltd")
    assert erp_client(erp).delete_batch("customer", [str(binding.erp_id)])[0].ok

    rows = run("customer")
    assert (rows["couplings removed"], rows["deleted in erp"], rows["deleted"], rows["failed"]) == (1, 1, 0, 0), rows
    assert salesforce(crm).Account.get(binding.crm_id)["Name"] == "Unlink Me Incrementally Ltd"
    unlinked = binding_of(store_path, "customer", crm_id=str(binding.crm_id))
    assert unlinked is not None and unlinked.erp_id is None
    assert (unlinked.status, unlinked.error_code) == (BindingStatus.EXCLUDED, UNLINKED)

    again = run("customer")
    assert (again["couplings removed"], again["deleted"], again["inserted"]) == (0, 0, 0), again
    sweep = by_entity(deletion_sweep(connection=NAME, entities=names("customer")))["customer"]
    assert (sweep["couplings removed"], sweep["deleted"], sweep["inserted"]) == (0, 0, 0), sweep


def test_a_restored_account_comes_back_with_the_next_run_towards_salesforce(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path
) -> None:
    crm, erp = fresh
    store_path = tmp_path / "state.sqlite3"
    spec = yaml.safe_load((MAPPINGS_DIR / "default.yaml").read_text())
    spec["entities"]["customer"]["deletion"] = "restore"
    mapping = tmp_path / "restore.yaml"
    mapping.write_text(yaml.safe_dump(spec))
    set_up(crm, erp, store_path, BASE, mapping_set=str(mapping))
    binding = new_account(crm, store_path, "Restore Me Incrementally Ltd")
    as_if_read(store_path, "customer", timedelta(minutes=10))
    delete_in_salesforce(crm, "Account", str(binding.crm_id))

    to_erp = run("customer", Direction.TO_ERP)  # a restore writes to Salesforce: not a Salesforce → ERP run's job
    assert to_erp["inserted"] == 0 and str(to_erp["crm deletions read"]).startswith("not read"), to_erp
    to_crm = run("customer", Direction.TO_CRM)
    assert (to_crm["inserted"], to_crm["deleted in crm"], to_crm["failed"]) == (1, 1, 0), to_crm
    sf = salesforce(crm)
    [restored] = sf.query(f"SELECT Id, Name FROM Account WHERE ERP_Id__c = '{binding.external_id}'")["records"]
    assert restored["Name"] == "Restore Me Incrementally Ltd" and restored["Id"] != binding.crm_id
    rebound = binding_of(store_path, "customer", erp_id=str(binding.erp_id))
    assert rebound is not None and rebound.crm_id == restored["Id"] and rebound.status is BindingStatus.SYNCED

    again = run("customer")
    assert (again["inserted"], again["deleted"], again["failed"]) == (0, 0, 0), again


def test_a_window_that_cannot_cover_the_time_since_the_watermark_is_left_to_the_sweep(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path
) -> None:
    crm, erp = fresh
    store_path = tmp_path / "state.sqlite3"
    set_up(crm, erp, store_path, BASE)
    binding = new_account(crm, store_path, "Missed Deletion Ltd")
    marked = as_if_read(store_path, "customer", timedelta(days=20))  # older than Salesforce's 15 days
    delete_in_salesforce(crm, "Account", str(binding.crm_id))

    rows = run("customer")
    assert str(rows["crm deletions read"]).startswith("left to the sweep: the deletion watermark"), rows
    assert (rows["deleted in crm"], rows["couplings removed"]) == (0, 0), rows
    assert binding_of(store_path, "customer", crm_id=str(binding.crm_id)) is not None  # no reconcile in the run
    moved = deletion_watermark(store_path, "customer", Side.CRM)
    assert moved is not None and moved > marked + timedelta(days=19)  # the next run reads its window again

    sweep = by_entity(deletion_sweep(connection=NAME, entities=names("customer")))["customer"]
    assert (sweep["deleted in crm"], sweep["couplings removed"]) == (1, 1), sweep
    assert binding_of(store_path, "customer", crm_id=str(binding.crm_id)) is None
