"""The org's daily API request allocation, on a rolling 24-hour window as Salesforce counts it."""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timedelta

from emulators.common.clock import EmulatorClock

DEVELOPER_EDITION_DAILY_REQUESTS = 15_000
WINDOW = timedelta(hours=24)


class ApiLimit:
    """Counts API requests in the last 24 hours (by the emulator clock) against ``maximum``.

    A request is charged when it is made; it stops counting 24 hours later, so the allocation
    frees up gradually (Salesforce's rolling 24-hour limit), not at midnight.
    """

    def __init__(self, clock: EmulatorClock, maximum: int = DEVELOPER_EDITION_DAILY_REQUESTS) -> None:
        self.clock = clock
        self.maximum = maximum
        self._calls: deque[datetime] = deque()
        self._lock = threading.Lock()

    def _expire(self, now: datetime) -> None:
        horizon = now - WINDOW
        while self._calls and self._calls[0] <= horizon:
            self._calls.popleft()

    def charge(self) -> bool:
        """Count one request; return ``False`` (and count nothing) when the allocation is spent."""
        now = self.clock.now()
        with self._lock:
            self._expire(now)
            if len(self._calls) >= self.maximum:
                return False
            self._calls.append(now)
            return True

    def used(self) -> int:
        """Requests counted in the last 24 hours."""
        now = self.clock.now()
        with self._lock:
            self._expire(now)
            return len(self._calls)

    def header(self) -> str:
        """The ``Sforce-Limit-Info`` header value, ``api-usage=used/max``."""
        return f"api-usage={self.used()}/{self.maximum}"

    def reset(self) -> None:
        """Forget every counted request."""
        with self._lock:
            self._calls.clear()
