"""The emulator's HTTP application: logins, the REST API, error shapes, endpoint names and faults."""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from emulators.common.control import CONTROL_PREFIX
from emulators.common.faults import FaultKind, FaultRule
from emulators.salesforce import bulk, bulk1_routes, routes_collections, routes_composite, routes_query, routes_records
from emulators.salesforce.auth import (
    BAD_OAUTH_TOKEN,
    EXPIRED_REFRESH_TOKEN,
    JWT_BEARER_GRANT,
    LOGIN_AUDIENCE,
    REFRESH_TOKEN_GRANT,
    SESSION_EXPIRED_MESSAGE,
    TEST_AUDIENCE,
    ConnectedApps,
    LoginFailed,
    RefreshTokens,
    check_oauth,
    check_password,
    check_refresh,
    check_user_for_app,
    oauth_error,
    parse_soap_login,
    soap_fault,
    soap_login_response,
    token_signature,
    userinfo,
    verify_jwt_assertion,
)
from emulators.salesforce.errors import NOT_FOUND_MESSAGE, json_response
from emulators.salesforce.metadata_api import METADATA_PREFIX, answer_metadata_call
from emulators.salesforce.rest import VERSION_PATH, Call, EmulatorState, dispatch, find_route, supported, versions
from emulators.salesforce.wire import decode_body, size_response, size_violation

log = logging.getLogger("emulators.salesforce")

ROUTE_MODULES = (routes_records, routes_collections, routes_composite, routes_query, bulk)
SOAP_LOGIN_PREFIX = "/services/Soap/u/"
OAUTH_TOKEN = "/services/oauth2/token"  # noqa: S105 - a path, not a secret
OAUTH_USERINFO = "/services/oauth2/userinfo"
CONNECTED_APPS_CONTROL = f"{CONTROL_PREFIX}/connected-apps"
REFRESH_TOKENS_CONTROL = f"{CONTROL_PREFIX}/refresh-tokens"
UNKNOWN_EXCEPTION_MESSAGE = "An unexpected error occurred. Please include this ErrorId if you contact support: {}"


#: Injected faults whose code Salesforce answers with a client error: its status and message (so a test
#: can make, say, a ``queryMore`` find its cursor closed).
CLIENT_ERROR_FAULTS = {"INVALID_QUERY_LOCATOR": (400, "invalid query locator")}


def _error_id() -> str:
    return f"{secrets.randbelow(10**9):09d}-{secrets.randbelow(10**5):05d} ({secrets.randbelow(10**9)})"


def unknown_exception(status: int = 500) -> Response:
    """Salesforce's answer to an internal failure: ``UNKNOWN_EXCEPTION`` with an error id."""
    return json_response([{"errorCode": "UNKNOWN_EXCEPTION", "message": UNKNOWN_EXCEPTION_MESSAGE.format(_error_id())}],
                         status)


def classify(scope: Scope) -> str:
    """The stable endpoint name of a request, for the counters and fault rules.

    A request over Salesforce's URI and header size limit is ``uri.tooLong`` or ``headers.tooLarge``
    (the counters show every refused one).
    """
    violation = size_violation(scope)
    if violation is not None:
        return violation
    path: str = scope["path"]
    method: str = scope["method"]
    if path.startswith(SOAP_LOGIN_PREFIX):
        return "login.soap"
    if path.startswith(METADATA_PREFIX):
        return "metadata.soap"
    if path.startswith(bulk1_routes.ASYNC_PREFIX):
        return bulk1_routes.endpoint(method, path)
    if path.rstrip("/") == OAUTH_TOKEN:
        return "oauth.token"
    if path.rstrip("/") == OAUTH_USERINFO:
        return "oauth.userinfo"
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
    if scope["path"].startswith(bulk1_routes.ASYNC_PREFIX):
        return bulk1_routes.injected_fault(rule)
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
    if rule.code in CLIENT_ERROR_FAULTS:
        status, message = CLIENT_ERROR_FAULTS[rule.code]
        return json_response([{"errorCode": rule.code, "message": message}], status)
    if rule.code:
        return json_response([{"errorCode": rule.code, "message": "injected fault"}], 500)
    return unknown_exception(500)


