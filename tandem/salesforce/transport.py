"""The HTTP session Tandem gives simple-salesforce: a trusted CA bundle, a default timeout on every
request, and (optionally) a login host of our choosing.

simple-salesforce always logs in at ``https://login.salesforce.com`` or ``https://test.salesforce.com``;
to log in elsewhere (an emulator, a proxy) the session carries a transport adapter mounted on those
two origins that sends the requests to ``login_url`` instead. Every other request goes where
simple-salesforce sends it (the instance URL the login returned).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

LOGIN_ORIGINS = ("https://login.salesforce.com", "https://test.salesforce.com")
DEFAULT_TIMEOUT = (10.0, 120.0)

Timeout = float | tuple[float, float]


class TimeoutAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` that applies ``timeout`` to every request sent without one."""

    def __init__(self, timeout: Timeout = DEFAULT_TIMEOUT, **kwargs: Any) -> None:
        self.timeout = timeout
        super().__init__(**kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        """Send ``request``, with the default timeout when the caller gave none."""
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


class LoginRedirectAdapter(TimeoutAdapter):
    """Sends requests for Salesforce's login hosts to ``login_url`` (scheme, host and port replaced).

    Args:
        login_url: where to log in instead, e.g. ``https://127.0.0.1:8443``.
        timeout: the default (connect, read) timeout.
    """

    def __init__(self, login_url: str, timeout: Timeout = DEFAULT_TIMEOUT, **kwargs: Any) -> None:
        target = urlsplit(login_url)
        if target.scheme not in {"http", "https"} or not target.netloc:
            raise ValueError(f"login_url must be an absolute http(s) URL, got {login_url!r}")
        self.scheme = target.scheme
        self.netloc = target.netloc
        super().__init__(timeout, **kwargs)

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
) -> requests.Session:
    """Build the ``requests.Session`` to pass to ``simple_salesforce.Salesforce(session=...)``.

    Args:
        ca_bundle: a CA file to trust instead of the system's (for example an emulator's CA).
        login_url: send logins to this origin instead of ``login``/``test.salesforce.com``;
            ``None`` logs in at Salesforce.
        my_domain: also redirect ``https://{my_domain}.salesforce.com`` to ``login_url`` (the
            client-credentials flow logs in at the org's My Domain, e.g. ``acme.my``).
        timeout: the default (connect, read) timeout of every request, in seconds.

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
    default = TimeoutAdapter(timeout)
    session.mount("https://", default)
    session.mount("http://", default)
    if login_url:
        redirect = LoginRedirectAdapter(login_url, timeout)
        origins = [*LOGIN_ORIGINS, *([f"https://{my_domain}.salesforce.com"] if my_domain else [])]
        for origin in origins:
            session.mount(origin + "/", redirect)
    return session
