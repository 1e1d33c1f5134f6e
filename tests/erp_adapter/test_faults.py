"""Retry classification under faults injected at the emulator's wire."""

from __future__ import annotations

import dataclasses
import logging
import threading

import pandas as pd
import pytest

from blocks.erp import ErpCredentials
from tandem.erp.adapter import ErpAdapter
from tandem.errors import FatalSyncError, RetryableSyncError, is_retryable
from tandem.retrying import RetryPolicy, worth_retrying_later
from tests.erp_adapter.conftest import MAX_CONCURRENCY, calls, credentials_for
from tests.support.emulator import RunningEmulator


def one_customer(key: str = "F1") -> list[dict[str, object]]:
    return [{"externalId": key, "companyName": "Fault Co"}]


def fault(erp: RunningEmulator, operation: str, kind: str, count: int = 1, **options: object) -> None:
    erp.control("POST", "faults", json={"pattern": f" {operation}$", "kind": kind, "count": count, **options})


def fast_retries(adapter: ErpAdapter) -> RetryPolicy:
    """The adapter's policy (same attempts) with short waits."""
    return dataclasses.replace(adapter.retry, base_delay=0.01, max_delay=0.05)


def no_retry(credentials: ErpCredentials, **overrides: object) -> ErpAdapter:
    return credentials.model_copy(update={"max_attempts": 1, **overrides}).get_client()


@pytest.mark.parametrize(
    ("kind", "code"),
    [("http_503", "HTTP_503"), ("http_429", "HTTP_429"), ("http_500", "HTTP_500"), ("reset", "CONNECTION_ERROR")],
)
def test_transient_faults_are_retryable(
    credentials: ErpCredentials, erp: RunningEmulator, kind: str, code: str
) -> None:
    adapter = no_retry(credentials)
    fault(erp, "upsertList", kind)

    with pytest.raises(RetryableSyncError) as caught:
        adapter.upsert_batch("customer", "externalId", one_customer())

    assert caught.value.code == code and caught.value.system == "erp" and is_retryable(caught.value)
    assert caught.value.retry_after == (1.0 if kind in ("http_503", "http_429") else None)
    assert all(r.ok for r in adapter.upsert_batch("customer", "externalId", one_customer()))
    adapter.close()


def test_adapter_retries_transient_faults_itself(adapter: ErpAdapter, erp: RunningEmulator) -> None:
    fault(erp, "search", "http_503")
    fault(erp, "upsertList", "reset")
    adapter.retry = fast_retries(adapter)

    results = adapter.upsert_batch("customer", "externalId", one_customer())
    frame = pd.concat(adapter.read_changed_since("customer", None, fields=[], page_size=5))

    assert results[0].ok and len(frame) == 1
    assert calls(erp, "upsertList") == 2 and calls(erp, "search") == 2


def test_latency_beyond_operation_timeout_is_retryable(credentials: ErpCredentials, erp: RunningEmulator) -> None:
    adapter = no_retry(credentials, operation_timeout=0.5)
    fault(erp, "getList", "latency", latency_ms=1500)

    with pytest.raises(RetryableSyncError) as caught:
        adapter.read_by_keys("customer", "externalId", ["X"], fields=[])

    assert caught.value.code == "TIMEOUT"
    adapter.close()


def test_commit_then_drop_retry_leaves_exactly_one_record(adapter: ErpAdapter, erp: RunningEmulator) -> None:
    adapter.retry = fast_retries(adapter)
    fault(erp, "upsertList", "commit_then_drop")

    results = adapter.upsert_batch("customer", "externalId", one_customer("ONCE"))

    assert results[0].ok and results[0].created
    assert calls(erp, "upsertList") == 2
    everything = pd.concat(adapter.read_changed_since("customer", None, fields=["externalId"], page_size=5))
    assert list(everything["externalId"]) == ["ONCE"]


def test_ws_request_blocked_is_retryable(credentials: ErpCredentials, erp: RunningEmulator) -> None:
    adapter = no_retry(credentials)
    fault(erp, "getList", "soap_fault")

    with pytest.raises(RetryableSyncError) as caught:
        adapter.read_by_keys("customer", "externalId", ["X"], fields=[])

    assert caught.value.code == "WS_REQUEST_BLOCKED"
    adapter.close()


def concurrent_reads(adapter: ErpAdapter, count: int) -> list[RetryableSyncError]:
    """Run ``count`` reads at once; return the retryable errors they ended with."""
    errors: list[RetryableSyncError] = []

    def read() -> None:
        try:
            adapter.read_by_keys("customer", "externalId", ["X"], fields=[])
        except RetryableSyncError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return errors


def test_concurrency_limit_blocks_and_retries_clear_it(credentials: ErpCredentials, erp: RunningEmulator) -> None:
    readers = MAX_CONCURRENCY + 3
    fault(erp, "getList", "latency", count=readers, latency_ms=600)
    without_retries = no_retry(credentials)
    errors = concurrent_reads(without_retries, readers)
    assert errors and {e.code for e in errors} == {"WS_REQUEST_BLOCKED"}
    without_retries.close()

    fault(erp, "getList", "latency", count=readers, latency_ms=300)
    patient = credentials.get_client()
    patient.retry = RetryPolicy(max_attempts=8, base_delay=0.3, max_delay=1.0)
    assert concurrent_reads(patient, readers) == []
    patient.close()


