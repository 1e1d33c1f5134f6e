"""Rate limits, server errors and the token's secrecy, with faults injected at the HubSpot emulator."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from tandem.errors import FatalSyncError, RetryableSyncError
from tandem.hubspot.adapter import HubSpotAdapter
from tandem.hubspot.transport import HubSpotTransport
from tandem.retrying import RetryPolicy, worth_retrying_later
from tests.hubspot_adapter.conftest import LINK, companies, credentials, token
from tests.support.emulator import RunningEmulator


def recording_adapter(emulator: RunningEmulator, waits: list[float], *, secret: str | None = None) -> HubSpotAdapter:
    """An adapter whose call-level retries record their waits instead of sleeping."""
    transport = HubSpotTransport(
        SecretStr(secret or token(emulator)), base_url=emulator.base_url, ca_bundle=emulator.ca_cert,
        timeout=(5.0, 30.0), retry=RetryPolicy(sleep=waits.append),
    )
    return HubSpotAdapter(transport, portal_id=emulator.info["portal_id"])


def test_a_429_is_retried_after_its_retry_after(emulator: RunningEmulator) -> None:
    waits: list[float] = []
    adapter = recording_adapter(emulator, waits)
    adapter.upsert_batch("companies", LINK, companies(3))
    emulator.control("POST", "faults", json={"pattern": "objects.search", "kind": "http_429", "count": 2})
    rows = [r for page in adapter.read_changed_since("companies", None, fields=["name"], page_size=10) for r in page.id]
    assert len(rows) == 3
    assert waits == [1.0, 1.0]  # the emulator's Retry-After: 1, honoured each time


def test_the_search_secondly_limit_is_waited_out(emulator: RunningEmulator) -> None:
    waits: list[float] = []
    adapter = recording_adapter(emulator, waits)
    adapter.upsert_batch("companies", LINK, companies(1))
    emulator.control("POST", "clock", json={"advance_seconds": 5})
    for _ in range(5):  # the portal's five searches of this second
        assert adapter.count("companies") == 1
    emulator.control("POST", "clock", json={"advance_seconds": 0})

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        emulator.control("POST", "clock", json={"advance_seconds": seconds})

    adapter.transport.retry = RetryPolicy(sleep=sleep)
    assert adapter.count("companies") == 1
    assert waits and all(w >= 1.0 for w in waits)


def test_retries_that_run_out_raise_a_retryable_error_the_task_leaves_alone(emulator: RunningEmulator) -> None:
    waits: list[float] = []
    adapter = recording_adapter(emulator, waits)
    emulator.control("POST", "faults", json={"pattern": "objects.batch", "kind": "http_503", "count": 3})
    with pytest.raises(RetryableSyncError) as raised:
        adapter.upsert_batch("companies", LINK, companies(2))
    assert raised.value.code == "HTTP_503" and raised.value.attempts == 3
    assert len(waits) == 2 and not worth_retrying_later(raised.value)
    assert [r.ok for r in adapter.upsert_batch("companies", LINK, companies(2))] == [True, True]  # faults used up


def test_a_server_error_is_left_to_the_task(emulator: RunningEmulator) -> None:
    waits: list[float] = []
    adapter = recording_adapter(emulator, waits)
    emulator.control("POST", "faults", json={"pattern": "objects.search", "kind": "http_500", "count": 1})
    with pytest.raises(RetryableSyncError) as raised:
        adapter.count("companies")
    assert raised.value.code == "HTTP_500" and raised.value.attempts == 1 and waits == []
    assert worth_retrying_later(raised.value)


def test_a_wrong_token_is_fatal_and_never_shown(emulator: RunningEmulator, caplog: pytest.LogCaptureFixture) -> None:
    wrong = "not-the-emulators-token"
    adapter = recording_adapter(emulator, [], secret=wrong)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(FatalSyncError) as raised:
        adapter.upsert_batch("companies", LINK, companies(1))
    assert raised.value.code == "INVALID_AUTHENTICATION"
    assert wrong not in str(raised.value) and wrong not in caplog.text


def test_the_token_never_appears_in_reprs_logs_or_errors(
    emulator: RunningEmulator, caplog: pytest.LogCaptureFixture,
) -> None:
    secret = token(emulator)
    block = credentials(emulator)
    adapter = block.get_client()
    caplog.set_level(logging.DEBUG)
    emulator.control("POST", "faults", json={"pattern": "objects.batch", "kind": "http_503", "count": 3})
    with pytest.raises(RetryableSyncError) as raised:
        recording_adapter(emulator, []).upsert_batch("companies", LINK, companies(1))
    results = adapter.update_batch("companies", [{"id": "123", "name": "x"}])
    shown = [repr(block), str(block), repr(adapter), repr(adapter.transport), str(raised.value), caplog.text,
             *(r.error_message or "" for r in results), block.model_dump_json()]
    assert all(secret not in text for text in shown)
    assert results[0].error_code == "OBJECT_NOT_FOUND"
