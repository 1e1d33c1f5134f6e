"""Reading SOAP requests safely with lxml: no DTDs, no entities, no network; values checked against the XSD kinds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from emulators.erp.namespaces import SOAPENV, XSI
from emulators.erp.render import iso
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


def parse_record(element: etree._Element) -> ParsedRecord:
    """Convert one ``record`` element of a write request.

    Raises:
        ClientFault: for an unknown record type or field, or a value of the wrong type.
    """
    namespace, type_name = xsi_type(element)
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
