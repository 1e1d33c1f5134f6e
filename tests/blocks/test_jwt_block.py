"""SalesforceCredentials with the OAuth 2.0 JWT bearer flow, against the Salesforce emulator over HTTPS.

A throwaway RSA key and self-signed certificate are made for the session; the certificate is uploaded
to the emulator's demo connected app with ``--connected-app-cert``, as an admin uploads it in Setup.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from blocks.salesforce import SalesforceCredentials
from tandem.errors import FatalSyncError, SyncError, is_retryable
from tandem.salesforce.jwt_bearer import jwt_bearer_assertion
from tests.support.emulator import RunningEmulator, start_emulator
from tests.support.jwt_keys import KeyPair, make_key_pair

SESSION_SECONDS = 4


@pytest.fixture(scope="module")
def keys() -> KeyPair:
    """The key pair whose certificate the connected app holds."""
    return make_key_pair("tandem-block-test")


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory, keys: KeyPair) -> Iterator[RunningEmulator]:
    """An emulator whose connected app has ``keys``' certificate; sessions expire after 4 idle seconds."""
    data = tmp_path_factory.mktemp("crm-jwt")
    certificate = data / "connected-app.crt"
    certificate.write_text(keys.certificate_pem)
    emulator = start_emulator("salesforce", data, "--connected-app-cert", str(certificate),
                              "--session-seconds", str(SESSION_SECONDS))
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def fresh(crm: RunningEmulator) -> RunningEmulator:
    """The emulator with its clock at real time and its call counters at zero."""
    crm.control("POST", "clock", json={"reset": True})
    crm.control("DELETE", "counters")
    return crm


def jwt_block(crm: RunningEmulator, keys: KeyPair, **overrides: Any) -> SalesforceCredentials:
    """A block logging in to ``crm`` with the JWT bearer flow."""
    info = crm.info
    fields: dict[str, Any] = {
        "login_host": info["login_url"], "username": info["username"], "client_id": SecretStr(info["client_id"]),
        "private_key": SecretStr(keys.private_key_pem), "ca_bundle_path": crm.ca_cert,
        "api_version": info["api_version"],
    }
    return SalesforceCredentials(**{**fields, **overrides})


def key_body(keys: KeyPair) -> str:
    """The base64 lines of the private key (what must never be shown)."""
    return "".join(line for line in keys.private_key_pem.splitlines() if not line.startswith("-----"))


def token_calls(crm: RunningEmulator) -> int:
    """How many times the OAuth token endpoint was called since the counters were reset."""
    return int(crm.control("GET", "counters")["by_endpoint"].get("oauth.token", 0))


# --- logging in and reading -------------------------------------------------------------------------------------


def test_jwt_block_logs_in_and_its_adapter_reads_records(fresh: RunningEmulator, keys: KeyPair) -> None:
    client = jwt_block(fresh, keys).get_client()
    results = client.upsert_batch("Account", "ERP_Id__c", [{"ERP_Id__c": "JWT-1", "Name": "JWT Reader Ltd"}])
    assert [r.error_code for r in results] == [None]
    records = client.read_by_keys("Account", "ERP_Id__c", ["JWT-1"], fields=["Name"])
    assert records["Name"].tolist() == ["JWT Reader Ltd"]
    assert token_calls(fresh) == 1


def test_jwt_block_reads_the_key_from_a_file(fresh: RunningEmulator, keys: KeyPair, tmp_path: Path) -> None:
    pem = tmp_path / "integration.key"
    pem.write_text(keys.private_key_pem)
    block = jwt_block(fresh, keys, private_key=None, private_key_path=str(pem))
    assert block.login().query("SELECT Id FROM User")["totalSize"] >= 1


def test_an_expired_session_logs_in_again_with_a_new_assertion(fresh: RunningEmulator, keys: KeyPair) -> None:
    client = jwt_block(fresh, keys).get_client()
    client.sf.query("SELECT Id FROM User")
    time.sleep(SESSION_SECONDS + 1)
    assert client.sf.session_id  # the old, now expired, session
    records = client.read_by_keys("User", "Username", [fresh.info["username"]], fields=["Username"])
    assert records["Username"].tolist() == [fresh.info["username"]]
    assert token_calls(fresh) == 2


def test_a_sandbox_block_sends_the_test_audience(fresh: RunningEmulator, keys: KeyPair) -> None:
    with pytest.raises(FatalSyncError) as caught:
        jwt_block(fresh, keys, sandbox=True).get_client()  # the emulator is a production org
    assert caught.value.code == "invalid_grant"
    assert "audience is invalid" in str(caught.value)
    assert "use login_host test (or sandbox=True) for a sandbox" in str(caught.value)


# --- bad logins: Salesforce's error, a clear message, no retry ---------------------------------------------------


