"""Prefect block holding a HubSpot private app's access token and the connection settings."""

from __future__ import annotations

from pathlib import Path
from typing import Self
from urllib.parse import urlparse

from prefect.blocks.core import Block
from pydantic import ConfigDict, Field, SecretStr, model_validator

from blocks.schema_cache import CachedJsonSchema
from tandem.hubspot.adapter import SEARCH_PAGE_LIMIT, HubSpotAdapter
from tandem.hubspot.transport import DEFAULT_BASE_URL, HubSpotTransport


class HubSpotCredentials(CachedJsonSchema, Block):
    """The access token of a HubSpot private app and how to reach the portal's CRM API.

    The private app needs the CRM scopes of the objects Tandem syncs (read and write): companies, contacts,
    products (``e-commerce``), tasks, and ``crm.schemas.*.read`` for the properties API. ``get_client()`` is the
    only factory: it unwraps the token into the transport's requests and returns Tandem's adapter.

    Example:
        Load stored credentials and read contacts changed in the last hour:
        ```python
        from datetime import UTC, datetime, timedelta

        from blocks.hubspot import HubSpotCredentials

        hubspot = HubSpotCredentials.load("BLOCK_NAME").get_client()
        since = datetime.now(UTC) - timedelta(hours=1)
        for page in hubspot.read_changed_since("contacts", since, fields=["email"], page_size=200):
            print(len(page))
        ```
    """

    #: Validation errors never echo the input: it may hold the token passed as plain text.
    model_config = ConfigDict(hide_input_in_errors=True)

    _block_type_name = "Tandem HubSpot Credentials"
    _block_type_slug = "tandem-hubspot-credentials"
    _documentation_url = "https://developers.hubspot.com/docs/api/private-apps"  # type: ignore[assignment]

    access_token: SecretStr = Field(description="The private app's access token (pat-...).")
    portal_id: int | None = Field(
        default=None, description="The portal (hub) id, used to link records in HubSpot's app on status cards."
    )
    sandbox: bool = Field(
        default=False,
        description="True when the portal is a sandbox or developer test account (paired only with an ERP sandbox).",
    )
    base_url: str = Field(
        default=DEFAULT_BASE_URL,
        description="The API's address: https://api.hubapi.com, or an emulator's URL such as http://127.0.0.1:8080.",
    )
    ca_bundle_path: str | None = Field(
        default=None, description="A PEM file of certificate authorities to trust instead of the system's."
    )
    connect_timeout: float = Field(default=10.0, description="Seconds to wait for a connection to HubSpot.")
    read_timeout: float = Field(default=60.0, description="Seconds to wait for HubSpot to answer a request.")
    page_size: int = Field(default=SEARCH_PAGE_LIMIT, description="Records per search page, from 1 to 200.")

    @model_validator(mode="after")
    def _check_settings(self) -> Self:
        url = urlparse(self.base_url)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise ValueError(f"base_url {self.base_url!r} must be a full URL such as https://api.hubapi.com")
        for name in ("connect_timeout", "read_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be more than 0 seconds (every HubSpot call needs a timeout)")
        if not 1 <= self.page_size <= SEARCH_PAGE_LIMIT:
            raise ValueError("page_size must be between 1 and 200 (HubSpot's search limit)")
        if not self.access_token.get_secret_value().strip():
            raise ValueError("access_token is empty: paste the private app's access token")
        return self

    @property
    def is_sandbox(self) -> bool:
        """True when these credentials are for a sandbox or developer test portal."""
        return self.sandbox

    @staticmethod
    def adapter_class() -> type[HubSpotAdapter]:
        """The adapter class :meth:`get_client` builds (its ``id_field`` and other class attributes)."""
        return HubSpotAdapter

    def get_client(self) -> HubSpotAdapter:
        """Return Tandem's HubSpot adapter over a transport holding the token (no call is made)."""
        if self.ca_bundle_path and not Path(self.ca_bundle_path).is_file():
            raise ValueError(f"ca_bundle_path {self.ca_bundle_path!r} is not a file")
        transport = HubSpotTransport(
            self.access_token, base_url=self.base_url, ca_bundle=self.ca_bundle_path,
            timeout=(self.connect_timeout, self.read_timeout),
        )
        return HubSpotAdapter(transport, portal_id=self.portal_id, page_size=self.page_size)
