"""Checking the ``tokenPassport`` header as NetSuite does (token-based authentication, HMAC-SHA256)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading

from lxml import etree

from emulators.erp.requests_xml import child_text, children
from emulators.erp.soapfaults import SoapFault
from emulators.erp.store import ErpStore

TIMESTAMP_TOLERANCE_SECONDS = 300
ALGORITHM = "HMAC-SHA256"


def sign(account: str, consumer_key: str, token_id: str, nonce: str, timestamp: int | str,
         consumer_secret: str, token_secret: str) -> str:
    """The passport signature: base64(HMAC-SHA256(``secret&secret``, ``account&key&token&nonce&timestamp``))."""
    base = "&".join([account, consumer_key, token_id, nonce, str(timestamp)])
    key = f"{consumer_secret}&{token_secret}"
    return base64.b64encode(hmac.new(key.encode(), base.encode(), hashlib.sha256).digest()).decode()


def _invalid() -> SoapFault:
    return SoapFault("INVALID_LOGIN_ATTEMPT", "Invalid login attempt.")


class PassportChecker:
    """Verifies passports against the store's tokens, the account and the emulator clock; remembers nonces."""

    def __init__(self, store: ErpStore, account: str) -> None:
        self.store = store
        self.account = account
        self._nonces: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def check(self, passport: etree._Element | None, now: float) -> None:
        """Accept the passport or raise ``INVALID_LOGIN_ATTEMPT``.

        Args:
            passport: the ``tokenPassport`` header element (``None`` when absent).
            now: the emulator's time, in seconds since the epoch.

        Raises:
            SoapFault: ``invalidSessionFault`` with code ``INVALID_LOGIN_ATTEMPT``.
        """
        if passport is None:
            raise _invalid()
        values = {name: child_text(passport, name) for name in
                  ("account", "consumerKey", "token", "nonce", "timestamp", "signature")}
        if any(not v for v in values.values()):
            raise _invalid()
        signature = children(passport, "signature")[0]
        if signature.get("algorithm") != ALGORITHM or values["account"] != self.account:
            raise _invalid()
        credentials = self.store.credentials(str(values["token"]))
        if credentials is None or credentials.consumer_key != values["consumerKey"]:
            raise _invalid()
        try:
            timestamp = int(str(values["timestamp"]))
        except ValueError:
            raise _invalid() from None
        if abs(now - timestamp) > TIMESTAMP_TOLERANCE_SECONDS:
            raise _invalid()
        expected = sign(self.account, credentials.consumer_key, credentials.token_id, str(values["nonce"]),
                        timestamp, credentials.consumer_secret, credentials.token_secret)
        if not hmac.compare_digest(expected, str(values["signature"])):
            raise _invalid()
        key = (credentials.token_id, str(values["nonce"]))
        with self._lock:
            self._nonces = {k: t for k, t in self._nonces.items() if t > now - 2 * TIMESTAMP_TOLERANCE_SECONDS}
            if key in self._nonces:
                raise _invalid()
            self._nonces[key] = now