@pytest.mark.parametrize(
    ("case", "code", "fragments"),
    [
        ("wrong key", "invalid_grant", ["invalid assertion", "does not verify against the certificate"]),
        ("expired assertion", "invalid_grant", ["expired authorization code", "check this machine's clock"]),
        ("unknown user", "invalid_grant", ["user hasn't approved this consumer", "Admin approved users are pre"]),
        ("unknown consumer key", "invalid_client_id", ["client identifier invalid", "client_id is not the consumer"]),
    ],
)
def test_bad_jwt_logins_fail_once_with_salesforces_error(
    fresh: RunningEmulator, keys: KeyPair, case: str, code: str, fragments: list[str],
) -> None:
    cases: dict[str, dict[str, Any]] = {
        "wrong key": {"private_key": SecretStr(make_key_pair("stranger").private_key_pem)},
        "expired assertion": {},
        "unknown user": {"username": "nobody@tandem.example"},
        "unknown consumer key": {"client_id": SecretStr("3MVG9NotAConnectedApp")},
    }
    overrides = cases[case]
    if case == "expired assertion":
        fresh.control("POST", "clock", json={"advance_seconds": 600})  # Salesforce's clock is 10 minutes ahead
    block = jwt_block(fresh, keys, **overrides)
    with pytest.raises(FatalSyncError) as caught:
        block.get_client()
    error = caught.value
    assert error.code == code
    assert error.system == "crm"
    assert not is_retryable(error)
    for fragment in fragments:
        assert fragment in str(error)
    assert token_calls(fresh) == 1  # one attempt, no retry loop
    assert key_body(keys) not in str(error) and key_body(keys) not in repr(error)


def test_a_bad_login_inside_a_retrying_task_is_not_retried(fresh: RunningEmulator, keys: KeyPair) -> None:
    from tandem.errors import is_retryable as retry_condition

    block = jwt_block(fresh, keys, username="nobody@tandem.example")
    attempts = 0
    failure: SyncError | None = None
    while attempts < 3:  # what Prefect's retry_condition_fn decides for each attempt
        attempts += 1
        try:
            block.get_client()
        except SyncError as exc:
            failure = exc
            if not retry_condition(exc):
                break
    assert attempts == 1 and isinstance(failure, FatalSyncError)
    assert token_calls(fresh) == 1


def test_an_unreadable_key_file_is_a_clear_fatal_error(fresh: RunningEmulator, keys: KeyPair, tmp_path: Path) -> None:
    block = jwt_block(fresh, keys, private_key=None, private_key_path=str(tmp_path / "missing.key"))
    with pytest.raises(FatalSyncError, match="cannot read private_key_path"):
        block.get_client()
    garbage = tmp_path / "garbage.key"
    garbage.write_text("not a key")
    with pytest.raises(FatalSyncError, match="must be an unencrypted PEM RSA private key") as caught:
        jwt_block(fresh, keys, private_key=None, private_key_path=str(garbage)).get_client()
    assert caught.value.code == "INVALID_AUTH"
    assert token_calls(fresh) == 0


# --- validation and secret hygiene ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"username": None}, "the JWT bearer flow also needs username"),
        ({"client_id": None}, "the JWT bearer flow also needs client_id"),
        ({"password": SecretStr("x")}, "the JWT bearer flow signs in with the private key alone: remove password"),
        ({"client_secret": SecretStr("x")}, "remove client_secret"),
        ({"private_key_path": "/some/key.pem"}, "give private_key or private_key_path for the JWT bearer flow"),
        ({"private_key": SecretStr("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")},
         "private_key must be an unencrypted PEM RSA private key"),
        ({"jwt_lifetime_seconds": 181}, "jwt_lifetime_seconds must be between 1 and 180"),
        ({"jwt_lifetime_seconds": 0}, "jwt_lifetime_seconds must be between 1 and 180"),
    ],
)
def test_incomplete_jwt_settings_are_refused(keys: KeyPair, overrides: dict[str, Any], fragment: str) -> None:
    fields: dict[str, Any] = {
        "login_host": "https://127.0.0.1:9", "username": "integration@example.com",
        "client_id": SecretStr("3MVG9-client"), "private_key": SecretStr(keys.private_key_pem), **overrides,
    }
    with pytest.raises(ValidationError) as caught:
        SalesforceCredentials(**fields)
    assert fragment in str(caught.value)
    assert key_body(keys) not in str(caught.value)


def test_the_key_never_shows(keys: KeyPair, caplog: pytest.LogCaptureFixture) -> None:
    block = SalesforceCredentials(login_host="https://127.0.0.1:9", username="u@example.com",
                                  client_id=SecretStr("3MVG9-client"), private_key=SecretStr(keys.private_key_pem))
    body = key_body(keys)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("tandem.test").info("block: %s %r", block, block)
    for text in (str(block), repr(block), block.model_dump_json(), caplog.text):
        assert body not in text and "PRIVATE KEY" not in text
    with pytest.raises(ValidationError) as caught:
        plain: dict[str, Any] = {"login_host": "https://127.0.0.1:9", "username": "u@example.com",
                                 "client_id": "3MVG9-client", "private_key": keys.private_key_pem, "page_size": 1}
        SalesforceCredentials(**plain)
    assert body not in str(caught.value) and "PRIVATE KEY" not in str(caught.value)


def test_the_assertion_has_salesforces_claims(keys: KeyPair) -> None:
    import base64
    import json

    assertion = jwt_bearer_assertion(consumer_key="3MVG9-client", username="u@example.com",
                                     audience="https://login.salesforce.com", private_key=keys.private_key_pem.encode(),
                                     lifetime_seconds=120, now=1_800_000_000)
    head, body, _ = assertion.split(".")
    decode = lambda part: json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # noqa: E731
    assert decode(head) == {"alg": "RS256"}
    assert decode(body) == {"iss": "3MVG9-client", "sub": "u@example.com", "aud": "https://login.salesforce.com",
                            "exp": 1_800_000_120}
