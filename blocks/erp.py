"""Prefect block holding the ERP's token-based-authentication credentials and connection settings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Self
from urllib.parse import urlparse

from prefect.blocks.core import Block
from pydantic import Field, SecretStr, model_validator

from blocks.schema_cache import CachedJsonSchema
from tandem.erp.adapter import ErpAdapter
from tandem.erp.client import ErpConnection

ACCOUNT_ID = re.compile(r"^\d{4,10}(_(SB\d{1,2}|RP))?$")


class ErpCredentials(CachedJsonSchema, Block):
    """Token-based-authentication credentials and connection settings for the SuiteTalk-style SOAP ERP.

    ``get_client()`` is the only way to build the ERP adapter: it unwraps the secrets and returns a
    :class:`tandem.erp.adapter.ErpAdapter` that signs a fresh ``tokenPassport`` for every request.

    Example:
        Load stored credentials and read customers changed in the last hour:
        ```python
        from datetime import UTC, datetime, timedelta

        from blocks.erp import ErpCredentials

        erp_credentials = ErpCredentials.load("BLOCK_NAME")
        erp = erp_credentials.get_client()
        since = datetime.now(UTC) - timedelta(hours=1)
        for page in erp.read_changed_since("customer", since, fields=["companyName"], page_size=500):
            print(len(page))
        ```
    """

    _block_type_name = "Tandem ERP Credentials"
    _block_type_slug = "tandem-erp-credentials"
    _documentation_url = "https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_4395630653.html"  # type: ignore[assignment]

    account_id: str = Field(
        description="The ERP account id, such as 1234567 for production or 1234567_SB1 for a sandbox.",
        examples=["1234567", "1234567_SB1"],
    )
    consumer_key: SecretStr = Field(description="The consumer key of the integration record.")
    consumer_secret: SecretStr = Field(description="The consumer secret of the integration record.")
    token_id: SecretStr = Field(description="The access token id (a user, role and integration combination).")
    token_secret: SecretStr = Field(description="The access token secret.")
    wsdl_url: str = Field(
        description="Where to load the WSDL from: an https:// or http:// URL, or a local file path.",
        examples=["https://127.0.0.1:8443/wsdl/netsuite.wsdl"],
    )
    endpoint_url: str | None = Field(
        default=None,
        description="The SOAP endpoint to post to instead of the address in the WSDL; leave empty to use the WSDL's.",
    )
    ca_bundle_path: str | None = Field(
        default=None,
        description=(
            "A PEM file of certificate authorities to trust for the ERP's TLS certificate; empty uses the system's."
        ),
    )
    connect_timeout: float = Field(
        default=10.0, description="Seconds to wait for a connection to the ERP before giving up."
    )
    operation_timeout: float = Field(
        default=120.0, description="Seconds to wait for the answer to one SOAP call before giving up."
    )
    async_upsert_threshold: int = Field(
        default=2000,
        description="Upserts of more records than this go through asyncUpsertList jobs instead of upsertList calls.",
    )
    max_attempts: int = Field(
        default=3,
        description=(
            "Tries per idempotent call inside the adapter before a retryable error reaches the task (1 disables)."
        ),
    )

    @model_validator(mode="after")
    def _check_settings(self) -> Self:
        if not ACCOUNT_ID.match(self.account_id):
            raise ValueError(
                f"account_id {self.account_id!r} is not an account id: use the digits shown under "
                "Setup > Integration > SOAP Web Services Preferences, such as 1234567, with _SB1 (or _SB2 ...) "
                "for a sandbox; use capitals and an underscore, not 1234567-sb1"
            )
        for name in ("connect_timeout", "operation_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be more than 0 seconds (every ERP call needs a timeout)")
        if self.async_upsert_threshold < 1:
            raise ValueError("async_upsert_threshold must be at least 1 record")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1 (1 leaves all retries to the Prefect task)")
        wsdl_scheme = urlparse(self.wsdl_url).scheme
        if wsdl_scheme not in ("http", "https", "file", ""):
            raise ValueError(f"wsdl_url must be an http(s) URL or a file path, not a {wsdl_scheme}: URL")
        if self.endpoint_url:
            endpoint = urlparse(self.endpoint_url)
            if endpoint.scheme not in ("http", "https") or not endpoint.netloc:
                raise ValueError("endpoint_url must be a full http(s) URL such as https://host:port/services/NetSuitePort")
        if self.ca_bundle_path and not self.ca_bundle_path.strip():
            raise ValueError("ca_bundle_path is blank: leave it empty to trust the system's certificate authorities")
        return self

    @property
    def is_sandbox(self) -> bool:
        """True for a sandbox account (an id ending in ``_SB<n>``)."""
        return "_SB" in self.account_id

    def connection(self) -> ErpConnection:
        """The unwrapped connection settings (secrets included; never log the result)."""
        if self.ca_bundle_path and not Path(self.ca_bundle_path).is_file():
            raise ValueError(f"ca_bundle_path {self.ca_bundle_path!r} is not a file")
        return ErpConnection(
            account=self.account_id,
            consumer_key=self.consumer_key.get_secret_value(),
            consumer_secret=self.consumer_secret.get_secret_value(),
            token_id=self.token_id.get_secret_value(),
            token_secret=self.token_secret.get_secret_value(),
            wsdl_url=self.wsdl_url,
            endpoint_url=self.endpoint_url or None,
            ca_bundle=self.ca_bundle_path or None,
            connect_timeout=self.connect_timeout,
            operation_timeout=self.operation_timeout,
        )

    def get_client(self) -> ErpAdapter:
        """Build Tandem's ERP adapter from these credentials.

        Returns:
            An adapter implementing :class:`tandem.adapter.RecordAdapter` for the ERP.
        """
        return ErpAdapter(
            self.connection(),
            async_threshold=self.async_upsert_threshold,
            max_attempts=self.max_attempts,
        )
