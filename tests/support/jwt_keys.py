"""Throwaway RSA keys, self-signed certificates and signed JWTs for the JWT bearer flow tests.

Keys are made fresh in each test session and never written to the repository.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class KeyPair:
    """An RSA private key (PEM, unencrypted PKCS#8) and a self-signed certificate for it (PEM)."""

    private_key_pem: str
    certificate_pem: str

    def sign(self, claims: dict[str, Any], *, header: dict[str, Any] | None = None) -> str:
        """A compact JWS of ``claims`` signed RS256 with this key."""
        return sign_jwt(claims, self.private_key_pem, header=header)


def make_key_pair(common_name: str = "tandem-test", *, days: int = 30, not_after: datetime | None = None) -> KeyPair:
    """A 2048-bit RSA key and a self-signed certificate valid from an hour ago for ``days`` days."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(hours=1))
        .not_valid_after(not_after or now + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    return KeyPair(private_pem, certificate.public_bytes(serialization.Encoding.PEM).decode())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_jwt(claims: dict[str, Any], private_key_pem: str, *, header: dict[str, Any] | None = None) -> str:
    """Sign ``claims`` with RS256 (PKCS#1 v1.5 + SHA-256), the only algorithm Salesforce takes."""
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    head = _b64(json.dumps(header or {"alg": "RS256"}).encode())
    body = _b64(json.dumps(claims).encode())
    signature = key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{head}.{body}.{_b64(signature)}"


def claims(consumer_key: str, username: str, *, aud: str = "https://login.salesforce.com",
           lifetime: float = 120) -> dict[str, Any]:
    """The four claims Salesforce reads, expiring ``lifetime`` seconds from now (negative: already expired)."""
    return {"iss": consumer_key, "sub": username, "aud": aud, "exp": int(time.time() + lifetime)}
