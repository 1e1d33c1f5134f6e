"""The emulator's query jobs as Salesforce documents them, and the reader's guard on the order of results."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tandem.errors import FatalSyncError
from tandem.salesforce.adapter import records_to_frame
from tandem.salesforce.bulk_query import BulkQueryReader
from tests.salesforce_bulk_query.conftest import adapter
from tests.support.emulator import RunningEmulator


def finished_job(emulator: RunningEmulator, soql: str) -> tuple[Any, str]:
    """A client of ``emulator`` and the id of a completed query job running ``soql``."""
    sf = adapter(emulator).sf
    job = sf.restful("jobs/query", method="POST", json={"operation": "query", "query": soql})
    assert job is not None
    for _ in range(100):
        info = sf.restful(f"jobs/query/{job['id']}", method="GET")
        if info is not None and info["state"] == "JobComplete":
            return sf, str(job["id"])
        time.sleep(0.05)
    raise AssertionError("the query job did not complete")


def test_results_are_handed_out_only_under_the_jobs_api_version(org: RunningEmulator) -> None:
    sf, job_id = finished_job(org, "SELECT Id, Name FROM Account ORDER BY SystemModstamp, Id")
    same = sf.session.get(f"{sf.base_url}jobs/query/{job_id}/results", headers=sf.headers,
                          params={"maxRecords": "5"}, timeout=30)
    assert same.status_code == 200 and same.headers["Sforce-NumberOfRecords"] == "5"
    assert same.text.splitlines()[0] == '"Id","Name"'

    other = sf.base_url.replace(f"/v{sf.sf_version}/", "/v58.0/")
    refused = sf.session.get(f"{other}jobs/query/{job_id}/results", headers=sf.headers, timeout=30)
    assert refused.status_code == 409 and refused.json()[0]["errorCode"] == "INVALIDREQUEST"


def test_results_out_of_systemmodstamp_order_stop_the_read_loudly(org: RunningEmulator) -> None:
    client = adapter(org)
    first = client.read_changed_since("Account", None, fields=["Name"], page_size=200)
    oldest = str(next(first)["id"].iloc[0])
    assert all(r.ok for r in client.update_batch("Account", [{"id": oldest, "Name": "Touched last"}]))
    # without ORDER BY the emulator answers in creation order: the touched account is first, yet the newest
    _, job_id = finished_job(org, "SELECT Id, SystemModstamp, Name FROM Account")
    reader = BulkQueryReader(client._call, client._described, records_to_frame, timeout=30)
    frames = reader._frames(job_id, ["Name"], reader._column_types("Account", ["Id", "SystemModstamp", "Name"]),
                            page_size=200, skip=frozenset(), total=None)

    with pytest.raises(FatalSyncError) as raised:
        list(frames)
    assert raised.value.code == "BULK_QUERY_UNORDERED"
