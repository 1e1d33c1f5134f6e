"""``GET /account-info/v3/details``: the portal's id, account type, time zone and currency (HubSpot's Account
Information API), which Tandem reads to know which portal it talks to and whether it is a sandbox."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from emulators.hubspot.errors import json_response
from emulators.hubspot.state import HubSpotState

#: The account types HubSpot reports (``accountType``).
ACCOUNT_TYPES = ("STANDARD", "SANDBOX", "DEVELOPER_TEST", "APP_DEVELOPER")


async def account_details(state: HubSpotState, request: Request) -> Response:
    """The portal's details, in HubSpot's shape."""
    return json_response({
        "portalId": state.portal_id, "accountType": state.account_type, "timeZone": "US/Eastern",
        "companyCurrency": "USD", "additionalCurrencies": [], "utcOffset": "-05:00",
        "utcOffsetMilliseconds": -18_000_000, "uiDomain": "app.hubspot.com", "dataHostingLocation": "na1",
    })
