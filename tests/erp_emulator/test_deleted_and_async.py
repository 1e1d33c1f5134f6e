"""getDeleted over deletedDate windows (moved with the clock control), and asynchronous upsert jobs end to end."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import zeep

from tests.erp_emulator.soap import ErpClient, errors, fault_code
from tests.support.emulator import RunningEmulator, running_emulator


def _create_and_delete(
    erp: ErpClient, record_type: str, type_name: str, tag: str, n: int, **values: object
) -> list[str]:
    record = erp.type(type_name)
    created = erp.call("upsertList", record=[record(externalId=f"{tag}-{i}", **values) for i in range(n)])
    ids = [r.baseRef.internalId for r in created.writeResponse]
    deleted = erp.call("deleteList", baseRef=[erp.ref(record_type, internalId=i) for i in ids])
    assert all(r.status.isSuccess for r in deleted.writeResponse)
    return ids


def _filter(erp: ErpClient, low: datetime, high: datetime, types: list[str] | None) -> dict[str, object]:
    value: dict[str, object] = {"deletedDate": {"operator": "within", "searchValue": low, "searchValue2": high}}
    if types is not None:
        value["type"] = {"operator": "anyOf", "searchValue": types}
    return value


def test_get_deleted_windows_follow_the_clock(erp_emulator: RunningEmulator, erp: ErpClient, tag: str) -> None:
    day1 = datetime(2032, 5, 1, 8, 0, tzinfo=UTC)
    erp_emulator.control("POST", "clock", json={"set": day1.isoformat()})
    erp.sync_clock()
    first = _create_and_delete(erp, "customer", "Customer", f"{tag}a", 3, companyName="Gone")
    erp_emulator.control("POST", "clock", json={"advance_seconds": 86400})
    erp.sync_clock()
    second = _create_and_delete(erp, "customer", "Customer", f"{tag}b", 2, companyName="Gone too")
    tasks = _create_and_delete(erp, "task", "Task", f"{tag}c", 2, title="Gone task")

    window1 = erp.call("getDeleted", getDeletedFilter=_filter(erp, day1 - timedelta(hours=1), day1 + timedelta(hours=1),
                                                              ["customer"]), pageIndex=1)
    assert window1.status.isSuccess and window1.totalRecords == 3
    assert [d.record.internalId for d in window1.deletedRecordList.deletedRecord] == first
    one = window1.deletedRecordList.deletedRecord[0]
    assert one.record.type == "customer" and one.record.externalId == f"{tag}a-0"
    assert abs((one.deletedDate - day1).total_seconds()) < 60

    day2 = day1 + timedelta(days=1)
    window2 = erp.call("getDeleted", getDeletedFilter=_filter(erp, day2 - timedelta(hours=1), day2 + timedelta(hours=1),
                                                              ["customer"]), pageIndex=1)
    assert [d.record.internalId for d in window2.deletedRecordList.deletedRecord] == second
    both = erp.call("getDeleted", getDeletedFilter=_filter(erp, day2 - timedelta(hours=1), day2 + timedelta(hours=1),
                                                           None), pageIndex=1)
    assert [d.record.internalId for d in both.deletedRecordList.deletedRecord] == second + tasks
    everything = _filter(erp, day1 - timedelta(days=1), day2 + timedelta(days=1), ["task"])
    only_tasks = erp.call("getDeleted", getDeletedFilter=everything, pageIndex=1)
    assert [d.record.internalId for d in only_tasks.deletedRecordList.deletedRecord] == tasks


def test_get_deleted_pages(tmp_path: Path, tag: str) -> None:
    with running_emulator("erp", tmp_path / "pages", "--get-deleted-page-size", "4") as emulator:
        client = ErpClient(emulator)
        ids = _create_and_delete(client, "term", "Term", tag, 10, name="Net 7")
        window = _filter(client, datetime.now(UTC) - timedelta(minutes=5), datetime.now(UTC) + timedelta(minutes=5),
                         ["term"])
        seen = []
        first = client.call("getDeleted", getDeletedFilter=window, pageIndex=1)
        assert (first.totalRecords, first.totalPages, first.pageSize) == (10, 3, 4)
        for page in range(1, 4):
            result = client.call("getDeleted", getDeletedFilter=window, pageIndex=page)
            seen += [d.record.internalId for d in result.deletedRecordList.deletedRecord]
        assert seen == ids
        with pytest.raises(zeep.exceptions.Fault) as caught:
            client.call("getDeleted", getDeletedFilter=window, pageIndex=4)
        assert fault_code(caught.value) == "INVALID_PAGE_INDEX"


def _wait_finished(erp: ErpClient, job_id: str) -> Any:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = erp.call("checkAsyncStatus", jobId=job_id)
        if status.status in ("finished", "finishedWithErrors", "failed"):
            return status
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def test_async_upsert_end_to_end(erp: ErpClient, tag: str) -> None:
    Customer = erp.type("Customer")
    records = [Customer(externalId=f"{tag}-{i}", companyName=f"Async {i}") for i in range(199)]
    records.append(Customer(externalId=f"{tag}-bad"))
    submitted = erp.call("asyncUpsertList", record=records)
    assert submitted.jobId.startswith("ASYNCWEBSERVICES_1234567_")
    assert submitted.status in ("pending", "processing", "finishedWithErrors")
    status = _wait_finished(erp, submitted.jobId)
    assert status.status == "finishedWithErrors" and status.percentCompleted == 100.0
    result = erp.call("getAsyncResult", jobId=submitted.jobId, pageIndex=1)
    responses = result.writeResponseList.writeResponse
    assert len(responses) == 200 and sum(r.status.isSuccess for r in responses) == 199
    assert errors(responses[-1]) == ["USER_ERROR"]
    read = erp.call("getList", baseRef=[erp.ref("customer", externalId=f"{tag}-198")])
    assert read.readResponse[0].record.companyName == "Async 198"


def test_async_job_all_good_and_unknown_jobs(erp: ErpClient, tag: str) -> None:
    Task = erp.type("Task")
    submitted = erp.call("asyncUpsertList", record=[Task(externalId=f"{tag}-1", title="Async task")])
    assert _wait_finished(erp, submitted.jobId).status == "finished"
    for operation, kwargs in [("checkAsyncStatus", {}), ("getAsyncResult", {"pageIndex": 1})]:
        with pytest.raises(zeep.exceptions.Fault) as caught:
            erp.call(operation, jobId="ASYNCWEBSERVICES_nope", **kwargs)
        assert fault_code(caught.value) == "INVALID_JOB_ID"
    with pytest.raises(zeep.exceptions.Fault) as caught:
        erp.call("getAsyncResult", jobId=submitted.jobId, pageIndex=2)
    assert fault_code(caught.value) == "INVALID_PAGE_INDEX"
