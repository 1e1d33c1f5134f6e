"""What every route works with: the store, the clock, the rate limits and the portal's identity."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from emulators.common.clock import EmulatorClock
from emulators.hubspot.errors import validation
from emulators.hubspot.limits import RateLimits
from emulators.hubspot.store import HubSpotStore

#: The demo portal's ids (written to server.json with the access token, like the other emulators' logins).
DEMO_PORTAL_ID = 24_681_357
DEMO_APP_ID = "3141592"


@dataclass
class HubSpotState:
    """The emulator's state, shared by the routes."""

    store: HubSpotStore
    clock: EmulatorClock
    limits: RateLimits
    token: str = field(default_factory=lambda: f"pat-emulator-{secrets.token_hex(16)}")
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
