"""Custom records: the ERP record types an account defines itself (``customrecord_contract``), read and written as
NetSuite's ``CustomRecord``.

A custom record type is named in a mapping by its script id (``erp_type: customrecord_contract``). Its flat record
has the ``CustomRecord`` body fields (``name``, ``isInactive``, ``altName``, ``description``, ``externalId``,
``internalId``) and one column per custom field, named by the field's script id
(``custrecord_contract_value``). A list/record custom field is a reference like a ``RecordRef`` field:
``custrecord_contract_customer.internalId`` / ``.externalId`` to write it, and also ``.name`` to read it.
A ``None`` value clears the field (its script id goes in ``nullFieldList``).

The type's definition (its internal id, and each custom field's ``fieldType``) is read once from the ERP with
``get`` of a ``CustomizationRef`` (``type="customRecordType"``), so the adapter writes each value in the
``CustomFieldRef`` its field takes (``StringCustomFieldRef``, ``DoubleCustomFieldRef``, ``DateCustomFieldRef``,
``SelectCustomFieldRef`` ...) and checks mappings against the type's real fields.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from lxml import etree
from zeep import Client

from tandem.erp import parsing
from tandem.erp.schema import InvalidRecord, UnknownEntity, WsdlTypes
from tandem.erp.schema import _is_missing as is_missing
from tandem.erp.schema import _plain as plain

PREFIX = "customrecord"
#: CustomRecord's own fields a flat record may carry (the others are read-only or not modelled).
BODY_FIELDS = frozenset({"name", "isInactive", "altName", "description"})
READ_ONLY_FIELDS = frozenset({"customRecordId", "created", "lastModified", "recType"})
KEYS = frozenset({"internalId", "externalId"})
_REF_PARTS = {"internalId", "externalId"}
_TEXT_TYPES = {"_freeFormText", "_textArea", "_longText", "_eMailAddress", "_phoneNumber", "_hyperlink", "_richText",
               "_help", "_inlineHTML", "_password"}
_REF_TYPE = {"_decimalNumber": "DoubleCustomFieldRef", "_currency": "DoubleCustomFieldRef",
             "_percent": "DoubleCustomFieldRef", "_integerNumber": "LongCustomFieldRef",
             "_checkBox": "BooleanCustomFieldRef", "_date": "DateCustomFieldRef", "_dateTime": "DateCustomFieldRef",
             "_listRecord": "SelectCustomFieldRef"}
_BOOLEAN_TEXTS = {"true": True, "1": True, "false": False, "0": False}

Fetch = Callable[..., etree._Element]


def is_custom_record(entity: str) -> bool:
    """True for a custom record type's script id (``customrecord_contract``)."""
    return entity.startswith(PREFIX)


@dataclass(frozen=True)
class CustomRecordType:
    """A custom record type as the ERP describes it: its ids and its custom fields' ``fieldType`` by script id."""

    script_id: str
    internal_id: str
    field_types: Mapping[str, str]

    @property
    def references(self) -> frozenset[str]:
        """The script ids of its list/record fields."""
        return frozenset(name for name, kind in self.field_types.items() if kind == "_listRecord")


def parse_custom_record_type(response: etree._Element, script_id: str) -> CustomRecordType:
    """Read the ``CustomRecordType`` of a ``get`` response.

    Raises:
        UnknownEntity: when the ERP has no custom record type ``script_id``.
    """
    read = next(response.iter("{*}readResponse"), None)
    status = parsing.parse_status(read) if read is not None else None
    record = parsing.find(read, "record") if read is not None else None
    if status is None or not status.ok or record is None or not record.get("internalId"):
        raise UnknownEntity(f"the ERP has no custom record type {script_id!r}")
    fields = {
        str(field.get("scriptId")): parsing.text(field, "fieldType") or "_freeFormText"
        for field in parsing.children(parsing.find(record, "customFieldList"), "customField")
    }
    return CustomRecordType(script_id, str(record.get("internalId")), fields)


