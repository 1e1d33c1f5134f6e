"""Tandem's HubSpot adapter: the engine's record protocol over HubSpot's CRM API v3.

* Reads of changed records use the search API on the object's last-modified property (``hs_lastmodifieddate``;
  ``lastmodifieddate`` for contacts) with ``GTE`` and an ascending sort, paged with ``after``. A search yields
  at most 10,000 results: before its paging reaches that limit the search starts again from the modified time
  of the last record read, leaving out the records already yielded at that time (the caller de-duplicates by
  id as well).
* Reads by id go through ``batch/read``; by a unique property (the link key) through ``batch/read`` with
  ``idProperty``; by a text match key through a search ``IN`` (HubSpot compares text ignoring case; the caller
  compares exactly).
* Writes: ``batch/upsert`` by the unique property, ``batch/update`` by id and ``batch/archive``, 100 inputs per
  call. A batch answered ``207 Multi-Status`` gives each failed input its HubSpot ``category`` and message; a
  record HubSpot's answer does not name (or a batch refused whole) is sent again alone, so every record gets its
  own result (every write here is idempotent).
* References are associations, exposed as pseudo-fields named ``association:<object type>``
  (``association:companies`` on a contact or a task, ``association:contacts`` on a task): a read gives the id of
  the associated record (the primary one when HubSpot labels one), a write replaces the record's associations
  of that type by the given record, as its primary one where HubSpot has a primary type (a contact's company);
  ``None`` removes them. See :data:`ASSOCIATION_PREFIX`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import pandas as pd

from tandem.adapter import READ_TOTAL, DeletedRecord, DeletedWindow, WriteResult
from tandem.errors import FatalSyncError
from tandem.hubspot.transport import HubSpotTransport
from tandem.redaction import redact

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Inputs per batch call (HubSpot's limit for batch read, upsert, update, archive and associations).
BATCH_LIMIT = 100
#: Records per search page (HubSpot's maximum ``limit``).
SEARCH_PAGE_LIMIT = 200
#: The most results one search can page through (``after`` beyond it is refused with HTTP 400).
SEARCH_RESULT_LIMIT = 10_000
#: Values per search ``IN`` filter.
IN_VALUES_LIMIT = 100
#: Archived records stay in HubSpot's archived listing (restorable) for 90 days.
ARCHIVE_RETENTION = timedelta(days=90)
#: The prefix of a pseudo-field that stands for a record's associations with another object type.
ASSOCIATION_PREFIX = "association:"
#: The pseudo-fields each object offers (any ``association:<type>`` is read and written; these are described).
ASSOCIATION_FIELDS: dict[str, tuple[str, ...]] = {
    "contacts": ("companies",),
    "tasks": ("companies", "contacts"),
    "deals": ("companies", "contacts"),
    "line_items": ("deals", "products"),
}
#: HubSpot's primary association type per (from, to) object pair: a contact's or a deal's company is written as its
#: primary company (other pairs get HubSpot's default association type).
PRIMARY_ASSOCIATION_TYPES = {("contacts", "companies"): 1, ("deals", "companies"): 5}
#: The objects whose last-modified property is not ``hs_lastmodifieddate``.
MODIFIED_PROPERTIES = {"contacts": "lastmodifieddate"}
#: The objects whose creation property is not ``createdate`` (read under ``createdate`` all the same).
CREATED_PROPERTIES = {"tasks": "hs_createdate"}
#: Object type ids, for record URLs in HubSpot's app.
OBJECT_TYPE_IDS = {"contacts": "0-1", "companies": "0-2", "deals": "0-3", "tickets": "0-5", "products": "0-7",
                   "line_items": "0-8", "tasks": "0-27"}
#: The account types of a portal that is not production (Account Information API ``accountType``).
SANDBOX_ACCOUNT_TYPES = frozenset({"SANDBOX", "DEVELOPER_TEST"})
#: Errors that concern the whole connection, never one record: raised, not turned into a record's result.
CONNECTION_CODES = frozenset({"INVALID_AUTHENTICATION", "MISSING_SCOPES", "HTTP_401", "HTTP_403"})


def record_page(portal_id: int | str, entity: str, record_id: str) -> str | None:
    """The record's page in HubSpot's app (``/contacts/{portal}/record/{object type id}/{id}``), when the object's
    type id is known (``entity`` is an object name such as ``contacts`` or a type id such as ``0-1``)."""
    type_id = OBJECT_TYPE_IDS.get(entity, entity if "-" in entity else None)
    if type_id is None:
        return None
    return f"https://app.hubspot.com/contacts/{portal_id}/record/{type_id}/{record_id}"


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def association_target(field: str) -> str | None:
    """The object type a pseudo-field stands for (``association:companies`` -> ``companies``), else ``None``."""
    return field[len(ASSOCIATION_PREFIX):] if field.startswith(ASSOCIATION_PREFIX) else None


def _utc(moment: datetime) -> datetime:
    """``moment`` in UTC (a naive time is taken as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _millis(moment: datetime) -> str:
    """``moment`` as the epoch milliseconds HubSpot's search filters take (a naive time is UTC)."""
    return str(int(_utc(moment).timestamp() * 1000))


def _parse_time(value: Any) -> datetime | None:
    """A HubSpot timestamp (ISO 8601 text or epoch milliseconds) as an aware UTC datetime."""
    if value in (None, ""):
        return None
    text = str(value)
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def is_blank(value: Any) -> bool:
    """True for no value: ``None``, ``""`` or a pandas missing value (NaN, ``NA``, ``NaT``)."""
    if value is None or (isinstance(value, str) and not value):
        return True
    return not isinstance(value, list | tuple | dict | set) and bool(pd.isna(value))


def property_value(value: Any) -> str:
    """A value as HubSpot's properties take it: text; no value (``None``, NaN) clears the property (``""``)."""
    if is_blank(value):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True)
