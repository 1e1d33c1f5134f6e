"""The record types the emulator serves, read from its own XSD files plus the rules XSD cannot say.

The XSDs under ``wsdl/xsd`` are the single source of field names, their order and their kinds; this
module adds which fields are required on create, which record types a reference may point to, and
which field names a record (for ``RecordRef.name``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from lxml import etree

from emulators.erp.namespaces import PREFIX_OF, PREFIXES, VERSION, XSD

if TYPE_CHECKING:
    from emulators.erp.custom_records import CustomRecordType

WSDL_ROOT = Path(__file__).resolve().parent / "wsdl"
XSD_ROOT = WSDL_ROOT / "xsd"

RECORD_XSDS = (
    "lists/v2023_2_0/relationships.xsd",
    "lists/v2023_2_0/employees.xsd",
    "lists/v2023_2_0/accounting.xsd",
    "transactions/v2023_2_0/sales.xsd",
    "activities/v2023_2_0/scheduling.xsd",
    "setup/v2023_2_0/customization.xsd",
)
SYSTEM_FIELDS = frozenset({"dateCreated", "lastModifiedDate"})


class FieldKind(StrEnum):
    """How a field's value is parsed, stored and written."""

    STRING = "string"
    LONG = "long"
    DOUBLE = "double"
    BOOLEAN = "boolean"
    DATETIME = "dateTime"
    REF = "ref"
    ENUM = "enum"
    MATRIX = "pricingMatrix"
    LOCATIONS = "locationsList"
    ITEMS = "itemList"


@dataclass(frozen=True)
class FieldSpec:
    """One field of a record type."""

    name: str
    kind: FieldKind
    choices: frozenset[str] = frozenset()
    targets: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecordSpec:
    """One record type: its SuiteTalk names and its fields in schema order."""

    record_type: str
    type_name: str
    prefix: str
    fields: tuple[FieldSpec, ...]
    required: frozenset[str]
    name_field: str | None
    custom_type: CustomRecordType | None = None  # set for a custom record type (``customrecord_contract``)
    by_name: dict[str, FieldSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})

    @property
    def qualified_type(self) -> str:
        """The ``prefix:TypeName`` used in ``xsi:type``."""
        return f"{self.prefix}:{self.type_name}"


@dataclass(frozen=True)
class _Rules:
    required: tuple[str, ...]
    name_field: str | None
    targets: Mapping[str, tuple[str, ...]]


ITEM_TYPES = ("inventoryItem", "serviceSaleItem")
PRICING_TARGETS: dict[str, tuple[str, ...]] = {"currency": ("currency",), "priceLevel": ("priceLevel",)}
_TRANSACTION_REFS: dict[str, tuple[str, ...]] = {
    "entity": ("customer",), "currency": ("currency",), "salesRep": ("employee",),
    "terms": ("term",), "location": ("location",),
}
RULES: dict[str, _Rules] = {
    "customer": _Rules(("companyName",), "companyName", {
        "salesRep": ("employee",), "terms": ("term",), "priceLevel": ("priceLevel",), "currency": ("currency",),
    }),
    "contact": _Rules(("lastName",), "entityId", {"company": ("customer",)}),
    "employee": _Rules(("lastName",), "entityId", {"supervisor": ("employee",)}),
    "currency": _Rules(("name", "symbol"), "name", {}),
    "unitsType": _Rules(("name",), "name", {}),
    "inventoryItem": _Rules(("itemId",), "itemId", {"unitsType": ("unitsType",)}),
    "serviceSaleItem": _Rules(("itemId",), "itemId", {"unitsType": ("unitsType",)}),
    "priceLevel": _Rules(("name",), "name", {}),
    "term": _Rules(("name",), "name", {}),
    "location": _Rules(("name",), "name", {}),
    "salesOrder": _Rules(("entity",), "tranId", _TRANSACTION_REFS),
    "invoice": _Rules(("entity",), "tranId", {**_TRANSACTION_REFS, "createdFrom": ("salesOrder",)}),
    "task": _Rules(("title",), "title", {
        "assigned": ("employee",), "company": ("customer",), "contact": ("contact",),
    }),
}

_SIMPLE_KINDS = {
    "string": FieldKind.STRING, "long": FieldKind.LONG, "int": FieldKind.LONG, "double": FieldKind.DOUBLE,
    "boolean": FieldKind.BOOLEAN, "dateTime": FieldKind.DATETIME,
}


def _qname(element: etree._Element, value: str) -> tuple[str, str]:
    prefix, _, local = value.rpartition(":")
    return element.nsmap.get(prefix or None, ""), local


