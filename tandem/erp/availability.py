"""Item availability: NetSuite's stock per item and location as two read-only virtual entities, and a live read.

NetSuite keeps an inventory item's stock per location (the item's ``locationsList``) and answers it with the
``getItemAvailability`` operation: one row per item and location with its quantities and the moment its quantity
available last changed (``lastQtyAvailableChange``). An item's ``lastModifiedDate`` does not move when stock
moves, so the reads here list the inventory items (ids and names only) and ask ``getItemAvailability`` for each
page of them; the incremental read keeps the rows whose ``lastQtyAvailableChange`` is at or after the watermark.

* ``itemAvailability``: one row per item x location, keyed ``inventoryItem:<itemId>:<locationId>`` (internal ids;
  also the row's ``externalId``, the engine's link), with ``item`` and ``location`` references, the quantities
  and ``name`` (``SKU-1000 @ Main Warehouse``). ``modified_at`` is the row's ``lastQtyAvailableChange``.
* ``itemStock``: one row per inventory item, keyed by the item's internal id, with the item's ``externalId`` (so it
  links to the record the item entity wrote), ``itemId`` and the quantities summed over its locations.
  ``modified_at`` is the latest change of any of its locations.

Quantities never travel to the ERP (NetSuite changes them through inventory transactions): writes are refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import pandas as pd
from lxml import etree

from tandem.erp import parsing
from tandem.erp.schema import WsdlTypes
from tandem.errors import FatalSyncError

AVAILABILITY_ENTITY = "itemAvailability"
STOCK_ENTITY = "itemStock"
STOCK_ENTITIES = frozenset({AVAILABILITY_ENTITY, STOCK_ENTITY})
STOCKED_ITEM_TYPE = "inventoryItem"
QUANTITIES = ("quantityOnHand", "quantityOnOrder", "quantityCommitted", "quantityBackOrdered", "quantityAvailable")
AVAILABILITY_REFERENCES = frozenset({"item", "location"})
AVAILABILITY_FIELDS = frozenset({"internalId", "externalId", "name", "item", "location", "lastQtyAvailableChange",
                                 *QUANTITIES})
STOCK_FIELDS = frozenset({"internalId", "externalId", "itemId", "displayName", "locationCount", *QUANTITIES})
ITEM_FIELDS = ["externalId", "itemId", "displayName"]
#: Items per ``getItemAvailability`` call (the size of a search page at most).
ITEMS_PER_CALL = 1000
Call = Callable[..., etree._Element]


class ItemReader(Protocol):
    """The reads of inventory items the stock reads build on (the ERP adapter's own)."""

    def read_changed_since(
        self, entity: str, since: datetime | None, *, fields: Sequence[str], page_size: int
    ) -> Iterator[pd.DataFrame]:
        """Pages of records."""
        ...

    def read_by_keys(self, entity: str, key_field: str, keys: Sequence[str], *, fields: Sequence[str]) -> pd.DataFrame:
        """Records by key."""
        ...


def availability_key(item_id: str, location_id: str) -> str:
    """The synthetic key of one item x location row."""
    return f"{STOCKED_ITEM_TYPE}:{item_id}:{location_id}"


def split_availability_key(key: str) -> tuple[str, str] | None:
    """``(itemId, locationId)`` of a synthetic key; ``None`` when it is not one."""
    parts = key.split(":")
    return (parts[1], parts[2]) if len(parts) == 3 and parts[0] == STOCKED_ITEM_TYPE else None


@dataclass(frozen=True)
class LocationStock:
    """One item's stock at one location, as ``getItemAvailability`` answers it."""

    location_id: str
    location_external_id: str | None
    location_name: str | None
    quantities: dict[str, float | None]
    changed_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the location and its quantities."""
        return {"location_id": self.location_id, "location_external_id": self.location_external_id,
                "location": self.location_name, **self.quantities,
                "last_change": self.changed_at.isoformat() if self.changed_at else None}


@dataclass(frozen=True)
class ItemStock:
    """One inventory item's stock at every location that holds it."""

    internal_id: str
    external_id: str | None
    item_id: str | None
    display_name: str | None
    locations: list[LocationStock] = field(default_factory=list)

    def total(self, quantity: str) -> float:
        """``quantity`` summed over the locations (a location without it counts 0)."""
        return float(sum(line.quantities.get(quantity) or 0.0 for line in self.locations))

    @property
    def changed_at(self) -> datetime | None:
        """The latest change of any location's quantity available."""
        moments = [line.changed_at for line in self.locations if line.changed_at is not None]
        return max(moments) if moments else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the item, its totals and its locations."""
        return {"item_internal_id": self.internal_id, "item_external_id": self.external_id, "item_id": self.item_id,
                "display_name": self.display_name, "totals": {q: self.total(q) for q in QUANTITIES},
                "locations": [line.as_dict() for line in self.locations]}


def _number(value: str | None) -> float | None:
    if value is None or not value.strip():
        return None
    number = float(value)
    return None if math.isnan(number) else number


def parse_availability(response: etree._Element) -> dict[str, list[LocationStock]]:
    """The ``getItemAvailability`` rows of a response, by item internal id, in the order answered.

    Raises:
        FatalSyncError: the result is missing or says the call failed.
    """
    result = next(response.iter("{*}getItemAvailabilityResult"), None)
    if result is None:
        raise FatalSyncError("getItemAvailability: no result", code="MALFORMED_RESPONSE", system="erp")
    status = parsing.parse_status(result)
    if not status.ok:
        raise FatalSyncError(f"getItemAvailability failed: {status.message or ''}", code=status.code or "",
                             system="erp")
    found: dict[str, list[LocationStock]] = {}
    for row in parsing.children(parsing.find(result, "itemAvailabilityList"), "itemAvailability"):
        item, location = parsing.find(row, "item"), parsing.find(row, "locationId")
        if item is None or location is None or not item.get("internalId") or not location.get("internalId"):
            continue
        found.setdefault(str(item.get("internalId")), []).append(LocationStock(
            location_id=str(location.get("internalId")), location_external_id=location.get("externalId"),
            location_name=parsing.text(location, "name"),
            quantities={q: _number(parsing.text(row, q)) for q in QUANTITIES},
            changed_at=parsing.parse_datetime(parsing.text(row, "lastQtyAvailableChange")),
        ))
    return found


def _value(row: pd.Series | dict[str, Any], column: str) -> str | None:
    value = row.get(column)
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


class StockBook:
    """Reads item availability through the adapter's item reads and ``getItemAvailability``.

    Args:
        items: reads inventory items (the ERP adapter).
        call: runs one idempotent SuiteTalk operation and returns its response element.
        types: the WSDL's types.
    """

    def __init__(self, items: ItemReader, call: Call, types: WsdlTypes) -> None:
        self.items = items
        self.call = call
        self.types = types

    # -- the live read -------------------------------------------------------------------------

    def stock_of(self, frame: pd.DataFrame, since: datetime | None = None) -> list[ItemStock]:
        """The stock of the inventory items in ``frame`` (``id``, ``externalId``, ``itemId``, ``displayName``).

        With ``since``, NetSuite's ``lastQtyAvailableChange`` filter returns only the locations whose quantity
        available changed at or after it (an item with none has no locations).
        """
        out: list[ItemStock] = []
        rows = frame.to_dict("records")
        changed_since = {} if since is None else {"lastQtyAvailableChange": since}
        for start in range(0, len(rows), ITEMS_PER_CALL):
            chunk = rows[start : start + ITEMS_PER_CALL]
            refs = [self.types.record_ref(STOCKED_ITEM_TYPE, internalId=str(r["id"])) for r in chunk]
            availability = parse_availability(self.call(
                "getItemAvailability",
                itemAvailabilityFilter=self.types.get("ItemAvailabilityFilter")(
                    item=self.types.get("RecordRefList")(recordRef=refs), **changed_since),
            ))
            out.extend(ItemStock(internal_id=str(r["id"]), external_id=_value(r, "externalId"),
                                 item_id=_value(r, "itemId"), display_name=_value(r, "displayName"),
                                 locations=availability.get(str(r["id"]), [])) for r in chunk)
        return out

    def item_stock(self, key: str, key_field: str = "internalId") -> ItemStock | None:
        """One inventory item's stock per location, read now; ``None`` when there is no such inventory item.

        Args:
            key: the item's internal id or external id.
            key_field: ``internalId`` or ``externalId``.
        """
        frame = self.items.read_by_keys(STOCKED_ITEM_TYPE, key_field, [key], fields=ITEM_FIELDS)
        found = self.stock_of(frame)
        return found[0] if found else None

    # -- the virtual entities ------------------------------------------------------------------

    def read_changed_since(
        self, entity: str, since: datetime | None, fields: Sequence[str], page_size: int
    ) -> Iterator[pd.DataFrame]:
        """Pages of ``itemAvailability`` or ``itemStock`` rows changed at or after ``since`` (all when ``None``).

        An item's ``lastModifiedDate`` does not move with its stock, so every inventory item is listed; with
        ``since`` the ERP returns only the changed locations, and an item's total is read whole for the items
        that have one.
        """
        for items in self.items.read_changed_since(STOCKED_ITEM_TYPE, None, fields=ITEM_FIELDS, page_size=page_size):
            stock = self.stock_of(items, since)
            if since is not None and entity == STOCK_ENTITY:
                moved = {item.internal_id for item in stock if item.locations}
                stock = self.stock_of(items[items["id"].astype(str).isin(moved)]) if moved else []
            rows = self._rows(entity, stock, since)
            if rows:
                yield self._frame(entity, rows, fields)

    def read_by_keys(self, entity: str, key_field: str, keys: Sequence[str], fields: Sequence[str]) -> pd.DataFrame:
        """The rows with these keys (``itemAvailability``: synthetic keys; ``itemStock``: the item's internal id,
        or its external id when ``key_field`` is ``externalId``), with the ``key_field`` column."""
        column = "internalId" if key_field == "id" else key_field
        if entity == AVAILABILITY_ENTITY:
            wanted = {str(k) for k in keys if split_availability_key(str(k)) is not None}
            item_ids = sorted({parts[0] for k in wanted if (parts := split_availability_key(k)) is not None})
            items = self.items.read_by_keys(STOCKED_ITEM_TYPE, "internalId", item_ids, fields=ITEM_FIELDS)
            rows = [r for r in self._rows(entity, self.stock_of(items), None) if r["id"] in wanted]
        else:
            part = "externalId" if key_field == "externalId" else "internalId"
            items = self.items.read_by_keys(STOCKED_ITEM_TYPE, part, [str(k) for k in keys], fields=ITEM_FIELDS)
            rows = self._rows(entity, self.stock_of(items), None)
        return self._frame(entity, rows, [column, *fields])

    @staticmethod
    def _rows(entity: str, stock: list[ItemStock], since: datetime | None) -> list[dict[str, Any]]:
        moment = None if since is None else since.replace(tzinfo=UTC) if since.tzinfo is None else since.astimezone(UTC)

        def changed(at: datetime | None) -> bool:
            return moment is None or at is None or at >= moment

        rows: list[dict[str, Any]] = []
        for item in stock:
            if entity == STOCK_ENTITY:
                if item.locations and changed(item.changed_at):
                    rows.append({"id": item.internal_id, "internalId": item.internal_id,
                                 "externalId": item.external_id, "modified_at": item.changed_at,
                                 "itemId": item.item_id, "displayName": item.display_name,
                                 "locationCount": len(item.locations), **{q: item.total(q) for q in QUANTITIES}})
                continue
            for line in item.locations:
                if not changed(line.changed_at):
                    continue
                key = availability_key(item.internal_id, line.location_id)
                rows.append({
                    "id": key, "internalId": key, "externalId": key, "modified_at": line.changed_at,
                    "name": f"{item.item_id or item.internal_id} @ {line.location_name or line.location_id}",
                    "item.internalId": item.internal_id, "item.externalId": item.external_id,
                    "item.name": item.item_id, "location.internalId": line.location_id,
                    "location.externalId": line.location_external_id, "location.name": line.location_name,
                    "lastQtyAvailableChange": line.changed_at, **line.quantities,
                })
        return rows

    @staticmethod
    def _frame(entity: str, rows: Sequence[dict[str, Any]], fields: Sequence[str]) -> pd.DataFrame:
        references = AVAILABILITY_REFERENCES if entity == AVAILABILITY_ENTITY else frozenset()
        wanted = parsing.expand_fields(fields, references)
        columns = list(dict.fromkeys(["id", "modified_at", *wanted]))
        frame = pd.DataFrame([{c: row.get(c) for c in columns} for row in rows], columns=columns)
        frame["modified_at"] = pd.to_datetime(frame["modified_at"], utc=True)
        return frame


def refuse_write(entity: str) -> FatalSyncError:
    """The error for a write to a stock entity (quantities move through inventory transactions in the ERP)."""
    return FatalSyncError(f"{entity} is read-only: stock changes through the ERP's inventory transactions",
                          code="UNSUPPORTED_OPERATION", system="erp")


def stock_field_names(entity: str) -> frozenset[str]:
    """The fields of a stock entity."""
    return AVAILABILITY_FIELDS if entity == AVAILABILITY_ENTITY else STOCK_FIELDS
