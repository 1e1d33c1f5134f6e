"""Fixtures: one ERP emulator with the demo account for the SuiteTalk SDKs no one here wrote, and Tandem's own
adapter over it as the reference the SDKs' answers are compared with."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pandas as pd
import pytest
from pydantic import SecretStr

from blocks.erp import ErpCredentials
from tandem.erp.adapter import ErpAdapter
from tests.support.emulator import RunningEmulator, start_emulator


@pytest.fixture(scope="session")
def ns_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """The ERP emulator with the demo account (300 customers, currencies, items...)."""
    emulator = start_emulator("erp", tmp_path_factory.mktemp("erp-compat"), "--seed", "demo")
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def adapter(ns_emulator: RunningEmulator) -> Iterator[ErpAdapter]:
    """Tandem's ERP adapter on the emulator: the reference for what the emulator holds."""
    info = ns_emulator.info
    client = ErpCredentials(
        account_id=info["account"], consumer_key=SecretStr(info["consumer_key"]),
        consumer_secret=SecretStr(info["consumer_secret"]), token_id=SecretStr(info["token_id"]),
        token_secret=SecretStr(info["token_secret"]), wsdl_url=info["wsdl_url"],
    ).get_client()
    try:
        yield client
    finally:
        client.close()


def customers(adapter: ErpAdapter) -> pd.DataFrame:
    """Every customer the emulator holds (internalId, externalId, companyName), read by the adapter."""
    pages = list(adapter.read_changed_since("customer", None, fields=["internalId", "externalId", "companyName"],
                                            page_size=1000))
    return pd.concat(pages, ignore_index=True)


def customers_by_external_id(adapter: ErpAdapter, external_ids: list[str]) -> dict[str, str]:
    """``externalId`` → ``companyName`` of the customers with those external ids (the adapter's getList)."""
    frame = adapter.read_by_keys("customer", "externalId", external_ids, fields=["externalId", "companyName"])
    return dict(zip(frame["externalId"], frame["companyName"], strict=True))


@pytest.fixture
def tag() -> str:
    """A prefix that keeps this test's externalIds apart from other tests' records."""
    return f"sdk{uuid.uuid4().hex[:10]}"
