"""When a task retries: only for transient errors (timeouts, 5xx, 429, limits), never for the rest."""

from __future__ import annotations

from typing import Any

from prefect.client.schemas.objects import State

from tandem.errors import is_retryable

RETRIES = 3
RETRY_JITTER = 0.5


def retry_on_transient(task: Any, task_run: Any, state: State) -> bool:
    """Prefect ``retry_condition_fn``: retry when the task failed with a :class:`RetryableSyncError`."""
    return is_retryable(state.result(raise_on_failure=False))


def backoff(base_seconds: float = 5.0, attempts: int = RETRIES) -> list[float]:
    """Exponential delays between retries: ``base``, ``2·base``, ``4·base`` ..."""
    return [base_seconds * 2**n for n in range(attempts)]
