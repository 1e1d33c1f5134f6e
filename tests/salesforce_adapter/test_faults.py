"""Errors classified at the adapter boundary, under faults injected at the emulator."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import SecretStr

from tandem.errors import FatalSyncError, RetryableSyncError
from tandem.retrying import RetryPolicy, worth_retrying_later
from tandem.salesforce.adapter import SalesforceAdapter
from tests.salesforce_adapter.conftest import accounts, credentials
from tests.support.emulator import RunningEmulator, start_emulator


def read_all(adapter: SalesforceAdapter) -> int:
    """Read every account; the number read."""
    return sum(len(page) for page in adapter.read_changed_since("Account", None, fields=["Name"]))


def recorded_waits(adapter: SalesforceAdapter) -> list[float]:
    """Give the adapter's HTTP session the default retries with a sleep that records its waits instead."""
    waits: list[float] = []
    for mounted in adapter.sf.session.adapters.values():
        mounted.retry = RetryPolicy(sleep=waits.append)  # type: ignore[attr-defined]
    return waits


def calls(emulator: RunningEmulator, endpoint: str) -> int:
    """How many times ``endpoint`` reached the emulator since its counters were zeroed."""
    return int(emulator.control("GET", "counters")["by_endpoint"].get(endpoint, 0))


@pytest.mark.parametrize(("kind", "refusals"), [("http_503", 1), ("http_429", 2)])
def test_a_refused_call_is_made_again_at_the_call_level(
    adapter: SalesforceAdapter, emulator: RunningEmulator, kind: str, refusals: int
) -> None:
    waits = recorded_waits(adapter)
    emulator.control("DELETE", "counters")
    emulator.control("POST", "faults", json={"pattern": "query", "kind": kind, "count": refusals})

    assert read_all(adapter) == 0

    assert calls(emulator, "query") == refusals + 1
    assert len(waits) == refusals and all(0 <= wait <= 0.5 * 2**n for n, wait in enumerate(waits))


def test_refusals_that_outlast_the_retries_end_the_call_and_are_not_retried_by_the_task(
    adapter: SalesforceAdapter, emulator: RunningEmulator
) -> None:
    recorded_waits(adapter)
    emulator.control("DELETE", "counters")
    emulator.control("POST", "faults", json={"pattern": "query", "kind": "http_503", "count": 3})

    with pytest.raises(RetryableSyncError) as caught:
        read_all(adapter)

    assert (caught.value.code, caught.value.system, caught.value.attempts) == ("SERVER_UNAVAILABLE", "crm", 3)
    assert calls(emulator, "query") == 3 and not worth_retrying_later(caught.value)
    assert read_all(adapter) == 0  # the faults are used up: the next call goes through


def test_a_server_error_is_left_to_the_task(adapter: SalesforceAdapter, emulator: RunningEmulator) -> None:
    emulator.control("DELETE", "counters")
    emulator.control("POST", "faults", json={"pattern": "query", "kind": "http_500", "count": 1})

    with pytest.raises(RetryableSyncError) as caught:
        read_all(adapter)

    assert (caught.value.code, caught.value.attempts) == ("UNKNOWN_EXCEPTION", 1)
    assert calls(emulator, "query") == 1 and worth_retrying_later(caught.value)


def test_a_permanent_error_is_not_retried(adapter: SalesforceAdapter, emulator: RunningEmulator) -> None:
    emulator.control("DELETE", "counters")

    with pytest.raises(FatalSyncError):
        read_all_fields(adapter, ["No_Such_Field__c"])

    assert calls(emulator, "query") == 1


def test_connection_reset_is_retryable(adapter: SalesforceAdapter, emulator: RunningEmulator) -> None:
    emulator.control("POST", "faults", json={"pattern": "collections", "kind": "reset", "count": 1})

    emulator.control("DELETE", "counters")
    with pytest.raises(RetryableSyncError) as caught:
        adapter.upsert_batch("Account", "ERP_Id__c", accounts(2))

    assert caught.value.code == "CONNECTION_ERROR"
    # a write (PATCH) whose answer was lost is not sent again by the call level: the task reads and decides
    assert calls(emulator, "collections.upsert") == 1 and worth_retrying_later(caught.value)
    # the retried upsert is idempotent: keyed by the external id
    adapter.upsert_batch("Account", "ERP_Id__c", accounts(2))
    assert read_all(adapter) == 2


def test_a_read_sent_as_a_post_is_sent_again_after_a_lost_answer(
    adapter: SalesforceAdapter, emulator: RunningEmulator
) -> None:
    recorded_waits(adapter)
    ids = [r.id for r in adapter.upsert_batch("Account", "ERP_Id__c", accounts(2)) if r.id]
    emulator.control("DELETE", "counters")
    emulator.control("POST", "faults", json={"pattern": "collections.retrieve", "kind": "reset", "count": 1})

    assert sorted(adapter.read_by_ids("Account", ids, fields=["Name"])["id"]) == sorted(ids)

    assert calls(emulator, "collections.retrieve") == 2


def test_latency_beyond_the_read_timeout_is_a_retryable_timeout(emulator: RunningEmulator) -> None:
    adapter = credentials(emulator, read_timeout=0.5).get_client()
    recorded_waits(adapter)
    emulator.control("POST", "faults", json={"pattern": "query", "kind": "latency", "latency_ms": 2000, "count": 3})

    with pytest.raises(RetryableSyncError) as caught:
        read_all(adapter)

    assert (caught.value.code, caught.value.attempts) == ("TIMEOUT", 3)  # a read is sent again after a timeout


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
    assert credentials(emulator).get_client().organization()[0] == emulator.info["org_id"]  # logged in again

    emulator.control("POST", "faults", json={"pattern": "Soap", "kind": "http_503", "count": 3})
    with pytest.raises(RetryableSyncError) as caught:
        credentials(emulator).get_client()

    assert caught.value.code == "HTTP_503" and caught.value.attempts == 3


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
