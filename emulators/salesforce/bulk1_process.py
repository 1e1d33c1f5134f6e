"""Running Bulk API 1.0 batches: ingest through Bulk API 2.0's row writer, queries through the SOQL
compiler and cursors, and PK chunking.

Each batch runs in a background thread once added (``Queued`` → ``InProgress`` → ``Completed`` or
``Failed``); the batches of a ``Serial`` job run one after the other.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any

from emulators.salesforce.bulk1_data import convert_dates, ingest_rows
from emulators.salesforce.bulk1_jobs import (
    ABORTED,
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    NOT_PROCESSED,
    QUEUED,
    Batch,
    BulkFault,
    IngestResult,
    Job,
    PkChunking,
    registry_for,
)
from emulators.salesforce.bulk_csv import CsvFormatError
from emulators.salesforce.bulk_ingest import header_fields, write_chunk
from emulators.salesforce.bulk_jobs import INGEST
from emulators.salesforce.bulk_jobs import Job as WriteJob
from emulators.salesforce.errors import SalesforceError
from emulators.salesforce.rest import EmulatorState
from emulators.salesforce.soql import SoqlError, compile_query
from emulators.salesforce.soql_parser import parse

MAX_BATCH_RECORDS = 10_000
QUERY_CHUNK = 10_000
log = logging.getLogger("emulators.salesforce")
RECORDS_EXCEEDED = ("InvalidBatch : Exceeded number of records: {}. Number of records should be less than or "
                    "equal to {}")
_ERROR = re.compile(r"(?P<code>[A-Z_]+):(?P<message>.*):(?P<fields>[^:]*?) --(?:;|$)", re.S)


def start(state: EmulatorState, job: Job, batch: Batch) -> threading.Thread:
    """Run ``batch`` in a background thread (returned, so the caller may wait a moment for it)."""
    thread = threading.Thread(target=run_batch, args=(state, job, batch), name="bulk1-batch", daemon=True)
    thread.start()
    return thread


def run_batch(state: EmulatorState, job: Job, batch: Batch) -> None:
    """Run one queued batch to its end state (a ``Serial`` job's batches one at a time)."""
    if job.concurrency_mode == "Serial":
        with job.serial:
            _run(state, job, batch)
    else:
        _run(state, job, batch)


def _run(state: EmulatorState, job: Job, batch: Batch) -> None:
    started = time.monotonic()
    with job.lock:
        if batch.state != QUEUED:
            return
        batch.set_state(IN_PROGRESS, state.clock.now())
    try:
        if not job.is_query:
            _ingest(state, job, batch)
        elif job.pk_chunking is not None and not batch.from_chunking:
            _chunk(state, job, batch, job.pk_chunking)
        else:
            _query(state, job, batch)
    except _BatchFailed as exc:
        with job.lock:
            batch.set_state(FAILED, state.clock.now(), str(exc))
    except Exception:
        log.exception("Bulk API 1.0 batch %s of job %s failed", batch.id, job.id)
        with job.lock:
            batch.set_state(FAILED, state.clock.now(), "InternalServerError : An unexpected error occurred")
    finally:
        with job.lock:
            batch.processing_ms = int((time.monotonic() - started) * 1000)


class _BatchFailed(Exception):
    """The batch fails; the message is its ``stateMessage``."""


# -- ingest ---------------------------------------------------------------------------------------


def _parse_errors(text: str) -> list[tuple[str, str, list[str]]]:
    """The ``(code, message, fields)`` of Bulk API 2.0's ``CODE:message:field,field --`` error text."""
    errors = [(m["code"], m["message"], [f for f in m["fields"].split(",") if f]) for m in _ERROR.finditer(text)]
    return errors or [("UNKNOWN_EXCEPTION", text, [])]


def _ingest(state: EmulatorState, job: Job, batch: Batch) -> None:
    store = state.store
    obj = store.schema.objects[job.object]
    try:
        header, rows = ingest_rows(batch.request, job.content_type)
        if len(rows) > MAX_BATCH_RECORDS:
            raise _BatchFailed(RECORDS_EXCEEDED.format(MAX_BATCH_RECORDS + 2, MAX_BATCH_RECORDS + 1))
        columns = header_fields(store.schema, obj, header, job.operation)
    except CsvFormatError as exc:
        raise _BatchFailed(str(exc)) from exc
    writer = WriteJob(id=job.id, job_type=INGEST, operation=job.operation, object=job.object,
                      created_by=job.created_by, created=job.created, api_version=job.api_version,
                      external_id_field=job.external_id_field)
    outcomes = write_chunk(store, writer, obj, columns, rows) if rows else []
    results = [IngestResult(record_id, error is None, created, _parse_errors(error) if error else [])
               for record_id, created, error in outcomes]
    with job.lock:
        batch.ingest_results = results
        batch.processed = len(results)
        batch.failed = sum(not r.success for r in results)
        batch.set_state(COMPLETED, state.clock.now())


# -- query ----------------------------------------------------------------------------------------


def _compile(state: EmulatorState, job: Job, soql: str) -> Any:
    try:
        query = compile_query(soql, state.store.schema, now=state.clock.now(),
                              include_deleted=job.operation == "queryAll", api_version=job.api_version)
    except SoqlError as exc:
        raise _BatchFailed(f"InvalidBatch : Failed to process query: {exc.error_code}: {exc.message}") from exc
    if query.object_name != job.object:
        raise _BatchFailed(f"InvalidBatch : Failed to process query: INVALID_TYPE: The query's object "
                           f"{query.object_name} is not the job's object {job.object}")
    if query.is_count:
        raise _BatchFailed("InvalidBatch : Failed to process query: FUNCTIONALITY_NOT_ENABLED: Aggregate queries "
                           "are not supported in Bulk Query")
    return query


def _request_text(batch: Batch) -> str:
    return batch.request.decode("utf-8", "replace").strip()


def _query(state: EmulatorState, job: Job, batch: Batch) -> None:
    soql = _request_text(batch)
    query = _compile(state, job, soql)
    records: list[dict[str, Any]] = []
    try:
        for chunk in state.cursors.records(soql, include_deleted=job.operation == "queryAll",
                                           api_version=job.api_version, chunk_size=QUERY_CHUNK):
            records.extend(chunk)
    except (SoqlError, SalesforceError) as exc:
        raise _BatchFailed(f"InvalidBatch : Failed to process query: {exc}") from exc
    if job.content_type != "JSON":
        records = [convert_dates(state.store.schema, r, as_millis=False) for r in records]
    else:
        records = [convert_dates(state.store.schema, r, as_millis=True) for r in records]
    result_id = registry_for(state.store).new_result_id()
    with job.lock:
        batch.header = list(query.columns)
        batch.records = records
        batch.processed = len(records)
        batch.result_id = result_id
        batch.set_state(COMPLETED, state.clock.now())


# -- PK chunking ----------------------------------------------------------------------------------


def id_range_query(soql: str, has_where: bool, low: str | None, high: str | None) -> str:
    """``soql`` limited to ids from ``low`` (inclusive) to ``high`` (exclusive), as PK chunking words it."""
    bounds = [f"Id >= '{low}'" if low else "", f"Id < '{high}'" if high else ""]
    condition = " AND ".join(b for b in bounds if b)
    if not condition:
        return soql
    if has_where:
        where_at = re.search(r"(?i)\bwhere\b", soql)
        assert where_at is not None
        head, tail = soql[: where_at.start()], soql[where_at.end():]
        return f"{head}WHERE ({tail.strip()}) AND {condition}"
    return f"{soql.rstrip()} WHERE {condition}"


def _chunk(state: EmulatorState, job: Job, batch: Batch, settings: PkChunking) -> None:
    """Split the original query batch into one batch per ``chunkSize`` ids; it becomes ``NotProcessed``."""
    soql = _request_text(batch)
    _compile(state, job, soql)
    parsed = parse(soql)
    if parsed.order_by or parsed.limit is not None or parsed.offset is not None:
        raise _BatchFailed("InvalidBatch : Failed to process query: PK chunking works only with queries that have "
                           "no clauses other than WHERE")
    ids: list[str] = []
    try:
        for chunk in state.cursors.records(f"SELECT Id FROM {job.object} ORDER BY Id", include_deleted=True,
                                           api_version=job.api_version, chunk_size=QUERY_CHUNK):
            ids.extend(str(r["Id"])[:15] for r in chunk)
    except (SoqlError, SalesforceError) as exc:
        raise _BatchFailed(f"InvalidBatch : Failed to process query: {exc}") from exc
    if settings.start_row:
        ids = [i for i in ids if i >= settings.start_row[:15]]
    starts: list[str | None] = [*ids[:: settings.chunk_size]] or [None]
    registry = registry_for(state.store)
    chunks: list[Batch] = []
    for index, low in enumerate(starts):
        high = starts[index + 1] if index + 1 < len(starts) else None
        text = id_range_query(soql, parsed.where is not None, low, high)
        now = state.clock.now()
        try:
            chunk_id = registry.new_batch_id(now)
        except BulkFault as exc:
            raise _BatchFailed(f"{exc.code} : {exc.message}") from exc
        chunks.append(Batch(id=chunk_id, job_id=job.id, created=now, request=text.encode(),
                            from_chunking=True))
    with job.lock:
        aborted = job.state == ABORTED
        if not aborted:
            job.batches.extend(chunks)
        batch.set_state(NOT_PROCESSED, state.clock.now())
    if not aborted:
        for chunk_batch in chunks:
            start(state, job, chunk_batch)
