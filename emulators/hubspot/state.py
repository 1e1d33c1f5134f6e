"""What every route works with: the store, the clock, the rate limits and the portal's identity."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from emulators.common.clock import EmulatorClock
from emulators.hubspot.errors import validation
from emulators.hubspot.limits import RateLimits
from emulators.hubspot.store import HubSpotStore

#: The demo portal's private-app access token and ids (written to server.json, like the other emulators' logins).
DEMO_TOKEN = "pat-na1-7a3c2e10-5b4d-4f6e-9a8b-0c1d2e3f4a5b"  # noqa: S105 - the emulator's published demo token
DEMO_PORTAL_ID = 24_681_357
DEMO_APP_ID = "3141592"


@dataclass
class HubSpotState:
    """The emulator's state, shared by the routes."""

    store: HubSpotStore
    clock: EmulatorClock
    limits: RateLimits
    token: str = DEMO_TOKEN
    portal_id: int = DEMO_PORTAL_ID
    app_id: str = DEMO_APP_ID
    account_type: str = "STANDARD"


async def read_body(request: Request) -> Any:
    """The request body parsed as JSON (``{}`` when empty).

    Raises:
        HubSpotError: 400 when the body is not JSON.
    """
    raw = await request.body()
    try:
        return json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as exc:
        raise validation(f"Invalid input JSON on line {exc.lineno}, column {exc.colno}: {exc.msg}") from None


async def read_json(request: Request) -> dict[str, Any]:
    """The request body as a JSON object.

    Raises:
        HubSpotError: 400 when the body is not a JSON object.
    """
    data = await read_body(request)
    if not isinstance(data, dict):
        raise validation("Invalid input JSON: the body must be a JSON object")
    return data
