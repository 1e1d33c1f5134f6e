"""Bulk API 1.0 through the unmodified ``salesforce-bulk`` package (heroku): CSV, JSON and XML jobs."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from typing import Any

import pytest
import unicodecsv
from salesforce_bulk import BulkApiError, CsvDictsAdapter, SalesforceBulk

from tests.salesforce_bulk1.conftest import NS, rest_ids


def wait_done(bulk: SalesforceBulk, job_id: str, batch_id: str) -> None:
    """Poll as ``wait_for_batch`` does, without its 10-second sleep."""
    deadline = time.monotonic() + 30
    while not bulk.is_batch_done(batch_id, job_id):
        assert time.monotonic() < deadline, "batch did not complete"
        time.sleep(0.02)


def accounts(n: int, prefix: str = "SB") -> list[dict[str, str]]:
    return [{"Name": f"Bulk account {i}", "ERP_Id__c": f"{prefix}-{i}", "NumberOfEmployees": str(i)} for i in range(n)]


def test_csv_insert_then_query_matches_rest(bulk: SalesforceBulk, sf: Any) -> None:
    job = bulk.create_insert_job("Account", contentType="CSV")
    batch = bulk.post_batch(job, CsvDictsAdapter(iter(accounts(30))))
    wait_done(bulk, job, batch)
    results = bulk.get_batch_results(batch, job)
    bulk.close_job(job)
    assert len(results) == 30
    assert all(r.success == "true" and r.created == "true" and r.error == "" for r in results)
    inserted = {r.id for r in results}
    assert inserted == rest_ids(sf, "SELECT Id FROM Account")
    status = bulk.job_status(job)
    assert status["state"] == "Closed"
    assert (status["numberBatchesCompleted"], status["numberBatchesTotal"]) == ("1", "1")
    assert (status["numberRecordsProcessed"], status["numberRecordsFailed"]) == ("30", "0")
    assert status["apiVersion"] == "59.0" and status["contentType"] == "CSV"

    query_job = bulk.create_query_job("Account", contentType="CSV")
    query_batch = bulk.query(query_job, "SELECT Id, Name, ERP_Id__c FROM Account WHERE NumberOfEmployees >= 10")
    wait_done(bulk, query_job, query_batch)
    bulk.close_job(query_job)
    rows = [row for result in bulk.get_all_results_for_query_batch(query_batch, query_job)
            for row in unicodecsv.DictReader(result, encoding="utf-8")]
    assert len(rows) == 20
    assert {row["Id"] for row in rows} == rest_ids(sf, "SELECT Id FROM Account WHERE NumberOfEmployees >= 10")
    assert {row["ERP_Id__c"] for row in rows} == {f"SB-{i}" for i in range(10, 30)}
    assert bulk.get_query_batch_request(query_batch, query_job).startswith("SELECT Id, Name")


def test_csv_results_report_each_row_in_order(bulk: SalesforceBulk, sf: Any) -> None:
    rows = accounts(3)
    rows[1]["Name"] = ""
    job = bulk.create_insert_job("Account", contentType="CSV")
    batch = bulk.post_batch(job, CsvDictsAdapter(iter(rows)))
    wait_done(bulk, job, batch)
    results = bulk.get_batch_results(batch, job)
    assert [r.success for r in results] == ["true", "false", "true"]
    assert results[1].id == ""
    assert results[1].error.startswith("REQUIRED_FIELD_MISSING:Required fields are missing: [Name]")
    info = bulk.batch_status(batch, job, reload=True)
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == ("3", "1")
    assert len(rest_ids(sf, "SELECT Id FROM Account")) == 2


def test_upsert_update_and_delete_jobs(bulk: SalesforceBulk, sf: Any) -> None:
    job = bulk.create_upsert_job("Account", "ERP_Id__c", contentType="CSV")
    first = bulk.post_batch(job, CsvDictsAdapter(iter(accounts(4))))
    wait_done(bulk, job, first)
    changed = [{"Name": "Renamed", "ERP_Id__c": "SB-0"}, {"Name": "New one", "ERP_Id__c": "SB-9"}]
    second = bulk.post_batch(job, CsvDictsAdapter(iter(changed)))
    wait_done(bulk, job, second)
    bulk.close_job(job)
    assert [r.created for r in bulk.get_batch_results(second, job)] == ["false", "true"]
    assert sf.Account.get_by_custom_id("ERP_Id__c", "SB-0")["Name"] == "Renamed"
    assert bulk.job_status(job)["externalIdFieldName"] == "ERP_Id__c"

    ids = sorted(rest_ids(sf, "SELECT Id FROM Account"))
    update = bulk.create_update_job("Account", contentType="CSV")
    batch = bulk.post_batch(update, CsvDictsAdapter(iter([{"Id": ids[0], "Phone": "+1 555 0100"}])))
    wait_done(bulk, update, batch)
    assert sf.Account.get(ids[0])["Phone"] == "+1 555 0100"

    delete = bulk.create_delete_job("Account", contentType="CSV")
    batch = bulk.post_batch(delete, CsvDictsAdapter(iter([{"Id": i} for i in ids[:2]])))
    wait_done(bulk, delete, batch)
    assert {r.id for r in bulk.get_batch_results(batch, delete)} == set(ids[:2])
    assert rest_ids(sf, "SELECT Id FROM Account") == set(ids[2:])

    query_all = bulk.create_queryall_job("Account", contentType="CSV")
    query_batch = bulk.query(query_all, "SELECT Id, IsDeleted FROM Account")
    wait_done(bulk, query_all, query_batch)
    rows = [row for result in bulk.get_all_results_for_query_batch(query_batch, query_all)
            for row in unicodecsv.DictReader(result, encoding="utf-8")]
    assert {row["Id"] for row in rows} == set(ids)
    assert sorted(row["IsDeleted"] for row in rows) == ["false", "false", "false", "true", "true"]


def test_json_job_insert_and_query(bulk: SalesforceBulk, sf: Any) -> None:
    job = bulk.create_insert_job("Account", contentType="JSON")
    data = [{"Name": f"Json {i}", "NumberOfEmployees": i, "Phone": None} for i in range(5)]
    batch = bulk.post_batch(job, json.dumps(data))
    wait_done(bulk, job, batch)
    results = bulk.get_batch_results(batch, job)
    assert [r.success for r in results] == [True] * 5
    assert {r.id for r in results} == rest_ids(sf, "SELECT Id FROM Account")
    batches = bulk.get_batch_list(job)
    assert [b["id"] for b in batches] == [batch] and batches[0]["state"] == "Completed"

    query_job = bulk.create_query_job("Account", contentType="JSON")
    query_batch = bulk.query(query_job, "SELECT Id, Name, NumberOfEmployees, CreatedDate FROM Account")
    wait_done(bulk, query_job, query_batch)
    result_ids = bulk.get_query_batch_result_ids(query_batch, query_job)
    assert len(result_ids) == 1
    records = json.load(bulk.get_query_batch_results(query_batch, result_ids[0], query_job))
    assert sorted(r["NumberOfEmployees"] for r in records) == [0, 1, 2, 3, 4]
    assert all(r["attributes"]["type"] == "Account" for r in records)
    assert all(isinstance(r["CreatedDate"], int) and r["CreatedDate"] > 1_600_000_000_000 for r in records)


def test_xml_job_insert_and_query(bulk: SalesforceBulk, sf: Any) -> None:
    job = bulk.create_insert_job("Contact", contentType="XML")
    body = (f'<?xml version="1.0" encoding="UTF-8"?><sObjects xmlns="{NS}" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            "<sObject><LastName>Ada</LastName><Email>ada@example.com</Email></sObject>"
            '<sObject><LastName>Grace</LastName><Email xsi:nil="true"/></sObject>'
            "<sObject><FirstName>No last name</FirstName></sObject></sObjects>")
    batch = bulk.post_batch(job, body.encode())
    wait_done(bulk, job, batch)
    response = bulk.get_batch_results(batch, job)
    assert [(r.success, r.created) for r in response] == [(True, True), (True, True), (False, False)]
    assert response[2].error[0]["statusCode"] == "REQUIRED_FIELD_MISSING"

    query_job = bulk.create_query_job("Contact", contentType="XML")
    query_batch = bulk.query(query_job, "SELECT Id, LastName, Email FROM Contact ORDER BY LastName")
    wait_done(bulk, query_job, query_batch)
    result_id = bulk.get_query_batch_result_ids(query_batch, query_job)[0]
    root = ET.parse(bulk.get_query_batch_results(query_batch, result_id, query_job)).getroot()
    records = root.findall(f"{{{NS}}}records")
    assert [r.findtext(f"{{{NS}}}LastName") for r in records] == ["Ada", "Grace"]
    email = records[1].find(f"{{{NS}}}Email")
    assert email is not None and email.get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true"
    assert {r.findtext(f"{{{NS}}}Id") for r in records} == rest_ids(sf, "SELECT Id FROM Contact")


def test_empty_query_result_and_abort(bulk: SalesforceBulk) -> None:
    job = bulk.create_query_job("Account", contentType="CSV")
    batch = bulk.query(job, "SELECT Id FROM Account")
    wait_done(bulk, job, batch)
    result_id = bulk.get_query_batch_result_ids(batch, job)[0]
    assert bulk.get_query_batch_results(batch, result_id, job).read() == b"Records not found for this query"
    bulk.abort_job(job)
    assert bulk.job_state(job) == "Aborted"
    with pytest.raises(BulkApiError, match="InvalidJobState") as refused:
        bulk.query(job, "SELECT Id FROM Account")
    assert refused.value.status_code == 400
