"""The HubSpot credentials block: Prefect's standard checks, validation messages, the token kept secret."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from prefect.blocks.core import Block
from prefect.testing.standard_test_suites import BlockStandardTestSuite
from pydantic import SecretStr, ValidationError

from blocks.hubspot import HubSpotCredentials
from tandem.hubspot.adapter import HubSpotAdapter

#: A token made for this run (any text will do: the checks only look for it where it must not show).
TOKEN = secrets.token_urlsafe(16)


class TestHubSpotCredentialsStandard(BlockStandardTestSuite):
    @pytest.fixture
    def block(self) -> type[Block]:
        return HubSpotCredentials


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"base_url": "api.hubapi.com"}, "must be a full URL"),
        ({"read_timeout": 0}, "read_timeout must be more than 0 seconds"),
        ({"connect_timeout": -1}, "connect_timeout must be more than 0 seconds"),
        ({"page_size": 201}, "page_size must be between 1 and 200"),
        ({"access_token": SecretStr("  ")}, "access_token is empty"),
    ],
)
def test_invalid_settings_are_refused_with_a_clear_message(overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as raised:
        HubSpotCredentials(**{"access_token": SecretStr(TOKEN), **overrides})
    assert fragment in str(raised.value) and TOKEN not in str(raised.value)


def test_get_client_builds_the_adapter_without_showing_the_token(tmp_path: Any) -> None:
    block = HubSpotCredentials(access_token=SecretStr(TOKEN), portal_id=42, base_url="https://127.0.0.1:9/",
                               page_size=50)
    adapter = block.get_client()
    assert isinstance(adapter, HubSpotAdapter)
    assert (adapter.portal_id, adapter.page_size, adapter.transport.base_url) == (42, 50, "https://127.0.0.1:9")
    assert adapter.transport.timeout == (10.0, 60.0)
    assert not block.is_sandbox and HubSpotCredentials(access_token=SecretStr(TOKEN), sandbox=True).is_sandbox
    assert all(TOKEN not in text for text in (repr(block), repr(adapter), block.model_dump_json()))
    with pytest.raises(ValueError, match="is not a file"):
        HubSpotCredentials(access_token=SecretStr(TOKEN), ca_bundle_path=str(tmp_path / "none.pem")).get_client()
