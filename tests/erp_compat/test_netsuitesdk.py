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
from netsuitesdk.internal.exceptions import NetSuiteRequestError  # noqa: E402
from netsuitesdk.internal.utils import PaginatedSearch  # noqa: E402

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


CONTRACT_TYPE = "101"  # customrecord_contract's internal id in the emulated account


def _contract(client: Any, tag: str, customer_id: str, value: float) -> dict[str, Any]:
    fields = client.CustomFieldList(customField=[
        client.SelectCustomFieldRef(scriptId="custrecord_contract_customer",
                                    value=client.ListOrRecordRef(internalId=customer_id)),
        client.DoubleCustomFieldRef(scriptId="custrecord_contract_value", value=value),
        client.StringCustomFieldRef(scriptId="custrecord_contract_memo", value=f"{tag} memo"),
    ])
    return {"externalId": f"{tag}-ctr", "name": f"{tag} contract", "recType": {"internalId": CONTRACT_TYPE},
            "customFieldList": fields}


def test_custom_record_upsert_get_and_search(connection: NetSuiteConnection, adapter: ErpAdapter, tag: str) -> None:
    """Custom records (``customrecord_contract``) through netsuitesdk 3.x, by what its own code sends.

    * ``custom_records.post(data)`` (netsuitesdk/api/custom_records.py, ``CustomRecords.post``) upserts a
      ``CustomRecord`` by ``externalId`` with ``recType`` and a ``customFieldList`` built from the SDK's types:
      it works as published.
    * ``custom_records.get(...)`` cannot read one: ``ApiBase._get`` calls ``NetSuiteClient.get``
      (netsuitesdk/internal/client.py, lines 390-398), which always sends a ``RecordRef`` of type ``customRecord``
      without the custom record type; NetSuite needs a ``CustomRecordRef`` with ``typeId``, which the same client's
      ``request('get', ...)`` sends.
    * ``custom_records.search(...)`` and ``get_all_generator()`` find none: ``basic_stringfield_search``
      (client.py, lines 558-567) and ``PaginatedSearch`` (netsuitesdk/internal/utils.py) send a
      ``CustomRecordSearchBasic`` without ``recType``, and a custom record search must name its type;
      ``PaginatedSearch`` given a ``basic_search`` with ``recType`` pages through them.
    """
    client = connection.client
    customer_id = str(customers(adapter).iloc[0]["internalId"])
    created = connection.custom_records.post(_contract(client, tag, customer_id, 1200.0))
    updated = connection.custom_records.post(_contract(client, tag, customer_id, 2400.0))
    assert created["internalId"] == updated["internalId"] and created["externalId"] == f"{tag}-ctr"

    with pytest.raises(NetSuiteRequestError) as refused:  # the SDK's get sends a RecordRef of type customRecord
        connection.custom_records.get(internalId=created["internalId"])
    assert refused.value.code == "INVALID_CSTM_RCRD_TYPE_KEY"
    read = client.request("get", baseRef=client.CustomRecordRef(internalId=created["internalId"],
                                                                typeId=CONTRACT_TYPE)).body.readResponse
    assert read.status.isSuccess
    values = {f.scriptId: f.value for f in read.record.customFieldList.customField}
    assert read.record.name == f"{tag} contract" and values["custrecord_contract_value"] == 2400.0
    assert values["custrecord_contract_customer"].internalId == customer_id

    with pytest.raises(NetSuiteRequestError) as no_type:  # the SDK's search names no recType
        connection.custom_records.search(attribute="name", value=f"{tag} contract", operator="is")
    assert no_type.value.code == "USER_ERROR"
    basic = client.CustomRecordSearchBasic(recType=client.RecordRef(internalId=CONTRACT_TYPE),
                                           name=client.SearchStringField(searchValue=tag, operator="startsWith"))
    search = PaginatedSearch(client=client, type_name="CustomRecord", basic_search=basic, pageSize=PAGE_SIZE)
    assert [r.externalId for r in search.records] == [f"{tag}-ctr"]
    everything = PaginatedSearch(client=client, type_name="CustomRecord", pageSize=PAGE_SIZE, basic_search=(
        client.CustomRecordSearchBasic(recType=client.RecordRef(internalId=CONTRACT_TYPE))))
    pages = [everything.records or []]
    for page in range(2, everything.total_pages + 1):
        everything.goto_page(page)
        pages.append(everything.records)
    found = [r.externalId for page in pages for r in page]
    assert len(found) == len(set(found)) == everything.total_records and f"{tag}-ctr" in found