def _date_value(value: Any, where: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRecord(f"{where} must be a date") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _scalar(field_type: str, value: Any, where: str) -> Any:
    """A custom field's value in the Python type of its ``CustomFieldRef``'s ``value``."""
    if field_type in ("_date", "_dateTime"):
        return _date_value(value, where)
    try:
        if field_type in ("_decimalNumber", "_currency", "_percent"):
            return float(value)
        if field_type == "_integerNumber":
            return int(value)
    except (TypeError, ValueError):
        raise InvalidRecord(f"{where} must be a number") from None
    if field_type == "_checkBox":
        if isinstance(value, bool):
            return value
        normalised = _BOOLEAN_TEXTS.get(str(value).strip().lower())
        if normalised is None:
            raise InvalidRecord(f"{where} must be a boolean")
        return normalised
    return str(value)


class RecordTypes(WsdlTypes):
    """The WSDL's types plus the account's custom record types, which are looked up in the ERP on first use.

    Args:
        client: the zeep client over the WSDL.
        fetch: calls an operation (``fetch("get", baseRef=...)``) and returns its parsed response body.
    """

    def __init__(self, client: Client, fetch: Fetch) -> None:
        super().__init__(client)
        self._fetch = fetch
        self._custom: dict[str, CustomRecordType] = {}
        self._custom_lock = threading.Lock()

    def custom_type(self, entity: str) -> CustomRecordType:
        """The definition of custom record type ``entity`` (read from the ERP once).

        Raises:
            UnknownEntity: when the ERP has no such custom record type.
        """
        with self._custom_lock:
            found = self._custom.get(entity)
        if found is None:
            ref = self.get("CustomizationRef")(scriptId=entity, type="customRecordType")
            found = parse_custom_record_type(self._fetch("get", baseRef=ref), entity)
            with self._custom_lock:
                self._custom[entity] = found
        return found

    def record_type(self, entity: str) -> Any:
        """The record complex type of ``entity`` (``CustomRecord`` for a custom record type)."""
        if is_custom_record(entity):
            self.custom_type(entity)
            return self.get("CustomRecord")
        return super().record_type(entity)

    def field_names(self, entity: str) -> frozenset[str]:
        """The record type's fields; for a custom record type its body fields and its custom fields' script ids."""
        if is_custom_record(entity):
            return BODY_FIELDS | READ_ONLY_FIELDS | KEYS | frozenset(self.custom_type(entity).field_types)
        return super().field_names(entity)

    def reference_fields(self, entity: str) -> frozenset[str]:
        """The reference fields; for a custom record type its list/record custom fields."""
        if is_custom_record(entity):
            return self.custom_type(entity).references
        return super().reference_fields(entity)

    def record_ref(self, entity: str | None = None, **parts: Any) -> Any:
        """A ``RecordRef``; for a custom record a ``CustomRecordRef`` with the type's ``typeId``."""
        if entity is not None and is_custom_record(entity):
            values = {k: v for k, v in parts.items() if not is_missing(v) and k in KEYS}
            return self.get("CustomRecordRef")(typeId=self.custom_type(entity).internal_id, **values)
        return super().record_ref(entity, **parts)

    def record(self, entity: str, flat: Mapping[str, Any]) -> Any:
        """The typed record of a flat row; a custom record's custom fields go in its ``customFieldList``.

        Raises:
            InvalidRecord: naming the first field the type does not have or a value that does not fit it.
        """
        if not is_custom_record(entity):
            return super().record(entity, flat)
        definition = self.custom_type(entity)
        values: dict[str, Any] = {"recType": self.get("RecordRef")(internalId=definition.internal_id)}
        custom: dict[str, Any] = {}
        references: dict[str, dict[str, Any]] = {}
        cleared: list[str] = []
        for column, value in flat.items():
            if column in ("id", "modified_at") or column in READ_ONLY_FIELDS:
                continue
            base, dot, part = column.partition(".")
            where = f"{entity}.{base}"
            if base not in BODY_FIELDS and base not in KEYS and base not in definition.field_types:
                raise InvalidRecord(f"{entity} has no field {base!r}")
            if is_missing(value):
                if base not in KEYS and base not in cleared:
                    cleared.append(base)
            elif dot:
                if base not in definition.references or part not in _REF_PARTS:
                    raise InvalidRecord(f"{column!r}: only a list/record field's internalId or externalId is written")
                references.setdefault(base, {})[part] = str(plain(value))
            elif base in KEYS:
                values[base] = str(plain(value))
            elif base in BODY_FIELDS:
                values[base] = _scalar("_checkBox" if base == "isInactive" else "_freeFormText", plain(value), where)
            elif definition.field_types[base] == "_listRecord":
                raise InvalidRecord(f"{where} is a list/record field: write its .internalId or .externalId")
            else:
                custom[base] = _scalar(definition.field_types[base], plain(value), where)
        fields = [self._custom_ref(definition, name, value) for name, value in custom.items()]
        fields += [self.get("SelectCustomFieldRef")(scriptId=name, value=self.get("ListOrRecordRef")(**parts))
                   for name, parts in references.items()]
        if fields:
            values["customFieldList"] = self.get("CustomFieldList")(customField=fields)
        cleared = [name for name in cleared if name not in custom and name not in references and name not in values]
        if cleared:
            values["nullFieldList"] = self.get("NullField")(name=cleared)
        return self.get("CustomRecord")(**values)

    def _custom_ref(self, definition: CustomRecordType, name: str, value: Any) -> Any:
        field_type = definition.field_types[name]
        ref_type = "StringCustomFieldRef" if field_type in _TEXT_TYPES else _REF_TYPE.get(field_type)
        if ref_type is None:
            raise InvalidRecord(f"{definition.script_id}.{name}: Tandem does not write {field_type} custom fields")
        return self.get(ref_type)(scriptId=name, value=value)
