"""The emulator's clock: real time plus an offset that tests can set or advance."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class EmulatorClock:
    """A wall clock that can be moved, so 24-hour and 15-day windows are testable without waiting.

    Time keeps flowing at the real rate; ``set`` and ``advance`` only move the offset.
    """

    def __init__(self, offset_seconds: float = 0.0) -> None:
        self._offset = timedelta(seconds=offset_seconds)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Return the emulator's current time (timezone-aware, UTC)."""
        with self._lock:
            return datetime.now(UTC) + self._offset

    def set(self, when: datetime) -> datetime:
        """Move the clock so that it reads ``when`` now; return the new time."""
        if when.tzinfo is None:
            raise ValueError("the clock needs a timezone-aware time (for example ...Z or +00:00)")
        with self._lock:
            self._offset = when - datetime.now(UTC)
        return self.now()

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward by ``seconds`` (negative moves it back); return the new time."""
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        return self.now()

    def reset(self) -> datetime:
        """Go back to real time."""
        with self._lock:
            self._offset = timedelta(0)
        return self.now()

    @property
    def offset_seconds(self) -> float:
        """The current offset from real time, in seconds."""
        with self._lock:
            return self._offset.total_seconds()
