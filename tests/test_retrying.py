"""The call-level retry policy (tenacity) and the task-level condition, without I/O."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from prefect.states import Failed

from tandem.errors import FatalSyncError, RetryableSyncError
from tandem.retrying import RetryPolicy, is_transient, worth_retrying_later
from tasks.retry import retry_on_transient


def failing(error: Exception, log: list[int]) -> Callable[[], None]:
    """A call that records itself in ``log`` and fails with ``error``."""
    def call() -> None:
        log.append(1)
        raise error

    return call


def test_retry_after_is_honoured_and_the_total_wait_bounded() -> None:
    waits: list[float] = []
    calls: list[int] = []
    policy = RetryPolicy(max_attempts=3, base_delay=0.1, max_delay=2.0, max_total_wait=60.0, sleep=waits.append)

    with pytest.raises(RetryableSyncError) as caught:
        policy.run("search", failing(RetryableSyncError("b", code="WS_REQUEST_BLOCKED", system="erp",
                                                        retry_after=5.0), calls))
    assert (len(calls), waits, caught.value.attempts) == (3, [5.0, 5.0], 3)  # max_delay caps backoff only

    waits.clear()
    calls.clear()
    with pytest.raises(RetryableSyncError) as caught:  # a second 40-second wait would pass the 60-second budget
        policy.run("search", failing(RetryableSyncError("b", code="HTTP_429", system="erp", retry_after=40.0), calls))
    assert (len(calls), waits, caught.value.attempts) == (2, [40.0], 2)

    waits.clear()
    calls.clear()
    with pytest.raises(RetryableSyncError) as caught:  # a wait longer than the whole budget: left to the task
        policy.run("search", failing(RetryableSyncError("b", code="HTTP_503", system="erp", retry_after=90.0), calls))
    assert (len(calls), waits, caught.value.attempts) == (1, [], 1)
    assert worth_retrying_later(caught.value)


def test_backoff_without_retry_after_is_jittered_and_capped() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=2.0)
    assert all(0 <= policy.delay(n) <= min(2.0, 0.1 * 2 ** (n - 1)) for n in range(1, 10) for _ in range(20))


def test_a_transient_error_that_clears_needs_no_more_calls() -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise RetryableSyncError("lost", code="CONNECTION_ERROR", system="crm")
        return "done"

    assert RetryPolicy(sleep=lambda _s: None).run("query", flaky) == "done"
    assert len(calls) == 3


@pytest.mark.parametrize(
    "error",
    [
        FatalSyncError("bad login", code="INVALID_LOGIN_ATTEMPT", system="erp"),
        RetryableSyncError("server bug", code="HTTP_500", system="erp"),
        RetryableSyncError("over the daily allowance", code="REQUEST_LIMIT_EXCEEDED", system="crm"),
    ],
)
def test_permanent_and_slow_errors_are_not_retried_at_the_call_level(error: Exception) -> None:
    calls: list[int] = []
    with pytest.raises(type(error)):
        RetryPolicy(max_attempts=5, sleep=lambda _s: None).run("getList", failing(error, calls))
    assert len(calls) == 1 and not is_transient(error)


def test_the_task_retries_only_what_the_call_level_did_not_settle() -> None:
    retried = RetryableSyncError("blocked", code="WS_REQUEST_BLOCKED", system="erp", attempts=3)
    unretried = RetryableSyncError("bulk job still running", code="BULK_TIMEOUT", system="crm")
    daily = RetryableSyncError("TotalRequests Limit exceeded.", code="REQUEST_LIMIT_EXCEEDED", system="crm")
    fatal = FatalSyncError("bad field", code="INVALID_FIELD", system="crm")
    decisions = {
        error.code: retry_on_transient(None, None, Failed(data=error)) for error in (retried, unretried, daily, fatal)
    }
    assert decisions == {"WS_REQUEST_BLOCKED": False, "BULK_TIMEOUT": True, "REQUEST_LIMIT_EXCEEDED": False,
                         "INVALID_FIELD": False}


def test_a_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="negative"):
        RetryPolicy(max_total_wait=-1)
