"""One retry policy for calls to the CRM and the ERP (tenacity), and what is left for the Prefect task.

Two levels, each with its own job:

* **Call level** (:class:`RetryPolicy`, used by both adapters: ``tandem.erp.adapter`` for idempotent SOAP
  operations, ``tandem.salesforce.transport`` for HTTP requests). A call that fails with a *transient* error
  (:func:`is_transient`: a timeout, a lost connection, HTTP 429/502/503/504, NetSuite's concurrency faults
  such as ``WS_CONCUR_SESSION_DISALLWD`` or ``WS_REQUEST_BLOCKED``) is made again: after the server's
  ``Retry-After`` when it sent one, else after an exponential backoff with full jitter; at most
  ``max_attempts`` calls and ``max_total_wait`` seconds of waiting in all (a ``Retry-After`` that does not fit
  the remaining budget ends the retries at once). The error that ends them carries ``attempts``.
* **Task level** (``retry_condition_fn`` of the Prefect tasks, :func:`worth_retrying_later`): a
  :class:`~tandem.errors.RetryableSyncError` the call level did not retry (a non-idempotent call, an error
  that is not transient within seconds such as an HTTP 500 or a bulk job that did not finish, a server asking
  for a longer wait than the call level's budget). An error the call level already retried, a permanent
  (:class:`~tandem.errors.FatalSyncError`) one and an exhausted daily API limit (Salesforce's
  ``REQUEST_LIMIT_EXCEEDED`` on HTTP 403: it clears within hours, not minutes) are not retried by the task:
  the run ends and the next scheduled run picks up from the watermarks.

So a call is made at most ``max_attempts`` times (3), or once per task attempt (1 + 3), never both.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import tenacity

from tandem.errors import RetryableSyncError

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Error codes worth the same call again within seconds (compared case-insensitively).
TRANSIENT_CODES = frozenset(
    {
        "TIMEOUT",
        "CONNECTION_ERROR",
        "HTTP_429",
        "HTTP_502",
        "HTTP_503",
        "HTTP_504",
        # Salesforce's answer to a 503.
        "SERVER_UNAVAILABLE",
        # NetSuite's concurrency governance: too many requests in flight for the account or the session.
        "WS_REQUEST_BLOCKED",
        "WS_CONCUR_SESSION_DISALLWD",
        "WS_CONCUR_SESSION_DISALLOWED",
        "WS_EXCEEDED_MAX_CONCURRENT",
        "EXCEEDED_CONCURRENT_REQUEST_LIMIT",
        "EXCEEDED_REQUEST_LIMIT",
        "SSS_REQUEST_LIMIT_EXCEEDED",
        "EXCEEDEDCONCURRENTREQUESTLIMITFAULT",
        "EXCEEDEDREQUESTLIMITFAULT",
    }
)
#: Retryable codes that clear only after hours (a 24-hour API allowance): neither level retries them.
DAILY_LIMIT_CODES = frozenset({"REQUEST_LIMIT_EXCEEDED"})


def retry_after_seconds(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Read ``Retry-After`` (seconds or an HTTP date) from response headers.

    Args:
        headers: the response headers.
        now: the current Unix time (for the date form; ``time.time()`` when ``None``).

    Returns:
        Seconds to wait (never negative), or ``None`` when the header is absent or unreadable.
    """
    value = (headers.get("Retry-After") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def is_transient(exc: BaseException) -> bool:
    """True for a :class:`RetryableSyncError` whose code says the same call may succeed within seconds."""
    return isinstance(exc, RetryableSyncError) and exc.code.upper() in TRANSIENT_CODES


def worth_retrying_later(exc: BaseException) -> bool:
    """Whether the Prefect task should run again: a retryable error the call level did not retry already.

    Not for permanent errors, errors retried at the call level (``attempts`` above 1), nor an exhausted daily
    API limit.
    """
    return (
        isinstance(exc, RetryableSyncError)
        and exc.attempts <= 1
        and exc.code.upper() not in DAILY_LIMIT_CODES
    )


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to repeat a call that failed transiently.

    Attributes:
        max_attempts: calls in all, the first included (1 turns call-level retries off).
        base_delay: seconds of backoff before the second call; doubles per call (full jitter).
        max_delay: cap on one backoff wait (not on a server's ``Retry-After``).
        max_total_wait: cap on the seconds waited over all retries of one call, ``Retry-After`` included.
        sleep: the sleep function.
    """

    max_attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_total_wait: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.base_delay, self.max_delay, self.max_total_wait) < 0:
            raise ValueError("retry delays must not be negative")

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed call number ``attempt`` (1-based).

        The server's ``Retry-After`` when given; otherwise full jitter over ``base_delay * 2 ** (attempt - 1)``,
        capped at ``max_delay``.
        """
        if retry_after is not None:
            return max(0.0, retry_after)
        return random.uniform(0.0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))

    def run(
        self, operation: str, call: Callable[[], T], *, retry_on: Callable[[BaseException], bool] = is_transient
    ) -> T:
        """Make ``call``, again while it fails with an error ``retry_on`` accepts and the budget allows.

        Args:
            operation: the operation's name, for the log.
            call: the call; it raises classified errors (:class:`~tandem.errors.SyncError`).
            retry_on: which errors to retry (default: :func:`is_transient`).

        Returns:
            What ``call`` returns.

        Raises:
            RetryableSyncError: the last error when the retries ran out, with ``attempts`` set.
            SyncError: any other error at once.
        """
        attempts = 0

        def attempt() -> T:
            nonlocal attempts
            attempts += 1
            return call()

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(retry_on),
            wait=self._wait,
            stop=self._stop,
            sleep=self.sleep,
            before_sleep=lambda state: self._log(operation, state),
            reraise=True,
        )
        try:
            return retrying(attempt)
        except RetryableSyncError as exc:
            exc.attempts = attempts
            raise

    def _wait(self, state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        retry_after = error.retry_after if isinstance(error, RetryableSyncError) else None
        return self.delay(state.attempt_number, retry_after)

    def _stop(self, state: tenacity.RetryCallState) -> bool:
        upcoming = state.upcoming_sleep
        return state.attempt_number >= self.max_attempts or state.idle_for + upcoming > self.max_total_wait

    def _log(self, operation: str, state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        code = error.code if isinstance(error, RetryableSyncError) else type(error).__name__
        logger.warning(
            "%s failed with %s (call %d of %d); calling again in %.2f s",
            operation, code, state.attempt_number, self.max_attempts, state.upcoming_sleep,
        )


#: No call-level retries: every error goes straight to the caller.
NO_RETRY = RetryPolicy(max_attempts=1)
