"""Bulk API 2.0 routes under ``/services/data/vXX.X/jobs/``: ingest jobs and query jobs.

Jobs are processed in a background thread once closed (ingest) or created (query); a client sees
``UploadComplete`` → ``InProgress`` → ``JobComplete`` (or ``Failed``/``Aborted``) as it polls.
Calls go through the same session check and API-limit counting as every REST call.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from typing import Any

import orjson

from emulators.salesforce.bulk_csv import (
    DELIMITERS,
    LINE_ENDINGS,
    CsvFormatError,
    decode_locator,
    encode_locator,
    parse_csv,
    write_csv,
)
from emulators.salesforce.bulk_ingest import process_ingest
from emulators.salesforce.bulk_jobs import (
    ABORTED,
    FINISHED,
    INGEST,
    JOB_COMPLETE,
    OPEN,
    QUERY,
    UPLOAD_COMPLETE,
    Job,
    JobRegistry,
    registry_for,
)
from emulators.salesforce.bulk_query import check_query, check_results_version, process_query
from emulators.salesforce.errors import SalesforceError
from emulators.salesforce.rest import Call, EmulatorState, Reply, expect_object, route

MAX_UPLOAD_BYTES = int(os.environ.get("TANDEM_SF_BULK_MAX_UPLOAD_BYTES", str(100 * 1024 * 1024)))
INGEST_OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
QUERY_OPERATIONS = ("query", "queryAll")
JOB_ID = r"(?P<job>[0-9A-Za-z]{15,18})"
MULTIPLE_UPLOADS = ("Found multipe contents for job: <{}>, please 'Close' / 'Abort' / 'Delete' the current Job then "
                    "create a new Job and make sure you only do 'PUT' once on a given Job.")
LIST_PAGE = 1000
DELETABLE = frozenset({UPLOAD_COMPLETE, *FINISHED})


def jobs(state: EmulatorState) -> JobRegistry:
    """The org's Bulk API 2.0 jobs."""
    return registry_for(state.store)


def csv_reply(content: bytes, headers: dict[str, str] | None = None) -> Reply:
    """A ``text/csv`` reply.

    The REST layer serialises a reply body with orjson; an ``orjson.Fragment`` is written as is,
    and the explicit ``Content-Type`` header replaces the JSON media type.
    """
    return Reply(200, orjson.Fragment(content), {"Content-Type": "text/csv; charset=UTF-8", **(headers or {})})


def _enum_error(value: Any, enum: str, allowed: tuple[str, ...] | list[str]) -> SalesforceError:
    return SalesforceError(400, "JSON_PARSER_ERROR", f"Cannot deserialize value of type `{enum}` from String "
                           f"\"{value}\": not one of the values accepted for Enum class: [{', '.join(allowed)}]")


def _settings(body: dict[str, Any]) -> tuple[str, str]:
    delimiter = body.get("columnDelimiter") or "COMMA"
    if delimiter not in DELIMITERS:
        raise _enum_error(delimiter, "ColumnDelimiterEnum", list(DELIMITERS))
    line_ending = body.get("lineEnding") or "LF"
    if line_ending not in LINE_ENDINGS:
        raise _enum_error(line_ending, "LineEndingEnum", list(LINE_ENDINGS))
    content_type = body.get("contentType") or "CSV"
    if content_type != "CSV":
        raise _enum_error(content_type, "ContentType", ["CSV"])
    return delimiter, line_ending


def _start(target: Callable[..., None], *args: Any) -> None:
    threading.Thread(target=target, args=args, name="bulk-job", daemon=True).start()


def _list(state: EmulatorState, call: Call, job_type: str, kind: str) -> Reply:
    found = jobs(state).listing(job_type)
    start = decode_locator(call.query.get("queryLocator") or "") or 0
    page = found[start : start + LIST_PAGE]
    more = start + LIST_PAGE < len(found)
    return Reply(200, {
        "done": not more,
        "records": [job.info(full=False) | {"jobType": job.job_type} for job in page],
        "nextRecordsUrl": (f"/services/data/v{call.version}/jobs/{kind}?queryLocator="
                           f"{encode_locator(start + LIST_PAGE)}") if more else None,
    })


def _delete(state: EmulatorState, job: Job) -> Reply:
    with job.lock:
        if job.state not in DELETABLE:
            raise SalesforceError(400, "INVALIDJOBSTATE", f"Job is in an invalid state for deletion: {job.state}. "
                                  "Close or abort the job first.")
    jobs(state).remove(job.id)
    return Reply(204)


def _abort(state: EmulatorState, job: Job) -> Reply:
    with job.lock:
        if job.state in FINISHED:
            raise SalesforceError(400, "INVALIDJOBSTATE", f"Job in state {job.state} can not be aborted")
        job.abort_requested = True
        job.set_state(ABORTED, state.clock.now())
        return Reply(200, job.info(full=False))


