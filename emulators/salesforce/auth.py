"""Logins (SOAP partner ``login`` and OAuth 2.0 token) and the sessions they open."""

from __future__ import annotations

import base64
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote
from xml.sax.saxutils import escape

from lxml import etree

from emulators.common.clock import EmulatorClock

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER_NS = "urn:partner.soap.sforce.com"
INVALID_LOGIN_MESSAGE = "Invalid username, password, security token; or user locked out."
SESSION_EXPIRED_MESSAGE = "Session expired or invalid"


@dataclass(frozen=True)
class Credentials:
    """The demo org's integration user and connected app."""

    username: str
    password: str
    security_token: str
    client_id: str
    client_secret: str


DEMO_CREDENTIALS = Credentials(
    username="integration@tandem.example",
    password="tandem-demo-1",  # noqa: S106 - the emulator's published demo password
    security_token="TandemDemoToken0042",  # noqa: S106 - the emulator's published demo token
    client_id="3MVG9TandemEmulatorDemoClientId0042",
    client_secret="TandemDemoClientSecret0042",  # noqa: S106 - the emulator's published demo secret
)


@dataclass
class Session:
    """An open API session: whose it is and when it was last used."""

    token: str
    user_id: str
    last_used: datetime


class LoginFailed(Exception):
    """A login was refused; ``code`` and ``message`` are Salesforce's."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class SessionStore:
    """Open sessions, expiring after ``timeout_seconds`` without use (Salesforce's inactivity timeout)."""

    def __init__(self, clock: EmulatorClock, org_id: str, timeout_seconds: float) -> None:
        self.clock = clock
        self.org_id = org_id
        self.timeout = timedelta(seconds=timeout_seconds)
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self, user_id: str) -> Session:
        """Open a session for ``user_id``; the token looks like Salesforce's (``00D...!AQ...``)."""
        token = f"{self.org_id[:15]}!AQ{secrets.token_urlsafe(72)}"
        session = Session(token=token, user_id=user_id, last_used=self.clock.now())
        with self._lock:
            self._sessions[token] = session
        return session

    def check(self, token: str) -> Session | None:
        """The live session for ``token`` (refreshing its last use), or ``None`` if unknown or expired."""
        now = self.clock.now()
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return None
            if now - session.last_used > self.timeout:
                del self._sessions[token]
                return None
            session.last_used = now
            return session

    def clear(self) -> None:
        """Forget every session."""
        with self._lock:
            self._sessions.clear()


def parse_soap_login(body: bytes) -> tuple[str, str]:
    """Return ``(username, password)`` from a partner ``login`` envelope.

    Raises:
        LoginFailed: the body is not a login envelope.
    """
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise LoginFailed("INVALID_SOAP_HEADER", f"Unable to parse the request: {exc}") from exc
    login = root.find(f"{{{SOAP_ENV}}}Body/{{{PARTNER_NS}}}login")
    if login is None:
        raise LoginFailed("UNKNOWN_EXCEPTION", "The request is not a partner login() call")
    username = login.findtext(f"{{{PARTNER_NS}}}username") or ""
    password = login.findtext(f"{{{PARTNER_NS}}}password") or ""
    return username.strip(), password