class SalesforceApp:
    """The ASGI application (wrap it in ``EmulatorMiddleware``)."""

    def __init__(self, state: EmulatorState, apps: ConnectedApps | None = None,
                 refresh_tokens: RefreshTokens | None = None) -> None:
        self.state = state
        self.apps = apps if apps is not None else ConnectedApps(state.credentials)
        self.refresh_tokens = refresh_tokens if refresh_tokens is not None else RefreshTokens()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one request; any unexpected failure becomes ``UNKNOWN_EXCEPTION`` (logged here).

        A request whose URI and headers pass Salesforce's 16,384-byte limit answers 414 or 431 first.
        """
        violation = size_violation(scope)
        if violation is not None:
            await size_response(violation)(scope, receive, send)
            return
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
        if path.startswith(METADATA_PREFIX) and request.method == "POST":
            return await answer_metadata_call(self.state, request)
        if path.rstrip("/") == OAUTH_TOKEN and request.method == "POST":
            return await self.oauth_token(request)
        if path.rstrip("/") == OAUTH_USERINFO and request.method in {"GET", "POST"}:
            return await self.userinfo(request)
        if path.rstrip("/") == "/services/data" and request.method == "GET":
            return json_response(versions())
        if path.startswith(bulk1_routes.ASYNC_PREFIX):
            return await bulk1_routes.handle(self.state, request)
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
        body = await request.body()
        # A body that is not what its Content-Encoding says is left as sent: the route's parser
        # then refuses it as Salesforce's does (JSON_PARSER_ERROR...).
        with contextlib.suppress(ValueError):
            body = decode_body(body, request.headers.get("content-encoding"))
        call = Call(
            method=request.method, version=version, path=path,
            query=dict(parse_qsl(request.url.query, keep_blank_values=True)), body=body,
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
        """OAuth 2.0 token endpoint: password, client_credentials, JWT bearer and refresh_token grants."""
        state = self.state
        form: dict[str, Any] = dict(parse_qsl((await request.body()).decode("utf-8", "replace"),
                                              keep_blank_values=True))
        grant = form.get("grant_type")
        if grant == JWT_BEARER_GRANT:
            return await self.jwt_bearer(form)
        if grant == REFRESH_TOKEN_GRANT:
            return await self.refresh(form, request.headers.get("authorization", ""))
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


    def audiences(self) -> set[str]:
        """The ``aud`` values a JWT bearer assertion may name: the login host of the org's kind, or
        the org's own URL (its My Domain)."""
        return {TEST_AUDIENCE if self.state.is_sandbox else LOGIN_AUDIENCE, self.state.base_url.rstrip("/")}

    def identity_url(self, user_id: str) -> str:
        """The identity URL of ``user_id`` (a token response's ``id``)."""
        return f"{self.state.base_url}/id/{self.state.store.org_id}/{user_id}"

    async def jwt_bearer(self, form: dict[str, Any]) -> Response:
        """The JWT bearer grant: verify the assertion, find its user, open a session (no refresh token)."""
        state = self.state
        try:
            app, username = verify_jwt_assertion(str(form.get("assertion", "")), self.apps, now=state.clock.now(),
                                                 audiences=self.audiences())
            users = await run_in_threadpool(state.store.find_by_external_id, "User", "Username", username)
            user = check_user_for_app(app, users[0] if users else None)
        except LoginFailed as exc:
            return json_response(oauth_error(exc.code, exc.message), 400)
        session = state.sessions.open(str(user["Id"]))
        return json_response({
            "access_token": session.token, "scope": app.scope, "instance_url": state.base_url,
            "id": self.identity_url(session.user_id), "token_type": "Bearer",
        })

    async def refresh(self, form: dict[str, Any], authorization: str) -> Response:
        """The refresh_token grant: a new access token for the user and app the refresh token stands for."""
        state = self.state
        try:
            grant = check_refresh(form, self.apps, self.refresh_tokens, authorization)
            user = await run_in_threadpool(state.store.user, grant.user_id)
            if user is None or not user.get("IsActive", True):
                raise LoginFailed("invalid_grant", EXPIRED_REFRESH_TOKEN)
        except LoginFailed as exc:
            return json_response(oauth_error(exc.code, exc.message), 400)
        app = self.apps.get(grant.client_id)
        session = state.sessions.open(grant.user_id)
        issued = str(int(state.clock.now().timestamp() * 1000))
        identity = self.identity_url(grant.user_id)
        return json_response({
            "access_token": session.token,
            "signature": token_signature(app.consumer_secret if app else None, identity, issued),
            "scope": f"refresh_token {app.scope if app else 'api'}", "instance_url": state.base_url,
            "id": identity, "token_type": "Bearer", "issued_at": issued,
        })

    async def userinfo(self, request: Request) -> Response:
        """``/services/oauth2/userinfo``: the OpenID Connect claims of the token's user, or 403 ``Bad_OAuth_Token``."""
        state = self.state
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip() if scheme.lower() in {"bearer", "oauth"} else ""
        if not token:
            params = dict(parse_qsl(request.url.query))
            if request.method == "POST":
                params.update(parse_qsl((await request.body()).decode("utf-8", "replace")))
            token = params.get("access_token") or params.get("oauth_token") or ""
        session = state.sessions.check(token) if token else None
        user = await run_in_threadpool(state.store.user, session.user_id) if session else None
        if user is None:
            return PlainTextResponse(BAD_OAUTH_TOKEN, 403)
        return json_response(userinfo(user, base_url=state.base_url, org_id=state.store.org_id))


