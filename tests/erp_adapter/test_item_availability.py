"""Stock per item and location: the emulator's inventoryItem ``locationsList`` (written, merged, quantity available
derived) and its ``getItemAvailability``; the adapter's read-only ``itemAvailability`` / ``itemStock`` entities and
its live read of one item."""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import pytest

from tandem.erp import parsing
from tandem.erp.adapter import ErpAdapter
from tandem.erp.availability import AVAILABILITY_ENTITY, ITEM_FIELDS, STOCK_ENTITY, availability_key
from tandem.errors import FatalSyncError


def set_stock(adapter: ErpAdapter, item: str, lines: list[tuple[str, float, float]], *, replace: bool = False) -> None:
    """Write an item's stock as an ERP user would: ``(location externalId, on hand, committed)`` per location."""
    kind = adapter.types.get
    record = kind("InventoryItem")(externalId=item, locationsList=kind("InventoryItemLocationsList")(
        replaceAll=replace, locations=[
            kind("InventoryItemLocations")(locationId=adapter.types.record_ref("location", externalId=location),
                                           quantityOnHand=on_hand, quantityCommitted=committed)
            for location, on_hand, committed in lines]))
    response = adapter._call("upsertList", record=[record])
    statuses = [parsing.parse_status(w) for w in response.iter("{*}writeResponse")]
    assert [s.ok for s in statuses] == [True], statuses


def _read(adapter: ErpAdapter, entity: str, fields: list[str], since: Any = None) -> pd.DataFrame:
    pages = list(adapter.read_changed_since(entity, since, fields=fields, page_size=5))
    return pd.concat(pages, ignore_index=True) if pages else pd.DataFrame(columns=["id", *fields])


@pytest.fixture
def stocked(adapter: ErpAdapter) -> dict[str, str]:
    """Two locations, two inventory items with stock and a service item; their internal ids by externalId."""
    ids: dict[str, str] = {}
    for entity, records in (
        ("location", [{"externalId": "L1", "name": "Main"}, {"externalId": "L2", "name": "East"}]),
        ("inventoryItem", [{"externalId": "I1", "itemId": "SKU-1", "displayName": "Ladder"},
                           {"externalId": "I2", "itemId": "SKU-2"}]),
        ("serviceSaleItem", [{"externalId": "S1", "itemId": "SRV-1"}]),
    ):
        results = adapter.upsert_batch(entity, "externalId", records)
        assert all(r.ok for r in results)
        ids.update({str(r.key): str(r.id) for r in results})
    set_stock(adapter, "I1", [("L1", 10, 2), ("L2", 5, 0)])
    set_stock(adapter, "I2", [("L1", 7, 9)])
    return ids


def test_stock_rows_per_location_and_totals_per_item(adapter: ErpAdapter, stocked: dict[str, str]) -> None:
    rows = _read(adapter, AVAILABILITY_ENTITY, ["externalId", "name", "item", "location", "quantityAvailable",
                                                "quantityOnHand", "quantityCommitted"])
    by_key = rows.set_index("id")
    one = by_key.loc[availability_key(stocked["I1"], stocked["L1"])]
    assert (one["name"], one["item.externalId"], one["location.name"]) == ("SKU-1 @ Main", "I1", "Main")
    assert (one["quantityOnHand"], one["quantityCommitted"], one["quantityAvailable"]) == (10.0, 2.0, 8.0)
    assert one["externalId"] == one.name  # the synthetic key is the engine's link
    # Committed beyond on hand: nothing available (never negative). The service item has no stock rows.
    assert by_key.loc[availability_key(stocked["I2"], stocked["L1"]), "quantityAvailable"] == 0.0
    assert len(rows) == 3

    totals = _read(adapter, STOCK_ENTITY, ["externalId", "itemId", "quantityAvailable", "quantityOnHand"])
    assert totals.set_index("externalId")[["quantityAvailable", "quantityOnHand"]].to_dict("index") == {
        "I1": {"quantityAvailable": 13.0, "quantityOnHand": 15.0},
        "I2": {"quantityAvailable": 0.0, "quantityOnHand": 7.0},
    }
    assert set(totals["id"]) == {stocked["I1"], stocked["I2"]}


