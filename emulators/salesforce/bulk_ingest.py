"""Processing a Bulk API 2.0 ingest job: CSV rows written through the store's batch operations.

Rows are written in chunks of :data:`CHUNK_ROWS` with the same :class:`RecordStore` functions the
sObject Collections routes use, so every row gets the per-record result (and error) a REST write
would get. An empty CSV value leaves the field unset (or unchanged, on update and upsert);
``#N/A`` sets it to null. A ``Relationship.ExternalIdField`` column (``Account.ERP_Id__c``) sets
the lookup to the parent record with that external id.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from emulators.common.clock import EmulatorClock
from emulators.salesforce.bulk_csv import NULL_VALUE, CsvFormatError, parse_csv
from emulators.salesforce.bulk_jobs import ABORTED, FAILED, IN_PROGRESS, JOB_COMPLETE, UPLOAD_COMPLETE, Job
from emulators.salesforce.errors import RecordError, SalesforceError
from emulators.salesforce.ids import normalize_id
from emulators.salesforce.schema import FieldDef, ObjectDef, Schema
from emulators.salesforce.store import RecordStore, WriteResult
from emulators.salesforce.validation import JAVA_TYPES, convert

CHUNK_ROWS = 10_000
DELETES = frozenset({"delete", "hardDelete"})
XSD_TYPES = {"int": "int", "double": "double", "currency": "double", "percent": "double", "boolean": "boolean",
             "date": "date", "datetime": "dateTime"}


def error_text(errors: Sequence[RecordError]) -> str:
    """``sf__Error`` of a failed row: ``CODE:message:field,field --`` for each error."""
    return ";".join(f"{e.status_code}:{e.message}:{','.join(e.fields)} --" for e in errors)


@dataclass(frozen=True)
class ParentKey:
    """A ``Relationship.Field`` column: the lookup ``reference`` set to the ``parent`` whose ``key`` matches."""

    reference: FieldDef
    parent: ObjectDef
    key: FieldDef


Column = FieldDef | ParentKey


def _target(column: Column) -> FieldDef:
    return column.reference if isinstance(column, ParentKey) else column


def _parent_key(schema: Schema, obj: ObjectDef, name: str) -> ParentKey | None:
    relationship, _, key_name = name.partition(".")
    reference = obj.relationship(relationship)
    if reference is None or len(reference.reference_to) != 1:
        return None
    parent = schema.objects[reference.reference_to[0]]
    key = parent.field(key_name)
    if key is None or not (key.external_id or key.name == "Id"):
        return None
    return ParentKey(reference, parent, key)


def header_fields(schema: Schema, obj: ObjectDef, header: list[str], operation: str) -> list[Column]:
    """The columns the CSV header names, checked for the job's operation.

    Raises:
        CsvFormatError: an unknown or repeated column, or a delete job with columns other than ``Id``.
    """
    columns: list[Column] = []
    for name in header:
        column = _parent_key(schema, obj, name.strip()) if "." in name else obj.field(name.strip())
        if column is None:
            raise CsvFormatError(f"InvalidBatch : Field name not found : {name}")
        if _target(column) in [_target(c) for c in columns]:
            raise CsvFormatError(f"InvalidBatch : Duplicate field name: {name}")
        columns.append(column)
    if operation in DELETES and [_target(c).name for c in columns] != ["Id"]:
        raise CsvFormatError(f"InvalidBatch : The '{operation}' batch must contain only ids")
    return columns


def _parents(store: RecordStore, columns: list[Column], rows: list[list[str]]
             ) -> dict[tuple[int, str], str | RecordError]:
    """The parent id (or the error) of every distinct value of the chunk's parent-key columns."""
    found: dict[tuple[int, str], str | RecordError] = {}
    for index, column in enumerate(columns):
        if not isinstance(column, ParentKey):
            continue
        for text in {row[index] for row in rows} - {"", NULL_VALUE}:
            try:
                value = convert(column.key, text)
            except SalesforceError:
                value = None
            matches = store.find_by_external_id(column.parent.name, column.key.name, value) if value is not None else []
            if len(matches) == 1:
                found[index, text] = matches[0]["Id"]
            else:
                problem = "not found" if not matches else "matches more than one record"
                found[index, text] = RecordError(
                    "INVALID_FIELD", f"Foreign key external ID: {text} {problem} for field {column.key.name} in "
                    f"entity {column.parent.name}", [column.reference.name])
    return found