class OAuthControls:
    """Test controls for the OAuth side, in front of ``EmulatorMiddleware``.

    ``POST /__emulator/connected-apps`` ``{"certificate": PEM, "consumer_key"?, "consumer_secret"?,
    "preauthorized_users"?}`` uploads a connected app's certificate (the JWT bearer flow);
    ``GET`` lists the apps, ``DELETE`` goes back to the demo app without a certificate.
    ``POST /__emulator/refresh-tokens`` ``{"client_id"?, "username"?}`` issues a refresh token as the
    web-server flow would once that user approved the app. Every other request goes to ``app``.
    """

    def __init__(self, app: ASGIApp, salesforce: SalesforceApp) -> None:
        self.app = app
        self.salesforce = salesforce

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a control request or pass the call on."""
        if scope["type"] != "http" or scope["path"].rstrip("/") not in {CONNECTED_APPS_CONTROL, REFRESH_TOKENS_CONTROL}:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            raw = await request.body()
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            if scope["path"].rstrip("/") == CONNECTED_APPS_CONTROL:
                response = self.connected_apps(request.method, body)
            else:
                response = await self.refresh_token(request.method, body)
        except ValueError as exc:
            response = JSONResponse({"error": str(exc)}, status_code=400)
        await response(scope, receive, send)

    def connected_apps(self, method: str, body: dict[str, Any]) -> Response:
        """Register, list or clear connected apps."""
        apps = self.salesforce.apps
        if method == "POST":
            certificate = body.get("certificate")
            if not isinstance(certificate, str):
                raise ValueError("give the app's PEM certificate as {'certificate': '-----BEGIN CERTIFICATE-----...'}")
            users = body.get("preauthorized_users")
            if users is not None and not (isinstance(users, list) and all(isinstance(u, str) for u in users)):
                raise ValueError("'preauthorized_users' must be a list of usernames")
            secret = body.get("consumer_secret")
            app = apps.register(str(body.get("consumer_key") or apps.credentials.client_id), certificate,
                                consumer_secret=str(secret) if secret is not None else None, preauthorized=users)
            return JSONResponse(next(a for a in apps.describe() if a["consumer_key"] == app.consumer_key), 201)
        if method == "DELETE":
            apps.clear()
        elif method != "GET":
            return JSONResponse({"error": "use GET, POST or DELETE"}, status_code=405)
        return JSONResponse({"connected_apps": apps.describe()})

    async def refresh_token(self, method: str, body: dict[str, Any]) -> Response:
        """Issue a refresh token for a user and connected app."""
        if method != "POST":
            return JSONResponse({"error": "use POST"}, status_code=405)
        state = self.salesforce.state
        client_id = str(body.get("client_id") or state.credentials.client_id)
        if self.salesforce.apps.get(client_id) is None:
            raise ValueError(f"no connected app with consumer key {client_id!r}")
        username = str(body.get("username") or state.credentials.username)
        users = await run_in_threadpool(state.store.find_by_external_id, "User", "Username", username)
        if not users:
            raise ValueError(f"no user {username!r} in the org")
        user_id = str(users[0]["Id"])
        token = self.salesforce.refresh_tokens.mint(client_id, user_id)
        return JSONResponse({"refresh_token": token, "client_id": client_id, "user_id": user_id,
                             "instance_url": state.base_url}, status_code=201)


def _is_version(text: str) -> bool:
    try:
        return float(text) >= 20.0
    except ValueError:
        return False


RECYCLE_BIN_CONTROL = f"{CONTROL_PREFIX}/recycle-bin"


class RecycleBinControl:
    """Test control in front of the app: ``POST /__emulator/recycle-bin`` ``{"ids"?: [...], "objects"?: [...]}``
    empties the org's recycle bin (of those records, of those objects' deleted records, or all), as a
    user emptying it in Setup would. The purged records are gone for ``queryAll``; ``getDeleted``
    still lists their deletions. Every other request goes to ``app``.
    """

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the control request or pass the call on."""
        if scope["type"] != "http" or scope["path"].rstrip("/") != RECYCLE_BIN_CONTROL:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        response: Response
        if request.method != "POST":
            response = JSONResponse({"error": "use POST"}, status_code=405)
        else:
            try:
                raw = await request.body()
                body = json.loads(raw) if raw.strip() else {}
                if not isinstance(body, dict):
                    raise ValueError("the body must be a JSON object")
                ids, objects = body.get("ids"), body.get("objects")
                for name, value in (("ids", ids), ("objects", objects)):
                    if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                        raise ValueError(f"'{name}' must be a list of strings")
                purged = await run_in_threadpool(self.state.store.empty_recycle_bin, ids, objects)
                response = JSONResponse({"purged": purged})
            except ValueError as exc:
                response = JSONResponse({"error": str(exc)}, status_code=400)
        await response(scope, receive, send)
