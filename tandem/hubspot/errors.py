"""Classify HubSpot's answers and transport failures as retryable or fatal sync errors.

HubSpot's error body (CRM API v3) is ``{"status": "error", "message": ..., "category": ..., "correlationId": ...}``;
``category`` is the stable code (``VALIDATION_ERROR``, ``OBJECT_NOT_FOUND``, ``RATE_LIMITS``,
``INVALID_AUTHENTICATION``, ``MISSING_SCOPES`` ...). Transient answers (HTTP 429, 502, 503, 504) carry the code
``HTTP_<status>`` so :mod:`tandem.retrying` recognises them, with HubSpot's category in the message. Messages
never hold the access token: :func:`scrub` removes it from any text that leaves the transport.
"""

from __future__ import annotations

import json
from typing import Any

import requests

from tandem.errors import FatalSyncError, RetryableSyncError, SyncError
from tandem.retrying import retry_after_seconds

SYSTEM = "crm"
#: Answers that refuse a request without processing it, or a gateway that lost it: worth the same call again.
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
#: Seconds to wait after a 429 that names no wait (HubSpot's search limit counts per second).
RATE_LIMIT_WAIT = 1.0
#: The code of a spent daily allowance, which :mod:`tandem.retrying` leaves to the next scheduled run.
DAILY_LIMIT_CODE = "REQUEST_LIMIT_EXCEEDED"
#: How much of HubSpot's message an error keeps.
MAX_MESSAGE = 500
#: What stands for the access token in a message that quoted it.
REDACTED_TOKEN = "[token]"  # noqa: S105 - a placeholder, not a secret


def scrub(text: str, secret: str | None) -> str:
    """``text`` without ``secret`` (the access token), cut to :data:`MAX_MESSAGE` characters."""
    if secret:
        text = text.replace(secret, REDACTED_TOKEN)
    return text[:MAX_MESSAGE]


def error_body(response: requests.Response) -> dict[str, Any]:
    """The JSON error body of ``response`` (an empty dict when it has none)."""
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


def classify_response(response: requests.Response, secret: str | None = None) -> SyncError:
    """Turn an HTTP error answer (status 400 or more) into a :class:`SyncError`.

    Retryable: 429 (``Retry-After`` kept; the daily limit as ``REQUEST_LIMIT_EXCEEDED``, left to the next run),
    5xx. Fatal: the rest, with HubSpot's ``category`` as the code (``HTTP_<status>`` when the body has none).
    """
    status = response.status_code
    body = error_body(response)
    # A rate-limit answer names its kind in errorType (RATE_LIMIT) and its policy (SECONDLY, DAILY ...).
    category = str(body.get("category") or body.get("errorType") or "")
    if body.get("policyName"):
        category = f"{category} ({body['policyName']})"
    message = scrub(str(body.get("message") or f"HubSpot answered HTTP {status}"), secret)
    if category:
        message = f"{category}: {message}"
    if status == 429 and body.get("policyName") == "DAILY":
        # The daily allowance is spent: it clears at midnight, so neither retry level tries again (tandem.retrying).
        return RetryableSyncError(message, code=DAILY_LIMIT_CODE, system=SYSTEM,
                                  retry_after=retry_after_seconds(response.headers))
    if status in TRANSIENT_STATUSES:
        retry_after = retry_after_seconds(response.headers)
        if status == 429 and retry_after is None:
            # The search API's secondly limit answers without Retry-After: its window is one second.
            retry_after = RATE_LIMIT_WAIT
        return RetryableSyncError(message, code=f"HTTP_{status}", system=SYSTEM, retry_after=retry_after)
    if status >= 500:
        return RetryableSyncError(message, code=f"HTTP_{status}", system=SYSTEM)
    return FatalSyncError(message, code=category or f"HTTP_{status}", system=SYSTEM)


def classify_exception(exc: BaseException) -> SyncError:
    """Turn an exception raised while calling HubSpot into a :class:`SyncError` (never quoting the request)."""
    if isinstance(exc, SyncError):
        return exc
    if isinstance(exc, requests.Timeout):
        return RetryableSyncError("HubSpot did not answer in time", code="TIMEOUT", system=SYSTEM)
    if isinstance(exc, requests.ConnectionError):
        return RetryableSyncError("the connection to HubSpot failed", code="CONNECTION_ERROR", system=SYSTEM)
    if isinstance(exc, requests.RequestException):
        return RetryableSyncError(f"the request to HubSpot failed: {type(exc).__name__}", code="REQUEST_ERROR",
                                  system=SYSTEM)
    return FatalSyncError(f"unexpected error talking to HubSpot: {type(exc).__name__}", code="UNEXPECTED",
                          system=SYSTEM)
