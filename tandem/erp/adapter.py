"""Tandem's ERP adapter: the engine's record protocol over SuiteTalk-style SOAP (zeep + lxml).

* Reads: ``search`` on ``lastModifiedDate`` (``onOrAfter``) with the ``searchPreferences`` page size,
  then ``searchMoreWithId`` page by page; ``getList`` for keys (≤1,000 per call). Responses are
  parsed from the raw bytes with lxml (see :mod:`tandem.erp.parsing`).
* Writes: ``upsertList`` in chunks of ≤100 keyed on externalId; above ``async_threshold`` records,
  ``asyncUpsertList`` jobs of ≤200 polled with ``checkAsyncStatus`` (bounded wait) and collected
  with ``getAsyncResult``. ``deleteList`` in chunks of ≤200 (a record already gone counts as
  deleted). Per-record failures become failed :class:`~tandem.adapter.WriteResult`; a record that
  does not fit the WSDL fails on its own and is not sent.
* Deletions: ``getDeleted`` over a ``deletedDate`` window filtered by record type, page by page.
* Errors: whole-call failures are classified (:mod:`tandem.erp.errors`); idempotent calls are
  retried in the adapter by :class:`~tandem.retrying.RetryPolicy` when transient (``addList`` never is); the
  Prefect task retries only what that did not (:func:`tandem.retrying.worth_retrying_later`).
* Logs carry operations, record types, ids and counts; never field values or credentials.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pandas as pd
from lxml import etree

from tandem.adapter import READ_TOTAL, DeletedRecord, DeletedWindow, WriteResult
from tandem.erp import parsing
from tandem.erp.availability import (
    AVAILABILITY_ENTITY,
    STOCK_ENTITIES,
    StockBook,
    split_availability_key,
    stock_field_names,
)
from tandem.erp.client import ErpConnection, SoapClient
from tandem.erp.custom_records import RecordTypes
from tandem.erp.families import read_family
from tandem.erp.price_book import PriceBook
from tandem.erp.pricing import (
    PRICE_ENTITY,
    PRICE_FIELDS,
    PRICED_ITEM_TYPES,
    price_frame,
    price_rows,
    split_key,
)
from tandem.erp.schema import InvalidRecord, UnknownEntity
from tandem.errors import FatalSyncError, RetryableSyncError
from tandem.id_ranges import IdRange, balanced_boundaries, ranges_between
from tandem.retrying import RetryPolicy

logger = logging.getLogger(__name__)

UPSERT_LIMIT = 100
LIST_LIMIT = 200
GET_LIST_LIMIT = 1000
ASYNC_JOB_LIMIT = 200
MIN_PAGE_SIZE = 5
MAX_PAGE_SIZE = 1000
MAX_SEARCH_RESTARTS = 3
GONE_CODES = frozenset({"RCRD_DSNT_EXIST", "INVALID_KEY_OR_REF", "RCRD_HAS_BEEN_DELETED"})
ID_KEYS = frozenset({"id", "internalId"})
DONE_JOB_STATES = frozenset({"finished", "finishedWithErrors", "failed"})

T = TypeVar("T")


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _nested(line: dict[str, Any]) -> dict[str, Any]:
    """A mapped line with dotted field names as SuiteTalk's nested values; empty values are left out."""
    out: dict[str, Any] = {}
    for name, value in line.items():
        if value is None:
            continue
        base, dot, part = name.partition(".")
        if dot:
            out.setdefault(base, {})[part] = value
        else:
            out[name] = value
    return out


