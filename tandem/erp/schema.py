"""Find the WSDL's types by local name and build request values for an ERP record type.

Entities are record type names as SuiteTalk spells them in ``RecordType`` (``customer``, ``task``,
``salesOrder``); the record's complex type is the same name capitalised (``Customer``). How a record
type is searched (``TransactionSearchBasic`` with a type filter, ``getAll`` ...) is
:mod:`tandem.erp.families`' business. Looking types up by local name keeps the adapter independent of
the namespaces' version suffix (``_2023_2``).

A flat record (the shape the adapter reads) becomes a typed zeep value: ``internalId`` and
``externalId`` are attributes, ``field.internalId``/``field.externalId`` columns become a
``RecordRef`` in ``field``, and other columns become fields of their own name. A ``None`` (or NaN)
value means the field was cleared: it is sent in the record's ``nullFieldList``, so NetSuite blanks it;
keys absent from the flat record are not sent and stay untouched.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pandas as pd
from lxml import etree
from zeep import Client
from zeep.xsd.types import builtins

_REF_PARTS = {"internalId", "externalId", "name", "type"}
_RECORD_KEYS = {"internalId", "externalId"}
_CHECKED_TYPES = (
    builtins.Boolean, builtins.Double, builtins.Float, builtins.Decimal, builtins.DateTime, builtins.Date,
)
_XSD = "http://www.w3.org/2001/XMLSchema"
_BOOLEAN_TEXTS = {"true": True, "1": True, "false": False, "0": False}
_IGNORED_COLUMNS = {"id", "modified_at", "lastModifiedDate", "dateCreated"}


class UnknownEntity(ValueError):
    """The WSDL has no record type of that name."""


class InvalidRecord(ValueError):
    """A record does not fit its WSDL type (an unknown field, a wrong reference part)."""


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _plain(value: Any) -> Any:
    """Turn numpy and pandas scalars into Python values zeep can serialise."""
    if hasattr(value, "to_pydatetime"):
        return value.to_pydatetime()
    if hasattr(value, "item") and not isinstance(value, str | bytes | datetime):
        return value.item()
    return value


class WsdlTypes:
    """The WSDL's types by local name, and builders for the values the adapter sends."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._by_name: dict[str, Any] = {}
        for schema_type in client.wsdl.types.types:
            name = getattr(schema_type, "name", None)
            if name and name not in self._by_name:
                self._by_name[name] = schema_type
        self._fields: dict[str, frozenset[str]] = {}
        self._simple: dict[str, dict[str, Any]] = {}
        self._enums: dict[etree.QName, frozenset[str]] | None = None
        self._lock = threading.Lock()

    def get(self, local_name: str) -> Any:
        """The type named ``local_name``.

        Raises:
            KeyError: when the WSDL has no such type.
        """
        return self._by_name[local_name]

    def has(self, local_name: str) -> bool:
        """True when the WSDL defines a type of that name."""
        return local_name in self._by_name

    def record_type(self, entity: str) -> Any:
        """The record complex type of ``entity`` (``customer`` → ``Customer``).

        Raises:
            UnknownEntity: when the WSDL has no such record type.
        """
        name = entity[:1].upper() + entity[1:]
        found = self._by_name.get(name)
        if found is None or "internalId" not in {n for n, _ in getattr(found, "attributes", [])}:
            raise UnknownEntity(f"the ERP has no record type {entity!r}")
        return found

    def field_names(self, entity: str) -> frozenset[str]:
        """The element and attribute names of ``entity``'s record type."""
        with self._lock:
            names = self._fields.get(entity)
            if names is None:
                record_type = self.record_type(entity)
                names = frozenset(
                    [name for name, _ in record_type.elements] + [name for name, _ in record_type.attributes]
                )
                self._fields[entity] = names
            return names

    def _simple_types(self, entity: str) -> dict[str, Any]:
        with self._lock:
            simple = self._simple.get(entity)
            if simple is None:
                record_type = self.record_type(entity)
                simple = {name: element.type for name, element in record_type.elements}
                simple.update({name: attribute.type for name, attribute in record_type.attributes})
                self._simple[entity] = simple
            return simple

    def _enumerations(self) -> dict[etree.QName, frozenset[str]]:
        """The enumerated simple types of the WSDL's ``*Types.xsd`` schemas by qualified name (zeep drops
        enumeration facets, so they are read from the schema documents, once, on first use)."""
        with self._lock:
            if self._enums is None:
                parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
                enums: dict[etree.QName, frozenset[str]] = {}
                for document in self._client.wsdl.types.documents:
                    location = str(getattr(document, "_location", "") or "")
                    if not location.endswith("Types.xsd"):
                        continue
                    root = etree.fromstring(self._client.transport.load(location), parser)
                    namespace = root.get("targetNamespace", "")
                    for simple in root.iter(f"{{{_XSD}}}simpleType"):
                        values = [e.get("value", "") for e in simple.iter(f"{{{_XSD}}}enumeration")]
                        if values:
                            enums[etree.QName(namespace, simple.get("name", ""))] = frozenset(values)
                self._enums = enums
            return self._enums

    def _checked(self, entity: str, name: str, value: Any) -> Any:
        """Return ``value`` ready for its XML type, so one bad record cannot fail the whole request.

        Booleans are normalised (zeep would render the text ``"False"`` as ``true``); numbers and
        dates are checked by a round trip through their zeep type.

        Raises:
            InvalidRecord: naming the field and the expected type, never the value.
        """
        xsd_type = self._simple_types(entity).get(name)
        qname = getattr(xsd_type, "qname", None)
        allowed = self._enumerations().get(qname) if isinstance(qname, etree.QName) else None
        if allowed is not None and str(value) not in allowed:
            # NetSuite faults the whole request for a value outside an enumeration; refuse the record alone.
            raise InvalidRecord(f"{entity}.{name} must be one of the {etree.QName(qname).localname} values")
        if xsd_type is None or not isinstance(xsd_type, _CHECKED_TYPES):
            return value
        if isinstance(xsd_type, builtins.Boolean):
            if isinstance(value, bool):
                return value
            normalised = _BOOLEAN_TEXTS.get(str(value).strip().lower())
            if normalised is not None:
                return normalised
        else:
            try:
                xsd_type.pythonvalue(xsd_type.xmlvalue(value))
                return value
            except (ValueError, TypeError, ArithmeticError):
                pass
        kind = type(xsd_type).__name__
        raise InvalidRecord(f"{entity}.{name} must be an xsd:{kind[:1].lower()}{kind[1:]} value")

    def reference_fields(self, entity: str) -> frozenset[str]:
        """The names of ``entity``'s fields that hold a ``RecordRef``."""
        record_type = self.record_type(entity)
        return frozenset(
            name for name, element in record_type.elements if getattr(element.type, "name", None) == "RecordRef"
        )

    def record_ref(self, entity: str | None = None, **parts: Any) -> Any:
        """A ``RecordRef`` with the given parts (and the record type, when given)."""
        values = {k: v for k, v in parts.items() if not _is_missing(v)}
        if entity is not None:
            values["type"] = entity
        return self.get("RecordRef")(**values)

    def record(self, entity: str, flat: Mapping[str, Any]) -> Any:
        """Build the typed record for a flat row (see the module docstring).

        Raises:
            InvalidRecord: naming the first field the record type does not have (no values).
        """
        record_type = self.record_type(entity)
        known = self.field_names(entity)
        values: dict[str, Any] = {}
        references: dict[str, dict[str, Any]] = {}
        cleared: list[str] = []
        for column, value in flat.items():
            if column in _IGNORED_COLUMNS:
                continue
            base, dot, part = column.partition(".")
            if base not in known:
                raise InvalidRecord(f"{entity} has no field {base!r}")
            if _is_missing(value):
                if base not in _RECORD_KEYS and base not in cleared:
                    cleared.append(base)
                continue
            if dot:
                if part not in _REF_PARTS:
                    raise InvalidRecord(f"{column!r}: a reference part must be one of {sorted(_REF_PARTS)}")
                references.setdefault(base, {})[part] = _plain(value)
            else:
                values[column] = _plain(value) if column not in _RECORD_KEYS else str(_plain(value))
        for name, value in list(values.items()):
            values[name] = self._checked(entity, name, value)
        for base, parts in references.items():
            ref_type = parts.pop("type", None)
            values[base] = self.record_ref(ref_type, **parts)
        cleared = [name for name in cleared if name not in values]
        if cleared:
            values["nullFieldList"] = self.get("NullField")(name=cleared)
        try:
            return record_type(**values)
        except (TypeError, ValueError) as exc:
            raise InvalidRecord(f"{entity}: {type(exc).__name__} building the record") from exc
