"""Block fixtures that need no server: credentials with recognisable secrets."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from blocks.erp import ErpCredentials
from blocks.salesforce import SalesforceCredentials

SF_SECRETS = {
    "password": "Sf-Password-5f4e3d2c1b",
    "security_token": "SfToken9a8b7c6d5e4f",
    "client_id": "3MVG9-client-id-0a1b2c3d4e5f",
    "client_secret": "Sf-Client-Secret-6a7b8c9d0e",
}
ERP_SECRETS = {
    "consumer_key": "ck-0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    "consumer_secret": "cs-9a8b7c6d5e4f30211203f4e5d6c7b8a9",
    "token_id": "tk-1234abcd5678ef901234abcd5678ef90",
    "token_secret": "ts-abcdef0123456789abcdef0123456789",
}
DB_PASSWORD = "fake-pg-password-for-tests"


def salesforce(**overrides: Any) -> SalesforceCredentials:
    """SOAP-login credentials for a custom login host (production)."""
    values: dict[str, Any] = {
        "login_host": "https://127.0.0.1:9", "username": "integration@example.com",
        "password": SecretStr(SF_SECRETS["password"]), "security_token": SecretStr(SF_SECRETS["security_token"]),
        **overrides,
    }
    return SalesforceCredentials(**values)


def erp(**overrides: Any) -> ErpCredentials:
    """ERP credentials (production account)."""
    values: dict[str, Any] = {
        "account_id": "1234567", "wsdl_url": "https://127.0.0.1:9/wsdl/netsuite.wsdl",
        **{k: SecretStr(v) for k, v in ERP_SECRETS.items()}, **overrides,
    }
    return ErpCredentials(**values)


def all_secrets() -> list[str]:
    """Every secret the fixtures use."""
    return [*SF_SECRETS.values(), *ERP_SECRETS.values(), DB_PASSWORD]
