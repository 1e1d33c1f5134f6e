"""Records survive a restart, --reset wipes them, the demo seed is deterministic, bulk load feeds searches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from emulators.erp.bulkload import bulk_load
from tests.erp_emulator.soap import ErpClient
from tests.support.emulator import RunningEmulator, running_emulator

DEMO_COUNTS = {
    "contact": 600, "customrecord_contract": 25, "currency": 4, "customer": 300, "employee": 10, "inventoryItem": 40,
    "invoice": 50, "location": 3, "priceLevel": 4, "salesOrder": 80, "serviceSaleItem": 12,
    "task": 1000, "term": 5, "unitsType": 3,
}


def _names(client: ErpClient, search_type: str, field: str) -> list[str]:
    first = client.call("search", searchRecord=client.type(search_type)(), page_size=1000)
    names = [getattr(r, field) for r in first.recordList.record]
    for page in range(2, first.totalPages + 1):
        more = client.call("searchMoreWithId", searchId=first.searchId, pageIndex=page)
        names += [getattr(r, field) for r in more.recordList.record]
    return names


def test_restart_keeps_records_and_credentials(tmp_path: Path, tag: str) -> None:
    data_dir = tmp_path / "persist"
    with running_emulator("erp", data_dir) as emulator:
        client = ErpClient(emulator)
        client.call("upsertList", record=[client.type("Customer")(externalId=tag, companyName="Still here")])
        client.call("deleteList", baseRef=[client.ref("customer", externalId=tag)])
        client.call("upsertList", record=[client.type("Customer")(externalId=f"{tag}-2", companyName="Kept")])
        credentials = {k: emulator.info[k] for k in ("consumer_key", "consumer_secret", "token_id", "token_secret")}
    with running_emulator("erp", data_dir) as emulator:
        assert {k: emulator.info[k] for k in credentials} == credentials
        client = ErpClient(emulator)
        read = client.call("getList", baseRef=[client.ref("customer", externalId=f"{tag}-2")])
        assert read.readResponse[0].record.companyName == "Kept"
        window = {"deletedDate": {"operator": "onOrAfter", "searchValue": datetime.now(UTC) - timedelta(hours=1)}}
        deleted = client.call("getDeleted", getDeletedFilter=window, pageIndex=1)
        assert [d.record.externalId for d in deleted.deletedRecordList.deletedRecord] == [tag]
    with running_emulator("erp", data_dir, "--reset") as emulator:
        client = ErpClient(emulator)
        read = client.call("getList", baseRef=[client.ref("customer", externalId=f"{tag}-2")])
        assert not read.readResponse[0].status.isSuccess


def test_demo_seed_counts_and_determinism(tmp_path: Path) -> None:
    with running_emulator("erp", tmp_path / "demo", "--seed", "demo") as emulator:
        assert emulator.control("GET", "health")["counts"] == DEMO_COUNTS
        client = ErpClient(emulator)
        customers = _names(client, "CustomerSearchBasic", "companyName")
        tasks = client.call("search", searchRecord=client.type("TaskSearchBasic")(), page_size=1000).recordList.record
        assert len(customers) == 300 == len(set(customers))
        assert {t.status for t in tasks} == {"_notStarted", "_inProgress", "_completed", "_deferred"}
        assert {t.priority for t in tasks} == {"_high", "_medium", "_low"}
        assert all(t.title and t.dueDate and t.company.internalId and t.assigned.internalId for t in tasks)
        reps = _names(client, "EmployeeSearchBasic", "entityId")
        assert len(reps) == 10
        reseeded = emulator.control("POST", "reset", json={"seed": "demo"})
        assert reseeded["counts"] == DEMO_COUNTS
        assert _names(client, "CustomerSearchBasic", "companyName") == customers
        assert emulator.control("POST", "reset")["counts"] == {}
    with running_emulator("erp", tmp_path / "demo2", "--seed", "demo") as other:
        assert _names(ErpClient(other), "CustomerSearchBasic", "companyName") == customers


def test_seed_control_on_the_shared_emulator_is_not_needed(erp_emulator: RunningEmulator) -> None:
    health = erp_emulator.control("GET", "health")
    assert health["status"] == "ok" and health["kind"] == "erp" and health["account"] == "1234567"


def test_bulk_load_feeds_paged_searches(tmp_path: Path) -> None:
    data_dir = tmp_path / "bulk"
    data_dir.mkdir()
    assert bulk_load(data_dir, "customer", 2500) == 2500
    assert bulk_load(data_dir, "task", 300) == 300
    with running_emulator("erp", data_dir) as emulator:
        client = ErpClient(emulator)
        first = client.call("search", searchRecord=client.type("CustomerSearchBasic")(), page_size=1000)
        assert (first.totalRecords, first.totalPages, len(first.recordList.record)) == (2500, 3, 1000)
        last = client.call("searchMoreWithId", searchId=first.searchId, pageIndex=3)
        assert len(last.recordList.record) == 500 and last.recordList.record[-1].externalId == "BULK-customer-2499"
        updated = client.call("upsertList", record=[client.type("Customer")(externalId="BULK-customer-7", phone="9")])
        assert updated.writeResponse[0].status.isSuccess
        tasks = client.call("search", searchRecord=client.type("TaskSearchBasic")(), page_size=500)
        assert tasks.totalRecords == 300 and tasks.recordList.record[0].title
