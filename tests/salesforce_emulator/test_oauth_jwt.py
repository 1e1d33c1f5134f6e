"""The emulator's OAuth 2.0 JWT bearer grant, refresh_token grant and UserInfo endpoint, over HTTPS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce

from tests.salesforce_emulator.conftest import client_session
from tests.support.emulator import RunningEmulator
from tests.support.jwt_keys import KeyPair, claims, make_key_pair

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@pytest.fixture(scope="module")
def keys() -> KeyPair:
    """The key pair whose certificate is uploaded to the demo connected app."""
    return make_key_pair("tandem-emulator-test")


@pytest.fixture(scope="module")
def other_keys() -> KeyPair:
    """A key pair Salesforce has never seen."""
    return make_key_pair("someone-else")


@pytest.fixture
def jwt_app(sf_emulator: RunningEmulator, sf: Any, keys: KeyPair) -> Iterator[dict[str, Any]]:
    """A fresh org whose demo connected app has ``keys``' certificate; removed afterwards."""
    registered = sf_emulator.control("POST", "connected-apps", json={"certificate": keys.certificate_pem})
    try:
        yield registered
    finally:
        sf_emulator.control("DELETE", "connected-apps")


def token_url(emulator: RunningEmulator) -> str:
    """The emulator's OAuth token endpoint."""
    return f"{emulator.base_url}/services/oauth2/token"


def post_assertion(http: requests.Session, emulator: RunningEmulator, assertion: str) -> requests.Response:
    """POST a JWT bearer grant request."""
    return http.post(token_url(emulator), data={"grant_type": JWT_GRANT, "assertion": assertion}, timeout=10)


def make_user(sf: Any, login: str, *, active: bool = True) -> str:
    """Create a user ``login@tandem.example`` and return its id."""
    created = sf.User.create({"Username": f"{login}@tandem.example", "LastName": login.title(), "Alias": login[:8],
                              "Email": f"{login}@tandem.example", "IsActive": active})
    return str(created["id"])


# --- the JWT bearer grant ---------------------------------------------------------------------------------------


def test_jwt_bearer_grant_opens_a_session(sf_emulator: RunningEmulator, http: requests.Session,
                                          jwt_app: dict[str, Any], keys: KeyPair) -> None:
    info = sf_emulator.info
    assert jwt_app["has_certificate"] is True
    assert jwt_app["preauthorized_users"] == [info["username"]]
    response = post_assertion(http, sf_emulator, keys.sign(claims(info["client_id"], info["username"])))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "scope", "instance_url", "id", "token_type"}  # no refresh_token
    assert body["token_type"] == "Bearer"
    assert body["instance_url"] == sf_emulator.base_url
    assert body["id"] == f"{sf_emulator.base_url}/id/{info['org_id']}/{info['user_id']}"
    me = http.get(f"{sf_emulator.base_url}/services/data/v59.0/sobjects/User/{info['user_id']}",
                  headers={"Authorization": f"Bearer {body['access_token']}"}, timeout=10)
    assert me.json()["Username"] == info["username"]


def test_jwt_bearer_grant_accepts_the_org_url_as_audience(sf_emulator: RunningEmulator, http: requests.Session,
                                                          jwt_app: dict[str, Any], keys: KeyPair) -> None:
    info = sf_emulator.info
    assertion = keys.sign(claims(info["client_id"], info["username"], aud=sf_emulator.base_url + "/"))
    assert post_assertion(http, sf_emulator, assertion).status_code == 200


def test_jwt_bearer_grant_logs_in_as_the_subject(sf_emulator: RunningEmulator, sf: Any, http: requests.Session,
                                                 keys: KeyPair) -> None:
    info = sf_emulator.info
    user_id = make_user(sf, "jwt.buddy")
    sf_emulator.control("POST", "connected-apps", json={
        "certificate": keys.certificate_pem, "preauthorized_users": [info["username"], "jwt.buddy@tandem.example"]})
    try:
        body = post_assertion(http, sf_emulator, keys.sign(claims(info["client_id"], "jwt.buddy@tandem.example")))
        assert body.json()["id"].endswith(f"/{user_id}")
    finally:
        sf_emulator.control("DELETE", "connected-apps")


def test_simple_salesforce_jwt_login_works_against_the_emulator(sf_emulator: RunningEmulator,
                                                                jwt_app: dict[str, Any], keys: KeyPair) -> None:
    info = sf_emulator.info
    sf: Any = Salesforce(username=info["username"], consumer_key=info["client_id"], privatekey=keys.private_key_pem,
                         domain="login", session=client_session(sf_emulator))
    assert sf.query("SELECT Id FROM User")["totalSize"] >= 1


