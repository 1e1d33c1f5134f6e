"""search and searchMoreWithId: lastModifiedDate criteria, pageSize from searchPreferences, paging, expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import zeep

from tests.erp_emulator.soap import ErpClient, errors, fault_code, fault_name
from tests.support.emulator import RunningEmulator


def _tasks(erp: ErpClient, tag: str, n: int) -> list[str]:
    Task = erp.type("Task")
    result = erp.call("upsertList", record=[Task(externalId=f"{tag}-{i:03d}", title=f"Task {i}") for i in range(n)])
    assert all(r.status.isSuccess for r in result.writeResponse)
    return [r.baseRef.internalId for r in result.writeResponse]


def _since(erp: ErpClient, moment: datetime, operator: str = "onOrAfter", until: datetime | None = None) -> object:
    field = {"operator": operator, "searchValue": moment}
    if until is not None:
        field["searchValue2"] = until
    return erp.type("TaskSearchBasic")(lastModifiedDate=field)


def test_walk_all_pages_with_page_size_5(erp: ErpClient, tag: str) -> None:
    start = datetime.now(UTC) - timedelta(seconds=1)
    ids = _tasks(erp, tag, 23)
    first = erp.call("search", searchRecord=_since(erp, start), page_size=5)
    assert first.status.isSuccess and first.pageIndex == 1 and first.pageSize == 5
    assert first.totalRecords >= 23 and first.totalPages == -(-first.totalRecords // 5)
    seen = [r.internalId for r in first.recordList.record]
    for page in range(2, first.totalPages + 1):
        more = erp.call("searchMoreWithId", searchId=first.searchId, pageIndex=page)
        assert more.pageIndex == page and more.searchId == first.searchId
        seen += [r.internalId for r in more.recordList.record]
    assert len(seen) == first.totalRecords == len(set(seen))
    assert set(ids) <= set(seen)
    mine = [r for r in seen if r in set(ids)]
    assert mine == ids  # same lastModifiedDate, so internalId order


@pytest.mark.parametrize("page_index", [0, 99])
def test_bad_page_index(erp: ErpClient, tag: str, page_index: int) -> None:
    _tasks(erp, tag, 6)
    first = erp.call("search", searchRecord=_since(erp, datetime.now(UTC) - timedelta(seconds=5)), page_size=5)
    with pytest.raises(zeep.exceptions.Fault) as caught:
        erp.call("searchMoreWithId", searchId=first.searchId, pageIndex=first.totalPages + page_index
                 if page_index else 0)
    assert fault_code(caught.value) == "INVALID_PAGE_INDEX"
    assert fault_name(caught.value) == "invalidSessionFault"


def test_unknown_search_id(erp: ErpClient) -> None:
    with pytest.raises(zeep.exceptions.Fault) as caught:
        erp.call("searchMoreWithId", searchId="WEBSERVICES_nope", pageIndex=2)
    assert fault_code(caught.value) == "INVALID_SEARCH"


def test_search_id_expires_after_15_minutes(erp_emulator: RunningEmulator, erp: ErpClient, tag: str) -> None:
    _tasks(erp, tag, 6)
    first = erp.call("search", searchRecord=_since(erp, datetime.now(UTC) - timedelta(seconds=5)), page_size=5)
    erp_emulator.control("POST", "clock", json={"advance_seconds": 14 * 60})
    erp.sync_clock()
    assert erp.call("searchMoreWithId", searchId=first.searchId, pageIndex=2).pageIndex == 2
    erp_emulator.control("POST", "clock", json={"advance_seconds": 16 * 60})
    erp.sync_clock()
    with pytest.raises(zeep.exceptions.Fault) as caught:
        erp.call("searchMoreWithId", searchId=first.searchId, pageIndex=1)
    assert fault_code(caught.value) == "INVALID_SEARCH"


def test_within_window_and_later_changes(erp_emulator: RunningEmulator, erp: ErpClient, tag: str) -> None:
    base = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)
    erp_emulator.control("POST", "clock", json={"set": base.isoformat()})
    erp.sync_clock()
    early = _tasks(erp, f"{tag}a", 3)
    erp_emulator.control("POST", "clock", json={"set": (base + timedelta(hours=1)).isoformat()})
    erp.sync_clock()
    late = _tasks(erp, f"{tag}b", 2)
    window = erp.call("search", searchRecord=_since(erp, base - timedelta(minutes=1), "within",
                                                    base + timedelta(minutes=30)))
    found = {r.internalId for r in window.recordList.record}
    assert set(early) <= found and not set(late) & found
    after = erp.call("search", searchRecord=_since(erp, base + timedelta(minutes=30)))
    assert {r.internalId for r in after.recordList.record} >= set(late)
    assert not set(early) & {r.internalId for r in after.recordList.record}
    for record in window.recordList.record:
        if record.internalId in early:
            assert record.lastModifiedDate == base.replace(microsecond=record.lastModifiedDate.microsecond)


def test_criteria_by_internal_and_external_id(erp: ErpClient, tag: str) -> None:
    ids = _tasks(erp, tag, 4)
    search = erp.type("TaskSearchBasic")(
        internalId={"operator": "anyOf", "searchValue": [erp.ref("task", internalId=i) for i in ids[:2]]})
    assert [r.internalId for r in erp.call("search", searchRecord=search).recordList.record] == ids[:2]
    search = erp.type("TaskSearchBasic")(
        externalId={"operator": "anyOf", "searchValue": [erp.ref("task", externalId=f"{tag}-003")]})
    assert [r.externalId for r in erp.call("search", searchRecord=search).recordList.record] == [f"{tag}-003"]


def test_search_of_other_types_and_empty_results(erp: ErpClient) -> None:
    future = datetime(2099, 1, 1, tzinfo=UTC)
    result = erp.call("search", searchRecord=erp.type("CustomerSearchBasic")(
        lastModifiedDate={"operator": "after", "searchValue": future}))
    assert result.status.isSuccess and result.totalRecords == 0 and result.totalPages == 0
    assert result.recordList is None or not result.recordList.record


@pytest.mark.parametrize("size", [4, 1001])
def test_page_size_out_of_range(erp: ErpClient, size: int) -> None:
    result = erp.call("search", searchRecord=erp.type("TaskSearchBasic")(), page_size=size)
    assert not result.status.isSuccess and errors(result) == ["USER_ERROR"]
