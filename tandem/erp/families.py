"""How NetSuite reads each record type: which basic search finds it (and with which ``type`` filter), or
``getAll`` for the list records that cannot be searched.

NetSuite has one ``TransactionSearchBasic`` for every transaction type (filtered by ``type``: ``_salesOrder``,
``_invoice`` ...) and one ``ItemSearchBasic`` for every item type (``_inventoryItem``, ``_service`` with
``subType`` ``_forSale`` ...); other searchable records have a ``<Type>SearchBasic`` of their own. Custom record
types (``customrecord_contract``) share ``CustomRecordSearchBasic``, whose ``recType`` names the type.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReadFamily:
    """How one record type is read: ``search`` with ``basic`` and optional type filters, or ``getAll``."""

    basic: str | None
    types: tuple[str, ...] = ()
    sub_types: tuple[str, ...] = ()
    get_all: bool = False
    modified: str = "lastModifiedDate"  # the search field of the last modification
    custom: bool = False  # a custom record type: searched with its recType, deleted as customRecord + scriptId


TRANSACTION_TYPES = {
    "salesOrder": "_salesOrder", "invoice": "_invoice", "estimate": "_estimate", "cashSale": "_cashSale",
    "creditMemo": "_creditMemo", "purchaseOrder": "_purchaseOrder", "returnAuthorization": "_returnAuthorization",
    "itemFulfillment": "_itemFulfillment", "journalEntry": "_journal", "opportunity": "_opportunity",
}
ITEM_TYPES: dict[str, tuple[str, str | None]] = {
    "inventoryItem": ("_inventoryItem", None), "assemblyItem": ("_assembly", None), "kitItem": ("_kit", None),
    "serviceSaleItem": ("_service", "_forSale"), "serviceResaleItem": ("_service", "_forResale"),
    "servicePurchaseItem": ("_service", "_forPurchase"), "nonInventorySaleItem": ("_nonInventoryItem", "_forSale"),
    "nonInventoryResaleItem": ("_nonInventoryItem", "_forResale"),
    "nonInventoryPurchaseItem": ("_nonInventoryItem", "_forPurchase"),
}
GET_ALL_TYPES = frozenset({"currency", "state", "taxType", "taxGroup", "budgetCategory", "leadSource"})


def read_family(entity: str) -> ReadFamily:
    """The way NetSuite reads record type ``entity`` (``customer`` → ``CustomerSearchBasic``)."""
    if entity in GET_ALL_TYPES:
        return ReadFamily(basic=None, get_all=True)
    if entity.startswith("customrecord"):
        return ReadFamily("CustomRecordSearchBasic", modified="lastModified", custom=True)
    if entity in TRANSACTION_TYPES:
        return ReadFamily("TransactionSearchBasic", types=(TRANSACTION_TYPES[entity],))
    if entity in ITEM_TYPES:
        kind, sub_type = ITEM_TYPES[entity]
        return ReadFamily("ItemSearchBasic", types=(kind,), sub_types=(sub_type,) if sub_type else ())
    return ReadFamily(f"{entity[:1].upper()}{entity[1:]}SearchBasic")
