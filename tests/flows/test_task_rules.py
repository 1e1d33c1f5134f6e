"""The Sales Connect reminder-task rules, through the incremental sync, against both emulators."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from blocks.connection import ConnectionOptions
from flows.incremental_sync import incremental_sync
from tandem.mapping import Direction
from tandem.store import create_store_engine, session_scope
from tandem.store.tables import Binding, BindingStatus, Side
from tandem.sync.entity_pass import ONLY_NEW_RULE, excluded_code
from tests.flows.clients import erp_client, erp_record, erp_write, salesforce, sf_task
from tests.flows.conftest import TASK, save_connection
from tests.support.emulator import RunningEmulator

FIELDS = ["title", "status", "priority", "dueDate", "message"]


def task_row(rows: list[dict[str, object]]) -> dict[str, object]:
    [row] = [r for r in rows if r["entity"] == "task"]
    assert row["state"] == "succeeded" and row["failed"] == 0, row
    return row


def test_reminder_tasks_follow_the_sales_connect_rules_both_ways(
    enabled: tuple[RunningEmulator, RunningEmulator, Path],
) -> None:
    crm, erp, store_path = enabled
    erp_user, sf = erp_client(erp), salesforce(crm)
    erp_write(erp_user, "task", [{
        "externalId": "REM-1", "title": "Call Acme", "status": "_notStarted", "priority": "_high",
        "dueDate": "2030-02-01T10:00:00Z", "message": "first details",
    }])

    # Only tasks created after sync was enabled travel ERP -> CRM; the 1,000 older ones are excluded by that rule.
    first = task_row(incremental_sync(connection="tasks", direction=Direction.TO_CRM, entities=TASK))
    assert first["inserted"] == 1 and first["skipped"] == 1000
    created = sf_task(crm, "REM-1")
    assert (created["Subject"], created["Status"], created["Priority"], created["ActivityDate"],
            created["Description"]) == ("Call Acme", "Not Started", "High", "2030-02-01", "first details")
    with session_scope(create_store_engine(f"sqlite:///{store_path}"), write=False) as session:
        excluded = session.exec(select(Binding).where(Binding.status == BindingStatus.EXCLUDED)).all()
    assert len(excluded) == 1000
    assert {(b.error_code, b.error_message) for b in excluded} == {
        (excluded_code(Side.ERP), ONLY_NEW_RULE)
    }

    # In Salesforce: a status and a priority the ERP does not have, a new subject, new details.
    sf.Task.update(str(created["Id"]), {"Status": "In Progress", "Priority": "Low", "Subject": "Renamed in Salesforce",
                                        "Description": "second details"})
    to_erp = task_row(incremental_sync(connection="tasks", direction=Direction.TO_ERP, entities=TASK))
    assert to_erp["modified"] == 1 and to_erp["values not synced"] == 2
    in_erp = erp_record(erp_user, "task", "REM-1", FIELDS)
    # The ERP keeps its status, priority and title; the rest of the record synced.
    assert (in_erp["status"], in_erp["priority"], in_erp["title"], in_erp["message"]) == (
        "_notStarted", "_high", "Call Acme", "second details")

    # Completing it in Salesforce completes it in the ERP.
    sf.Task.update(str(created["Id"]), {"Status": "Completed", "Priority": "Normal"})
    task_row(incremental_sync(connection="tasks", direction=Direction.TO_ERP, entities=TASK))
    in_erp = erp_record(erp_user, "task", "REM-1", FIELDS)
    assert (in_erp["status"], in_erp["priority"]) == ("_completed", "_medium")

    # A new ERP title updates the Subject (the default template is {{activity_subject}}); nothing echoes back.
    erp_write(erp_user, "task", [{"externalId": "REM-1", "title": "Call Acme again", "status": "_notStarted"}])
    both = task_row(incremental_sync(connection="tasks", entities=TASK))
    assert both["modified"] == 1, both
    again = sf_task(crm, "REM-1")
    assert (again["Subject"], again["Status"]) == ("Call Acme again", "Not Started")
    quiet = task_row(incremental_sync(connection="tasks", entities=TASK))
    assert quiet["modified"] == 0 and quiet["inserted"] == 0, quiet


@pytest.mark.parametrize(
    ("template", "created_subject", "after_title_change"),
    [
        ("Reminder: {{activity_subject}}", "Reminder: Renewal", "Reminder: Renewal call"),
        ("Sales Connect reminder", "Sales Connect reminder", "Sales Connect reminder"),  # no placeholder
    ],
)
def test_the_subject_follows_the_erp_title_only_with_the_placeholder(
    enabled: tuple[RunningEmulator, RunningEmulator, Path], template: str, created_subject: str,
    after_title_change: str,
) -> None:
    crm, erp, store_path = enabled
    save_connection("tasks", crm, erp, store_path, options=ConnectionOptions(activity_subject_template=template))
    erp_user = erp_client(erp)
    erp_write(erp_user, "task", [{"externalId": "REM-2", "title": "Renewal", "status": "_notStarted",
                                  "priority": "_medium"}])
    task_row(incremental_sync(connection="tasks", direction=Direction.TO_CRM, entities=TASK))
    assert sf_task(crm, "REM-2")["Subject"] == created_subject
    erp_write(erp_user, "task", [{"externalId": "REM-2", "title": "Renewal call"}])
    changed = task_row(incremental_sync(connection="tasks", direction=Direction.TO_CRM, entities=TASK))
    assert sf_task(crm, "REM-2")["Subject"] == after_title_change
    # Without the placeholder a title change is no change for Salesforce at all.
    assert changed["modified"] == (1 if "{{" in template else 0)