def _enumerations(path: Path) -> dict[tuple[str, str], frozenset[str]]:
    root = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True)).getroot()
    namespace = root.get("targetNamespace", "")
    found: dict[tuple[str, str], frozenset[str]] = {}
    for simple in root.iter(f"{{{XSD}}}simpleType"):
        values = frozenset(e.get("value", "") for e in simple.iter(f"{{{XSD}}}enumeration"))
        found[(namespace, simple.get("name", ""))] = values
    return found


def _record_type_name(type_name: str) -> str:
    return type_name[:1].lower() + type_name[1:]


@cache
def record_specs() -> dict[str, RecordSpec]:
    """Read the record XSDs once; return the specs keyed by record type name (``customer``)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    specs: dict[str, RecordSpec] = {}
    for relative in RECORD_XSDS:
        path = XSD_ROOT / relative
        root = etree.parse(str(path), parser).getroot()
        prefix = PREFIX_OF[root.get("targetNamespace", "")]
        enums: dict[tuple[str, str], frozenset[str]] = {}
        for imported in root.iter(f"{{{XSD}}}import"):
            location = imported.get("schemaLocation", "")
            if "Types" in location:
                enums.update(_enumerations(path.parent / location))
        for complex_type in root.iter(f"{{{XSD}}}complexType"):
            type_name = complex_type.get("name", "")
            extension = complex_type.find(f"{{{XSD}}}complexContent/{{{XSD}}}extension")
            base = _qname(extension, extension.get("base", "")) if extension is not None else None
            if extension is None or base != (PREFIXES["platformCore"], "Record"):
                continue  # searches, pricing matrix parts: not records
            record_type = _record_type_name(type_name)
            if record_type not in RULES:
                continue  # declared for SDKs that look the type up (Vendor, Account...), not served
            rules = RULES[record_type]
            fields: list[FieldSpec] = []
            for element in extension.iter(f"{{{XSD}}}element"):
                name = element.get("name", "")
                namespace, local = _qname(element, element.get("type", ""))
                if namespace == XSD:
                    kind = _SIMPLE_KINDS[local]
                    fields.append(FieldSpec(name, kind))
                elif local == "RecordRef":
                    fields.append(FieldSpec(name, FieldKind.REF, targets=rules.targets[name]))
                elif local == "PricingMatrix":
                    fields.append(FieldSpec(name, FieldKind.MATRIX))
                elif local == "InventoryItemLocationsList":
                    fields.append(FieldSpec(name, FieldKind.LOCATIONS, targets=("location",)))
                elif local == "SalesOrderItemList":
                    fields.append(FieldSpec(name, FieldKind.ITEMS, targets=ITEM_TYPES))
                else:
                    fields.append(FieldSpec(name, FieldKind.ENUM, choices=enums[(namespace, local)]))
            spec = RecordSpec(record_type, type_name, prefix, tuple(fields), frozenset(rules.required),
                              rules.name_field)
            unknown = (set(rules.required) | set(rules.targets)) - set(spec.by_name)
            unknown |= {f.name for f in fields if f.kind is FieldKind.REF} - set(rules.targets)
            if unknown:
                raise RuntimeError(f"{record_type}: rules name fields the XSD lacks: {sorted(unknown)}")
            specs[record_type] = spec
    missing = set(RULES) - set(specs)
    if missing:
        raise RuntimeError(f"no XSD defines the record types {sorted(missing)}")
    from emulators.erp.custom_records import custom_record_specs  # it builds on this module's types

    specs.update(custom_record_specs())
    return specs


@cache
def specs_by_qualified_type() -> dict[tuple[str, str], RecordSpec]:
    """The specs keyed by ``(namespace, TypeName)``, for resolving ``xsi:type``."""
    return {(PREFIXES[s.prefix], s.type_name): s for s in record_specs().values() if s.custom_type is None}


@dataclass(frozen=True)
class SearchFamily:
    """One basic search type and the record types it finds.

    ``by_type`` maps the values of its ``type`` filter (``_salesOrder``, ``_inventoryItem``) to record types;
    a family without one searches ``record_types``.
    """

    basic: str
    record_types: tuple[str, ...]
    by_type: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


# NetSuite's search model: one TransactionSearchBasic for every transaction type and one ItemSearchBasic for every
# item type (filtered by their ``type`` field), one <Type>SearchBasic for each list record that can be searched.
SEARCH_FAMILIES: tuple[SearchFamily, ...] = (
    SearchFamily("ContactSearchBasic", ("contact",)),
    SearchFamily("CustomerSearchBasic", ("customer",)),
    SearchFamily("EmployeeSearchBasic", ("employee",)),
    SearchFamily("ItemSearchBasic", ITEM_TYPES,
                 {"_inventoryItem": ("inventoryItem",), "_service": ("serviceSaleItem",)}),
    SearchFamily("LocationSearchBasic", ("location",)),
    SearchFamily("PriceLevelSearchBasic", ("priceLevel",)),
    SearchFamily("TaskSearchBasic", ("task",)),
    SearchFamily("TermSearchBasic", ("term",)),
    SearchFamily("TransactionSearchBasic", ("salesOrder", "invoice"),
                 {"_salesOrder": ("salesOrder",), "_invoice": ("invoice",)}),
    SearchFamily("UnitsTypeSearchBasic", ("unitsType",)),
    # Custom records: the type is chosen by the search's recType (emulators/erp/custom_records.py).
    SearchFamily("CustomRecordSearchBasic", ()),
)
# Item subtypes of ItemSearchBasic.subType: the service items the emulator has are all for sale.
ITEM_SUBTYPES: dict[str, tuple[str, ...]] = {"_forSale": ("serviceSaleItem",), "_forResale": (), "_forPurchase": ()}
# List records read with getAll (GetAllRecordType) rather than searched.
GET_ALL_TYPES: frozenset[str] = frozenset({"currency"})


def search_families() -> dict[str, SearchFamily]:
    """The search families by their basic search type's local name (``TransactionSearchBasic``)."""
    return {family.basic: family for family in SEARCH_FAMILIES}


