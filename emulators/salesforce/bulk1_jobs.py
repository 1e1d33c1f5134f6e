"""Bulk API 1.0 jobs and batches: their settings, states, counts, and the per-org registry.

A job (``750...``) holds batches (``751...``); a query batch's results have ids ``752...``.
Job ids come from the same sequence as Bulk API 2.0 jobs, so the two APIs never hand out the
same id. Jobs live in memory for the life of the process, like Bulk API 2.0 jobs.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from emulators.salesforce.bulk_jobs import registry_for as bulk2_registry
from emulators.salesforce.ids import make_id, normalize_id
from emulators.salesforce.store import RecordStore

BATCH_KEY_PREFIX = "751"
RESULT_KEY_PREFIX = "752"
OPEN, CLOSED, ABORTED, FAILED = "Open", "Closed", "Aborted", "Failed"
QUEUED, IN_PROGRESS, COMPLETED, NOT_PROCESSED = "Queued", "InProgress", "Completed", "NotProcessed"
BATCH_STATES = (QUEUED, IN_PROGRESS, COMPLETED, FAILED, NOT_PROCESSED)
BATCH_FINISHED = frozenset({COMPLETED, FAILED, NOT_PROCESSED})
QUERY_OPERATIONS = frozenset({"query", "queryAll"})
#: Batches an org may create per rolling 24 hours (Salesforce's "Batch Allocation").
DAILY_BATCHES = 15_000
DAILY_BATCHES_ENV = "TANDEM_SF_BULK1_DAILY_BATCHES"


class BulkFault(Exception):
    """A request Bulk API 1.0 refuses: ``exceptionCode``, ``exceptionMessage`` and the HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class PkChunking:
    """The ``Sforce-Enable-PKChunking`` settings of a query job."""

    chunk_size: int = 100_000
    #: The parent object of a history or sharing object's chunks; accepted, not used (no such objects here).
    parent: str | None = None
    start_row: str | None = None


@dataclass
class IngestResult:
    """One row's outcome: the record id (``""`` when none), created, and the errors as ``(code, message, fields)``."""

    id: str
    success: bool
    created: bool
    errors: list[tuple[str, str, list[str]]]


@dataclass
class Batch:
    """One batch of a job: its request, state and results."""

    id: str
    job_id: str
    created: datetime
    request: bytes
    state: str = QUEUED
    state_message: str | None = None
    modified: datetime | None = None
    processed: int = 0
    failed: int = 0
    processing_ms: int = 0
    ingest_results: list[IngestResult] = field(default_factory=list)
    result_id: str | None = None
    #: Created by PK chunking from a job's original query batch.
    from_chunking: bool = False
    #: Query results: the CSV header and rows, or the records (JSON and XML jobs).
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)

    def set_state(self, state: str, now: datetime, message: str | None = None) -> None:
        """Move to ``state`` at ``now`` (the caller holds the job's lock)."""
        self.state = state
        self.modified = now
        if message is not None:
            self.state_message = message


