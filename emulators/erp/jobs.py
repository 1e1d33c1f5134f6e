"""The background worker that runs queued ``asyncUpsertList`` jobs one at a time."""

from __future__ import annotations

import logging
import threading

from emulators.erp.service import ErpService

logger = logging.getLogger("emulators.erp")


class JobRunner:
    """A daemon thread that processes pending jobs (also those interrupted by a restart)."""

    def __init__(self, service: ErpService, poll_seconds: float = 1.0) -> None:
        self.service = service
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="erp-async-jobs", daemon=True)

    def start(self) -> None:
        """Start the worker thread."""
        self._thread.start()

    def stop(self) -> None:
        """Ask the worker to stop and wait for it."""
        self._stop.set()
        self.service.job_added.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.service.job_added.wait(self.poll_seconds)
            self.service.job_added.clear()
            try:
                while not self._stop.is_set() and self.service.run_next_job():
                    pass
            except Exception:
                logger.exception("the asynchronous job worker failed; it keeps running")
