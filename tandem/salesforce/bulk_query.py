"""Large reads through Bulk API 2.0 query jobs, yielding exactly the frames the REST query path yields.

A REST read costs one call per 2,000 records (``query`` then ``queryMore``); a Bulk API 2.0 query job costs
one call to create it, a few to poll its state, and one per results page of up to ``max_records`` records
(``GET jobs/query/{id}/results?maxRecords=N&locator=L``, the next locator in the ``Sforce-Locator``
header, ``null`` after the last page). The job runs the same SOQL, ``ORDER BY SystemModstamp, Id``
included, so its records arrive oldest first, as the REST pages do: Bulk API 2.0 accepts ``ORDER BY``
(it only turns off PK chunking, which makes a very large query slower and able to time out; a job that
fails or times out is answered by reading through REST instead).

The results are CSV; each value is turned back into what the REST JSON carries, by the field's type
in the object's describe (asked once per object): ``true``/``false`` as booleans, ``int`` as integers,
``double``/``currency``/``percent`` as floats, a datetime in REST's form (``...T10:00:00.000+0000``),
dates and text as text, an empty value as ``None``; a parent field (``Account.Name``) is typed by the
parent object's describe. The records then go through the same :func:`records_to_frame` as a REST
page, so values and dtypes are the same.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

import pandas as pd
from simple_salesforce import Salesforce
from simple_salesforce.format import format_soql
from simple_salesforce.util import exception_handler

from tandem.adapter import READ_TOTAL
from tandem.errors import FatalSyncError

log = logging.getLogger(__name__)

T = TypeVar("T")
#: Runs one request against the client, renewing an expired session and classifying failures
#: (:meth:`SalesforceAdapter._call`).
Caller = Callable[[Callable[[Salesforce], T]], T]
#: Turns query records into a frame with ``id``, ``modified_at`` and the requested fields.
ToFrame = Callable[[Sequence[dict[str, Any]], Sequence[str]], pd.DataFrame]

#: Reads of more records than this go through a Bulk API 2.0 query job. At 50,000 records a REST read
#: costs 25 calls and a Bulk read about 6 (the first REST page, create, 2 to 4 polls, one results page);
#: below that the few calls saved are not worth a job's queueing time on a busy org nor one of the
#: org's 10,000 daily query jobs.
DEFAULT_BULK_READ_THRESHOLD = 50_000
#: Records asked for per results page (``maxRecords``); Salesforce may send fewer when they are large.
RESULT_PAGE_RECORDS = 50_000
QUERY_DONE_STATES = frozenset({"JobComplete", "Failed", "Aborted"})
FIRST_POLL_DELAY = 0.2
MAX_POLL_DELAY = 10.0
NUMBER_TYPES = {"int": int, "long": int, "double": float, "currency": float, "percent": float}


def _datetime(text: str) -> str:
    """A Bulk API datetime (``...000Z``) as REST writes it (``...000+0000``)."""
    return f"{text[:-1]}+0000" if text.endswith("Z") else text


def converter(field_type: str) -> Callable[[str], Any]:
    """The function that turns a CSV value of a field of ``field_type`` into its REST JSON value."""
    if field_type == "boolean":
        return lambda text: text == "true"
    if field_type in NUMBER_TYPES:
        return NUMBER_TYPES[field_type]
    if field_type == "datetime":
        return _datetime
    return str



def changed_since_soql(entity: str, columns: str, since: datetime | None) -> str:
    """``SELECT columns FROM entity`` changed at or after ``since`` (all when ``None``), oldest first: the query of
    a read of changed records, through REST or through a Bulk API 2.0 query job."""
    if since is None:
        return str(format_soql(f"SELECT {columns} FROM {entity} ORDER BY SystemModstamp, Id"))
    return str(format_soql(
        f"SELECT {columns} FROM {entity} WHERE SystemModstamp >= {{since}} ORDER BY SystemModstamp, Id", since=since
    ))

class BulkQueryReader:
    """Reads a query through a Bulk API 2.0 query job, in frames of REST's shape.

    Args:
        call: runs one request against the client (the adapter's session renewal and error classification).
        describe: an object's describe (the adapter's, asked once per object in a run).
        to_frame: turns records and the requested fields into a frame (the REST path's ``records_to_frame``).
        timeout: seconds to wait for a job to finish; past it the job is aborted and the read goes
            through REST.
        max_records: records asked for per results page.
    """

    def __init__(self, call: Caller[Any], describe: Callable[[str], dict[str, Any]], to_frame: ToFrame, *,
                 timeout: float, max_records: int = RESULT_PAGE_RECORDS) -> None:
        if max_records < 1:
            raise ValueError("max_records must be at least 1")
        self._call = call
        self._describe_object = describe
        self._to_frame = to_frame
        self.timeout = timeout
        self.max_records = max_records
        self._fields: dict[str, dict[str, dict[str, Any]]] = {}

    def read(self, entity: str, fields: Sequence[str], *, since: datetime | None, page_size: int,
             skip: frozenset[str] = frozenset(), total: int | None = None) -> Iterator[pd.DataFrame] | None:
        """Run ``SELECT Id, SystemModstamp, fields FROM entity [WHERE SystemModstamp >= since] ORDER BY
        SystemModstamp, Id`` as a query job and return its records as frames of ``page_size`` records
        (``None`` when the job failed, was aborted or did not finish in time: read through REST instead).

        The job is created and waited for before this returns; its results are read as the frames are.

        Args:
            entity: the object.
            fields: the fields to read, the frame's columns besides ``id`` and ``modified_at`` (as
                :func:`records_to_frame`).
            since: only records with ``SystemModstamp >= since`` (all when ``None``).
            page_size: records per frame.
            skip: ids left out (read already).
            total: set as every frame's ``attrs[READ_TOTAL]``.
        """
        select = list(dict.fromkeys(["Id", "SystemModstamp", *fields]))
        columns = ", ".join(select)
        soql = changed_since_soql(entity, columns, since)
        types = self._column_types(entity, select)
        job_id = self._run_job(entity, soql)
        if job_id is None:
            return None
        return self._frames(job_id, fields, types, page_size=page_size, skip=skip, total=total)

    def _run_job(self, entity: str, soql: str) -> str | None:
        """Create the query job and wait for it; its id once complete, ``None`` otherwise."""
        try:
            job = self._call(lambda sf: sf.restful("jobs/query", method="POST", json={
                "operation": "query", "query": soql, "contentType": "CSV", "columnDelimiter": "COMMA",
                "lineEnding": "LF",
            }))
        except FatalSyncError as exc:
            log.warning("Salesforce refused a Bulk API 2.0 query job on %s (%s); reading through REST", entity,
                        exc.code)
            return None
        job_id = str(job["id"])
        log.info("bulk read of %s: query job %s", entity, job_id)
        state, message = self._wait(job_id)
        if state == "JobComplete":
            return job_id
        log.warning("Bulk API 2.0 query job %s on %s ended %s (%s); reading through REST", job_id, entity, state,
                    message or "no message")
        return None

    def _wait(self, job_id: str) -> tuple[str, str]:
        """Poll the job with a growing delay until it ends or ``timeout`` passes (then abort it)."""
        deadline = time.monotonic() + self.timeout
        delay = FIRST_POLL_DELAY
        while True:
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            info = self._call(lambda sf: sf.restful(f"jobs/query/{job_id}", method="GET"))
            state = str(info.get("state"))
            if state in QUERY_DONE_STATES:
                return state, str(info.get("errorMessage") or "")
            if time.monotonic() >= deadline:
                try:
                    self._call(lambda sf: sf.restful(f"jobs/query/{job_id}", method="PATCH",
                                                     json={"state": "Aborted"}))
                except FatalSyncError as exc:  # it ended meanwhile (INVALIDJOBSTATE): REST reads it all the same
                    log.info("query job %s could not be aborted (%s)", job_id, exc.code)
                return "Aborted", f"not finished within {self.timeout:g} s"
            delay = min(delay * 2, MAX_POLL_DELAY)

    def _results(self, job_id: str, locator: str | None) -> tuple[str, str | None]:
        """One results page: its CSV and the next page's locator (``None`` after the last)."""
        path = f"jobs/query/{job_id}/results"
        params = {"maxRecords": str(self.max_records), **({"locator": locator} if locator else {})}

        def send(sf: Salesforce) -> tuple[str, str | None]:
            headers = {**sf.headers, "Accept": "text/csv"}
            response = sf.session.get(f"{sf.base_url}{path}", headers=headers, params=params)
            if response.status_code >= 300:
                exception_handler(response, path)
            following = response.headers.get("Sforce-Locator")
            return response.content.decode("utf-8"), None if following in (None, "", "null") else following

        return self._call(send)

    def _frames(self, job_id: str, fields: Sequence[str], types: dict[str, Callable[[str], Any]], *, page_size: int,
                skip: frozenset[str], total: int | None) -> Iterator[pd.DataFrame]:
        batch: list[dict[str, Any]] = []
        locator: str | None = None
        yielded = False
        newest = ""
        while True:
            text, locator = self._results(job_id, locator)
            for record in self._records(text, types):
                stamp = str(record["SystemModstamp"])
                if stamp < newest:
                    # The pages before were in order, so the watermark recorded from them is right; a page out of
                    # order could move it past records not read yet.
                    raise FatalSyncError(
                        f"Bulk API 2.0 query job {job_id} returned records out of SystemModstamp order; set the "
                        "connection's bulk_read_threshold to 0 to read through REST", code="BULK_QUERY_UNORDERED",
                        system="crm")
                newest = stamp
                if record["Id"] in skip:
                    continue
                batch.append(record)
                if len(batch) == page_size:
                    yield _with_total(self._to_frame(batch, fields), total)
                    batch, yielded = [], True
            if locator is None:
                break
        if batch or not yielded:  # as REST, a read that finds nothing yields one empty frame
            yield _with_total(self._to_frame(batch, fields), total)

    @staticmethod
    def _records(text: str, types: dict[str, Callable[[str], Any]]) -> Iterator[dict[str, Any]]:
        """The records of one results page, shaped as REST's JSON records (parent fields nested)."""
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, None)
        if header is None:
            return
        plan: list[tuple[list[str], str, Callable[[str], Any] | None]] = []
        for name in header:
            known = types.get(name.lower(), str)
            *parents, last = name.split(".")
            plan.append((parents, last, None if known is str else known))  # text needs no conversion
        for row in reader:
            record: dict[str, Any] = {}
            for (parents, last, convert), value in zip(plan, row, strict=True):
                target = record
                for part in parents:
                    target = target.setdefault(part, {})
                target[last] = None if value == "" else value if convert is None else convert(value)
            yield record

    def _describe(self, entity: str) -> dict[str, dict[str, Any]]:
        """``entity``'s fields by lower-case name (from its describe)."""
        if entity not in self._fields:
            self._fields[entity] = {str(f["name"]).lower(): f for f in self._describe_object(entity)["fields"]}
        return self._fields[entity]

    def _column_types(self, entity: str, select: Sequence[str]) -> dict[str, Callable[[str], Any]]:
        """The converter of every selected column (by lower-case name), parent fields by their object's describe."""
        types: dict[str, Callable[[str], Any]] = {}
        for name in select:
            field = self._field(entity, name.split("."))
            types[name.lower()] = converter(str(field.get("type"))) if field else str
        return types

    def _field(self, entity: str, path: list[str]) -> dict[str, Any] | None:
        """The describe of the field at ``path`` (``["Account", "Name"]``) from ``entity``; ``None`` if unknown."""
        fields = self._describe(entity)
        if len(path) == 1:
            return fields.get(path[0].lower())
        relation = path[0].lower()
        for field in fields.values():
            if str(field.get("relationshipName") or "").lower() == relation and field.get("referenceTo"):
                return self._field(str(field["referenceTo"][0]), path[1:])
        return None


def _with_total(frame: pd.DataFrame, total: int | None) -> pd.DataFrame:
    if total is not None:
        frame.attrs[READ_TOTAL] = total
    return frame
