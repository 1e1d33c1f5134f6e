"""netsuitesdk (PyPI ``netsuitesdk``, fylein/netsuite-sdk-py) against the ERP emulator with token auth.

Only its two URL templates are pointed at the emulator (``NetSuiteClient.WSDL_URL_TEMPLATE`` and
``DATACENTER_URL_TEMPLATE``); everything else is the SDK as published. Building its client looks up every type of
its ``COMPLEX_TYPES`` list under zeep's namespace prefixes (``ns17:Account``...), so this also checks that the
emulator's WSDL imports NetSuite's schema set in NetSuite's order.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tandem.erp.adapter import ErpAdapter
from tests.erp_compat.conftest import customers, customers_by_external_id
from tests.support.emulator import RunningEmulator

netsuitesdk = pytest.importorskip("netsuitesdk", reason="netsuitesdk is not installed (the dev extra)")
from netsuitesdk import NetSuiteConnection  # noqa: E402
from netsuitesdk.internal.client import NetSuiteClient  # noqa: E402

#: The connection's ``searchPreferences.pageSize``. ``get_all_generator(page_size=...)`` cannot set it: the SDK's
#: ``PaginatedSearch.__init__`` (netsuitesdk/internal/utils.py, line 5) takes ``pageSize`` and never uses it.
PAGE_SIZE = 50


@pytest.fixture(scope="module")
def connection(ns_emulator: RunningEmulator) -> Iterator[NetSuiteConnection]:
    """netsuitesdk's connection, built against the emulator's WSDL (SuiteTalk 2023.2), token auth."""
    info = ns_emulator.info
    patch = pytest.MonkeyPatch()
    patch.setattr(NetSuiteClient, "WSDL_URL_TEMPLATE", info["base_url"] + "/wsdl/{wsdl_version}/netsuite.wsdl")
    patch.setattr(NetSuiteClient, "DATACENTER_URL_TEMPLATE", info["base_url"] + "/services/{netsuite_port_version}")
    try:
        yield NetSuiteConnection(
            account=info["account"], consumer_key=info["consumer_key"], consumer_secret=info["consumer_secret"],
            token_key=info["token_id"], token_secret=info["token_secret"], caching=False, wsdl_version="2023_2",
            page_size=PAGE_SIZE)
    finally:
        patch.undo()


def test_client_finds_every_type_it_looks_up(connection: NetSuiteConnection) -> None:
    from netsuitesdk.internal.netsuite_types import COMPLEX_TYPES

    wanted = {name for names in COMPLEX_TYPES.values() for name in names}
    assert wanted - set(connection.client._complex_types) == set()


def test_customers_get_all_generator_pages_through_every_customer(connection: NetSuiteConnection,
                                                                  adapter: ErpAdapter) -> None:
    pages = list(connection.customers.get_all_generator())
    got = {str(r.internalId): r.companyName for page in pages for r in page}
    expected = customers(adapter)
    assert len(pages) == -(-len(expected) // PAGE_SIZE) > 1
    assert sum(len(page) for page in pages) == len(expected)
    assert got == dict(zip(expected["internalId"].astype(str), expected["companyName"], strict=True))


def test_customers_get_and_search(connection: NetSuiteConnection, adapter: ErpAdapter) -> None:
    first = customers(adapter).iloc[0]
    got: Any = connection.customers.get(internalId=first["internalId"])
    assert (got["internalId"], got["externalId"], got["companyName"]) == (
        str(first["internalId"]), first["externalId"], first["companyName"])
    found = connection.customers.search(attribute="companyName", value=first["companyName"], operator="is")
    assert [str(r.internalId) for r in found] == [str(first["internalId"])]


def test_upsert_with_token_auth_creates_then_updates(connection: NetSuiteConnection, adapter: ErpAdapter,
                                                      tag: str) -> None:
    client = connection.client
    created = client.upsert(client.Customer(externalId=f"{tag}-1", companyName=f"{tag} Co", entityId=f"{tag} Co"))
    updated = client.upsert(client.Customer(externalId=f"{tag}-1", companyName=f"{tag} Renamed"))
    assert created["externalId"] == updated["externalId"] == f"{tag}-1"
    assert created["internalId"] == updated["internalId"]
    assert customers_by_external_id(adapter, [f"{tag}-1"]) == {f"{tag}-1": f"{tag} Renamed"}