class _Answer:
    """HubSpot's answer for one input of a batch: its result object, or its error."""

    result: dict[str, Any] | None = None
    code: str | None = None
    message: str | None = None


def _refusal(exc: FatalSyncError) -> _Answer:
    """A single-record call HubSpot refused, as that record's answer (HubSpot's message without its category)."""
    message = str(exc.args[0])
    return _Answer(code=exc.code, message=message.removeprefix(f"{exc.code}: "))


def _context_values(error: dict[str, Any]) -> list[str]:
    """Every value an error's ``context`` names (HubSpot puts the failed inputs' ids there)."""
    context = error.get("context") or {}
    values: list[str] = []
    if isinstance(context, dict):
        for item in context.values():
            if isinstance(item, list):
                values.extend(str(v) for v in item)
            elif item is not None:
                values.append(str(item))
    return values


class HubSpotAdapter:
    """The engine's protocol over one HubSpot portal.

    Args:
        transport: the HTTP transport (token, timeouts, retries), built by the HubSpot credentials block.
        portal_id: the portal (hub) id, for record URLs; ``None`` when unknown.
        page_size: records per search page (1 to 200).
        search_result_limit: the most results one search pages through before it starts again from the last
            modified time read (HubSpot's limit, 10,000; lower only to test the restart).
    """

    system = "HubSpot"
    link_field: str | None = None
    created_field = "createdate"
    id_field = "hs_object_id"
    deletion_granularity = timedelta(0)

    def __init__(
        self, transport: HubSpotTransport, *, portal_id: int | None = None, page_size: int = SEARCH_PAGE_LIMIT,
        search_result_limit: int = SEARCH_RESULT_LIMIT,
    ) -> None:
        if not 1 <= page_size <= SEARCH_PAGE_LIMIT:
            raise ValueError("page_size must be between 1 and 200 (HubSpot's search limit)")
        if not page_size <= search_result_limit <= SEARCH_RESULT_LIMIT:
            raise ValueError("search_result_limit must be between page_size and 10,000 (HubSpot's search limit)")
        self.search_result_limit = search_result_limit
        self.transport = transport
        self.portal_id = portal_id
        self.page_size = page_size
        self._properties: dict[str, dict[str, dict[str, Any]]] = {}

    def __repr__(self) -> str:
        return f"HubSpotAdapter({self.transport!r}, portal_id={self.portal_id!r})"

    # -- reads ---------------------------------------------------------------------------------------------

    def read_changed_since(
        self, entity: str, since: datetime | None, *, fields: Sequence[str], page_size: int | None = None
    ) -> Iterator[pd.DataFrame]:
        """Yield pages of ``entity`` records modified at or after ``since`` (all when ``None``), oldest first.

        A search answers at most 10,000 results: a longer read searches again from the modified time of the
        last record it yielded, leaving out the records yielded at that very time, so none is lost or repeated.
        The first page carries ``attrs[READ_TOTAL]``, HubSpot's ``total`` for the search.
        """
        limit = min(page_size or self.page_size, SEARCH_PAGE_LIMIT)
        modified = self._modified_property(entity)
        properties = self._request_properties(entity, fields)
        start = since
        last_time: datetime | None = None
        seen_at_last: set[str] = set()
        first = True
        while True:
            body: dict[str, Any] = {
                "sorts": [{"propertyName": modified, "direction": "ASCENDING"}],
                "properties": properties, "limit": limit,
            }
            if start is not None:
                body["filterGroups"] = [{"filters": [
                    {"propertyName": modified, "operator": "GTE", "value": _millis(start)}]}]
            read = 0
            progressed = False
            after: str | None = None
            while True:
                answer = self._search(entity, body, after)
                results = [r for r in answer.get("results") or []
                           if not (last_time is not None and r["id"] in seen_at_last
                                   and self._modified_at(entity, r) == last_time)]
                read += len(answer.get("results") or [])
                for record in results:
                    moment = self._modified_at(entity, record)
                    if moment != last_time:
                        last_time, seen_at_last = moment, set()
                    seen_at_last.add(str(record["id"]))
                if results:
                    progressed = True
                    frame = self._frame(entity, results, fields)
                    if first:
                        frame.attrs[READ_TOTAL] = int(answer.get("total") or 0)
                    first = False
                    yield frame
                after = ((answer.get("paging") or {}).get("next") or {}).get("after")
                if after is None:
                    return
                if read + limit > self.search_result_limit:
                    break
            if not progressed and start == last_time:
                raise FatalSyncError(
                    f"more than {self.search_result_limit:,} {entity} records share the modified time {last_time}: "
                    "HubSpot's search cannot page past them", code="SEARCH_LIMIT", system="crm",
                )
            log.info("the %s search reached the %d-result limit; searching again from %s", entity,
                     self.search_result_limit, last_time)
            start = last_time

    def read_by_ids(self, entity: str, ids: Sequence[str], *, fields: Sequence[str]) -> pd.DataFrame:
        """Return the ``entity`` records with these ids (``batch/read``, 100 per call); missing ids are absent."""
        records = self._batch_read(entity, [str(i) for i in dict.fromkeys(ids)], fields, id_property=None)
        return self._frame(entity, records, fields)

    def read_by_keys(self, entity: str, key_field: str, keys: Sequence[str], *, fields: Sequence[str]) -> pd.DataFrame:
        """Return the ``entity`` records whose ``key_field`` is one of ``keys``.

        By id (``hs_object_id``) and by a unique property: ``batch/read`` (with ``idProperty``); by any other
        property: a search ``IN`` (HubSpot compares text ignoring case; the caller compares exactly).
        """
        wanted = list(dict.fromkeys(str(k) for k in keys if not is_blank(k)))
        columns = list(dict.fromkeys([key_field, *fields]))
        if key_field in (self.id_field, "id"):
            records = self._batch_read(entity, wanted, columns, id_property=None)
        elif self._property(entity, key_field).get("hasUniqueValue"):
            records = self._batch_read(entity, wanted, columns, id_property=key_field)
        else:
            records = self._search_in(entity, key_field, wanted, columns)
        return self._frame(entity, records, columns)

    def count(self, entity: str) -> int:
        """How many ``entity`` records the portal holds (a search's ``total``)."""
        return int(self._search(entity, {"limit": 1, "properties": [self.id_field]}, None).get("total") or 0)

    def gather_size(self, entity: str, expected: int) -> int:
        """0: HubSpot's batch endpoints take at most 100 records a call whatever is gathered, so pages are
        written as they come."""
        return 0

    def holds_any(self, entity: str, field: str) -> bool:
        """True when some ``entity`` record has a value in ``field`` (a pseudo-field always may)."""
        if association_target(field) is not None:
            return True
        body = {"filterGroups": [{"filters": [{"propertyName": field, "operator": "HAS_PROPERTY"}]}],
                "limit": 1, "properties": [self.id_field]}
        return int(self._search(entity, body, None).get("total") or 0) > 0

    def read_deleted_since(self, entity: str, since: datetime, until: datetime) -> DeletedWindow:
        """Return ``entity`` records archived between ``since`` and ``until`` (HubSpot's archived listing).

        HubSpot keeps archived records restorable, and listed, for 90 days: ``earliest_available`` says so.
        """
        low, high = _utc(since), _utc(until)
        found: list[DeletedRecord] = []
        after: str | None = None
        while True:
            params: dict[str, Any] = {"archived": "true", "limit": BATCH_LIMIT, "properties": self.id_field}
            if after is not None:
                params["after"] = after
            answer = self.transport.request("GET", f"/crm/v3/objects/{entity}", params=params) or {}
            for record in answer.get("results") or []:
                moment = _parse_time(record.get("archivedAt"))
                if moment is not None and low <= moment <= high:
                    found.append(DeletedRecord(id=str(record["id"]), deleted_at=moment))
            after = ((answer.get("paging") or {}).get("next") or {}).get("after")
            if after is None:
                break
        found.sort(key=lambda r: r.deleted_at)
        return DeletedWindow(records=found, earliest_available=high - ARCHIVE_RETENTION)

    def field_names(self, entity: str) -> set[str]:
        """The properties of ``entity`` (properties API), ``createdate`` and its association pseudo-fields."""
        names = set(self._properties_of(entity))
        names.add(self.created_field)
        names.update(f"{ASSOCIATION_PREFIX}{target}" for target in ASSOCIATION_FIELDS.get(entity, ()))
        return names

    def organization(self) -> tuple[str, bool]:
        """The portal's id and whether it is a sandbox (``GET /account-info/v3/details``: ``portalId``,
        ``accountType`` ``SANDBOX`` or ``DEVELOPER_TEST``)."""
        details = self.transport.request("GET", "/account-info/v3/details")
        return str(details["portalId"]), str(details.get("accountType")) in SANDBOX_ACCOUNT_TYPES

    def is_record_id(self, entity: str, value: str) -> bool:
        """True when ``value`` has the shape of a HubSpot record id (digits)."""
        return value.isdigit()

    def canonical_id(self, entity: str, value: str) -> str:
        """HubSpot ids have one form: ``value`` as given."""
        return value

    def line_list(self, entity: str, lines: Sequence[dict[str, Any]]) -> Any:
        """Records written here take no line list: refused with ``LINES_UNSUPPORTED``."""
        raise FatalSyncError(f"{self.system} {entity} records take no line list here (mapping ``lines`` write to "
                             "the ERP)", code="LINES_UNSUPPORTED", system="crm")

    def record_url(self, entity: str, record_id: str) -> str | None:
        """The record's page in HubSpot's app, when the portal id and the object's type id are known."""
        return None if self.portal_id is None else record_page(self.portal_id, entity, record_id)

    # -- writes --------------------------------------------------------------------------------------------

    def upsert_batch(self, entity: str, key_field: str, records: Sequence[dict[str, Any]]) -> list[WriteResult]:
        """Create or update ``records`` by the unique property ``key_field`` (``batch/upsert``); one result each.

        A record without its key fails alone with ``MISSING_EXTERNAL_ID``. Association pseudo-fields are written
        after the record, as associations.
        """
        results: list[WriteResult | None] = [None] * len(records)
        inputs: list[tuple[str, dict[str, Any]]] = []
        for index, record in enumerate(records):
            key = record.get(key_field)
            if is_blank(key):
                results[index] = WriteResult(key="", id=None, error_code="MISSING_EXTERNAL_ID",
                                             error_message=f"the record has no {key_field}")
                continue
            properties = {name: property_value(value) for name, value in record.items()
                          if association_target(name) is None}
            inputs.append((str(key), {"id": str(key), "idProperty": key_field, "properties": properties}))

        def key_of(result: dict[str, Any]) -> str | None:
            value = (result.get("properties") or {}).get(key_field)
            return None if value is None else str(value)

        answers = self._batch(f"/crm/v3/objects/{entity}/batch/upsert", inputs, key_of)
        by_key = {str(r.get(key_field)): r for r in records if not is_blank(r.get(key_field))}
        for index, record in enumerate(records):
            if results[index] is not None:
                continue
            key = str(record[key_field])
            answer = answers[key]
            if answer.result is not None:
                created = bool(answer.result.get("new"))
                results[index] = WriteResult(key=key, id=str(answer.result["id"]), created=created)
            else:
                results[index] = self._failed(key, answer, by_key.get(key, record))
        done = [r for r in results if r is not None]
        done = self._write_associations(entity, list(records), done)
        log.info("upserted %d %s records (%d failed)", len(records), entity, sum(not r.ok for r in done))
        return done

    def update_batch(self, entity: str, records: Sequence[dict[str, Any]]) -> list[WriteResult]:
        """Update existing records by their id (``"id"`` in each dict; ``batch/update``); one result each."""
        inputs = []
        for record in records:
            record_id = str(record.get("id") or record.get(self.id_field) or "")
            properties = {name: property_value(value) for name, value in record.items()
                          if name not in {"id", self.id_field} and association_target(name) is None}
            inputs.append((record_id, {"id": record_id, "properties": properties}))
        answers = self._batch(f"/crm/v3/objects/{entity}/batch/update", [i for i in inputs if i[0]],
                              lambda result: str(result.get("id")))
        results = []
        for (record_id, _), record in zip(inputs, records, strict=True):
            answer = answers.get(record_id) if record_id else None
            if not record_id:
                results.append(WriteResult(key="", id=None, error_code="MISSING_ID",
                                           error_message="the record has no id"))
            elif answer is not None and answer.result is not None:
                results.append(WriteResult(key=record_id, id=record_id))
            else:
                results.append(self._failed(record_id, answer or _Answer(code="UNPROCESSED"), record))
        results = self._write_associations(entity, list(records), results)
        log.info("updated %d %s records (%d failed)", len(records), entity, sum(not r.ok for r in results))
        return results

    def delete_batch(self, entity: str, ids: Sequence[str]) -> list[WriteResult]:
        """Archive the records with these ids (``batch/archive``); an id already gone counts as done."""
        for chunk in _chunks([str(i) for i in ids], BATCH_LIMIT):
            try:
                self.transport.request("POST", f"/crm/v3/objects/{entity}/batch/archive",
                                       json={"inputs": [{"id": record_id} for record_id in chunk]})
            except FatalSyncError as exc:
                if exc.code != "OBJECT_NOT_FOUND":
                    raise
        log.info("archived %d %s records", len(ids), entity)
        return [WriteResult(key=str(record_id), id=str(record_id)) for record_id in ids]

    # -- helpers -------------------------------------------------------------------------------------------

    def _modified_property(self, entity: str) -> str:
        return MODIFIED_PROPERTIES.get(entity, "hs_lastmodifieddate")

    def _created_property(self, entity: str) -> str:
        return CREATED_PROPERTIES.get(entity, "createdate")

    def _request_properties(self, entity: str, fields: Sequence[str]) -> list[str]:
        """The properties to ask HubSpot for: the fields (pseudo-fields and ``id`` aside) and the modified time."""
        names = [self._modified_property(entity)]
        for name in fields:
            if name == "id" or association_target(name) is not None:
                continue
            names.append(self._created_property(entity) if name == self.created_field else name)
        return list(dict.fromkeys(names))

    def _modified_at(self, entity: str, record: dict[str, Any]) -> datetime | None:
        properties = record.get("properties") or {}
        return _parse_time(properties.get(self._modified_property(entity)) or record.get("updatedAt"))

    def _search(self, entity: str, body: dict[str, Any], after: str | None) -> dict[str, Any]:
        payload = {**body, **({"after": after} if after is not None else {})}
        return self.transport.request("POST", f"/crm/v3/objects/{entity}/search", json=payload) or {}

    def _search_in(self, entity: str, key_field: str, keys: list[str], fields: Sequence[str]) -> list[dict[str, Any]]:
        """Records whose ``key_field`` is one of ``keys`` (search ``IN``; HubSpot compares text ignoring case and
        documents lowercase values for ``IN`` on text, so the keys are sent lowercased)."""
        records: dict[str, dict[str, Any]] = {}
        properties = self._request_properties(entity, fields)
        lowered = list(dict.fromkeys(k.lower() for k in keys))
        for values in _chunks(lowered, IN_VALUES_LIMIT):
            condition = {"propertyName": key_field, "operator": "IN", "values": list(values)}
            body = {"filterGroups": [{"filters": [condition]}], "properties": properties, "limit": SEARCH_PAGE_LIMIT}
            after: str | None = None
            while True:
                answer = self._search(entity, body, after)
                for record in answer.get("results") or []:
                    records[str(record["id"])] = record
                after = ((answer.get("paging") or {}).get("next") or {}).get("after")
                if after is None:
                    break
        return list(records.values())

    def _batch_read(
        self, entity: str, ids: list[str], fields: Sequence[str], *, id_property: str | None
    ) -> list[dict[str, Any]]:
        """``batch/read`` of ``ids`` (by ``id_property`` when given); records HubSpot does not find are absent."""
        properties = self._request_properties(entity, fields)
        records: list[dict[str, Any]] = []
        for chunk in _chunks(ids, BATCH_LIMIT):
            body: dict[str, Any] = {"properties": properties, "inputs": [{"id": i} for i in chunk]}
            if id_property is not None:
                body["idProperty"] = id_property
            answer = self.transport.request("POST", f"/crm/v3/objects/{entity}/batch/read", json=body,
                                            params={"archived": "false"}, allow=frozenset({404})) or {}
            records.extend(answer.get("results") or [])
        return records

    def _frame(self, entity: str, records: Sequence[dict[str, Any]], fields: Sequence[str]) -> pd.DataFrame:
        """Records as a frame: ``id``, ``modified_at`` (UTC) and one column per field (pseudo-fields resolved)."""
        columns: dict[str, list[Any]] = {
            "id": [str(r["id"]) for r in records],
            "modified_at": [self._modified_at(entity, r) for r in records],
        }
        created = self._created_property(entity)
        for name in fields:
            if name in columns:
                continue
            target = association_target(name)
            if target is not None:
                linked = self._associated(entity, target, columns["id"])
                columns[name] = [linked.get(record_id) for record_id in columns["id"]]
            elif name == self.id_field:
                columns[name] = list(columns["id"])
            else:
                source = created if name == self.created_field else name
                columns[name] = [(r.get("properties") or {}).get(source) for r in records]
        frame = pd.DataFrame(columns)
        frame["modified_at"] = pd.to_datetime(frame["modified_at"], utc=True)
        return frame

    def _properties_of(self, entity: str) -> dict[str, dict[str, Any]]:
        """``entity``'s property definitions by name (properties API, read once per adapter)."""
        if entity not in self._properties:
            answer = self.transport.request("GET", f"/crm/v3/properties/{entity}") or {}
            self._properties[entity] = {str(p["name"]): p for p in answer.get("results") or []}
        return self._properties[entity]

    def _property(self, entity: str, name: str) -> dict[str, Any]:
        return self._properties_of(entity).get(name, {})

    def _batch(
        self, path: str, inputs: Sequence[tuple[str, dict[str, Any]]], key_of: Callable[[dict[str, Any]], str | None]
    ) -> dict[str, _Answer]:
        """Send ``inputs`` (key, input) to a batch endpoint, 100 per call; HubSpot's answer for each key."""
        answers: dict[str, _Answer] = {}
        for chunk in _chunks(list(inputs), BATCH_LIMIT):
            answers.update(self._batch_chunk(path, chunk, key_of))
        return answers

    def _batch_chunk(
        self, path: str, chunk: Sequence[tuple[str, dict[str, Any]]], key_of: Callable[[dict[str, Any]], str | None]
    ) -> dict[str, _Answer]:
        """One batch call; inputs its answer does not settle (or a batch refused whole) are sent again alone."""
        body, refused = self._post_inputs(path, chunk, lambda items: self._one_by_one(path, items, key_of))
        if body is None:
            return refused
        keys = {key for key, _ in chunk}
        answers: dict[str, _Answer] = {}
        unmatched: list[dict[str, Any]] = []
        for result in body.get("results") or []:
            key = key_of(result)
            if key in keys and key not in answers:
                answers[key] = _Answer(result=result)
            else:
                unmatched.append(result)
        errors = body.get("errors") or []
        loose: list[dict[str, Any]] = []
        for error in errors:
            named = [k for k in _context_values(error) if k in keys and k not in answers]
            for key in named:
                answers[key] = _Answer(code=str(error.get("category") or "UNKNOWN"),
                                       message=str(error.get("message") or ""))
            if not named:
                loose.append(error)
        missing = [(key, item) for key, item in chunk if key not in answers]
        if not missing:
            return answers
        if not errors and len(unmatched) == len(missing):
            answers.update({key: _Answer(result=result) for (key, _), result in zip(missing, unmatched, strict=True)})
        elif len(chunk) == 1 and loose:
            answers[chunk[0][0]] = _Answer(code=str(loose[0].get("category") or "UNKNOWN"),
                                           message=str(loose[0].get("message") or ""))
        elif len(chunk) > 1:
            answers.update(self._one_by_one(path, missing, key_of))
        else:
            answers[chunk[0][0]] = _Answer(code="UNPROCESSED", message="HubSpot's answer did not include the record")
        return answers

    def _post_inputs(
        self, path: str, chunk: Sequence[tuple[str, dict[str, Any]]],
        alone: Callable[[Sequence[tuple[str, dict[str, Any]]]], dict[str, _Answer]],
    ) -> tuple[dict[str, Any] | None, dict[str, _Answer]]:
        """POST ``chunk``'s inputs to a batch endpoint: ``(answer, {})``; when HubSpot refuses the batch whole,
        ``(None, answers)``: the refusal for a single input, else ``alone(chunk)`` (each input sent again by
        itself). A refusal of the connection itself (authentication, scopes) is raised."""
        try:
            return self.transport.request("POST", path, json={"inputs": [item for _, item in chunk]}) or {}, {}
        except FatalSyncError as exc:
            if exc.code in CONNECTION_CODES:
                raise
            if len(chunk) == 1:
                return None, {chunk[0][0]: _refusal(exc)}
            return None, alone(chunk)

    def _one_by_one(
        self, path: str, items: Sequence[tuple[str, dict[str, Any]]], key_of: Callable[[dict[str, Any]], str | None]
    ) -> dict[str, _Answer]:
        log.info("sending %d inputs of %s one at a time to tell their outcomes apart", len(items), path)
        answers: dict[str, _Answer] = {}
        for item in items:
            answers.update(self._batch_chunk(path, [item], key_of))
        return answers

    @staticmethod
    def _failed(key: str, answer: _Answer, record: dict[str, Any]) -> WriteResult:
        """A failed record's result: HubSpot's category and message, the record's values redacted."""
        message = redact(answer.message or "", {k: v for k, v in record.items() if k != "id"}, keep=[key])
        return WriteResult(key=key, id=None, error_code=answer.code or "UNKNOWN", error_message=message)

    # -- associations --------------------------------------------------------------------------------------

    def _associated(self, entity: str, target: str, ids: Sequence[str]) -> dict[str, str]:
        """For each record id, the id of its associated ``target`` record (the primary one first)."""
        chosen: dict[str, str] = {}
        for from_id, links in self._associations(entity, target, ids).items():
            if links:
                primary = [to for to, labels in links if "Primary" in labels]
                chosen[from_id] = (primary or [to for to, _ in links])[0]
        return chosen

    def _associations(self, entity: str, target: str, ids: Sequence[str]) -> dict[str, list[tuple[str, set[str]]]]:
        """Each record's associations with ``target`` records: (their id, the association labels)."""
        found: dict[str, list[tuple[str, set[str]]]] = {}
        for chunk in _chunks(list(dict.fromkeys(ids)), BATCH_LIMIT):
            answer = self.transport.request(
                "POST", f"/crm/v4/associations/{entity}/{target}/batch/read",
                json={"inputs": [{"id": i} for i in chunk]}, allow=frozenset({404}),
            ) or {}
            for result in answer.get("results") or []:
                links = [(str(to["toObjectId"]), {str(t.get("label")) for t in to.get("associationTypes") or []
                                                  if t.get("label")})
                         for to in result.get("to") or []]
                found[str(result["from"]["id"])] = sorted(links, key=lambda link: int(link[0]))
        return found

    def _write_associations(
        self, entity: str, records: list[dict[str, Any]], results: list[WriteResult]
    ) -> list[WriteResult]:
        """Make each written record's associations match its pseudo-fields; a failure fails that record."""
        wanted: dict[str, dict[str, str | None]] = {}
        for record, result in zip(records, results, strict=True):
            if not result.ok or result.id is None:
                continue
            for name, value in record.items():
                target = association_target(name)
                if target is not None:
                    wanted.setdefault(target, {})[result.id] = None if is_blank(value) else str(value)
        failures: dict[str, _Answer] = {}
        for target, links in wanted.items():
            failures.update(self._set_associations(entity, target, links))
        if not failures:
            return results
        return [
            self._failed(result.key, failures[result.id], record) if result.id in failures else result
            for record, result in zip(records, results, strict=True)
        ]

    def _set_associations(self, entity: str, target: str, links: dict[str, str | None]) -> dict[str, _Answer]:
        """Replace the records' ``target`` associations by ``links`` (from id -> to id or None); failures by id."""
        current = self._associations(entity, target, list(links))
        primary = PRIMARY_ASSOCIATION_TYPES.get((entity, target))
        removals: list[tuple[str, dict[str, Any]]] = []
        additions: list[tuple[str, dict[str, Any]]] = []
        for from_id, to_id in links.items():
            existing = [to for to, _ in current.get(from_id, [])]
            stale = [to for to in existing if to != to_id]
            if stale:
                removals.append((from_id, {"from": {"id": from_id}, "to": [{"id": to} for to in stale]}))
            if to_id is not None and to_id not in existing:
                addition: dict[str, Any] = {"from": {"id": from_id}, "to": {"id": to_id}}
                if primary is not None:
                    addition["types"] = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": primary}]
                additions.append((from_id, addition))

        def from_of(result: dict[str, Any]) -> str | None:
            origin = result.get("from")
            if isinstance(origin, dict):
                return str(origin.get("id"))
            return str(result.get("fromObjectId")) if result.get("fromObjectId") is not None else None

        failures: dict[str, _Answer] = {}
        base = f"/crm/v4/associations/{entity}/{target}/batch"
        add = f"{base}/associate/default" if primary is None else f"{base}/create"
        for path, items in ((f"{base}/archive", removals), (add, additions)):
            if not items:
                continue
            for chunk in _chunks(items, BATCH_LIMIT):
                failures.update(self._association_call(path, chunk, from_of))
        return failures

    def _association_call(
        self, path: str, chunk: Sequence[tuple[str, dict[str, Any]]], from_of: Callable[[dict[str, Any]], str | None]
    ) -> dict[str, _Answer]:
        """One association batch; the inputs that failed, by their record id (a batch refused whole: one by one)."""

        def alone(items: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, _Answer]:
            answers: dict[str, _Answer] = {}
            for item in items:
                answers.update(self._association_call(path, [item], from_of))
            return answers

        body, refused = self._post_inputs(path, chunk, alone)
        if body is None:
            return refused
        failed: dict[str, _Answer] = {}
        keys = {key for key, _ in chunk}
        loose = False
        for error in body.get("errors") or []:
            named = [k for k in _context_values(error) if k in keys] or ([chunk[0][0]] if len(chunk) == 1 else [])
            loose = loose or not named
            for key in named:
                failed[key] = _Answer(code=str(error.get("category") or "ASSOCIATION_FAILED"),
                                      message=str(error.get("message") or ""))
        if loose:
            for item in chunk:
                if item[0] not in failed:
                    failed.update(self._association_call(path, [item], from_of))
        return failed
