"""Salesforce's OAuth 2.0 JWT bearer flow: the RS256-signed assertion and the token endpoint's answer.

No Prefect here: the credentials block (``blocks/salesforce.py``) unwraps its private key and calls these
inside its login only. Refusals are fatal (a bad login is never retried) and their messages say what to
change; no message ever holds the key.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tandem.errors import FatalSyncError, RetryableSyncError, SyncError
from tandem.salesforce.errors import RETRYABLE_CODES

#: The grant type of the token request.
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: Salesforce accepts a JWT bearer assertion whose ``exp`` is at most 3 minutes ahead.
MAX_JWT_LIFETIME = 180
#: What to do about each documented rejection of a JWT bearer login (keyed by ``error_description``).
JWT_LOGIN_HINTS = {
    "invalid assertion": (
        "the assertion's signature does not verify against the certificate uploaded to the connected app: check "
        "that private_key belongs to that certificate, that the certificate has not expired and that the app has "
        "'Use digital signatures' on"
    ),
    "expired authorization code": (
        "the assertion had already expired when Salesforce read it: check this machine's clock (it must be within "
        "seconds of real time) or raise jwt_lifetime_seconds (at most 180)"
    ),
    "audience is invalid": (
        "the assertion names the wrong login host: use login_host test (or sandbox=True) for a sandbox and login "
        "for a production org"
    ),
    "user hasn't approved this consumer": (
        "username is not an active user of this org, or is not pre-authorized for the connected app: check the "
        "username, set the app's Permitted Users to 'Admin approved users are pre-authorized' and add the user's "
        "profile or permission set to the app"
    ),
    "user is not admin approved to access this app": (
        "add the integration user's profile or one of their permission sets to the connected app"
    ),
    "client identifier invalid": "client_id is not the consumer key of a connected app in this org",
}



def load_private_key(pem: bytes, what: str) -> rsa.RSAPrivateKey:
    """Parse an unencrypted PEM RSA private key; the error names ``what``, never the key.

    Raises:
        ValueError: not a PEM RSA private key without a passphrase.
    """
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(
            f"{what} must be an unencrypted PEM RSA private key (-----BEGIN PRIVATE KEY----- or "
            "-----BEGIN RSA PRIVATE KEY-----), the key of the certificate uploaded to the connected app"
        )
    return key


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwt_bearer_assertion(
    *, consumer_key: str, username: str, audience: str, private_key: bytes, lifetime_seconds: int = MAX_JWT_LIFETIME,
    now: float | None = None,
) -> str:
    """Build the RS256-signed assertion of Salesforce's OAuth 2.0 JWT bearer flow.

    Args:
        consumer_key: the connected app's consumer key (``iss``).
        username: the user to log in as (``sub``).
        audience: ``https://login.salesforce.com`` or ``https://test.salesforce.com`` (``aud``).
        private_key: the PEM private key whose certificate the connected app holds.
        lifetime_seconds: ``exp`` is this many seconds from ``now`` (Salesforce allows up to 180).
        now: the time in seconds since the epoch (default: the current time).

    Returns:
        ``base64url(header).base64url(claims).base64url(signature)``.

    Raises:
        FatalSyncError: ``INVALID_AUTH`` when the key is not a PEM RSA private key (the message never holds it).
    """
    try:
        key = load_private_key(private_key, "the private key")
    except ValueError as exc:
        raise FatalSyncError(str(exc), code="INVALID_AUTH", system="crm") from None
    issued = time.time() if now is None else now
    claims = {"iss": consumer_key, "sub": username, "aud": audience, "exp": int(issued + lifetime_seconds)}
    signing_input = f"{_b64url(json.dumps({'alg': 'RS256'}).encode())}.{_b64url(json.dumps(claims).encode())}"
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64url(signature)}"


def token_answer(response: requests.Response) -> dict[str, Any]:
    """The token endpoint's JSON on success; otherwise a classified error (refusals are fatal).

    Raises:
        FatalSyncError: a 4xx answer, with Salesforce's ``error`` as the code and what to fix.
        RetryableSyncError: HTTP 429, 5xx or a transient error code.
    """
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if response.status_code == 200 and isinstance(body, dict) and body.get("access_token") \
            and body.get("instance_url"):
        return body
    code, description = None, ""
    if isinstance(body, dict):
        code, description = body.get("error"), str(body.get("error_description") or "")
    elif isinstance(body, list) and body and isinstance(body[0], dict):
        code, description = body[0].get("errorCode"), str(body[0].get("message") or "")
    status = response.status_code
    code = str(code or f"HTTP_{status}")
    error: SyncError
    if status == 429 or status >= 500 or code in RETRYABLE_CODES:
        error = RetryableSyncError(f"Salesforce could not log in now: {code}", code=code, system="crm")
    else:
        hint = JWT_LOGIN_HINTS.get(description)
        detail = f"{code}: {description[:200]}" if description else code
        message = f"Salesforce refused the JWT bearer login ({detail})"
        error = FatalSyncError(f"{message}: {hint}" if hint else message, code=code, system="crm")
    raise error
