"""The one protocol every system adapter (Salesforce, NetSuite, HubSpot) offers the sync engine.

Tasks never call SOQL, SOAP or REST directly: they read pages of changed records, read records by ids or keys,
write batches idempotently (upsert by the link key, update by record id), delete batches and read deletions,
through :class:`RecordAdapter`. The engine never asks which system a side is: id formats, the system's own field
names (the record id, the link field, the creation stamp) and its write operations stay inside each adapter.
Record-level failures come back as :class:`WriteResult` with an error; whole-call failures raise
:class:`tandem.errors.RetryableSyncError` or :class:`tandem.errors.FatalSyncError`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import pandas as pd


@dataclass(frozen=True)
class WriteResult:
    """The outcome of writing (or deleting) one record of a batch.

    Attributes:
        key: the caller's key for the record: its external id for an upsert, its id for a delete.
        id: the record's id in the target system, when known.
        created: True when an upsert created the record rather than updating it.
        error_code: the system's error code when the record failed, else ``None``.
        error_message: the system's message when the record failed (no field values).
    """

    key: str
    id: str | None
    created: bool = False
    error_code: str | None = None
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        """True when the record was written."""
        return self.error_code is None


@dataclass(frozen=True)
class DeletedRecord:
    """A record deleted in the source system."""

    id: str
    deleted_at: datetime
    external_id: str | None = None


@dataclass(frozen=True)
class DeletedWindow:
    """Deletions in a time window, and how far back the system could answer.

    Attributes:
        records: the deletions found.
        earliest_available: the oldest time the system still reports deletions from; when it is later
            than the window's start, deletions may have been missed and a full reconcile is needed.
    """

    records: list[DeletedRecord]
    earliest_available: datetime | None = None


#: ``page.attrs`` key of a read's pages: how many records the whole read yields, as the system said when the
#: read started (Salesforce ``totalSize``, SuiteTalk ``totalRecords``); for progress only, never for control.
READ_TOTAL = "total"


class RecordAdapter(Protocol):
    """What the engine needs from a system. Entities are the system's own object or record type names.

    Attributes:
        system: a human name of the system for messages ("Salesforce", "NetSuite", "HubSpot").
        link_field: the field the system itself reserves for a foreign key (NetSuite ``externalId``), or ``None``
            when each mapping names it (a Salesforce external-id custom field, a HubSpot unique property): the
            mapping's key for that side is then required.
        created_field: the field holding each record's creation time in reads (``CreatedDate``, ``dateCreated``,
            ``createdate``).
        id_field: the system's own name of the record id (``Id``, ``internalId``, ``hs_object_id``), used only
            where a mapping or a filter names it; reads carry the id as ``id``.
        deletion_granularity: the unit the system reports deletions in (Salesforce: whole minutes, a window of one
            minute at least; ``timedelta(0)`` for a system that answers any window).
    """

    @property
    def system(self) -> str: ...

    @property
    def link_field(self) -> str | None: ...

    @property
    def created_field(self) -> str: ...

    @property
    def id_field(self) -> str: ...

    @property
    def deletion_granularity(self) -> timedelta: ...

    def read_changed_since(
        self, entity: str, since: datetime | None, *, fields: Sequence[str], page_size: int
    ) -> Iterator[pd.DataFrame]:
        """Yield pages of records modified at or after ``since`` (all when ``None``), oldest first.

        Every page has an ``id`` column, a ``modified_at`` column (UTC) and the requested fields; pages may
        carry ``page.attrs[READ_TOTAL]``, the number of records the read will yield.
        """
        ...

    def read_by_ids(self, entity: str, ids: Sequence[str], *, fields: Sequence[str]) -> pd.DataFrame:
        """Return the ``entity`` records with these record ids (missing ones are absent), with ``id``,
        ``modified_at`` and ``fields``."""
        ...

    def read_by_keys(self, entity: str, key_field: str, keys: Sequence[str], *, fields: Sequence[str]) -> pd.DataFrame:
        """Return the records whose ``key_field`` is one of ``keys`` (one row per found record).

        ``key_field`` is the record id, the link field, or a text field (a match key: compared ignoring case, as
        both systems compare text; the caller compares the values it needs exactly).
        """
        ...

    def count(self, entity: str) -> int:
        """How many ``entity`` records the system holds (one cheap call)."""
        ...

    def holds_any(self, entity: str, field: str) -> bool:
        """True when some ``entity`` record has a value in ``field`` (one cheap call: a pass into a target where
        no record holds a link key yet need not look link keys up page by page)."""
        ...

    def gather_size(self, entity: str, expected: int) -> int:
        """How many source records a pass expected to read ``expected`` records gathers into one batch of writes
        (0: it writes page by page). A system with a bulk interface gathers when that saves calls and time."""
        ...

    def upsert_batch(self, entity: str, key_field: str, records: Sequence[dict[str, Any]]) -> list[WriteResult]:
        """Create or update ``records`` by their ``key_field`` (the link field); one result per record, in order.

        Every record carries ``key_field``; a result's ``key`` is the record's key value. A value ``None`` clears
        the field.
        """
        ...

    def update_batch(self, entity: str, records: Sequence[dict[str, Any]]) -> list[WriteResult]:
        """Update existing records by their record id, given in each dict under ``"id"`` (the adapter names it as
        its system does); one result per record, in order, whose ``key`` is the id. ``None`` clears a field."""
        ...

    def delete_batch(self, entity: str, ids: Sequence[str]) -> list[WriteResult]:
        """Delete the records with these ids; one result per id, in order (already gone counts as done)."""
        ...

    def read_deleted_since(self, entity: str, since: datetime, until: datetime) -> DeletedWindow:
        """Return records of ``entity`` deleted between ``since`` and ``until``."""
        ...

    def field_names(self, entity: str) -> set[str] | frozenset[str]:
        """The field names ``entity`` has in this system (to check mappings before writing)."""
        ...

    def is_record_id(self, entity: str, value: str) -> bool:
        """True when ``value`` has the shape of an ``entity`` record id in this system (Salesforce: 15 or 18
        characters starting with the object's key prefix; NetSuite and HubSpot: digits)."""
        ...

    def canonical_id(self, entity: str, value: str) -> str:
        """``value`` (a record id a person typed) in the form reads return and bindings hold (Salesforce: a
        15-character id in its 18-character case-safe form; other systems: unchanged)."""
        ...

    def line_list(self, entity: str, lines: Sequence[dict[str, Any]]) -> Any:
        """The value that replaces an ``entity`` record's line list in a write, from its mapped lines (dotted
        field names, ``item.internalId``, name a reference's part).

        Raises:
            FatalSyncError: ``LINES_UNSUPPORTED`` when the system's records take no line list here.
        """
        ...
