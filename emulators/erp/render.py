"""Turning stored field values into SuiteTalk XML fragments with string templates (no element building)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from emulators.erp.schema import FieldKind, RecordSpec

Ref = dict[str, str]


def iso(moment: datetime) -> str:
    """``2024-05-01T10:15:30.123Z``: the dateTime form the emulator writes."""
    m = moment.astimezone(UTC)
    # Not strftime("%Y"): it drops the zero padding of years before 1000 ("1-01-01"), which is no xsd:dateTime.
    return (f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}."
            f"{m.microsecond // 1000:03d}Z")


def iso_ms(epoch_ms: int) -> str:
    """:func:`iso` of a time given in milliseconds since the epoch."""
    return iso(datetime.fromtimestamp(epoch_ms / 1000, UTC))


def ref_attributes(ref: Ref) -> str:
    """The ``internalId``, ``externalId`` and ``type`` attributes of a RecordRef, escaped."""
    parts = []
    for key in ("internalId", "externalId", "type"):
        value = ref.get(key)
        if value is not None:
            parts.append(f" {key}={quoteattr(value)}")
    return "".join(parts)


def ref_xml(tag: str, ref: Ref, *, xsi_type: bool = False) -> str:
    """A RecordRef element named ``tag`` (with ``platformCore:name`` when known)."""
    type_attr = ' xsi:type="platformCore:RecordRef"' if xsi_type else ""
    name = ref.get("name")
    inner = f"<platformCore:name>{escape(name)}</platformCore:name>" if name else ""
    return f"<{tag}{type_attr}{ref_attributes(ref)}>{inner}</{tag}>"


def _value_text(kind: FieldKind, value: Any) -> str:
    if kind is FieldKind.BOOLEAN:
        return "true" if value else "false"
    if kind is FieldKind.DOUBLE:
        return repr(float(value))
    if kind is FieldKind.LONG:
        return str(int(value))
    return escape(str(value))


def record_xml(
    spec: RecordSpec, internal_id: int, external_id: str | None, fields: dict[str, Any],
    date_created_ms: int, last_modified_ms: int,
) -> str:
    """Render a whole ``platformCore:record`` element for a stored record, fields in schema order."""
    ext = f" externalId={quoteattr(external_id)}" if external_id is not None else ""
    out = [f'<platformCore:record xsi:type="{spec.qualified_type}" internalId="{internal_id}"{ext}>']
    prefix = spec.prefix
    for field in spec.fields:
        name = field.name
        if name == "dateCreated":
            out.append(f"<{prefix}:dateCreated>{iso_ms(date_created_ms)}</{prefix}:dateCreated>")
            continue
        if name == "lastModifiedDate":
            out.append(f"<{prefix}:lastModifiedDate>{iso_ms(last_modified_ms)}</{prefix}:lastModifiedDate>")
            continue
        value = fields.get(name)
        if value is None:
            continue
        if field.kind is FieldKind.REF:
            out.append(ref_xml(f"{prefix}:{name}", value))
        elif field.kind is FieldKind.MATRIX:
            out.append(pricing_matrix_xml(prefix, value))
        else:
            out.append(f"<{prefix}:{name}>{_value_text(field.kind, value)}</{prefix}:{name}>")
    out.append("</platformCore:record>")
    return "".join(out)


def pricing_matrix_xml(prefix: str, rows: list[dict[str, Any]]) -> str:
    """An item's ``pricingMatrix``: one ``pricing`` line per currency and price level with its price list."""
    out = [f"<{prefix}:pricingMatrix>"]
    for row in rows:
        out.append(f"<{prefix}:pricing>")
        for part in ("currency", "priceLevel"):
            if part in row:
                out.append(ref_xml(f"{prefix}:{part}", row[part]))
        if row.get("discount") is not None:
            out.append(f"<{prefix}:discount>{float(row['discount'])!r}</{prefix}:discount>")
        out.append(f"<{prefix}:priceList>")
        for price in row.get("prices", []):
            out.append(f"<{prefix}:price>")
            if price.get("value") is not None:
                out.append(f"<{prefix}:value>{float(price['value'])!r}</{prefix}:value>")
            if price.get("quantity") is not None:
                out.append(f"<{prefix}:quantity>{float(price['quantity'])!r}</{prefix}:quantity>")
            out.append(f"</{prefix}:price>")
        out.append(f"</{prefix}:priceList></{prefix}:pricing>")
    out.append(f"</{prefix}:pricingMatrix>")
    return "".join(out)


def status_xml(errors: list[tuple[str, str]] | None = None) -> str:
    """A ``platformCore:status``: success when ``errors`` is empty, else one ERROR detail per error."""
    if not errors:
        return '<platformCore:status isSuccess="true"/>'
    details = "".join(
        f'<platformCore:statusDetail type="ERROR"><platformCore:code>{escape(code)}</platformCore:code>'
        f"<platformCore:message>{escape(message)}</platformCore:message></platformCore:statusDetail>"
        for code, message in errors
    )
    return f'<platformCore:status isSuccess="false">{details}</platformCore:status>'
