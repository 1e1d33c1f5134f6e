"""Reading SOAP requests safely with lxml: no DTDs, no entities, no network; values checked against the XSD kinds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from emulators.erp.custom_records import (
    BODY_FIELDS,
    CUSTOM_RECORD,
    READ_ONLY_BODY_FIELDS,
    REF_TYPES,
    CustomRecordType,
    custom_record_specs,
    custom_record_type,
)
from emulators.erp.namespaces import PREFIXES, SOAPENV, XSI
from emulators.erp.render import LOCATION_QUANTITIES, iso
from emulators.erp.sales_orders import parse_item_list
from emulators.erp.schema import SYSTEM_FIELDS, FieldKind, RecordSpec, specs_by_qualified_type
from emulators.erp.soapfaults import ClientFault

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False,
    remove_blank_text=True,
)
_XSI_TYPE = f"{{{XSI}}}type"


@dataclass
class SoapRequest:
    """A parsed SOAP 1.1 request: its header blocks and its body's operation element."""

    operation: str
    body: etree._Element
    headers: dict[str, etree._Element]


@dataclass
class ParsedRecord:
    """One ``record`` of a write request, its values converted (references still unresolved)."""

    spec: RecordSpec
    external_id: str | None
    values: dict[str, Any] = field(default_factory=dict)
    nulls: set[str] = field(default_factory=set)
    internal_id: str | None = None
    error: tuple[str, str] | None = None  # a per-record error found while reading it (an unknown custom field)


def local(element: etree._Element) -> str:
    """The element's name without its namespace."""
    return etree.QName(element).localname


