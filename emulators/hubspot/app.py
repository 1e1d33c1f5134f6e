"""The emulator's HTTP application: the private-app token, the rate limits and their headers, the routes,
HubSpot's error bodies, endpoint names for the counters and injected faults."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import Receive, Scope, Send

from emulators.common.faults import FaultKind, FaultRule
from emulators.hubspot import (
    routes_account,
    routes_associations,
    routes_objects,
    routes_owners,
    routes_properties,
)
from emulators.hubspot.errors import AUTH_MESSAGE, HubSpotError, correlation_id, json_response
from emulators.hubspot.limits import Refusal
from emulators.hubspot.state import HubSpotState

log = logging.getLogger("emulators.hubspot")

Handler = Callable[[HubSpotState, Request], Awaitable[Response]]
V3, V4 = "/crm/v3", "/crm/v4"

#: (endpoint name, path, methods, handler); the more specific paths first.
ROUTES: list[tuple[str, str, list[str], Handler]] = [
    ("objects.search", f"{V3}/objects/{{objectType}}/search", ["POST"], routes_objects.search_objects),
    ("objects.batch", f"{V3}/objects/{{objectType}}/batch/{{action}}", ["POST"], routes_objects.batch),
    ("objects.list", f"{V3}/objects/{{objectType}}", ["GET"], routes_objects.list_objects),
    ("objects.create", f"{V3}/objects/{{objectType}}", ["POST"], routes_objects.create_object),
    ("objects.get", f"{V3}/objects/{{objectType}}/{{objectId}}", ["GET"], routes_objects.get_object),
    ("objects.update", f"{V3}/objects/{{objectType}}/{{objectId}}", ["PATCH"], routes_objects.update_object),
    ("objects.archive", f"{V3}/objects/{{objectType}}/{{objectId}}", ["DELETE"], routes_objects.archive_object),
    ("owners.list", f"{V3}/owners", ["GET"], routes_owners.list_owners),
    ("account.details", "/account-info/v3/details", ["GET"], routes_account.account_details),
    ("properties.list", f"{V3}/properties/{{objectType}}", ["GET"], routes_properties.list_properties),
    ("properties.create", f"{V3}/properties/{{objectType}}", ["POST"], routes_properties.create_property),
    ("properties.get", f"{V3}/properties/{{objectType}}/{{propertyName}}", ["GET"], routes_properties.get_property),
    ("associations.putDefault",
     f"{V4}/objects/{{fromObjectType}}/{{fromObjectId}}/associations/default/{{toObjectType}}/{{toObjectId}}",
     ["PUT"], routes_associations.put_default),
    ("associations.put", f"{V4}/objects/{{fromObjectType}}/{{fromObjectId}}/associations/{{toObjectType}}/"
     "{toObjectId}", ["PUT"], routes_associations.put_labeled),
    ("associations.delete", f"{V4}/objects/{{objectType}}/{{objectId}}/associations/{{toObjectType}}/{{toObjectId}}",
     ["DELETE"], routes_associations.delete_association),
    ("associations.list", f"{V4}/objects/{{objectType}}/{{objectId}}/associations/{{toObjectType}}", ["GET"],
     routes_associations.list_associations),
    ("associations.batch", f"{V4}/associations/{{fromObjectType}}/{{toObjectType}}/batch/{{action:path}}", ["POST"],
     routes_associations.batch),
]


_MATCHERS = [(name, compile_path(path)[0], set(methods), handler) for name, path, methods, handler in ROUTES]


def find(scope: Scope) -> tuple[str, Handler, dict[str, str]] | None:
    """The route for a request: its endpoint name, handler and path parameters."""
    for name, pattern, methods, handler in _MATCHERS:
        match = pattern.match(scope["path"])
        if match is not None and scope["method"] in methods:
            return name, handler, match.groupdict()
    return None


def classify(scope: Scope) -> str:
    """The stable endpoint name of a request, for the counters and fault rules (``objects.batch.upsert``...)."""
    found = find(scope)
    if found is None:
        return "unknown"
    name, _, params = found
    return f"{name}.{params['action'].replace('/', '.')}" if "action" in params else name


def rate_limited(refusal: Refusal, app_id: str) -> Response:
    """HubSpot's 429: the ``RATE_LIMIT`` body, the rate-limit headers and ``Retry-After``."""
    return json_response(refusal.body(app_id), 429, {**refusal.headers, "Retry-After": str(refusal.retry_after)})


def fault_response(rule: FaultRule, scope: Scope) -> Response:
    """HubSpot-like bodies for injected faults: a ten-secondly 429, or a 5xx with ``category`` (or ``rule.code``)."""
    if rule.kind is FaultKind.HTTP_429:
        return rate_limited(Refusal("TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit.", 1,
                                    {"X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
                                     "X-HubSpot-RateLimit-Remaining": "0"}), "injected")
    status = 503 if rule.kind is FaultKind.HTTP_503 else 500
    message = "Service Unavailable" if status == 503 else "internal error"
    return HubSpotError(status, rule.code or ("SERVICE_UNAVAILABLE" if status == 503 else "INTERNAL_ERROR"),
                        message).response()


class HubSpotApp:
    """The ASGI application (wrap it in ``EmulatorMiddleware``)."""

    def __init__(self, state: HubSpotState) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one request; an unexpected failure is logged and answered 500 in HubSpot's shape."""
        request = Request(scope, receive)
        try:
            response = await self.handle(request)
        except HubSpotError as exc:
            response = exc.response(self.state.limits.headers())
        except Exception:
            log.exception("unexpected error on %s %s", scope["method"], scope["path"])
            response = json_response({"status": "error", "message": "internal error",
                                      "correlationId": correlation_id(), "category": "INTERNAL_ERROR"}, 500)
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        """Authenticate, charge the rate limits, route."""
        found = find(request.scope)
        if found is None:
            return HubSpotError(404, "OBJECT_NOT_FOUND", "resource not found").response()
        name, handler, params = found
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token.strip() != self.state.token:
            return HubSpotError(401, "INVALID_AUTHENTICATION", AUTH_MESSAGE).response()
        search = name == "objects.search"
        refusal = self.state.limits.charge(search=search)
        if refusal is not None:
            return rate_limited(refusal, self.state.app_id)
        request.scope["path_params"] = params
        response = await handler(self.state, request)
        if not search:
            response.headers.update(self.state.limits.headers())
        return response
