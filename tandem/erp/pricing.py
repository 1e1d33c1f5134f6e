"""Item prices as a virtual ``itemPrice`` entity over NetSuite items' pricing matrices.

NetSuite keeps an item's prices in its ``pricingMatrix``: one ``pricing`` line per currency and price level, each
with a ``priceList`` of prices by quantity. The engine and the mappings sync prices as records of their own, so
the adapter flattens every matrix into one row per item x price level x currency (the base-quantity price) with
a stable synthetic key ``<itemType>:<itemId>:<priceLevelId>:<currencyId>``, which is also the row's ``externalId``
(the engine's link: a matrix line has no external id of its own, and internal ids survive a sandbox refresh).
The row's ``modified_at`` is its item's ``lastModifiedDate`` (NetSuite updates it when a price changes).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
from lxml import etree

from tandem.erp import parsing

PRICE_ENTITY = "itemPrice"
PRICED_ITEM_TYPES = ("inventoryItem", "serviceSaleItem")
PRICE_REFERENCES = frozenset({"item", "priceLevel", "currency"})
PRICE_FIELDS = frozenset({"internalId", "externalId", "item", "priceLevel", "currency", "unitPrice", "quantity"})


def price_key(item_type: str, item_id: str, level_id: str, currency_id: str) -> str:
    """The synthetic key of one price row."""
    return f"{item_type}:{item_id}:{level_id}:{currency_id}"


def split_key(key: str) -> tuple[str, str, str, str] | None:
    """``(itemType, itemId, priceLevelId, currencyId)`` of a synthetic key; ``None`` when it is not one."""
    parts = key.split(":")
    return (parts[0], parts[1], parts[2], parts[3]) if len(parts) == 4 and parts[0] in PRICED_ITEM_TYPES else None


def _ref_parts(element: etree._Element | None) -> tuple[str | None, str | None, str | None]:
    if element is None:
        return None, None, None
    name = parsing.text(element, "name")
    return element.get("internalId"), element.get("externalId"), name


def price_rows(records: Iterable[etree._Element], item_type: str) -> list[dict[str, Any]]:
    """Flatten the pricing matrices of item ``records`` into price rows (see the module docstring)."""
    rows: list[dict[str, Any]] = []
    for record in records:
        item_id = record.get("internalId") or ""
        modified = parsing.text(record, "lastModifiedDate")
        item_name = parsing.text(record, "itemId")
        for pricing in parsing.children(parsing.find(record, "pricingMatrix"), "pricing"):
            level = _ref_parts(parsing.find(pricing, "priceLevel"))
            currency = _ref_parts(parsing.find(pricing, "currency"))
            prices = parsing.children(parsing.find(pricing, "priceList"), "price")
            base_prices = [p for p in prices if not float(parsing.text(p, "quantity") or 0)]
            base = base_prices[0] if base_prices else (prices[0] if prices else None)
            value = parsing.text(base, "value") if base is not None else None
            key = price_key(item_type, item_id, level[0] or "", currency[0] or "")
            rows.append({
                "id": key, "internalId": key, "externalId": key, "modified_at": modified,
                "item.internalId": item_id, "item.externalId": record.get("externalId"), "item.name": item_name,
                "item.type": item_type,
                "priceLevel.internalId": level[0], "priceLevel.externalId": level[1], "priceLevel.name": level[2],
                "currency.internalId": currency[0], "currency.externalId": currency[1], "currency.name": currency[2],
                "unitPrice": value, "quantity": parsing.text(base, "quantity") if base is not None else None,
            })
    return rows


def price_frame(rows: Sequence[dict[str, Any]], fields: Sequence[str]) -> pd.DataFrame:
    """A page frame of price rows with ``id``, ``modified_at`` and the requested (expanded) fields."""
    wanted = parsing.expand_fields(fields, PRICE_REFERENCES)
    columns = ["id", "modified_at", *wanted]
    frame = pd.DataFrame([{c: row.get(c) for c in columns} for row in rows], columns=columns)
    frame["modified_at"] = pd.to_datetime(frame["modified_at"], utc=True, format="ISO8601")
    return frame
