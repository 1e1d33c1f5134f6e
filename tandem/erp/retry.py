"""Bounded retries with exponential backoff and full jitter, for idempotent ERP calls only.

The adapter retries a call itself only when repeating it cannot duplicate data: ``upsertList``
(keyed on externalId, so a request whose response was lost is safe to send again), ``deleteList``
(already deleted counts as done), ``getList``, ``search`` and ``searchMoreWithId`` pages,
``getDeleted`` and the async status calls. ``addList`` is never retried. When the attempts run out
the last :class:`~tandem.errors.RetryableSyncError` propagates, so a Prefect task with
``retry_condition_fn=is_retryable`` can retry the whole step later.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tandem.errors import RetryableSyncError

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to repeat an idempotent call.

    Attributes:
        max_attempts: total tries including the first (1 disables in-adapter retries).
        base_delay: seconds before the second try; doubles per try.
        max_delay: cap on one wait, also on a server's ``Retry-After``.
        sleep: the sleep function (a parameter so callers can plug in their own clock).
    """

    max_attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("retry delays must not be negative")

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based).

        A server's ``Retry-After`` wins when given (capped at ``max_delay``); otherwise full jitter
        over ``base_delay * 2 ** (attempt - 1)`` (capped).
        """
        if retry_after is not None:
            return min(self.max_delay, max(0.0, retry_after))
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return random.uniform(0.0, ceiling)

    def run(self, operation: str, call: Callable[[], T]) -> T:
        """Run ``call``, repeating it on :class:`RetryableSyncError` up to ``max_attempts`` times.

        Args:
            operation: the operation's name, for the log.
            call: the idempotent call; it raises classified errors only.

        Returns:
            What ``call`` returns.

        Raises:
            RetryableSyncError: when every attempt failed transiently (the last error).
            FatalSyncError: at once, without retrying.
        """
        attempt = 1
        while True:
            try:
                return call()
            except RetryableSyncError as exc:
                if attempt >= self.max_attempts:
                    raise
                wait = self.delay(attempt, exc.retry_after)
                logger.warning(
                    "erp %s failed with %s (attempt %d of %d); retrying in %.2f s",
                    operation, exc.code, attempt, self.max_attempts, wait,
                )
                self.sleep(wait)
                attempt += 1


NO_RETRY = RetryPolicy(max_attempts=1)
