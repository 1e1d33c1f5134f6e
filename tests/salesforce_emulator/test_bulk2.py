"""Bulk API 2.0: ingest and query jobs, through simple-salesforce's ``bulk2`` and through plain requests."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce.exceptions import SalesforceOperationError

from tests.salesforce_emulator.conftest import make_salesforce
from tests.support.emulator import RunningEmulator, start_emulator

WAIT = 0.05
FINISHED = {"JobComplete", "Failed", "Aborted"}


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def accounts(n: int, *, bad_every: int = 0, prefix: str = "B") -> list[dict[str, str]]:
    """``n`` accounts; with ``bad_every``, every such row lacks its required Name."""
    return [{"Name": "" if bad_every and i % bad_every == 0 else f"Account {i}", "ERP_Id__c": f"{prefix}-{i}",
             "NumberOfEmployees": str(i)} for i in range(n)]


class Jobs:
    """Plain ``requests`` calls to ``jobs/`` with a bearer session."""

    def __init__(self, http: requests.Session, api: str, token: str) -> None:
        self.http, self.api = http, api
        self.auth = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {**self.auth, **kwargs.pop("headers", {})}
        return self.http.request(method, f"{self.api}/jobs/{path}", headers=headers, timeout=30, **kwargs)

    def create(self, **body: Any) -> dict[str, Any]:
        kind = "query" if body.get("operation") in {"query", "queryAll"} else "ingest"
        response = self.call("POST", kind, json=body)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def upload(self, job_id: str, data: str) -> requests.Response:
        return self.call("PUT", f"ingest/{job_id}/batches", data=data.encode(), headers={"Content-Type": "text/csv"})

    def close(self, job_id: str) -> requests.Response:
        return self.call("PATCH", f"ingest/{job_id}", json={"state": "UploadComplete"})

    def wait(self, kind: str, job_id: str) -> tuple[dict[str, Any], list[str]]:
        """Poll until the job finishes; return its info and the states seen."""
        seen: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            info = self.call("GET", f"{kind}/{job_id}").json()
            if not seen or seen[-1] != info["state"]:
                seen.append(info["state"])
            if info["state"] in FINISHED:
                return info, seen
            time.sleep(0.02)
        raise AssertionError(f"job {job_id} did not finish: {seen}")

    def ingest(self, data: str, **body: Any) -> dict[str, Any]:
        job = self.create(**body)
        assert self.upload(job["id"], data).status_code == 201
        assert self.close(job["id"]).status_code == 200
        return self.wait("ingest", job["id"])[0]


@pytest.fixture
def jobs(http: requests.Session, api: str, sf: Any) -> Jobs:
    return Jobs(http, api, sf.session_id)


# -- through simple-salesforce ------------------------------------------------------------------------


def test_insert_mixed_rows_results_line_up(sf: Any) -> None:
    records = accounts(3000, bad_every=7)
    [result] = sf.bulk2.Account.insert(records=records, wait=WAIT)
    bad = len(range(0, 3000, 7))
    assert result["numberRecordsProcessed"] == 3000 and result["numberRecordsTotal"] == 3000
    assert result["numberRecordsFailed"] == bad
    job_id = result["job_id"]
    success_text = sf.bulk2.Account.get_successful_records(job_id)
    header = success_text.splitlines()[0]
    assert header.startswith('"sf__Id","sf__Created",') and sorted(header.split(",")[2:]) == sorted(records[0])
    successes, failures = rows(success_text), rows(sf.bulk2.Account.get_failed_records(job_id))
    assert len(successes) == 3000 - bad and len(failures) == bad
    assert {r["ERP_Id__c"] for r in successes} | {r["ERP_Id__c"] for r in failures} == {r["ERP_Id__c"] for r in records}
    assert all(r["sf__Id"].startswith("001") and r["sf__Created"] == "true" for r in successes)
    assert failures[0] == {"sf__Id": "", "Name": "", "ERP_Id__c": "B-0", "NumberOfEmployees": "0",
                           "sf__Error": "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --"}
    assert sf.bulk2.Account.get_unprocessed_records(job_id).splitlines() == [header.split(",", 2)[2]]
    fetched = sf.Account.get(successes[0]["sf__Id"])
    assert fetched["Name"] == successes[0]["Name"]
    assert fetched["NumberOfEmployees"] == int(successes[0]["NumberOfEmployees"])


def test_upsert_update_delete_and_hard_delete(sf: Any) -> None:
    sf.bulk2.Account.insert(records=accounts(2000), wait=WAIT)
    changed = accounts(2500)
    for record in changed:
        record["Name"] += " v2"
    changed[10]["NumberOfEmployees"] = "many"
    [result] = sf.bulk2.Account.upsert(records=changed, external_id_field="ERP_Id__c", wait=WAIT)
    assert result["numberRecordsProcessed"] == 2500 and result["numberRecordsFailed"] == 1
    successes = rows(sf.bulk2.Account.get_successful_records(result["job_id"]))
    created = {r["ERP_Id__c"]: r["sf__Created"] for r in successes}
    assert created["B-0"] == "false" and created["B-2400"] == "true" and len(created) == 2499
    [failure] = rows(sf.bulk2.Account.get_failed_records(result["job_id"]))
    assert failure["ERP_Id__c"] == "B-10" and failure["sf__Error"].startswith("INVALID_FIELD:Failed to deserialize")
    assert sf.query("SELECT Name FROM Account WHERE ERP_Id__c = 'B-1'")["records"][0]["Name"] == "Account 1 v2"

    ids = [r["sf__Id"] for r in successes]
    update = [{"Id": ids[0], "Name": "Renamed"}, {"Id": ids[1], "Name": ""}, {"Id": "001000000000000AAA", "Name": "X"}]
    [result] = sf.bulk2.Account.update(records=update, wait=WAIT)
    assert result["numberRecordsFailed"] == 1
    [failure] = rows(sf.bulk2.Account.get_failed_records(result["job_id"]))
    assert failure["sf__Id"] == "001000000000000AAA" and failure["sf__Error"].startswith("INVALID_CROSS_REFERENCE_KEY:")
    assert sf.Account.get(ids[0])["Name"] == "Renamed"
    assert sf.Account.get(ids[1])["Name"].endswith(" v2")  # an empty value leaves the field unchanged

    [result] = sf.bulk2.Account.delete(records=[{"Id": i} for i in ids[:1500]], wait=WAIT)
    assert result == {**result, "numberRecordsProcessed": 1500, "numberRecordsFailed": 0}
    deleted = rows(sf.bulk2.Account.get_successful_records(result["job_id"]))
    assert [r["Id"] for r in deleted] == ids[:1500] and {r["sf__Created"] for r in deleted} == {"false"}
    [result] = sf.bulk2.Account.hard_delete(records=[{"Id": ids[1500]}, {"Id": ids[0]}], wait=WAIT)
    assert result["numberRecordsFailed"] == 1
    [failure] = rows(sf.bulk2.Account.get_failed_records(result["job_id"]))
    assert failure["Id"] == ids[0] and failure["sf__Error"].startswith("ENTITY_IS_DELETED:")
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 1000 - 1


def test_query_and_query_all_with_locator_paging(sf: Any) -> None:
    sf.bulk2.Account.insert(records=accounts(1200), wait=WAIT)
    parent = sf.Account.create({"Name": "Parent Co"})["id"]
    child = sf.Contact.create({"LastName": "Child", "AccountId": parent})["id"]
    sf.Contact.create({"LastName": "Orphan"})
    pages = list(sf.bulk2.Account.query("SELECT Id, Name, NumberOfEmployees FROM Account WHERE Name LIKE 'Account%'",
                                        max_records=500, wait=WAIT))
    assert len(pages) == 3
    found = [r for page in pages for r in rows(page)]
    assert len(found) == 1200 and list(found[0]) == ["Id", "Name", "NumberOfEmployees"]
    assert pages[0].splitlines()[0] == '"Id","Name","NumberOfEmployees"'
    contacts = rows("".join(sf.bulk2.Contact.query("SELECT Id, LastName, Account.Name FROM Contact ORDER BY LastName",
                                                   wait=WAIT)))
    assert contacts == [{"Id": child, "LastName": "Child", "Account.Name": "Parent Co"},
                        {"Id": contacts[1]["Id"], "LastName": "Orphan", "Account.Name": ""}]

    sf.Contact.delete(child)
    live = rows("".join(sf.bulk2.Contact.query("SELECT Id FROM Contact", wait=WAIT)))
    everything = rows("".join(sf.bulk2.Contact.query_all("SELECT Id, IsDeleted FROM Contact", wait=WAIT)))
    assert len(live) == 1 and {r["IsDeleted"] for r in everything} == {"true", "false"} and len(everything) == 2


def test_download_writes_files(sf: Any, tmp_path: Path) -> None:
    sf.bulk2.Account.insert(records=accounts(30), wait=WAIT)
    results = sf.bulk2.Account.download("SELECT Name FROM Account", path=str(tmp_path), max_records=20, wait=WAIT)
    assert [r["number_of_records"] for r in results] == [20, 10]
    assert sum(len(rows(Path(r["file"]).read_text())) for r in results) == 30


def test_failed_job_raises_in_simple_salesforce(sf: Any) -> None:
    with pytest.raises(SalesforceOperationError, match="Field name not found : Nope__c"):
        sf.bulk2.Account.insert(records=[{"Name": "A", "Nope__c": "x"}], wait=WAIT)


# -- through plain requests -----------------------------------------------------------------------------


def test_job_lifecycle_shapes_and_states(jobs: Jobs) -> None:
    job = jobs.create(object="Account", operation="insert", contentType="CSV", lineEnding="LF")
    assert job["state"] == "Open" and job["id"].startswith("750") and job["object"] == "Account"
    assert job["contentUrl"] == f"services/data/v59.0/jobs/ingest/{job['id']}/batches"
    assert job["apiVersion"] == 59.0 and job["columnDelimiter"] == "COMMA" and job["concurrencyMode"] == "Parallel"
    data = "Name\n" + "".join(f"Big {i}\n" for i in range(100_000))
    assert jobs.upload(job["id"], data).status_code == 201
    closed = jobs.close(job["id"]).json()
    assert closed["state"] == "UploadComplete"
    info, seen = jobs.wait("ingest", job["id"])
    assert seen[-1] == "JobComplete" and "InProgress" in seen
    assert set(seen) <= {"UploadComplete", "InProgress", "JobComplete"}
    assert info["numberRecordsProcessed"] == 100_000 and info["numberRecordsFailed"] == 0
    assert info["jobType"] == "V2Ingest"
    listed = jobs.call("GET", "ingest").json()
    assert listed["done"] is True and job["id"] in {r["id"] for r in listed["records"]}
    assert jobs.call("DELETE", f"ingest/{job['id']}").status_code == 204
    assert jobs.call("GET", f"ingest/{job['id']}").status_code == 404


def test_reset_forgets_jobs(jobs: Jobs, sf_emulator: RunningEmulator) -> None:
    job = jobs.create(object="Account", operation="insert")
    assert jobs.call("GET", f"ingest/{job['id']}").status_code == 200
    sf_emulator.control("POST", "reset", json={})
    assert jobs.call("GET", f"ingest/{job['id']}").status_code == 404


def test_tab_delimiter_crlf_and_null_marker(jobs: Jobs, sf: Any) -> None:
    data = "Name\tNumberOfEmployees\tERP_Id__c\r\nTabbed\t5\tT-1\r\n"
    info = jobs.ingest(data, object="Account", operation="insert", columnDelimiter="TAB", lineEnding="CRLF")
    assert info["state"] == "JobComplete" and info["numberRecordsFailed"] == 0
    info = jobs.ingest("ERP_Id__c\tNumberOfEmployees\r\nT-1\t#N/A\r\n", object="Account", operation="upsert",
                       externalIdFieldName="ERP_Id__c", columnDelimiter="TAB", lineEnding="CRLF")
    results = jobs.call("GET", f"ingest/{info['id']}/successfulResults/").text
    assert results == '"sf__Id"\t"sf__Created"\tERP_Id__c\tNumberOfEmployees\r\n' \
                      f'"{results.split(chr(34))[5]}"\t"false"\t"T-1"\t"#N/A"\r\n'
    assert sf.query("SELECT NumberOfEmployees FROM Account")["records"][0]["NumberOfEmployees"] is None


def test_parent_by_external_id_column(jobs: Jobs, sf: Any) -> None:
    parent = sf.Account.create({"Name": "Parent", "ERP_Id__c": "P-1"})["id"]
    data = "LastName,Account.ERP_Id__c\nKid,P-1\nStray,P-404\nLoner,\n"
    info = jobs.ingest(data, object="Contact", operation="insert")
    assert info["numberRecordsProcessed"] == 3 and info["numberRecordsFailed"] == 1
    [failure] = rows(jobs.call("GET", f"ingest/{info['id']}/failedResults/").text)
    assert failure["sf__Error"] == ("INVALID_FIELD:Foreign key external ID: P-404 not found for field ERP_Id__c in "
                                    "entity Account:AccountId --")
    contacts = sf.query("SELECT LastName, AccountId FROM Contact ORDER BY LastName")["records"]
    assert [(c["LastName"], c["AccountId"]) for c in contacts] == [("Kid", parent), ("Loner", None)]
    bad = jobs.ingest("LastName,Account.Name\nX,Parent\n", object="Contact", operation="insert")
    assert bad["errorMessage"] == "InvalidBatch : Field name not found : Account.Name"


def test_abort_leaves_rows_unprocessed(jobs: Jobs) -> None:
    job = jobs.create(object="Account", operation="insert")
    jobs.upload(job["id"], "Name\nOne\nTwo\n")
    aborted = jobs.call("PATCH", f"ingest/{job['id']}", json={"state": "Aborted"})
    assert aborted.json()["state"] == "Aborted"
    assert rows(jobs.call("GET", f"ingest/{job['id']}/unprocessedrecords/").text) == [{"Name": "One"}, {"Name": "Two"}]
    again = jobs.call("PATCH", f"ingest/{job['id']}", json={"state": "UploadComplete"})
    assert again.status_code == 400 and again.json()[0]["errorCode"] == "INVALIDJOBSTATE"
    query = jobs.create(operation="query", query="SELECT Id FROM Account")
    response = jobs.call("PATCH", f"query/{query['id']}", json={"state": "Aborted"})
    if response.status_code == 200:
        assert response.json()["state"] == "Aborted"
        assert jobs.call("GET", f"query/{query['id']}/results").json()[0]["errorCode"] == "INVALIDJOBSTATE"
    else:  # the query finished first
        assert response.json()[0]["errorCode"] == "INVALIDJOBSTATE"
    assert jobs.call("DELETE", f"query/{query['id']}").status_code == 204


def test_ingest_errors(jobs: Jobs) -> None:
    unknown = jobs.call("POST", "ingest", json={"object": "Nope__c", "operation": "insert"})
    assert unknown.status_code == 400 and unknown.json() == [{"errorCode": "INVALIDJOB",
                                                             "message": "Unable to find object: Nope__c"}]
    no_key = jobs.call("POST", "ingest", json={"object": "Account", "operation": "upsert"})
    assert no_key.json()[0]["errorCode"] == "INVALIDJOB" and "External ID was blank" in no_key.json()[0]["message"]
    bad_op = jobs.call("POST", "ingest", json={"object": "Account", "operation": "merge"})
    assert bad_op.status_code == 400 and bad_op.json()[0]["errorCode"] == "JSON_PARSER_ERROR"

    twice = jobs.create(object="Account", operation="insert")
    assert jobs.upload(twice["id"], "Name\nA\n").status_code == 201
    assert jobs.upload(twice["id"], "Name\nB\n").status_code == 201
    closed = jobs.close(twice["id"])
    assert closed.status_code == 400 and closed.json()[0]["errorCode"] == "INVALIDJOB"
    assert closed.json()[0]["message"].startswith("Found multipe contents for job")

    done = jobs.ingest("Name\nC\n", object="Account", operation="insert")
    late = jobs.upload(done["id"], "Name\nD\n")
    assert late.status_code == 409 and late.json()[0]["errorCode"] == "INVALIDJOBSTATE"

    bad_header = jobs.ingest("Name,Nope__c\nA,1\n", object="Account", operation="insert")
    assert bad_header["state"] == "Failed"
    assert bad_header["errorMessage"] == "InvalidBatch : Field name not found : Nope__c"
    unprocessed = jobs.call("GET", f"ingest/{bad_header['id']}/unprocessedrecords/").text
    assert rows(unprocessed) == [{"Name": "A", "Nope__c": "1"}]
    malformed = jobs.ingest('Name\n"unterminated\n', object="Account", operation="insert")
    assert malformed["state"] == "Failed" and malformed["errorMessage"].startswith("InvalidBatch : Failed to parse CSV")
    ragged = jobs.ingest("Name,Phone\nA\n", object="Account", operation="insert")
    assert ragged["state"] == "Failed" and "columns" in ragged["errorMessage"]
    wrong_ending = jobs.ingest("Name\r\nA\r\n", object="Account", operation="insert")
    assert wrong_ending["errorMessage"].startswith("ClientInputError : LineEnding is invalid")
    delete_extra = jobs.ingest("Id,Name\n001000000000001AAA,A\n", object="Account", operation="delete")
    assert delete_extra["errorMessage"] == "InvalidBatch : The 'delete' batch must contain only ids"
    missing = jobs.call("GET", "ingest/750000000000000AAA")
    assert missing.status_code == 404 and missing.json()[0]["errorCode"] == "NOT_FOUND"


def test_query_errors_and_raw_paging(jobs: Jobs, sf: Any) -> None:
    count = jobs.call("POST", "query", json={"operation": "query", "query": "SELECT COUNT() FROM Account"})
    assert count.status_code == 400 and count.json()[0]["errorCode"] == "INVALIDJOB"
    bad_field = jobs.call("POST", "query", json={"operation": "query", "query": "SELECT Nope FROM Account"})
    assert bad_field.status_code == 400 and bad_field.json()[0]["errorCode"] == "INVALID_FIELD"
    sf.bulk2.Account.insert(records=accounts(5), wait=WAIT)
    job = jobs.create(operation="query", query="SELECT Name FROM Account ORDER BY Name")
    assert job["state"] == "UploadComplete" and job["object"] == "Account"
    info, _ = jobs.wait("query", job["id"])
    assert info["state"] == "JobComplete" and info["numberRecordsProcessed"] == 5 and info["jobType"] == "V2Query"
    names, locator = [], ""
    while True:
        params = {"maxRecords": "2", **({"locator": locator} if locator else {})}
        page = jobs.call("GET", f"query/{job['id']}/results", params=params)
        assert page.headers["Content-Type"].startswith("text/csv")
        names += [r["Name"] for r in rows(page.text)]
        assert int(page.headers["Sforce-NumberOfRecords"]) == len(rows(page.text))
        locator = page.headers["Sforce-Locator"]
        if locator == "null":
            break
    assert names == [f"Account {i}" for i in range(5)]
    bad = jobs.call("GET", f"query/{job['id']}/results", params={"locator": "garbage!"})
    assert bad.status_code == 400
    assert job["id"] in {r["id"] for r in jobs.call("GET", "query").json()["records"]}


def test_session_and_api_counters(jobs: Jobs, sf_emulator: RunningEmulator, http: requests.Session, api: str) -> None:
    anonymous = http.post(f"{api}/jobs/ingest", json={"object": "Account", "operation": "insert"}, timeout=10)
    assert anonymous.status_code == 401 and anonymous.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    before = sf_emulator.control("GET", "counters")["by_endpoint"]
    used_before = _used(jobs.call("GET", "ingest"))
    info = jobs.ingest("Name\nCounted\n", object="Account", operation="insert")
    jobs.call("GET", f"ingest/{info['id']}/successfulResults/")
    used_after = _used(jobs.call("GET", "ingest"))
    after = sf_emulator.control("GET", "counters")["by_endpoint"]
    grown = {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}
    polls = grown.pop("bulk2.ingest.get")
    assert grown == {"bulk2.ingest.create": 1, "bulk2.ingest.upload": 1, "bulk2.ingest.state": 1,
                     "bulk2.ingest.results": 1, "bulk2.ingest.list": 2}
    assert used_after - used_before == 5 + polls


def _used(response: requests.Response) -> int:
    return int(response.headers["Sforce-Limit-Info"].split("=")[1].split("/")[0])


@pytest.fixture(scope="module")
def small_cap_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    mp = pytest.MonkeyPatch()
    mp.setenv("TANDEM_SF_BULK_MAX_UPLOAD_BYTES", "1000")
    try:
        emulator = start_emulator("salesforce", tmp_path_factory.mktemp("sf-cap"))
    finally:
        mp.undo()
    try:
        yield emulator
    finally:
        emulator.stop()


def test_upload_over_the_size_cap(small_cap_emulator: RunningEmulator) -> None:
    sf = make_salesforce(small_cap_emulator)
    with small_cap_emulator.session() as http:
        jobs = Jobs(http, f"{small_cap_emulator.base_url}/services/data/v59.0", sf.session_id)
        job = jobs.create(object="Account", operation="insert")
        response = jobs.upload(job["id"], "Name\n" + "x" * 2000 + "\n")
        assert response.status_code == 400 and response.json()[0]["errorCode"] == "INVALIDBATCH"
        assert jobs.upload(job["id"], "Name\nsmall\n").status_code == 201
