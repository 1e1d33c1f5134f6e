"""Prefect block holding Salesforce credentials and connection settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self
from urllib.parse import urlparse

import requests
from prefect.blocks.core import Block
from pydantic import ConfigDict, Field, SecretStr, model_validator
from simple_salesforce import Salesforce

from blocks.schema_cache import CachedJsonSchema
from tandem.errors import FatalSyncError
from tandem.salesforce.adapter import DEFAULT_BULK_THRESHOLD, DEFAULT_BULK_TIMEOUT, SalesforceAdapter
from tandem.salesforce.bulk_query import DEFAULT_BULK_READ_THRESHOLD
from tandem.salesforce.errors import classify
from tandem.salesforce.jwt_bearer import (
    JWT_BEARER_GRANT,
    MAX_JWT_LIFETIME,
    jwt_bearer_assertion,
    load_private_key,
    token_answer,
)
from tandem.salesforce.transport import build_session

STANDARD_HOSTS = ("login", "test")


class SalesforceCredentials(CachedJsonSchema, Block):
    """Credentials and connection settings for one Salesforce org.

    Four ways to log in, chosen by the fields given: username + password (+ security token) through
    the SOAP login; username + password + client id/secret through the OAuth password grant;
    client id/secret alone through the OAuth client-credentials grant (needs ``my_domain``); or
    username + client id + a private key through the OAuth 2.0 JWT bearer flow (the connected app
    holds the key's certificate; no password or secret travels). ``get_client()`` is the only
    factory: it unwraps the secrets and returns Tandem's adapter.

    Example:
        Load stored credentials and read accounts changed in the last hour:
        ```python
        from datetime import UTC, datetime, timedelta

        from blocks.salesforce import SalesforceCredentials

        salesforce = SalesforceCredentials.load("BLOCK_NAME").get_client()
        since = datetime.now(UTC) - timedelta(hours=1)
        for page in salesforce.read_changed_since("Account", since, fields=["Name"]):
            print(len(page))
        ```
    """

    #: Validation errors never echo the input: it may hold a password or a private key passed as plain text.
    model_config = ConfigDict(hide_input_in_errors=True)

    _block_type_name = "Tandem Salesforce Credentials"
    _block_type_slug = "tandem-salesforce-credentials"
    _documentation_url = "https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/intro_rest.htm"  # type: ignore[assignment]

    login_host: str = Field(
        default="login",
        description=(
            "Where to log in: login for production orgs, test for sandboxes, or a full URL such as an "
            "emulator's https://127.0.0.1:8443."
        ),
    )
    sandbox: bool = Field(
        default=False,
        description="True when the org is a sandbox (used with a custom login URL; test implies it).",
    )
    username: str | None = Field(default=None, description="The integration user's username.")
    password: SecretStr | None = Field(default=None, description="The integration user's password.")
    security_token: SecretStr | None = Field(
        default=None, description="The user's security token, appended to the password for the SOAP login."
    )
    client_id: SecretStr | None = Field(default=None, description="The connected app's consumer key, for OAuth.")
    client_secret: SecretStr | None = Field(
        default=None, description="The connected app's consumer secret, for OAuth."
    )
    private_key: SecretStr | None = Field(
        default=None,
        description=(
            "The PEM private key that signs the JWT bearer assertion (its certificate is uploaded to the connected "
            "app); with username and client_id, selects the JWT bearer flow."
        ),
    )
    private_key_path: str | None = Field(
        default=None,
        description="A PEM file holding the JWT bearer flow's private key, instead of private_key.",
    )
    jwt_lifetime_seconds: int = Field(
        default=MAX_JWT_LIFETIME,
        description="Seconds until a JWT bearer assertion expires, from 1 to 180 (Salesforce's limit is 3 minutes).",
    )
    my_domain: str | None = Field(
        default=None,
        description="The org's My Domain prefix such as acme.my, needed by the OAuth client-credentials grant.",
    )
    api_version: str = Field(default="59.0", description="The REST API version to use, such as 59.0.")
    ca_bundle_path: str | None = Field(
        default=None, description="A PEM file of certificate authorities to trust instead of the system's."
    )
    connect_timeout: float = Field(default=10.0, description="Seconds to wait for a connection to Salesforce.")
    read_timeout: float = Field(default=120.0, description="Seconds to wait for Salesforce to answer a request.")
    page_size: int = Field(default=2000, description="Records per query page, from 200 to 2,000.")
    bulk_threshold: int = Field(
        default=DEFAULT_BULK_THRESHOLD,
        description="Upserts of more records than this go through Bulk API 2.0 instead of sObject Collections.",
    )
    bulk_timeout: float = Field(
        default=DEFAULT_BULK_TIMEOUT, description="Seconds to wait for a Bulk API 2.0 job to finish."
    )
    bulk_read_threshold: int = Field(
        default=DEFAULT_BULK_READ_THRESHOLD,
        description="Reads of more records than this go on through a Bulk API 2.0 query job; 0 never uses one.",
    )

    @model_validator(mode="after")
    def _check_settings(self) -> Self:
        if self.login_host not in STANDARD_HOSTS:
            url = urlparse(self.login_host)
            if url.scheme not in ("http", "https") or not url.netloc:
                raise ValueError(
                    f"login_host {self.login_host!r} must be login, test or a full URL such as https://127.0.0.1:8443"
                )
        if self.uses_jwt:
            self._check_jwt_settings()
        else:
            self._check_secret_settings()
        for name in ("connect_timeout", "read_timeout", "bulk_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be more than 0 seconds (every Salesforce call needs a timeout)")
        if not 200 <= self.page_size <= 2000:
            raise ValueError("page_size must be between 200 and 2000 (Salesforce's batchSize range)")
        if self.bulk_threshold < 1:
            raise ValueError("bulk_threshold must be at least 1 record (e.g. 10000)")
        if self.bulk_read_threshold < 0:
            raise ValueError("bulk_read_threshold must be 0 (never) or more records (e.g. 50000)")
        if not 1 <= self.jwt_lifetime_seconds <= MAX_JWT_LIFETIME:
            raise ValueError(
                "jwt_lifetime_seconds must be between 1 and 180 (Salesforce refuses an assertion that expires more "
                "than 3 minutes ahead)"
            )
        return self

    def _check_jwt_settings(self) -> None:
        """The JWT bearer flow: username, client_id and exactly one of private_key / private_key_path."""
        if self.private_key is not None and self.private_key_path is not None:
            raise ValueError("give private_key or private_key_path for the JWT bearer flow, not both")
        missing = [name for name in ("username", "client_id") if getattr(self, name) is None]
        if missing:
            raise ValueError(
                f"the JWT bearer flow also needs {' and '.join(missing)}: the integration user's username and the "
                "connected app's consumer key (client_id)"
            )
        extra = [name for name in ("password", "security_token", "client_secret") if getattr(self, name) is not None]
        if extra:
            raise ValueError(
                f"the JWT bearer flow signs in with the private key alone: remove {', '.join(extra)} (or remove the "
                "private key to use a password login)"
            )
        if self.private_key is not None:
            load_private_key(self.private_key.get_secret_value().encode(), "private_key")

    def _check_secret_settings(self) -> None:
        """The SOAP, password and client-credentials logins."""
        has_user = self.username is not None or self.password is not None
        has_app = self.client_id is not None or self.client_secret is not None
        if has_user and (self.username is None or self.password is None):
            raise ValueError("give both username and password (or neither, for the client-credentials grant)")
        if has_app and (self.client_id is None or self.client_secret is None):
            raise ValueError("give both client_id and client_secret for OAuth (or neither, for the SOAP login)")
        if not has_user and not has_app:
            raise ValueError(
                "give username and password, or client_id and client_secret, or username, client_id and "
                "private_key (the JWT bearer flow) to log in"
            )
        if has_app and not has_user and not self.my_domain:
            raise ValueError(
                "the client-credentials grant logs in at the org's My Domain: set my_domain (e.g. acme.my)"
            )
        if self.security_token is not None and has_app:
            raise ValueError("security_token is for the SOAP login; OAuth logins do not use it")

    @property
    def is_sandbox(self) -> bool:
        """True when these credentials are for a sandbox org."""
        return self.sandbox or self.login_host == "test"

    @property
    def uses_jwt(self) -> bool:
        """True when these credentials log in with the OAuth 2.0 JWT bearer flow."""
        return self.private_key is not None or self.private_key_path is not None

    def login(self) -> Salesforce:
        """Log in and return the simple-salesforce client (raises a classified SyncError on failure)."""
        if self.ca_bundle_path and not Path(self.ca_bundle_path).is_file():
            raise ValueError(f"ca_bundle_path {self.ca_bundle_path!r} is not a file")
        custom = self.login_host not in STANDARD_HOSTS
        session = build_session(
            ca_bundle=self.ca_bundle_path,
            login_url=self.login_host if custom else None,
            my_domain=self.my_domain,
            timeout=(self.connect_timeout, self.read_timeout),
        )
        if self.uses_jwt:
            return self._jwt_login(session)
        if self.my_domain and self.username is None:
            domain = self.my_domain
        else:
            domain = "test" if self.login_host == "test" else "login"
        secret: dict[str, Any] = {
            "username": self.username,
            "password": self.password.get_secret_value() if self.password else None,
            "security_token": self.security_token.get_secret_value() if self.security_token else None,
            "consumer_key": self.client_id.get_secret_value() if self.client_id else None,
            "consumer_secret": self.client_secret.get_secret_value() if self.client_secret else None,
        }
        try:
            return Salesforce(
                **{k: v for k, v in secret.items() if v is not None},
                domain=domain, version=self.api_version, session=session,
            )
        except Exception as exc:
            raise classify(exc) from None

    def _jwt_login(self, session: requests.Session) -> Salesforce:
        """Sign an assertion, trade it for an access token at the login host, and build the client.

        The token goes to ``https://{login|test|my_domain}.salesforce.com/services/oauth2/token`` through
        ``session`` (whose adapter sends it to a custom ``login_host``); the audience is Salesforce's
        login host for the org's kind. Every refusal is fatal: a bad login is never retried.
        """
        if self.client_id is None or self.username is None:  # the validator makes this impossible
            raise FatalSyncError("the JWT bearer flow needs username and client_id", code="INVALID_AUTH", system="crm")
        host = self.my_domain or ("test" if self.is_sandbox else "login")
        audience = "https://test.salesforce.com" if self.is_sandbox else "https://login.salesforce.com"
        consumer_key = self.client_id.get_secret_value()
        assertion = jwt_bearer_assertion(
            consumer_key=consumer_key, username=self.username, audience=audience,
            private_key=self._private_key_bytes(), lifetime_seconds=self.jwt_lifetime_seconds,
        )
        try:
            response = session.post(
                f"https://{host}.salesforce.com/services/oauth2/token",
                data={"grant_type": JWT_BEARER_GRANT, "assertion": assertion},
                headers={"Accept": "application/json"}, timeout=(self.connect_timeout, self.read_timeout),
            )
        except requests.RequestException as exc:
            raise classify(exc) from None
        token = token_answer(response)
        try:
            return Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], session=session,
                              version=self.api_version)
        except Exception as exc:
            raise classify(exc) from None

    def _private_key_bytes(self) -> bytes:
        """The PEM private key, from the secret or the file (unwrapped here, inside the login only)."""
        if self.private_key is not None:
            return self.private_key.get_secret_value().encode()
        path = Path(self.private_key_path or "")
        try:
            return path.read_bytes()
        except OSError as exc:
            raise FatalSyncError(f"cannot read private_key_path {str(path)!r}: {exc.strerror}", code="INVALID_AUTH",
                                 system="crm") from None

    @staticmethod
    def adapter_class() -> type[SalesforceAdapter]:
        """The adapter class :meth:`get_client` builds (its ``id_field`` and other class attributes)."""
        return SalesforceAdapter

    def get_client(self) -> SalesforceAdapter:
        """Log in and return Tandem's Salesforce adapter (it logs in again when its session expires)."""
        return SalesforceAdapter(
            self.login(), page_size=self.page_size, bulk_threshold=self.bulk_threshold,
            bulk_timeout=self.bulk_timeout, relogin=self.login, bulk_read_threshold=self.bulk_read_threshold,
        )
