"""The SOAP operations: parse the request, check the passport and the limits, answer as SuiteTalk does."""

from __future__ import annotations

import itertools
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree

from emulators.common.clock import EmulatorClock
from emulators.erp.auth import PassportChecker
from emulators.erp.availability import item_availability
from emulators.erp.criteria import SearchStatusError, date_bounds, inclusive_range, type_filter
from emulators.erp.custom_records import CUSTOM_RECORD, custom_lists, custom_record_type, custom_record_types
from emulators.erp.namespaces import PREFIXES, VERSION, envelope
from emulators.erp.render import base_ref_xml, custom_record_type_xml, iso, iso_ms, status_xml
from emulators.erp.requests_xml import (
    SoapRequest,
    child_text,
    children,
    local,
    parse_envelope,
    parse_fragment,
    parse_int,
    parse_record,
    parse_ref,
)
from emulators.erp.schema import (
    GET_ALL_TYPES,
    core_enumeration,
    request_elements,
)
from emulators.erp.search_query import compile_search
from emulators.erp.searches import ResultSet, SearchRegistry
from emulators.erp.soapfaults import ClientFault, SoapFault, fault_envelope
from emulators.erp.store import ErpStore, WriteOutcome

logger = logging.getLogger("emulators.erp")

OPERATIONS = (
    "login", "ssoLogin", "mapSso", "changePassword", "changeEmail", "logout", "add", "delete", "search", "searchMore",
    "searchMoreWithId", "searchNext", "update", "upsert", "addList", "deleteList", "updateList", "upsertList", "get",
    "getList", "getAll", "getSavedSearch", "getCustomizationId", "initialize", "initializeList", "getSelectValue",
    "getItemAvailability", "getBudgetExchangeRate", "getCurrencyRate", "getDataCenterUrls",
    "getPostingTransactionSummary", "getServerTime", "attach", "detach", "updateInviteeStatus",
    "updateInviteeStatusList", "asyncAddList", "asyncUpdateList", "asyncUpsertList", "asyncDeleteList",
    "asyncGetList", "asyncInitializeList", "asyncSearch", "checkAsyncStatus", "getAsyncResult", "getDeleted",
    "getConsolidatedExchangeRate",
)
MESSAGES_NS = PREFIXES["platformMsgs"]
UNAUTHENTICATED = frozenset({"getDataCenterUrls"})
REQUEST_ELEMENTS = request_elements()
DEFAULT_PAGE_SIZE = 1000
MIN_PAGE_SIZE, MAX_PAGE_SIZE = 5, 1000


@dataclass(frozen=True)
class Limits:
    """Records per call, as SuiteTalk enforces them, and the getDeleted page size."""

    upsert_list: int = 100
    update_list: int = 100
    add_list: int = 200
    delete_list: int = 200
    get_list: int = 1000
    async_upsert_list: int = 200
    get_deleted_page: int = 1000


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def base_ref(element: etree._Element) -> dict[str, str]:
    """A ``baseRef``'s reference: a ``RecordRef``'s parts; a ``CustomRecordRef``'s with the custom record type's script
    id as ``type`` (``customRecord`` with ``typeKey`` when its ``typeId``/``scriptId`` names no type); a
    ``CustomizationRef``'s ``internalId``/``scriptId`` with its ``type`` (``customRecordType``)."""
    kind = element.get(f"{{{PREFIXES['xsi']}}}type", "").rpartition(":")[2]
    ref = parse_ref(element)
    if kind == "CustomRecordRef":
        key = element.get("typeId") or element.get("scriptId") or ""
        found = custom_record_type(key) if key else None
        ref["type"] = found.script_id if found else CUSTOM_RECORD
        if found is None:
            ref["typeKey"] = key
    elif kind == "CustomizationRef" and element.get("scriptId"):
        ref["scriptId"] = element.get("scriptId", "")
    return ref


def _unknown_custom_type(ref: dict[str, str]) -> tuple[str, str]:
    key = ref.get("typeKey") or ref.get("internalId") or ref.get("scriptId") or ""
    return ("INVALID_CSTM_RCRD_TYPE_KEY", f"Invalid custom record type key {key}.")


