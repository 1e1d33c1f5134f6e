"""Whole-request SOAP faults, shaped as SuiteTalk returns them (HTTP 500, SOAP 1.1 fault, NetSuite detail)."""

from __future__ import annotations

from xml.sax.saxutils import escape

from emulators.erp.namespaces import envelope

# SuiteTalk's detail element for each fault code the emulator raises (or a fault rule may name). A token-based
# client over the account's concurrency limit gets WS_REQUEST_BLOCKED in exceededConcurrentRequestLimitFault;
# request-level credentials get WS_CONCUR_SESSION_DISALLWD in exceededRequestLimitFault.
FAULT_ELEMENTS: dict[str, str] = {
    "INVALID_LOGIN_ATTEMPT": "invalidSessionFault",
    "INVALID_SESSION": "invalidSessionFault",
    "SESSION_TIMED_OUT": "invalidSessionFault",
    "INVALID_PAGE_INDEX": "invalidSessionFault",
    "INVALID_SEARCH": "invalidSessionFault",
    "MAX_RCRDS_EXCEEDED": "exceededRecordCountFault",
    "WS_REQUEST_BLOCKED": "exceededConcurrentRequestLimitFault",
    "WS_CONCUR_SESSION_DISALLWD": "exceededRequestLimitFault",
    "WS_EXCEEDED_MAX_CONCURRENT": "exceededRequestLimitFault",
    "INVALID_JOB_ID": "asyncFault",
    "ASYNC_JOB_NOT_COMPLETE": "asyncFault",
    "UNEXPECTED_ERROR": "unexpectedErrorFault",
    "INVALID_VERSION": "invalidVersionFault",
    "EXCEEDED_MAX_REQUEST_SIZE": "exceededRequestSizeFault",
    "WS_INVALID_SEARCH_OPERATN": "invalidSessionFault",
    "WS_OPERATION_NOT_SUPPORTED": "insufficientPermissionFault",
}


def concurrency_message() -> str:
    """The fault string of WS_REQUEST_BLOCKED, as NetSuite sends it (SDKs match on it)."""
    return "SuiteTalk concurrent request limit exceeded. Request blocked."


def request_size_message(limit_bytes: int) -> str:
    """The fault string of EXCEEDED_MAX_REQUEST_SIZE (the emulator's wording; NetSuite's limit is 100 MB)."""
    return f"The request exceeds the maximum allowed size of {limit_bytes // (1024 * 1024)} MB."


class SoapFault(Exception):
    """A fault that ends the whole request.

    Args:
        code: the NetSuite fault code (``INVALID_LOGIN_ATTEMPT``), or ``None`` for a plain
            ``soapenv:Client`` fault without detail (malformed or invalid requests).
        message: the fault string.
    """

    def __init__(self, code: str | None, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def to_xml(self) -> bytes:
        """The fault as a SOAP 1.1 envelope."""
        return fault_envelope(self.code, self.message)


class ClientFault(SoapFault):
    """The request itself is wrong: not XML, a DOCTYPE, an unknown element, a value of the wrong type."""

    def __init__(self, message: str) -> None:
        super().__init__(None, message)


def fault_envelope(code: str | None, message: str) -> bytes:
    """Build a SOAP 1.1 fault envelope.

    Args:
        code: the NetSuite fault code; ``None`` makes a ``soapenv:Client`` fault with no detail.
        message: the fault string (escaped here).
    """
    text = escape(message)
    if code is None:
        return envelope(
            f"<soapenv:Fault><faultcode>soapenv:Client</faultcode><faultstring>{text}</faultstring></soapenv:Fault>"
        )
    element = FAULT_ELEMENTS.get(code, "unexpectedErrorFault")
    faultcode = "soapenv:Server" if element == "unexpectedErrorFault" else "soapenv:Server.userException"
    return envelope(
        f"<soapenv:Fault><faultcode>{faultcode}</faultcode><faultstring>{text}</faultstring><detail>"
        f"<platformFaults:{element}><platformFaults:code>{escape(code)}</platformFaults:code>"
        f"<platformFaults:message>{text}</platformFaults:message></platformFaults:{element}>"
        f"</detail></soapenv:Fault>"
    )
