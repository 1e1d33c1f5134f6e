"""The SOAP operations: parse the request, check the passport and the limits, answer as SuiteTalk does."""

from __future__ import annotations

import itertools
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from lxml import etree

from emulators.common.clock import EmulatorClock
from emulators.erp.auth import PassportChecker
from emulators.erp.namespaces import envelope
from emulators.erp.render import iso_ms, ref_attributes, ref_xml, status_xml
from emulators.erp.requests_xml import (
    SoapRequest,
    child_text,
    children,
    local,
    parse_datetime,
    parse_envelope,
    parse_fragment,
    parse_int,
    parse_record,
    parse_ref,
    xsi_type,
)
from emulators.erp.schema import search_types
from emulators.erp.searches import ResultSet, SearchRegistry
from emulators.erp.soapfaults import ClientFault, SoapFault, fault_envelope
from emulators.erp.store import ErpStore, WriteOutcome

logger = logging.getLogger("emulators.erp")

OPERATIONS = (
    "addList", "upsertList", "deleteList", "getList", "search", "searchMoreWithId", "getDeleted",
    "asyncUpsertList", "checkAsyncStatus", "getAsyncResult",
)
DEFAULT_PAGE_SIZE = 1000
MIN_PAGE_SIZE, MAX_PAGE_SIZE = 5, 1000


@dataclass(frozen=True)
class Limits:
    """Records per call, as SuiteTalk enforces them, and the getDeleted page size."""

    upsert_list: int = 100
    add_list: int = 200
    delete_list: int = 200
    get_list: int = 1000
    async_upsert_list: int = 200
    get_deleted_page: int = 1000


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _write_response_list(outcomes: list[WriteOutcome]) -> str:
    parts = ['<platformMsgs:writeResponseList><platformCore:status isSuccess="true"/>']
    for outcome in outcomes:
        parts.append(
            f"<platformMsgs:writeResponse>{status_xml(outcome.errors)}"
            f'<platformMsgs:baseRef xsi:type="platformCore:RecordRef"{ref_attributes(outcome.ref)}/>'
            "</platformMsgs:writeResponse>"
        )
    parts.append("</platformMsgs:writeResponseList>")
    return "".join(parts)


def _date_bounds(element: etree._Element, what: str) -> tuple[int, int]:
    """Inclusive millisecond bounds of a ``SearchDateField``."""
    operator = element.get("operator", "")
    first = child_text(element, "searchValue")
    second = child_text(element, "searchValue2")
    if first is None:
        raise ClientFault(f"{what} needs a searchValue.")
    low = _ms(parse_datetime(first, what))
    if operator == "within":
        if second is None:
            raise ClientFault(f"{what} with operator 'within' needs searchValue2.")
        return low, _ms(parse_datetime(second, what))
    if operator == "onOrAfter":
        return low, 2**62
    if operator == "after":
        return low + 1, 2**62
    if operator == "onOrBefore":
        return -(2**62), low
    if operator == "before":
        return -(2**62), low - 1
    if operator == "on":
        day = parse_datetime(first, what).astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return _ms(day), _ms(day + timedelta(days=1)) - 1
    raise ClientFault(f"{what}: unknown operator {operator!r}.")


