"""HTTP calls to HubSpot's CRM API: the private-app token, a timeout on every call, call-level retries.

Every call Tandem makes to HubSpot is safe to repeat (reads, searches, upserts by a unique property, updates by
id, archives, default associations), so a transient failure (HTTP 429, 502, 503, 504, a timeout, a lost
connection) is retried through :class:`~tandem.retrying.RetryPolicy`, after HubSpot's ``Retry-After`` when it
sent one. The token lives only in the ``Authorization`` header of each request: it is not in the transport's
repr, and :func:`~tandem.hubspot.errors.scrub` removes it from every message that leaves.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import requests
from pydantic import SecretStr

from tandem.errors import RetryableSyncError
from tandem.hubspot.errors import TRANSIENT_STATUSES, classify_exception, classify_response
from tandem.retrying import RetryPolicy

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.hubapi.com"
DEFAULT_TIMEOUT = (10.0, 60.0)
DEFAULT_RETRY = RetryPolicy()

Timeout = tuple[float, float]


class HubSpotTransport:
    """Sends JSON requests to one HubSpot portal's API.

    Args:
        token: the private app's access token.
        base_url: the API's origin (``https://api.hubapi.com``, or an emulator's URL).
        ca_bundle: a CA file to trust instead of the system's (an emulator's CA).
        timeout: the (connect, read) timeout of every request, in seconds.
        retry: the call-level retries of transient failures.
    """

    def __init__(
        self,
        token: SecretStr,
        *,
        base_url: str = DEFAULT_BASE_URL,
        ca_bundle: str | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
        if min(timeout) <= 0:
            raise ValueError("timeouts must be more than 0 seconds (every HubSpot call needs a timeout)")
        self._token = token
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = retry
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = ca_bundle or True
        self.session.headers.update({"Accept": "application/json"})

    def __repr__(self) -> str:
        return f"HubSpotTransport(base_url={self.base_url!r})"

    def request(
        self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
        allow: frozenset[int] = frozenset(),
    ) -> Any:
        """Send one request (again while it fails transiently) and return its JSON answer (``None`` when empty).

        Args:
            method: the HTTP method.
            path: the path below the base URL (``/crm/v3/objects/contacts/search``).
            json: the request body.
            params: the query string.
            allow: error statuses returned as answers instead of raised (a batch read's 404 when nothing exists).

        Raises:
            RetryableSyncError: a transient failure the retries did not settle (``attempts`` set), or a 5xx.
            FatalSyncError: a refused request (authentication, scopes, validation), with HubSpot's category.
        """
        secret = self._token.get_secret_value()
        url = f"{self.base_url}{path}"

        def attempt() -> Any:
            try:
                response = self.session.request(
                    method, url, json=json, params=params, timeout=self.timeout,
                    headers={"Authorization": f"Bearer {secret}"},
                )
            except requests.RequestException as exc:
                raise classify_exception(exc) from None
            if response.status_code >= 400 and response.status_code not in allow:
                raise classify_response(response, secret)
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                raise RetryableSyncError(
                    f"HubSpot answered HTTP {response.status_code} without JSON", code="BAD_RESPONSE", system="crm",
                ) from None

        return self.retry.run(f"{method} {path}", attempt, retry_on=_transient)

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()


def _transient(exc: BaseException) -> bool:
    """A failure worth the same call again within seconds (every call here is safe to repeat)."""
    if not isinstance(exc, RetryableSyncError):
        return False
    return exc.code in {"TIMEOUT", "CONNECTION_ERROR"} or exc.code in {f"HTTP_{s}" for s in TRANSIENT_STATUSES}