def test_a_stock_change_is_read_from_its_watermark_and_by_key(adapter: ErpAdapter, stocked: dict[str, str]) -> None:
    first = _read(adapter, AVAILABILITY_ENTITY, ["quantityAvailable"])
    watermark = first["modified_at"].max() + pd.Timedelta(milliseconds=1)
    time.sleep(0.01)
    set_stock(adapter, "I1", [("L2", 50, 1)])  # a line for one location leaves the other as it was
    changed = _read(adapter, AVAILABILITY_ENTITY, ["quantityAvailable"], since=watermark.to_pydatetime())
    assert list(zip(changed["id"], changed["quantityAvailable"], strict=True)) == [
        (availability_key(stocked["I1"], stocked["L2"]), 49.0)]
    totals = _read(adapter, STOCK_ENTITY, ["externalId", "quantityAvailable"], since=watermark.to_pydatetime())
    assert list(zip(totals["externalId"], totals["quantityAvailable"], strict=True)) == [("I1", 57.0)]
    # The ERP filters by lastQtyAvailableChange: only the changed location travels.
    items = adapter.read_by_keys("inventoryItem", "externalId", ["I1", "I2"], fields=ITEM_FIELDS)
    moved = {item.external_id: [line.location_id for line in item.locations]
             for item in adapter.stock.stock_of(items, watermark.to_pydatetime())}
    assert moved == {"I1": [stocked["L2"]], "I2": []}

    key = availability_key(stocked["I1"], stocked["L1"])
    by_key = adapter.read_by_keys(AVAILABILITY_ENTITY, "externalId", [key, "inventoryItem:999:1", "junk"],
                                  fields=["quantityAvailable"])
    assert list(zip(by_key["externalId"], by_key["quantityAvailable"], strict=True)) == [(key, 8.0)]
    by_link = adapter.read_by_keys(STOCK_ENTITY, "externalId", ["I2"], fields=["quantityOnHand"])
    assert list(zip(by_link["externalId"], by_link["quantityOnHand"], strict=True)) == [("I2", 7.0)]

    set_stock(adapter, "I2", [("L2", 3, 0)], replace=True)  # replaceAll: I2 is now only at L2
    assert [line.location_id for line in adapter.stock.item_stock("I2", "externalId").locations] == [stocked["L2"]]


def test_the_live_read_and_what_the_entities_refuse(adapter: ErpAdapter, stocked: dict[str, str]) -> None:
    stock = adapter.stock.item_stock(stocked["I1"])
    assert stock is not None and (stock.external_id, stock.item_id, stock.display_name) == ("I1", "SKU-1", "Ladder")
    assert [(line.location_name, line.quantities["quantityAvailable"]) for line in stock.locations] == [
        ("Main", 8.0), ("East", 5.0)]
    assert stock.as_dict()["totals"]["quantityAvailable"] == 13.0
    assert adapter.stock.item_stock("nope", "externalId") is None
    assert adapter.stock.item_stock(stocked["S1"]) is None  # a service item is no inventory item

    assert {"quantityAvailable", "item", "location"} <= adapter.field_names(AVAILABILITY_ENTITY)
    assert {"quantityAvailable", "itemId"} <= adapter.field_names(STOCK_ENTITY)
    assert adapter.read_deleted_since(STOCK_ENTITY, pd.Timestamp("2020-01-01", tz="UTC").to_pydatetime(),
                                      pd.Timestamp.now(tz="UTC").to_pydatetime()).records == []
    with pytest.raises(FatalSyncError) as refused:
        adapter.upsert_batch(STOCK_ENTITY, "externalId", [{"externalId": "I1", "quantityAvailable": 1}])
    assert refused.value.code == "INVALID_RCRD_TYPE"


def test_the_emulator_refuses_an_unknown_location_and_a_filter_without_items(
    adapter: ErpAdapter, stocked: dict[str, str]
) -> None:
    with pytest.raises(AssertionError, match="INVALID_KEY_OR_REF"):
        set_stock(adapter, "I1", [("NO-SUCH-LOCATION", 1, 0)])
    with pytest.raises(FatalSyncError) as no_items:  # the filter's item list is required
        adapter._call("getItemAvailability", itemAvailabilityFilter=adapter.types.get("ItemAvailabilityFilter")())
    assert no_items.value.code == "MALFORMED_REQUEST"
