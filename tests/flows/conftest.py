"""Flow tests: both emulators out of process (demo seeds), Prefect's test harness, real blocks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from blocks.connection import ConnectionOptions, SyncConnection
from blocks.erp import ErpCredentials
from blocks.salesforce import SalesforceCredentials
from blocks.store import StateStore
from flows.initial_import import initial_import
from flows.parameters import EntityName
from tandem.mapping import MAPPINGS_DIR, load_mapping_set
from tandem.store import create_connection, create_schema, create_store_engine, require_id, session_scope
from tandem.sync.context import SyncContext
from tests.support.blocks import save_block
from tests.support.emulator import RunningEmulator


@pytest.fixture(scope="session", autouse=True)
def prefect_server(shared_prefect_harness: None) -> None:
    """A temporary Prefect server and database for the whole session (what Prefect's test harness starts, its
    database copied from one already migrated: tests/support/prefect_harness.py); one per worker (tests/conftest.py)."""


@pytest.fixture(scope="session")
def crm(shared_crm_emulator: RunningEmulator) -> RunningEmulator:
    """The Salesforce emulator (production org, demo data); one per worker (tests/conftest.py)."""
    return shared_crm_emulator


@pytest.fixture(scope="session")
def erp(shared_erp_emulator: RunningEmulator) -> RunningEmulator:
    """The ERP emulator (production account, demo data); one per worker (tests/conftest.py)."""
    return shared_erp_emulator


@pytest.fixture
def fresh(crm: RunningEmulator, erp: RunningEmulator) -> tuple[RunningEmulator, RunningEmulator]:
    """Both emulators back to their demo data, clocks at real time, no faults.

    The clocks go back first, so that the demo data is the day's whatever an earlier test did to them (a reset to
    the demo on the same day restores a copy of the first: emulators/*/seed.py ``DemoReset``).
    """
    for emulator in (crm, erp):
        emulator.control("POST", "clock", json={"reset": True})
        emulator.control("POST", "reset", json={"seed": "demo"})
    return crm, erp


def salesforce_block(crm: RunningEmulator, **overrides: Any) -> SalesforceCredentials:
    """Credentials for the Salesforce emulator."""
    info = crm.info
    fields: dict[str, Any] = {
        "login_host": info["login_url"], "username": info["username"], "password": SecretStr(info["password"]),
        "security_token": SecretStr(info["security_token"]), "ca_bundle_path": crm.ca_cert,
        "api_version": info.get("api_version", "59.0"),
    }
    return SalesforceCredentials(**{**fields, **overrides})


def erp_block(erp: RunningEmulator, **overrides: Any) -> ErpCredentials:
    """Credentials for the ERP emulator."""
    info = erp.info
    fields: dict[str, Any] = {
        "account_id": info["account"], "consumer_key": SecretStr(info["consumer_key"]),
        "consumer_secret": SecretStr(info["consumer_secret"]), "token_id": SecretStr(info["token_id"]),
        "token_secret": SecretStr(info["token_secret"]), "wsdl_url": info["wsdl_url"],
    }
    return ErpCredentials(**{**fields, **overrides})


def save_connection(
    name: str, crm_emulator: RunningEmulator, erp_emulator: RunningEmulator, store_path: Path, **fields: Any
) -> SyncConnection:
    """Save a Tandem Sync Connection block called ``name`` pairing the two emulators."""
    block = SyncConnection(
        salesforce=fields.pop("salesforce", None) or salesforce_block(crm_emulator),
        erp=fields.pop("erp", None) or erp_block(erp_emulator),
        store=StateStore(url=SecretStr(f"sqlite:///{store_path}")),
        options=fields.pop("options", None) or ConnectionOptions(),
        **fields,
    )
    save_block(block, name)
    return block


@contextmanager
def engine_context(
    crm: RunningEmulator, erp: RunningEmulator, store_path: Path, name: str, **fields: Any
) -> Iterator[SyncContext]:
    """A sync context for the engine without Prefect: both emulators, the default mappings, a new state store at
    ``store_path`` holding one connection ``name``; ``fields`` set the context's own (``page_size``, ``dry_run``)."""
    store = create_store_engine(f"sqlite:///{store_path}")
    create_schema(store)
    with session_scope(store) as session:
        connection = create_connection(session, name=name, crm_org_id="00D000000000001", erp_account_id="1")
        connection_id = require_id(connection)
    try:
        yield SyncContext(connection_id=connection_id, store=store, crm=salesforce_block(crm).get_client(),
                          erp=erp_block(erp).get_client(), mappings=load_mapping_set(MAPPINGS_DIR / "default.yaml"),
                          started_at=datetime.now(UTC), **fields)
    finally:
        store.dispose()


#: The reminder-task entity, as the flows take it.
TASK = [EntityName("task")]


@pytest.fixture
def enabled(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path
) -> tuple[RunningEmulator, RunningEmulator, Path]:
    """Sync enabled on connection ``tasks`` (the initial import of tasks has run): the task rule tests."""
    crm, erp = fresh
    store_path = tmp_path / "state.sqlite3"
    save_connection("tasks", crm, erp, store_path)
    [row] = initial_import(connection="tasks", entities=TASK)
    assert row["state"] == "succeeded" and row["failed"] == 0, row
    return crm, erp, store_path
