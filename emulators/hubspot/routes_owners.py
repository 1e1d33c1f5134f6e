"""``GET /crm/v3/owners``: the portal's users who can own records (``hubspot_owner_id``), filterable by e-mail."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from emulators.hubspot.errors import json_response, validation
from emulators.hubspot.seed import owners
from emulators.hubspot.state import HubSpotState

OWNERS_MAX = 500


async def list_owners(state: HubSpotState, request: Request) -> Response:
    """The owners by id, ``after`` the id to start at, ``email`` to find one."""
    try:
        limit = int(request.query_params.get("limit", 100))
        after = int(request.query_params.get("after") or 0)
    except ValueError:
        raise validation("limit and after must be integers") from None
    if not 1 <= limit <= OWNERS_MAX:
        raise validation(f"limit must be between 1 and {OWNERS_MAX}; got {limit}")
    email = request.query_params.get("email", "").lower()
    rows = [o for o in owners() if int(o["id"]) >= after and (not email or o["email"].lower() == email)]
    body: dict[str, Any] = {"results": rows[:limit]}
    if len(rows) > limit:
        body["paging"] = {"next": {"after": rows[limit]["id"], "link": f"?after={rows[limit]['id']}"}}
    return json_response(body)
