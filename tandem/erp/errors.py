"""Classify every way an ERP call can fail into Tandem's retryable and fatal errors.

Retryable (worth the same call again, later): HTTP 429 and 5xx without a SOAP fault, timeouts,
connection errors and resets, and the concurrency or rate faults ``WS_REQUEST_BLOCKED``,
``WS_CONCUR_SESSION_DISALLOWED``, ``ExceededConcurrentRequestLimitFault`` and
``ExceededRequestLimitFault``, ``UNEXPECTED_ERROR`` and a ``soapenv:Server`` fault without detail.
Fatal (the same call would fail again):
authentication (``INVALID_LOGIN_ATTEMPT``, ``InvalidSessionFault``), limits of the request itself
(``MAX_RCRDS_EXCEEDED``, ``INVALID_PAGE_INDEX``, an expired search ``INVALID_SEARCH``, which the
adapter handles by searching again), validation and malformed requests (a ``soapenv:Client`` fault),
and any fault we do not know. Decisions are made on codes and fault names, never on
message text. Messages carry the code, the operation and the server's fault string; never the
request, the response body or a credential.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import requests
from lxml import etree
from zeep.exceptions import Fault, TransportError

from tandem.errors import FatalSyncError, RetryableSyncError, SyncError
from tandem.retrying import retry_after_seconds

SYSTEM = "erp"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"

RETRYABLE_CODES = frozenset(
    {
        "WS_REQUEST_BLOCKED",
        "WS_CONCUR_SESSION_DISALLOWED",
        "WS_CONCUR_SESSION_DISALLWD",
        "EXCEEDED_CONCURRENT_REQUEST_LIMIT",
        "EXCEEDED_REQUEST_LIMIT",
        "SSS_REQUEST_LIMIT_EXCEEDED",
        "UNEXPECTED_ERROR",
    }
)
RETRYABLE_FAULTS = frozenset(
    {
        "exceededconcurrentrequestlimitfault",
        "exceededrequestlimitfault",
        "unexpectederrorfault",
    }
)
AUTH_FAULTS = frozenset({"invalidsessionfault", "invalidcredentialsfault", "invalidaccountfault"})

MAX_FAULT_TEXT = 300


@dataclass(frozen=True)
class SoapFault:
    """The parts of a SOAP fault Tandem decides on.

    Attributes:
        fault_code: ``faultcode`` (``soapenv:Server``, ``soapenv:Client`` ...).
        message: ``faultstring``.
        name: local name of the detail's first element (``invalidSessionFault`` ...), if any.
        code: the SuiteTalk error code inside the detail (``INVALID_LOGIN_ATTEMPT`` ...), if any.
    """

    fault_code: str
    message: str
    name: str | None
    code: str | None


def _local(tag: object) -> str:
    return str(tag).rpartition("}")[2].rpartition(":")[2] if isinstance(tag, str) else ""


def fault_from_detail(fault_code: str, message: str, detail: etree._Element | None) -> SoapFault:
    """Build a :class:`SoapFault` from a fault's code, string and ``detail`` element.

    Args:
        fault_code: the ``faultcode`` text.
        message: the ``faultstring`` text.
        detail: the ``detail`` element, or ``None``.

    Returns:
        The fault with the SuiteTalk fault name and error code found in the detail.
    """
    name: str | None = None
    code: str | None = None
    if detail is not None:
        children = [child for child in detail if isinstance(child.tag, str)]
        if children:
            name = _local(children[0].tag)
        for element in detail.iter():
            if _local(element.tag) == "code" and element.text:
                code = element.text.strip()
                break
    return SoapFault(fault_code=fault_code or "", message=message or "", name=name, code=code)


def parse_fault(body: bytes) -> SoapFault | None:
    """Find a SOAP 1.1 fault in a response body.

    Args:
        body: the raw response body.

    Returns:
        The fault, or ``None`` when the body is not XML or holds no fault.
    """
    if b"Fault" not in body:
        return None
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    try:
        root = etree.fromstring(body, parser=parser)
    except etree.XMLSyntaxError:
        return None
    fault = root.find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    if fault is None:
        return None
    return fault_from_detail(
        fault.findtext("faultcode") or "", fault.findtext("faultstring") or "", fault.find("detail")
    )


def classify_fault(fault: SoapFault, operation: str) -> SyncError:
    """Turn a SOAP fault into a retryable or fatal :class:`SyncError`.

    Args:
        fault: the parsed fault.
        operation: the SOAP operation that failed (for the message).

    Returns:
        ``RetryableSyncError`` for concurrency, rate and unexpected-server faults; ``FatalSyncError``
        for everything else (authentication, limits of the request, validation, unknown faults).
    """
    name = (fault.name or "").lower()
    text = fault.message[:MAX_FAULT_TEXT]
    message = f"{operation} failed: {text}" if text else f"{operation} failed"
    if fault.name is None and fault.code is None:
        if _local(fault.fault_code) == "Server":
            return RetryableSyncError(message, code="SERVER_FAULT", system=SYSTEM)
        # The fault string of a malformed request may quote the offending value: keep it out.
        return FatalSyncError(
            f"{operation} failed: the ERP rejected the request as malformed (a value of the wrong type, "
            "an unknown field or invalid XML)",
            code="MALFORMED_REQUEST",
            system=SYSTEM,
        )
    code = fault.code or fault.name or "SOAP_FAULT"
    if (fault.code and fault.code in RETRYABLE_CODES) or name in RETRYABLE_FAULTS:
        return RetryableSyncError(message, code=code, system=SYSTEM)
    if name in AUTH_FAULTS and not fault.code:
        code = "INVALID_LOGIN_ATTEMPT" if name == "invalidsessionfault" else "INVALID_LOGIN_CREDENTIALS"
    return FatalSyncError(message, code=code, system=SYSTEM)


def classify_http(response: requests.Response, operation: str) -> SyncError | None:
    """Classify a non-200 HTTP response (SOAP 1.1 faults come with HTTP 500).

    A fault inside an HTTP 200 is found when the body is parsed
    (:func:`tandem.erp.parsing.parse_body`), so a good answer is parsed only once.

    Args:
        response: the HTTP response.
        operation: the SOAP operation (for the message).

    Returns:
        The error to raise, or ``None`` for HTTP 200.
    """
    status = response.status_code
    if status == 200:
        return None
    fault = parse_fault(response.content)
    if fault is not None:
        error = classify_fault(fault, operation)
        if isinstance(error, RetryableSyncError):
            error.retry_after = retry_after_seconds(response.headers)
        return error
    code = f"HTTP_{status}"
    message = f"{operation} failed: HTTP {status}"
    if status == 429 or status >= 500:
        return RetryableSyncError(
            message, code=code, system=SYSTEM, retry_after=retry_after_seconds(response.headers)
        )
    return FatalSyncError(message, code=code, system=SYSTEM)


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    """True when ``kind`` is anywhere in ``exc``'s chain (causes, contexts, wrapped reasons)."""
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return True
        pending.extend([current.__cause__, current.__context__, getattr(current, "reason", None), *current.args])
    return False


