"""Initial import: recent CRM records go to the ERP, existing partners are coupled, older ERP records
never travel to the CRM; only records created after sync was enabled do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func
from sqlmodel import select

from flows.full_sync import full_sync
from flows.initial_import import initial_import
from flows.parameters import EntityName
from tandem.store import create_store_engine, get_connection, require_id, session_scope
from tandem.store.tables import Binding, Side
from tandem.store.watermarks import get_watermark
from tests.flows.conftest import erp_block, save_connection
from tests.flows.test_full_sync import by_entity, salesforce
from tests.support.emulator import RunningEmulator


def test_initial_import_takes_the_last_day_couples_and_enables_sync(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path
) -> None:
    crm, erp = fresh
    sf = salesforce(crm)
    account = sf.Account.create({"Name": "Acme Robotics Import Test"})["id"]
    # An old task (two days ago by the emulator's clock), a recent one, and one whose ERP partner exists.
    crm.control("POST", "clock", json={"set": (datetime.now(UTC) - timedelta(days=2)).isoformat()})
    old = sf.Task.create({"Subject": "Old call", "Status": "Not Started", "Priority": "High", "WhatId": account})
    crm.control("POST", "clock", json={"reset": True})
    recent = sf.Task.create({"Subject": "Recent call", "Status": "Completed", "Priority": "Normal",
                             "ActivityDate": "2030-01-15", "Description": "talked about renewal"})
    adapter = erp_block(erp).get_client()
    erp_tasks_before = sum(len(p) for p in adapter.read_changed_since("task", None, fields=["title"], page_size=1000))

    store_path = tmp_path / "state.sqlite3"
    save_connection("import", crm, erp, store_path)
    rows = by_entity(initial_import(connection="import", entities=[EntityName("task")]))
    assert rows["task"]["state"] == "succeeded" and rows["task"]["failed"] == 0

    found = adapter.read_by_keys("task", "externalId", [recent["id"], old["id"]],
                                 fields=["title", "status", "priority", "dueDate", "message"])
    assert list(found["externalId"]) == [recent["id"]]  # the two-day-old task stayed behind
    task = found.iloc[0]
    assert (task["title"], task["status"], task["priority"], task["message"]) == (
        "Recent call", "_completed", "_medium", "talked about renewal")
    assert str(task["dueDate"]).startswith("2030-01-15")
    # The Salesforce task now carries its ERP link key.
    assert sf.Task.get(recent["id"])["ERP_Id__c"] == recent["id"]
    assert sf.Task.get(old["id"])["ERP_Id__c"] is None

    engine = create_store_engine(f"sqlite:///{store_path}")
    with session_scope(engine) as session:
        enabled_at = get_connection(session, "import").sync_enabled_at
        bound = session.exec(select(func.count()).select_from(Binding).where(Binding.entity == "task")).one()
    assert enabled_at is not None and abs(enabled_at - datetime.now(UTC)) < timedelta(minutes=5)
    assert bound >= 1

    # ERP tasks that existed before sync was enabled never travel to Salesforce; new ones do.
    only_old = by_entity(full_sync(connection="import", entities=[EntityName("task")]))
    assert only_old["task"]["skipped"] == erp_tasks_before
    with session_scope(engine) as session:
        connection_id = require_id(get_connection(session, "import"))
        # Every ERP task was left out, yet the watermark moved past them (they are not read again).
        assert get_watermark(session, connection_id, "task", Side.ERP) is not None
    created = adapter.upsert_batch("task", "externalId", [{"externalId": "NEW-TASK-1", "title": "Brand new",
                                                           "status": "_notStarted", "priority": "_high"}])
    assert created[0].ok
    synced = by_entity(full_sync(connection="import", entities=[EntityName("task")]))
    assert synced["task"]["skipped"] == erp_tasks_before
    new_in_crm = sf.query("SELECT Subject, Status, Priority FROM Task WHERE ERP_Id__c = 'NEW-TASK-1'")["records"]
    assert [(r["Subject"], r["Status"], r["Priority"]) for r in new_in_crm] == [("Brand new", "Not Started", "High")]


def test_initial_import_couples_instead_of_duplicating(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path
) -> None:
    crm, erp = fresh
    sf = salesforce(crm)
    adapter = erp_block(erp).get_client()
    existing = adapter.read_changed_since("contact", None, fields=["email", "externalId"], page_size=5)
    erp_contact = next(iter(existing)).iloc[0]
    # The same person already exists in Salesforce (same e-mail), without a link to the ERP.
    duplicate = sf.Contact.create({"LastName": "Twin", "Email": erp_contact["email"].upper()})["id"]
    erp_contacts = sum(len(p) for p in adapter.read_changed_since("contact", None, fields=["email"], page_size=1000))

    save_connection("couple", crm, erp, tmp_path / "state.sqlite3")
    rows = by_entity(initial_import(connection="couple", entities=[EntityName("customer"), EntityName("contact")]))
    assert rows["contact"]["coupled"] >= 1 and rows["contact"]["failed"] == 0
    assert sf.Contact.get(duplicate)["ERP_Id__c"] == erp_contact["externalId"]
    emails = [e for p in adapter.read_changed_since("contact", None, fields=["email"], page_size=1000)
              for e in p["email"].dropna().str.lower()]
    assert len(emails) == erp_contacts + int(str(rows["contact"]["inserted"]))
    assert emails.count(erp_contact["email"].lower()) == 1  # coupled, not created a second time