class ErpService:
    """Answers SOAP requests. Thread-safe; call :meth:`handle` from worker threads."""

    def __init__(
        self, store: ErpStore, account: str, clock: EmulatorClock, limits: Limits | None = None,
    ) -> None:
        self.store = store
        self.account = account
        self.clock = clock
        self.limits = limits or Limits()
        self.passports = PassportChecker(store, account)
        self.searches = SearchRegistry()
        self._search_types = search_types()
        self._job_sequence = itertools.count(1)
        self.job_added = threading.Event()
        self._handlers: dict[str, Callable[[SoapRequest], str]] = {
            "addList": self._add_list,
            "upsertList": self._upsert_list,
            "deleteList": self._delete_list,
            "getList": self._get_list,
            "search": self._search,
            "searchMoreWithId": self._search_more_with_id,
            "getDeleted": self._get_deleted,
            "asyncUpsertList": self._async_upsert_list,
            "checkAsyncStatus": self._check_async_status,
            "getAsyncResult": self._get_async_result,
        }

    def handle(self, raw: bytes) -> tuple[int, bytes]:
        """Answer one request body with ``(HTTP status, SOAP envelope)``; never raises."""
        try:
            request = parse_envelope(raw)
            handler = self._handlers.get(request.operation)
            if handler is None:
                raise ClientFault(f"Unknown operation {request.operation!r}.")
            self.passports.check(request.headers.get("tokenPassport"), self.clock.now().timestamp())
            body = handler(request)
            return 200, envelope(f"<platformMsgs:{request.operation}Response>{body}"
                                 f"</platformMsgs:{request.operation}Response>")
        except SoapFault as fault:
            return 500, fault.to_xml()
        except Exception:
            logger.exception("unexpected error while answering a SOAP request")
            return 500, fault_envelope("UNEXPECTED_ERROR", "An unexpected error occurred.")

    # helpers -----------------------------------------------------------------------------

    def _now_ms(self) -> int:
        return _ms(self.clock.now())

    @staticmethod
    def _limit(items: list[Any], limit: int, operation: str) -> None:
        if len(items) > limit:
            raise SoapFault(
                "MAX_RCRDS_EXCEEDED",
                f"The maximum number of records allowed for {operation} is {limit}; the request has {len(items)}.",
            )

    def _records(self, request: SoapRequest, limit: int) -> list[etree._Element]:
        elements = children(request.body, "record")
        if not elements:
            raise ClientFault(f"{request.operation} needs at least one record.")
        self._limit(elements, limit, request.operation)
        return elements

    def _refs(self, request: SoapRequest, limit: int) -> list[dict[str, str]]:
        elements = children(request.body, "baseRef")
        if not elements:
            raise ClientFault(f"{request.operation} needs at least one baseRef.")
        self._limit(elements, limit, request.operation)
        return [parse_ref(e) for e in elements]

    def upsert_elements(self, elements: list[etree._Element], mode: str) -> list[WriteOutcome]:
        """Parse and write records (``mode`` ``add`` or ``upsert``); used by the async jobs too."""
        parsed = [parse_record(e) for e in elements]
        return [o for o in self.store.write(parsed, mode=mode, now_ms=self._now_ms()) if o is not None]

    # writes ------------------------------------------------------------------------------

    def _add_list(self, request: SoapRequest) -> str:
        return _write_response_list(self.upsert_elements(self._records(request, self.limits.add_list), "add"))

    def _upsert_list(self, request: SoapRequest) -> str:
        return _write_response_list(self.upsert_elements(self._records(request, self.limits.upsert_list), "upsert"))

    def _delete_list(self, request: SoapRequest) -> str:
        refs = self._refs(request, self.limits.delete_list)
        return _write_response_list(self.store.delete(refs, now_ms=self._now_ms()))

    # reads -------------------------------------------------------------------------------

    def _get_list(self, request: SoapRequest) -> str:
        refs = self._refs(request, self.limits.get_list)
        parts = ['<platformCore:readResponseList><platformCore:status isSuccess="true"/>']
        for xml in self.store.get(refs):
            if xml is None:
                parts.append("<platformCore:readResponse>"
                             f"{status_xml([('RCRD_DSNT_EXIST', 'That record does not exist.')])}"
                             "</platformCore:readResponse>")
            else:
                parts.append(f'<platformCore:readResponse><platformCore:status isSuccess="true"/>{xml}'
                             "</platformCore:readResponse>")
        parts.append("</platformCore:readResponseList>")
        return "".join(parts)

    def _page_size(self, request: SoapRequest) -> int | None:
        preferences = request.headers.get("searchPreferences")
        text = child_text(preferences, "pageSize") if preferences is not None else None
        if not text:
            return DEFAULT_PAGE_SIZE
        size = parse_int(text, "searchPreferences.pageSize")
        return size if MIN_PAGE_SIZE <= size <= MAX_PAGE_SIZE else None

    def _search(self, request: SoapRequest) -> str:
        search_record = next(iter(children(request.body, "searchRecord")), None)
        if search_record is None:
            raise ClientFault("search needs a searchRecord.")
        _, type_name = xsi_type(search_record)
        record_type = self._search_types.get(type_name)
        if record_type is None:
            raise ClientFault(f"Unknown search type {type_name!r}.")
        page_size = self._page_size(request)
        if page_size is None:
            return ("<platformCore:searchResult>"
                    f"{status_xml([('USER_ERROR', 'The page size must be between 5 and 1000.')])}"
                    "</platformCore:searchResult>")
        where: list[str] = []
        params: list[Any] = []
        for criterion in search_record:
            if not isinstance(criterion.tag, str):
                continue
            name = local(criterion)
            if name == "lastModifiedDate":
                low, high = _date_bounds(criterion, f"{type_name}.lastModifiedDate")
                where.append("last_modified BETWEEN ? AND ?")
                params += [low, high]
            elif name in ("internalId", "externalId"):
                operator = criterion.get("operator", "anyOf")
                if operator not in ("anyOf", "noneOf"):
                    raise ClientFault(f"{type_name}.{name}: unknown operator {operator!r}.")
                values = [parse_ref(v).get(name) for v in children(criterion, "searchValue")]
                keys: list[Any] = [v for v in values if v is not None]
                if name == "internalId":
                    keys = [parse_int(k, f"{type_name}.internalId") for k in keys]
                column = "internal_id" if name == "internalId" else "external_id"
                negate = "NOT " if operator == "noneOf" else ""
                where.append(f"{column} {negate}IN ({','.join('?' * len(keys))})")
                params += keys
            else:
                raise ClientFault(f"{type_name} has no search field {name!r}.")
        ids = self.store.search_ids(record_type, where, params)
        result = ResultSet(record_type, ids, page_size, self.clock.now())
        search_id = self.searches.add(result)
        return self._search_result(result, search_id, 1)

    def _search_more_with_id(self, request: SoapRequest) -> str:
        search_id = child_text(request.body, "searchId") or ""
        page_index = parse_int(child_text(request.body, "pageIndex"), "pageIndex")
        result = self.searches.get(search_id, self.clock.now())
        return self._search_result(result, search_id, page_index)

    def _search_result(self, result: ResultSet, search_id: str, page_index: int) -> str:
        page = result.page(page_index)
        records = "".join(self.store.records_xml(page))
        return (
            '<platformCore:searchResult><platformCore:status isSuccess="true"/>'
            f"<platformCore:totalRecords>{len(result.ids)}</platformCore:totalRecords>"
            f"<platformCore:pageSize>{result.page_size}</platformCore:pageSize>"
            f"<platformCore:totalPages>{result.total_pages}</platformCore:totalPages>"
            f"<platformCore:pageIndex>{page_index}</platformCore:pageIndex>"
            f"<platformCore:searchId>{search_id}</platformCore:searchId>"
            f"<platformCore:recordList>{records}</platformCore:recordList></platformCore:searchResult>"
        )

    def _get_deleted(self, request: SoapRequest) -> str:
        filter_element = next(iter(children(request.body, "getDeletedFilter")), None)
        if filter_element is None:
            raise ClientFault("getDeleted needs a getDeletedFilter.")
        page_index = parse_int(child_text(request.body, "pageIndex") or "1", "pageIndex")
        low, high = -(2**62), 2**62
        types: list[str] | None = None
        exclude = False
        for criterion in filter_element:
            if not isinstance(criterion.tag, str):
                continue
            name = local(criterion)
            if name == "deletedDate":
                low, high = _date_bounds(criterion, "getDeletedFilter.deletedDate")
            elif name == "type":
                exclude = criterion.get("operator", "anyOf") == "noneOf"
                types = [(v.text or "").strip() for v in children(criterion, "searchValue")]
            else:
                raise ClientFault(f"getDeletedFilter has no field {name!r}.")
        size = self.limits.get_deleted_page
        total, rows = self.store.deleted(types, exclude, low, high, (page_index - 1) * size, size)
        total_pages = -(-total // size)
        if page_index < 1 or page_index > max(total_pages, 1):
            raise SoapFault("INVALID_PAGE_INDEX", f"Invalid page index {page_index}; there are {total_pages} page(s).")
        items = []
        for record_type, internal_id, external_id, deleted_ms in rows:
            ref = {"internalId": str(internal_id), "type": record_type}
            if external_id is not None:
                ref["externalId"] = external_id
            items.append(
                f"<platformCore:deletedRecord><platformCore:deletedDate>{iso_ms(deleted_ms)}"
                f"</platformCore:deletedDate>{ref_xml('platformCore:record', ref, xsi_type=True)}"
                "</platformCore:deletedRecord>"
            )
        return (
            '<platformCore:getDeletedResult><platformCore:status isSuccess="true"/>'
            f"<platformCore:totalRecords>{total}</platformCore:totalRecords>"
            f"<platformCore:pageSize>{size}</platformCore:pageSize>"
            f"<platformCore:totalPages>{total_pages}</platformCore:totalPages>"
            f"<platformCore:pageIndex>{page_index}</platformCore:pageIndex>"
            f"<platformCore:deletedRecordList>{''.join(items)}</platformCore:deletedRecordList>"
            "</platformCore:getDeletedResult>"
        )

    # asynchronous jobs -------------------------------------------------------------------

    def _async_upsert_list(self, request: SoapRequest) -> str:
        elements = self._records(request, self.limits.async_upsert_list)
        for element in elements:
            parse_record(element)
        now = self.clock.now()
        job_id = (f"ASYNCWEBSERVICES_{self.account}_{now:%m%d%Y%H%M%S}{next(self._job_sequence):06d}_"
                  f"{secrets.token_hex(4)}")
        self.store.add_job(job_id, etree.tostring(request.body), len(elements), _ms(now))
        self.job_added.set()
        return self._async_status(job_id)

    def _async_status(self, job_id: str) -> str:
        job = self.store.job(job_id)
        if job is None:
            raise SoapFault("INVALID_JOB_ID", f"The job {job_id} does not exist.")
        status, total, done, _ = job
        percent = 100.0 if status in ("finished", "finishedWithErrors", "failed") else 100.0 * done / max(total, 1)
        return (
            f"<platformCore:asyncStatusResult><platformCore:jobId>{job_id}</platformCore:jobId>"
            f"<platformCore:status>{status}</platformCore:status>"
            f"<platformCore:percentCompleted>{percent:.1f}</platformCore:percentCompleted>"
            f"<platformCore:estRemainingDuration>0.0</platformCore:estRemainingDuration>"
            "</platformCore:asyncStatusResult>"
        )

    def _check_async_status(self, request: SoapRequest) -> str:
        return self._async_status(child_text(request.body, "jobId") or "")

    def _get_async_result(self, request: SoapRequest) -> str:
        job_id = child_text(request.body, "jobId") or ""
        page_index = parse_int(child_text(request.body, "pageIndex") or "1", "pageIndex")
        job = self.store.job(job_id)
        if job is None:
            raise SoapFault("INVALID_JOB_ID", f"The job {job_id} does not exist.")
        status, _, _, result = job
        if status not in ("finished", "finishedWithErrors") or result is None:
            raise SoapFault("ASYNC_JOB_NOT_COMPLETE", f"The job {job_id} is {status}; its result is not ready.")
        if page_index != 1:
            raise SoapFault("INVALID_PAGE_INDEX", f"Invalid page index {page_index}; the result has 1 page.")
        return (f'<platformMsgs:asyncResult xsi:type="platformMsgs:AsyncUpsertListResult">{result}'
                "</platformMsgs:asyncResult>")

    def run_next_job(self) -> bool:
        """Process the oldest waiting job, if any; return whether there was one."""
        job = self.store.next_job()
        if job is None:
            return False
        job_id, raw = job
        try:
            outcomes = self.upsert_elements(children(parse_fragment(raw), "record"), "upsert")
        except Exception:
            logger.exception("asynchronous job %s failed", job_id)
            self.store.finish_job(job_id, "failed", 0, "")
            return True
        status = "finishedWithErrors" if any(o.errors for o in outcomes) else "finished"
        self.store.finish_job(job_id, status, len(outcomes), _write_response_list(outcomes))
        return True
