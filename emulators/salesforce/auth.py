"""Logins (SOAP partner ``login`` and OAuth 2.0 token) and the sessions they open.

Besides the password and client-credentials grants, the OAuth side knows connected apps with an
uploaded certificate (the JWT bearer flow) and the refresh tokens the web-server flow would issue.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote
from xml.sax.saxutils import escape

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
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


# --- OAuth 2.0: connected apps, the JWT bearer grant, refresh tokens, userinfo ----------------------------------

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
REFRESH_TOKEN_GRANT = "refresh_token"  # noqa: S105 - a grant type, not a secret
LOGIN_AUDIENCE = "https://login.salesforce.com"
TEST_AUDIENCE = "https://test.salesforce.com"
#: Salesforce wants ``exp`` within 3 minutes; the emulator allows 2 more for clock skew between hosts.
MAX_ASSERTION_SECONDS = 180 + 120
INVALID_ASSERTION = "invalid assertion"
EXPIRED_ASSERTION = "expired authorization code"
INVALID_AUDIENCE = "audience is invalid"
NOT_APPROVED = "user hasn't approved this consumer"
NOT_ADMIN_APPROVED = "user is not admin approved to access this app"
CLIENT_ID_INVALID = "client identifier invalid"
CLIENT_INVALID = "invalid client credentials"
EXPIRED_REFRESH_TOKEN = "expired access/refresh token"  # noqa: S105 - Salesforce's error text
BAD_OAUTH_TOKEN = "Bad_OAuth_Token"  # noqa: S105 - the userinfo endpoint's error text


@dataclass(frozen=True)
class ConnectedApp:
    """A connected app: its consumer key and secret, the certificate uploaded for the JWT bearer flow
    ("Use digital signatures") and its OAuth policy.

    The policy is "Admin approved users are pre-authorized": ``preauthorized`` holds the usernames
    (lower case) whose profile or permission set the admin added to the app.
    """

    consumer_key: str
    consumer_secret: str | None = None
    public_key: rsa.RSAPublicKey | None = None
    certificate_expires: datetime | None = None
    preauthorized: frozenset[str] = field(default_factory=frozenset)
    scope: str = "api"


def load_certificate(pem: str) -> tuple[rsa.RSAPublicKey, datetime]:
    """The RSA public key and expiry of a PEM X.509 certificate, as the connected app's upload takes it.

    Raises:
        ValueError: not a PEM certificate, or its key is not RSA (the JWT bearer flow signs with RS256).
    """
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        raise ValueError("the certificate must be a PEM-encoded X.509 certificate") from exc
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the certificate's key must be an RSA key (the JWT bearer flow signs with RS256)")
    return key, certificate.not_valid_after_utc


class ConnectedApps:
    """The org's connected apps, by consumer key; the demo app always exists (without a certificate
    until one is uploaded)."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials
        self._lock = threading.Lock()
        self._apps: dict[str, ConnectedApp] = {}
        self.clear()

    def clear(self) -> None:
        """Back to the demo connected app alone, without a certificate."""
        demo = ConnectedApp(self.credentials.client_id, self.credentials.client_secret,
                            preauthorized=frozenset({self.credentials.username.lower()}))
        with self._lock:
            self._apps = {demo.consumer_key: demo}

    def register(
        self, consumer_key: str, certificate_pem: str, *, consumer_secret: str | None = None,
        preauthorized: list[str] | None = None,
    ) -> ConnectedApp:
        """Upload ``certificate_pem`` to the app ``consumer_key`` (created when new) and set who is pre-authorized.

        Args:
            consumer_key: the app's consumer key (the JWT's ``iss``).
            certificate_pem: the X.509 certificate whose key verifies the assertions.
            consumer_secret: the app's secret (kept from the existing app when ``None``).
            preauthorized: usernames pre-authorized by profile or permission set (default: the
                integration user).

        Raises:
            ValueError: the certificate is not usable.
        """
        if not consumer_key:
            raise ValueError("give the connected app's consumer_key")
        key, expires = load_certificate(certificate_pem)
        users = preauthorized if preauthorized is not None else [self.credentials.username]
        with self._lock:
            existing = self._apps.get(consumer_key)
            secret = consumer_secret
            if secret is None and existing is not None:
                secret = existing.consumer_secret
            app = ConnectedApp(consumer_key, secret, key, expires, frozenset(u.lower() for u in users))
            self._apps[consumer_key] = app
        return app

    def get(self, consumer_key: str) -> ConnectedApp | None:
        """The app with ``consumer_key``, or ``None``."""
        with self._lock:
            return self._apps.get(consumer_key)

    def describe(self) -> list[dict[str, Any]]:
        """The apps as JSON (no secrets, no key material)."""
        with self._lock:
            apps = list(self._apps.values())
        return [{"consumer_key": a.consumer_key, "has_certificate": a.public_key is not None,
                 "certificate_expires": a.certificate_expires.isoformat() if a.certificate_expires else None,
                 "preauthorized_users": sorted(a.preauthorized)} for a in apps]


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _numeric_date(value: Any) -> float | None:
    """A JWT NumericDate (seconds since the epoch); simple-salesforce sends it as a string of digits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def verify_jwt_assertion(
    assertion: str, apps: ConnectedApps, *, now: datetime, audiences: set[str],
) -> tuple[ConnectedApp, str]:
    """Check a JWT bearer assertion as Salesforce's token endpoint does; return the app and the ``sub``.

    RS256 only; ``iss`` names a connected app with an uploaded certificate that verifies the
    signature (and has not expired); ``aud`` is one of ``audiences``; ``exp`` is in the future, at
    most :data:`MAX_ASSERTION_SECONDS` ahead; ``sub`` is a username (checked against the org by the caller).

    Raises:
        LoginFailed: ``invalid_grant`` (``invalid assertion``, ``expired authorization code``,
            ``audience is invalid``) or ``invalid_client_id`` for an unknown consumer key.
    """
    parts = assertion.split(".")
    if len(parts) != 3:
        raise LoginFailed("invalid_grant", INVALID_ASSERTION)
    try:
        header = json.loads(_b64url(parts[0]))
        claims = json.loads(_b64url(parts[1]))
        signature = _b64url(parts[2])
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise LoginFailed("invalid_grant", INVALID_ASSERTION) from exc
    if not isinstance(header, dict) or not isinstance(claims, dict) or header.get("alg") != "RS256":
        raise LoginFailed("invalid_grant", INVALID_ASSERTION)
    issuer = claims.get("iss")
    app = apps.get(issuer) if isinstance(issuer, str) else None
    if app is None:
        raise LoginFailed("invalid_client_id", CLIENT_ID_INVALID)
    if app.public_key is None or (app.certificate_expires is not None and app.certificate_expires <= now):
        raise LoginFailed("invalid_grant", INVALID_ASSERTION)
    try:
        app.public_key.verify(signature, f"{parts[0]}.{parts[1]}".encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, UnicodeEncodeError) as exc:
        raise LoginFailed("invalid_grant", INVALID_ASSERTION) from exc
    audience = claims.get("aud")
    given = audience if isinstance(audience, list) else [audience]
    if not any(isinstance(a, str) and a.rstrip("/") in audiences for a in given):
        raise LoginFailed("invalid_grant", INVALID_AUDIENCE)
    expires = _numeric_date(claims.get("exp"))
    if expires is None:
        raise LoginFailed("invalid_grant", INVALID_ASSERTION)
    moment = now.timestamp()
    if expires <= moment:
        raise LoginFailed("invalid_grant", EXPIRED_ASSERTION)
    if expires > moment + MAX_ASSERTION_SECONDS:
        raise LoginFailed("invalid_grant", INVALID_ASSERTION)
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise LoginFailed("invalid_grant", INVALID_ASSERTION)
    return app, subject


def check_user_for_app(app: ConnectedApp, user: dict[str, Any] | None) -> dict[str, Any]:
    """Return ``user`` when it may use ``app`` without an interactive approval (``None``: unknown username).

    Raises:
        LoginFailed: ``invalid_grant`` / ``user hasn't approved this consumer`` for an unknown or
            inactive user, ``invalid_app_access`` for a user the admin has not pre-authorized.
    """
    if user is None or not user.get("IsActive", True):
        raise LoginFailed("invalid_grant", NOT_APPROVED)
    if str(user.get("Username", "")).lower() not in app.preauthorized:
        raise LoginFailed("invalid_app_access", NOT_ADMIN_APPROVED)
    return user


@dataclass(frozen=True)
class RefreshGrant:
    """What a refresh token stands for: a user's approval of a connected app."""

    client_id: str
    user_id: str


