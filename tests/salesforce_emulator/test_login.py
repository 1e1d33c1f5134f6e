"""Logins (SOAP and OAuth), session expiry and refresh, and the client transport."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce, SalesforceAuthenticationFailed

from tandem.retrying import NO_RETRY
from tandem.salesforce.transport import DEFAULT_TIMEOUT, LoginRedirectAdapter, TimeoutAdapter, build_session
from tests.salesforce_emulator.conftest import MY_DOMAIN, client_session, make_salesforce
from tests.support.emulator import RunningEmulator


def test_soap_login_gives_a_session_on_the_instance_url(sf_emulator: RunningEmulator) -> None:
    sf = make_salesforce(sf_emulator)
    assert sf.session_id.startswith(sf_emulator.info["org_id"][:15] + "!")
    assert sf.sf_instance == sf_emulator.base_url.removeprefix("https://")
    assert sf.limits()["DailyApiRequests"]["Max"] > 0


def test_soap_login_on_the_test_domain(sf_emulator: RunningEmulator) -> None:
    sf = make_salesforce(sf_emulator, domain="test")
    assert sf.limits()["DailyApiRequests"]["Max"] > 0


@pytest.mark.parametrize("field", ["username", "password", "security_token"])
def test_wrong_credentials_get_invalid_login(sf_emulator: RunningEmulator, field: str) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as failure:
        make_salesforce(sf_emulator, **{field: "wrong"})
    assert failure.value.code == "INVALID_LOGIN"
    assert failure.value.auth_message == "Invalid username, password, security token; or user locked out."


def test_invalid_login_fault_is_salesforces_envelope(sf_emulator: RunningEmulator, http: requests.Session) -> None:
    body = (
        '<?xml version="1.0" encoding="utf-8" ?><env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/">'
        '<env:Body><n1:login xmlns:n1="urn:partner.soap.sforce.com"><n1:username>nobody@example.com</n1:username>'
        "<n1:password>x</n1:password></n1:login></env:Body></env:Envelope>"
    )
    response = http.post(f"{sf_emulator.base_url}/services/Soap/u/59.0", data=body,
                         headers={"Content-Type": "text/xml", "SOAPAction": "login"}, timeout=10)
    assert response.status_code == 500
    assert "<faultcode>sf:INVALID_LOGIN</faultcode>" in response.text
    assert "<sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode>" in response.text


def test_oauth_password_grant(sf_emulator: RunningEmulator) -> None:
    info = sf_emulator.info
    sf: Any = Salesforce(username=info["username"], password=info["password"] + info["security_token"],
                              consumer_key=info["client_id"], consumer_secret=info["client_secret"], domain="login",
                         session=client_session(sf_emulator))
    assert sf.User.get(info["user_id"])["Username"] == info["username"]


def test_oauth_client_credentials_grant(sf_emulator: RunningEmulator) -> None:
    info = sf_emulator.info
    sf = Salesforce(consumer_key=info["client_id"], consumer_secret=info["client_secret"], domain=MY_DOMAIN,
                    session=client_session(sf_emulator))
    described: Any = sf.describe()
    assert described["maxBatchSize"] == 200


def test_oauth_errors_are_salesforces(sf_emulator: RunningEmulator, http: requests.Session) -> None:
    info = sf_emulator.info
    url = f"{sf_emulator.base_url}/services/oauth2/token"
    good = {"grant_type": "password", "client_id": info["client_id"], "client_secret": info["client_secret"],
            "username": info["username"], "password": info["password"] + info["security_token"]}
    assert http.post(url, data=good, timeout=10).json()["instance_url"] == sf_emulator.base_url
    wrong_password = http.post(url, data={**good, "password": "nope"}, timeout=10)
    assert wrong_password.status_code == 400
    assert wrong_password.json() == {"error": "invalid_grant", "error_description": "authentication failure"}
    wrong_secret = http.post(url, data={**good, "client_secret": "nope"}, timeout=10)
    assert wrong_secret.json() == {"error": "invalid_client", "error_description": "invalid client credentials"}
    wrong_client = http.post(url, data={**good, "client_id": "nope"}, timeout=10)
    assert wrong_client.json()["error"] == "invalid_client_id"
    with pytest.raises(SalesforceAuthenticationFailed) as failure:
        Salesforce(username=info["username"], password="nope", consumer_key=info["client_id"],
                   consumer_secret=info["client_secret"], domain="login", session=client_session(sf_emulator))
    assert failure.value.code == "invalid_grant"


def test_expired_session_is_refreshed_by_simple_salesforce(sf_emulator: RunningEmulator, http: requests.Session
                                                           ) -> None:
    sf = make_salesforce(sf_emulator)
    old = sf.session_id
    sf_emulator.control("POST", "clock", json={"advance_seconds": 7201})
    try:
        stale = http.get(f"{sf_emulator.base_url}/services/data/v59.0/limits",
                         headers={"Authorization": f"Bearer {old}"}, timeout=10)
        assert stale.status_code == 401
        assert stale.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
        assert sf.Organization.get(sf_emulator.info["org_id"])["Id"] == sf_emulator.info["org_id"]
        assert sf.limits()["DailyApiRequests"]["Max"] > 0
        assert sf.session_id != old
    finally:
        sf_emulator.control("POST", "clock", json={"reset": True})


def test_missing_or_unknown_token_is_invalid_session(sf_emulator: RunningEmulator, http: requests.Session) -> None:
    url = f"{sf_emulator.base_url}/services/data/v59.0/sobjects"
    for headers in ({}, {"Authorization": "Bearer 00Dnothing!AQxyz"}, {"Authorization": "Basic abc"}):
        response = http.get(url, headers=headers, timeout=10)
        assert response.status_code == 401
        assert response.json()[0]["errorCode"] == "INVALID_SESSION_ID"


def test_transport_session_settings() -> None:
    session = build_session(ca_bundle="/tmp/ca.pem", login_url="https://127.0.0.1:9999")
    assert session.trust_env is False
    assert session.verify == "/tmp/ca.pem"
    login = session.get_adapter("https://login.salesforce.com/services/Soap/u/59.0")
    assert isinstance(login, LoginRedirectAdapter)
    assert isinstance(session.get_adapter("https://test.salesforce.com/x"), LoginRedirectAdapter)
    other = session.get_adapter("https://example.my.salesforce.com/services/data")
    assert isinstance(other, TimeoutAdapter) and not isinstance(other, LoginRedirectAdapter)
    assert other.timeout == DEFAULT_TIMEOUT
    with pytest.raises(ValueError, match="absolute"):
        build_session(login_url="127.0.0.1:8443")


def test_transport_applies_its_default_timeout() -> None:
    session = build_session(login_url="https://127.0.0.1:9", timeout=(0.5, 0.5), retry=NO_RETRY)
    with pytest.raises(requests.exceptions.ConnectionError):
        session.get("https://login.salesforce.com/services/oauth2/token")