@pytest.mark.parametrize(
    ("case", "error", "description"),
    [
        ("wrong key", "invalid_grant", "invalid assertion"),
        ("expired", "invalid_grant", "expired authorization code"),
        ("too far ahead", "invalid_grant", "invalid assertion"),
        ("sandbox audience", "invalid_grant", "audience is invalid"),
        ("unknown user", "invalid_grant", "user hasn't approved this consumer"),
        ("unknown consumer key", "invalid_client_id", "client identifier invalid"),
        ("HS256", "invalid_grant", "invalid assertion"),
        ("not a JWT", "invalid_grant", "invalid assertion"),
        ("no subject", "invalid_grant", "invalid assertion"),
    ],
)
def test_jwt_bearer_errors_are_salesforces(sf_emulator: RunningEmulator, http: requests.Session,
                                           jwt_app: dict[str, Any], keys: KeyPair, other_keys: KeyPair,
                                           case: str, error: str, description: str) -> None:
    info = sf_emulator.info
    good = claims(info["client_id"], info["username"])
    assertion = {
        "wrong key": lambda: other_keys.sign(good),
        "expired": lambda: keys.sign({**good, "exp": int(time.time()) - 5}),
        "too far ahead": lambda: keys.sign({**good, "exp": int(time.time()) + 3600}),
        "sandbox audience": lambda: keys.sign({**good, "aud": "https://test.salesforce.com"}),
        "unknown user": lambda: keys.sign({**good, "sub": "nobody@tandem.example"}),
        "unknown consumer key": lambda: keys.sign({**good, "iss": "3MVG9NotAnApp"}),
        "HS256": lambda: keys.sign(good, header={"alg": "HS256"}),
        "not a JWT": lambda: "not-a-jwt",
        "no subject": lambda: keys.sign({k: v for k, v in good.items() if k != "sub"}),
    }[case]()
    response = post_assertion(http, sf_emulator, assertion)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {"error": error, "error_description": description}


def test_a_user_the_admin_has_not_approved_is_refused(sf_emulator: RunningEmulator, sf: Any, http: requests.Session,
                                                      jwt_app: dict[str, Any], keys: KeyPair) -> None:
    info = sf_emulator.info
    make_user(sf, "outsider")
    make_user(sf, "leaver", active=False)
    outsider = post_assertion(http, sf_emulator, keys.sign(claims(info["client_id"], "outsider@tandem.example")))
    assert outsider.json() == {"error": "invalid_app_access",
                               "error_description": "user is not admin approved to access this app"}
    leaver = post_assertion(http, sf_emulator, keys.sign(claims(info["client_id"], "leaver@tandem.example")))
    assert leaver.json() == {"error": "invalid_grant", "error_description": "user hasn't approved this consumer"}


def test_the_emulator_clock_decides_expiry(sf_emulator: RunningEmulator, http: requests.Session,
                                           jwt_app: dict[str, Any], keys: KeyPair) -> None:
    info = sf_emulator.info
    sf_emulator.control("POST", "clock", json={"advance_seconds": 600})
    try:
        response = post_assertion(http, sf_emulator, keys.sign(claims(info["client_id"], info["username"])))
        assert response.json()["error_description"] == "expired authorization code"
    finally:
        sf_emulator.control("POST", "clock", json={"reset": True})


def test_without_a_certificate_or_with_an_expired_one_the_assertion_is_invalid(
    sf_emulator: RunningEmulator, sf: Any, http: requests.Session, keys: KeyPair,
) -> None:
    info = sf_emulator.info
    sf_emulator.control("DELETE", "connected-apps")
    assertion = keys.sign(claims(info["client_id"], info["username"]))
    assert post_assertion(http, sf_emulator, assertion).json()["error_description"] == "invalid assertion"
    old = make_key_pair("expired", not_after=datetime.now(UTC) - timedelta(minutes=5))
    sf_emulator.control("POST", "connected-apps", json={"certificate": old.certificate_pem})
    try:
        response = post_assertion(http, sf_emulator, old.sign(claims(info["client_id"], info["username"])))
        assert response.json() == {"error": "invalid_grant", "error_description": "invalid assertion"}
    finally:
        sf_emulator.control("DELETE", "connected-apps")


def test_connected_app_control_refuses_a_bad_certificate(sf_emulator: RunningEmulator, http: requests.Session
                                                         ) -> None:
    url = f"{sf_emulator.base_url}/__emulator/connected-apps"
    response = http.post(url, json={"certificate": "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----"},
                         timeout=10)
    assert response.status_code == 400
    assert "PEM-encoded X.509 certificate" in response.json()["error"]
    listed = http.get(url, timeout=10).json()["connected_apps"]
    assert listed == [{"consumer_key": sf_emulator.info["client_id"], "has_certificate": False,
                       "certificate_expires": None, "preauthorized_users": [sf_emulator.info["username"]]}]


# --- the refresh_token grant ----------------------------------------------------------------------------------


