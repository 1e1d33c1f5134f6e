"""SuiteTalk token-based authentication: the ``tokenPassport`` SOAP header.

Every request carries a fresh passport: a new random nonce and the current Unix timestamp, signed
with HMAC-SHA256 over ``account&consumerKey&tokenId&nonce&timestamp`` using the key
``consumerSecret&tokenSecret`` (base64 of the digest). A passport is never reused, so a replayed or
retried request is signed anew.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

SIGNATURE_ALGORITHM = "HMAC-SHA256"


def sign(base_string: str, key: str) -> str:
    """Return the base64 HMAC-SHA256 signature of ``base_string`` under ``key``.

    Args:
        base_string: ``account&consumerKey&tokenId&nonce&timestamp``.
        key: ``consumerSecret&tokenSecret``.

    Returns:
        The signature as base64 text.
    """
    digest = hmac.new(key.encode("utf-8"), base_string.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class TokenPassport:
    """One signed passport (valid for a single request).

    Attributes:
        account: the account id (``1234567`` or ``1234567_SB1``).
        consumer_key: the integration record's consumer key.
        token: the access token id.
        nonce: a random alphanumeric string (6-64 characters).
        timestamp: Unix seconds when the passport was made.
        signature: base64 HMAC-SHA256 of the base string.
    """

    account: str
    consumer_key: str
    token: str
    nonce: str
    timestamp: int
    signature: str = field(repr=False)

    def as_header(self) -> dict[str, object]:
        """The passport as zeep header values (``tokenPassport`` element content)."""
        return {
            "account": self.account,
            "consumerKey": self.consumer_key,
            "token": self.token,
            "nonce": self.nonce,
            "timestamp": self.timestamp,
            "signature": {"_value_1": self.signature, "algorithm": SIGNATURE_ALGORITHM},
        }


@dataclass(frozen=True)
class PassportSigner:
    """Holds the TBA credentials and makes a fresh :class:`TokenPassport` per request.

    The secrets stay in this object (hidden from ``repr``); only passports leave it. ``clock`` gives
    the Unix time to stamp (the server rejects passports more than a few minutes off its clock).
    """

    account: str
    consumer_key: str
    consumer_secret: str = field(repr=False)
    token_id: str = field(repr=False)
    token_secret: str = field(repr=False)
    clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)

    def passport(self, *, now: float | None = None, nonce: str | None = None) -> TokenPassport:
        """Sign a new passport.

        Args:
            now: the Unix time to stamp (``clock()`` when ``None``).
            nonce: the nonce to use (a fresh random 32-character one when ``None``).

        Returns:
            A passport for exactly one request.
        """
        timestamp = int(self.clock() if now is None else now)
        nonce = nonce or secrets.token_hex(16)
        base = "&".join((self.account, self.consumer_key, self.token_id, nonce, str(timestamp)))
        key = f"{self.consumer_secret}&{self.token_secret}"
        return TokenPassport(
            account=self.account,
            consumer_key=self.consumer_key,
            token=self.token_id,
            nonce=nonce,
            timestamp=timestamp,
            signature=sign(base, key),
        )