def _requested_state(call: Call) -> Any:
    body = expect_object(call.json(), "UpdateJobRequest")
    if "state" not in body:
        raise SalesforceError(400, "INVALIDJOBSTATE", "A job state is required")
    return body["state"]


# -- ingest ----------------------------------------------------------------------------------------


@route("POST", r"/jobs/ingest/?", "bulk2.ingest.create")
def create_ingest(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``POST jobs/ingest``: a new ingest job, ``Open`` for its data."""
    body = expect_object(call.json(), "CreateJobRequest")
    operation = body.get("operation")
    if operation not in INGEST_OPERATIONS:
        if operation is None:
            raise SalesforceError(400, "INVALIDJOB", "InvalidJob : Operation is required")
        raise _enum_error(operation, "OperationEnum", INGEST_OPERATIONS)
    name = body.get("object")
    if not isinstance(name, str) or not name:
        raise SalesforceError(400, "INVALIDJOB", "InvalidJob : Object is required")
    obj = state.store.schema.object(name)
    if obj is None:
        raise SalesforceError(400, "INVALIDJOB", f"Unable to find object: {name}")
    delimiter, line_ending = _settings(body)
    external = body.get("externalIdFieldName")
    if operation == "upsert":
        if not external:
            raise SalesforceError(400, "INVALIDJOB", f"External ID was blank for {obj.name}. An External ID must be "
                                  "specified for upsert.")
        try:
            external = state.store.external_id_field(obj, str(external)).name
        except SalesforceError as exc:
            raise SalesforceError(400, "INVALIDJOB", exc.message) from exc
    elif not {"insert": obj.createable, "update": obj.updateable}.get(operation, obj.deletable):
        raise SalesforceError(400, "INVALIDJOB", f"Entity '{obj.name}' is not supported for {operation}")
    registry = jobs(state)
    job = Job(id=registry.new_id(), job_type=INGEST, operation=operation, object=obj.name, created_by=call.user_id,
              created=state.clock.now(), api_version=call.version, column_delimiter=delimiter,
              line_ending=line_ending, external_id_field=external if operation == "upsert" else None)
    registry.add(job)
    return Reply(200, job.info(full=False))


@route("GET", r"/jobs/ingest/?", "bulk2.ingest.list")
def list_ingest(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``GET jobs/ingest``: every ingest job, 1,000 per page."""
    return _list(state, call, INGEST, "ingest")


@route("GET", rf"/jobs/ingest/{JOB_ID}/?", "bulk2.ingest.get")
def get_ingest(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``GET jobs/ingest/{id}``: the job's state and counts."""
    job = jobs(state).get(match["job"], INGEST)
    with job.lock:
        return Reply(200, job.info(full=True))


@route("PUT", rf"/jobs/ingest/{JOB_ID}/batches/?", "bulk2.ingest.upload")
def upload(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``PUT jobs/ingest/{id}/batches``: the job's CSV data (once per job)."""
    job = jobs(state).get(match["job"], INGEST)
    if len(call.body) > MAX_UPLOAD_BYTES:
        raise SalesforceError(400, "INVALIDBATCH", f"Exceeded max size limit of {MAX_UPLOAD_BYTES}")
    with job.lock:
        if job.state != OPEN:
            raise SalesforceError(409, "INVALIDJOBSTATE", f"Job is not in Open state: {job.state}")
        job.uploads.append(call.body)
    return Reply(201)


@route("PATCH", rf"/jobs/ingest/{JOB_ID}/?", "bulk2.ingest.state")
def set_ingest_state(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``PATCH jobs/ingest/{id}``: close (``UploadComplete``) or abort (``Aborted``) the job."""
    job = jobs(state).get(match["job"], INGEST)
    wanted = _requested_state(call)
    if wanted == ABORTED:
        return _abort(state, job)
    if wanted != UPLOAD_COMPLETE:
        raise SalesforceError(400, "INVALIDJOBSTATE", f"Invalid state transition from {job.state} to {wanted}")
    with job.lock:
        if job.state != OPEN:
            raise SalesforceError(400, "INVALIDJOBSTATE", f"Invalid state transition from {job.state} to {wanted}")
        if len(job.uploads) > 1:
            raise SalesforceError(400, "INVALIDJOB", MULTIPLE_UPLOADS.format(job.id[:15]))
        job.set_state(UPLOAD_COMPLETE, state.clock.now())
        reply = Reply(200, job.info(full=False))
    _start(process_ingest, state.store, state.clock, job)
    return reply


@route("DELETE", rf"/jobs/ingest/{JOB_ID}/?", "bulk2.ingest.delete")
def delete_ingest(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``DELETE jobs/ingest/{id}``: forget a closed, aborted, failed or complete job."""
    return _delete(state, jobs(state).get(match["job"], INGEST))


@route("GET", rf"/jobs/ingest/{JOB_ID}/(?P<kind>successfulResults|failedResults|unprocessed[Rr]ecords)/?",
       "bulk2.ingest.results")
def ingest_results(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``GET .../successfulResults``, ``.../failedResults``, ``.../unprocessedrecords``: result CSV."""
    job = jobs(state).get(match["job"], INGEST)
    with job.lock:
        if match["kind"].lower() == "unprocessedrecords":
            header, rows, quoted = job.header, list(job.unprocessed), 0
            if job.state == ABORTED and not job.header and job.uploads:
                header, rows = _unparsed(job)
        elif match["kind"] == "successfulResults":
            header, rows, quoted = ["sf__Id", "sf__Created", *job.header], list(job.successful), 2
        else:
            header, rows, quoted = ["sf__Id", "sf__Error", *job.header], list(job.failed), 2
    if not header:
        return csv_reply(b"")
    return csv_reply(write_csv(header, rows, delimiter=job.column_delimiter, line_ending=job.line_ending,
                               quoted_names=quoted))


def _unparsed(job: Job) -> tuple[list[str], list[list[str]]]:
    """The rows of an aborted job's data that was never processed."""
    try:
        return parse_csv(job.uploads[0], delimiter=job.column_delimiter, line_ending=job.line_ending)
    except CsvFormatError:
        return [], []


# -- query -----------------------------------------------------------------------------------------


@route("POST", r"/jobs/query/?", "bulk2.query.create")
def create_query(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``POST jobs/query``: a query job, checked now and run in the background."""
    body = expect_object(call.json(), "CreateQueryJobRequest")
    operation = body.get("operation") or "query"
    if operation not in QUERY_OPERATIONS:
        raise _enum_error(operation, "OperationEnum", QUERY_OPERATIONS)
    soql = body.get("query")
    if not isinstance(soql, str) or not soql.strip():
        raise SalesforceError(400, "INVALIDJOB", "InvalidJob : Query is required")
    delimiter, line_ending = _settings(body)
    object_name = check_query(state, soql, include_deleted=operation == "queryAll", api_version=call.version)
    registry = jobs(state)
    job = Job(id=registry.new_id(), job_type=QUERY, operation=operation, object=object_name,
              created_by=call.user_id, created=state.clock.now(), api_version=call.version,
              column_delimiter=delimiter, line_ending=line_ending, soql=soql, state=UPLOAD_COMPLETE)
    registry.add(job)
    reply = Reply(200, job.info(full=False))
    _start(process_query, state, job)
    return reply


@route("GET", r"/jobs/query/?", "bulk2.query.list")
def list_query(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``GET jobs/query``: every query job, 1,000 per page."""
    return _list(state, call, QUERY, "query")


@route("GET", rf"/jobs/query/{JOB_ID}/?", "bulk2.query.get")
def get_query(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``GET jobs/query/{id}``: the job's state and record count."""
    job = jobs(state).get(match["job"], QUERY)
    with job.lock:
        return Reply(200, job.info(full=True))


@route("PATCH", rf"/jobs/query/{JOB_ID}/?", "bulk2.query.state")
def set_query_state(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``PATCH jobs/query/{id}`` with ``{"state": "Aborted"}``."""
    job = jobs(state).get(match["job"], QUERY)
    wanted = _requested_state(call)
    if wanted != ABORTED:
        raise SalesforceError(400, "INVALIDJOBSTATE", f"Invalid state transition from {job.state} to {wanted}")
    return _abort(state, job)


@route("DELETE", rf"/jobs/query/{JOB_ID}/?", "bulk2.query.delete")
def delete_query(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``DELETE jobs/query/{id}``."""
    return _delete(state, jobs(state).get(match["job"], QUERY))


@route("GET", rf"/jobs/query/{JOB_ID}/results/?", "bulk2.query.results")
def query_results(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``GET jobs/query/{id}/results?locator=&maxRecords=``: one page of CSV, with ``Sforce-Locator``."""
    job = jobs(state).get(match["job"], QUERY)
    check_results_version(job, call.version)
    with job.lock:
        if job.state != JOB_COMPLETE:
            raise SalesforceError(400, "INVALIDJOBSTATE", f"Job is not in JobComplete state: {job.state}")
        header, rows = job.header, job.rows
    locator = call.query.get("locator") or ""
    start = 0
    if locator and locator != "null":
        decoded = decode_locator(locator)
        if decoded is None or decoded > len(rows):
            raise SalesforceError(400, "INVALIDLOCATOR", f"Invalid locator: {locator}")
        start = decoded
    max_text = call.query.get("maxRecords") or ""
    if max_text and (not max_text.isdigit() or int(max_text) < 1):
        raise SalesforceError(400, "INVALIDREQUEST", f"maxRecords must be a positive integer: {max_text}")
    size = int(max_text) if max_text else len(rows) or 1
    page = rows[start : start + size]
    end = start + len(page)
    headers = {"Sforce-Locator": encode_locator(end) if end < len(rows) else "null",
               "Sforce-NumberOfRecords": str(len(page))}
    return csv_reply(write_csv(header, page, delimiter=job.column_delimiter, line_ending=job.line_ending,
                               quoted_names=len(header)), headers)
