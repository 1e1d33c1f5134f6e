"""The peer benchmark's floor (``bench/peer.py``) is a correct load: every ERP customer reaches Salesforce with
its mapped fields, through Collections and through Bulk API 2.0, and a second load changes nothing.

Not timed: the benchmark prints figures; these tests only keep the floor honest as the emulators change.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import zeep
from lxml import etree

from bench import peer
from emulators.erp.bulkload import bulk_load
from tests.support.emulator import RunningEmulator, start_emulator

CUSTOMERS = 1234  # two search pages of 1,000


@pytest.fixture(scope="module")
def emulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningEmulator, RunningEmulator]]:
    """A Salesforce emulator and an ERP emulator holding ``CUSTOMERS`` bulk-loaded customers."""
    work: Path = tmp_path_factory.mktemp("peer")
    (work / "erp").mkdir()
    bulk_load(work / "erp", "customer", CUSTOMERS, prefix="PEER")
    crm = start_emulator("salesforce", work / "crm", "--seed", "none")
    try:
        erp = start_emulator("erp", work / "erp", "--seed", "none")
    except BaseException:
        crm.stop()
        raise
    yield crm, erp
    erp.stop()
    crm.stop()


def test_the_floor_searches_customers_the_way_netsuite_defines_it(
    emulators: tuple[RunningEmulator, RunningEmulator],
) -> None:
    _, erp = emulators
    client = zeep.Client(erp.info["wsdl_url"])
    message = client.create_message(client.service, "search", searchRecord=peer.customer_search(client))
    record = message.find(".//{*}searchRecord")
    assert record is not None
    assert record.get("{http://www.w3.org/2001/XMLSchema-instance}type", "").endswith(":CustomerSearch")
    assert [etree.QName(child).localname for child in record] == ["basic"]


@pytest.mark.parametrize("floor", [peer.floor_collections, peer.floor_bulk], ids=["collections", "bulk2"])
def test_the_floor_loads_every_customer_with_its_mapped_fields_and_again_idempotently(
    emulators: tuple[RunningEmulator, RunningEmulator], floor: peer.Floor,
) -> None:
    crm, erp = emulators
    crm.control("POST", "reset", json={"seed": "none"})

    assert floor(crm.info, erp.info, crm.ca_cert) == 0
    assert floor(crm.info, erp.info, crm.ca_cert) == 0

    assert peer.account_count(crm) == CUSTOMERS
    sf = peer.salesforce_login(crm.info, crm.ca_cert)
    rows = sf.query("SELECT Name, Phone, Website, Description, AccountNumber, ERP_Id__c FROM Account "
                    "WHERE ERP_Id__c IN ('PEER-customer-0', 'PEER-customer-1233') ORDER BY ERP_Id__c")["records"]
    assert [{k: v for k, v in row.items() if k != "attributes"} for row in rows] == [
        {"Name": f"Customer companyName {n}", "Phone": f"Customer phone {n}", "Website": f"Customer url {n}",
         "Description": f"Customer comments {n}", "AccountNumber": f"Customer entityId {n}",
         "ERP_Id__c": f"PEER-customer-{n}"}
        for n in (0, 1233)
    ]