def soap_login_response(
    *, session: Session, base_url: str, api_version: str, org_id: str, user: dict[str, Any], is_sandbox: bool,
    timeout_seconds: int,
) -> bytes:
    """The partner ``loginResponse`` envelope (unprefixed elements, as simple-salesforce reads them)."""
    server_url = f"{base_url}/services/Soap/u/{api_version}/{org_id[:15]}"
    metadata_url = f"{base_url}/services/Soap/m/{api_version}/{org_id[:15]}"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns="{PARTNER_NS}" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><loginResponse><result>'
        f"<metadataServerUrl>{escape(metadata_url)}</metadataServerUrl>"
        "<passwordExpired>false</passwordExpired>"
        f"<sandbox>{'true' if is_sandbox else 'false'}</sandbox>"
        f"<serverUrl>{escape(server_url)}</serverUrl>"
        f"<sessionId>{escape(session.token)}</sessionId>"
        f"<userId>{session.user_id}</userId>"
        "<userInfo>"
        "<currencySymbol>$</currencySymbol>"
        f"<organizationId>{org_id}</organizationId>"
        "<organizationMultiCurrency>true</organizationMultiCurrency>"
        "<organizationName>Tandem Demo Org</organizationName>"
        f"<sessionSecondsValid>{timeout_seconds}</sessionSecondsValid>"
        f"<userEmail>{escape(str(user.get('Email') or ''))}</userEmail>"
        f"<userFullName>{escape(str(user.get('Name') or ''))}</userFullName>"
        f"<userId>{session.user_id}</userId>"
        f"<userName>{escape(str(user.get('Username') or ''))}</userName>"
        "<userTimeZone>Etc/UTC</userTimeZone>"
        "</userInfo></result></loginResponse></soapenv:Body></soapenv:Envelope>"
    ).encode()


def soap_fault(code: str, message: str, *, login: bool = True) -> bytes:
    """A partner API SOAP fault (``sf:LoginFault`` for logins, ``sf:UnexpectedErrorFault`` otherwise)."""
    fault_type = "LoginFault" if login else "UnexpectedErrorFault"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns:sf="urn:fault.partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>sf:{code}</faultcode>"
        f"<faultstring>{code}: {escape(message)}</faultstring>"
        f'<detail><sf:{fault_type} xsi:type="sf:{fault_type}">'
        f"<sf:exceptionCode>{code}</sf:exceptionCode>"
        f"<sf:exceptionMessage>{escape(message)}</sf:exceptionMessage>"
        f"</sf:{fault_type}></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    ).encode()


def oauth_error(error: str, description: str) -> dict[str, str]:
    """The OAuth token endpoint's error body."""
    return {"error": error, "error_description": description}


def check_oauth(form: dict[str, str], credentials: Credentials, authorization: str = "") -> None:
    """Validate an OAuth token request (password or client_credentials grant).

    The client id and secret come from the form or from an HTTP Basic ``authorization`` header.

    Raises:
        LoginFailed: with the OAuth ``error`` as code and ``error_description`` as message.
    """
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() == "basic" and encoded:
        try:
            client_id, _, client_secret = base64.b64decode(encoded.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError) as exc:
            raise LoginFailed("invalid_client", "invalid client credentials") from exc
        form = {**form, "client_id": unquote(client_id), "client_secret": unquote(client_secret)}
    grant = form.get("grant_type", "")
    if grant not in {"password", "client_credentials"}:
        raise LoginFailed("unsupported_grant_type", "grant type not supported")
    client_id = form.get("client_id", "")
    if not secrets.compare_digest(client_id, credentials.client_id):
        raise LoginFailed("invalid_client_id", "client identifier invalid")
    if not secrets.compare_digest(form.get("client_secret", ""), credentials.client_secret):
        raise LoginFailed("invalid_client", "invalid client credentials")
    if grant == "password":
        expected = credentials.password + credentials.security_token
        password = form.get("password", "")
        if form.get("username", "") != credentials.username or not (
            secrets.compare_digest(password, expected) or secrets.compare_digest(password, credentials.password)
        ):
            raise LoginFailed("invalid_grant", "authentication failure")


def check_password(username: str, password: str, credentials: Credentials) -> None:
    """Check a SOAP login's username and password+token.

    Raises:
        LoginFailed: ``INVALID_LOGIN`` with Salesforce's message.
    """
    expected = credentials.password + credentials.security_token
    if username != credentials.username or not secrets.compare_digest(password, expected):
        raise LoginFailed("INVALID_LOGIN", INVALID_LOGIN_MESSAGE)