class RefreshTokens:
    """Refresh tokens issued to connected apps (as the web-server flow would), until revoked."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, RefreshGrant] = {}

    def mint(self, client_id: str, user_id: str) -> str:
        """Issue a refresh token for ``user_id`` and ``client_id`` (Salesforce's look: ``5Aep861...``)."""
        token = "5Aep861" + secrets.token_urlsafe(60).replace("-", ".").replace("_", ".")
        with self._lock:
            self._tokens[token] = RefreshGrant(client_id, user_id)
        return token

    def lookup(self, token: str) -> RefreshGrant | None:
        """The grant behind ``token``, or ``None`` when unknown or revoked."""
        with self._lock:
            return self._tokens.get(token)

    def clear(self) -> None:
        """Revoke every refresh token (a sandbox refresh does)."""
        with self._lock:
            self._tokens.clear()


def check_refresh(form: dict[str, str], apps: ConnectedApps, tokens: RefreshTokens,
                  authorization: str = "") -> RefreshGrant:
    """Validate a ``refresh_token`` grant request; return the grant it renews.

    ``client_secret`` is optional (as documented) but, when given, must be the app's; client id and
    secret may also come in an HTTP Basic header.

    Raises:
        LoginFailed: ``invalid_client_id``, ``invalid_client`` or ``invalid_grant`` /
            ``expired access/refresh token``.
    """
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() == "basic" and encoded:
        try:
            client_id, _, client_secret = base64.b64decode(encoded.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError) as exc:
            raise LoginFailed("invalid_client", CLIENT_INVALID) from exc
        form = {**form, "client_id": unquote(client_id), "client_secret": unquote(client_secret)}
    app = apps.get(form.get("client_id", ""))
    if app is None:
        raise LoginFailed("invalid_client_id", CLIENT_ID_INVALID)
    secret = form.get("client_secret")
    if secret is not None and not (app.consumer_secret and secrets.compare_digest(secret, app.consumer_secret)):
        raise LoginFailed("invalid_client", CLIENT_INVALID)
    grant = tokens.lookup(form.get("refresh_token", ""))
    if grant is None or grant.client_id != app.consumer_key:
        raise LoginFailed("invalid_grant", EXPIRED_REFRESH_TOKEN)
    return grant


def token_signature(consumer_secret: str | None, identity_url: str, issued_at: str) -> str:
    """The token response's ``signature``: Base64 HMAC-SHA256 of the identity URL + ``issued_at``,
    keyed with the consumer secret (random when the app has none)."""
    key = (consumer_secret or secrets.token_hex(16)).encode()
    return base64.b64encode(hmac.new(key, (identity_url + issued_at).encode(), hashlib.sha256).digest()).decode()


def userinfo(user: dict[str, Any], *, base_url: str, org_id: str) -> dict[str, Any]:
    """The OpenID Connect UserInfo answer for ``user`` (Salesforce's fields and shape)."""
    user_id = str(user["Id"])
    identity = f"{base_url}/id/{org_id}/{user_id}"
    org15 = org_id[:15]
    modified = str(user.get("LastModifiedDate") or "")
    try:
        updated = datetime.fromisoformat(modified.replace("Z", "+00:00").replace("+0000", "+00:00"))
        updated_at = updated.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        updated_at = None
    return {
        "sub": identity, "user_id": user_id, "organization_id": org_id,
        "preferred_username": user.get("Username"), "nickname": user.get("Alias"), "name": user.get("Name"),
        "email": user.get("Email"), "email_verified": True,
        "given_name": user.get("FirstName"), "family_name": user.get("LastName"),
        "zoneinfo": "Etc/UTC",
        "photos": {"picture": f"{base_url}/profilephoto/005/F", "thumbnail": f"{base_url}/profilephoto/005/T"},
        "profile": f"{base_url}/{user_id}", "picture": f"{base_url}/profilephoto/005/F",
        "address": {"country": "US"}, "is_salesforce_integration_user": False,
        "urls": {
            "enterprise": f"{base_url}/services/Soap/c/{{version}}/{org15}",
            "metadata": f"{base_url}/services/Soap/m/{{version}}/{org15}",
            "partner": f"{base_url}/services/Soap/u/{{version}}/{org15}",
            "rest": f"{base_url}/services/data/v{{version}}/",
            "sobjects": f"{base_url}/services/data/v{{version}}/sobjects/",
            "search": f"{base_url}/services/data/v{{version}}/search/",
            "query": f"{base_url}/services/data/v{{version}}/query/",
            "recent": f"{base_url}/services/data/v{{version}}/recent/",
            "tooling_soap": f"{base_url}/services/Soap/T/{{version}}/{org15}",
            "tooling_rest": f"{base_url}/services/data/v{{version}}/tooling/",
            "profile": f"{base_url}/{user_id}",
            "feeds": f"{base_url}/services/data/v{{version}}/chatter/feeds",
            "groups": f"{base_url}/services/data/v{{version}}/chatter/groups",
            "users": f"{base_url}/services/data/v{{version}}/chatter/users",
            "feed_items": f"{base_url}/services/data/v{{version}}/chatter/feed-items",
            "feed_elements": f"{base_url}/services/data/v{{version}}/chatter/feed-elements",
            "custom_domain": base_url,
        },
        "active": bool(user.get("IsActive", True)), "user_type": "STANDARD", "language": "en_US",
        "locale": "en_US", "utcOffset": 0, "updated_at": updated_at, "is_app_installed": True,
    }
