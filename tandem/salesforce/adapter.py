"""Tandem's Salesforce adapter: the engine's small protocol over simple-salesforce.

Reads use SOQL built with ``format_soql`` and follow ``nextRecordsUrl``; a read by keys sizes each
query by the bytes of its encoded URL, so no request nears Salesforce's 16,384-byte limit on a
request's URI and headers (``414 URI Too Long`` / ``431 Request Header Fields Too Large``), and
reads again a query whose cursor Salesforce closed (``INVALID_QUERY_LOCATOR``). Writes go through sObject
Collections in batches of 200 (upsert by external id, so a retried batch never duplicates), and
upserts of more records than ``bulk_threshold`` go through a Bulk API 2.0 ingest job whose result
files are mapped back to one result per input record. An expired session is renewed once,
transparently, when the adapter was given a way to log in again.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote_plus, urlencode, urlsplit

import pandas as pd
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceExpiredSession, SalesforceResourceNotFound
from simple_salesforce.format import format_soql, quote_soql_value
from simple_salesforce.util import exception_handler

from tandem.adapter import READ_TOTAL, DeletedRecord, DeletedWindow, WriteResult
from tandem.errors import FatalSyncError, RetryableSyncError
from tandem.id_ranges import IdRange, even_boundaries, from_base62, ranges_between, to_base62
from tandem.redaction import redact
from tandem.salesforce.bulk_query import DEFAULT_BULK_READ_THRESHOLD, BulkQueryReader, changed_since_soql
from tandem.salesforce.errors import classify

log = logging.getLogger(__name__)

COLLECTION_LIMIT = 200
KEYS_PER_QUERY = 300
#: The most bytes a query's request URI (path and encoded query string) may take. Salesforce refuses a
#: request whose URI and headers pass 16,384 bytes and recommends keeping headers under about 8,000.
MAX_QUERY_URI_BYTES = 8_192
#: How many times a multi-page read starts again when Salesforce closed its cursor meanwhile.
CURSOR_RETRIES = 3
RETRIEVE_LIMIT = 2000
GONE_CODES = frozenset({"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY", "NOT_FOUND"})
SF_DATETIME = "%Y-%m-%dT%H:%M:%S.%f%z"
DEFAULT_BULK_THRESHOLD = 10_000
#: The most source records a pass gathers into one Bulk API 2.0 ingest job (a job of 50,000 accounts is a CSV of
#: about 15 MB, far under Salesforce's 150 MB a job; two batches, the one written and the one planned, stay in
#: memory).
DEFAULT_BULK_GATHER = 50_000
#: A pass above the bulk threshold is written in about this many jobs (fewer when they would pass the gather limit
#: the other way round): enough to overlap writing one with planning the next, few enough to keep calls low.
BULK_JOBS_PER_PASS = 4
DEFAULT_BULK_TIMEOUT = 600.0
BULK_NULL = "#N/A"
BULK_DONE_STATES = frozenset({"JobComplete", "Failed", "Aborted"})
#: The shortest and the longest wait between two polls of a Bulk API 2.0 ingest job, in seconds.
BULK_POLL_MIN = 0.25
BULK_POLL_MAX = 10.0
#: A Salesforce record id: 15 characters, or 18 with the case-safe suffix.
SALESFORCE_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")

T = TypeVar("T")


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _field_value(record: dict[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def next_poll_wait(elapsed: float, processed: int, records: int) -> float:
    """How long to wait before polling an ingest job again, ``elapsed`` seconds after it was closed, having
    processed ``processed`` of its ``records`` records.

    While the job has reported no progress, half the time waited so far (0.25 s at first): a job is seen done at
    most half its run time late, in about nine polls for a job of a few seconds. Once it has processed records, the
    time its pace so far says it still needs, never more than that half: a job of 50,000 records that has done
    40,000 in 5 s is polled again 1.25 s later, not 2.5 s. Always between :data:`BULK_POLL_MIN` and
    :data:`BULK_POLL_MAX`.
    """
    wait = elapsed / 2
    if 0 < processed < records:
        wait = min(wait, elapsed * (records - processed) / processed)
    return min(max(wait, BULK_POLL_MIN), BULK_POLL_MAX)


def records_to_frame(records: Sequence[dict[str, Any]], fields: Sequence[str]) -> pd.DataFrame:
    """Turn query records into a frame with ``id``, ``modified_at`` and one column per requested field.

    Parent fields (``Account.Name``) become flat columns of that name; a missing parent gives ``None``.
    """
    columns: dict[str, list[Any]] = {"id": [r["Id"] for r in records]}
    columns["modified_at"] = [r.get("SystemModstamp") for r in records]
    for name in fields:
        if name in {"Id", "SystemModstamp"}:
            continue
        columns[name] = [r.get(name) if "." not in name else _field_value(r, name) for r in records]
    frame = pd.DataFrame(columns)
    frame["modified_at"] = pd.to_datetime(frame["modified_at"], format=SF_DATETIME, utc=True)
    return frame


#: Salesforce's case-safe suffix alphabet (an 18-character id is the 15-character one plus 3 of these).
CASE_SAFE_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


class SalesforceAdapter:
    """The engine's protocol over a logged-in :class:`simple_salesforce.Salesforce` client.

    Args:
        sf: the client (built by the Salesforce credentials block).
        page_size: records per query page (200 to 2,000, sent as ``Sforce-Query-Options: batchSize``).
        bulk_threshold: an upsert of more records than this goes through Bulk API 2.0 instead of
            sObject Collections.
        bulk_timeout: seconds to wait for a Bulk API 2.0 job to finish before giving up (retryable).
        bulk_gather: the most source records a pass gathers into one Bulk API 2.0 job (see :meth:`gather_size`).
        bulk_read_threshold: a read of more records than this (the first page's ``totalSize``) reads the rest
            through a Bulk API 2.0 query job (:mod:`tandem.salesforce.bulk_query`); ``None`` or 0: never.
        relogin: a function that logs in again and returns a new client; when given, a call that
            fails because the session expired is repeated once with the new client.
        max_query_uri_bytes: the most bytes the URI of one query request may take (a read by keys
            splits its keys to fit); at most 16,384, Salesforce's limit for URI and headers together.
    """

    #: The system's name in messages.
    system = "Salesforce"
    #: Each mapping names its external-id custom field: Salesforce reserves none.
    link_field: str | None = None
    created_field = "CreatedDate"
    id_field = "Id"
    deletion_granularity = timedelta(minutes=1)

    def __init__(
        self,
        sf: Salesforce,
        *,
        page_size: int = 2000,
        bulk_threshold: int = DEFAULT_BULK_THRESHOLD,
        bulk_timeout: float = DEFAULT_BULK_TIMEOUT,
        bulk_gather: int = DEFAULT_BULK_GATHER,
        relogin: Callable[[], Salesforce] | None = None,
        max_query_uri_bytes: int = MAX_QUERY_URI_BYTES,
        bulk_read_threshold: int | None = DEFAULT_BULK_READ_THRESHOLD,
    ) -> None:
        if not 200 <= page_size <= 2000:
            raise ValueError("page_size must be between 200 and 2,000 (Salesforce's batchSize range)")
        if bulk_threshold < 1:
            raise ValueError("bulk_threshold must be at least 1 record")
        if bulk_timeout <= 0:
            raise ValueError("bulk_timeout must be more than 0 seconds")
        if not 1_024 <= max_query_uri_bytes <= 16_384:
            raise ValueError("max_query_uri_bytes must be between 1,024 and 16,384 (Salesforce's limit)")
        self.sf = sf
        self.page_size = page_size
        self.bulk_threshold = bulk_threshold
        self.bulk_timeout = bulk_timeout
        self.bulk_gather = bulk_gather
        self.relogin = relogin
        self.max_query_uri_bytes = max_query_uri_bytes
        self._describes: dict[str, dict[str, Any] | None] = {}
        if bulk_read_threshold is not None and bulk_read_threshold < 0:
            raise ValueError("bulk_read_threshold must be 0 or more records (None or 0: reads never use Bulk API 2.0)")
        self.bulk_read_threshold = bulk_read_threshold or 0
        self._bulk_reads = BulkQueryReader(self._call, self._described, records_to_frame, timeout=bulk_timeout)

    def _call(self, action: Callable[[Salesforce], T]) -> T:
        """Run ``action(client)``, renewing an expired session once; classify every failure."""
        try:
            try:
                return action(self.sf)
            except SalesforceExpiredSession:
                if self.relogin is None:
                    raise
                log.info("the Salesforce session expired; logging in again")
                self.sf = self.relogin()
                return action(self.sf)
        except Exception as exc:
            raise classify(exc) from exc

    def _restful(self, path: str, **kwargs: Any) -> Any:
        """Call a REST path relative to the data API (``sf.restful``) through :meth:`_call`."""
        return self._call(lambda sf: sf.restful(path, **kwargs))

    def _query_pages(self, soql: str, *, page_size: int) -> Iterator[tuple[list[dict[str, Any]], int]]:
        """Yield each page's records with the query's ``totalSize``."""
        headers = {"Sforce-Query-Options": f"batchSize={page_size}"}
        result = self._call(lambda sf: sf.query(soql, headers=headers))
        total = int(result.get("totalSize") or 0)
        while True:
            yield result["records"], total
            if result["done"]:
                return
            result = self._query_more(result["nextRecordsUrl"], headers)

    def _query_more(self, next_url: str, headers: dict[str, str]) -> Any:
        return self._call(lambda sf: sf.query_more(next_url, identifier_is_url=True, headers=headers))

    def read_changed_since(
        self, entity: str, since: datetime | None, *, fields: Sequence[str], page_size: int | None = None
    ) -> Iterator[pd.DataFrame]:
        """Yield pages of ``entity`` records with ``SystemModstamp >= since``, oldest first.

        ``>=`` (never ``>``) so rows sharing the watermark's timestamp are not lost; the caller
        de-duplicates by id. When Salesforce forgets the query's cursor between pages
        (``INVALID_QUERY_LOCATOR``: a cursor expires after 15 minutes unused), the query starts
        again from the second of the last record read, leaving out the records already yielded
        from that second, so no record is lost or repeated. A read of more than ``bulk_read_threshold``
        records (the first page's ``totalSize``) reads the rest, from that same second, through one
        Bulk API 2.0 query job: the same order and the same frames, in a handful of calls.
        """
        select = ", ".join(dict.fromkeys(["Id", "SystemModstamp", *fields]))
        size = page_size or self.page_size
        start = since
        last_second: str | None = None  # "YYYY-MM-DDTHH:MM:SS" of the last record yielded
        seen_in_second: set[str] = set()  # ids yielded from that second
        bulk = self.bulk_read_threshold > 0  # whether a large read may go on through a Bulk API 2.0 query job
        while True:
            soql = changed_since_soql(entity, select, start)
            resumed = last_second is not None
            try:
                for records, total in self._query_pages(soql, page_size=size):
                    if resumed:
                        records = [r for r in records if r["Id"] not in seen_in_second]
                        if not records:
                            continue
                    for record in records:
                        second = str(record["SystemModstamp"])[:19]
                        if second != last_second:
                            last_second, seen_in_second = second, set()
                        seen_in_second.add(record["Id"])
                    log.debug("read %d %s records", len(records), entity)
                    frame = records_to_frame(records, fields)
                    if not resumed:
                        frame.attrs[READ_TOTAL] = total
                    yield frame
                    if bulk and not resumed and total > max(len(records), self.bulk_read_threshold):
                        bulk = False  # asked once: a job that fails leaves the read to these REST pages
                        rest = self._bulk_reads.read(
                            entity, fields, since=datetime.fromisoformat(f"{last_second}+00:00"), page_size=size,
                            skip=frozenset(seen_in_second), total=total)
                        if rest is not None:
                            yield from rest
                            return
                return
            except FatalSyncError as exc:
                if exc.code != "INVALID_QUERY_LOCATOR" or last_second is None:
                    raise
                log.info("the %s query cursor expired; querying again from %s", entity, last_second)
                start = datetime.fromisoformat(f"{last_second}+00:00")

    def read_by_keys(self, entity: str, key_field: str, keys: Sequence[str], *, fields: Sequence[str]) -> pd.DataFrame:
        """Return the ``entity`` records whose ``key_field`` is in ``keys``.

        The keys go into ``WHERE key_field IN (...)`` queries of at most 300 keys whose request URI
        stays within ``max_query_uri_bytes`` (long keys mean fewer per query). A query whose cursor
        Salesforce closed between its pages (``INVALID_QUERY_LOCATOR``: a user has at most 10 open
        cursors) is read again from its start.
        """
        select = ", ".join(dict.fromkeys(["Id", "SystemModstamp", key_field, *fields]))
        template = f"SELECT {select} FROM {entity} WHERE {key_field} IN {{keys}}"
        frames = []
        for chunk in self._key_chunks(template, list(dict.fromkeys(keys))):
            soql = format_soql(template, keys=chunk)
            frames.extend(self._read_all_pages(soql, [key_field, *fields]))
        if not frames:
            return records_to_frame([], [key_field, *fields])
        return pd.concat(frames, ignore_index=True)

    def _query_uri_bytes(self, soql: str) -> int:
        """The bytes of the request URI simple-salesforce sends for ``soql`` (path and query string)."""
        return len(urlsplit(self.sf.base_url).path) + len("query/?") + len(urlencode({"q": soql}))

    def _key_chunks(self, template: str, keys: list[str]) -> Iterator[list[str]]:
        """Split ``keys`` into lists whose query (``template`` with ``{keys}``) fits ``max_query_uri_bytes``."""
        budget = self.max_query_uri_bytes
        base = self._query_uri_bytes(format_soql(template, keys=[""])) - len(quote_plus("''"))
        separator = len(quote_plus(","))
        chunk: list[str] = []
        size = base
        for key in keys:
            cost = len(quote_plus(quote_soql_value(key))) + (separator if chunk else 0)
            if chunk and (size + cost > budget or len(chunk) >= KEYS_PER_QUERY):
                yield chunk
                chunk, size, cost = [], base, cost - separator
            chunk.append(key)
            size += cost
        if chunk:
            yield chunk

    def _read_all_pages(self, soql: str, fields: Sequence[str]) -> list[pd.DataFrame]:
        """Every page of ``soql`` as frames; the query starts again when its cursor was closed meanwhile."""
        for attempt in range(1, CURSOR_RETRIES + 1):
            try:
                return [records_to_frame(records, fields)
                        for records, _ in self._query_pages(soql, page_size=self.page_size)]
            except FatalSyncError as exc:
                if exc.code != "INVALID_QUERY_LOCATOR" or attempt == CURSOR_RETRIES:
                    raise
                log.info("a query cursor was closed before its last page; reading the query again")
        raise AssertionError("unreachable")

    def read_by_ids(self, entity: str, ids: Sequence[str], *, fields: Sequence[str]) -> pd.DataFrame:
        """Return the ``entity`` records with these ids (sObject Collections retrieve, 2,000 ids per call)."""
        wanted = list(dict.fromkeys(["Id", "SystemModstamp", *fields]))
        records: list[dict[str, Any]] = []
        for chunk in _chunks(list(dict.fromkeys(ids)), RETRIEVE_LIMIT):
            body = json.dumps({"ids": list(chunk), "fields": wanted})
            answer = self._restful(f"composite/sobjects/{entity}", method="POST", data=body)
            records.extend(record for record in answer or [] if record)
        return records_to_frame(records, list(fields))

    def upsert_batch(self, entity: str, key_field: str, records: Sequence[dict[str, Any]]) -> list[WriteResult]:
        """Upsert ``records`` by ``key_field``; one result per record, in input order.

        Up to ``bulk_threshold`` records go through sObject Collections, 200 per call, ``allOrNone``
        off; more go through one Bulk API 2.0 upsert job. Either way a record without its key fails
        alone with ``MISSING_EXTERNAL_ID`` and the others are written.
        """
        if not records:
            return []
        results: list[WriteResult | None] = [None] * len(records)
        sendable: list[tuple[int, dict[str, Any]]] = []
        for index, record in enumerate(records):
            key = record.get(key_field)
            if key in (None, ""):
                results[index] = WriteResult(
                    key="", id=None, error_code="MISSING_EXTERNAL_ID", error_message=f"the record has no {key_field}"
                )
            else:
                sendable.append((index, record))
        if len(records) > self.bulk_threshold:
            for (index, _), result in zip(sendable, self._bulk_upsert(entity, key_field, sendable), strict=True):
                results[index] = result
        else:
            self._collections_upsert(entity, key_field, sendable, results)
        log.info("upserted %d %s records (%d failed)", len(records), entity, sum(not r.ok for r in results if r))
        return [r for r in results if r is not None]

    def _collections_upsert(
        self, entity: str, key_field: str, sendable: list[tuple[int, dict[str, Any]]], results: list[WriteResult | None]
    ) -> None:
        path = f"composite/sobjects/{entity}/{key_field}"
        for chunk in _chunks(sendable, COLLECTION_LIMIT):
            body = {"allOrNone": False, "records": [{"attributes": {"type": entity}, **r} for _, r in chunk]}
            answers = self._restful(path, method="PATCH", json=body)
            for (index, record), answer in zip(chunk, answers or [], strict=True):
                results[index] = _write_result(str(record[key_field]), answer, record)

    def _bulk_upsert(
        self, entity: str, key_field: str, sendable: list[tuple[int, dict[str, Any]]]
    ) -> list[WriteResult]:
        """Upsert through one Bulk API 2.0 ingest job; results in the order of ``sendable``."""
        keys = [str(record[key_field]) for _, record in sendable]
        if not sendable:
            return []
        payload = records_to_csv([record for _, record in sendable])
        job = self._restful(
            "jobs/ingest",
            method="POST",
            json={
                "object": entity, "externalIdFieldName": key_field, "contentType": "CSV",
                "operation": "upsert", "lineEnding": "LF", "columnDelimiter": "COMMA",
            },
        )
        job_id = str(job["id"])
        log.info("bulk upsert of %d %s records: job %s", len(sendable), entity, job_id)
        self._bulk_request("PUT", f"jobs/ingest/{job_id}/batches", data=payload.encode("utf-8"),
                           content_type="text/csv")
        self._restful(f"jobs/ingest/{job_id}", method="PATCH", json={"state": "UploadComplete"})
        info = self._wait_for_job(job_id, len(sendable))
        state = str(info.get("state"))
        by_key = {str(record[key_field]): record for _, record in sendable}
        outcomes: dict[str, deque[WriteResult]] = defaultdict(deque)
        for row in _read_csv(self._bulk_request("GET", f"jobs/ingest/{job_id}/successfulResults")):
            key = row.get(key_field, "")
            outcomes[key].append(
                WriteResult(key=key, id=row.get("sf__Id") or None, created=row.get("sf__Created") == "true")
            )
        # A job that says it failed no record has an empty failedResults file: not asked for.
        none_failed = state == "JobComplete" and info.get("numberRecordsFailed") == 0
        failed = "" if none_failed else self._bulk_request("GET", f"jobs/ingest/{job_id}/failedResults")
        for row in _read_csv(failed):
            key = row.get(key_field, "")
            code, message = parse_bulk_error(row.get("sf__Error", ""))
            sent = {name: value for name, value in row.items() if not name.startswith("sf__")}
            message = redact(message, {**sent, **_flatten(by_key.get(key, {}))}, keep=[key])
            outcomes[key].append(
                WriteResult(key=key, id=row.get("sf__Id") or None, error_code=code, error_message=message)
            )
        results = []
        for key in keys:
            queue = outcomes.get(key)
            if queue:
                results.append(queue.popleft())
            else:
                results.append(
                    WriteResult(
                        key=key, id=None, error_code="UNPROCESSED",
                        error_message=f"the Bulk API job ended {state} before processing the record",
                    )
                )
        return results

    def _bulk_request(self, method: str, path: str, *, data: bytes | None = None,
                      content_type: str | None = None) -> str:
        """Send one Bulk API 2.0 request whose body or answer is CSV; return the answer's text."""

        def send(sf: Salesforce) -> str:
            headers = dict(sf.headers)
            headers["Content-Type"] = content_type or "application/json"
            headers["Accept"] = "text/csv" if method == "GET" else "application/json"
            response = sf.session.request(method, f"{sf.base_url}{path}", headers=headers, data=data)
            if response.status_code >= 300:
                exception_handler(response, path)
            return str(response.text)

        return self._call(send)

    def _wait_for_job(self, job_id: str, records: int) -> dict[str, Any]:
        """Poll an ingest job of ``records`` records until it ends (bounded by ``bulk_timeout``); return its final
        job info. The waits between polls are :func:`next_poll_wait`'s."""
        started = time.monotonic()
        deadline = started + self.bulk_timeout
        while True:
            info = self._restful(f"jobs/ingest/{job_id}", method="GET")
            state = str(info.get("state"))
            if state in BULK_DONE_STATES:
                return dict(info)
            processed = int(info.get("numberRecordsProcessed") or 0)
            delay = next_poll_wait(time.monotonic() - started, processed, records)
            if time.monotonic() + delay > deadline:
                self._restful(f"jobs/ingest/{job_id}", method="PATCH", json={"state": "Aborted"})
                raise RetryableSyncError(
                    f"Bulk API job {job_id} did not finish within {self.bulk_timeout:g} s (aborted)",
                    code="BULK_TIMEOUT", system="crm",
                )
            time.sleep(delay)

    def update_batch(self, entity: str, records: Sequence[dict[str, Any]]) -> list[WriteResult]:
        """Update existing records by their record id (under ``"id"``, or ``"Id"``) through sObject Collections,
        200 per call.

        Used to couple a record found by match keys (it gets its link key) and to update bound records;
        idempotent. ``None`` clears a field.
        """
        if not records:
            return []
        results: list[WriteResult] = []
        for chunk in _chunks([_by_record_id(r) for r in records], COLLECTION_LIMIT):
            body = {"allOrNone": False, "records": [{"attributes": {"type": entity}, **r} for r in chunk]}
            answers = self._restful("composite/sobjects", method="PATCH", json=body)
            results.extend(_write_result(str(r["Id"]), a, r) for r, a in zip(chunk, answers or [], strict=True))
        log.info("updated %d %s records (%d failed)", len(records), entity, sum(not r.ok for r in results))
        return results

    def organization(self) -> tuple[str, bool]:
        """The org's id and whether it is a sandbox (``Organization.IsSandbox``)."""
        answer = self._call(lambda sf: sf.query("SELECT Id, IsSandbox FROM Organization"))
        record = answer["records"][0]
        return str(record["Id"]), bool(record["IsSandbox"])

    def gather_size(self, entity: str, expected: int) -> int:
        """A pass reading more than ``bulk_threshold`` records gathers its pages into Bulk API 2.0 ingest jobs of
        about a quarter of the read each, at most ``bulk_gather`` and always more than ``bulk_threshold`` records
        (so that a batch of creates goes through Bulk): 200,000 records are written in 4 jobs of 50,000 (about 10
        calls each) instead of 1,000 Collections calls. At or under the threshold pages are written as they come."""
        if expected <= self.bulk_threshold:
            return 0
        return max(self.bulk_threshold + 1, min(self.bulk_gather, -(-expected // BULK_JOBS_PER_PASS)))

    def holds_any(self, entity: str, field: str) -> bool:
        """True when some ``entity`` record has a value in ``field`` (``WHERE field != null LIMIT 1``)."""
        soql = f"SELECT Id FROM {entity} WHERE {field} != null LIMIT 1"
        return bool(self._call(lambda sf: sf.query(soql))["records"])

    def count(self, entity: str) -> int:
        """How many ``entity`` records the org holds (``SELECT COUNT()``)."""
        answer = self._call(lambda sf: sf.query(f"SELECT COUNT() FROM {entity}"))
        return int(answer["totalSize"])

    def id_ranges(self, entity: str, partitions: int, *, min_records: int = 1) -> list[IdRange]:
        """At most ``partitions`` ranges of ``entity`` ids, of ``min_records`` records or more each on average (a
        partitioned read: :mod:`tandem.id_ranges`).

        Split evenly in base 62 between the lowest and the highest id (a count and two one-row queries), as
        Salesforce's own PK chunking splits a table; one whole range when the records are too few to split.
        """
        partitions = min(partitions, self.count(entity) // max(1, min_records)) if partitions > 1 else 1
        if partitions < 2:
            return [IdRange()]
        ends = [self._end_id(entity, order) for order in ("ASC", "DESC")]
        if ends[0] is None or ends[1] is None:
            return [IdRange()]
        low, high = from_base62(ends[0][:15]), from_base62(ends[1][:15])
        boundaries = [self.canonical_id(entity, to_base62(n, 15)) for n in even_boundaries(low, high, partitions)]
        return ranges_between(boundaries)

    def _end_id(self, entity: str, order: str) -> str | None:
        """The lowest (``order`` ``ASC``) or highest (``DESC``) ``entity`` id, ``None`` for an empty object."""
        soql = f"SELECT Id FROM {entity} ORDER BY Id {order} LIMIT 1"
        records = self._call(lambda sf: sf.query(soql))["records"]
        return str(records[0]["Id"]) if records else None

    def read_id_range(
        self, entity: str, since: datetime | None, id_range: IdRange, *, fields: Sequence[str],
        page_size: int | None = None,
    ) -> Iterator[pd.DataFrame]:
        """Yield pages of the ``entity`` records of ``id_range`` (``Id >= low AND Id < high``) with ``SystemModstamp
        >= since`` (all when ``None``), ordered by ``Id``.

        When Salesforce forgets the query's cursor between pages (``INVALID_QUERY_LOCATOR``), the query starts again
        after the last id yielded, so no record is lost or repeated.
        """
        select = ", ".join(dict.fromkeys(["Id", "SystemModstamp", *fields]))
        after: str | None = None
        while True:
            bounds = {"low": id_range.low, "after": after, "high": id_range.high, "since": since}
            conditions = {"low": "Id >= {low}", "after": "Id > {after}", "high": "Id < {high}",
                          "since": "SystemModstamp >= {since}"}
            where = " AND ".join(conditions[name] for name, value in bounds.items() if value is not None)
            soql = format_soql(
                f"SELECT {select} FROM {entity}{' WHERE ' + where if where else ''} ORDER BY Id",
                **{name: value for name, value in bounds.items() if value is not None},
            )
            resumed = after is not None
            try:
                for records, total in self._query_pages(soql, page_size=page_size or self.page_size):
                    if records:
                        after = str(records[-1]["Id"])
                    frame = records_to_frame(records, fields)
                    if not resumed:
                        frame.attrs[READ_TOTAL] = total
                    yield frame
                return
            except FatalSyncError as exc:
                if exc.code != "INVALID_QUERY_LOCATOR" or after is None:
                    raise
                log.info("the %s query cursor expired; querying again after %s", entity, after)

    def describe(self, entity: str) -> dict[str, Any] | None:
        """``entity``'s describe (``sobjects/X/describe``), or ``None`` when the org has no such object.

        Asked once per adapter: a run builds its own adapter, so the run's checks (the org's metadata, the
        mapped fields) and its reads share one describe per object, and the next run sees a metadata deploy.
        """
        if entity not in self._describes:

            def ask(sf: Salesforce) -> dict[str, Any] | None:
                try:
                    return dict(getattr(sf, entity).describe())
                except SalesforceResourceNotFound:
                    return None

            self._describes[entity] = self._call(ask)
        return self._describes[entity]

    def _described(self, entity: str) -> dict[str, Any]:
        """``entity``'s describe; an object the org lacks is a fatal ``NOT_FOUND``."""
        answer = self.describe(entity)
        if answer is None:
            raise FatalSyncError(f"Salesforce has no object {entity}", code="NOT_FOUND", system="crm")
        return answer

    def key_prefix(self, entity: str) -> str:
        """The three characters every ``entity`` record id starts with (describe's ``keyPrefix``)."""
        return str(self._described(entity).get("keyPrefix") or "")

    def is_record_id(self, entity: str, value: str) -> bool:
        """True when ``value`` is shaped as an ``entity`` record id: 15 or 18 letters and digits starting with the
        object's key prefix (describe is asked only for a value of that shape, once per object)."""
        if not SALESFORCE_ID.fullmatch(value):
            return False
        prefix = self.key_prefix(entity)
        return bool(prefix) and value.startswith(prefix)

    def canonical_id(self, entity: str, value: str) -> str:
        """A 15-character Salesforce id in its 18-character case-safe form (the form reads return); others as given."""
        if len(value) != 15 or not SALESFORCE_ID.fullmatch(value):
            return value
        suffix = ""
        for start in range(0, 15, 5):
            flags = sum(1 << bit for bit, char in enumerate(value[start : start + 5]) if "A" <= char <= "Z")
            suffix += CASE_SAFE_SUFFIX[flags]
        return value + suffix

    def line_list(self, entity: str, lines: Sequence[dict[str, Any]]) -> Any:
        """Records written here take no line list: refused with ``LINES_UNSUPPORTED``."""
        raise FatalSyncError(f"{self.system} {entity} records take no line list here (mapping ``lines`` write to "
                             "the ERP)", code="LINES_UNSUPPORTED", system="crm")

    def field_names(self, entity: str) -> set[str]:
        """The field names of ``entity`` from Salesforce's describe (for checking mappings)."""
        return {f["name"] for f in self._described(entity)["fields"]}

    def delete_batch(self, entity: str, ids: Sequence[str]) -> list[WriteResult]:
        """Delete ``ids`` through sObject Collections, 200 per call; an already deleted record counts as done."""
        results: list[WriteResult] = []
        for chunk in _chunks(list(ids), COLLECTION_LIMIT):
            params = {"ids": ",".join(chunk), "allOrNone": "false"}
            answers = self._restful("composite/sobjects", method="DELETE", params=params)
            for record_id, answer in zip(chunk, answers or [], strict=True):
                result = _write_result(record_id, answer)
                if result.error_code in GONE_CODES:
                    result = WriteResult(key=record_id, id=record_id)
                results.append(result)
        log.info("deleted %d %s records (%d failed)", len(ids), entity, sum(not r.ok for r in results))
        return results

    def read_deleted_since(self, entity: str, since: datetime, until: datetime) -> DeletedWindow:
        """Return ``entity`` records deleted between ``since`` and ``until`` (Salesforce keeps 15 days)."""
        answer = self._call(lambda sf: getattr(sf, entity).deleted(since, until))
        earliest = answer.get("earliestDateAvailable")
        return DeletedWindow(
            records=[
                DeletedRecord(id=row["id"], deleted_at=datetime.strptime(row["deletedDate"], SF_DATETIME))
                for row in answer.get("deletedRecords", [])
            ],
            earliest_available=datetime.strptime(earliest, SF_DATETIME) if earliest else None,
        )


def _by_record_id(record: dict[str, Any]) -> dict[str, Any]:
    """A record of :meth:`SalesforceAdapter.update_batch` with its ``"id"`` named as Salesforce names it."""
    if "id" not in record:
        return record
    named = {"Id": record["id"]}
    named.update((name, value) for name, value in record.items() if name != "id")
    return named


def _write_result(key: str, answer: dict[str, Any], record: dict[str, Any] | None = None) -> WriteResult:
    """One Collections answer as a :class:`WriteResult`; the record's values are redacted from the message."""
    if answer.get("success"):
        return WriteResult(key=key, id=answer.get("id"), created=bool(answer.get("created", False)))
    errors = answer.get("errors") or [{}]
    first = errors[0]
    fields = first.get("fields") or []
    message = str(first.get("message", ""))
    if record is not None:
        message = redact(message, record, keep=[key])
    if fields:
        message = f"{message} (fields: {', '.join(fields)})"
    return WriteResult(
        key=key, id=answer.get("id"), error_code=str(first.get("statusCode", "UNKNOWN")), error_message=message
    )


def _csv_value(value: Any) -> str:
    if value is None:
        return BULK_NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in record.items():
        if name == "attributes":
            continue
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = value
    return flat


def records_to_csv(records: Sequence[dict[str, Any]]) -> str:
    """Write records as a Bulk API 2.0 CSV: one column per field seen, ``#N/A`` for a null value.

    A field a record does not carry is left empty (Bulk API 2.0 leaves it unchanged); a nested
    reference such as ``{"Account": {"ERP_Id__c": "A1"}}`` becomes the column ``Account.ERP_Id__c``.
    """
    flat = [_flatten(record) for record in records]
    header = list(dict.fromkeys(name for record in flat for name in record))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for record in flat:
        writer.writerow([_csv_value(record[name]) if name in record else "" for name in header])
    return out.getvalue()


def _read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text))) if text.strip() else []


def parse_bulk_error(text: str) -> tuple[str, str]:
    """Split a Bulk API 2.0 ``sf__Error`` (``CODE:message:field,field --``) into code and message.

    Several errors are joined by `` --``; the first gives the code, and the fields it names are
    added to the message as the Collections path does.
    """
    first = text.split(" --")[0].strip()
    code, _, rest = first.partition(":")
    message, colon, fields = rest.rpartition(":")
    if not colon:
        message, fields = rest, ""
    message = message.strip()
    if fields.strip():
        message = f"{message} (fields: {', '.join(f.strip() for f in fields.split(',') if f.strip())})"
    return (code.strip() or "UNKNOWN"), message