def parse_envelope(raw: bytes) -> SoapRequest:
    """Parse a request body into a :class:`SoapRequest`.

    Raises:
        ClientFault: for anything that is not a well-formed SOAP 1.1 envelope without a DTD.
    """
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise ClientFault("DOCTYPE and ENTITY declarations are not allowed in a request.")
    try:
        root = etree.fromstring(raw, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ClientFault(f"The request is not well-formed XML: {exc.msg}") from None
    if root.getroottree().docinfo.doctype:  # type: ignore[union-attr]
        raise ClientFault("DOCTYPE and ENTITY declarations are not allowed in a request.")
    if root.tag != f"{{{SOAPENV}}}Envelope":
        raise ClientFault("The request is not a SOAP 1.1 envelope.")
    body = root.find(f"{{{SOAPENV}}}Body")
    if body is None or len(body) == 0:
        raise ClientFault("The SOAP envelope has no body.")
    operation = body[0]
    headers: dict[str, etree._Element] = {}
    header = root.find(f"{{{SOAPENV}}}Header")
    if header is not None:
        for block in header:
            if isinstance(block.tag, str):
                headers[local(block)] = block
    return SoapRequest(local(operation), operation, headers)


def parse_fragment(raw: bytes) -> etree._Element:
    """Parse an XML fragment the emulator stored itself (an asynchronous job's request)."""
    return etree.fromstring(raw, _PARSER)


def children(element: etree._Element, name: str) -> list[etree._Element]:
    """Child elements named ``name`` (any namespace)."""
    return [c for c in element if isinstance(c.tag, str) and local(c) == name]


def child_text(element: etree._Element, name: str) -> str | None:
    """Text of the first child named ``name``, or ``None``."""
    for child in element:
        if isinstance(child.tag, str) and local(child) == name:
            return (child.text or "").strip()
    return None


def xsi_type(element: etree._Element) -> tuple[str, str]:
    """``(namespace, local name)`` of the element's ``xsi:type``.

    Raises:
        ClientFault: when the element has none.
    """
    value = element.get(_XSI_TYPE)
    if not value:
        raise ClientFault(f"The {local(element)} element needs an xsi:type.")
    prefix, _, name = value.rpartition(":")
    return element.nsmap.get(prefix or None, ""), name


def parse_int(text: str | None, what: str) -> int:
    """Parse an ``xsd:int``/``xsd:long``.

    Raises:
        ClientFault: when the text is not an integer.
    """
    try:
        return int((text or "").strip())
    except ValueError:
        raise ClientFault(f"{what}: {text!r} is not a valid integer.") from None


def parse_datetime(text: str | None, what: str) -> datetime:
    """Parse an ``xsd:dateTime`` (no zone means UTC).

    Raises:
        ClientFault: when the text is not a dateTime.
    """
    try:
        moment = datetime.fromisoformat((text or "").strip())
    except ValueError:
        raise ClientFault(f"{what}: {text!r} is not a valid dateTime.") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_ref(element: etree._Element) -> dict[str, str]:
    """The ``internalId``/``externalId``/``type`` attributes of a RecordRef element."""
    return {k: v for k in ("internalId", "externalId", "type") if (v := element.get(k)) is not None}


def _convert(spec: RecordSpec, element: etree._Element) -> Any:
    name = local(element)
    field_spec = spec.by_name.get(name)
    if field_spec is None:
        raise ClientFault(f"{spec.type_name} has no field {name!r}.")
    text = (element.text or "").strip()
    what = f"{spec.type_name}.{name}"
    kind = field_spec.kind
    if kind is FieldKind.REF:
        return parse_ref(element)
    if kind is FieldKind.LONG:
        return parse_int(text, what)
    if kind is FieldKind.DOUBLE:
        try:
            return float(text)
        except ValueError:
            raise ClientFault(f"{what}: {text!r} is not a valid double.") from None
    if kind is FieldKind.BOOLEAN:
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise ClientFault(f"{what}: {text!r} is not a valid boolean.")
    if kind is FieldKind.DATETIME:
        return iso(parse_datetime(text, what))
    if kind is FieldKind.ENUM and text not in field_spec.choices:
        raise ClientFault(f"org.xml.sax.SAXException: {text!r} is not a legal value for {what}.")
    if kind is FieldKind.MATRIX:
        return parse_pricing_matrix(element, what)
    if kind is FieldKind.LOCATIONS:
        return parse_locations_list(element, what)
    if kind is FieldKind.ITEMS:
        return parse_item_list(element, what)
    return element.text or ""


def _double(text: str | None, what: str) -> float:
    try:
        return float((text or "").strip())
    except ValueError:
        raise ClientFault(f"{what}: {text!r} is not a valid double.") from None


def parse_pricing_matrix(element: etree._Element, what: str) -> dict[str, Any]:
    """An item's ``pricingMatrix``: ``{"replaceAll": bool, "pricing": [{currency, priceLevel, discount?, prices}]}``.

    Each pricing line's ``prices`` are ``{"value", "quantity"}`` dicts (``quantity`` ``None`` for the base price).

    Raises:
        ClientFault: for an element the pricing matrix does not have or a value of the wrong type.
    """
    rows: list[dict[str, Any]] = []
    for pricing in element:
        if not isinstance(pricing.tag, str):
            continue
        if local(pricing) != "pricing":
            raise ClientFault(f"{what} has no element {local(pricing)!r}.")
        row: dict[str, Any] = {"prices": []}
        for part in pricing:
            if not isinstance(part.tag, str):
                continue
            name = local(part)
            if name in ("currency", "priceLevel"):
                row[name] = parse_ref(part)
            elif name == "discount":
                row[name] = _double(part.text, f"{what}.discount")
            elif name == "priceList":
                for price in children(part, "price"):
                    value = child_text(price, "value")
                    quantity = child_text(price, "quantity")
                    row["prices"].append({
                        "value": _double(value, f"{what}.price.value") if value is not None else None,
                        "quantity": _double(quantity, f"{what}.price.quantity") if quantity is not None else None,
                    })
            else:
                raise ClientFault(f"{what}.pricing has no element {name!r}.")
        rows.append(row)
    return {"replaceAll": element.get("replaceAll", "false") in ("true", "1"), "pricing": rows}


def parse_locations_list(element: etree._Element, what: str) -> dict[str, Any]:
    """An inventory item's ``locationsList``: ``{"replaceAll": bool, "locations": [{locationId, quantity...}]}``.

    ``replaceAll`` defaults to true, as for every SuiteTalk list. A line's ``location`` (the location's name) is
    read-only and ignored.

    Raises:
        ClientFault: for an element a locations line does not have or a quantity that is not a double.
    """
    lines: list[dict[str, Any]] = []
    for line in element:
        if not isinstance(line.tag, str):
            continue
        if local(line) != "locations":
            raise ClientFault(f"{what} has no element {local(line)!r}.")
        row: dict[str, Any] = {}
        for part in line:
            if not isinstance(part.tag, str):
                continue
            name = local(part)
            if name == "locationId":
                row[name] = parse_ref(part)
            elif name in LOCATION_QUANTITIES:
                row[name] = _double(part.text, f"{what}.locations.{name}")
            elif name != "location":
                raise ClientFault(f"{what}.locations has no element {name!r}.")
        lines.append(row)
    return {"replaceAll": element.get("replaceAll", "true") in ("true", "1"), "locations": lines}


def parse_record(element: etree._Element) -> ParsedRecord:
    """Convert one ``record`` element of a write request.

    Raises:
        ClientFault: for an unknown record type or field, or a value of the wrong type.
    """
    namespace, type_name = xsi_type(element)
    if (namespace, type_name) == (PREFIXES["setupCustom"], "CustomRecord"):
        return parse_custom_record(element)
    spec = specs_by_qualified_type().get((namespace, type_name))
    if spec is None:
        raise ClientFault(f"Unknown record type {type_name!r} in namespace {namespace!r}.")
    record = ParsedRecord(spec, element.get("externalId"), internal_id=element.get("internalId"))
    for child in element:
        if not isinstance(child.tag, str):
            continue
        if local(child) == "nullFieldList":
            for name_element in child:
                name = (name_element.text or "").strip()
                if name not in spec.by_name:
                    raise ClientFault(f"{spec.type_name} has no field {name!r} to null.")
                record.nulls.add(name)
            continue
        value = _convert(spec, child)
        if local(child) not in SYSTEM_FIELDS:
            record.values[local(child)] = value
    return record


def _custom_value(kind: FieldKind, element: etree._Element, what: str) -> Any:
    """A custom field's ``value`` element converted to its stored form."""
    text = (element.text or "").strip()
    if kind is FieldKind.REF:
        return parse_ref(element)
    if kind is FieldKind.LONG:
        return parse_int(text, what)
    if kind is FieldKind.DOUBLE:
        return _double(text, what)
    if kind is FieldKind.BOOLEAN:
        if text not in ("true", "1", "false", "0"):
            raise ClientFault(f"{what}: {text!r} is not a valid boolean.")
        return text in ("true", "1")
    if kind is FieldKind.DATETIME:
        return iso(parse_datetime(text, what))
    return element.text or ""


def parse_custom_record(element: etree._Element) -> ParsedRecord:
    """Convert one ``setupCustom:CustomRecord`` of a write request.

    The record type comes from ``recType`` (the custom record type's internal id, or its script id in a
    ``scriptId`` attribute); custom field values from ``customFieldList`` (each ``customField`` names its field by
    ``scriptId`` or ``internalId``). An unknown record type (``INVALID_CSTM_RCRD_TYPE_KEY``), an unknown custom field
    (``INVALID_CSTM_FIELD_REF``) or a CustomFieldRef type that does not fit the field (``INVALID_CSTM_FIELD_DATA_TYP``)
    fails that record alone, as in NetSuite.

    Raises:
        ClientFault: for an element CustomRecord does not have or a value of the wrong type.
    """
    rec_type = next(iter(children(element, "recType")), None)
    key = (rec_type.get("internalId") or rec_type.get("scriptId") or "") if rec_type is not None else ""
    record_type = custom_record_type(key) if key else None
    external_id, internal_id = element.get("externalId"), element.get("internalId")
    if record_type is None:
        placeholder = RecordSpec(CUSTOM_RECORD, "CustomRecord", "setupCustom", BODY_FIELDS, frozenset(), "name")
        message = f"Invalid custom record type key {key}." if key else "Please enter value(s) for: recType"
        return ParsedRecord(placeholder, external_id, internal_id=internal_id,
                            error=("INVALID_CSTM_RCRD_TYPE_KEY" if key else "USER_ERROR", message))
    spec = custom_record_specs()[record_type.script_id]
    record = ParsedRecord(spec, external_id, internal_id=internal_id)
    body = {f.name: f for f in BODY_FIELDS}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        name = local(child)
        if name == "nullFieldList":
            for name_element in child:
                null = (name_element.text or "").strip()
                if null not in spec.by_name or null in READ_ONLY_BODY_FIELDS:
                    raise ClientFault(f"CustomRecord has no field {null!r} to null.")
                record.nulls.add(null)
        elif name == "customFieldList":
            for custom in children(child, "customField"):
                _read_custom_field(record, record_type, custom)
        elif name in body:
            value = _custom_value(body[name].kind, child, f"CustomRecord.{name}")
            if name not in READ_ONLY_BODY_FIELDS:
                record.values[name] = value
        else:
            raise ClientFault(f"CustomRecord has no field {name!r}.")
    return record


def _read_custom_field(record: ParsedRecord, record_type: CustomRecordType, element: etree._Element) -> None:
    """Add one ``customField`` of a custom record to ``record`` (or its per-record error)."""
    key = element.get("scriptId") or element.get("internalId") or ""
    found = next((f for f in record_type.fields if key in (f.script_id, f.internal_id)), None)
    if found is None:
        record.error = record.error or (
            "INVALID_CSTM_FIELD_REF", f"The specified custom field reference {key} is invalid.")
        return
    _, sent_type = xsi_type(element)
    expected = REF_TYPES[found.kind]
    if sent_type != expected and not (sent_type == "LongCustomFieldRef" and found.kind is FieldKind.DOUBLE):
        record.error = record.error or (
            "INVALID_CSTM_FIELD_DATA_TYP",
            f"The custom field {found.script_id} holds a {expected[:-len('CustomFieldRef')]} value, not {sent_type}.")
        return
    value = next(iter(children(element, "value")), None)
    if value is None:
        record.nulls.add(found.script_id)
        return
    record.values[found.script_id] = _custom_value(found.kind, value, f"CustomRecord.{found.script_id}")
