"""PK chunking (``Sforce-Enable-PKChunking``) and the JSON-job, CSV-data query flow tap-salesforce's BULK mode uses."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from typing import Any

from tests.salesforce_bulk1.conftest import NS, AsyncApi, rest_ids


def seed_accounts(sf: Any, n: int) -> None:
    records = [{"attributes": {"type": "Account"}, "Name": f"Chunk {i}", "NumberOfEmployees": i} for i in range(n)]
    for start in range(0, n, 200):
        results = sf.restful("composite/sobjects", method="POST",
                             json={"allOrNone": True, "records": records[start:start + 200]})
        assert all(r["success"] for r in results)


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def query_results(api: AsyncApi, job_id: str, batch_id: str) -> list[dict[str, str]]:
    """The records of a finished CSV query batch, through its ``result-list``."""
    listing = ET.fromstring(api.call("GET", f"job/{job_id}/batch/{batch_id}/result").content)
    assert listing.tag == f"{{{NS}}}result-list"
    rows: list[dict[str, str]] = []
    for result in listing:
        response = api.call("GET", f"job/{job_id}/batch/{batch_id}/result/{result.text}")
        assert response.headers["Content-Type"] == "text/csv"
        rows.extend(csv_rows(response.text))
    return rows


def create_json_job(api: AsyncApi, body: dict[str, Any], **headers: str) -> str:
    """Create a job with a JSON body, as tap-salesforce does; return its id."""
    response = api.call("POST", "job", body=json.dumps(body), content_type="application/json",
                        headers={"Sforce-Disable-Batch-Retry": "true", **headers})
    assert response.status_code == 201, response.text
    assert response.headers["Content-Type"] == "application/json"
    return str(response.json()["id"])


def test_pk_chunking_splits_the_query_by_id(async_api: AsyncApi, sf: Any) -> None:
    seed_accounts(sf, 25)
    job_id = create_json_job(async_api, {"operation": "queryAll", "object": "Account", "contentType": "CSV"},
                             **{"Sforce-Enable-PKChunking": "true; chunkSize=10"})
    original = async_api.add_batch(job_id, "SELECT Id, Name FROM Account WHERE NumberOfEmployees >= 3")
    batches = async_api.wait_all(job_id)
    assert batches[0]["id"] == original["id"] and batches[0]["state"] == "NotProcessed"
    chunks = batches[1:]
    assert [b["state"] for b in chunks] == ["Completed"] * 3
    requests = [async_api.call("GET", f"job/{job_id}/batch/{b['id']}/request").text for b in chunks]
    assert "Id >= '" in requests[0] and "Id < '" in requests[0] and "Id < '" not in requests[-1]
    assert all("(NumberOfEmployees >= 3)" in text for text in requests)
    rows = [row for b in chunks for row in query_results(async_api, job_id, b["id"])]
    assert len(rows) == 22
    assert {row["Id"] for row in rows} == rest_ids(sf, "SELECT Id FROM Account WHERE NumberOfEmployees >= 3")
    # Ids follow creation order: chunks of 10 ids hold employees 0-9 (7 match), 10-19 (10) and 20-24 (5).
    assert [int(b["numberRecordsProcessed"]) for b in chunks] == [7, 10, 5]
    job = async_api.call("POST", f"job/{job_id}", body=json.dumps({"state": "Closed"}),
                         content_type="application/json").json()
    assert (job["numberBatchesCompleted"], job["numberBatchesTotal"], job["numberRecordsProcessed"]) == (3, 4, 22)


def test_pk_chunking_start_row_and_unchunkable_queries(async_api: AsyncApi, sf: Any) -> None:
    seed_accounts(sf, 6)
    ids = sorted(rest_ids(sf, "SELECT Id FROM Account"))
    job_id = create_json_job(async_api, {"operation": "query", "object": "Account", "contentType": "CSV"},
                             **{"Sforce-Enable-PKChunking": f"chunkSize=4; startRow={ids[3][:15]}"})
    async_api.add_batch(job_id, "SELECT Id FROM Account")
    batches = async_api.wait_all(job_id)
    assert [b["state"] for b in batches] == ["NotProcessed", "Completed"]
    assert {row["Id"] for row in query_results(async_api, job_id, batches[1]["id"])} == set(ids[3:])

    ordered_job = create_json_job(async_api, {"operation": "query", "object": "Account", "contentType": "CSV"},
                                  **{"Sforce-Enable-PKChunking": "true"})
    batch = async_api.add_batch(ordered_job, "SELECT Id FROM Account ORDER BY Name")
    info, _ = async_api.wait(ordered_job, batch["id"])
    assert info["state"] == "Failed" and "PK chunking" in info["stateMessage"]


def test_tap_salesforce_style_query_without_chunking(async_api: AsyncApi, sf: Any) -> None:
    seed_accounts(sf, 3)
    job_id = create_json_job(async_api, {"operation": "queryAll", "object": "Account", "contentType": "CSV"})
    batch = async_api.add_batch(job_id, "SELECT Id, Name, CreatedDate FROM Account ORDER BY Id")
    info, seen = async_api.wait(job_id, batch["id"])
    assert seen[-1] == "Completed" and info["numberRecordsProcessed"] == "3"
    rows = query_results(async_api, job_id, batch["id"])
    assert [row["Id"] for row in rows] == sorted(rest_ids(sf, "SELECT Id FROM Account"))
    assert all(row["CreatedDate"].endswith("Z") and "T" in row["CreatedDate"] for row in rows)
