"""Fixtures: one Salesforce emulator for the Bulk API 1.0 tests, logged-in clients, and raw-HTTP helpers."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from salesforce_bulk import SalesforceBulk

from tests.salesforce_emulator.conftest import sf, sf_client, sf_emulator
from tests.support.emulator import RunningEmulator

API_VERSION = "59.0"
NS = "http://www.force.com/2009/06/asyncapi/dataload"
FINISHED = {"Completed", "Failed", "NotProcessed"}

__all__ = ["sf", "sf_client", "sf_emulator"]


@pytest.fixture
def bulk(sf: Any, sf_emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> SalesforceBulk:
    """The ``salesforce-bulk`` client on the SOAP session; its bare ``requests`` calls trust the emulator's CA."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sf_emulator.ca_cert))
    return SalesforceBulk(sessionId=sf.session_id, host=sf_emulator.base_url, API_version=API_VERSION)


def xml_fields(element: ET.Element) -> dict[str, str]:
    """A flat XML element's children by local name."""
    return {child.tag.split("}", 1)[1]: child.text or "" for child in element}


class AsyncApi:
    """Raw ``requests`` calls to ``/services/async/{version}/`` with an ``X-SFDC-Session`` header."""

    def __init__(self, emulator: RunningEmulator, session_id: str) -> None:
        self.http = emulator.session()
        self.base = f"{emulator.base_url}/services/async/{API_VERSION}"
        self.session_id = session_id

    def call(self, method: str, path: str, *, body: bytes | str = b"", content_type: str = "application/xml",
             headers: dict[str, str] | None = None) -> requests.Response:
        sent = {"X-SFDC-Session": self.session_id, "Content-Type": f"{content_type}; charset=UTF-8",
                **(headers or {})}
        data = body.encode() if isinstance(body, str) else body
        return self.http.request(method, f"{self.base}/{path}", data=data, headers=sent, timeout=30)

    def create_job(self, operation: str, obj: str, content_type: str = "CSV", *, extra: str = "",
                   headers: dict[str, str] | None = None) -> ET.Element:
        body = (f'<?xml version="1.0" encoding="UTF-8"?><jobInfo xmlns="{NS}"><operation>{operation}</operation>'
                f"<object>{obj}</object>{extra}<contentType>{content_type}</contentType></jobInfo>")
        response = self.call("POST", "job", body=body, headers=headers)
        assert response.status_code == 201, response.text
        return ET.fromstring(response.content)

    def add_batch(self, job_id: str, data: str | bytes, media: str = "text/csv") -> dict[str, str]:
        response = self.call("POST", f"job/{job_id}/batch", body=data, content_type=media)
        assert response.status_code == 201, response.text
        return xml_fields(ET.fromstring(response.content))

    def batch(self, job_id: str, batch_id: str) -> dict[str, str]:
        response = self.call("GET", f"job/{job_id}/batch/{batch_id}")
        assert response.status_code == 200, response.text
        return xml_fields(ET.fromstring(response.content))

    def batches(self, job_id: str) -> list[dict[str, str]]:
        response = self.call("GET", f"job/{job_id}/batch")
        assert response.status_code == 200, response.text
        return [xml_fields(item) for item in ET.fromstring(response.content)]

    def wait(self, job_id: str, batch_id: str) -> tuple[dict[str, str], list[str]]:
        """Poll the batch until it finishes; return its info and the states seen."""
        seen: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            info = self.batch(job_id, batch_id)
            if not seen or seen[-1] != info["state"]:
                seen.append(info["state"])
            if info["state"] in FINISHED:
                return info, seen
            time.sleep(0.02)
        raise AssertionError(f"batch {batch_id} did not finish: {seen}")

    def wait_all(self, job_id: str) -> list[dict[str, str]]:
        """Poll the job's batches until none is queued or in progress (as tap-salesforce does with PK chunking)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            batches = self.batches(job_id)
            if all(b["state"] in FINISHED for b in batches) and any(b["state"] != "NotProcessed" for b in batches):
                return batches
            time.sleep(0.02)
        raise AssertionError(f"job {job_id} did not finish")


@pytest.fixture
def async_api(sf: Any, sf_emulator: RunningEmulator) -> Iterator[AsyncApi]:
    """Raw Bulk API 1.0 calls with the SOAP session."""
    api = AsyncApi(sf_emulator, sf.session_id)
    try:
        yield api
    finally:
        api.http.close()


def rest_ids(sf: Any, soql: str, *, include_deleted: bool = False) -> set[str]:
    """The 18-character ids the emulator's own REST query returns."""
    return {record["Id"] for record in sf.query_all(soql, include_deleted=include_deleted)["records"]}
