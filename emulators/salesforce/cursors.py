"""Query cursors: a SOQL query's matching rows, served in pages through ``nextRecordsUrl``.

``query``/``queryAll`` run the query's id statement once and keep the matching rowids in memory
under a query locator (``01g...``); each page then reads only its rows. A locator unused for 15
minutes (emulator clock) is closed, as Salesforce does; a user has at most 10 open cursors, and
opening an 11th closes that user's oldest (the SOQL and SOSL reference, "query cursors"); an unknown
or closed locator answers ``INVALID_QUERY_LOCATOR``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from emulators.salesforce.errors import SalesforceError
from emulators.salesforce.ids import make_id
from emulators.salesforce.soql import CompiledQuery, SoqlError, compile_query, execute_page
from emulators.salesforce.store import RecordStore

DEFAULT_BATCH = 2000
MIN_BATCH = 200
MAX_BATCH = 2000
CURSOR_IDLE = timedelta(minutes=15)
MAX_OPEN_CURSORS = 200
MAX_CURSORS_PER_USER = 10


@dataclass
class _Cursor:
    query: CompiledQuery
    rowids: list[int]
    batch_size: int
    last_used: datetime
    user_id: str | None = None
    serial: int = 0


def batch_size_from_header(value: str | None) -> int:
    """The page size from ``Sforce-Query-Options: batchSize=N`` (200 to 2,000; default 2,000).

    Salesforce treats the size as a hint: values outside the range are clamped.
    """
    if not value:
        return DEFAULT_BATCH
    for part in value.split(","):
        key, _, number = part.strip().partition("=")
        if key.strip().lower() == "batchsize":
            try:
                return max(MIN_BATCH, min(MAX_BATCH, int(number.strip())))
            except ValueError:
                return DEFAULT_BATCH
    return DEFAULT_BATCH


class QueryCursors:
    """Open query cursors over a :class:`RecordStore`."""

    def __init__(self, store: RecordStore) -> None:
        self.store = store
        self._cursors: OrderedDict[str, _Cursor] = OrderedDict()
        self._serial = 0
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Close every cursor."""
        with self._lock:
            self._cursors.clear()

    def run(self, soql: str, *, include_deleted: bool, batch_size: int, api_version: str,
            user_id: str | None = None, allow_compound: bool = True) -> dict[str, Any]:
        """Run ``soql`` and return its first page (``totalSize``, ``done``, ``nextRecordsUrl``, ``records``).

        A query with more rows than ``batch_size`` opens a cursor; when ``user_id`` is given it counts
        against that user's 10 open cursors (the oldest is closed to make room). Compound address fields
        may be selected (as through REST) unless ``allow_compound`` is false (the Bulk APIs).

        Raises:
            SalesforceError: ``MALFORMED_QUERY``, ``INVALID_FIELD``, ``INVALID_TYPE``... from the compiler.
        """
        now = self.store.clock.now()
        try:
            query = compile_query(soql, self.store.schema, now=now, include_deleted=include_deleted,
                                  api_version=api_version, allow_compound=allow_compound)
        except SoqlError as exc:
            raise SalesforceError(400, exc.error_code, exc.message) from exc
        with self.store.lock:
            if query.is_count:
                total = int(self.store.conn.execute(query.count_sql, query.count_params).fetchone()[0])
                return {"totalSize": total, "done": True, "records": []}
            rowids = [row[0] for row in self.store.conn.execute(query.ids_sql, query.ids_params)]
        cursor = _Cursor(query=query, rowids=rowids, batch_size=batch_size, last_used=now, user_id=user_id)
        locator = None
        if len(rowids) > batch_size:
            locator = self._open(cursor, now)
        return self._page(cursor, locator, 0, api_version)

    def records(self, soql: str, *, include_deleted: bool, api_version: str, chunk_size: int = DEFAULT_BATCH
                ) -> Iterator[list[dict[str, Any]]]:
        """Run ``soql`` and yield all its records in chunks, without opening a locator (Bulk API 2.0).

        Raises:
            SalesforceError: the compiler's error (``MALFORMED_QUERY``, ``INVALID_FIELD``...).
        """
        page = self.run(soql, include_deleted=include_deleted, batch_size=chunk_size, api_version=api_version,
                        allow_compound=False)
        yield page["records"]
        while not page["done"]:
            page = self.more(page["nextRecordsUrl"].rsplit("/", 1)[1], api_version=api_version)
            yield page["records"]

    def more(self, locator_and_offset: str, *, api_version: str) -> dict[str, Any]:
        """The page at ``01g...-OFFSET`` of an open cursor.

        Raises:
            SalesforceError: ``INVALID_QUERY_LOCATOR`` when the locator is unknown, closed or expired.
        """
        locator, _, offset_text = locator_and_offset.rpartition("-")
        now = self.store.clock.now()
        with self._lock:
            cursor = self._cursors.get(locator)
            if cursor is not None and now - cursor.last_used > CURSOR_IDLE:
                del self._cursors[locator]
                cursor = None
            if cursor is None or not offset_text.isdigit() or int(offset_text) >= len(cursor.rowids):
                raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
            cursor.last_used = now
            self._cursors.move_to_end(locator)
        return self._page(cursor, locator, int(offset_text), api_version)

    def _open(self, cursor: _Cursor, now: datetime) -> str:
        with self._lock:
            self._serial += 1
            cursor.serial = self._serial
            locator = make_id("01g", self._serial)
            self._cursors[locator] = cursor
            for key in [k for k, c in self._cursors.items() if now - c.last_used > CURSOR_IDLE]:
                del self._cursors[key]
            if cursor.user_id is not None:
                mine = sorted((c.serial, k) for k, c in self._cursors.items() if c.user_id == cursor.user_id)
                for _, key in mine[: max(0, len(mine) - MAX_CURSORS_PER_USER)]:
                    del self._cursors[key]
            while len(self._cursors) > MAX_OPEN_CURSORS:
                self._cursors.popitem(last=False)
        return locator

    def _page(self, cursor: _Cursor, locator: str | None, offset: int, api_version: str) -> dict[str, Any]:
        wanted = cursor.rowids[offset : offset + cursor.batch_size]
        with self.store.lock:
            records = execute_page(self.store.conn, cursor.query, wanted)
        end = offset + len(wanted)
        page: dict[str, Any] = {"totalSize": len(cursor.rowids), "done": end >= len(cursor.rowids)}
        if not page["done"] and locator is not None:
            page["nextRecordsUrl"] = f"/services/data/v{api_version}/query/{locator}-{end}"
        page["records"] = records
        return page
