"""The mapping of records with lines (``lines``) and of records left out where another entity coupled them
(``exclude_coupled_in``): loaded, ordered and refused with a message naming the place."""

from __future__ import annotations

from typing import Any

import pytest

from tandem.mapping import MAPPINGS_DIR, MappingError, load_mapping_set, parse_mapping_set

LINES = {"crm_object": "OrderItem", "parent": "OrderId", "erp": "itemList",
         "fields": [{"crm": "Product2Id", "erp": "item.internalId", "reference": "item"}],
         "references": [{"crm": "Pricebook2Id", "reference": "price_group"}]}


def entities(**order: Any) -> dict[str, Any]:
    return {"entities": {
        "item": {"crm_object": "Product2", "erp_type": "inventoryItem", "direction": "to_crm",
                 "fields": [{"crm": "Name", "erp": "displayName"}]},
        "price_group": {"crm_object": "Pricebook2", "erp_type": "priceLevel", "direction": "to_crm",
                        "fields": [{"crm": "Name", "erp": "name"}]},
        "order": {"crm_object": "Order", "erp_type": "salesOrder", "direction": "to_erp",
                  "fields": [{"crm": "Description", "erp": "memo"}], "lines": LINES, **order},
        "erp_order": {"crm_object": "ERP_Sales_Order__c", "erp_type": "salesOrder", "direction": "to_crm",
                      "exclude_coupled_in": ["order"], "fields": [{"crm": "Name", "erp": "tranId"}]},
    }}


def test_lines_and_left_out_records_set_the_order_of_a_full_sync() -> None:
    mappings = parse_mapping_set(entities(), "test.yaml")
    assert mappings.entity("order").dependencies() == {"item", "price_group"}
    assert mappings.levels() == [["item", "price_group"], ["order"], ["erp_order"]]


@pytest.mark.parametrize(("change", "message"), [
    ({"direction": "to_crm"}, "entity 'order': lines are written to the ERP, so the entity must travel to_erp"),
    ({"lines": {**LINES, "references": [{"crm": "CurrencyIsoCode", "reference": "currency"}]}},
     "entity 'order': depends on unknown entity 'currency'"),
    ({"exclude_coupled_in": ["item"]},
     "entity 'order': exclude_coupled_in names 'item', not another salesOrder entity"),
])
def test_a_wrong_lines_mapping_is_refused_naming_the_entity(change: dict[str, Any], message: str) -> None:
    with pytest.raises(MappingError, match=message):
        parse_mapping_set(entities(**change), "test.yaml")


def test_the_shipped_orders_leave_the_erp_sales_order_entity_alone_once_coupled() -> None:
    mappings = load_mapping_set(MAPPINGS_DIR / "default.yaml")
    order = mappings.entity("crm_order")
    assert order.lines is not None and order.lines.crm_object == "OrderItem"
    assert mappings.entity("sales_order").exclude_coupled_in == ["crm_order"]
    assert {"customer", "item", "resource", "currency", "price_group"} <= order.dependencies()