def classify_exception(exc: BaseException, operation: str) -> SyncError:
    """Classify an exception raised while calling ``operation``.

    Args:
        exc: a zeep ``Fault`` or ``TransportError``, a ``requests`` error, an XML syntax error, or
            an already classified :class:`SyncError`.
        operation: the SOAP operation (for the message).

    Returns:
        The classified error (the same object when it is already a :class:`SyncError`).
    """
    if isinstance(exc, SyncError):
        return exc
    if isinstance(exc, Fault):
        detail = exc.detail if isinstance(exc.detail, etree._Element) else None
        return classify_fault(fault_from_detail(str(exc.code or ""), str(exc.message or ""), detail), operation)
    if isinstance(exc, TransportError):
        status = int(exc.status_code or 0)
        message = f"{operation} failed: HTTP {status}"
        if status == 429 or status >= 500:
            return RetryableSyncError(message, code=f"HTTP_{status}", system=SYSTEM)
        return FatalSyncError(message, code=f"HTTP_{status}", system=SYSTEM)
    if isinstance(exc, requests.Timeout):
        kind = "connect" if isinstance(exc, requests.ConnectTimeout) else "read"
        return RetryableSyncError(f"{operation} timed out ({kind})", code="TIMEOUT", system=SYSTEM)
    if isinstance(exc, requests.exceptions.SSLError) and _caused_by(exc, ssl.SSLCertVerificationError):
        return FatalSyncError(
            f"{operation} failed: the ERP's TLS certificate is not trusted (check ca_bundle_path)",
            code="TLS_ERROR",
            system=SYSTEM,
        )
    if isinstance(exc, requests.exceptions.ChunkedEncodingError | requests.ConnectionError | ConnectionError):
        # A TLS error that is not a certificate problem (an EOF mid-handshake) is a dropped connection.
        return RetryableSyncError(
            f"{operation} failed: connection lost ({type(exc).__name__})", code="CONNECTION_ERROR", system=SYSTEM
        )
    if isinstance(exc, etree.XMLSyntaxError):
        return FatalSyncError(f"{operation} failed: the response is not XML", code="MALFORMED_RESPONSE", system=SYSTEM)
    if isinstance(exc, ValueError | TypeError):
        return FatalSyncError(
            f"{operation} failed: the request does not match the WSDL ({type(exc).__name__})",
            code="MALFORMED_REQUEST",
            system=SYSTEM,
        )
    return FatalSyncError(f"{operation} failed: {type(exc).__name__}", code="UNEXPECTED_CLIENT_ERROR", system=SYSTEM)
