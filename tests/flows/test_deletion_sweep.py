"""The deletion sweep end to end: each deletion policy, idempotence, and the reconcile fallback."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from sqlmodel import select

from flows.deletion_sweep import deletion_sweep
from flows.full_sync import full_sync
from flows.incremental_sync import incremental_sync
from flows.initial_import import initial_import
from flows.parameters import EntityName
from tandem.mapping import MAPPINGS_DIR
from tandem.store import create_store_engine, session_scope
from tandem.store.bindings import UNLINKED
from tandem.store.tables import Binding, BindingStatus, SyncRun
from tandem.store.types import utc_now
from tests.flows.clients import erp_client, salesforce
from tests.flows.conftest import save_connection
from tests.support.emulator import RunningEmulator

BASE = ["currency", "salesperson", "payment_term", "customer"]


def names(*entities: str) -> list[EntityName]:
    return [EntityName(e) for e in entities]


def by_entity(rows: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(row["entity"]): row for row in rows}


def binding_of(store_path: Path, entity: str, **ids: str) -> Binding | None:
    """The active binding of ``entity`` with these ids."""
    with session_scope(create_store_engine(f"sqlite:///{store_path}"), write=False) as session:
        statement = select(Binding).where(Binding.entity == entity, Binding.archived == sa.false())
        for column, value in ids.items():
            statement = statement.where(getattr(Binding, column) == value)
        return session.exec(statement).first()


def set_up(crm: RunningEmulator, erp: RunningEmulator, store_path: Path, entities: list[str], **fields: object) -> None:
    save_connection("sweep", crm, erp, store_path, **fields)
    initial_import(connection="sweep", entities=names(*entities))
    rows = by_entity(full_sync(connection="sweep", entities=names(*entities)))
    assert all(row["state"] == "succeeded" for row in rows.values()), rows


def delete_in_salesforce(crm: RunningEmulator, sobject: str, record_id: str) -> None:
    """Delete a record two minutes ago, Salesforce time: ``deleted/`` counts whole minutes up to now only."""
    crm.control("POST", "clock", json={"advance_seconds": -120})
    getattr(salesforce(crm), sobject).delete(record_id)
    crm.control("POST", "clock", json={"reset": True})


def new_account(crm: RunningEmulator, name: str) -> str:
    """An Account created in Salesforce and synced to the ERP; its id."""
    account_id = str(salesforce(crm).Account.create({"Name": name})["id"])
    rows = by_entity(incremental_sync(connection="sweep", entities=names("customer")))
    assert rows["customer"]["inserted"] == 1, rows
    return account_id


def test_the_first_sweep_reconciles_and_a_second_reads_the_window_and_deletes_nothing_more(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path
) -> None:
    crm, erp = fresh
    store_path = tmp_path / "state.sqlite3"
    set_up(crm, erp, store_path, BASE)
    first = by_entity(deletion_sweep(connection="sweep", entities=names("customer")))
    assert first["customer"]["crm read"] == "reconciled: no earlier deletion sweep"
    assert (first["customer"]["deleted in crm"], first["customer"]["deleted in erp"]) == (0, 0)
    second = by_entity(deletion_sweep(connection="sweep", entities=names("customer")))
    assert (second["customer"]["crm read"], second["customer"]["erp read"]) == ("window", "window")


def test_delete_removes_the_partner_both_ways_once(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path
) -> None:
    crm, erp = fresh
    store_path = tmp_path / "state.sqlite3"
    set_up(crm, erp, store_path, [*BASE, "task"])
    deletion_sweep(connection="sweep", entities=names("task"))  # the first sweep reconciles (nothing deleted)
    sf, erp_user = salesforce(crm), erp_client(erp)
    with session_scope(create_store_engine(f"sqlite:///{store_path}"), write=False) as session:
        pairs = session.exec(
            select(Binding).where(
                Binding.entity == "task", Binding.status == BindingStatus.SYNCED,
                Binding.crm_id.is_not(None), Binding.erp_id.is_not(None),  # type: ignore[union-attr]
            ).limit(2)
        ).all()
    in_crm, in_erp = pairs
    delete_in_salesforce(crm, "Task", str(in_crm.crm_id))
    assert erp_user.delete_batch("task", [str(in_erp.erp_id)])[0].ok

    rows = by_entity(deletion_sweep(connection="sweep", entities=names("task")))
    assert (rows["task"]["deleted"], rows["task"]["deleted in crm"], rows["task"]["deleted in erp"]) == (2, 1, 1)
    assert erp_user.read_by_keys("task", "internalId", [str(in_crm.erp_id)], fields=["title"]).empty
    assert sf.query(f"SELECT COUNT() FROM Task WHERE Id = '{in_erp.crm_id}'")["totalSize"] == 0
    assert binding_of(store_path, "task", crm_id=str(in_crm.crm_id)) is None  # archived: history only

    again = by_entity(deletion_sweep(connection="sweep", entities=names("task")))
    assert again["task"]["deleted"] == 0 and again["task"]["failed"] == 0  # the partners' own deletions: nothing


def test_unlink_keeps_the_partner_and_it_no_longer_syncs(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path
) -> None:
    crm, erp = fresh
    store_path = tmp_path / "state.sqlite3"
    set_up(crm, erp, store_path, BASE)  # customers: deletion policy unlink
    deletion_sweep(connection="sweep", entities=names("customer"))
    account_id = new_account(crm, "Unlink Me Ltd")
    binding = binding_of(store_path, "customer", crm_id=account_id)
    assert binding is not None and binding.erp_id is not None
    erp_user = erp_client(erp)
    assert erp_user.delete_batch("customer", [binding.erp_id])[0].ok

    rows = by_entity(deletion_sweep(connection="sweep", entities=names("customer")))
    assert (rows["customer"]["couplings removed"], rows["customer"]["deleted"]) == (1, 0)
    sf = salesforce(crm)
    assert sf.Account.get(account_id)["Name"] == "Unlink Me Ltd"
    unlinked = binding_of(store_path, "customer", crm_id=account_id)
    assert unlinked is not None and unlinked.erp_id is None
    assert (unlinked.status, unlinked.error_code) == (BindingStatus.EXCLUDED, UNLINKED)

    sf.Account.update(account_id, {"Phone": "+1 555 0199"})
    after = by_entity(incremental_sync(connection="sweep", entities=names("customer")))
    assert after["customer"]["inserted"] == 0 and after["customer"]["skipped"] >= 1, after
    assert erp_user.read_by_keys("customer", "externalId", [str(binding.external_id)], fields=["phone"]).empty


def test_restore_creates_the_deleted_record_again_from_its_partner(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path
) -> None:
    crm, erp = fresh
    store_path = tmp_path / "state.sqlite3"
    spec = yaml.safe_load((MAPPINGS_DIR / "default.yaml").read_text())
    spec["entities"]["customer"]["deletion"] = "restore"
    mapping = tmp_path / "restore.yaml"
    mapping.write_text(yaml.safe_dump(spec))
    set_up(crm, erp, store_path, BASE, mapping_set=str(mapping))
    deletion_sweep(connection="sweep", entities=names("customer"))
    account_id = new_account(crm, "Restore Me Ltd")
    binding = binding_of(store_path, "customer", crm_id=account_id)
    assert binding is not None
    sf = salesforce(crm)
    delete_in_salesforce(crm, "Account", account_id)

    rows = by_entity(deletion_sweep(connection="sweep", entities=names("customer")))
    assert rows["customer"]["inserted"] == 1, rows
    [restored] = sf.query(f"SELECT Id, Name FROM Account WHERE ERP_Id__c = '{binding.external_id}'")["records"]
    assert restored["Name"] == "Restore Me Ltd" and restored["Id"] != account_id
    rebound = binding_of(store_path, "customer", erp_id=str(binding.erp_id))
    assert rebound is not None and rebound.crm_id == restored["Id"] and rebound.status is BindingStatus.SYNCED
    again = by_entity(deletion_sweep(connection="sweep", entities=names("customer")))
    assert again["customer"]["inserted"] == 0


@pytest.mark.parametrize(
    ("last_sweep_age", "reason"),
    [
        (timedelta(days=20), "reconciled: the last sweep"),  # older than the 15-day window
        (timedelta(days=1), "reconciled: Salesforce reports deletions only from"),  # the org is younger than that
    ],
)
def test_a_window_that_cannot_cover_the_time_since_the_last_sweep_is_reconciled(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path, last_sweep_age: timedelta, reason: str
) -> None:
    crm, erp = fresh
    store_path = tmp_path / "state.sqlite3"
    set_up(crm, erp, store_path, BASE)
    deletion_sweep(connection="sweep", entities=names("customer"))
    account_id = new_account(crm, "Missed Deletion Ltd")
    binding = binding_of(store_path, "customer", crm_id=account_id)
    assert binding is not None
    engine = create_store_engine(f"sqlite:///{store_path}")
    with session_scope(engine) as session:  # as if the last sweep ran that long ago
        session.execute(
            sa.update(SyncRun)
            .where(SyncRun.procedure == "deletion-sweep")
            .values(started_at=utc_now() - last_sweep_age)
        )
    salesforce(crm).Account.delete(account_id)

    rows = by_entity(deletion_sweep(connection="sweep", entities=names("customer")))
    assert str(rows["customer"]["crm read"]).startswith(reason), rows
    assert rows["customer"]["deleted in crm"] == 1 and rows["customer"]["couplings removed"] == 1
    assert binding_of(store_path, "customer", crm_id=account_id) is None
