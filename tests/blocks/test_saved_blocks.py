"""Blocks saved to and loaded from a Prefect server (the worker's shared test harness: tests/conftest.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from pydantic import SecretStr

from blocks.connection import ConnectionOptions, SyncConnection
from blocks.salesforce import SalesforceCredentials
from blocks.store import StateStore
from tandem.mapping import Direction, Filter
from tests.blocks.conftest import DB_PASSWORD, ERP_SECRETS, SF_SECRETS, erp, salesforce

#: The Prefect server of the worker (started once for every module that needs one; the block names here are this
#: module's own).
pytestmark = pytest.mark.usefixtures("shared_prefect_harness")


def test_salesforce_credentials_round_trip() -> None:
    block = salesforce(bulk_threshold=5000, page_size=500, read_timeout=30.0)
    block.save("sf-round-trip", overwrite=True)

    loaded: Any = SalesforceCredentials.load("sf-round-trip")

    assert loaded.password.get_secret_value() == SF_SECRETS["password"]
    assert loaded.security_token.get_secret_value() == SF_SECRETS["security_token"]
    assert (loaded.bulk_threshold, loaded.page_size, loaded.read_timeout) == (5000, 500, 30.0)
    assert loaded.login_host == block.login_host


def test_state_store_round_trip(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.sqlite3'}"
    StateStore(url=SecretStr(url)).save("store-round-trip", overwrite=True)

    loaded: Any = StateStore.load("store-round-trip")

    assert loaded.url.get_secret_value() == url
    engine = loaded.get_engine()
    engine.dispose()
    assert (tmp_path / "state.sqlite3").is_file()


def test_sync_connection_round_trip_keeps_nested_secrets_and_options() -> None:
    options = ConnectionOptions(
        entities=["customer", "contact"],
        directions={"customer": Direction.TO_CRM},
        exclusions={"customer": [Filter(side="crm", field="Name", op="!=", value="Internal")]},
    )
    SyncConnection(
        salesforce=salesforce(), erp=erp(),
        store=StateStore(url=SecretStr(f"postgresql+psycopg://tandem:{DB_PASSWORD}@db:5432/tandem")),
        options=options,
    ).save("connection-round-trip", overwrite=True)

    loaded = SyncConnection.load_named("connection-round-trip")

    assert isinstance(loaded, SyncConnection)
    assert loaded.salesforce.password is not None
    assert loaded.salesforce.password.get_secret_value() == SF_SECRETS["password"]
    assert loaded.erp.token_secret.get_secret_value() == ERP_SECRETS["token_secret"]
    assert DB_PASSWORD in loaded.store.url.get_secret_value()
    assert loaded.options == options
    assert loaded.enabled_entities() == ["customer", "contact"]
    mappings = loaded.mapping_set_for_run()
    assert mappings.entity("customer").direction == Direction.TO_CRM
    assert mappings.entity("customer").filters[-1].value == "Internal"


def test_saved_connection_document_masks_secrets() -> None:
    SyncConnection(salesforce=salesforce(), erp=erp()).save("connection-masked", overwrite=True)

    async def read() -> str:
        async with get_client() as client:
            document = await client.read_block_document_by_name(
                "connection-masked", block_type_slug="tandem-sync-connection", include_secrets=False
            )
            return str(document.data)

    data = asyncio.run(read())
    assert "salesforce" in data
    for secret in [*SF_SECRETS.values(), *ERP_SECRETS.values()]:
        assert secret not in data
