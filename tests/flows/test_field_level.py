"""Field-level changes: only the fields that changed travel, edits of different fields on both sides both land,
and a cleared field is cleared on the other side (against both emulators)."""

from __future__ import annotations

from pathlib import Path

import pytest

from blocks.connection import ConnectionOptions
from flows.incremental_sync import incremental_sync
from tandem.mapping import Direction
from tandem.sync.conflicts import ConflictPolicy
from tests.flows.clients import erp_client, erp_record, erp_write, salesforce, sf_task
from tests.flows.conftest import TASK, save_connection
from tests.flows.test_task_rules import FIELDS, task_row
from tests.support.emulator import RunningEmulator


def _new_task(crm: RunningEmulator, erp: RunningEmulator, external_id: str) -> str:
    """An ERP task synced to Salesforce; its Salesforce id."""
    erp_write(erp_client(erp), "task", [{
        "externalId": external_id, "title": "Call Acme", "status": "_notStarted", "priority": "_high",
        "message": "first details",
    }])
    row = task_row(incremental_sync(connection="tasks", direction=Direction.TO_CRM, entities=TASK))
    assert row["inserted"] == 1
    return str(sf_task(crm, external_id)["Id"])


def test_an_in_progress_task_keeps_its_status_when_its_erp_title_changes(
    enabled: tuple[RunningEmulator, RunningEmulator, Path],
) -> None:
    crm, erp, _ = enabled
    task_id = _new_task(crm, erp, "FL-1")
    # Salesforce values the ERP cannot hold (not synced to it).
    salesforce(crm).Task.update(task_id, {"Status": "In Progress", "Priority": "Low"})
    task_row(incremental_sync(connection="tasks", entities=TASK))

    erp_write(erp_client(erp), "task", [{"externalId": "FL-1", "title": "Call Acme today"}])
    row = task_row(incremental_sync(connection="tasks", entities=TASK))

    task = sf_task(crm, "FL-1")
    assert (task["Subject"], task["Status"], task["Priority"]) == ("Call Acme today", "In Progress", "Low")
    assert row["modified"] == 1 and row["conflicts"] == 0, row


def test_edits_of_different_fields_in_both_systems_both_land_without_a_conflict(
    enabled: tuple[RunningEmulator, RunningEmulator, Path],
) -> None:
    crm, erp, _ = enabled
    task_id = _new_task(crm, erp, "FL-2")
    salesforce(crm).Task.update(task_id, {"Description": "details from Salesforce"})
    erp_write(erp_client(erp), "task", [{"externalId": "FL-2", "title": "Title from the ERP"}])

    row = task_row(incremental_sync(connection="tasks", entities=TASK))

    assert row["conflicts"] == 0 and row["conflicts held"] == 0, row
    task = sf_task(crm, "FL-2")
    in_erp = erp_record(erp_client(erp), "task", "FL-2", FIELDS)
    assert (task["Subject"], task["Description"]) == ("Title from the ERP", "details from Salesforce")
    assert (in_erp["title"], in_erp["message"]) == ("Title from the ERP", "details from Salesforce")
    quiet = task_row(incremental_sync(connection="tasks", entities=TASK))
    assert quiet["modified"] == 0 and quiet["conflicts"] == 0, quiet


def test_the_same_field_changed_on_both_sides_is_still_a_conflict(
    enabled: tuple[RunningEmulator, RunningEmulator, Path],
) -> None:
    crm, erp, _ = enabled
    task_id = _new_task(crm, erp, "FL-3")
    salesforce(crm).Task.update(task_id, {"Description": "from Salesforce"})
    erp_write(erp_client(erp), "task", [{"externalId": "FL-3", "message": "from the ERP", "title": "Renamed"}])

    row = task_row(incremental_sync(connection="tasks", entities=TASK))

    # The default policy holds it for a person: neither side is written, each keeps its values.
    assert row["conflicts"] == 1 and row["conflicts held"] == 1, row
    task = sf_task(crm, "FL-3")
    in_erp = erp_record(erp_client(erp), "task", "FL-3", FIELDS)
    assert (task["Description"], task["Subject"]) == ("from Salesforce", "Call Acme")
    assert (in_erp["message"], in_erp["title"]) == ("from the ERP", "Renamed")


@pytest.mark.parametrize(("policy", "standing"), [(ConflictPolicy.CRM_WINS, "crm"), (ConflictPolicy.ERP_WINS, "erp")])
def test_a_conflict_settles_its_field_and_the_other_edits_of_both_sides_travel(
    enabled: tuple[RunningEmulator, RunningEmulator, Path], policy: ConflictPolicy, standing: str
) -> None:
    crm, erp, store_path = enabled
    save_connection("tasks", crm, erp, store_path, options=ConnectionOptions(conflict_policies={"task": policy}))
    task_id = _new_task(crm, erp, "FL-5")
    salesforce(crm).Task.update(task_id, {"Description": "from Salesforce", "Status": "Completed"})
    erp_write(erp_client(erp), "task", [{"externalId": "FL-5", "message": "from the ERP", "title": "Renamed"}])

    row = task_row(incremental_sync(connection="tasks", entities=TASK))

    assert row["conflicts"] == 1 and row["conflicts held"] == 0, row
    task = sf_task(crm, "FL-5")
    in_erp = erp_record(erp_client(erp), "task", "FL-5", FIELDS)
    expected = {"crm": "from Salesforce", "erp": "from the ERP"}[standing]
    assert (task["Description"], in_erp["message"]) == (expected, expected)
    assert (task["Subject"], in_erp["title"]) == ("Renamed", "Renamed")  # the ERP's other edit
    assert (task["Status"], in_erp["status"]) == ("Completed", "_completed")  # and Salesforce's
    quiet = task_row(incremental_sync(connection="tasks", entities=TASK))
    assert quiet["modified"] == 0 and quiet["conflicts"] == 0, quiet


def test_a_field_cleared_in_salesforce_is_cleared_in_the_erp_and_back(
    enabled: tuple[RunningEmulator, RunningEmulator, Path],
) -> None:
    crm, erp, _ = enabled
    task_id = _new_task(crm, erp, "FL-4")
    salesforce(crm).Task.update(task_id, {"Description": None})
    row = task_row(incremental_sync(connection="tasks", direction=Direction.TO_ERP, entities=TASK))
    assert row["modified"] == 1, row
    assert erp_record(erp_client(erp), "task", "FL-4", FIELDS)["message"] in (None, "")

    salesforce(crm).Task.update(task_id, {"Description": "written again"})
    task_row(incremental_sync(connection="tasks", direction=Direction.TO_ERP, entities=TASK))
    erp_write(erp_client(erp), "task", [{"externalId": "FL-4", "message": None}])
    task_row(incremental_sync(connection="tasks", direction=Direction.TO_CRM, entities=TASK))
    assert sf_task(crm, "FL-4")["Description"] is None
