"""API call counters per endpoint."""

from __future__ import annotations

import threading
from collections import Counter


class CallCounters:
    """Counts calls per endpoint name; thread-safe."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def hit(self, endpoint: str) -> None:
        """Count one call to ``endpoint``."""
        with self._lock:
            self._counts[endpoint] += 1

    def snapshot(self) -> dict[str, object]:
        """Return ``{"total": n, "by_endpoint": {...}}``."""
        with self._lock:
            return {"total": sum(self._counts.values()), "by_endpoint": dict(sorted(self._counts.items()))}

    def reset(self) -> None:
        """Set every counter back to zero."""
        with self._lock:
            self._counts.clear()
