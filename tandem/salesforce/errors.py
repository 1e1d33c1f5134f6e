"""Classify simple-salesforce and transport failures as retryable or fatal sync errors."""

from __future__ import annotations

from typing import Any

import requests
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceError

from tandem.errors import FatalSyncError, RetryableSyncError, SyncError

RETRYABLE_CODES = frozenset({"REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW", "UNKNOWN_EXCEPTION"})


def _first_error(content: Any) -> tuple[str | None, str]:
    """The ``errorCode`` and ``message`` of a REST error body (a list of errors), when it has them."""
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return content[0].get("errorCode"), str(content[0].get("message", ""))
    if isinstance(content, dict):
        return content.get("errorCode") or content.get("error"), str(
            content.get("message") or content.get("error_description", "")
        )
    return None, ""


def classify(exc: BaseException) -> SyncError:
    """Turn an exception raised while calling Salesforce into a :class:`SyncError`.

    Retryable: timeouts, connection errors, HTTP 429 and 5xx, ``REQUEST_LIMIT_EXCEEDED`` and other
    transient codes (also when the login answers with one of them). Fatal: authentication,
    malformed requests, missing resources and the rest. Messages carry the error code and
    Salesforce's message, never request payloads or credentials.
    """
    if isinstance(exc, SyncError):
        return exc
    if isinstance(exc, requests.Timeout):
        return RetryableSyncError("Salesforce did not answer in time", code="TIMEOUT", system="crm")
    if isinstance(exc, requests.ConnectionError):
        return RetryableSyncError("the connection to Salesforce failed", code="CONNECTION_ERROR", system="crm")
    if isinstance(exc, SalesforceAuthenticationFailed):
        if str(exc.code) in RETRYABLE_CODES:
            return RetryableSyncError(f"Salesforce could not log in now: {exc.code}", code=str(exc.code), system="crm")
        return FatalSyncError(f"Salesforce refused the login: {exc.code}", code=str(exc.code), system="crm")
    if isinstance(exc, SalesforceError):
        code, message = _first_error(exc.content)
        status = int(exc.status)
        if code in RETRYABLE_CODES or status == 429 or status >= 500:
            return RetryableSyncError(
                message or f"Salesforce answered HTTP {status}", code=code or f"HTTP_{status}", system="crm"
            )
        return FatalSyncError(
            message or f"Salesforce answered HTTP {status}", code=code or f"HTTP_{status}", system="crm"
        )
    if isinstance(exc, requests.RequestException):
        return RetryableSyncError(f"the request to Salesforce failed: {type(exc).__name__}", code="REQUEST_ERROR",
                                  system="crm")
    return FatalSyncError(f"unexpected error talking to Salesforce: {type(exc).__name__}", code="UNEXPECTED",
                          system="crm")
