"""Fixtures: one HubSpot emulator per session (an empty portal), adapters built through the credentials block."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from blocks.hubspot import HubSpotCredentials
from tandem.hubspot.adapter import HubSpotAdapter
from tests.support.emulator import RunningEmulator, start_emulator

#: The objects the mapping set syncs (with a property group of each); each gets the unique property ``erp_id``.
SYNCED_OBJECTS = {"companies": "companyinformation", "contacts": "contactinformation",
                  "products": "productinformation", "tasks": "task"}
LINK = "erp_id"


def token(emulator: RunningEmulator) -> str:
    """The emulator's private-app token."""
    return str(emulator.info["access_token"])


def credentials(emulator: RunningEmulator, **overrides: Any) -> HubSpotCredentials:
    """A credentials block for ``emulator``."""
    fields: dict[str, Any] = {
        "access_token": SecretStr(token(emulator)), "portal_id": emulator.info.get("portal_id"),
        "base_url": emulator.base_url, "ca_bundle_path": emulator.ca_cert, "connect_timeout": 5.0,
        "read_timeout": 30.0,
    }
    return HubSpotCredentials(**{**fields, **overrides})


def create_link_properties(emulator: RunningEmulator) -> None:
    """Create the unique property ``erp_id`` on every synced object, as docs/connect/hubspot.md tells a user to."""
    with emulator.session() as session:
        for name, group in SYNCED_OBJECTS.items():
            response = session.post(
                f"{emulator.base_url}/crm/v3/properties/{name}", timeout=30,
                headers={"Authorization": f"Bearer {token(emulator)}"},
                json={"name": LINK, "label": "ERP ID", "type": "string", "fieldType": "text",
                      "groupName": group, "hasUniqueValue": True},
            )
            assert response.status_code in (200, 201, 409), response.text


@pytest.fixture(scope="session")
def hs_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """The shared emulator: an empty portal."""
    emulator = start_emulator("hubspot", tmp_path_factory.mktemp("hubspot-adapter"), "--seed", "none")
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def emulator(hs_emulator: RunningEmulator) -> RunningEmulator:
    """The shared emulator reset to an empty portal with the link properties, real-time clock, no faults."""
    hs_emulator.control("POST", "reset", json={})
    hs_emulator.control("POST", "clock", json={"reset": True})
    create_link_properties(hs_emulator)
    return hs_emulator


@pytest.fixture
def adapter(emulator: RunningEmulator) -> HubSpotAdapter:
    """An adapter for the freshly reset emulator, built by the block's ``get_client()``."""
    return credentials(emulator).get_client()


def companies(count: int, *, prefix: str = "C", start: int = 0) -> list[dict[str, Any]]:
    """``count`` company records keyed by ``erp_id`` (``C00000``...)."""
    return [{LINK: f"{prefix}{i:05d}", "name": f"Company {prefix}{i}", "phone": f"+1 555 01{i:02d}"}
            for i in range(start, start + count)]
