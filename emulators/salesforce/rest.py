"""The REST API's plumbing: a call, a reply, the emulator's state, and the route table.

Handlers are plain synchronous functions ``(state, call, match) -> Reply`` so the HTTP layer can run
them in a worker thread and ``composite`` can run subrequests through the same table.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from emulators.common.clock import EmulatorClock
from emulators.salesforce.auth import Credentials, SessionStore
from emulators.salesforce.cursors import QueryCursors
from emulators.salesforce.errors import SalesforceError, not_found
from emulators.salesforce.limits import ApiLimit
from emulators.salesforce.schema import ObjectDef
from emulators.salesforce.store import RecordStore

MIN_VERSION = 31.0
MAX_VERSION = 64.0
RELEASES = ["Summer '14", "Winter '15", "Spring '15", "Summer '15", "Winter '16", "Spring '16", "Summer '16",
            "Winter '17", "Spring '17", "Summer '17", "Winter '18", "Spring '18", "Summer '18", "Winter '19",
            "Spring '19", "Summer '19", "Winter '20", "Spring '20", "Summer '20", "Winter '21", "Spring '21",
            "Summer '21", "Winter '22", "Spring '22", "Summer '22", "Winter '23", "Spring '23", "Summer '23",
            "Winter '24", "Spring '24", "Summer '24", "Winter '25", "Spring '25", "Summer '25"]
VERSION_PATH = re.compile(r"^/services/data/v(\d+\.\d)(/.*)?$")
#: The first API version of resources newer than 31.0, by endpoint name (prefix); older versions answer 404
#: ``NOT_FOUND`` for them, as Salesforce does (each resource's "Available since" in the REST API guide).
RESOURCE_SINCE: dict[str, float] = {
    "composite": 38.0,
    "collections.upsert": 46.0,
    "collections.": 42.0,
    "bulk2.ingest.": 41.0,
    "bulk2.query.": 47.0,
}


@dataclass
class EmulatorState:
    """Everything the routes act on."""

    store: RecordStore
    cursors: QueryCursors
    sessions: SessionStore
    limit: ApiLimit
    clock: EmulatorClock
    credentials: Credentials
    base_url: str
    api_version: str
    is_sandbox: bool
    session_seconds: int


@dataclass
class Call:
    """One REST request, from the wire or a composite subrequest.

    ``path`` is what follows ``/services/data/vXX.X`` (starting with ``/`` or empty).
    """

    method: str
    version: str
    path: str
    query: Mapping[str, str]
    body: bytes
    headers: Mapping[str, str]
    user_id: str

    def json(self) -> Any:
        """The body parsed as JSON.

        Raises:
            SalesforceError: ``JSON_PARSER_ERROR`` with Salesforce's wording.
        """
        return parse_json(self.body)


@dataclass
class Reply:
    """A handler's answer: status, JSON body (``None`` for no content) and extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[EmulatorState, Call, "re.Match[str]"], Reply]


@dataclass(frozen=True)
class Route:
    """A REST route: methods, a path pattern (after the version) and the counters' endpoint name."""

    methods: frozenset[str]
    pattern: re.Pattern[str]
    endpoint: str
    handler: Handler


ROUTES: list[Route] = []


def route(methods: str, pattern: str, endpoint: str) -> Callable[[Handler], Handler]:
    """Register ``handler`` for ``methods`` (space-separated) on ``pattern`` (a regex for the path)."""

    def register(handler: Handler) -> Handler:
        ROUTES.append(Route(frozenset(methods.split()), re.compile(f"^{pattern}$"), endpoint, handler))
        return handler

    return register


def find_route(method: str, path: str) -> tuple[Route, re.Match[str]] | None:
    """The route for ``method`` and ``path`` (after the version), or ``None``."""
    for candidate in ROUTES:
        if method in candidate.methods:
            match = candidate.pattern.match(path)
            if match:
                return candidate, match
    return None