def _record(columns: list[Column], row: list[str], parents: dict[tuple[int, str], str | RecordError]
            ) -> dict[str, Any] | RecordError:
    """A row as the JSON-like record the store's batch functions take, or the row's conversion error."""
    record: dict[str, Any] = {}
    for position, (column, text) in enumerate(zip(columns, row, strict=True), start=1):
        if text == "":
            continue
        f = _target(column)
        if text == NULL_VALUE:
            record[f.name] = None
            continue
        if isinstance(column, ParentKey):
            parent = parents[position - 1, text]
            if isinstance(parent, RecordError):
                return parent
            record[f.name] = parent
            continue
        if f.name == "Id":
            record["Id"] = text
            continue
        try:
            record[f.name] = convert(f, text)
        except SalesforceError:
            xsd = XSD_TYPES.get(f.type, JAVA_TYPES.get(f.type, "string"))
            return RecordError("INVALID_FIELD", f"Failed to deserialize field at col {position}. Due to, '{text}' is "
                               f"not a valid value for the type xsd:{xsd}", [f.name])
    return record


def _write(store: RecordStore, job: Job, obj: ObjectDef, records: list[dict[str, Any]]) -> list[WriteResult]:
    if job.operation == "insert":
        return store.insert(obj.name, records, user_id=job.created_by)
    if job.operation == "update":
        return store.update(obj.name, records, user_id=job.created_by)
    if job.operation == "upsert":
        assert job.external_id_field is not None
        return store.upsert(obj.name, job.external_id_field, records, user_id=job.created_by)
    results = store.delete([r.get("Id") or "" for r in records], user_id=job.created_by)
    if job.operation == "hardDelete":
        # Hard-deleted records skip the recycle bin (queryAll no longer finds them); the delete log keeps them.
        store.empty_recycle_bin([r.id for r in results if r.success and r.id])
    return results


def _delete_target_error(obj: ObjectDef, record: dict[str, Any]) -> RecordError | None:
    record_id = normalize_id(record.get("Id") or "")
    if record_id is not None and record_id[:3] != obj.key_prefix:
        return RecordError("INVALID_ID_FIELD", f"Invalid Id for entity type {obj.name}", ["Id"])
    return None


def write_chunk(store: RecordStore, job: Job, obj: ObjectDef, columns: list[Column], rows: list[list[str]]
                ) -> list[tuple[str, bool, str | None]]:
    """Write ``rows``; return ``(id, created, sf__Error or None)`` per row, in order."""
    outcomes: list[tuple[str, bool, str | None]] = [("", False, None)] * len(rows)
    positions: list[int] = []
    records: list[dict[str, Any]] = []
    parents = _parents(store, columns, rows)
    for index, row in enumerate(rows):
        record = _record(columns, row, parents)
        if isinstance(record, dict) and job.operation in DELETES:
            record = _delete_target_error(obj, record) or record
        if isinstance(record, RecordError):
            outcomes[index] = ("", False, error_text([record]))
        else:
            positions.append(index)
            records.append(record)
    if not records:
        return outcomes
    try:
        results = _write(store, job, obj, records)
    except SalesforceError as exc:
        failure = error_text([RecordError(exc.error_code, exc.message, exc.fields or [])])
        for index in positions:
            outcomes[index] = ("", False, failure)
        return outcomes
    keeps_id = job.operation in DELETES or job.operation == "update"
    for index, record, result in zip(positions, records, results, strict=True):
        if result.success:
            outcomes[index] = (result.id or "", result.created, None)
        else:
            failed_id = (result.id or record.get("Id") or "") if keeps_id else ""
            outcomes[index] = (failed_id, False, error_text(result.errors))
    return outcomes


def process_ingest(store: RecordStore, clock: EmulatorClock, job: Job) -> None:
    """Run an ``UploadComplete`` ingest job to ``JobComplete`` (or ``Failed``; stop early if aborted)."""
    started = time.monotonic()
    with job.lock:
        if job.state != UPLOAD_COMPLETE:
            return
        job.set_state(IN_PROGRESS, clock.now())
        data = job.uploads[0] if job.uploads else b""
    obj = store.schema.objects[job.object]
    rows: list[list[str]] = []
    try:
        header, rows = parse_csv(data, delimiter=job.column_delimiter, line_ending=job.line_ending)
        with job.lock:
            job.header = header
        columns = header_fields(store.schema, obj, header, job.operation)
    except CsvFormatError as exc:
        with job.lock:
            job.unprocessed = rows
            job.processing_ms = int((time.monotonic() - started) * 1000)
            if job.state != ABORTED:
                job.set_state(FAILED, clock.now(), str(exc))
        return
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = rows[start : start + CHUNK_ROWS]
        if job.abort_requested:
            with job.lock:
                job.unprocessed.extend(rows[start:])
            break
        outcomes = write_chunk(store, job, obj, columns, chunk)
        with job.lock:
            for row, (record_id, created, error) in zip(chunk, outcomes, strict=True):
                if error is None:
                    job.successful.append([record_id, "true" if created else "false", *row])
                else:
                    job.failed.append([record_id, error, *row])
                    job.failures += 1
            job.processed += len(chunk)
            job.processing_ms = int((time.monotonic() - started) * 1000)
    with job.lock:
        job.processing_ms = int((time.monotonic() - started) * 1000)
        if job.state != ABORTED:
            job.set_state(JOB_COMPLETE, clock.now())
