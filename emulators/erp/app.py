"""The ERP emulator's ASGI app: WSDL and XSD files, the SOAP endpoint, the concurrency limit and the controls."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from emulators.common.control import EmulatorControls, EmulatorMiddleware
from emulators.common.faults import FaultKind, FaultRule
from emulators.erp.namespaces import ENDPOINT_PATH, WSDL_PATH
from emulators.erp.schema import WSDL_ROOT, XSD_ROOT
from emulators.erp.service import OPERATIONS, ErpService
from emulators.erp.soapfaults import concurrency_message, fault_envelope, request_size_message

XML = "text/xml; charset=utf-8"
MAX_REQUEST_BYTES = 100 * 1024 * 1024  # SuiteTalk's request size limit
_ADDRESS = re.compile(rb'(<soap:address location=")[^"]*(")')


def classify(scope: Scope) -> str:
    """Name a call for the counters and fault rules: the SOAP operation (from SOAPAction), ``wsdl`` or ``xsd``."""
    path = scope["path"]
    if path == ENDPOINT_PATH:
        for key, value in scope.get("headers", []):
            if key == b"soapaction":
                action = value.decode("latin-1").strip().strip('"')
                return action if action in OPERATIONS else "unknown"
        return "unknown"
    if path.startswith("/wsdl/"):
        return "wsdl"
    if path.startswith("/xsd/"):
        return "xsd"
    return "other"


def fault_response(rule: FaultRule, scope: Scope) -> Response:
    """An injected fault as NetSuite would send it: a SOAP fault (code from the rule, WS_REQUEST_BLOCKED by
    default), or a plain-text HTTP error (503/429 with ``Retry-After``) that SOAP clients cannot parse as XML."""
    if rule.kind is FaultKind.SOAP_FAULT:
        code = rule.code or "WS_REQUEST_BLOCKED"
        message = concurrency_message() if code == "WS_REQUEST_BLOCKED" else f"Injected fault {code}."
        return Response(fault_envelope(code, message), status_code=500, media_type=XML)
    status = {FaultKind.HTTP_503: 503, FaultKind.HTTP_429: 429}.get(rule.kind, 500)
    headers = {"Retry-After": "1"} if status in (429, 503) else {}
    reason = {503: "Service Unavailable", 429: "Too Many Requests"}.get(status, "Internal Server Error")
    return Response(f"{status} {reason} (injected {rule.kind.value})", status_code=status, media_type="text/plain",
                    headers=headers)


class ConcurrencyGate:
    """Refuses SOAP calls beyond ``limit`` in flight with ``WS_REQUEST_BLOCKED``, as NetSuite does per account.

    It wraps the control middleware, so requests held by an injected latency count as in flight.
    """

    def __init__(self, app: ASGIApp, controls: EmulatorControls, limit: int) -> None:
        self.app = app
        self.controls = controls
        self.limit = limit
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != "http" or scope["path"] != ENDPOINT_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            self.controls.counters.hit(classify(scope))
            body = fault_envelope("WS_REQUEST_BLOCKED", concurrency_message())
            await Response(body, status_code=500, media_type=XML)(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


def build_app(
    service: ErpService, controls: EmulatorControls, endpoint_url: str, max_concurrency: int,
    max_request_bytes: int = MAX_REQUEST_BYTES,
) -> Any:
    """Assemble the ASGI app.

    Args:
        service: answers the SOAP operations.
        controls: the shared test controls (reset, seed, clock, faults, counters).
        endpoint_url: the SOAP address written into the served WSDL.
        max_concurrency: SOAP requests allowed in flight at once.
        max_request_bytes: larger requests are refused with ``EXCEEDED_MAX_REQUEST_SIZE`` before they are parsed.
    """
    service.base_url = endpoint_url.split("/services/")[0]
    wsdl = _ADDRESS.sub(rb"\g<1>" + endpoint_url.encode() + rb"\g<2>",
                        (WSDL_ROOT / "wsdl" / "v2023_2_0" / "netsuite.wsdl").read_bytes())
    xsd_root = XSD_ROOT.resolve()

    async def wsdl_file(request: Request) -> Response:
        return Response(wsdl, media_type=XML)

    async def xsd_file(request: Request) -> Response:
        path = (xsd_root / request.path_params["path"]).resolve()
        if not path.is_relative_to(xsd_root) or path.suffix != ".xsd" or not path.is_file():
            return Response("not found", status_code=404, media_type="text/plain")
        return Response(path.read_bytes(), media_type=XML)

    async def endpoint(request: Request) -> Response:
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_request_bytes:
                fault = fault_envelope("EXCEEDED_MAX_REQUEST_SIZE", request_size_message(max_request_bytes))
                return Response(fault, status_code=500, media_type=XML)
            chunks.append(chunk)
        status, body = await asyncio.to_thread(service.handle, b"".join(chunks))
        return Response(body, status_code=status, media_type=XML)

    app = Starlette(routes=[
        Route(WSDL_PATH, wsdl_file, methods=["GET"]),
        Route("/xsd/{path:path}", xsd_file, methods=["GET"]),
        Route(ENDPOINT_PATH, endpoint, methods=["POST"]),
    ])
    inner = EmulatorMiddleware(app, controls, classify, fault_response)
    return ConcurrencyGate(inner, controls, max_concurrency)

