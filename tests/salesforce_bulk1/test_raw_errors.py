"""Bulk API 1.0 over raw HTTP: sessions, documents, error codes, limits and batch states."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.salesforce_bulk1.conftest import API_VERSION, NS, AsyncApi, xml_fields
from tests.salesforce_emulator.conftest import client_session
from tests.support.emulator import RunningEmulator, start_emulator


def error(response: Any) -> tuple[int, str, str]:
    """Status, ``exceptionCode`` and ``exceptionMessage`` of an XML or JSON error."""
    if response.headers["Content-Type"] == "application/json":
        body = response.json()
        return response.status_code, body["exceptionCode"], body["exceptionMessage"]
    root = ET.fromstring(response.content)
    assert root.tag == f"{{{NS}}}error"
    fields = xml_fields(root)
    return response.status_code, fields["exceptionCode"], fields["exceptionMessage"]


def test_session_header_is_required(async_api: AsyncApi) -> None:
    async_api.session_id = "00D000000000001!AQbogus"
    assert error(async_api.call("GET", "job/750000000000001AAA")) == (400, "InvalidSessionId", "Invalid session id")
    response = async_api.call("POST", "job", body="{}", content_type="application/json")
    assert error(response) == (400, "InvalidSessionId", "Invalid session id")


def test_oauth_access_token_is_a_session(sf_emulator: RunningEmulator, sf: Any) -> None:
    info = sf_emulator.info
    with client_session(sf_emulator) as http:
        token = http.post(f"{sf_emulator.base_url}/services/oauth2/token", timeout=30, data={
            "grant_type": "password", "client_id": info["client_id"], "client_secret": info["client_secret"],
            "username": info["username"], "password": info["password"] + info["security_token"]}).json()
    api = AsyncApi(sf_emulator, token["access_token"])
    job = xml_fields(api.create_job("insert", "Account"))
    assert job["state"] == "Open" and job["createdById"].startswith("005")


def test_job_info_xml_and_json(async_api: AsyncApi) -> None:
    created = async_api.create_job("upsert", "account", extra="<externalIdFieldName>erp_id__c</externalIdFieldName>")
    names = [child.tag.split("}", 1)[1] for child in created]
    assert names == ["id", "operation", "object", "createdById", "createdDate", "systemModstamp", "state",
                     "externalIdFieldName", "concurrencyMode", "contentType", "numberBatchesQueued",
                     "numberBatchesInProgress", "numberBatchesCompleted", "numberBatchesFailed", "numberBatchesTotal",
                     "numberRecordsProcessed", "numberRetries", "apiVersion", "numberRecordsFailed",
                     "totalProcessingTime", "apiActiveProcessingTime", "apexProcessingTime"]
    fields = xml_fields(created)
    assert (fields["object"], fields["externalIdFieldName"], fields["apiVersion"]) == ("Account", "ERP_Id__c", "59.0")
    assert fields["createdDate"].endswith(".000Z") and fields["id"].startswith("750")
    response = async_api.call("GET", f"job/{fields['id']}", content_type="application/json")
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert list(body) == sorted(body)
    assert (body["state"], body["apiVersion"], body["assignmentRuleId"]) == ("Open", 59.0, None)
    assert body["createdDate"].endswith("+0000")
    closed = async_api.call("POST", f"job/{fields['id']}", body=json.dumps({"state": "Closed"}),
                            content_type="application/json")
    assert closed.json()["state"] == "Closed"
    again = async_api.call("POST", f"job/{fields['id']}", body=f'<jobInfo xmlns="{NS}"><state>Closed</state></jobInfo>')
    assert error(again)[:2] == (400, "InvalidJobState")


def test_create_job_errors(async_api: AsyncApi) -> None:
    def create(body: dict[str, Any]) -> tuple[int, str, str]:
        return error(async_api.call("POST", "job", body=json.dumps(body), content_type="application/json"))

    assert create({"operation": "insert", "object": "Nope__c", "contentType": "CSV"}) == (
        400, "InvalidJob", "Unable to find object: Nope__c")
    assert create({"operation": "upsert", "object": "Account", "contentType": "CSV"}) == (
        400, "InvalidJob", "External ID was blank for Account. An External ID must be specified for upsert.")
    assert create({"operation": "merge", "object": "Account"})[:2] == (400, "InvalidJob")
    assert create({"operation": "insert", "object": "Account", "contentType": "YAML"})[:2] == (400, "InvalidJob")
    response = async_api.call("POST", "job", body="<jobInfo", content_type="application/xml")
    assert error(response)[:2] == (400, "InvalidXML")
    bad_chunk = async_api.call("POST", "job", body=json.dumps({"operation": "query", "object": "Account"}),
                               content_type="application/json", headers={"Sforce-Enable-PKChunking": "chunkSize=0"})
    assert error(bad_chunk)[:2] == (400, "InvalidJob")


def test_unknown_ids_and_methods(async_api: AsyncApi) -> None:
    assert error(async_api.call("GET", "job/750000000009999"))[:2] == (400, "InvalidJob")
    job_id = xml_fields(async_api.create_job("insert", "Account"))["id"]
    assert error(async_api.call("GET", f"job/{job_id}/batch/751000000009999"))[:2] == (400, "InvalidBatch")
    assert error(async_api.call("DELETE", f"job/{job_id}"))[:2] == (405, "MethodNotAllowed")
    assert error(async_api.call("GET", "jobs"))[:2] == (404, "InvalidOperation")


def test_batch_content_type_size_and_record_limits(async_api: AsyncApi) -> None:
    job_id = xml_fields(async_api.create_job("insert", "Account"))["id"]
    wrong = async_api.call("POST", f"job/{job_id}/batch", body="[]", content_type="application/json")
    assert error(wrong)[:2] == (400, "InvalidBatch")
    big = b"Name\n" + b"x" * 10_000_001
    assert error(async_api.call("POST", f"job/{job_id}/batch", body=big, content_type="text/csv")) == (
        400, "ClientInputError", "Failed to read request. Exceeded max size limit of 10000000")
    rows = "Name\n" + "".join(f"Too many {i}\n" for i in range(10_001))
    batch = async_api.add_batch(job_id, rows)
    info, _ = async_api.wait(job_id, batch["id"])
    assert info["state"] == "Failed"
    assert info["stateMessage"].startswith("InvalidBatch : Exceeded number of records")
    missing = async_api.call("GET", f"job/{job_id}/batch/{batch['id']}/result")
    assert error(missing) == (400, "InvalidBatch", "Records not found for this batch")
    unknown_field = async_api.add_batch(job_id, "Name,Bogus__c\nA,B\n")
    info, _ = async_api.wait(job_id, unknown_field["id"])
    assert (info["state"], info["stateMessage"]) == ("Failed", "InvalidBatch : Field name not found : Bogus__c")


def test_batch_states_and_ordered_csv_results(async_api: AsyncApi) -> None:
    job_id = xml_fields(async_api.create_job("insert", "Account"))["id"]
    added = async_api.add_batch(job_id, 'Name,NumberOfEmployees\n"First",1\n"",2\n"Third",x\n')
    assert added["state"] == "Queued" and added["jobId"] == job_id and added["id"].startswith("751")
    info, seen = async_api.wait(job_id, added["id"])
    assert seen[-1] == "Completed"
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == ("3", "2")
    response = async_api.call("GET", f"job/{job_id}/batch/{added['id']}/result")
    assert response.headers["Content-Type"] == "text/csv"
    lines = response.text.splitlines()
    assert lines[0] == '"Id","Success","Created","Error"'
    assert lines[1].startswith('"001') and lines[1].endswith('","true","true",""')
    assert lines[2].startswith('"","false","false","REQUIRED_FIELD_MISSING:')
    assert lines[3].startswith('"","false","false","INVALID_FIELD:')
    request = async_api.call("GET", f"job/{job_id}/batch/{added['id']}/request")
    assert request.text.startswith("Name,NumberOfEmployees")
    job = xml_fields(ET.fromstring(async_api.call("GET", f"job/{job_id}").content))
    assert (job["numberBatchesCompleted"], job["numberRecordsProcessed"], job["numberRecordsFailed"]) == ("1", "3", "2")


def test_abort_leaves_finished_batches_and_refuses_new_ones(async_api: AsyncApi) -> None:
    job_id = xml_fields(async_api.create_job("insert", "Account"))["id"]
    batch = async_api.add_batch(job_id, "Name\nKept\n")
    async_api.wait(job_id, batch["id"])
    aborted = async_api.call("POST", f"job/{job_id}", body=f'<jobInfo xmlns="{NS}"><state>Aborted</state></jobInfo>')
    assert xml_fields(ET.fromstring(aborted.content))["state"] == "Aborted"
    assert async_api.batch(job_id, batch["id"])["state"] == "Completed"
    refused = async_api.call("POST", f"job/{job_id}/batch", body="Name\nLate\n", content_type="text/csv")
    assert error(refused)[:2] == (400, "InvalidJobState")


def test_failed_query_batch(async_api: AsyncApi) -> None:
    job_id = xml_fields(async_api.create_job("query", "Account"))["id"]
    batch = async_api.add_batch(job_id, "SELECT Id, Bogus__c FROM Account")
    info, _ = async_api.wait(job_id, batch["id"])
    assert info["state"] == "Failed"
    assert info["stateMessage"].startswith("InvalidBatch : Failed to process query: INVALID_FIELD:")
    other = async_api.add_batch(job_id, "SELECT Id FROM Contact")
    assert async_api.wait(job_id, other["id"])[0]["state"] == "Failed"


def test_daily_batch_allocation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEM_SF_BULK1_DAILY_BATCHES", "2")
    emulator = start_emulator("salesforce", tmp_path / "sf", "--api-limit", "1000")
    try:
        from tests.salesforce_emulator.conftest import make_salesforce

        api = AsyncApi(emulator, make_salesforce(emulator).session_id)
        job_id = xml_fields(api.create_job("insert", "Account"))["id"]
        api.add_batch(job_id, "Name\nOne\n")
        api.add_batch(job_id, "Name\nTwo\n")
        refused = api.call("POST", f"job/{job_id}/batch", body="Name\nThree\n", content_type="text/csv")
        assert error(refused)[:2] == (400, "ExceededQuota")
        assert api.base.endswith(f"/services/async/{API_VERSION}")
    finally:
        emulator.stop()


def test_counters_and_injected_faults(async_api: AsyncApi, sf_emulator: RunningEmulator) -> None:
    before = sf_emulator.control("GET", "counters")["by_endpoint"].get("bulk1.job.create", 0)
    job_id = xml_fields(async_api.create_job("insert", "Account"))["id"]
    assert sf_emulator.control("GET", "counters")["by_endpoint"]["bulk1.job.create"] == before + 1
    sf_emulator.control("POST", "faults", json={"pattern": "bulk1.batch.create", "kind": "http_503", "count": 1})
    refused = async_api.call("POST", f"job/{job_id}/batch", body="Name\nA\n", content_type="text/csv")
    assert error(refused)[:2] == (503, "ServerUnavailable")
    assert async_api.add_batch(job_id, "Name\nA\n")["state"] == "Queued"
