"""Fixtures for ``tandem connect`` and the sync switch: Prefect's test harness, the emulators, the wizard's flags."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.flows.conftest import crm, erp, prefect_server
from tests.support.emulator import RunningEmulator, start_emulator

__all__ = ["bare", "crm", "erp", "prefect_server"]


@pytest.fixture
def bare(tmp_path: Path) -> Iterator[RunningEmulator]:
    """A bare org of its own: Tandem's package never deployed."""
    emulator = start_emulator("salesforce", tmp_path / "bare", "--bare", "--api-limit", "1000000")
    try:
        yield emulator
    finally:
        emulator.stop()


def salesforce_flags(crm: RunningEmulator, **changed: str) -> list[str]:
    """The wizard's Salesforce flags for ``crm`` (password login), with ``changed`` replacing some."""
    info = crm.info
    flags = {
        "salesforce-login": "password", "salesforce-login-host": info["login_url"],
        "salesforce-ca-bundle": crm.ca_cert, "salesforce-sandbox": "yes" if info["is_sandbox"] else "no",
        "salesforce-username": info["username"], "salesforce-password": info["password"],
        "salesforce-security-token": info["security_token"], **changed,
    }
    return [part for key, value in flags.items() for part in (f"--{key}", value)]


def erp_flags(erp: RunningEmulator, **changed: str) -> list[str]:
    """The wizard's ERP flags for ``erp``."""
    info = erp.info
    flags = {
        "erp-account": info["account"], "erp-consumer-key": info["consumer_key"],
        "erp-consumer-secret": info["consumer_secret"], "erp-token-id": info["token_id"],
        "erp-token-secret": info["token_secret"], "erp-wsdl-url": info["wsdl_url"], **changed,
    }
    return [part for key, value in flags.items() for part in (f"--{key}", value)]


def admin_flags(crm: RunningEmulator) -> list[str]:
    """An administrator's login for the org setup (the emulator's one user is the org's administrator too)."""
    info = crm.info
    return ["--admin-username", info["username"], "--admin-password", info["password"],
            "--admin-security-token", info["security_token"]]