class ErpAdapter:
    """The ERP side of the record protocol (:class:`tandem.adapter.RecordAdapter`).

    Build it with ``ErpCredentials.get_client()``. One adapter holds one HTTP session and may be
    used from several threads; the WSDL is parsed once per process.

    Args:
        connection: the unwrapped connection settings.
        async_threshold: upserts of more records than this use ``asyncUpsertList`` jobs.
        max_attempts: tries per idempotent call inside the adapter (1 leaves retries to the task).
        async_poll_interval: seconds between ``checkAsyncStatus`` polls (doubling up to 5 s).
        async_max_wait: seconds to wait for one async job before a retryable ``ASYNC_TIMEOUT``.
        retry: a full retry policy, instead of ``max_attempts`` with default delays.
    """

    #: The system's name in messages.
    system = "NetSuite"
    #: NetSuite reserves ``externalId`` for a foreign system's key.
    link_field: str | None = "externalId"
    created_field = "dateCreated"
    id_field = "internalId"
    deletion_granularity = timedelta(0)

    def __init__(
        self,
        connection: ErpConnection,
        *,
        async_threshold: int = 2000,
        max_attempts: int = 3,
        async_poll_interval: float = 0.2,
        async_max_wait: float = 600.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.soap = SoapClient(connection)
        self.types = RecordTypes(self.soap.zeep, self._idempotent)
        self.prices = PriceBook(self.types, self._idempotent)
        self.stock = StockBook(self, self._idempotent, self.types)
        self.async_threshold = async_threshold
        self.async_poll_interval = async_poll_interval
        self.async_max_wait = async_max_wait
        self.retry = retry or RetryPolicy(max_attempts=max_attempts)

    def __repr__(self) -> str:
        return f"ErpAdapter(account={self.soap.connection.account!r}, address={self.soap.address!r})"

    def close(self) -> None:
        """Close the HTTP session."""
        self.soap.close()

    # -- calls ---------------------------------------------------------------------------------

    def _call(self, operation: str, headers: dict[str, Any] | None = None, **body: Any) -> etree._Element:
        response = self.soap.call(operation, headers, **body)
        return parsing.parse_body(response.content, operation)

    def _idempotent(self, operation: str, headers: dict[str, Any] | None = None, **body: Any) -> etree._Element:
        return self.retry.run(operation, lambda: self._call(operation, headers, **body))

    def _record_type(self, entity: str) -> None:
        if entity == PRICE_ENTITY:
            return
        try:
            self.types.record_type(entity)
        except UnknownEntity as exc:
            raise FatalSyncError(str(exc), code="INVALID_RCRD_TYPE", system="erp") from exc

    # -- reads ---------------------------------------------------------------------------------

    def read_changed_since(
        self, entity: str, since: datetime | None, *, fields: Sequence[str], page_size: int
    ) -> Iterator[pd.DataFrame]:
        """Yield pages of ``entity`` records modified at or after ``since`` (all when ``None``).

        Uses ``search`` with ``lastModifiedDate onOrAfter`` and then ``searchMoreWithId``; the page
        size is clamped to SuiteTalk's 5-1,000. Results come ordered by ``lastModifiedDate`` then
        internal id. When the search expires between pages (``INVALID_SEARCH``, 15 minutes idle),
        the adapter searches again from the last ``modified_at`` it yielded and skips the records
        it already yielded with that timestamp, so nothing is lost or repeated.

        Args:
            entity: the record type (``customer`` ...).
            since: the watermark (inclusive), or ``None`` for every record.
            fields: the flat column names wanted.
            page_size: records per page.

        Yields:
            One frame per page with ``id``, ``modified_at`` (UTC) and the requested fields (see
            :mod:`tandem.erp.parsing` for reference columns), oldest modification first.
        """
        if entity in STOCK_ENTITIES:
            yield from self.stock.read_changed_since(entity, since, fields, page_size)
            return
        self._record_type(entity)
        if entity == PRICE_ENTITY:
            yield from self._read_prices(since, fields, page_size)
            return
        if read_family(entity).get_all:
            yield self._get_all(entity, fields)
            return
        yield from self._search_pages(entity, since, fields, page_size)

    def _search_pages(
        self, entity: str, since: datetime | None, fields: Sequence[str], page_size: int,
        criteria: dict[str, Any] | None = None,
    ) -> Iterator[pd.DataFrame]:
        """The pages of a ``search`` of ``entity`` on ``lastModifiedDate onOrAfter since`` (and ``criteria``), then
        ``searchMoreWithId``, searching again from the last page's time when the search expires between pages (see
        :meth:`read_changed_since`)."""
        size = max(MIN_PAGE_SIZE, min(MAX_PAGE_SIZE, page_size))
        preferences = {"searchPreferences": {"bodyFieldsOnly": True, "returnSearchColumns": False, "pageSize": size}}
        references = self.types.reference_fields(entity)
        watermark = _utc(since) if since is not None else None
        yielded_at_watermark: set[str] = set()
        skip: set[str] = set()
        restarts = 0
        result = self._search(entity, watermark, preferences, criteria)
        total_pages = int(parsing.text(result, "totalPages") or 0)
        total_records = int(parsing.text(result, "totalRecords") or 0)
        search_id = parsing.text(result, "searchId")
        index = 1
        while True:
            frame = self._page_frame(result, fields, references)
            if not restarts:
                frame.attrs[READ_TOTAL] = total_records
            if skip and len(frame):
                repeated = frame["id"].isin(skip) & (frame["modified_at"] == pd.Timestamp(watermark))
                frame = frame[~repeated].reset_index(drop=True)
            if len(frame):
                newest = frame["modified_at"].max()
                newest_ids = set(frame.loc[frame["modified_at"] == newest, "id"])
                if watermark is not None and newest == pd.Timestamp(watermark):
                    yielded_at_watermark |= newest_ids
                else:
                    yielded_at_watermark = newest_ids
                watermark = newest.to_pydatetime()
                yield frame
            if index >= total_pages:
                return
            index += 1
            try:
                page = self._idempotent("searchMoreWithId", preferences, searchId=search_id, pageIndex=index)
            except FatalSyncError as exc:
                if exc.code != "INVALID_SEARCH" or restarts >= MAX_SEARCH_RESTARTS:
                    raise
                restarts += 1
                logger.warning("erp search %s expired at page %d; searching again from the last page", entity, index)
                skip = set(yielded_at_watermark)
                result = self._search(entity, watermark, preferences, criteria)
                total_pages = int(parsing.text(result, "totalPages") or 0)
                search_id = parsing.text(result, "searchId")
                index = 1
                continue
            result = self._search_result(page, "searchMoreWithId")

    def _get_all(self, entity: str, fields: Sequence[str]) -> pd.DataFrame:
        """Every record of a list record type NetSuite reads with ``getAll`` (it has no search, no dates)."""
        response = self._idempotent("getAll", record=self.types.get("GetAllRecord")(recordType=entity))
        result = parsing.find(response, "getAllResult")
        if result is None:
            raise FatalSyncError("getAll: no getAllResult", code="MALFORMED_RESPONSE", system="erp")
        status = parsing.parse_status(result)
        if not status.ok:
            raise FatalSyncError(f"getAll failed: {status.message or ''}", code=status.code or "", system="erp")
        records = parsing.children(parsing.find(result, "recordList"), "record")
        frame = parsing.records_frame(records, fields, self.types.reference_fields(entity))
        frame.attrs[READ_TOTAL] = len(frame)
        logger.info("erp getAll %s: %d records", entity, len(frame))
        return frame

    def _read_prices(self, since: datetime | None, fields: Sequence[str], page_size: int) -> Iterator[pd.DataFrame]:
        """The virtual ``itemPrice`` rows of the priced item types modified since ``since`` (see
        :mod:`tandem.erp.pricing`), one frame per page of items."""
        size = max(MIN_PAGE_SIZE, min(MAX_PAGE_SIZE, page_size))
        preferences = {"searchPreferences": {"bodyFieldsOnly": False, "returnSearchColumns": False, "pageSize": size}}
        for item_type in PRICED_ITEM_TYPES:
            result = self._search(item_type, _utc(since) if since is not None else None, preferences)
            total_pages = int(parsing.text(result, "totalPages") or 0)
            search_id = parsing.text(result, "searchId")
            index = 1
            while True:
                records = parsing.children(parsing.find(result, "recordList"), "record")
                frame = price_frame(price_rows(records, item_type), fields)
                if len(frame):
                    yield frame
                if index >= total_pages:
                    break
                index += 1
                page = self._idempotent("searchMoreWithId", preferences, searchId=search_id, pageIndex=index)
                result = self._search_result(page, "searchMoreWithId")

    def gather_size(self, entity: str, expected: int) -> int:
        """0: SuiteTalk writes at most 100 records a call (``upsertList``) whatever is gathered, so pages are
        written as they come."""
        return 0

    def id_ranges(self, entity: str, partitions: int, *, min_records: int = 1) -> list[IdRange]:
        """At most ``partitions`` ranges of ``entity`` internal ids holding about as many records each, ``min_records``
        or more (a partitioned read: :mod:`tandem.id_ranges`).

        SuiteTalk cannot sort a search by internal id, but a search's ``totalRecords`` counts the records whose
        ``internalIdNumber`` is below a number (smallest page): the boundaries are found by counting (about
        ``log2(highest id / 1024)`` searches, plus a few per boundary). One whole range for the types read otherwise
        (item prices, stock, ``getAll`` types), a type whose search has no ``internalIdNumber``, or too few records.
        """
        family = read_family(entity)
        basic = self.types.get(family.basic) if family.basic and self.types.has(family.basic) else None
        special = entity in STOCK_ENTITIES or entity == PRICE_ENTITY or family.get_all
        if partitions < 2 or special or basic is None or "internalIdNumber" not in {n for n, _ in basic.elements}:
            return [IdRange()]
        preferences = {"searchPreferences": {"bodyFieldsOnly": True, "returnSearchColumns": False,
                                             "pageSize": MIN_PAGE_SIZE}}
        long_field = self.types.get("SearchLongField")

        def count_below(number: int) -> int:
            criteria = {"internalIdNumber": long_field(operator="lessThan", searchValue=number)}
            return int(parsing.text(self._search(entity, None, preferences, criteria, quiet=True), "totalRecords") or 0)

        total = self.count(entity)
        boundaries = balanced_boundaries(total, min(partitions, total // max(1, min_records)), count_below)
        return ranges_between([str(boundary) for boundary in boundaries])

    def read_id_range(
        self, entity: str, since: datetime | None, id_range: IdRange, *, fields: Sequence[str], page_size: int
    ) -> Iterator[pd.DataFrame]:
        """Yield pages of the ``entity`` records of ``id_range`` modified at or after ``since`` (all when ``None``):
        :meth:`read_changed_since` with an ``internalIdNumber`` criterion (``between``, ``greaterThanOrEqualTo`` or
        ``lessThan``); the whole range is :meth:`read_changed_since` itself.

        Raises:
            FatalSyncError: ``INVALID_ID_RANGE`` for a bound that is not an internal id.
        """
        if id_range.whole:
            yield from self.read_changed_since(entity, since, fields=fields, page_size=page_size)
            return
        self._record_type(entity)
        try:
            low, high = (None if end is None else int(end) for end in (id_range.low, id_range.high))
        except ValueError:
            raise FatalSyncError(f"{id_range} is not a range of internal ids", code="INVALID_ID_RANGE",
                                 system="erp") from None
        long_field = self.types.get("SearchLongField")
        if low is not None and high is not None:
            criterion = long_field(operator="between", searchValue=low, searchValue2=high - 1)
        elif low is not None:
            criterion = long_field(operator="greaterThanOrEqualTo", searchValue=low)
        else:
            criterion = long_field(operator="lessThan", searchValue=high)
        yield from self._search_pages(entity, since, fields, page_size, {"internalIdNumber": criterion})

    def holds_any(self, entity: str, field: str) -> bool:
        """True when some ``entity`` record has a value in ``field``.

        For ``externalId`` (the ERP's link field) one search with ``externalIdString notEmpty`` and the smallest
        page answers it; item prices always carry their synthetic key; for a ``getAll`` type the records are
        read. Any other field is not searchable generically, so the answer is True (links are then looked up).
        """
        if entity in STOCK_ENTITIES:
            return True  # every stock row carries its link (its synthetic key, or its item's externalId)
        self._record_type(entity)
        if field != "externalId":
            return True
        if entity == PRICE_ENTITY:
            return any(len(page) for page in self._read_prices(None, ["externalId"], MIN_PAGE_SIZE))
        family = read_family(entity)
        if family.get_all:
            return bool(self._get_all(entity, ["externalId"])["externalId"].notna().any())
        criteria = {"externalIdString": self.types.get("SearchStringField")(operator="notEmpty")}
        preferences = {"searchPreferences": {"bodyFieldsOnly": True, "returnSearchColumns": False,
                                             "pageSize": MIN_PAGE_SIZE}}
        result = self._search(entity, None, preferences, criteria)
        return int(parsing.text(result, "totalRecords") or 0) > 0

    def _search(
        self, entity: str, since: datetime | None, preferences: dict[str, Any], extra: dict[str, Any] | None = None,
        *, quiet: bool = False,
    ) -> etree._Element:
        family = read_family(entity)
        if family.basic is None or not self.types.has(family.basic):
            raise FatalSyncError(f"the ERP cannot search {entity!r}", code="INVALID_RCRD_TYPE", system="erp")
        basic = self.types.get(family.basic)
        searchable = {name for name, _ in basic.elements}
        criteria: dict[str, Any] = {}
        if since is not None and family.modified in searchable:
            criteria[family.modified] = self.types.get("SearchDateField")(operator="onOrAfter", searchValue=_utc(since))
        if family.custom:
            criteria["recType"] = self.types.get("RecordRef")(internalId=self.types.custom_type(entity).internal_id)
        enum_field = self.types.get("SearchEnumMultiSelectField")
        if family.types:
            criteria["type"] = enum_field(operator="anyOf", searchValue=list(family.types))
        if family.sub_types:
            criteria["subType"] = enum_field(operator="anyOf", searchValue=list(family.sub_types))
        search_record = basic(**criteria, **(extra or {}))
        result = self._search_result(self._idempotent("search", preferences, searchRecord=search_record), "search")
        (logger.debug if quiet else logger.info)(
            "erp search %s: %s records in %s pages",
            entity, parsing.text(result, "totalRecords"), parsing.text(result, "totalPages"),
        )
        return result

    def _search_result(self, response: etree._Element, operation: str) -> etree._Element:
        result = parsing.find(response, "searchResult")
        if result is None:
            raise FatalSyncError(f"{operation}: no searchResult", code="MALFORMED_RESPONSE", system="erp")
        status = parsing.parse_status(result)
        if not status.ok:
            raise FatalSyncError(f"{operation} failed: {status.message or ''}", code=status.code or "", system="erp")
        return result

    @staticmethod
    def _page_frame(result: etree._Element, fields: Sequence[str], references: Collection[str]) -> pd.DataFrame:
        records = parsing.children(parsing.find(result, "recordList"), "record")
        return parsing.records_frame(records, fields, references)

    def field_names(self, entity: str) -> frozenset[str]:
        """The fields of record type ``entity`` in the WSDL (to check mappings before writing)."""
        if entity in STOCK_ENTITIES:
            return stock_field_names(entity)
        self._record_type(entity)
        if entity == PRICE_ENTITY:
            return PRICE_FIELDS
        return self.types.field_names(entity)

    def read_by_keys(self, entity: str, key_field: str, keys: Sequence[str], *, fields: Sequence[str]) -> pd.DataFrame:
        """Return the ``entity`` records whose ``key_field`` is one of ``keys`` (``getList``, or searches).

        Args:
            entity: the record type.
            key_field: ``internalId`` (or ``id``) or ``externalId`` (``getList``, ≤1,000 keys a call); or a text
                field the record type's search filters on (a match key: see :meth:`_read_by_values`).
            keys: the key values.
            fields: the flat column names wanted.

        Returns:
            One row per record found (keys not found are left out), with the ``key_field`` column.
        """
        if entity in STOCK_ENTITIES:
            return self.stock.read_by_keys(entity, key_field, keys, fields)
        self._record_type(entity)
        if entity == PRICE_ENTITY:
            if key_field not in ID_KEYS and key_field != "externalId":
                raise FatalSyncError(
                    "item prices are read by their synthetic key", code="INVALID_KEY_FIELD", system="erp"
                )
            return self.prices.read_by_keys(keys, fields, key_field)
        if key_field in ID_KEYS:
            part = "internalId"
        elif key_field == "externalId":
            part = "externalId"
        else:
            return self._read_by_values(entity, key_field, keys, fields)
        found: list[etree._Element] = []
        missing = 0
        for chunk in _chunks(list(dict.fromkeys(str(k) for k in keys)), GET_LIST_LIMIT):
            refs = [self.types.record_ref(entity, **{part: key}) for key in chunk]
            response = self._idempotent("getList", baseRef=refs)
            for read in response.iter("{*}readResponse"):
                status = parsing.parse_status(read)
                record = parsing.find(read, "record")
                if status.ok and record is not None:
                    found.append(record)
                elif status.code in GONE_CODES:
                    missing += 1
                else:
                    raise FatalSyncError(
                        f"getList failed: {status.message or ''}", code=status.code or "UNKNOWN_ERROR", system="erp"
                    )
        logger.info("erp getList %s: %d found, %d not found", entity, len(found), missing)
        columns = list(dict.fromkeys([part, *fields]))
        return parsing.records_frame(found, columns, self.types.reference_fields(entity))

    def read_by_ids(self, entity: str, ids: Sequence[str], *, fields: Sequence[str]) -> pd.DataFrame:
        """Return the ``entity`` records with these internal ids (``getList``; missing ones are left out)."""
        return self.read_by_keys(entity, "internalId", ids, fields=fields)

    def is_record_id(self, entity: str, value: str) -> bool:
        """True when ``value`` is shaped as an ``entity`` record id: an internal id (digits), or for the rows Tandem
        composes (item prices, item availability) their synthetic key."""
        if entity == PRICE_ENTITY:
            return split_key(value) is not None
        if entity == AVAILABILITY_ENTITY:
            return split_availability_key(value) is not None
        return value.isascii() and value.isdigit()

    def canonical_id(self, entity: str, value: str) -> str:
        """Internal ids have one form: ``value`` as given."""
        return value

    def line_list(self, entity: str, lines: Sequence[dict[str, Any]]) -> Any:
        """The record's ``itemList`` replacing its lines (``replaceAll``), each line's dotted fields nested as
        SuiteTalk's references (``item.internalId`` -> ``{"item": {"internalId": ...}}``); empty values are not sent."""
        return {"replaceAll": True, "item": [_nested(line) for line in lines]}

    def _read_by_values(self, entity: str, field: str, values: Sequence[str], fields: Sequence[str]) -> pd.DataFrame:
        """The records whose text ``field`` equals one of ``values``, ignoring case and surrounding blanks.

        SuiteTalk's ``SearchStringField`` compares one value per criterion (its operators are ``is``, ``startsWith``,
        ``contains`` ... and no ``anyOf``), so each distinct value costs one ``search`` (all its pages): with
        ``startsWith``, case-insensitive in NetSuite and the emulator, and the records found are kept when their
        value is the wanted one. A ``getAll`` type is read whole (one call) and filtered. (The emulator folds the case
        of ASCII letters only, as SQLite's ``LIKE``: a caller finds other letters in any case by sending the spellings.)

        Raises:
            FatalSyncError: ``INVALID_KEY_FIELD`` when the record type's search cannot filter on ``field``.
        """
        searched = [text for text in dict.fromkeys(str(v).strip() for v in values) if text]
        wanted = {text.casefold() for text in searched}
        family = read_family(entity)
        columns = list(dict.fromkeys([field, *fields]))
        if family.get_all:
            frame = self._get_all(entity, columns)
        else:
            basic = self.types.get(family.basic) if family.basic and self.types.has(family.basic) else None
            if basic is None or field not in {name for name, _ in basic.elements}:
                raise FatalSyncError(
                    f"the ERP cannot search {entity!r} by {field!r}", code="INVALID_KEY_FIELD", system="erp"
                )
            preferences = {"searchPreferences": {"bodyFieldsOnly": True, "returnSearchColumns": False,
                                                 "pageSize": MAX_PAGE_SIZE}}
            found: list[etree._Element] = []
            for value in searched:
                criteria = {field: self.types.get("SearchStringField")(operator="startsWith", searchValue=value)}
                result = self._search(entity, None, preferences, criteria, quiet=True)
                total_pages = int(parsing.text(result, "totalPages") or 0)
                search_id = parsing.text(result, "searchId")
                found.extend(parsing.children(parsing.find(result, "recordList"), "record"))
                for index in range(2, total_pages + 1):
                    page = self._idempotent("searchMoreWithId", preferences, searchId=search_id, pageIndex=index)
                    found.extend(parsing.children(parsing.find(self._search_result(page, "searchMoreWithId"),
                                                               "recordList"), "record"))
            frame = parsing.records_frame(found, columns, self.types.reference_fields(entity))
            logger.info("erp search %s by %s: %d values, %d records", entity, field, len(searched), len(frame))
        keep = frame[field].map(lambda v: v is not None and str(v).strip().casefold() in wanted)
        return frame[keep.astype(bool)].drop_duplicates("id").reset_index(drop=True)

    def count(self, entity: str) -> int:
        """How many ``entity`` records the ERP holds (a search's ``totalRecords`` with the smallest page)."""
        self._record_type(entity)
        if entity == PRICE_ENTITY:
            return sum(len(page) for page in self._read_prices(None, ["externalId"], MAX_PAGE_SIZE))
        if read_family(entity).get_all:
            return len(self._get_all(entity, ["externalId"]))
        preferences = {"searchPreferences": {"bodyFieldsOnly": True, "returnSearchColumns": False,
                                             "pageSize": MIN_PAGE_SIZE}}
        return int(parsing.text(self._search(entity, None, preferences), "totalRecords") or 0)

    # -- writes --------------------------------------------------------------------------------

    def upsert_batch(self, entity: str, key_field: str, records: Sequence[dict[str, Any]]) -> list[WriteResult]:
        """Create or update ``records`` keyed on their external id; one result per record, in order.

        ``key_field`` names the column holding the external id (``externalId`` usually). Batches
        above ``async_threshold`` go through ``asyncUpsertList`` jobs, others through ``upsertList``
        calls of ≤100 records. Repeating a batch is safe: the ERP matches records by external id.

        Args:
            entity: the record type.
            key_field: the column with each record's external id.
            records: flat records (see :mod:`tandem.erp.schema`).

        Returns:
            One result per record; ``created`` is True when the record did not exist before.
        """
        self._record_type(entity)
        if entity == PRICE_ENTITY:
            prices = self.prices.upsert(key_field, records)
            logger.info("erp upsert itemPrice: %d rows, %d failed", len(prices), sum(1 for r in prices if not r.ok))
            return prices
        results: list[WriteResult | None] = [None] * len(records)
        typed: list[tuple[int, str, Any]] = []
        for index, flat in enumerate(records):
            key = flat.get(key_field)
            if key is None or str(key) == "":
                results[index] = WriteResult(
                    key="", id=None, error_code="MISSING_EXTERNAL_ID", error_message=f"no {key_field} value"
                )
                continue
            values = {k: v for k, v in flat.items() if k != key_field}
            values["externalId"] = str(key)
            try:
                typed.append((index, str(key), self.types.record(entity, values)))
            except InvalidRecord as exc:
                results[index] = WriteResult(key=str(key), id=None, error_code="INVALID_FIELD", error_message=str(exc))
        existing = self._existing_external_ids(entity, [key for _, key, _ in typed])
        if len(typed) > self.async_threshold:
            written = self._upsert_async(typed, existing)
        else:
            written = self._upsert_sync(typed, existing)
        for index, result in written:
            results[index] = result
        final = [r for r in results if r is not None]
        failed = sum(1 for r in final if not r.ok)
        logger.info("erp upsert %s: %d records, %d failed", entity, len(final), failed)
        return final

    def update_batch(self, entity: str, records: Sequence[dict[str, Any]]) -> list[WriteResult]:
        """Update existing records by internal id (each dict's ``"id"``) with ``updateList`` (≤100 per call).

        Idempotent (the same values again change nothing); a record that does not exist fails alone with
        ``RCRD_DSNT_EXIST``, one that does not fit the WSDL with ``INVALID_FIELD``. ``None`` clears a field.

        Returns:
            One result per record, in order, keyed by its internal id.
        """
        self._record_type(entity)
        if entity == PRICE_ENTITY or entity in STOCK_ENTITIES:
            raise FatalSyncError(f"{entity} rows are written with upsert_batch", code="UNSUPPORTED_OPERATION",
                                 system="erp")
        results: list[WriteResult | None] = [None] * len(records)
        typed: list[tuple[int, str, Any]] = []
        for index, flat in enumerate(records):
            record_id = str(flat.get("id") or "")
            values = {k: v for k, v in flat.items() if k != "id"}
            values["internalId"] = record_id
            try:
                typed.append((index, record_id, self.types.record(entity, values)))
            except InvalidRecord as exc:
                results[index] = WriteResult(key=record_id, id=record_id, error_code="INVALID_FIELD",
                                             error_message=str(exc))
        ids = {record_id for _, record_id, _ in typed}
        for chunk in _chunks(typed, UPSERT_LIMIT):
            response = self._idempotent("updateList", record=[value for _, _, value in chunk])
            for index, result in self._write_results(response, chunk, ids, "updateList"):
                results[index] = result
        final = [r for r in results if r is not None]
        logger.info("erp update %s: %d records, %d failed", entity, len(final), sum(1 for r in final if not r.ok))
        return final

    def _existing_external_ids(self, entity: str, keys: Sequence[str]) -> set[str]:
        """External ids among ``keys`` that already exist (to tell created from updated)."""
        existing: set[str] = set()
        for chunk in _chunks(list(dict.fromkeys(keys)), GET_LIST_LIMIT):
            refs = [self.types.record_ref(entity, externalId=key) for key in chunk]
            response = self._idempotent("getList", baseRef=refs)
            for read in response.iter("{*}readResponse"):
                record = parsing.find(read, "record")
                if record is not None and record.get("externalId"):
                    existing.add(str(record.get("externalId")))
        return existing

    def _upsert_sync(self, typed: Sequence[tuple[int, str, Any]], existing: set[str]) -> list[tuple[int, WriteResult]]:
        out: list[tuple[int, WriteResult]] = []
        for chunk in _chunks(typed, UPSERT_LIMIT):
            response = self._idempotent("upsertList", record=[value for _, _, value in chunk])
            out.extend(self._write_results(response, chunk, existing, "upsertList"))
        return out

    def _upsert_async(self, typed: Sequence[tuple[int, str, Any]], existing: set[str]) -> list[tuple[int, WriteResult]]:
        jobs: list[tuple[str, Sequence[tuple[int, str, Any]]]] = []
        for chunk in _chunks(typed, ASYNC_JOB_LIMIT):
            response = self._idempotent("asyncUpsertList", record=[value for _, _, value in chunk])
            job_id = parsing.text(next(response.iter("{*}asyncStatusResult"), None), "jobId")
            if not job_id:
                raise FatalSyncError("asyncUpsertList returned no jobId", code="MALFORMED_RESPONSE", system="erp")
            jobs.append((job_id, chunk))
        logger.info("erp asyncUpsertList: %d jobs submitted", len(jobs))
        out: list[tuple[int, WriteResult]] = []
        for job_id, chunk in jobs:
            self._wait_for_job(job_id)
            response = self._idempotent("getAsyncResult", jobId=job_id, pageIndex=1)
            out.extend(self._write_results(response, chunk, existing, "getAsyncResult"))
        return out

    def _wait_for_job(self, job_id: str) -> None:
        deadline = time.monotonic() + self.async_max_wait
        interval = self.async_poll_interval
        while True:
            response = self._idempotent("checkAsyncStatus", jobId=job_id)
            status = parsing.text(next(response.iter("{*}asyncStatusResult"), None), "status") or ""
            if status in DONE_JOB_STATES:
                if status == "failed":
                    raise RetryableSyncError(f"async job {job_id} failed", code="ASYNC_JOB_FAILED", system="erp")
                return
            if time.monotonic() + interval > deadline:
                raise RetryableSyncError(
                    f"async job {job_id} still {status or 'pending'} after {self.async_max_wait:.0f} s",
                    code="ASYNC_TIMEOUT",
                    system="erp",
                )
            time.sleep(interval)
            interval = min(5.0, interval * 2)

    def _write_results(
        self,
        response: etree._Element,
        chunk: Sequence[tuple[int, str, Any]],
        existing: set[str],
        operation: str,
    ) -> list[tuple[int, WriteResult]]:
        responses = list(response.iter("{*}writeResponse"))
        if len(responses) != len(chunk):
            raise FatalSyncError(
                f"{operation} answered {len(responses)} results for {len(chunk)} records",
                code="MALFORMED_RESPONSE",
                system="erp",
            )
        out: list[tuple[int, WriteResult]] = []
        for (index, key, _), write in zip(chunk, responses, strict=True):
            status = parsing.parse_status(write)
            ref = parsing.find(write, "baseRef")
            internal_id = ref.get("internalId") if ref is not None else None
            if status.ok:
                out.append((index, WriteResult(key=key, id=internal_id, created=key not in existing)))
                existing.add(key)
            else:
                out.append(
                    (index, WriteResult(key=key, id=internal_id, error_code=status.code, error_message=status.message))
                )
        return out

    def delete_batch(self, entity: str, ids: Sequence[str]) -> list[WriteResult]:
        """Delete records by internal id with ``deleteList`` (≤200 per call); gone already is done.

        Args:
            entity: the record type.
            ids: internal ids.

        Returns:
            One result per id, in order.
        """
        self._record_type(entity)
        if entity == PRICE_ENTITY:
            return self.prices.delete(ids)
        results: list[WriteResult] = []
        for chunk in _chunks([str(i) for i in ids], LIST_LIMIT):
            refs = [self.types.record_ref(entity, internalId=record_id) for record_id in chunk]
            response = self._idempotent("deleteList", baseRef=refs)
            responses = list(response.iter("{*}writeResponse"))
            if len(responses) != len(chunk):
                raise FatalSyncError(
                    "deleteList answered the wrong number of results", code="MALFORMED_RESPONSE", system="erp"
                )
            for record_id, write in zip(chunk, responses, strict=True):
                status = parsing.parse_status(write)
                if status.ok or status.code in GONE_CODES:
                    results.append(WriteResult(key=record_id, id=record_id))
                else:
                    results.append(
                        WriteResult(key=record_id, id=record_id, error_code=status.code, error_message=status.message)
                    )
        logger.info("erp delete %s: %d ids, %d failed", entity, len(results), sum(1 for r in results if not r.ok))
        return results

    # -- deletions -----------------------------------------------------------------------------

    def _deleted_type(self, entity: str) -> dict[str, Any]:
        """getDeleted's filter on the record type: ``customRecord`` with the ``scriptId`` for a custom record type."""
        enum_field = self.types.get("SearchEnumMultiSelectField")
        if read_family(entity).custom:
            return {"type": enum_field(operator="anyOf", searchValue=["customRecord"]),
                    "scriptId": self.types.get("SearchStringField")(operator="is", searchValue=entity)}
        return {"type": enum_field(operator="anyOf", searchValue=[entity])}

    def read_deleted_since(self, entity: str, since: datetime, until: datetime) -> DeletedWindow:
        """Return ``entity`` records deleted between ``since`` and ``until`` (``getDeleted``, paged).

        Args:
            entity: the record type.
            since: the window's start.
            until: the window's end.

        Returns:
            The deletions and, when the ERP says so, the earliest time it still reports.
        """
        # A price line removed from a matrix, or a location line from an item, leaves no deletion record in NetSuite.
        if entity in STOCK_ENTITIES:
            return DeletedWindow(records=[], earliest_available=None)
        self._record_type(entity)
        if entity == PRICE_ENTITY:
            return DeletedWindow(records=[], earliest_available=None)
        deleted_filter = self.types.get("GetDeletedFilter")(
            deletedDate=self.types.get("SearchDateField")(
                operator="within", searchValue=_utc(since), searchValue2=_utc(until)
            ),
            **self._deleted_type(entity),
        )
        records: list[DeletedRecord] = []
        earliest: datetime | None = None
        index, total_pages = 1, 1
        while index <= total_pages:
            response = self._idempotent("getDeleted", getDeletedFilter=deleted_filter, pageIndex=index)
            result = next(response.iter("{*}getDeletedResult"), None)
            if result is None:
                raise FatalSyncError("getDeleted: no getDeletedResult", code="MALFORMED_RESPONSE", system="erp")
            status = parsing.parse_status(result)
            if not status.ok:
                raise FatalSyncError(f"getDeleted failed: {status.message or ''}", code=status.code or "", system="erp")
            total_pages = int(parsing.text(result, "totalPages") or 1)
            earliest = parsing.parse_datetime(parsing.text(result, "earliestDateAvailable")) or earliest
            for item in result.iter("{*}deletedRecord"):
                ref = parsing.find(item, "record")
                deleted_at = parsing.parse_datetime(parsing.text(item, "deletedDate"))
                if ref is None or deleted_at is None or not ref.get("internalId"):
                    continue
                records.append(
                    DeletedRecord(
                        id=str(ref.get("internalId")), deleted_at=deleted_at, external_id=ref.get("externalId")
                    )
                )
            index += 1
        logger.info("erp getDeleted %s: %d deletions", entity, len(records))
        return DeletedWindow(records=records, earliest_available=earliest)

    # -- plain creates (never retried) ---------------------------------------------------------

    def add_batch(self, entity: str, records: Sequence[dict[str, Any]]) -> list[WriteResult]:
        """Create records with ``addList`` (≤200 per call). Never retried: a lost answer could mean a
        created record, and repeating would duplicate it; prefer :meth:`upsert_batch`.

        Args:
            entity: the record type.
            records: flat records.

        Returns:
            One result per record, keyed by its ``externalId`` when it has one.
        """
        self._record_type(entity)
        if entity == PRICE_ENTITY:
            raise FatalSyncError("item prices are written with upsert_batch (into the item's pricing matrix)",
                                 code="UNSUPPORTED_OPERATION", system="erp")
        results: list[WriteResult] = []
        for chunk in _chunks(list(records), LIST_LIMIT):
            typed: list[tuple[int, str, Any]] = []
            chunk_results: dict[int, WriteResult] = {}
            for index, flat in enumerate(chunk):
                key = str(flat.get("externalId") or "")
                try:
                    typed.append((index, key, self.types.record(entity, flat)))
                except InvalidRecord as exc:
                    chunk_results[index] = WriteResult(
                        key=key, id=None, error_code="INVALID_FIELD", error_message=str(exc)
                    )
            if typed:
                response = self._call("addList", record=[value for _, _, value in typed])
                for index, result in self._write_results(response, typed, set(), "addList"):
                    chunk_results[index] = result
            results.extend(chunk_results[i] for i in sorted(chunk_results))
        return results

