"""Fixtures: a Salesforce emulator per session (empty org), adapters built through the credentials block."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from pydantic import SecretStr

from blocks.salesforce import SalesforceCredentials
from tandem.salesforce.adapter import SalesforceAdapter
from tests.support.emulator import RunningEmulator, start_emulator


def credentials(emulator: RunningEmulator, **overrides: Any) -> SalesforceCredentials:
    """A credentials block for ``emulator`` (SOAP login with username, password and token)."""
    info = emulator.info
    fields: dict[str, Any] = {
        "login_host": info["login_url"], "username": info["username"], "password": SecretStr(info["password"]),
        "security_token": SecretStr(info["security_token"]), "ca_bundle_path": emulator.ca_cert,
        "connect_timeout": 5.0, "read_timeout": 30.0,
    }
    return SalesforceCredentials(**{**fields, **overrides})


def emulator_now(emulator: RunningEmulator) -> datetime:
    """The emulator's clock."""
    return datetime.fromisoformat(emulator.control("GET", "clock")["now"])


@pytest.fixture(scope="session")
def sf_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """The shared emulator: an empty production org with a generous API limit."""
    emulator = start_emulator(
        "salesforce", tmp_path_factory.mktemp("sf-adapter"), "--seed", "none", "--api-limit", "1000000"
    )
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def emulator(sf_emulator: RunningEmulator) -> RunningEmulator:
    """The shared emulator reset to an empty org, clock at real time, no faults."""
    sf_emulator.control("POST", "reset", json={})
    sf_emulator.control("POST", "clock", json={"reset": True})
    return sf_emulator


@pytest.fixture
def adapter(emulator: RunningEmulator) -> SalesforceAdapter:
    """An adapter logged in to the freshly reset emulator, built by the block's ``get_client()``."""
    return credentials(emulator).get_client()


def accounts(count: int, *, prefix: str = "A", start: int = 0) -> list[dict[str, Any]]:
    """``count`` account records keyed by ``ERP_Id__c`` (``A00000``...)."""
    return [{"ERP_Id__c": f"{prefix}{i:05d}", "Name": f"Account {prefix}{i}"} for i in range(start, start + count)]
