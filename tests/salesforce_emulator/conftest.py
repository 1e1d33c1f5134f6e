"""Fixtures: one Salesforce emulator per test session, and logged-in simple-salesforce clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce

from tandem.retrying import NO_RETRY
from tandem.salesforce.transport import build_session
from tests.support.emulator import RunningEmulator, start_emulator

MY_DOMAIN = "tandem-demo.my"


def client_session(emulator: RunningEmulator) -> requests.Session:
    """A requests session that trusts the emulator's CA and logs in at the emulator; no call-level retries, so
    every answer and dropped connection reaches the test as the emulator sent it."""
    return build_session(ca_bundle=emulator.ca_cert, login_url=emulator.info["login_url"], my_domain=MY_DOMAIN,
                         timeout=(5, 60), retry=NO_RETRY)


def make_salesforce(emulator: RunningEmulator, *, domain: str = "login", **overrides: Any) -> Any:
    """A simple-salesforce client logged in to ``emulator`` with SOAP username/password/token."""
    info = emulator.info
    arguments: dict[str, Any] = {
        "username": info["username"], "password": info["password"], "security_token": info["security_token"],
    }
    arguments.update(overrides)
    return Salesforce(domain=domain, session=client_session(emulator), **arguments)


def rest_headers(sf: Salesforce) -> dict[str, str]:
    """The headers for a plain ``requests`` call with ``sf``'s session."""
    return {"Authorization": f"Bearer {sf.session_id}", "Content-Type": "application/json"}


@pytest.fixture(scope="session")
def sf_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """The shared emulator (empty org, generous API limit)."""
    emulator = start_emulator("salesforce", tmp_path_factory.mktemp("sf"), "--api-limit", "1000000")
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def sf_client(sf_emulator: RunningEmulator) -> Any:
    """A logged-in client for the shared emulator."""
    return make_salesforce(sf_emulator)


@pytest.fixture
def sf(sf_emulator: RunningEmulator, sf_client: Any) -> Any:
    """The shared client, on a freshly reset org with the clock at real time and no faults."""
    sf_emulator.control("POST", "reset", json={})
    sf_emulator.control("POST", "clock", json={"reset": True})
    return sf_client


@pytest.fixture
def http(sf_emulator: RunningEmulator) -> Iterator[requests.Session]:
    """A plain requests session trusting the emulator's CA."""
    with sf_emulator.session() as session:
        yield session


@pytest.fixture
def api(sf_emulator: RunningEmulator, sf: Any) -> str:
    """The REST base URL (``https://127.0.0.1:PORT/services/data/v59.0``)."""
    return f"{sf_emulator.base_url}/services/data/v59.0"


def data_dir(tmp_path: Path, name: str) -> Path:
    """A fresh data directory under ``tmp_path``."""
    path = tmp_path / name
    path.mkdir()
    return path


def error_body(failure: pytest.ExceptionInfo[Any]) -> Any:
    """The parsed body of a simple-salesforce error."""
    return failure.value.content
