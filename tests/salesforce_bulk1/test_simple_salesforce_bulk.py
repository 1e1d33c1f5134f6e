"""Bulk API 1.0 through simple-salesforce's ``sf.bulk`` (JSON jobs), unmodified."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from simple_salesforce.exceptions import SalesforceGeneralError

from tests.salesforce_bulk1.conftest import rest_ids

WAIT = 0.05


def test_insert_upsert_query_delete_query_all(sf: Any) -> None:
    data = [{"Name": f"Simple {i}", "ERP_Id__c": f"SS-{i}", "NumberOfEmployees": i} for i in range(12)]
    inserted = sf.bulk.Account.insert(data, batch_size=5)
    assert len(inserted) == 12
    assert all(r["success"] and r["created"] and r["errors"] == [] for r in inserted)
    assert {r["id"] for r in inserted} == rest_ids(sf, "SELECT Id FROM Account")

    upserted = sf.bulk.Account.upsert([{"ERP_Id__c": "SS-0", "Name": "Changed"},
                                       {"ERP_Id__c": "SS-99", "Name": "Fresh"}], "ERP_Id__c")
    assert [(r["success"], r["created"]) for r in upserted] == [(True, False), (True, True)]

    records = sf.bulk.Account.query("SELECT Id, Name, ERP_Id__c, CreatedDate FROM Account", wait=WAIT)
    assert len(records) == 13
    assert {r["Id"] for r in records} == rest_ids(sf, "SELECT Id FROM Account")
    assert {r["Name"] for r in records if r["ERP_Id__c"] == "SS-0"} == {"Changed"}
    created = datetime.fromtimestamp(records[0]["CreatedDate"] / 1000, UTC)
    assert abs((datetime.now(UTC) - created).total_seconds()) < 600

    gone = sorted(r["Id"] for r in records)[:3]
    deleted = sf.bulk.Account.delete([{"Id": i} for i in gone])
    assert all(r["success"] for r in deleted)
    live = sf.bulk.Account.query("SELECT Id FROM Account", wait=WAIT)
    assert {r["Id"] for r in live} == rest_ids(sf, "SELECT Id FROM Account")
    every = sf.bulk.Account.query_all("SELECT Id, IsDeleted FROM Account", wait=WAIT)
    assert {r["Id"] for r in every} == rest_ids(sf, "SELECT Id FROM Account", include_deleted=True)
    assert sorted(r["Id"] for r in every if r["IsDeleted"]) == gone


def test_lazy_query_pages_and_parent_fields(sf: Any) -> None:
    account = sf.Account.create({"Name": "Parent Co", "ERP_Id__c": "P-1"})["id"]
    result = sf.bulk.Contact.insert([{"LastName": "Child", "Account": {"ERP_Id__c": "P-1"}},
                                     {"LastName": "Orphan", "Account": {"ERP_Id__c": "missing"}}])
    assert [r["success"] for r in result] == [True, False]
    assert result[1]["errors"][0]["statusCode"] == "INVALID_FIELD"
    pages = list(sf.bulk.Contact.query("SELECT Id, LastName, Account.Name FROM Contact", lazy_operation=True,
                                       wait=WAIT))
    assert len(pages) == 1
    [contact] = pages[0]
    assert contact["Account"]["Name"] == "Parent Co"
    assert sf.Contact.get(contact["Id"])["AccountId"] == account


def test_serial_job_and_detailed_results(sf: Any) -> None:
    data = [{"LastName": f"Serial {i}"} for i in range(6)]
    results = sf.bulk.Contact.insert(data, batch_size=2, use_serial=True, include_detailed_results=True)
    assert len(results) == 6
    assert sorted(r["LastName"] for r in results) == sorted(d["LastName"] for d in data)
    assert all(r["success"] for r in results)


def test_failed_query_raises(sf: Any) -> None:
    with pytest.raises(SalesforceGeneralError) as failure:
        sf.bulk.Account.query("SELECT Id, NoSuchField__c FROM Account", wait=WAIT)
    assert "INVALID_FIELD" in str(failure.value)
