"""Incremental sync end to end: changes since the watermarks, both ways, no echoes, conflicts by policy."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.sorting import ArtifactSort
from sqlmodel import select

from blocks.connection import ConnectionOptions
from flows.full_sync import full_sync
from flows.incremental_sync import incremental_sync
from flows.initial_import import initial_import
from flows.parameters import EntityName
from flows.resolve_conflicts import resolve_conflicts
from tandem.mapping import Direction
from tandem.store import create_store_engine, session_scope, update_connection
from tandem.store.bindings import CONFLICT_HELD
from tandem.store.locks import connection_lock
from tandem.store.tables import Binding, BindingStatus, RunState, Side, SyncConflict, SyncJob, SyncRun
from tandem.sync.conflicts import ConflictPolicy
from tests.flows.clients import erp_client, erp_record, erp_write, salesforce
from tests.flows.conftest import save_connection
from tests.support.emulator import RunningEmulator

BASE = ["currency", "salesperson", "payment_term", "customer"]
WRITES_CRM = ("collections.", "sobject.create", "sobject.update", "sobject.upsert", "composite")
WRITES_ERP = ("upsertList", "addList", "deleteList", "asyncUpsertList")


def names(*entities: str) -> list[EntityName]:
    return [EntityName(e) for e in entities]


def by_entity(rows: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(row["entity"]): row for row in rows}


def writes(emulator: RunningEmulator, kinds: tuple[str, ...]) -> dict[str, int]:
    calls = emulator.control("GET", "counters")["by_endpoint"]
    return {name: n for name, n in calls.items() if any(kind in name for kind in kinds)}


def bound_customer(store_path: Path, index: int = 0) -> Binding:
    """A customer binding with both sides (the ``index``-th, in id order)."""
    with session_scope(create_store_engine(f"sqlite:///{store_path}"), write=False) as session:
        rows = session.exec(
            select(Binding).where(
                Binding.entity == "customer", Binding.status == BindingStatus.SYNCED,
                Binding.crm_id.is_not(None), Binding.erp_id.is_not(None),  # type: ignore[union-attr]
            ).order_by(Binding.id)
        ).all()
    return rows[index]


@pytest.fixture
def synced(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path
) -> tuple[RunningEmulator, RunningEmulator, Path]:
    """Both emulators after the initial import and a full sync of customers (and what they depend on)."""
    crm, erp = fresh
    store_path = tmp_path / "state.sqlite3"
    save_connection("inc", crm, erp, store_path)
    initial_import(connection="inc", entities=names(*BASE))
    rows = by_entity(full_sync(connection="inc", entities=names(*BASE)))
    assert all(row["state"] == "succeeded" and row["failed"] == 0 for row in rows.values()), rows
    return crm, erp, store_path


def test_changes_travel_both_ways_and_tandems_own_writes_do_not_come_back(
    synced: tuple[RunningEmulator, RunningEmulator, Path],
) -> None:
    crm, erp, store_path = synced
    sf, erp_user = salesforce(crm), erp_client(erp)
    from_erp, from_crm = bound_customer(store_path, 0), bound_customer(store_path, 1)
    erp_write(erp_user, "customer", [{"externalId": from_erp.external_id, "companyName": "Renamed in the ERP"}])
    sf.Account.update(from_crm.crm_id, {"Phone": "+1 555 0100"})

    rows = by_entity(incremental_sync(connection="inc", entities=names("customer")))
    assert (rows["customer"]["modified"], rows["customer"]["failed"], rows["customer"]["conflicts"]) == (2, 0, 0)
    assert sf.Account.get(from_erp.crm_id)["Name"] == "Renamed in the ERP"
    assert erp_record(erp_user, "customer", str(from_crm.external_id), ["phone"])["phone"] == "+1 555 0100"

    # The next run reads Tandem's own writes back (they changed both records) and writes nothing.
    for emulator in (crm, erp):
        emulator.control("DELETE", "counters")
    again = by_entity(incremental_sync(connection="inc", entities=names("customer")))
    assert again["customer"]["modified"] == 0 and again["customer"]["inserted"] == 0, again
    assert writes(crm, WRITES_CRM) == {} and writes(erp, WRITES_ERP) == {}


def test_one_direction_at_a_time(synced: tuple[RunningEmulator, RunningEmulator, Path]) -> None:
    crm, erp, store_path = synced
    sf, erp_user = salesforce(crm), erp_client(erp)
    binding = bound_customer(store_path, 2)
    sf.Account.update(binding.crm_id, {"Website": "https://changed-in-crm.example"})
    to_crm = by_entity(incremental_sync(connection="inc", direction=Direction.TO_CRM, entities=names("customer")))
    assert to_crm["customer"]["modified"] == 0
    assert erp_record(erp_user, "customer", str(binding.external_id), ["url"])["url"] != "https://changed-in-crm.example"
    to_erp = by_entity(incremental_sync(connection="inc", direction=Direction.TO_ERP, entities=names("customer")))
    assert to_erp["customer"]["modified"] == 1
    assert erp_record(erp_user, "customer", str(binding.external_id), ["url"])["url"] == "https://changed-in-crm.example"


@pytest.mark.parametrize(
    ("policy", "standing"),
    [(ConflictPolicy.CRM_WINS, "crm"), (ConflictPolicy.ERP_WINS, "erp"), (ConflictPolicy.LATEST, "crm")],
)
def test_a_conflict_is_settled_by_the_policy_and_recorded_without_values(
    synced: tuple[RunningEmulator, RunningEmulator, Path], policy: ConflictPolicy, standing: str
) -> None:
    crm, erp, store_path = synced
    save_connection("inc", crm, erp, store_path, options=ConnectionOptions(conflict_policies={"customer": policy}))
    sf, erp_user = salesforce(crm), erp_client(erp)
    binding = bound_customer(store_path, 3)
    erp_write(erp_user, "customer", [{"externalId": binding.external_id, "phone": "+1 555 0001"}])
    crm.control("POST", "clock", json={"advance_seconds": 60})  # the CRM's change is the later one
    sf.Account.update(binding.crm_id, {"Phone": "+1 555 0002"})

    rows = by_entity(incremental_sync(connection="inc", entities=names("customer")))
    assert rows["customer"]["conflicts"] == 1 and rows["customer"]["failed"] == 0, rows
    expected = {"crm": "+1 555 0002", "erp": "+1 555 0001"}[standing]
    assert sf.Account.get(binding.crm_id)["Phone"] == expected
    assert erp_record(erp_user, "customer", str(binding.external_id), ["phone"])["phone"] == expected

    with session_scope(create_store_engine(f"sqlite:///{store_path}"), write=False) as session:
        conflict = session.exec(select(SyncConflict)).one()
    assert (conflict.crm_id, conflict.erp_id, conflict.policy, conflict.outcome) == (
        binding.crm_id, binding.erp_id, policy.value, standing
    )
    assert conflict.crm_modified_at is not None and conflict.erp_modified_at is not None
    assert conflict.crm_modified_at > conflict.erp_modified_at
    with get_client(sync_client=True) as client:
        published = client.read_artifacts(sort=ArtifactSort.CREATED_DESC, limit=50)
    artifact = next(a for a in published if a.key == "incremental-sync-conflicts")
    table = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
    assert table[0]["crm record"] == binding.crm_id and table[0]["outcome"] == standing
    assert "555 000" not in json.dumps(table)  # where the values came from, never the values

    settled = by_entity(incremental_sync(connection="inc", entities=names("customer")))
    assert settled["customer"]["conflicts"] == 0 and settled["customer"]["modified"] == 0, settled


def test_a_held_conflict_waits_for_a_person_who_keeps_one_side(
    synced: tuple[RunningEmulator, RunningEmulator, Path],
) -> None:
    crm, erp, store_path = synced
    save_connection("inc", crm, erp, store_path, options=ConnectionOptions(conflict_policy=ConflictPolicy.HOLD))
    sf, erp_user = salesforce(crm), erp_client(erp)
    binding = bound_customer(store_path, 4)
    erp_write(erp_user, "customer", [{"externalId": binding.external_id, "comments": "ERP note"}])
    sf.Account.update(binding.crm_id, {"Description": "CRM note"})

    for _ in range(2):  # held: neither side is written, run after run
        rows = by_entity(incremental_sync(connection="inc", entities=names("customer")))
        assert sf.Account.get(binding.crm_id)["Description"] == "CRM note"
        assert erp_record(erp_user, "customer", str(binding.external_id), ["comments"])["comments"] == "ERP note"
    engine = create_store_engine(f"sqlite:///{store_path}")
    with session_scope(engine, write=False) as session:
        held = session.get(Binding, binding.id)
    assert held is not None and held.status is BindingStatus.FAILED and held.error_code == CONFLICT_HELD
    assert "note" not in str(held.error_message)

    resolved = by_entity(resolve_conflicts(connection="inc", entity=EntityName("customer"), keep=Side.ERP))
    assert resolved["customer"]["modified"] == 1
    assert sf.Account.get(binding.crm_id)["Description"] == "ERP note"
    with session_scope(engine, write=False) as session:
        settled = session.get(Binding, binding.id)
    assert settled is not None and settled.status is BindingStatus.SYNCED
    after = by_entity(incremental_sync(connection="inc", entities=names("customer")))
    assert after["customer"]["conflicts"] == 0 and after["customer"]["modified"] == 0, after
    assert (rows["customer"]["conflicts"], rows["customer"]["failed"]) == (1, 0)


def test_a_record_that_failed_is_tried_again_though_the_watermark_moved_past_it(
    synced: tuple[RunningEmulator, RunningEmulator, Path],
) -> None:
    crm, erp, _ = synced
    erp_user = erp_client(erp)
    [customer_id] = erp_write(erp_user, "customer", [{"externalId": "NEW-CUST-1", "companyName": "Newco"}])
    erp_write(erp_user, "contact", [
        {"externalId": "NEW-CONT-1", "lastName": "Early", "email": "early@newco.example",
         "company": {"internalId": customer_id}},
    ])
    first = by_entity(incremental_sync(connection="inc", entities=names("contact")))
    assert first["contact"]["failed"] == 1  # its company is not in Salesforce yet
    by_entity(incremental_sync(connection="inc", entities=names("customer")))
    retried = by_entity(incremental_sync(connection="inc", entities=names("contact")))
    assert retried["contact"]["failed"] == 0 and retried["contact"]["inserted"] == 1, retried
    sf = salesforce(crm)
    [contact] = sf.query("SELECT Account.Name FROM Contact WHERE ERP_Id__c = 'NEW-CONT-1'")["records"]
    assert contact["Account"]["Name"] == "Newco"


def test_a_turned_off_connection_is_left_alone(synced: tuple[RunningEmulator, RunningEmulator, Path]) -> None:
    crm, erp, store_path = synced
    binding = bound_customer(store_path, 5)
    erp_write(erp_client(erp), "customer", [{"externalId": binding.external_id, "companyName": "Not now"}])
    engine = create_store_engine(f"sqlite:///{store_path}")
    with session_scope(engine) as session:
        update_connection(session, binding.connection_id, enabled=False)
    assert incremental_sync(connection="inc", entities=names("customer")) == []
    assert salesforce(crm).Account.get(binding.crm_id)["Name"] != "Not now"
    with session_scope(engine, write=False) as session:
        last = session.exec(select(SyncRun).order_by(SyncRun.id.desc())).first()  # type: ignore[union-attr]
    assert last is not None and last.state is RunState.CANCELLED


def test_runs_of_one_connection_never_interleave(synced: tuple[RunningEmulator, RunningEmulator, Path]) -> None:
    crm, erp, store_path = synced
    binding = bound_customer(store_path, 6)
    erp_write(erp_client(erp), "customer", [{"externalId": binding.external_id, "companyName": "After the lock"}])
    engine = create_store_engine(f"sqlite:///{store_path}")
    outcome: dict[str, object] = {}
    with connection_lock(engine, binding.connection_id, holder="another-run"):
        worker = threading.Thread(
            target=lambda: outcome.update(rows=incremental_sync(connection="inc", entities=names("customer")))
        )
        worker.start()
        time.sleep(4)  # the flow is waiting for the lock: its run is not in the history yet
        with session_scope(engine, write=False) as session:
            last = session.exec(select(SyncRun).order_by(SyncRun.id.desc())).first()  # type: ignore[union-attr]
            assert last is not None and last.procedure != "incremental-sync"
        assert salesforce(crm).Account.get(binding.crm_id)["Name"] != "After the lock"
    worker.join(timeout=120)
    with session_scope(engine, write=False) as session:
        last = session.exec(select(SyncRun).order_by(SyncRun.id.desc())).first()  # type: ignore[union-attr]
        assert last is not None and (last.procedure, last.state) == ("incremental-sync", RunState.SUCCEEDED)
        jobs = session.exec(select(SyncJob).where(SyncJob.run_id == last.id)).all()
        assert [job.entity for job in jobs] == ["customer"]
    assert by_entity(outcome["rows"])["customer"]["modified"] == 1  # type: ignore[arg-type]
    assert salesforce(crm).Account.get(binding.crm_id)["Name"] == "After the lock"
