"""Prefect block holding Salesforce credentials and connection settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self
from urllib.parse import urlparse

from prefect.blocks.core import Block
from pydantic import Field, SecretStr, model_validator
from simple_salesforce import Salesforce

from tandem.salesforce.adapter import DEFAULT_BULK_THRESHOLD, DEFAULT_BULK_TIMEOUT, SalesforceAdapter
from tandem.salesforce.errors import classify
from tandem.salesforce.transport import build_session

STANDARD_HOSTS = ("login", "test")


class SalesforceCredentials(Block):
    """Credentials and connection settings for one Salesforce org.

    Three ways to log in, chosen by the fields given: username + password (+ security token) through
    the SOAP login; username + password + client id/secret through the OAuth password grant; or
    client id/secret alone through the OAuth client-credentials grant (needs ``my_domain``).
    ``get_client()`` is the only factory: it unwraps the secrets and returns Tandem's adapter.

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

    @model_validator(mode="after")
    def _check_settings(self) -> Self:
        if self.login_host not in STANDARD_HOSTS:
            url = urlparse(self.login_host)
            if url.scheme not in ("http", "https") or not url.netloc:
                raise ValueError(
                    f"login_host {self.login_host!r} must be login, test or a full URL such as https://127.0.0.1:8443"
                )
        has_user = self.username is not None or self.password is not None
        has_app = self.client_id is not None or self.client_secret is not None
        if has_user and (self.username is None or self.password is None):
            raise ValueError("give both username and password (or neither, for the client-credentials grant)")
        if has_app and (self.client_id is None or self.client_secret is None):
            raise ValueError("give both client_id and client_secret for OAuth (or neither, for the SOAP login)")
        if not has_user and not has_app:
            raise ValueError("give username and password, or client_id and client_secret, to log in")
        if has_app and not has_user and not self.my_domain:
            raise ValueError(
                "the client-credentials grant logs in at the org's My Domain: set my_domain (e.g. acme.my)"
            )
        if self.security_token is not None and has_app:
            raise ValueError("security_token is for the SOAP login; OAuth logins do not use it")
        for name in ("connect_timeout", "read_timeout", "bulk_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be more than 0 seconds (every Salesforce call needs a timeout)")
        if not 200 <= self.page_size <= 2000:
            raise ValueError("page_size must be between 200 and 2000 (Salesforce's batchSize range)")
        if self.bulk_threshold < 1:
            raise ValueError("bulk_threshold must be at least 1 record (e.g. 10000)")
        return self

    @property
    def is_sandbox(self) -> bool:
        """True when these credentials are for a sandbox org."""
        return self.sandbox or self.login_host == "test"

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

    def get_client(self) -> SalesforceAdapter:
        """Log in and return Tandem's Salesforce adapter (it logs in again when its session expires)."""
        return SalesforceAdapter(
            self.login(), page_size=self.page_size, bulk_threshold=self.bulk_threshold,
            bulk_timeout=self.bulk_timeout, relogin=self.login,
        )
