"""``/__emulator/rate-limits``: read or change the rate limits while the emulator runs (GET, POST
``{"interval_max": n, "daily_max": n, "search_per_second": n}``; 0 turns a limit off; ``{"reset": true}`` forgets
the calls counted so far)."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from emulators.common.control import CONTROL_PREFIX
from emulators.hubspot.limits import RateLimits

PATH = f"{CONTROL_PREFIX}/rate-limits"


class RateLimitControl:
    """Answers ``/__emulator/rate-limits``; passes every other request on."""

    def __init__(self, app: ASGIApp, limits: RateLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != "http" or scope["path"].rstrip("/") != PATH:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        if request.method == "POST":
            raw = await request.body()
            try:
                body = json.loads(raw) if raw.strip() else {}
                if not isinstance(body, dict):
                    raise ValueError("the body must be a JSON object")
                if body.pop("reset", False):
                    self.limits.reset()
                unknown = set(body) - {"interval_max", "daily_max", "search_per_second"}
                if unknown:
                    raise ValueError(f"unknown option(s): {', '.join(sorted(unknown))}")
                self.limits.configure(**{k: int(v) for k, v in body.items()})
            except (ValueError, TypeError) as exc:
                await JSONResponse({"error": str(exc)}, status_code=400)(scope, receive, send)
                return
        await JSONResponse(self.limits.settings())(scope, receive, send)
