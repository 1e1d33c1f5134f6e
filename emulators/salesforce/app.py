"""The emulator's HTTP application: logins, the REST API, error shapes, endpoint names and faults."""

from __future__ import annotations

import logging
import secrets
from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from emulators.common.faults import FaultKind, FaultRule
from emulators.salesforce import bulk, routes_collections, routes_composite, routes_query, routes_records
from emulators.salesforce.auth import (
    SESSION_EXPIRED_MESSAGE,
    LoginFailed,
    check_oauth,
    check_password,
    oauth_error,
    parse_soap_login,
    soap_fault,
    soap_login_response,
)
from emulators.salesforce.errors import NOT_FOUND_MESSAGE, json_response
from emulators.salesforce.rest import VERSION_PATH, Call, EmulatorState, dispatch, find_route, supported, versions

log = logging.getLogger("emulators.salesforce")

ROUTE_MODULES = (routes_records, routes_collections, routes_composite, routes_query, bulk)
SOAP_LOGIN_PREFIX = "/services/Soap/u/"
OAUTH_TOKEN = "/services/oauth2/token"  # noqa: S105 - a path, not a secret
UNKNOWN_EXCEPTION_MESSAGE = "An unexpected error occurred. Please include this ErrorId if you contact support: {}"


def _error_id() -> str:
    return f"{secrets.randbelow(10**9):09d}-{secrets.randbelow(10**5):05d} ({secrets.randbelow(10**9)})"


def unknown_exception(status: int = 500) -> Response:
    """Salesforce's answer to an internal failure: ``UNKNOWN_EXCEPTION`` with an error id."""
    return json_response([{"errorCode": "UNKNOWN_EXCEPTION", "message": UNKNOWN_EXCEPTION_MESSAGE.format(_error_id())}],
                         status)


def classify(scope: Scope) -> str:
    """The stable endpoint name of a request, for the counters and fault rules."""
    path: str = scope["path"]
    method: str = scope["method"]
    if path.startswith(SOAP_LOGIN_PREFIX):
        return "login.soap"
    if path.rstrip("/") == OAUTH_TOKEN:
        return "oauth.token"
    if path.rstrip("/") == "/services/data":
        return "versions"
    match = VERSION_PATH.match(path)
    if match:
        found = find_route(method, match[2] or "")
        if found:
            return found[0].endpoint
    return "unknown"


def fault_response(rule: FaultRule, scope: Scope) -> Response:
    """Salesforce-like bodies for injected faults (SOAP faults on the SOAP login, JSON elsewhere)."""
    if scope["path"].startswith(SOAP_LOGIN_PREFIX):
        code = rule.code or ("SERVER_UNAVAILABLE" if rule.kind is FaultKind.HTTP_503 else "UNKNOWN_EXCEPTION")
        status = 503 if rule.kind is FaultKind.HTTP_503 else 500
        return Response(soap_fault(code, "injected fault", login=False), status, media_type="text/xml")
    if rule.kind is FaultKind.HTTP_503:
        return json_response([{"errorCode": rule.code or "SERVER_UNAVAILABLE",
                               "message": "Server temporarily unavailable; try again later"}], 503)
    if rule.kind is FaultKind.HTTP_429:
        return json_response([{"errorCode": rule.code or "REQUEST_LIMIT_EXCEEDED",
                               "message": "ConcurrentPerOrgLongTxn Limit exceeded."}], 429)
    if rule.code:
        return json_response([{"errorCode": rule.code, "message": "injected fault"}], 500)
    return unknown_exception(500)


