"""Item availability read live: one inventory item's stock per location, for an order line page.

The ERP is authoritative for the quantities: they are read now with ``getItemAvailability`` (through the ERP
adapter, whose calls carry the connection's timeouts), never from the state store or from what the last sync
wrote into Salesforce. The state store only says which ERP item a Salesforce product is: the binding of the
mapping set's inventory item entity (``item``: ``Product2`` ↔ ``inventoryItem``). A product without one is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.engine import Engine

from tandem.erp.availability import STOCKED_ITEM_TYPE, ItemStock
from tandem.mapping import MappingSet
from tandem.store.bindings import bindings_by_ids
from tandem.store.connections import get_connection
from tandem.store.engine import session_scope
from tandem.store.exceptions import ConnectionNotFoundError
from tandem.store.tables import Side

#: Where ``tandem serve`` answers an item's availability (``/availability/crm/<product id>``).
AVAILABILITY_PATH = "/availability"


class UnknownItemError(LookupError):
    """No inventory item answers for the record asked about (unknown, uncoupled, or not a stocked item)."""


class StockReader(Protocol):
    """Reads one inventory item's stock now (:meth:`tandem.erp.availability.StockBook.item_stock`)."""

    def item_stock(self, key: str, key_field: str = "internalId") -> ItemStock | None:
        """The item's stock, or ``None``."""
        ...


@dataclass(frozen=True)
class Availability:
    """One item's availability as read now, with the Salesforce product it is coupled with (if any)."""

    connection: str
    product_id: str | None
    stock: ItemStock
    read_at: datetime

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"connection": self.connection, "product_id": self.product_id, "read_at": self.read_at.isoformat(),
                **self.stock.as_dict()}


@dataclass
class AvailabilityLookup:
    """Finds the inventory item of a product (or takes an ERP item id) and reads its stock live.

    Args:
        connection: the connection's name in the state store.
        store: the state store's engine.
        mappings: the connection's mapping set (its entity ``Product2`` ↔ ``inventoryItem`` couples products).
        reader: reads the stock from the ERP.
    """

    connection: str
    store: Engine
    mappings: MappingSet
    reader: StockReader

    def _entity(self) -> str:
        for entity in self.mappings.entities.values():
            if entity.erp_type == STOCKED_ITEM_TYPE:
                return entity.name
        raise UnknownItemError(f"the mapping set of connection {self.connection!r} syncs no inventory items")

    def _partner(self, side: Side, record_id: str) -> str | None:
        """The other side's id of ``record_id`` through the item entity's binding (``None``: not coupled)."""
        entity = self._entity()
        with session_scope(self.store, write=False) as session:
            try:
                connection_id = get_connection(session, self.connection).id
            except ConnectionNotFoundError:
                return None
            found = bindings_by_ids(session, int(connection_id or 0), entity, side, [record_id]).get(record_id)
        if found is None:
            return None
        return found.erp_id if side is Side.CRM else found.crm_id

    def read(self, side: Side, record_id: str) -> Availability:
        """The availability of a Salesforce product (``side`` CRM) or of an ERP inventory item (by internal id).

        Raises:
            UnknownItemError: the product is not coupled with an ERP item, or the ERP has no such inventory item.
        """
        if side is Side.CRM:
            item_id = self._partner(Side.CRM, record_id)
            if item_id is None:
                raise UnknownItemError(
                    f"product {record_id!r} is not coupled with an ERP inventory item in connection {self.connection!r}"
                )
            product_id: str | None = record_id
        else:
            item_id, product_id = record_id, self._partner(Side.ERP, record_id)
        stock = self.reader.item_stock(item_id)
        if stock is None:
            raise UnknownItemError(f"the ERP has no inventory item with internal id {item_id!r}")
        return Availability(self.connection, product_id, stock, datetime.now(UTC))
