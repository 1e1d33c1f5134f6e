"""Tandem's Salesforce adapter: the engine's small protocol over simple-salesforce.

Reads use SOQL built with ``format_soql`` and follow ``nextRecordsUrl``; writes go through sObject
Collections in batches of 200 (upsert by external id, so a retried batch never duplicates).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

import pandas as pd
from simple_salesforce import Salesforce
from simple_salesforce.format import format_soql

from tandem.adapter import DeletedRecord, DeletedWindow, WriteResult
from tandem.salesforce.errors import classify

log = logging.getLogger(__name__)

COLLECTION_LIMIT = 200
KEYS_PER_QUERY = 300
GONE_CODES = frozenset({"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY", "NOT_FOUND"})
SF_DATETIME = "%Y-%m-%dT%H:%M:%S.%f%z"

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


class SalesforceAdapter:
    """The engine's protocol over a logged-in :class:`simple_salesforce.Salesforce` client.

    Args:
        sf: the client (built by the Salesforce credentials block).
        page_size: records per query page (200 to 2,000, sent as ``Sforce-Query-Options: batchSize``).
    """

    system = "crm"

    def __init__(self, sf: Salesforce, *, page_size: int = 2000) -> None:
        if not 200 <= page_size <= 2000:
            raise ValueError("page_size must be between 200 and 2,000 (Salesforce's batchSize range)")
        self.sf = sf
        self.page_size = page_size

    def _call(self, action: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return action(*args, **kwargs)
        except Exception as exc:
            raise classify(exc) from exc

    def _query_pages(self, soql: str, *, page_size: int) -> Iterator[list[dict[str, Any]]]:
        headers = {"Sforce-Query-Options": f"batchSize={page_size}"}
        result = self._call(self.sf.query, soql, headers=headers)
        while True:
            yield result["records"]
            if result["done"]:
                return
            result = self._call(self.sf.query_more, result["nextRecordsUrl"], identifier_is_url=True, headers=headers)

    def read_changed_since(
        self, entity: str, since: datetime | None, *, fields: Sequence[str], page_size: int | None = None
    ) -> Iterator[pd.DataFrame]:
        """Yield pages of ``entity`` records with ``SystemModstamp >= since``, oldest first.

        ``>=`` (never ``>``) so rows sharing the watermark's timestamp are not lost; the caller
        de-duplicates by id.
        """
        select = ", ".join(dict.fromkeys(["Id", "SystemModstamp", *fields]))
        if since is None:
            soql = format_soql(f"SELECT {select} FROM {entity} ORDER BY SystemModstamp, Id")
        else:
            soql = format_soql(
                f"SELECT {select} FROM {entity} WHERE SystemModstamp >= {{since}} ORDER BY SystemModstamp, Id",
                since=since,
            )
        for records in self._query_pages(soql, page_size=page_size or self.page_size):
            log.debug("read %d %s records", len(records), entity)
            yield records_to_frame(records, fields)

    def read_by_keys(self, entity: str, key_field: str, keys: Sequence[str], *, fields: Sequence[str]) -> pd.DataFrame:
        """Return the ``entity`` records whose ``key_field`` is in ``keys`` (queried 300 keys at a time)."""
        select = ", ".join(dict.fromkeys(["Id", "SystemModstamp", key_field, *fields]))
        frames = []
        for chunk in _chunks(list(dict.fromkeys(keys)), KEYS_PER_QUERY):
            soql = format_soql(f"SELECT {select} FROM {entity} WHERE {key_field} IN {{keys}}", keys=list(chunk))
            for records in self._query_pages(soql, page_size=self.page_size):
                frames.append(records_to_frame(records, [key_field, *fields]))
        if not frames:
            return records_to_frame([], [key_field, *fields])
        return pd.concat(frames, ignore_index=True)

    def upsert_batch(self, entity: str, key_field: str, records: Sequence[dict[str, Any]]) -> list[WriteResult]:
        """Upsert ``records`` by ``key_field`` through sObject Collections, 200 per call, ``allOrNone`` off.

        A record without its key fails alone with ``MISSING_EXTERNAL_ID``; the others are written.
        """
        results: list[WriteResult | None] = [None] * len(records)
        sendable: list[tuple[int, dict[str, Any]]] = []
        for index, record in enumerate(records):
            key = record.get(key_field)
            if key in (None, ""):
                results[index] = WriteResult(
                    key="", id=None, error_code="MISSING_EXTERNAL_ID", error_message=f"the record has no {key_field}"
                )
            else:
                sendable.append((index, {"attributes": {"type": entity}, **record}))
        for chunk in _chunks(sendable, COLLECTION_LIMIT):
            body = {"allOrNone": False, "records": [record for _, record in chunk]}
            answers = self._call(self.sf.restful, f"composite/sobjects/{entity}/{key_field}", method="PATCH", json=body)
            for (index, record), answer in zip(chunk, answers or [], strict=True):
                results[index] = _write_result(str(record[key_field]), answer)
        log.info("upserted %d %s records (%d failed)", len(records), entity, sum(not r.ok for r in results if r))
        return [r for r in results if r is not None]

    def update_batch(self, entity: str, records: Sequence[dict[str, Any]]) -> list[WriteResult]:
        """Update existing records by their ``Id`` through sObject Collections, 200 per call.

        Used to couple a record found by match keys (it gets its ``ERP_Id__c``); idempotent.
        """
        results: list[WriteResult] = []
        for chunk in _chunks(list(records), COLLECTION_LIMIT):
            body = {"allOrNone": False, "records": [{"attributes": {"type": entity}, **r} for r in chunk]}
            answers = self._call(self.sf.restful, "composite/sobjects", method="PATCH", json=body)
            results.extend(_write_result(str(r["Id"]), a) for r, a in zip(chunk, answers or [], strict=True))
        log.info("updated %d %s records (%d failed)", len(records), entity, sum(not r.ok for r in results))
        return results

    def organization(self) -> tuple[str, bool]:
        """The org's id and whether it is a sandbox (``Organization.IsSandbox``)."""
        answer = self._call(self.sf.query, "SELECT Id, IsSandbox FROM Organization")
        record = answer["records"][0]
        return str(record["Id"]), bool(record["IsSandbox"])

    def field_names(self, entity: str) -> set[str]:
        """The field names of ``entity`` from Salesforce's describe (for checking mappings)."""
        answer = self._call(getattr(self.sf, entity).describe)
        return {f["name"] for f in answer["fields"]}

    def delete_batch(self, entity: str, ids: Sequence[str]) -> list[WriteResult]:
        """Delete ``ids`` through sObject Collections, 200 per call; an already deleted record counts as done."""
        results: list[WriteResult] = []
        for chunk in _chunks(list(ids), COLLECTION_LIMIT):
            params = {"ids": ",".join(chunk), "allOrNone": "false"}
            answers = self._call(self.sf.restful, "composite/sobjects", method="DELETE", params=params)
            for record_id, answer in zip(chunk, answers or [], strict=True):
                result = _write_result(record_id, answer)
                if result.error_code in GONE_CODES:
                    result = WriteResult(key=record_id, id=record_id)
                results.append(result)
        log.info("deleted %d %s records (%d failed)", len(ids), entity, sum(not r.ok for r in results))
        return results

    def read_deleted_since(self, entity: str, since: datetime, until: datetime) -> DeletedWindow:
        """Return ``entity`` records deleted between ``since`` and ``until`` (Salesforce keeps 15 days)."""
        answer = self._call(getattr(self.sf, entity).deleted, since, until)
        earliest = answer.get("earliestDateAvailable")
        return DeletedWindow(
            records=[
                DeletedRecord(id=row["id"], deleted_at=datetime.strptime(row["deletedDate"], SF_DATETIME))
                for row in answer.get("deletedRecords", [])
            ],
            earliest_available=datetime.strptime(earliest, SF_DATETIME) if earliest else None,
        )


def _write_result(key: str, answer: dict[str, Any]) -> WriteResult:
    if answer.get("success"):
        return WriteResult(key=key, id=answer.get("id"), created=bool(answer.get("created", False)))
    errors = answer.get("errors") or [{}]
    first = errors[0]
    fields = first.get("fields") or []
    message = str(first.get("message", ""))
    if fields:
        message = f"{message} (fields: {', '.join(fields)})"
    return WriteResult(
        key=key, id=answer.get("id"), error_code=str(first.get("statusCode", "UNKNOWN")), error_message=message
    )
