"""API usage counting, the daily limit, endpoint counters and fault injection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce.exceptions import SalesforceGeneralError, SalesforceRefusedRequest

from tests.salesforce_emulator.conftest import error_body, make_salesforce, rest_headers
from tests.support.emulator import RunningEmulator, running_emulator


def test_limit_info_header_and_limits_resource(sf: Any, http: requests.Session, api: str) -> None:
    first = http.get(f"{api}/limits", headers=rest_headers(sf), timeout=10)
    used, maximum = (int(n) for n in first.headers["Sforce-Limit-Info"].removeprefix("api-usage=").split("/"))
    assert maximum == 1_000_000 and used >= 1
    assert first.json()["DailyApiRequests"] == {"Max": maximum, "Remaining": maximum - used}
    second = http.get(f"{api}/sobjects", headers=rest_headers(sf), timeout=10)
    assert second.headers["Sforce-Limit-Info"] == f"api-usage={used + 1}/{maximum}"
    sf.limits()
    assert sf.api_usage["api-usage"].used == used + 2


def test_counters_name_endpoints(sf: Any, sf_emulator: RunningEmulator) -> None:
    sf_emulator.control("DELETE", "counters")
    created = sf.Account.create({"Name": "Counted"})["id"]
    sf.Account.get(created)
    sf.restful("composite/sobjects/Account/ERP_Id__c", method="PATCH",
               json={"records": [{"attributes": {"type": "Account"}, "Name": "x", "ERP_Id__c": "K-1"}]})
    counts = sf_emulator.control("GET", "counters")["by_endpoint"]
    assert counts["sobject.create"] == 1 and counts["sobject.get"] == 1 and counts["collections.upsert"] == 1


def test_daily_limit_is_enforced(tmp_path: Path) -> None:
    with running_emulator("salesforce", tmp_path / "sf", "--api-limit", "5") as emulator:
        sf = make_salesforce(emulator)
        for _ in range(5):
            sf.limits()
        with pytest.raises(SalesforceRefusedRequest) as failure:
            sf.limits()
        assert error_body(failure) == [
            {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
        emulator.control("POST", "clock", json={"advance_seconds": 24 * 3600 + 1})
        assert sf.limits()["DailyApiRequests"]["Remaining"] == 4


def fault(emulator: RunningEmulator, **rule: object) -> None:
    emulator.control("POST", "faults", json=rule)


def test_http_faults_have_salesforce_bodies(sf: Any, sf_emulator: RunningEmulator) -> None:
    fault(sf_emulator, pattern="limits", kind="http_503", count=1)
    with pytest.raises(SalesforceGeneralError) as failure:
        sf.limits()
    assert failure.value.status == 503
    assert error_body(failure)[0]["errorCode"] == "SERVER_UNAVAILABLE"
    fault(sf_emulator, pattern="limits", kind="http_500", count=1)
    with pytest.raises(SalesforceGeneralError) as failure:
        sf.limits()
    assert failure.value.status == 500
    assert error_body(failure)[0]["errorCode"] == "UNKNOWN_EXCEPTION"
    assert sf.limits()["DailyApiRequests"]["Max"] > 0


def test_reset_and_latency_faults(sf: Any, sf_emulator: RunningEmulator) -> None:
    fault(sf_emulator, pattern="sobject.get", kind="reset", count=1)
    created = sf.Account.create({"Name": "Reset"})["id"]
    with pytest.raises(requests.exceptions.ConnectionError):
        sf.Account.get(created)
    fault(sf_emulator, pattern="sobject.get", kind="latency", latency_ms=300, count=1)
    import time

    started = time.monotonic()
    assert sf.Account.get(created)["Name"] == "Reset"
    assert time.monotonic() - started >= 0.3


def test_commit_then_drop_keeps_the_write(sf: Any, sf_emulator: RunningEmulator) -> None:
    fault(sf_emulator, pattern="collections.upsert", kind="commit_then_drop", count=1)
    records = [{"attributes": {"type": "Account"}, "Name": "Dropped reply", "ERP_Id__c": "CTD-1"}]
    with pytest.raises(requests.exceptions.ConnectionError):
        sf.restful("composite/sobjects/Account/ERP_Id__c", method="PATCH", json={"records": records})
    assert sf.Account.get_by_custom_id("ERP_Id__c", "CTD-1")["Name"] == "Dropped reply"
    again = sf.restful("composite/sobjects/Account/ERP_Id__c", method="PATCH", json={"records": records})
    assert again[0]["created"] is False


def test_faults_from_the_command_line(tmp_path: Path) -> None:
    with running_emulator("salesforce", tmp_path / "sf", "--fault", "login.soap=http_500,count=1") as emulator:
        from simple_salesforce import SalesforceAuthenticationFailed

        with pytest.raises(SalesforceAuthenticationFailed) as failure:
            make_salesforce(emulator)
        assert failure.value.code == "UNKNOWN_EXCEPTION"
        assert make_salesforce(emulator).session_id
