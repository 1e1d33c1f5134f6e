"""Query paging, queryAll, locators, and the updated/deleted replication windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from simple_salesforce.exceptions import SalesforceMalformedRequest

from tests.salesforce_emulator.conftest import error_body, rest_headers
from tests.support.emulator import RunningEmulator


def load_accounts(sf: Any, count: int) -> list[str]:
    ids: list[str] = []
    for start in range(0, count, 200):
        records = [{"attributes": {"type": "Account"}, "Name": f"Paged {i}", "ERP_Id__c": f"P-{i:05d}"}
                   for i in range(start, min(count, start + 200))]
        ids += [r["id"] for r in sf.restful("composite/sobjects/Account/ERP_Id__c", method="PATCH",
                                            json={"records": records})]
    return ids


def test_paging_with_batch_size(sf: Any) -> None:
    ids = load_accounts(sf, 4500)
    headers = {"Sforce-Query-Options": "batchSize=1000"}
    page = sf.query("SELECT Id, Name FROM Account ORDER BY ERP_Id__c", headers=headers)
    assert page["totalSize"] == 4500 and page["done"] is False and len(page["records"]) == 1000
    assert page["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    assert page["nextRecordsUrl"].endswith("-1000")
    seen = [r["Id"] for r in page["records"]]
    while not page["done"]:
        page = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True, headers=headers)
        seen += [r["Id"] for r in page["records"]]
    assert seen == ids
    default = sf.query("SELECT Id FROM Account")
    assert len(default["records"]) == 2000
    assert len(sf.query_all("SELECT Id FROM Account")["records"]) == 4500
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 4500


def test_query_all_includes_deleted_rows(sf: Any) -> None:
    keep, gone = (sf.Account.create({"Name": n})["id"] for n in ("Keep", "Gone"))
    sf.Account.delete(gone)
    assert [r["Id"] for r in sf.query("SELECT Id FROM Account")["records"]] == [keep]
    every = sf.query_all("SELECT Id, IsDeleted FROM Account", include_deleted=True)["records"]
    assert {(r["Id"], r["IsDeleted"]) for r in every} == {(keep, False), (gone, True)}


def test_query_errors(sf: Any, http: requests.Session, api: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.query("SELEKT Id FROM Account")
    assert error_body(failure)[0]["errorCode"] == "MALFORMED_QUERY"
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.query("SELECT Id FROM Nothing__c")
    assert error_body(failure)[0]["errorCode"] == "INVALID_TYPE"
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.query("SELECT Bogus__c FROM Account")
    assert error_body(failure)[0]["errorCode"] == "INVALID_FIELD"
    stale = http.get(f"{api}/query/01g5g0000000zzzAAA-2000", headers=rest_headers(sf), timeout=10)
    assert stale.status_code == 400
    assert stale.json() == [{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}]
    no_query = http.get(f"{api}/query", headers=rest_headers(sf), timeout=10)
    assert no_query.json()[0]["errorCode"] == "MALFORMED_QUERY"


def test_locator_expires_after_fifteen_idle_minutes(sf: Any, sf_emulator: RunningEmulator) -> None:
    load_accounts(sf, 400)
    page = sf.query("SELECT Id FROM Account", headers={"Sforce-Query-Options": "batchSize=200"})
    sf_emulator.control("POST", "clock", json={"advance_seconds": 16 * 60})
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)
    assert error_body(failure)[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def set_clock(emulator: RunningEmulator, when: datetime) -> None:
    emulator.control("POST", "clock", json={"set": when.isoformat()})


def test_updated_and_deleted_windows(sf: Any, sf_emulator: RunningEmulator) -> None:
    base = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)
    set_clock(sf_emulator, base)
    first = sf.Account.create({"Name": "First"})["id"]
    set_clock(sf_emulator, base + timedelta(hours=1))
    second = sf.Account.create({"Name": "Second"})["id"]
    sf.Account.delete(first)
    set_clock(sf_emulator, base + timedelta(hours=2))

    updated = sf.Account.updated(base - timedelta(minutes=1), base + timedelta(minutes=30))
    assert updated == {"ids": [], "latestDateCovered": "2030-03-01T12:30:00.000+0000"}  # first is deleted
    window = sf.Account.updated(base + timedelta(minutes=30), base + timedelta(hours=2))
    assert window["ids"] == [second]
    assert window["latestDateCovered"] == "2030-03-01T14:00:00.000+0000"

    deleted = sf.Account.deleted(base, base + timedelta(hours=2))
    assert [d["id"] for d in deleted["deletedRecords"]] == [first]
    assert deleted["deletedRecords"][0]["deletedDate"].startswith("2030-03-01T13:00:")
    assert deleted["earliestDateAvailable"] <= "2030-03-01T12:00:00.000+0000"
    assert deleted["latestDateCovered"] == "2030-03-01T14:00:00.000+0000"

    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.Account.updated(base + timedelta(hours=1), base + timedelta(hours=1, seconds=30))
    assert error_body(failure)[0]["errorCode"] == "INVALID_REPLICATION_DATE"

    set_clock(sf_emulator, base + timedelta(days=16))
    later = sf.Account.deleted(base + timedelta(days=2), base + timedelta(days=16))
    assert later["deletedRecords"] == []
    assert later["earliestDateAvailable"] == "2030-03-01T13:00:00.000+0000"
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.Account.deleted(base - timedelta(days=20), base + timedelta(days=16))
    assert error_body(failure)[0]["errorCode"] == "INVALID_REPLICATION_DATE"