def supported(version: str) -> bool:
    """True for the API versions the emulator serves (31.0 to 64.0)."""
    return MIN_VERSION <= float(version) <= MAX_VERSION and version.endswith(".0")


def versions(base: str = "") -> list[dict[str, str]]:
    """``GET /services/data``: every served version with its release label."""
    return [
        {"label": RELEASES[n], "url": f"/services/data/v{MIN_VERSION + n:.1f}", "version": f"{MIN_VERSION + n:.1f}"}
        for n in range(int(MAX_VERSION - MIN_VERSION) + 1)
    ]


def since_version(endpoint: str) -> float:
    """The first API version serving ``endpoint`` (31.0 for everything older)."""
    for prefix, version in RESOURCE_SINCE.items():
        if endpoint == prefix or (prefix.endswith(".") and endpoint.startswith(prefix)):
            return version
    return MIN_VERSION


def dispatch(state: EmulatorState, call: Call) -> Reply:
    """Run ``call`` through the route table; ``SalesforceError`` becomes its error reply."""
    found = find_route(call.method, call.path)
    try:
        if found is None:
            if any(r.pattern.match(call.path) for r in ROUTES):
                raise SalesforceError(405, "METHOD_NOT_ALLOWED",
                                      f"HTTP Method '{call.method}' not allowed. Allowed are "
                                      + ",".join(sorted({m for r in ROUTES if r.pattern.match(call.path)
                                                         for m in r.methods})))
            raise not_found()
        if float(call.version) < since_version(found[0].endpoint):
            raise not_found()
        return found[0].handler(state, call, found[1])
    except SalesforceError as exc:
        return Reply(exc.status, exc.body())


def parse_json(body: bytes) -> Any:
    """Parse a request body as JSON, failing like Salesforce's parser.

    Raises:
        SalesforceError: ``JSON_PARSER_ERROR``.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        text = body.decode("utf-8", "replace")
        stripped = text.lstrip()
        if not stripped:
            message = "No content to map due to end-of-input at [line:1, column:0]"
        else:
            column = len(text) - len(stripped) + 1
            char = stripped[0]
            if char in "{[\"-0123456789tfn":
                message = f"Unexpected end-of-input or character at [line:1, column:{exc.pos + 1}]"
            else:
                message = (f"Unexpected character ('{char}' (code {ord(char)})): expected a valid value "
                           "(JSON String, Number, Array, Object or token 'null', 'true' or 'false') at "
                           f"[line:1, column:{column}]")
        raise SalesforceError(400, "JSON_PARSER_ERROR", message) from exc


def expect_object(data: Any, what: str = "SObject") -> dict[str, Any]:
    """``data`` when it is a JSON object, else ``JSON_PARSER_ERROR`` as Salesforce words it."""
    if not isinstance(data, dict):
        token = "START_ARRAY" if isinstance(data, list) else "VALUE_STRING"
        raise SalesforceError(400, "JSON_PARSER_ERROR",
                              f"Cannot deserialize instance of {what} from {token} value at [line:1, column:1]")
    return data


def sobject(state: EmulatorState, name: str) -> ObjectDef:
    """The object called ``name`` (case-insensitive), or 404 ``NOT_FOUND`` as the REST API answers."""
    obj = state.store.schema.object(name)
    if obj is None:
        raise not_found()
    return obj


def sobject_for_type(state: EmulatorState, name: Any) -> ObjectDef:
    """The object of a record's ``attributes.type``, or ``INVALID_TYPE``."""
    obj = state.store.schema.object(name) if isinstance(name, str) else None
    if obj is None:
        raise SalesforceError(400, "INVALID_TYPE", f"sObject type '{name}' is not supported.")
    return obj


def record_url(version: str, obj_name: str, record_id: str) -> str:
    """``/services/data/vXX.X/sobjects/X/id``."""
    return f"/services/data/v{version}/sobjects/{obj_name}/{record_id}"