def test_auth_failure_is_fatal_not_retried_and_leaks_no_secret(
    erp: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    wrong_secret = "ts-definitely-not-the-right-secret-0123456789"
    credentials = credentials_for(erp, token_secret=wrong_secret)
    adapter = credentials.get_client()
    caplog.set_level(logging.DEBUG)

    with pytest.raises(FatalSyncError) as caught:
        adapter.upsert_batch("customer", "externalId", one_customer())

    assert caught.value.code == "INVALID_LOGIN_ATTEMPT" and not is_retryable(caught.value)
    assert calls(erp, "getList") == 1
    secrets = [wrong_secret, erp.info["consumer_secret"], erp.info["token_id"], erp.info["consumer_key"]]
    for text in (str(caught.value), repr(caught.value), caplog.text, repr(adapter)):
        assert not any(secret in text for secret in secrets)
    adapter.close()


def test_no_secret_or_payload_reaches_the_log(
    adapter: ErpAdapter, erp: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    adapter.upsert_batch("customer", "externalId", [{"externalId": "L1", "companyName": "Private Name Ltd"}])
    adapter.read_by_keys("customer", "externalId", ["L1"], fields=["companyName"])

    info = erp.info
    for secret in (info["consumer_secret"], info["token_secret"], info["token_id"], "Private Name Ltd"):
        assert secret not in caplog.text


def test_too_many_records_is_fatal(adapter: ErpAdapter) -> None:
    refs = [adapter.types.record_ref("customer", internalId=str(i)) for i in range(1001)]

    with pytest.raises(FatalSyncError) as caught:
        adapter.soap.call("getList", baseRef=refs)

    assert caught.value.code == "MAX_RCRDS_EXCEEDED"


def test_untrusted_certificate_is_fatal(erp: RunningEmulator) -> None:
    with pytest.raises(FatalSyncError) as caught:
        credentials_for(erp, ca_bundle_path=None).get_client()

    assert caught.value.code == "TLS_ERROR"


def test_add_list_is_never_retried(adapter: ErpAdapter, erp: RunningEmulator) -> None:
    adapter.retry = fast_retries(adapter)
    created = adapter.add_batch("customer", [{"externalId": "ADD1", "companyName": "Added"}])
    duplicate = adapter.add_batch("customer", [{"externalId": "ADD1", "companyName": "Again"}])
    fault(erp, "addList", "http_503")

    with pytest.raises(RetryableSyncError):
        adapter.add_batch("customer", [{"externalId": "ADD2", "companyName": "Lost"}])

    assert created[0].ok and created[0].id
    assert duplicate[0].error_code == "DUP_RCRD"
    assert calls(erp, "addList") == 3


def recorded_waits(adapter: ErpAdapter) -> list[float]:
    """Keep the adapter's policy but record its waits instead of sleeping."""
    waits: list[float] = []
    adapter.retry = dataclasses.replace(adapter.retry, sleep=waits.append)
    return waits


@pytest.mark.parametrize(("operation", "kind"), [("upsertList", "http_503"), ("search", "http_429")])
def test_a_refusal_with_retry_after_is_waited_out_and_the_call_made_again(
    adapter: ErpAdapter, erp: RunningEmulator, operation: str, kind: str
) -> None:
    waits = recorded_waits(adapter)
    fault(erp, operation, kind)

    assert all(r.ok for r in adapter.upsert_batch("customer", "externalId", one_customer()))
    assert len(pd.concat(adapter.read_changed_since("customer", None, fields=[], page_size=5))) == 1

    assert calls(erp, operation) == 2 and waits == [1.0]  # the emulator's Retry-After: 1


@pytest.mark.parametrize("code", ["WS_CONCUR_SESSION_DISALLWD", "WS_REQUEST_BLOCKED", "WS_EXCEEDED_MAX_CONCURRENT"])
def test_a_concurrency_fault_is_retried_at_the_call_level(adapter: ErpAdapter, erp: RunningEmulator, code: str) -> None:
    waits = recorded_waits(adapter)
    fault(erp, "getList", "soap_fault", count=2, code=code)

    assert adapter.read_by_keys("customer", "externalId", ["X"], fields=[]).empty

    assert calls(erp, "getList") == 3 and len(waits) == 2


def test_retries_that_run_out_are_not_retried_again_by_the_task(adapter: ErpAdapter, erp: RunningEmulator) -> None:
    recorded_waits(adapter)
    fault(erp, "getList", "http_503", count=3)

    with pytest.raises(RetryableSyncError) as caught:
        adapter.read_by_keys("customer", "externalId", ["X"], fields=[])

    assert (caught.value.code, caught.value.attempts) == ("HTTP_503", 3) and calls(erp, "getList") == 3
    assert not worth_retrying_later(caught.value)


def test_a_server_fault_is_left_to_the_task_and_a_permanent_one_ends_it(
    adapter: ErpAdapter, erp: RunningEmulator
) -> None:
    fault(erp, "getList", "http_500")
    with pytest.raises(RetryableSyncError) as caught:
        adapter.read_by_keys("customer", "externalId", ["X"], fields=[])
    assert caught.value.attempts == 1 and calls(erp, "getList") == 1 and worth_retrying_later(caught.value)

    fault(erp, "getList", "soap_fault", code="WS_OPERATION_NOT_SUPPORTED")
    with pytest.raises(FatalSyncError) as fatal:
        adapter.read_by_keys("customer", "externalId", ["X"], fields=[])
    assert fatal.value.code == "WS_OPERATION_NOT_SUPPORTED" and calls(erp, "getList") == 2
    assert not worth_retrying_later(fatal.value)