@dataclass
class Job:
    """One Bulk API 1.0 job."""

    id: str
    operation: str
    object: str
    created_by: str
    created: datetime
    api_version: str
    content_type: str
    concurrency_mode: str = "Parallel"
    external_id_field: str | None = None
    assignment_rule_id: str | None = None
    pk_chunking: PkChunking | None = None
    state: str = OPEN
    modified: datetime | None = None
    batches: list[Batch] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    #: Held while a batch of a ``Serial`` job runs, so its batches run one after the other.
    serial: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def is_query(self) -> bool:
        """True for ``query`` and ``queryAll`` jobs."""
        return self.operation in QUERY_OPERATIONS

    def set_state(self, state: str, now: datetime) -> None:
        """Move to ``state`` at ``now`` (the caller holds :attr:`lock`)."""
        self.state = state
        self.modified = now

    def batch(self, batch_id: str) -> Batch:
        """The batch ``batch_id`` of this job.

        Raises:
            BulkFault: ``InvalidBatch`` for an id this job does not have.
        """
        wanted = normalize_id(batch_id) or batch_id
        with self.lock:
            for batch in self.batches:
                if batch.id == wanted:
                    return batch
        raise BulkFault("InvalidBatch", f"Unable to find batch for id: {batch_id}")

    def counts(self) -> dict[str, int]:
        """The batch and record counts of the job's info (the caller holds :attr:`lock`)."""
        by_state = {state: 0 for state in BATCH_STATES}
        for batch in self.batches:
            by_state[batch.state] += 1
        return {
            "numberBatchesQueued": by_state[QUEUED],
            "numberBatchesInProgress": by_state[IN_PROGRESS],
            "numberBatchesCompleted": by_state[COMPLETED],
            "numberBatchesFailed": by_state[FAILED],
            "numberBatchesTotal": len(self.batches),
            "numberRecordsProcessed": sum(b.processed for b in self.batches),
            "numberRecordsFailed": sum(b.failed for b in self.batches),
            "totalProcessingTime": sum(b.processing_ms for b in self.batches),
        }


class Registry:
    """The Bulk API 1.0 jobs of one org, and its rolling 24-hour batch allocation."""

    def __init__(self, store: RecordStore) -> None:
        self._store = store
        self._jobs: dict[str, Job] = {}
        self._batch_serial = 0
        self._result_serial = 0
        self._batch_times: deque[datetime] = deque()
        self._lock = threading.Lock()

    def new_job_id(self) -> str:
        """A fresh job id, from the sequence Bulk API 2.0 jobs use."""
        return bulk2_registry(self._store).new_id()

    def new_batch_id(self, now: datetime) -> str:
        """A fresh batch id, charged to the org's batch allocation.

        Raises:
            BulkFault: ``ExceededQuota`` once the org created its allocation of batches in the last 24 hours.
        """
        allowed = int(os.environ.get(DAILY_BATCHES_ENV, str(DAILY_BATCHES)))
        with self._lock:
            while self._batch_times and now - self._batch_times[0] >= timedelta(hours=24):
                self._batch_times.popleft()
            if len(self._batch_times) >= allowed:
                raise BulkFault("ExceededQuota", f"The maximum number of batches ({allowed}) has been submitted "
                                "in the past 24 hours")
            self._batch_times.append(now)
            self._batch_serial += 1
            return make_id(BATCH_KEY_PREFIX, self._batch_serial)

    def batches_used(self, now: datetime) -> int:
        """How many batches the org created in the 24 hours before ``now`` (for ``DailyBulkApiBatches``)."""
        with self._lock:
            return sum(1 for created in self._batch_times if now - created < timedelta(hours=24))

    def new_result_id(self) -> str:
        """A fresh query result id (``752...``)."""
        with self._lock:
            self._result_serial += 1
            return make_id(RESULT_KEY_PREFIX, self._result_serial)[:15]

    def add(self, job: Job) -> None:
        """Register ``job``."""
        with self._lock:
            self._jobs[job.id] = job

    def clear(self) -> None:
        """Forget every job (a running batch finishes, unlisted); the batch allocation is kept."""
        with self._lock:
            self._jobs.clear()

    def get(self, job_id: str) -> Job:
        """The job ``job_id`` (15 or 18 characters).

        Raises:
            BulkFault: ``InvalidJob`` for an unknown id.
        """
        with self._lock:
            job = self._jobs.get(normalize_id(job_id) or job_id)
        if job is None:
            raise BulkFault("InvalidJob", f"Invalid job id: {job_id}")
        return job


_REGISTRIES: weakref.WeakKeyDictionary[RecordStore, Registry] = weakref.WeakKeyDictionary()
_REGISTRIES_LOCK = threading.Lock()


def registry_for(store: RecordStore) -> Registry:
    """The Bulk API 1.0 registry of the org whose records are in ``store``."""
    with _REGISTRIES_LOCK:
        registry = _REGISTRIES.get(store)
        if registry is None:
            registry = _REGISTRIES[store] = Registry(store)
        return registry
