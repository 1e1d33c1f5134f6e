"""Bulk API 1.0 under ``/services/async/{version}/job``: jobs, batches, results and PK chunking.

Every call names its session in the ``X-SFDC-Session`` header (a SOAP session id or an OAuth
access token the emulator issued) and counts against the org's API requests, as REST calls do.
Job documents answer in JSON when the request's ``Content-Type`` (or ``Accept``) is
``application/json``, in XML otherwise; batch documents and results answer in the job's content
type. Errors are ``<error>`` documents (or ``{"exceptionCode", "exceptionMessage"}``).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from emulators.common.faults import FaultKind, FaultRule
from emulators.salesforce import bulk1_process
from emulators.salesforce.bulk1_data import query_csv, query_json, query_xml
from emulators.salesforce.bulk1_jobs import (
    ABORTED,
    BATCH_FINISHED,
    CLOSED,
    COMPLETED,
    NOT_PROCESSED,
    OPEN,
    QUERY_OPERATIONS,
    QUEUED,
    Batch,
    BulkFault,
    Job,
    PkChunking,
    registry_for,
)
from emulators.salesforce.bulk1_wire import (
    CSV_TYPE,
    JSON_TYPE,
    MEDIA_TYPES,
    XML_TYPE,
    batch_info,
    batch_list,
    error_body,
    ingest_results_json,
    ingest_results_xml,
    job_json,
    job_xml,
    media_type,
    parse_job_request,
    result_list,
)
from emulators.salesforce.bulk_csv import write_csv
from emulators.salesforce.errors import SalesforceError
from emulators.salesforce.rest import EmulatorState, supported
from emulators.salesforce.wire import decode_body

ASYNC_PREFIX = "/services/async/"
ASYNC_PATH = re.compile(r"^/services/async/(?P<version>\d+\.\d)(?P<rest>/.*)?$")
INGEST_OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
CONTENT_TYPES = ("CSV", "XML", "JSON")
CONCURRENCY_MODES = ("Parallel", "Serial")
MAX_BATCH_BYTES = 10_000_000
MAX_PK_CHUNK = 250_000
#: How long adding a batch waits for it to finish before answering (it answers ``Queued`` either way).
BATCH_GRACE_SECONDS = 0.5
SESSION_HEADER = "x-sfdc-session"
PK_CHUNKING_HEADER = "sforce-enable-pkchunking"
_ID = r"[0-9A-Za-z]{15,18}"


@dataclass
class Call:
    """One Bulk API 1.0 request."""

    method: str
    version: str
    path: str
    body: bytes
    headers: Mapping[str, str]
    user_id: str

    @property
    def wants_json(self) -> bool:
        """True when the job document should be JSON (the request's Content-Type or Accept)."""
        return (media_type(self.headers.get("content-type")) == JSON_TYPE
                or JSON_TYPE in self.headers.get("accept", "").lower())


@dataclass
class Reply:
    """A handler's answer: status, body and its media type."""

    status: int
    body: bytes
    content_type: str


Handler = Callable[[EmulatorState, Call, "re.Match[str]"], Reply]
ROUTES: list[tuple[str, re.Pattern[str], str, Handler]] = []


def _route(method: str, pattern: str, endpoint: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ROUTES.append((method, re.compile(f"^{pattern}$"), endpoint, handler))
        return handler

    return register


def endpoint(method: str, path: str) -> str:
    """The counters' endpoint name of a ``/services/async/...`` request (``bulk1.unknown`` if none)."""
    match = ASYNC_PATH.match(path)
    rest = (match["rest"] or "") if match else ""
    for route_method, pattern, name, _ in ROUTES:
        if route_method == method and pattern.match(rest):
            return name
    return "bulk1.unknown"


def fault_response(fault: BulkFault, *, as_json: bool = False) -> Response:
    """The HTTP response of a refused request."""
    body, content_type = error_body(fault, as_json)
    return Response(body, fault.status, headers={"Content-Type": content_type})


def injected_fault(rule: FaultRule) -> Response:
    """An injected fault as Bulk API 1.0 answers: ``<error>`` with the rule's code (503, 429 or 500)."""
    if rule.kind is FaultKind.HTTP_503:
        fault = BulkFault(rule.code or "ServerUnavailable", "Server temporarily unavailable; try again later", 503)
    elif rule.kind is FaultKind.HTTP_429:
        fault = BulkFault(rule.code or "ExceededQuota", "ConcurrentPerOrgLongTxn Limit exceeded.", 429)
    else:
        fault = BulkFault(rule.code or "Unknown", "injected fault", 500)
    return fault_response(fault)


async def handle(state: EmulatorState, request: Request) -> Response:
    """Authenticate, charge the API allocation and run one Bulk API 1.0 call."""
    wants_json = (media_type(request.headers.get("content-type")) == JSON_TYPE
                  or JSON_TYPE in request.headers.get("accept", "").lower())
    match = ASYNC_PATH.match(request.url.path)
    if match is None or not supported(match["version"]):
        return fault_response(BulkFault("InvalidUrl", f"Invalid URL: {request.url.path}", 404), as_json=wants_json)
    session = state.sessions.check(request.headers.get(SESSION_HEADER, "").strip())
    if session is None:
        return fault_response(BulkFault("InvalidSessionId", "Invalid session id"), as_json=wants_json)
    if not state.limit.charge():
        return fault_response(BulkFault("ExceededQuota", "TotalRequests Limit exceeded.", 403), as_json=wants_json)
    body = await request.body()
    with contextlib.suppress(ValueError):
        body = decode_body(body, request.headers.get("content-encoding"))
    call = Call(method=request.method, version=match["version"], path=match["rest"] or "", body=body,
                headers=request.headers, user_id=session.user_id)
    reply = await run_in_threadpool(dispatch, state, call)
    return Response(reply.body, reply.status, headers={"Content-Type": reply.content_type})


def dispatch(state: EmulatorState, call: Call) -> Reply:
    """Run ``call`` through the route table; a :class:`BulkFault` becomes its error reply."""
    try:
        allowed = []
        for method, pattern, _, handler in ROUTES:
            found = pattern.match(call.path)
            if found and method == call.method:
                return handler(state, call, found)
            if found:
                allowed.append(method)
        if allowed:
            raise BulkFault("MethodNotAllowed", f"HTTP Method '{call.method}' not allowed. Allowed are "
                            + ",".join(sorted(set(allowed))), 405)
        if call.path.strip("/").split("/")[0] != "job":
            raise BulkFault("InvalidOperation", f"Unknown operation in URI: {call.path}", 404)
        raise BulkFault("InvalidUrl", f"Invalid URL: {call.path}", 404)
    except BulkFault as fault:
        body, content_type = error_body(fault, call.wants_json)
        return Reply(fault.status, body, content_type)


# -- jobs -----------------------------------------------------------------------------------------


def _job_reply(job: Job, call: Call, status: int = 200) -> Reply:
    with job.lock:
        if call.wants_json:
            return Reply(status, job_json(job), JSON_TYPE)
        return Reply(status, job_xml(job), XML_TYPE)


def _choice(fields: Mapping[str, object], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = fields.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(allowed):
        return allowed[value]
    if value not in allowed:
        raise BulkFault("InvalidJob", f"Invalid {name}: {value}. Valid values are {', '.join(allowed)}")
    return str(value)


def parse_pk_chunking(header: str | None) -> PkChunking | None:
    """The settings of a ``Sforce-Enable-PKChunking`` header (``true``, ``chunkSize=50000; startRow=...``).

    Raises:
        BulkFault: ``InvalidJob`` for an unknown option or a chunk size outside 1..250,000.
    """
    if header is None or not header.strip():
        return None
    options: dict[str, str] = {}
    enabled = True
    for part in (p.strip() for p in header.split(";")):
        if not part:
            continue
        if part.lower() in {"true", "false"}:
            enabled = part.lower() == "true"
            continue
        name, _, value = part.partition("=")
        if name.strip() not in {"chunkSize", "parent", "startRow"} or not value.strip():
            raise BulkFault("InvalidJob", f"Invalid PK chunking option: {part}")
        options[name.strip()] = value.strip()
    if not enabled:
        return None
    size_text = options.get("chunkSize", "100000")
    if not size_text.isdigit() or not 1 <= int(size_text) <= MAX_PK_CHUNK:
        raise BulkFault("InvalidJob", f"Invalid chunkSize: {size_text}. The maximum chunk size is {MAX_PK_CHUNK}")
    return PkChunking(chunk_size=int(size_text), parent=options.get("parent"), start_row=options.get("startRow"))


@_route("POST", r"/job/?", "bulk1.job.create")
def create_job(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``POST job``: a new ``Open`` job (201 with its ``jobInfo``)."""
    fields = parse_job_request(call.body, media_type(call.headers.get("content-type")) == JSON_TYPE)
    operation = fields.get("operation")
    if not operation:
        raise BulkFault("InvalidJob", "Operation is required")
    if operation not in INGEST_OPERATIONS + tuple(sorted(QUERY_OPERATIONS)):
        raise BulkFault("InvalidJob", f"Invalid operation: {operation}")
    name = fields.get("object")
    if not isinstance(name, str) or not name:
        raise BulkFault("InvalidJob", "Object is required")
    obj = state.store.schema.object(name)
    if obj is None:
        raise BulkFault("InvalidJob", f"Unable to find object: {name}")
    if fields.get("state") not in (None, "", OPEN):
        raise BulkFault("InvalidJobState", f"Invalid state for a new job: {fields['state']}")
    content_type = _choice(fields, "contentType", CONTENT_TYPES, "XML")
    mode = _choice(fields, "concurrencyMode", CONCURRENCY_MODES, "Parallel")
    external = fields.get("externalIdFieldName") or None
    if operation == "upsert":
        if not external:
            raise BulkFault("InvalidJob", f"External ID was blank for {obj.name}. An External ID must be specified "
                            "for upsert.")
        try:
            external = state.store.external_id_field(obj, str(external)).name
        except SalesforceError as exc:
            raise BulkFault("InvalidJob", exc.message) from exc
    elif operation in INGEST_OPERATIONS and not {"insert": obj.createable, "update": obj.updateable}.get(
            operation, obj.deletable):
        raise BulkFault("InvalidJob", f"Entity '{obj.name}' is not supported for {operation}")
    chunking = parse_pk_chunking(call.headers.get(PK_CHUNKING_HEADER)) if operation in QUERY_OPERATIONS else None
    registry = registry_for(state.store)
    rule = fields.get("assignmentRuleId")
    job = Job(id=registry.new_job_id(), operation=operation, object=obj.name, created_by=call.user_id,
              created=state.clock.now(), api_version=call.version, content_type=content_type, concurrency_mode=mode,
              external_id_field=external if operation == "upsert" else None,
              assignment_rule_id=str(rule) if rule else None, pk_chunking=chunking)
    registry.add(job)
    return _job_reply(job, call, 201)


@_route("GET", rf"/job/(?P<job>{_ID})/?", "bulk1.job.get")
def get_job(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``GET job/{id}``: the job's state and counts."""
    return _job_reply(registry_for(state.store).get(match["job"]), call)


@_route("POST", rf"/job/(?P<job>{_ID})/?", "bulk1.job.state")
def set_job_state(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``POST job/{id}`` with ``state`` ``Closed`` (no more batches) or ``Aborted`` (queued batches not processed)."""
    job = registry_for(state.store).get(match["job"])
    wanted = parse_job_request(call.body, media_type(call.headers.get("content-type")) == JSON_TYPE).get("state")
    now = state.clock.now()
    with job.lock:
        if wanted == CLOSED and job.state == OPEN:
            job.set_state(CLOSED, now)
        elif wanted == ABORTED and job.state in (OPEN, CLOSED):
            job.set_state(ABORTED, now)
            for batch in job.batches:
                if batch.state == QUEUED:
                    batch.set_state(NOT_PROCESSED, now)
        elif wanted in (CLOSED, ABORTED):
            raise BulkFault("InvalidJobState", f"Invalid state transition from {job.state} to {wanted}")
        else:
            raise BulkFault("InvalidJobState", f"Invalid job state: {wanted}. Set the state to Closed or Aborted")
    return _job_reply(job, call)


# -- batches --------------------------------------------------------------------------------------


def _job_and_batch(state: EmulatorState, match: re.Match[str]) -> tuple[Job, Batch]:
    job = registry_for(state.store).get(match["job"])
    return job, job.batch(match["batch"])


@_route("POST", rf"/job/(?P<job>{_ID})/batch/?", "bulk1.batch.create")
def add_batch(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``POST job/{id}/batch``: records (ingest) or one SOQL query (query), queued and run in the background."""
    job = registry_for(state.store).get(match["job"])
    sent = media_type(call.headers.get("content-type"))
    if sent and sent not in MEDIA_TYPES[job.content_type]:
        raise BulkFault("InvalidBatch", f"Content-Type {sent} does not match the job's content type "
                        f"{job.content_type}")
    if len(call.body) > MAX_BATCH_BYTES:
        raise BulkFault("ClientInputError", f"Failed to read request. Exceeded max size limit of {MAX_BATCH_BYTES}")
    if not call.body.strip():
        raise BulkFault("InvalidBatch", "The batch has no content")
    now = state.clock.now()
    batch = Batch(id=registry_for(state.store).new_batch_id(now), job_id=job.id, created=now, request=call.body)
    with job.lock:
        if job.state != OPEN:
            raise BulkFault("InvalidJobState", f"Job is not open: {job.state}")
        job.batches.append(batch)
        body, content_type = batch_info(batch, job.content_type)
    # The reply shows the batch Queued, as added; a small batch is usually done by the client's first poll
    # (clients such as simple-salesforce sleep seconds between polls).
    bulk1_process.start(state, job, batch).join(BATCH_GRACE_SECONDS)
    return Reply(201, body, content_type)


@_route("GET", rf"/job/(?P<job>{_ID})/batch/?", "bulk1.batch.list")
def list_batches(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``GET job/{id}/batch``: every batch of the job, in the order they were added."""
    job = registry_for(state.store).get(match["job"])
    with job.lock:
        body, content_type = batch_list(list(job.batches), job.content_type)
    return Reply(200, body, content_type)


@_route("GET", rf"/job/(?P<job>{_ID})/batch/(?P<batch>{_ID})/?", "bulk1.batch.get")
def get_batch(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``GET job/{id}/batch/{id}``: the batch's state and counts."""
    job, batch = _job_and_batch(state, match)
    with job.lock:
        body, content_type = batch_info(batch, job.content_type)
    return Reply(200, body, content_type)


@_route("GET", rf"/job/(?P<job>{_ID})/batch/(?P<batch>{_ID})/request/?", "bulk1.batch.request")
def batch_request(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``GET .../request``: the batch's data (or query) as it was sent (as PK chunking wrote it for a chunk)."""
    job, batch = _job_and_batch(state, match)
    return Reply(200, batch.request, MEDIA_TYPES[job.content_type][0])


def _finished(job: Job, batch: Batch) -> None:
    if batch.state not in BATCH_FINISHED:
        raise BulkFault("InvalidBatch", "Batch not completed")
    if batch.state != COMPLETED:
        raise BulkFault("InvalidBatch", "Records not found for this batch")


def _ingest_csv(batch: Batch) -> bytes:
    rows = [[r.id, str(r.success).lower(), str(r.created).lower(),
             ";".join(f"{code}:{message}:{','.join(fields)} --" for code, message, fields in r.errors)]
            for r in batch.ingest_results]
    return write_csv(["Id", "Success", "Created", "Error"], rows, delimiter="COMMA", line_ending="LF", quoted_names=4)


@_route("GET", rf"/job/(?P<job>{_ID})/batch/(?P<batch>{_ID})/result/?", "bulk1.batch.result")
def batch_result(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``GET .../result``: an ingest batch's per-record results in order, or a query batch's result ids."""
    job, batch = _job_and_batch(state, match)
    with job.lock:
        _finished(job, batch)
        if job.is_query:
            body, content_type = result_list([batch.result_id] if batch.result_id else [], job.content_type)
            return Reply(200, body, content_type)
        if job.content_type == "CSV":
            return Reply(200, _ingest_csv(batch), CSV_TYPE)
        if job.content_type == "JSON":
            return Reply(200, ingest_results_json(batch.ingest_results), JSON_TYPE)
        return Reply(200, ingest_results_xml(batch.ingest_results), XML_TYPE)


@_route("GET", rf"/job/(?P<job>{_ID})/batch/(?P<batch>{_ID})/result/(?P<result>{_ID})/?",
        "bulk1.batch.queryResult")
def query_result(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``GET .../result/{resultId}``: a query batch's records in the job's content type."""
    job, batch = _job_and_batch(state, match)
    with job.lock:
        _finished(job, batch)
        if not job.is_query or batch.result_id is None or match["result"][:15] != batch.result_id:
            raise BulkFault("InvalidBatch", f"Invalid result id: {match['result']}")
        header, records = batch.header, batch.records
    if job.content_type == "CSV":
        return Reply(200, query_csv(header, records), CSV_TYPE)
    if job.content_type == "JSON":
        return Reply(200, query_json(records), JSON_TYPE)
    return Reply(200, query_xml(records), XML_TYPE)