def _write_response_list(outcomes: list[WriteOutcome]) -> str:
    parts = ['<platformMsgs:writeResponseList><platformCore:status isSuccess="true"/>']
    for outcome in outcomes:
        parts.append(
            f"<platformMsgs:writeResponse>{status_xml(outcome.errors)}"
            f'{base_ref_xml("platformMsgs:baseRef", outcome.ref)}</platformMsgs:writeResponse>'
        )
    parts.append("</platformMsgs:writeResponseList>")
    return "".join(parts)


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
        self._last_search: dict[str, tuple[str, int]] = {}
        self._job_sequence = itertools.count(1)
        self.job_added = threading.Event()
        self._handlers: dict[str, Callable[[SoapRequest], str]] = {
            "add": self._add,
            "addList": self._add_list,
            "update": self._update,
            "updateList": self._update_list,
            "upsert": self._upsert,
            "upsertList": self._upsert_list,
            "delete": self._delete,
            "deleteList": self._delete_list,
            "get": self._get,
            "getList": self._get_list,
            "getAll": self._get_all,
            "search": self._search,
            "searchMore": self._search_more,
            "searchMoreWithId": self._search_more_with_id,
            "searchNext": self._search_next,
            "getDeleted": self._get_deleted,
            "getServerTime": self._get_server_time,
            "getDataCenterUrls": self._get_data_center_urls,
            "asyncUpsertList": self._async_upsert_list,
            "checkAsyncStatus": self._check_async_status,
            "getAsyncResult": self._get_async_result,
            "getItemAvailability": lambda request: item_availability(self.store, request.body),
        }
        self.base_url = ""

    def handle(self, raw: bytes) -> tuple[int, bytes]:
        """Answer one request body with ``(HTTP status, SOAP envelope)``; never raises."""
        try:
            request = parse_envelope(raw)
            self._check_operation(request)
            if request.operation not in UNAUTHENTICATED:
                self.passports.check(request.headers.get("tokenPassport"), self.clock.now().timestamp())
            handler = self._handlers.get(request.operation)
            if handler is None:
                raise SoapFault(
                    "WS_OPERATION_NOT_SUPPORTED",
                    f"The {request.operation} operation is not supported by the Tandem ERP emulator "
                    "(it implements the operations Tandem and common SDKs use; see docs/netsuite-suitetalk.md).",
                )
            body = handler(request)
            return 200, envelope(f"<platformMsgs:{request.operation}Response>{body}"
                                 f"</platformMsgs:{request.operation}Response>", header=self._document_info())
        except SoapFault as fault:
            return 500, fault.to_xml()
        except Exception:
            logger.exception("unexpected error while answering a SOAP request")
            return 500, fault_envelope("UNEXPECTED_ERROR", "An unexpected error occurred.")

    def _document_info(self) -> str:
        ns_id = f"WEBSERVICES_{self.account}_{self.clock.now():%m%d%Y%H%M%S}{secrets.randbelow(10**9):09d}"
        return f"<platformMsgs:documentInfo><platformMsgs:nsId>{ns_id}</platformMsgs:nsId></platformMsgs:documentInfo>"

    @staticmethod
    def _check_operation(request: SoapRequest) -> None:
        """The body's operation must be a NetSuitePortType operation in this version's namespace, with only the
        elements its request message declares.

        Raises:
            SoapFault: ``INVALID_VERSION`` for another SuiteTalk version's namespace; a client fault for an
                unknown operation or element.
        """
        namespace = etree.QName(request.body).namespace or ""
        if namespace != MESSAGES_NS:
            if namespace.startswith("urn:messages_") and namespace.endswith(".platform.webservices.netsuite.com"):
                raise SoapFault(
                    "INVALID_VERSION",
                    f"The request's namespace {namespace} does not match the version of the endpoint "
                    f"(NetSuitePort_{VERSION}); send requests in {MESSAGES_NS}.",
                )
            raise ClientFault(f"Unknown operation {{{namespace}}}{request.operation}.")
        allowed = REQUEST_ELEMENTS.get(request.operation)
        if allowed is None:
            raise ClientFault(f"Unknown operation {request.operation!r}.")
        for child in request.body:
            if isinstance(child.tag, str) and (local(child) not in allowed
                                               or (etree.QName(child).namespace or "") != MESSAGES_NS):
                raise ClientFault(f"org.xml.sax.SAXException: {request.operation} has no element {child.tag!r}.")

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
        return [base_ref(e) for e in elements]

    def upsert_elements(self, elements: list[etree._Element], mode: str) -> list[WriteOutcome]:
        """Parse and write records (``mode`` ``add`` or ``upsert``); used by the async jobs too."""
        parsed = [parse_record(e) for e in elements]
        return [o for o in self.store.write(parsed, mode=mode, now_ms=self._now_ms()) if o is not None]

    # writes ------------------------------------------------------------------------------

    def _one(self, request: SoapRequest, name: str) -> etree._Element:
        elements = children(request.body, name)
        if len(elements) != 1:
            raise ClientFault(f"{request.operation} needs exactly one {name}.")
        return elements[0]

    @staticmethod
    def _write_response(outcome: WriteOutcome) -> str:
        return (f"<platformMsgs:writeResponse>{status_xml(outcome.errors)}"
                f'{base_ref_xml("platformMsgs:baseRef", outcome.ref)}</platformMsgs:writeResponse>')

    def _add(self, request: SoapRequest) -> str:
        return self._write_response(self.upsert_elements([self._one(request, "record")], "add")[0])

    def _update(self, request: SoapRequest) -> str:
        return self._write_response(self.upsert_elements([self._one(request, "record")], "update")[0])

    def _upsert(self, request: SoapRequest) -> str:
        return self._write_response(self.upsert_elements([self._one(request, "record")], "upsert")[0])

    def _add_list(self, request: SoapRequest) -> str:
        return _write_response_list(self.upsert_elements(self._records(request, self.limits.add_list), "add"))

    def _update_list(self, request: SoapRequest) -> str:
        return _write_response_list(self.upsert_elements(self._records(request, self.limits.update_list), "update"))

    def _upsert_list(self, request: SoapRequest) -> str:
        return _write_response_list(self.upsert_elements(self._records(request, self.limits.upsert_list), "upsert"))

    def _delete_refs(self, refs: list[dict[str, str]]) -> list[WriteOutcome]:
        outcomes = self.store.delete(refs, now_ms=self._now_ms())
        for ref, outcome in zip(refs, outcomes, strict=True):
            if ref.get("type") == CUSTOM_RECORD:  # a CustomRecordRef whose typeId names no custom record type
                outcome.errors = [_unknown_custom_type(ref)]
        return outcomes

    def _delete(self, request: SoapRequest) -> str:
        return self._write_response(self._delete_refs([base_ref(self._one(request, "baseRef"))])[0])

    def _delete_list(self, request: SoapRequest) -> str:
        return _write_response_list(self._delete_refs(self._refs(request, self.limits.delete_list)))

    # reads -------------------------------------------------------------------------------

    @staticmethod
    def _read_response(xml: str | None) -> str:
        if xml is None:
            return ("<platformMsgs:readResponse>"
                    f"{status_xml([('RCRD_DSNT_EXIST', 'That record does not exist.')])}</platformMsgs:readResponse>")
        # The stored record is a search result's platformCore:record; readResponse's record is platformMsgs'.
        record = "<platformMsgs:record" + xml[len("<platformCore:record"):-len("</platformCore:record>")]
        return (f'<platformMsgs:readResponse><platformCore:status isSuccess="true"/>{record}</platformMsgs:record>'
                "</platformMsgs:readResponse>")

    def _read_refs(self, refs: list[dict[str, str]]) -> list[str]:
        """One ``readResponse`` per reference: a record, a custom record type (a ``CustomizationRef``) or an error."""
        out: list[str] = []
        for ref, xml in zip(refs, self.store.get(refs), strict=True):
            if ref.get("type") == CUSTOM_RECORD:
                out.append(f"<platformMsgs:readResponse>{status_xml([_unknown_custom_type(ref)])}"
                           "</platformMsgs:readResponse>")
            elif ref.get("type") == "customRecordType":
                found = custom_record_type(ref.get("internalId") or ref.get("scriptId") or "")
                if found is None:
                    out.append(f"<platformMsgs:readResponse>{status_xml([_unknown_custom_type(ref)])}"
                               "</platformMsgs:readResponse>")
                else:
                    lists = {c.script_id: c.internal_id for c in custom_lists().values()}
                    out.append('<platformMsgs:readResponse><platformCore:status isSuccess="true"/>'
                               f"{custom_record_type_xml('platformMsgs:record', found, lists)}"
                               "</platformMsgs:readResponse>")
            else:
                out.append(self._read_response(xml))
        return out

    def _get(self, request: SoapRequest) -> str:
        return self._read_refs([base_ref(self._one(request, "baseRef"))])[0]

    def _get_list(self, request: SoapRequest) -> str:
        refs = self._refs(request, self.limits.get_list)
        parts = ['<platformMsgs:readResponseList><platformCore:status isSuccess="true"/>']
        parts.extend(self._read_refs(refs))
        parts.append("</platformMsgs:readResponseList>")
        return "".join(parts)

    def _get_all(self, request: SoapRequest) -> str:
        record_type = self._one(request, "record").get("recordType", "")
        if record_type not in core_enumeration("GetAllRecordType"):
            raise ClientFault(f"org.xml.sax.SAXException: {record_type!r} is not a legal value for GetAllRecordType.")
        # Get-all list types the emulator does not model (states, tax types ...) have no records here.
        ids = self.store.search_ids((record_type,) if record_type in GET_ALL_TYPES else (), [], [])
        records = "".join(self.store.records_xml(ids.tolist()))
        return ('<platformCore:getAllResult><platformCore:status isSuccess="true"/>'
                f"<platformCore:totalRecords>{len(ids)}</platformCore:totalRecords>"
                f"<platformCore:recordList>{records}</platformCore:recordList></platformCore:getAllResult>")

    def _get_server_time(self, request: SoapRequest) -> str:
        return ('<platformCore:getServerTimeResult><platformCore:status isSuccess="true"/>'
                f"<platformCore:serverTime>{iso(self.clock.now())}</platformCore:serverTime>"
                "</platformCore:getServerTimeResult>")

    def _get_data_center_urls(self, request: SoapRequest) -> str:
        account = child_text(request.body, "account") or ""
        if account.upper() != self.account.upper():
            return ("<platformCore:getDataCenterUrlsResult>"
                    f"{status_xml([('INVALID_ACCOUNT', f'Invalid account number {account}.')])}"
                    "</platformCore:getDataCenterUrlsResult>")
        base = escape(self.base_url)
        return ('<platformCore:getDataCenterUrlsResult><platformCore:status isSuccess="true"/>'
                f"<platformCore:dataCenterUrls><platformCore:restDomain>{base}</platformCore:restDomain>"
                f"<platformCore:webservicesDomain>{base}</platformCore:webservicesDomain>"
                f"<platformCore:systemDomain>{base}</platformCore:systemDomain></platformCore:dataCenterUrls>"
                "</platformCore:getDataCenterUrlsResult>")

    def _page_size(self, request: SoapRequest) -> int | None:
        preferences = request.headers.get("searchPreferences")
        text = child_text(preferences, "pageSize") if preferences is not None else None
        if not text:
            return DEFAULT_PAGE_SIZE
        size = parse_int(text, "searchPreferences.pageSize")
        return size if MIN_PAGE_SIZE <= size <= MAX_PAGE_SIZE else None

    @staticmethod
    def _search_error(error: tuple[str, str]) -> str:
        return f"<platformCore:searchResult>{status_xml([error])}</platformCore:searchResult>"

    def _search(self, request: SoapRequest) -> str:
        search_record = self._one(request, "searchRecord")
        now = self.clock.now()
        try:
            query = compile_search(search_record, now)
        except SearchStatusError as error:
            return self._search_error(error.status)
        page_size = self._page_size(request)
        if page_size is None:
            return self._search_error(("USER_ERROR", "The page size must be between 5 and 1000."))
        ids = self.store.search_ids(query.record_types, query.where, query.params)
        result = ResultSet(query.basic, ids, page_size, now)
        search_id = self.searches.add(result)
        self._remember(request, search_id, 1)
        return self._search_result(result, search_id, 1)

    def _token(self, request: SoapRequest) -> str:
        passport = request.headers.get("tokenPassport")
        return (child_text(passport, "token") if passport is not None else None) or ""

    def _remember(self, request: SoapRequest, search_id: str, page: int) -> None:
        self._last_search[self._token(request)] = (search_id, page)

    def _search_more_with_id(self, request: SoapRequest) -> str:
        search_id = child_text(request.body, "searchId") or ""
        page_index = parse_int(child_text(request.body, "pageIndex"), "pageIndex")
        result = self.searches.get(search_id, self.clock.now())
        return self._search_result(result, search_id, page_index)

    def _last(self, request: SoapRequest) -> tuple[str, int]:
        last = self._last_search.get(self._token(request))
        if last is None:
            raise SoapFault("INVALID_SEARCH", "There is no search to continue; run a search first.")
        return last

    def _search_more(self, request: SoapRequest) -> str:
        search_id, _ = self._last(request)
        page_index = parse_int(child_text(request.body, "pageIndex"), "pageIndex")
        result = self.searches.get(search_id, self.clock.now())
        answer = self._search_result(result, search_id, page_index)
        self._remember(request, search_id, page_index)
        return answer

    def _search_next(self, request: SoapRequest) -> str:
        search_id, page = self._last(request)
        result = self.searches.get(search_id, self.clock.now())
        answer = self._search_result(result, search_id, page + 1)
        self._remember(request, search_id, page + 1)
        return answer

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
        script_id = ""
        for criterion in filter_element:
            if not isinstance(criterion.tag, str):
                continue
            name = local(criterion)
            if name == "deletedDate":
                what = "getDeletedFilter.deletedDate"
                low, high = inclusive_range(*date_bounds(criterion, what, self.clock.now()), what)
            elif name == "type":
                exclude, types = type_filter(criterion, "getDeletedFilter.type")
            elif name == "scriptId":
                script_id = child_text(criterion, "searchValue") or ""
            else:
                raise ClientFault(f"getDeletedFilter has no field {name!r}.")
        if types is not None and CUSTOM_RECORD in types:  # customRecord: the custom record types (scriptId: one)
            chosen = [t for t in custom_record_types() if script_id in ("", t)]
            types = [t for t in types if t != CUSTOM_RECORD] + chosen
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
                f"</platformCore:deletedDate>{base_ref_xml('platformCore:record', ref)}"
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
