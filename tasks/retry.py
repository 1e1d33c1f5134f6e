"""When a task retries: only for retryable errors the call level did not retry already (tandem.retrying)."""

from __future__ import annotations

from typing import Any

from prefect.client.schemas.objects import State

from tandem.retrying import worth_retrying_later

RETRIES = 3
RETRY_JITTER = 0.5


def retry_on_transient(task: Any, task_run: Any, state: State) -> bool:
    """Prefect ``retry_condition_fn``: retry a :class:`RetryableSyncError` that no call-level retry settled.

    A permanent error, one the adapter retried already (``attempts`` above 1) or an exhausted daily API limit
    ends the task (see :func:`tandem.retrying.worth_retrying_later`).
    """
    return worth_retrying_later(state.result(raise_on_failure=False))


def backoff(base_seconds: float = 5.0, attempts: int = RETRIES) -> list[float]:
    """Exponential delays between retries: ``base``, ``2·base``, ``4·base`` ..."""
    return [base_seconds * 2**n for n in range(attempts)]