def test_refresh_token_grant(sf_emulator: RunningEmulator, sf: Any, http: requests.Session) -> None:
    info = sf_emulator.info
    minted = sf_emulator.control("POST", "refresh-tokens", json={})
    assert minted["refresh_token"].startswith("5Aep861")
    form = {"grant_type": "refresh_token", "refresh_token": minted["refresh_token"], "client_id": info["client_id"],
            "client_secret": info["client_secret"]}
    response = http.post(token_url(sf_emulator), data=form, timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "signature", "scope", "instance_url", "id", "token_type", "issued_at"}
    assert body["id"] == f"{sf_emulator.base_url}/id/{info['org_id']}/{info['user_id']}"
    expected = hmac.new(info["client_secret"].encode(), (body["id"] + body["issued_at"]).encode(), hashlib.sha256)
    assert body["signature"] == base64.b64encode(expected.digest()).decode()
    limits = http.get(f"{sf_emulator.base_url}/services/data/v59.0/limits",
                      headers={"Authorization": f"Bearer {body['access_token']}"}, timeout=10)
    assert limits.status_code == 200
    without_secret = {k: v for k, v in form.items() if k != "client_secret"}
    assert http.post(token_url(sf_emulator), data=without_secret, timeout=10).status_code == 200  # secret optional


@pytest.mark.parametrize(
    ("change", "error", "description"),
    [
        ({"refresh_token": "5Aep861NotIssued"}, "invalid_grant", "expired access/refresh token"),
        ({"client_secret": "wrong"}, "invalid_client", "invalid client credentials"),
        ({"client_id": "3MVG9NotAnApp"}, "invalid_client_id", "client identifier invalid"),
    ],
)
def test_refresh_token_errors_are_salesforces(sf_emulator: RunningEmulator, sf: Any, http: requests.Session,
                                              change: dict[str, str], error: str, description: str) -> None:
    info = sf_emulator.info
    minted = sf_emulator.control("POST", "refresh-tokens", json={})
    form = {"grant_type": "refresh_token", "refresh_token": minted["refresh_token"], "client_id": info["client_id"],
            "client_secret": info["client_secret"], **change}
    response = http.post(token_url(sf_emulator), data=form, timeout=10)
    assert response.status_code == 400
    assert response.json() == {"error": error, "error_description": description}


def test_password_grant_issues_no_refresh_token(sf_emulator: RunningEmulator, http: requests.Session) -> None:
    info = sf_emulator.info
    form = {"grant_type": "password", "client_id": info["client_id"], "client_secret": info["client_secret"],
            "username": info["username"], "password": info["password"] + info["security_token"]}
    assert "refresh_token" not in http.post(token_url(sf_emulator), data=form, timeout=10).json()


def test_unknown_grant_type_is_unsupported(sf_emulator: RunningEmulator, http: requests.Session) -> None:
    response = http.post(token_url(sf_emulator), data={"grant_type": "authorization_code", "code": "x"}, timeout=10)
    assert response.json() == {"error": "unsupported_grant_type", "error_description": "grant type not supported"}


# --- UserInfo -------------------------------------------------------------------------------------------------


def test_userinfo_answers_the_tokens_user(sf_emulator: RunningEmulator, sf: Any, http: requests.Session) -> None:
    info = sf_emulator.info
    url = f"{sf_emulator.base_url}/services/oauth2/userinfo"
    got = http.get(url, headers={"Authorization": f"Bearer {sf.session_id}"}, timeout=10)
    assert got.status_code == 200
    body = got.json()
    assert body["sub"] == f"{sf_emulator.base_url}/id/{info['org_id']}/{info['user_id']}"
    assert body["user_id"] == info["user_id"]
    assert body["organization_id"] == info["org_id"]
    assert body["preferred_username"] == info["username"]
    assert body["email"] == info["username"]
    assert body["name"] == "Integration User"
    assert (body["given_name"], body["family_name"]) == ("Integration", "User")
    assert body["active"] is True
    assert body["urls"]["rest"] == f"{sf_emulator.base_url}/services/data/v{{version}}/"
    posted = http.post(url, data={"access_token": sf.session_id}, timeout=10)
    assert posted.json()["user_id"] == info["user_id"]
    assert sf_emulator.control("GET", "counters")["by_endpoint"]["oauth.userinfo"] == 2


def test_userinfo_refuses_a_bad_token(sf_emulator: RunningEmulator, sf: Any, http: requests.Session) -> None:
    url = f"{sf_emulator.base_url}/services/oauth2/userinfo"
    for headers in ({}, {"Authorization": "Bearer 00Dnothing!AQxyz"}):
        response = http.get(url, headers=headers, timeout=10)
        assert response.status_code == 403
        assert response.text == "Bad_OAuth_Token"
