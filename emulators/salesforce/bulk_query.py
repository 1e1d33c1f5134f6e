"""Bulk API 2.0 query jobs: the SOQL compiler's checks, and the query run into CSV rows.

A query job runs through the same compiler and cursors as ``GET query``; its records are
flattened into CSV columns named like the selected fields (``Account.Name`` for a parent field).
Bulk API 2.0 refuses what it cannot chunk: ``COUNT()`` and ``OFFSET``; ``ORDER BY`` is accepted (on
Salesforce it turns PK chunking off) and orders the results. Results are handed out only under the API
version the job was created with (``409`` otherwise, as Salesforce documents).
"""

from __future__ import annotations

import time
from typing import Any

from emulators.salesforce.bulk_jobs import ABORTED, FAILED, IN_PROGRESS, JOB_COMPLETE, UPLOAD_COMPLETE, Job
from emulators.salesforce.errors import SalesforceError
from emulators.salesforce.rest import EmulatorState
from emulators.salesforce.soql import SoqlError, compile_query
from emulators.salesforce.soql_parser import parse

CHUNK_RECORDS = 10_000


def check_query(state: EmulatorState, soql: str, *, include_deleted: bool, api_version: str) -> str:
    """Compile ``soql`` as a bulk query would be; return the queried object's name.

    Raises:
        SalesforceError: the compiler's error (``MALFORMED_QUERY``, ``INVALID_FIELD``...), or
            ``INVALIDJOB`` for what Bulk API 2.0 does not support (``COUNT()``, ``OFFSET``).
    """
    try:
        query = compile_query(soql, state.store.schema, now=state.clock.now(), include_deleted=include_deleted,
                              api_version=api_version)
        offset = parse(soql).offset
    except SoqlError as exc:
        raise SalesforceError(400, exc.error_code, exc.message) from exc
    if query.is_count:
        raise SalesforceError(400, "INVALIDJOB", "FUNCTIONALITY_NOT_ENABLED: Aggregate queries are not supported "
                              "by Bulk API 2.0: COUNT()")
    if offset is not None:
        raise SalesforceError(400, "INVALIDJOB", "FUNCTIONALITY_NOT_ENABLED: OFFSET is not supported by Bulk API "
                              "2.0")
    return query.object_name


def check_results_version(job: Job, api_version: str) -> None:
    """Refuse to hand out a query job's results under another API version than the job's own.

    Salesforce documents the status (``409``) for results asked with another version than the one the
    job was created with, not its error code: ``INVALIDREQUEST`` here.

    Raises:
        SalesforceError: ``409 INVALIDREQUEST`` when ``api_version`` is not the job's.
    """
    if float(api_version) != float(job.api_version):
        raise SalesforceError(409, "INVALIDREQUEST", f"Query job {job.id} was created with API version "
                              f"{job.api_version}: get its results with that version, not {api_version}")


def columns_of(state: EmulatorState, soql: str, *, include_deleted: bool, api_version: str) -> list[str]:
    """The CSV header of ``soql``'s results: the selected fields, canonical, in selected order."""
    query = compile_query(soql, state.store.schema, now=state.clock.now(), include_deleted=include_deleted,
                          api_version=api_version)
    return query.columns


def csv_value(value: Any) -> str:
    """A field value as Bulk API 2.0 writes it in CSV (``""`` for null, ``true``/``false``)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def flatten(record: dict[str, Any], paths: list[list[str]]) -> list[str]:
    """The CSV values of a query record for ``paths`` (``["Account", "Name"]``); a null parent gives ``""``."""
    values = []
    for path in paths:
        value: Any = record
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        values.append(csv_value(value))
    return values


def process_query(state: EmulatorState, job: Job) -> None:
    """Run a query job to ``JobComplete`` (``Failed`` on an error; stop early if aborted)."""
    started = time.monotonic()
    include_deleted = job.operation == "queryAll"
    with job.lock:
        if job.state != UPLOAD_COMPLETE:
            return
        job.set_state(IN_PROGRESS, state.clock.now())
    assert job.soql is not None
    try:
        header = columns_of(state, job.soql, include_deleted=include_deleted, api_version=job.api_version)
        paths = [column.split(".") for column in header]
        rows: list[list[str]] = []
        for records in state.cursors.records(job.soql, include_deleted=include_deleted, api_version=job.api_version,
                                             chunk_size=CHUNK_RECORDS):
            if job.abort_requested:
                return
            rows.extend(flatten(record, paths) for record in records)
    except (SoqlError, SalesforceError) as exc:
        with job.lock:
            if job.state != ABORTED:
                job.set_state(FAILED, state.clock.now(), f"InvalidBatch : {exc}")
        return
    with job.lock:
        job.processing_ms = int((time.monotonic() - started) * 1000)
        if job.state == ABORTED:
            return
        job.header, job.rows, job.processed = header, rows, len(rows)
        job.set_state(JOB_COMPLETE, state.clock.now())
