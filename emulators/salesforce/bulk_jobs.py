"""Bulk API 2.0 jobs: their settings, state, results, JSON shapes, and the per-org registry.

Jobs live in memory for the life of the process (not across restarts, and not cleared by
``/__emulator/reset``), one registry per :class:`RecordStore`.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from emulators.salesforce.errors import SalesforceError
from emulators.salesforce.ids import make_id, normalize_id
from emulators.salesforce.storage_format import format_datetime
from emulators.salesforce.store import RecordStore

JOB_KEY_PREFIX = "750"
OPEN, UPLOAD_COMPLETE, IN_PROGRESS = "Open", "UploadComplete", "InProgress"
JOB_COMPLETE, FAILED, ABORTED = "JobComplete", "Failed", "Aborted"
FINISHED = frozenset({JOB_COMPLETE, FAILED, ABORTED})
INGEST, QUERY = "V2Ingest", "V2Query"


@dataclass
class Job:
    """One Bulk API 2.0 job (ingest or query)."""

    id: str
    job_type: str
    operation: str
    object: str
    created_by: str
    created: datetime
    api_version: str
    column_delimiter: str = "COMMA"
    line_ending: str = "LF"
    external_id_field: str | None = None
    soql: str | None = None
    state: str = OPEN
    modified: datetime | None = None
    error_message: str | None = None
    uploads: list[bytes] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    successful: list[list[str]] = field(default_factory=list)
    failed: list[list[str]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    processed: int = 0
    failures: int = 0
    processing_ms: int = 0
    abort_requested: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def is_query(self) -> bool:
        """True for a query job."""
        return self.job_type == QUERY

    def set_state(self, new_state: str, now: datetime, error_message: str | None = None) -> None:
        """Move to ``new_state`` at ``now`` (the caller holds :attr:`lock`)."""
        self.state = new_state
        self.modified = now
        if error_message is not None:
            self.error_message = error_message

    def info(self, *, full: bool) -> dict[str, Any]:
        """The job's JSON: the short form of create/close/abort, or the full form of ``GET`` (``full``)."""
        data: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": self.created_by,
            "createdDate": _stamp(self.created),
            "systemModstamp": _stamp(self.modified or self.created),
            "state": self.state,
        }
        if self.external_id_field:
            data["externalIdFieldName"] = self.external_id_field
        data.update({"concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": float(self.api_version)})
        if not self.is_query:
            data["contentUrl"] = f"services/data/v{self.api_version}/jobs/ingest/{self.id}/batches"
        data.update({"lineEnding": self.line_ending, "columnDelimiter": self.column_delimiter})
        if full:
            data["jobType"] = self.job_type
            data["numberRecordsProcessed"] = self.processed
            if not self.is_query:
                data["numberRecordsFailed"] = self.failures
            data["retries"] = 0
            data["totalProcessingTime"] = self.processing_ms
            if self.is_query:
                data["isPkChunkingSupported"] = True
            else:
                data["apiActiveProcessingTime"] = self.processing_ms
                data["apexProcessingTime"] = 0
            if self.error_message:
                data["errorMessage"] = self.error_message
        return data


def _stamp(when: datetime) -> str:
    return format_datetime(when)


class JobRegistry:
    """The jobs of one org, by id."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._serial = 0
        self._lock = threading.Lock()

    def new_id(self) -> str:
        """A fresh job id (``750...``)."""
        with self._lock:
            self._serial += 1
            return make_id(JOB_KEY_PREFIX, self._serial)

    def add(self, job: Job) -> None:
        """Register ``job``."""
        with self._lock:
            self._jobs[job.id] = job

    def get(self, job_id: str, job_type: str) -> Job:
        """The job ``job_id`` of ``job_type``.

        Raises:
            SalesforceError: 404 ``NOT_FOUND`` for an unknown id, or a job of the other kind.
        """
        with self._lock:
            job = self._jobs.get(normalize_id(job_id) or job_id)
        if job is None or job.job_type != job_type:
            raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    def remove(self, job_id: str) -> None:
        """Forget job ``job_id``."""
        with self._lock:
            self._jobs.pop(job_id, None)

    def clear(self) -> None:
        """Forget every job (a running job finishes, unlisted)."""
        with self._lock:
            self._jobs.clear()

    def listing(self, job_type: str) -> list[Job]:
        """Every job of ``job_type``, oldest first."""
        with self._lock:
            return [job for job in self._jobs.values() if job.job_type == job_type]


_REGISTRIES: weakref.WeakKeyDictionary[RecordStore, JobRegistry] = weakref.WeakKeyDictionary()
_REGISTRIES_LOCK = threading.Lock()


def registry_for(store: RecordStore) -> JobRegistry:
    """The job registry of the org whose records are in ``store``."""
    with _REGISTRIES_LOCK:
        registry = _REGISTRIES.get(store)
        if registry is None:
            registry = _REGISTRIES[store] = JobRegistry()
        return registry
