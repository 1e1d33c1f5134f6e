"""Task statuses and due dates through the incremental sync, against both emulators (issue 12, items 4-5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlmodel import select

from flows.incremental_sync import incremental_sync
from tandem.mapping import Direction
from tandem.store import create_store_engine, session_scope
from tandem.store.tables import Binding, BindingStatus
from tests.flows.clients import erp_client, erp_record, erp_write, salesforce, sf_task
from tests.flows.conftest import TASK
from tests.support.emulator import RunningEmulator

FIELDS = ["title", "status", "priority", "dueDate", "message"]


def task_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    [row] = [r for r in rows if r["entity"] == "task"]
    assert row["state"] == "succeeded", row
    return row


def test_every_erp_status_reaches_salesforce_and_open_stays_open(
    enabled: tuple[RunningEmulator, RunningEmulator, Path],
) -> None:
    crm, erp, _ = enabled
    erp_user, sf = erp_client(erp), salesforce(crm)
    erp_write(erp_user, "task", [{"externalId": "ST-1", "title": "Renewal", "status": "_completed",
                                  "priority": "_medium", "message": "done"}])
    task_row(incremental_sync(connection="tasks", direction=Direction.TO_CRM, entities=TASK))
    assert (sf_task(crm, "ST-1")["Status"], sf_task(crm, "ST-1")["Priority"]) == ("Completed", "Normal")

    # Set back from complete to in progress in the ERP: an open status, so open in Salesforce.
    erp_write(erp_user, "task", [{"externalId": "ST-1", "status": "_inProgress", "priority": "_low"}])
    back = task_row(incremental_sync(connection="tasks", direction=Direction.TO_CRM, entities=TASK))
    assert back["modified"] == 1 and back["failed"] == 0, back
    reopened = sf_task(crm, "ST-1")
    assert (reopened["Status"], reopened["Priority"]) == ("In Progress", "Low")

    # In Progress and Low made in the ERP are not sent back to it (the ERP keeps its own, nothing echoes).
    sf.Task.update(str(reopened["Id"]), {"Description": "reopened"})
    to_erp = task_row(incremental_sync(connection="tasks", direction=Direction.TO_ERP, entities=TASK))
    assert to_erp["modified"] == 1 and to_erp["values not synced"] == 2, to_erp
    in_erp = erp_record(erp_user, "task", "ST-1", FIELDS)
    assert (in_erp["status"], in_erp["priority"], in_erp["message"]) == ("_inProgress", "_low", "reopened")

    erp_write(erp_user, "task", [{"externalId": "ST-1", "status": "_deferred"}])
    task_row(incremental_sync(connection="tasks", direction=Direction.TO_CRM, entities=TASK))
    assert sf_task(crm, "ST-1")["Status"] == "Deferred"


def test_a_due_date_salesforce_cannot_hold_fails_that_task_and_the_others_sync(
    enabled: tuple[RunningEmulator, RunningEmulator, Path],
) -> None:
    crm, erp, store_path = enabled
    erp_user, sf = erp_client(erp), salesforce(crm)
    ids = erp_write(erp_user, "task", [
        {"externalId": "DT-1", "title": "Year one", "status": "_notStarted", "dueDate": "0001-01-01T00:00:00Z"},
        {"externalId": "DT-2", "title": "Leap-free February", "status": "_notStarted",
         "dueDate": "2026-02-28T00:00:00Z"},
        {"externalId": "DT-3", "title": "No date", "status": "_notStarted"},
    ])
    row = task_row(incremental_sync(connection="tasks", direction=Direction.TO_CRM, entities=TASK))
    assert row["inserted"] == 2 and row["failed"] == 1, row
    with session_scope(create_store_engine(f"sqlite:///{store_path}"), write=False) as session:
        [failed] = session.exec(select(Binding).where(Binding.erp_id == ids[0])).all()
    assert failed.status is BindingStatus.FAILED
    # The ERP sends 0001-01-01T00:00:00Z, a valid xsd:dateTime that Salesforce cannot hold (1700-4000).
    assert failed.error_code == "DATE_OUT_OF_RANGE"
    assert "ActivityDate" in (failed.error_message or "") and "0001" not in (failed.error_message or "")
    assert not salesforce(crm).query("SELECT Id FROM Task WHERE ERP_Id__c = 'DT-1'")["records"]
    assert sf_task(crm, "DT-2")["ActivityDate"] == "2026-02-28"
    assert sf_task(crm, "DT-3")["ActivityDate"] is None

    # The other way: a date set in Salesforce reaches the ERP as that same day, and comes back unchanged.
    sf.Task.update(str(sf_task(crm, "DT-3")["Id"]), {"ActivityDate": "2026-02-28"})
    task_row(incremental_sync(connection="tasks", direction=Direction.TO_ERP, entities=TASK))
    assert str(erp_record(erp_user, "task", "DT-3", FIELDS)["dueDate"]).startswith("2026-02-28T00:00:00")
    quiet = task_row(incremental_sync(connection="tasks", direction=Direction.TO_CRM, entities=TASK))
    assert quiet["modified"] == 0 and quiet["inserted"] == 0, quiet
    assert sf_task(crm, "DT-3")["ActivityDate"] == "2026-02-28"

    # Fixed in the ERP, the failed task syncs on the next run.
    erp_write(erp_user, "task", [{"externalId": "DT-1", "dueDate": "1700-01-01T00:00:00Z"}])
    fixed = task_row(incremental_sync(connection="tasks", direction=Direction.TO_CRM, entities=TASK))
    assert fixed["inserted"] == 1 and fixed["failed"] == 0, fixed
    assert sf_task(crm, "DT-1")["ActivityDate"] == "1700-01-01"
