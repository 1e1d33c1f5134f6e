"""The ``/__emulator/`` test-control routes, the same for every emulator, and the middleware that
counts calls and injects faults on every other route."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from emulators.common.clock import EmulatorClock
from emulators.common.counters import CallCounters
from emulators.common.faults import FaultInjector, FaultKind, FaultRule

CONTROL_PREFIX = "/__emulator"
TRANSPORT_KEY = "tandem.transport"

Classifier = Callable[[Scope], str]
FaultResponder = Callable[[FaultRule, Scope], Response]


@dataclass
class EmulatorControls:
    """What the control routes act on. ``reset`` and ``seed`` are the emulator's own functions.

    ``reset(seed)`` wipes the data (then loads ``seed`` unless it is ``None`` or ``"none"``);
    ``seed(name)`` loads a named data set. Both return a JSON-able summary.
    """

    reset: Callable[[str | None], dict[str, Any]]
    seed: Callable[[str], dict[str, Any]]
    info: Callable[[], dict[str, Any]]
    #: ``snapshot(path)``: save a consistent copy of the data to ``path``.
    snapshot: Callable[[str], dict[str, Any]] | None = None
    #: ``refresh(source, types)``: a sandbox refresh from a snapshot or another instance's data directory.
    refresh: Callable[[str, list[str] | None], dict[str, Any]] | None = None
    clock: EmulatorClock = field(default_factory=EmulatorClock)
    faults: FaultInjector = field(default_factory=FaultInjector)
    counters: CallCounters = field(default_factory=CallCounters)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


def control_router(controls: EmulatorControls) -> Router:
    """Build the ``/__emulator`` routes: health, reset, seed, clock, faults, counters, snapshot and refresh."""

    def guarded(
        handler: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def wrapper(request: Request) -> Response:
            try:
                return await handler(request)
            except (ValueError, json.JSONDecodeError) as exc:
                return _error(400, str(exc))

        return wrapper

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", **controls.info()})

    async def reset(request: Request) -> Response:
        body = await _json_body(request)
        controls.faults.clear()
        controls.counters.reset()
        result = await asyncio.to_thread(controls.reset, body.get("seed"))
        return JSONResponse(result)

    async def seed(request: Request) -> Response:
        body = await _json_body(request)
        name = body.get("seed") or body.get("name")
        if not name:
            raise ValueError("give the data set to load as {'seed': 'demo'}")
        return JSONResponse(await asyncio.to_thread(controls.seed, str(name)))

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            body = await _json_body(request)
            if "set" in body:
                controls.clock.set(datetime.fromisoformat(str(body["set"]).replace("Z", "+00:00")))
            elif "advance_seconds" in body:
                controls.clock.advance(float(body["advance_seconds"]))
            elif body.get("reset"):
                controls.clock.reset()
            else:
                raise ValueError("post {'set': ISO-8601}, {'advance_seconds': n} or {'reset': true}")
        now = controls.clock.now()
        return JSONResponse(
            {"now": now.isoformat(timespec="milliseconds"), "offset_seconds": controls.clock.offset_seconds}
        )

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            rule = controls.faults.add_from_json(await _json_body(request))
            return JSONResponse(rule.to_json(), status_code=201)
        if request.method == "DELETE":
            controls.faults.clear()
        return JSONResponse({"faults": [r.to_json() for r in controls.faults.rules()]})

    async def snapshot(request: Request) -> Response:
        if controls.snapshot is None:
            return _error(404, "this emulator cannot save snapshots")
        path = (await _json_body(request)).get("path")
        if not path:
            raise ValueError("give the file to write as {'path': '/some/file.sqlite3'}")
        return JSONResponse(await asyncio.to_thread(controls.snapshot, str(path)))

    async def refresh(request: Request) -> Response:
        if controls.refresh is None:
            return _error(404, "this emulator cannot perform a sandbox refresh")
        body = await _json_body(request)
        source, types = body.get("source"), body.get("objects")
        if not source:
            raise ValueError("give the source as {'source': 'a snapshot file or another emulator's data directory'}")
        if types is not None and not (isinstance(types, list) and all(isinstance(t, str) for t in types)):
            raise ValueError("'objects' must be a list of names")
        return JSONResponse(await asyncio.to_thread(controls.refresh, str(source), types))

    async def counters(request: Request) -> Response:
        if request.method == "DELETE":
            controls.counters.reset()
        return JSONResponse(controls.counters.snapshot())

    return Router(
        routes=[
            Route(f"{CONTROL_PREFIX}/health", guarded(health), methods=["GET"]),
            Route(f"{CONTROL_PREFIX}/reset", guarded(reset), methods=["POST"]),
            Route(f"{CONTROL_PREFIX}/seed", guarded(seed), methods=["POST"]),
            Route(f"{CONTROL_PREFIX}/clock", guarded(clock), methods=["GET", "POST"]),
            Route(f"{CONTROL_PREFIX}/faults", guarded(faults), methods=["GET", "POST", "DELETE"]),
            Route(f"{CONTROL_PREFIX}/counters", guarded(counters), methods=["GET", "DELETE"]),
            Route(f"{CONTROL_PREFIX}/snapshot", guarded(snapshot), methods=["POST"]),
            Route(f"{CONTROL_PREFIX}/refresh", guarded(refresh), methods=["POST"]),
        ]
    )


async def drop_connection(scope: Scope) -> None:
    """Close the client's connection at once with a TCP reset, sending no response."""
    transport = scope.get("extensions", {}).get(TRANSPORT_KEY)
    if transport is None:
        raise RuntimeError("the server does not expose its transport; run it with emulators.common.server")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    # Let the server see the connection lost, so it does not try to answer on it.
    await asyncio.sleep(0.05)


async def _discard(message: Any) -> None:
    """An ASGI ``send`` that throws the response away (the write still happened)."""


def default_fault_response(rule: FaultRule, scope: Scope) -> Response:
    """A plain error response for HTTP-status faults."""
    status = {FaultKind.HTTP_500: 500, FaultKind.HTTP_503: 503, FaultKind.HTTP_429: 429}.get(rule.kind, 500)
    return Response(f"injected fault: {rule.kind.value}", status_code=status, media_type="text/plain")


class EmulatorMiddleware:
    """Routes ``/__emulator/`` to the control router; for every other request counts the call
    under its endpoint name and applies the fault rules that fire for it."""

    def __init__(
        self,
        app: ASGIApp,
        controls: EmulatorControls,
        classify: Classifier,
        fault_response: FaultResponder = default_fault_response,
    ) -> None:
        self.app = app
        self.controls = controls
        self.classify = classify
        self.fault_response = fault_response
        self.control = control_router(controls)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith(CONTROL_PREFIX + "/"):
            await self.control(scope, receive, send)
            return
        endpoint = self.classify(scope)
        self.controls.counters.hit(endpoint)
        subject = f"{scope['method']} {scope['path']} {endpoint}"
        for rule in self.controls.faults.pick(subject):
            if rule.kind is FaultKind.LATENCY:
                await asyncio.sleep(rule.latency_ms / 1000)
            elif rule.kind is FaultKind.RESET:
                await drop_connection(scope)
                return
            elif rule.kind is FaultKind.COMMIT_THEN_DROP:
                await self.app(scope, receive, _discard)
                await drop_connection(scope)
                return
            else:
                await self.fault_response(rule, scope)(scope, receive, send)
                return
        await self.app(scope, receive, send)
