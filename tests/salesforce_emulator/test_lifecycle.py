"""Persistence across restarts, --reset, sandbox orgs, the demo seed, and garbage input."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce.exceptions import SalesforceResourceNotFound

from tests.salesforce_emulator.conftest import make_salesforce, rest_headers
from tests.support.emulator import RunningEmulator, running_emulator, start_emulator


def test_ready_file_has_what_clients_need(sf_emulator: RunningEmulator) -> None:
    info = json.loads((sf_emulator.data_dir / "server.json").read_text())
    for key in ("base_url", "ca_cert", "instance_url", "login_url", "username", "password", "security_token",
                "client_id", "client_secret", "org_id", "is_sandbox", "api_version"):
        assert info[key] not in (None, ""), key
    assert Path(info["ca_cert"]).exists()
    assert info["org_id"].startswith("00D") and info["is_sandbox"] is False
    log = sf_emulator.log_path.read_text()
    assert info["ca_cert"] in log and info["security_token"] in log


def test_records_survive_a_restart_and_reset_wipes_them(tmp_path: Path) -> None:
    data = tmp_path / "sf"
    emulator = start_emulator("salesforce", data)
    try:
        created = make_salesforce(emulator).Account.create({"Name": "Persistent", "ERP_Id__c": "KEEP-1"})["id"]
    finally:
        emulator.stop()
    emulator = start_emulator("salesforce", data)
    try:
        sf = make_salesforce(emulator)
        assert sf.Account.get(created)["Name"] == "Persistent"
        second = sf.Account.create({"Name": "After restart"})["id"]
        assert second != created
    finally:
        emulator.stop()
    with running_emulator("salesforce", data, "--reset") as emulator, pytest.raises(SalesforceResourceNotFound):
        make_salesforce(emulator).Account.get(created)


def test_sandbox_org(tmp_path: Path) -> None:
    with running_emulator("salesforce", tmp_path / "sf", "--org-type", "sandbox") as emulator:
        assert emulator.info["is_sandbox"] is True
        sf = make_salesforce(emulator, domain="test")
        assert sf.is_sandbox() is True
        org = sf.query("SELECT Id, Name, IsSandbox, OrganizationType, InstanceName FROM Organization")["records"][0]
        assert org["IsSandbox"] is True and org["OrganizationType"] == "Developer Edition"


def seeded_snapshot(sf: Any) -> dict[str, list[tuple[str, str]]]:
    snapshot = {}
    for obj, field in (("Account", "Name"), ("Contact", "Email"), ("Task", "Subject"), ("Product2", "Name")):
        records = sf.query_all(f"SELECT Id, {field} FROM {obj} ORDER BY Id")["records"]
        snapshot[obj] = [(r["Id"], r[field]) for r in records]
    return snapshot


def test_demo_seed_shape_and_determinism(sf_emulator: RunningEmulator, sf_client: Any) -> None:
    try:
        counts = sf_emulator.control("POST", "reset", json={"seed": "demo"})["counts"]
        assert counts["Account"] == 300 and counts["Task"] == 1000
        assert counts["Contact"] >= 300 and counts["User"] >= 10
        for obj in ("Product2", "Pricebook2", "PricebookEntry", "CurrencyType", "Opportunity", "Order",
                    "ERP_Invoice__c", "ERP_Contract__c", "ERP_Sales_Order__c", "ERP_Payment_Term__c",
                    "ERP_Location__c", "ERP_Unit_Group__c", "ERP_Price_Group__c"):
            assert counts[obj] > 0, obj
        tasks = sf_client.query_all("SELECT Status, Priority, IsClosed FROM Task")["records"]
        assert Counter(t["Status"] for t in tasks).keys() == {
            "Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"}
        assert set(Counter(t["Priority"] for t in tasks)) == {"High", "Normal", "Low"}
        assert all(t["IsClosed"] == (t["Status"] == "Completed") for t in tasks)
        first = seeded_snapshot(sf_client)
        sf_emulator.control("POST", "reset", json={"seed": "demo"})
        assert seeded_snapshot(sf_client) == first
    finally:
        sf_emulator.control("POST", "reset", json={})


GARBAGE = [b"", b"{", b"[]", b"null", b"\xff\xfe", b'{"records": "x"}', b'{"records": [1, 2]}',
           b'{"compositeRequest": [{"url": 5}]}', b'{"Name": {"a": 1}}', b'{"allOrNone": true, "records": [{}]}',
           b'{"ids": 3, "fields": null}']
PATHS = ["sobjects/Account", "sobjects/Account/0015g0000000001AAA", "sobjects/Account/ERP_Id__c/X-1",
         "composite/sobjects", "composite/sobjects/Account/ERP_Id__c", "composite/sobjects/Account", "composite",
         "query?q=%00", "queryAll?q=SELECT", "query?q=SELECT+Id+FROM+Account+WHERE+Name+%3D",
         "sobjects/Task/updated/?start=x&end=y", "sobjects/%20/describe",
         "sobjects/Account/deleted/?start=2020-01-01T00:00:00Z", "query/01g-x", "limits", "nothing/here"]


def test_no_route_answers_a_bare_500(sf: Any, http: requests.Session, api: str) -> None:
    headers = rest_headers(sf)
    for path in PATHS:
        for method in ("GET", "POST", "PATCH", "DELETE"):
            for body in GARBAGE:
                response = http.request(method, f"{api}/{path}", data=body, headers=headers, timeout=10)
                assert response.status_code < 500, (method, path, body, response.text)
                if response.status_code >= 400:
                    errors = response.json()
                    assert isinstance(errors, list) and {"message", "errorCode"} <= set(errors[0]), (
                        method, path, body, response.text)
