"""One ERP emulator (HTTPS, private CA) for the adapter tests; wiped before each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from blocks.erp import ErpCredentials
from tandem.erp.adapter import ErpAdapter
from tests.support.emulator import RunningEmulator, running_emulator

MAX_CONCURRENCY = 3


@pytest.fixture(scope="session")
def erp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """The emulator process, shared by the session."""
    data_dir: Path = tmp_path_factory.mktemp("erp-adapter")
    with running_emulator(
        "erp", data_dir, "--seed", "none", "--tls", "--max-concurrency", str(MAX_CONCURRENCY)
    ) as emulator:
        yield emulator


@pytest.fixture
def erp(erp_server: RunningEmulator) -> RunningEmulator:
    """The emulator with no records, no faults, zeroed counters and its clock back to real time."""
    erp_server.control("POST", "reset", json={"seed": "none"})
    erp_server.control("POST", "clock", json={"reset": True})
    return erp_server


def calls(emulator: RunningEmulator, operation: str) -> int:
    """How many times ``operation`` reached the emulator since the last reset."""
    return int(emulator.control("GET", "counters")["by_endpoint"].get(operation, 0))


def credentials_for(emulator: RunningEmulator, **overrides: Any) -> ErpCredentials:
    """A block filled from the emulator's ready file."""
    info = emulator.info
    values: dict[str, Any] = {
        "account_id": info["account"],
        "consumer_key": info["consumer_key"],
        "consumer_secret": info["consumer_secret"],
        "token_id": info["token_id"],
        "token_secret": info["token_secret"],
        "wsdl_url": info["wsdl_url"],
        "ca_bundle_path": info["ca_cert"],
        "connect_timeout": 5.0,
        "operation_timeout": 10.0,
        **overrides,
    }
    return ErpCredentials(**values)


@pytest.fixture
def credentials(erp: RunningEmulator) -> ErpCredentials:
    """The block for the test emulator."""
    return credentials_for(erp)


@pytest.fixture
def adapter(credentials: ErpCredentials) -> Iterator[ErpAdapter]:
    """The adapter, built through the block's ``get_client()``."""
    client = credentials.get_client()
    yield client
    client.close()