@cache
def search_field_kinds() -> dict[tuple[str, str], str]:
    """``(SearchBasicType, field)`` → the search field's type (``SearchDateField``) from ``common.xsd``."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    kinds: dict[tuple[str, str], str] = {}
    for relative in ("platform/v2023_2_0/common.xsd",):
        root = etree.parse(str(XSD_ROOT / relative), parser).getroot()
        for complex_type in root.iter(f"{{{XSD}}}complexType"):
            name = complex_type.get("name", "")
            if not name.endswith("SearchBasic"):
                continue
            for element in complex_type.iter(f"{{{XSD}}}element"):
                kinds[(name, element.get("name", ""))] = _qname(element, element.get("type", ""))[1]
    return kinds


@cache
def search_wrappers() -> dict[tuple[str, str], tuple[str, frozenset[str]]]:
    """``(namespace, CustomerSearch)`` → (its ``basic`` type's local name, its join element names)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    found: dict[tuple[str, str], tuple[str, frozenset[str]]] = {}
    for relative in RECORD_XSDS:
        root = etree.parse(str(XSD_ROOT / relative), parser).getroot()
        namespace = root.get("targetNamespace", "")
        for complex_type in root.iter(f"{{{XSD}}}complexType"):
            extension = complex_type.find(f"{{{XSD}}}complexContent/{{{XSD}}}extension")
            if extension is None or _qname(extension, extension.get("base", ""))[1] != "SearchRecord":
                continue
            basic, joins = "", set()
            for element in extension.iter(f"{{{XSD}}}element"):
                if element.get("name") == "basic":
                    basic = _qname(element, element.get("type", ""))[1]
                else:
                    joins.add(element.get("name", ""))
            if basic in search_families():  # CustomListSearch: a search the emulator has no records for
                found[(namespace, complex_type.get("name", ""))] = (basic, frozenset(joins))
    return found


@cache
def request_elements() -> dict[str, frozenset[str]]:
    """Each operation's request element names (``upsertList`` → ``{record}``), from ``messages.xsd``."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    root = etree.parse(str(XSD_ROOT / "platform/v2023_2_0/messages.xsd"), parser).getroot()
    types = {c.get("name", ""): frozenset(e.get("name", "") for e in c.iter(f"{{{XSD}}}element"))
             for c in root.findall(f"{{{XSD}}}complexType")}
    return {e.get("name", ""): types.get(_qname(e, e.get("type", ""))[1], frozenset())
            for e in root.findall(f"{{{XSD}}}element")}


@cache
def core_enumeration(name: str) -> frozenset[str]:
    """The values of the platform core enumeration ``name`` (``GetAllRecordType`` ...) from ``coreTypes.xsd``."""
    values = _enumerations(XSD_ROOT / "platform/v2023_2_0/coreTypes.xsd")
    return values[(f"urn:types.core_{VERSION}.platform.webservices.netsuite.com", name)]
