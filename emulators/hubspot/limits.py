"""HubSpot's API rate limits for a private app: a rolling 10-second burst limit and a daily limit on every call
(reported in the ``X-HubSpot-RateLimit-*`` headers), and the search endpoints' own limit of a few requests a
second (no headers). All counted on the emulator clock, so a test can move past a window."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from emulators.common.clock import EmulatorClock
from emulators.hubspot.errors import correlation_id

#: Professional / Enterprise private apps: 190 requests per 10 seconds, 650,000 a day (HubSpot's usage guidelines).
DEFAULT_INTERVAL_MAX = 190
DEFAULT_DAILY_MAX = 650_000
DEFAULT_SEARCH_PER_SECOND = 5
INTERVAL = timedelta(seconds=10)


@dataclass
class Refusal:
    """A call refused for a limit: HubSpot's 429 body and headers."""

    policy: str
    message: str
    retry_after: int
    headers: dict[str, str]

    def body(self, app_id: str) -> dict[str, str]:
        """The 429 body."""
        return {"status": "error", "message": self.message, "errorType": "RATE_LIMIT",
                "correlationId": correlation_id(), "policyName": self.policy,
                "groupName": f"publicapi:private-app:{app_id}"}


@dataclass
class RateLimits:
    """Counts calls per rolling window; ``0`` disables a limit."""

    clock: EmulatorClock
    interval_max: int = DEFAULT_INTERVAL_MAX
    daily_max: int = DEFAULT_DAILY_MAX
    search_per_second: int = DEFAULT_SEARCH_PER_SECOND
    _calls: deque[datetime] = field(default_factory=deque)
    _searches: deque[datetime] = field(default_factory=deque)
    _day: tuple[int, int, int] | None = None
    _daily: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def configure(self, *, interval_max: int | None = None, daily_max: int | None = None,
                  search_per_second: int | None = None) -> dict[str, int]:
        """Change the limits (the control route); return them."""
        with self._lock:
            if interval_max is not None:
                self.interval_max = interval_max
            if daily_max is not None:
                self.daily_max = daily_max
            if search_per_second is not None:
                self.search_per_second = search_per_second
            return self.settings()

    def settings(self) -> dict[str, int]:
        """The limits in force."""
        return {"interval_max": self.interval_max, "daily_max": self.daily_max,
                "search_per_second": self.search_per_second, "interval_milliseconds": 10_000}

    def reset(self) -> None:
        """Forget every counted call."""
        with self._lock:
            self._calls.clear()
            self._searches.clear()
            self._daily = 0

    def charge(self, *, search: bool) -> Refusal | None:
        """Count one call; return the refusal when a limit is spent (the call then counts nothing)."""
        now = self.clock.now()
        with self._lock:
            day = (now.year, now.month, now.day)
            if day != self._day:
                self._day, self._daily = day, 0
            while self._calls and self._calls[0] <= now - INTERVAL:
                self._calls.popleft()
            while self._searches and self._searches[0] <= now - timedelta(seconds=1):
                self._searches.popleft()
            if self.daily_max and self._daily >= self.daily_max:
                midnight = datetime(now.year, now.month, now.day, tzinfo=now.tzinfo) + timedelta(days=1)
                return Refusal("DAILY", "You have reached your daily limit.",
                               max(1, int((midnight - now).total_seconds())), self._headers())
            if search and self.search_per_second and len(self._searches) >= self.search_per_second:
                return Refusal("SECONDLY", "You have reached your secondly limit.", 1, {})
            if not search and self.interval_max and len(self._calls) >= self.interval_max:
                wait = (self._calls[0] + INTERVAL - now).total_seconds()
                return Refusal("TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit.",
                               max(1, int(wait + 0.999)), self._headers())
            self._daily += 1
            if search:
                self._searches.append(now)
            else:
                self._calls.append(now)
            return None

    def headers(self) -> dict[str, str]:
        """The ``X-HubSpot-RateLimit-*`` headers for a successful call."""
        with self._lock:
            return self._headers()

    def _headers(self) -> dict[str, str]:
        headers = {"X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}
        if self.interval_max:
            headers["X-HubSpot-RateLimit-Max"] = str(self.interval_max)
            headers["X-HubSpot-RateLimit-Remaining"] = str(max(0, self.interval_max - len(self._calls)))
        if self.daily_max:
            headers["X-HubSpot-RateLimit-Daily"] = str(self.daily_max)
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(0, self.daily_max - self._daily))
        return headers
