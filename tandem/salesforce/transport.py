"""The HTTP session Tandem gives simple-salesforce: a trusted CA bundle, a default timeout on every
request, call-level retries of transient failures, and (optionally) a login host of our choosing.

Retries (:class:`~tandem.retrying.RetryPolicy`, see :mod:`tandem.retrying`): an answer refusing the request
(HTTP 429 or 503, the request was not processed) and a connection that could not be opened are retried for
every request, after the answer's ``Retry-After`` when it has one. A read timeout or a connection lost after
the request was sent is retried only for requests that are safe to repeat: ``GET``, ``HEAD``, ``OPTIONS``,
``PUT``, ``DELETE``, the login calls and sObject Collections retrieve (a read sent as a ``POST``). A lost
answer to a write (``PATCH``, ``POST``) is left to the Prefect task, whose pass reads the records again before
writing. When the retries run out the transport raises a :class:`~tandem.errors.RetryableSyncError` with
``attempts``; a failure it did not retry reaches simple-salesforce unchanged (an answer, or the ``requests``
exception).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from tandem.errors import RetryableSyncError
from tandem.retrying import RetryPolicy, retry_after_seconds

LOGIN_ORIGINS = ("https://login.salesforce.com", "https://test.salesforce.com")
DEFAULT_TIMEOUT = (10.0, 120.0)
#: The call-level retries of every Salesforce request (3 calls, at most a minute of waiting).
DEFAULT_RETRY = RetryPolicy()
#: Answers that refuse a request without processing it.
REFUSED_STATUSES = frozenset({429, 503})
#: Methods a lost answer may be repeated for (RFC 9110's idempotent methods).
REPEATABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Login calls (POST), safe to repeat: the SOAP login and the OAuth token endpoint.
LOGIN_PATHS = ("/services/Soap/u/", "/services/Soap/c/", "/services/oauth2/token")
#: sObject Collections retrieve: a read sent as ``POST composite/sobjects/{type}`` (a create has no type).
COLLECTIONS_RETRIEVE = re.compile(r"/composite/sobjects/[^/]+$")

Timeout = float | tuple[float, float]


class _Refused(RetryableSyncError):
    """An answer refusing the request (429/503), kept so that it can be handed on when not retried."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(
            f"Salesforce answered HTTP {response.status_code}", code=_error_code(response), system="crm",
            retry_after=retry_after_seconds(response.headers),
        )
        self.response = response


class _Unreachable(RetryableSyncError):
    """A request that got no answer; ``repeatable`` when sending it again cannot apply it twice."""

    def __init__(self, exc: requests.RequestException, *, code: str, repeatable: bool) -> None:
        super().__init__(f"Salesforce did not answer ({type(exc).__name__})", code=code, system="crm")
        self.original = exc
        self.repeatable = repeatable


def _error_code(response: requests.Response) -> str:
    """The ``errorCode`` of a REST error answer, else ``HTTP_<status>``."""
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError):
        body = None
    if isinstance(body, list) and body and isinstance(body[0], dict) and body[0].get("errorCode"):
        return str(body[0]["errorCode"])
    return f"HTTP_{response.status_code}"


def _repeatable(request: requests.PreparedRequest) -> bool:
    """Whether sending ``request`` twice cannot change more than sending it once."""
    method = (request.method or "").upper()
    path = urlsplit(request.url or "").path
    return method in REPEATABLE_METHODS or (
        method == "POST" and (any(part in path for part in LOGIN_PATHS) or bool(COLLECTIONS_RETRIEVE.search(path)))
    )


def _worth_repeating(exc: BaseException) -> bool:
    return isinstance(exc, _Refused) or (isinstance(exc, _Unreachable) and exc.repeatable)


class TimeoutAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` that applies ``timeout`` to every request sent without one and retries transient
    failures with ``retry`` (see the module's docstring)."""

    def __init__(self, timeout: Timeout = DEFAULT_TIMEOUT, *, retry: RetryPolicy = DEFAULT_RETRY,
                 **kwargs: Any) -> None:
        self.timeout = timeout
        self.retry = retry
        super().__init__(**kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        """Send ``request`` (with the default timeout when the caller gave none), again while it fails transiently.

        Raises:
            RetryableSyncError: the failure that ended the retries, with ``attempts`` (2 or more).
            requests.RequestException: a failure that was not retried, as ``requests`` raised it.
        """
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        repeatable = _repeatable(request)

        def attempt() -> requests.Response:
            try:
                response = HTTPAdapter.send(self, request, **kwargs)
            except requests.ConnectTimeout as exc:  # never connected: nothing was sent
                raise _Unreachable(exc, code="TIMEOUT", repeatable=True) from exc
            except requests.Timeout as exc:
                raise _Unreachable(exc, code="TIMEOUT", repeatable=repeatable) from exc
            except requests.ConnectionError as exc:
                raise _Unreachable(exc, code="CONNECTION_ERROR", repeatable=repeatable) from exc
            if response.status_code in REFUSED_STATUSES:
                raise _Refused(response)
            return response

        try:
            return self.retry.run(f"{request.method} {urlsplit(request.url or '').path}", attempt,
                                  retry_on=_worth_repeating)
        except _Refused as exc:
            if exc.attempts <= 1:
                return exc.response
            raise RetryableSyncError(str(exc.args[0]), code=exc.code, system="crm", retry_after=exc.retry_after,
                                     attempts=exc.attempts) from None
        except _Unreachable as exc:
            if exc.attempts <= 1:
                raise exc.original from None
            raise RetryableSyncError(str(exc.args[0]), code=exc.code, system="crm",
                                     attempts=exc.attempts) from exc.original


class LoginRedirectAdapter(TimeoutAdapter):
    """Sends requests for Salesforce's login hosts to ``login_url`` (scheme, host and port replaced).

    Args:
        login_url: where to log in instead, e.g. ``https://127.0.0.1:8443``.
        timeout: the default (connect, read) timeout.
    """

    def __init__(self, login_url: str, timeout: Timeout = DEFAULT_TIMEOUT, *, retry: RetryPolicy = DEFAULT_RETRY,
                 **kwargs: Any) -> None:
        target = urlsplit(login_url)
        if target.scheme not in {"http", "https"} or not target.netloc:
            raise ValueError(f"login_url must be an absolute http(s) URL, got {login_url!r}")
        self.scheme = target.scheme
        self.netloc = target.netloc
        super().__init__(timeout, retry=retry, **kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        """Rewrite the request's origin to the login URL's, then send it."""
        parts = urlsplit(request.url or "")
        request.url = urlunsplit((self.scheme, self.netloc, parts.path, parts.query, parts.fragment))
        return super().send(request, **kwargs)


def build_session(
    *,
    ca_bundle: str | None = None,
    login_url: str | None = None,
    my_domain: str | None = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> requests.Session:
    """Build the ``requests.Session`` to pass to ``simple_salesforce.Salesforce(session=...)``.

    Args:
        ca_bundle: a CA file to trust instead of the system's (for example an emulator's CA).
        login_url: send logins to this origin instead of ``login``/``test.salesforce.com``;
            ``None`` logs in at Salesforce.
        my_domain: also redirect ``https://{my_domain}.salesforce.com`` to ``login_url`` (the
            client-credentials flow logs in at the org's My Domain, e.g. ``acme.my``).
        timeout: the default (connect, read) timeout of every request, in seconds.
        retry: the call-level retries of transient failures (``tandem.retrying.NO_RETRY`` turns them off).

    Returns:
        A session that ignores proxy and CA settings from the environment (``trust_env`` off),
        so ``ca_bundle`` is what it trusts.

    Example:
        >>> session = build_session(ca_bundle="/data/sf/ca.pem", login_url="https://127.0.0.1:8443")
        >>> sf = Salesforce(username=u, password=p, security_token=t, domain="login", session=session)
    """
    session = requests.Session()
    session.trust_env = False
    session.verify = ca_bundle if ca_bundle else True
    default = TimeoutAdapter(timeout, retry=retry)
    session.mount("https://", default)
    session.mount("http://", default)
    if login_url:
        redirect = LoginRedirectAdapter(login_url, timeout, retry=retry)
        origins = [*LOGIN_ORIGINS, *([f"https://{my_domain}.salesforce.com"] if my_domain else [])]
        for origin in origins:
            session.mount(origin + "/", redirect)
    return session
