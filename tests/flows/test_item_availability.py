"""Item availability in Salesforce, against both emulators: the full sync writes each inventory item's stock onto its
product (total) and one ERP_Item_Availability__c record per location; a stock change in the ERP travels on the next
incremental run of the availability entities; ``tandem serve`` reads one item's stock live (JSON and an HTML
fragment, checked in headless Chromium), and refuses unknown or uncoupled products."""

from __future__ import annotations

from pathlib import Path

import requests

from blocks.connection import ConnectionOptions
from flows.full_sync import full_sync
from flows.incremental_sync import incremental_sync
from flows.initial_import import initial_import
from flows.parameters import EntityName
from tandem.erp.adapter import ErpAdapter
from tests.erp_adapter.test_item_availability import set_stock
from tests.flows.clients import erp_client, salesforce
from tests.flows.conftest import save_connection
from tests.support.chromium import dump_dom, screenshot
from tests.support.emulator import RunningEmulator
from tests.support.png import pixels
from tests.support.web import serving
from web.availability import IN_STOCK, NONE_AVAILABLE

STOCK = ["unit_group", "location", "item", "item_stock", "item_availability"]


def names(*entities: str) -> list[EntityName]:
    return [EntityName(e) for e in entities]


def by_entity(rows: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(row["entity"]): row for row in rows}


def rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _available(erp: ErpAdapter, item: str) -> dict[str, float]:
    """An item's quantity available per location name, and its total under ``""``, read from the ERP."""
    stock = erp.stock.item_stock(item, "externalId")
    assert stock is not None
    return {**{str(line.location_name): line.quantities["quantityAvailable"] or 0.0 for line in stock.locations},
            "": stock.total("quantityAvailable")}


def test_stock_reaches_the_product_and_its_locations_and_a_change_travels_on_the_next_run(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path
) -> None:
    crm, erp = fresh
    save_connection("stock", crm, erp, tmp_path / "state.sqlite3", options=ConnectionOptions(entities=STOCK))
    initial_import(connection="stock", entities=names("location"))  # turns sync on (3 records)
    rows = by_entity(full_sync(connection="stock"))
    assert rows["item_availability"]["inserted"] == 120 and rows["item_availability"]["failed"] == 0, rows
    assert rows["item_stock"]["coupled"] == 40 and rows["item_stock"]["failed"] == 0, rows

    sf, client = salesforce(crm), erp_client(erp)
    expected = _available(client, "ITEM-001")
    [product] = sf.query("SELECT Id, Quantity_Available__c, Quantity_On_Hand__c FROM Product2 "
                         "WHERE ERP_Id__c = 'ITEM-001'")["records"]
    assert product["Quantity_Available__c"] == expected[""] > 0
    lines = sf.query("SELECT Name, Quantity_Available__c, ERP_Location__r.Name, Product__c "
                     f"FROM ERP_Item_Availability__c WHERE Product__c = '{product['Id']}'")["records"]
    assert {r["ERP_Location__r"]["Name"]: r["Quantity_Available__c"] for r in lines} == {
        k: v for k, v in expected.items() if k}
    assert {r["Name"] for r in lines} == {f"SKU-1000 @ {k}" for k in expected if k}
    assert sf.query("SELECT COUNT() FROM ERP_Item_Availability__c")["totalSize"] == 120

    set_stock(client, "ITEM-001", [("LOC-2", 1000, 400)])  # a delivery and a big order at the East Coast DC
    after = _available(client, "ITEM-001")
    assert after["East Coast DC"] == 600.0
    again = by_entity(incremental_sync(connection="stock", direction="to_crm",
                                       entities=names("item_stock", "item_availability")))
    assert (again["item_availability"]["modified"], again["item_stock"]["modified"]) == (1, 1), again
    [now] = sf.query(f"SELECT Quantity_Available__c FROM Product2 WHERE Id = '{product['Id']}'")["records"]
    assert now["Quantity_Available__c"] == after[""]
    [east] = sf.query("SELECT Quantity_Available__c, Quantity_On_Hand__c, Quantity_Committed__c "
                      f"FROM ERP_Item_Availability__c WHERE Product__c = '{product['Id']}' "
                      "AND ERP_Location__r.Name = 'East Coast DC'")["records"]
    assert (east["Quantity_Available__c"], east["Quantity_On_Hand__c"], east["Quantity_Committed__c"]) == (
        600.0, 1000.0, 400.0)


def test_serve_reads_an_items_availability_live_and_refuses_unknown_products(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path
) -> None:
    crm, erp = fresh
    save_connection("live", crm, erp, tmp_path / "state.sqlite3",
                    options=ConnectionOptions(entities=["unit_group", "item", "resource"]))
    full_sync(connection="live")
    sf, client = salesforce(crm), erp_client(erp)
    [product] = sf.query("SELECT Id FROM Product2 WHERE ERP_Id__c = 'ITEM-001'")["records"]
    [service] = sf.query("SELECT Id FROM Product2 WHERE ERP_Id__c = 'SRV-001'")["records"]
    set_stock(client, "ITEM-001", [("LOC-1", 12, 12)])  # read live: no sync runs after this change
    expected = _available(client, "ITEM-001")
    assert expected["Main Warehouse"] == 0.0 and expected["West Coast DC"] == 0.0  # item 1: none at two places
    session = requests.Session()
    session.trust_env = False
    with serving("live") as url:
        found = session.get(f"{url}/availability/crm/{product['Id']}?format=json", timeout=60).json()
        assert (found["product_id"], found["item_external_id"], found["item_id"]) == (
            product["Id"], "ITEM-001", "SKU-1000")
        assert {line["location"]: line["quantityAvailable"] for line in found["locations"]} == {
            k: v for k, v in expected.items() if k}
        assert found["totals"]["quantityAvailable"] == expected[""]
        by_item = session.get(f"{url}/availability/erp/{found['item_internal_id']}",
                              headers={"Accept": "application/json"}, timeout=60).json()
        assert by_item["product_id"] == product["Id"] and by_item["totals"] == found["totals"]

        for path, reason in ((f"/availability/crm/{service['Id']}", "not coupled"),
                             ("/availability/crm/01t000000000000AAA", "not coupled"),
                             ("/availability/erp/999999", "no inventory item")):
            refused = session.get(f"{url}{path}?format=json", timeout=60)
            assert refused.status_code == 404 and reason in refused.json()["detail"], (path, refused.text)
        assert session.get(f"{url}/availability/nowhere/1", timeout=60).status_code == 422

        page = f"{url}/availability/crm/{product['Id']}"
        dom = dump_dom(page)
        assert 'class="availability"' in dom and "SKU-1000" in dom and "East Coast DC" in dom
        assert f'data-total="{expected[""]:g}"' in dom
        shot = screenshot(page, tmp_path / "availability.png", width=480, height=220)
        width, height, colours = pixels(shot)
        assert (width, height) == (480, 220)
        assert rgb(IN_STOCK) in colours and rgb(NONE_AVAILABLE) in colours
