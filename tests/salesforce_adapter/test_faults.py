"""Errors classified at the adapter boundary, under faults injected at the emulator."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import SecretStr

from tandem.errors import FatalSyncError, RetryableSyncError
from tandem.salesforce.adapter import SalesforceAdapter
from tests.salesforce_adapter.conftest import accounts, credentials
from tests.support.emulator import RunningEmulator, start_emulator


def read_all(adapter: SalesforceAdapter) -> int:
    """Read every account; the number read."""
    return sum(len(page) for page in adapter.read_changed_since("Account", None, fields=["Name"]))


@pytest.mark.parametrize(
    ("kind", "code"),
    [("http_503", "SERVER_UNAVAILABLE"), ("http_500", "UNKNOWN_EXCEPTION"), ("http_429", "REQUEST_LIMIT_EXCEEDED")],
)
def test_server_errors_are_retryable(
    adapter: SalesforceAdapter, emulator: RunningEmulator, kind: str, code: str
) -> None:
    emulator.control("POST", "faults", json={"pattern": "query", "kind": kind, "count": 1})

    with pytest.raises(RetryableSyncError) as caught:
        read_all(adapter)

    assert caught.value.system == "crm"
    assert caught.value.code == code, caught.value.code
    assert read_all(adapter) == 0  # the fault was one-off: the next call goes through


def test_connection_reset_is_retryable(adapter: SalesforceAdapter, emulator: RunningEmulator) -> None:
    emulator.control("POST", "faults", json={"pattern": "collections", "kind": "reset", "count": 1})

    with pytest.raises(RetryableSyncError) as caught:
        adapter.upsert_batch("Account", "ERP_Id__c", accounts(2))

    assert caught.value.code == "CONNECTION_ERROR"
    # the retried upsert is idempotent: keyed by the external id
    adapter.upsert_batch("Account", "ERP_Id__c", accounts(2))
    assert read_all(adapter) == 2


def test_latency_beyond_the_read_timeout_is_a_retryable_timeout(emulator: RunningEmulator) -> None:
    adapter = credentials(emulator, read_timeout=0.5).get_client()
    emulator.control("POST", "faults", json={"pattern": "query", "kind": "latency", "latency_ms": 2000, "count": 1})

    with pytest.raises(RetryableSyncError) as caught:
        read_all(adapter)

    assert caught.value.code == "TIMEOUT"


def test_request_limit_exceeded_is_retryable(tmp_path: Path) -> None:
    limited = start_emulator("salesforce", tmp_path / "limited", "--seed", "none", "--api-limit", "5")
    try:
        adapter = credentials(limited).get_client()
        with pytest.raises(RetryableSyncError) as caught:
            for _ in range(20):
                adapter.organization()
    finally:
        limited.stop()
    assert caught.value.code == "REQUEST_LIMIT_EXCEEDED"


def test_bad_credentials_are_fatal_and_name_no_secret(
    emulator: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "Wrong-Password-7731"
    token = emulator.info["security_token"]

    with pytest.raises(FatalSyncError) as caught:
        credentials(emulator, password=SecretStr(wrong)).get_client()

    rendered = f"{caught.value} {caught.value!r} {caught.value.args}"
    assert caught.value.code
    assert wrong not in rendered and token not in rendered
    assert wrong not in caplog.text and token not in caplog.text
    assert caught.value.__cause__ is None  # raised "from None": the client's exception is not chained


def test_an_unavailable_login_is_retryable(emulator: RunningEmulator) -> None:
    emulator.control("POST", "faults", json={"pattern": "Soap", "kind": "http_503", "count": 1})

    with pytest.raises(RetryableSyncError) as caught:
        credentials(emulator).get_client()

    assert caught.value.code == "SERVER_UNAVAILABLE"
    assert credentials(emulator).get_client().organization()[0] == emulator.info["org_id"]


def test_malformed_query_is_fatal(adapter: SalesforceAdapter) -> None:
    with pytest.raises(FatalSyncError) as caught:
        read_all_fields(adapter, ["No_Such_Field__c"])
    assert caught.value.code == "INVALID_FIELD"


def test_unknown_object_is_fatal(adapter: SalesforceAdapter) -> None:
    with pytest.raises(FatalSyncError):
        list(adapter.read_changed_since("No_Such_Object__c", None, fields=["Name"]))


def read_all_fields(adapter: SalesforceAdapter, fields: list[str]) -> int:
    """Read every account with ``fields``."""
    return sum(len(page) for page in adapter.read_changed_since("Account", None, fields=fields))
