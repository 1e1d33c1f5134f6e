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

from lxml import etree

from emulators.erp.namespaces import PREFIX_OF, XSD

WSDL_ROOT = Path(__file__).resolve().parent / "wsdl"
XSD_ROOT = WSDL_ROOT / "xsd"

RECORD_XSDS = (
    "lists/v2023_2_0/relationships.xsd",
    "lists/v2023_2_0/employees.xsd",
    "lists/v2023_2_0/accounting.xsd",
    "transactions/v2023_2_0/sales.xsd",
    "transactions/v2023_2_0/customers.xsd",
    "activities/v2023_2_0/scheduling.xsd",
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


_ITEMS = ("inventoryItem", "serviceItem")
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
    "serviceItem": _Rules(("itemId",), "itemId", {"unitsType": ("unitsType",)}),
    "priceLevel": _Rules(("name",), "name", {}),
    "itemPrice": _Rules(("item", "priceLevel", "currency", "unitPrice"), None, {
        "item": _ITEMS, "priceLevel": ("priceLevel",), "currency": ("currency",),
    }),
    "term": _Rules(("name",), "name", {}),
    "location": _Rules(("name",), "name", {}),
    "salesOrder": _Rules(("entity",), "tranId", _TRANSACTION_REFS),
    "invoice": _Rules(("entity",), "tranId", {**_TRANSACTION_REFS, "createdFrom": ("salesOrder",)}),
    "contract": _Rules(("entity",), "tranId", {
        "entity": ("customer",), "currency": ("currency",), "salesRep": ("employee",),
    }),
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
            record_type = _record_type_name(type_name)
            rules = RULES[record_type]
            fields: list[FieldSpec] = []
            for element in complex_type.iter(f"{{{XSD}}}element"):
                name = element.get("name", "")
                namespace, local = _qname(element, element.get("type", ""))
                if namespace == XSD:
                    kind = _SIMPLE_KINDS[local]
                    fields.append(FieldSpec(name, kind))
                elif local == "RecordRef":
                    fields.append(FieldSpec(name, FieldKind.REF, targets=rules.targets[name]))
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
    return specs


@cache
def specs_by_qualified_type() -> dict[tuple[str, str], RecordSpec]:
    """The specs keyed by ``(namespace, TypeName)``, for resolving ``xsi:type``."""
    from emulators.erp.namespaces import PREFIXES

    return {(PREFIXES[s.prefix], s.type_name): s for s in record_specs().values()}


def search_types() -> dict[str, str]:
    """``CustomerSearchBasic`` → ``customer`` for every record type."""
    return {f"{s.type_name}SearchBasic": s.record_type for s in record_specs().values()}