class SalesforceApp:
    """The ASGI application (wrap it in ``EmulatorMiddleware``)."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one request; any unexpected failure becomes ``UNKNOWN_EXCEPTION`` (logged here)."""
        request = Request(scope, receive)
        try:
            response = await self.handle(request)
        except Exception:
            log.exception("unexpected error on %s %s", scope["method"], scope["path"])
            response = unknown_exception()
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        """Route ``request``."""
        path = request.url.path
        if path.startswith(SOAP_LOGIN_PREFIX) and request.method == "POST":
            return await self.soap_login(request)
        if path.rstrip("/") == OAUTH_TOKEN and request.method == "POST":
            return await self.oauth_token(request)
        if path.rstrip("/") == "/services/data" and request.method == "GET":
            return json_response(versions())
        match = VERSION_PATH.match(path)
        if match is None or not supported(match[1]):
            return json_response([{"errorCode": "NOT_FOUND", "message": NOT_FOUND_MESSAGE}], 404)
        return await self.rest(request, match[1], match[2] or "")

    async def rest(self, request: Request, version: str, path: str) -> Response:
        """Authenticate, charge the API allocation, and run the REST call."""
        state = self.state
        authorization = request.headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        session = state.sessions.check(token.strip()) if scheme.lower() in {"bearer", "oauth"} else None
        if session is None:
            return json_response([{"message": SESSION_EXPIRED_MESSAGE, "errorCode": "INVALID_SESSION_ID"}], 401,
                                 {"WWW-Authenticate": 'Token realm="Salesforce", error="invalid_token"'})
        if not state.limit.charge():
            return json_response([{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
                                 403, {"Sforce-Limit-Info": state.limit.header()})
        call = Call(
            method=request.method, version=version, path=path,
            query=dict(parse_qsl(request.url.query, keep_blank_values=True)), body=await request.body(),
            headers=request.headers, user_id=session.user_id,
        )
        reply = await run_in_threadpool(dispatch, state, call)
        headers = {**reply.headers, "Sforce-Limit-Info": state.limit.header()}
        if reply.body is None:
            return Response(status_code=reply.status, headers=headers)
        return json_response(reply.body, reply.status, headers)

    async def soap_login(self, request: Request) -> Response:
        """The partner API ``login`` call: a ``loginResponse`` or an ``INVALID_LOGIN`` fault."""
        state = self.state
        version = request.url.path[len(SOAP_LOGIN_PREFIX):].strip("/").split("/")[0]
        try:
            if not _is_version(version):
                raise LoginFailed("UNSUPPORTED_API_VERSION", f"Invalid Api version specified on URL: {version}")
            username, password = parse_soap_login(await request.body())
            check_password(username, password, state.credentials)
        except LoginFailed as exc:
            return Response(soap_fault(exc.code, exc.message), 500, media_type="text/xml; charset=utf-8")
        user = await run_in_threadpool(state.store.user, state.store.integration_user_id) or {}
        session = state.sessions.open(state.store.integration_user_id)
        body = soap_login_response(
            session=session, base_url=state.base_url, api_version=version, org_id=state.store.org_id, user=user,
            is_sandbox=state.is_sandbox, timeout_seconds=state.session_seconds,
        )
        return Response(body, 200, media_type="text/xml; charset=utf-8")

    async def oauth_token(self, request: Request) -> Response:
        """OAuth 2.0 token endpoint: password and client_credentials grants."""
        state = self.state
        form: dict[str, Any] = dict(parse_qsl((await request.body()).decode("utf-8", "replace"),
                                              keep_blank_values=True))
        try:
            check_oauth(form, state.credentials, request.headers.get("authorization", ""))
        except LoginFailed as exc:
            return json_response(oauth_error(exc.code, exc.message), 400)
        user_id = state.store.integration_user_id
        session = state.sessions.open(user_id)
        issued = int(state.clock.now().timestamp() * 1000)
        return json_response({
            "access_token": session.token,
            "instance_url": state.base_url,
            "id": f"{state.base_url}/id/{state.store.org_id}/{user_id}",
            "token_type": "Bearer",
            "issued_at": str(issued),
            "signature": secrets.token_urlsafe(32),
        })


def _is_version(text: str) -> bool:
    try:
        return float(text) >= 20.0
    except ValueError:
        return False
