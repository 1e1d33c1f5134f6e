"""Turning stored field values into SuiteTalk XML fragments with string templates (no element building)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from emulators.erp.custom_records import REF_TYPES, CustomRecordType, custom_record_types
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


def base_ref_xml(tag: str, ref: Ref) -> str:
    """A ``BaseRef`` element with its ``xsi:type``: a ``CustomRecordRef`` (``typeId``, ``scriptId``) for a custom
    record, else a ``RecordRef``."""
    record_type = custom_record_types().get(ref.get("type", ""))
    if record_type is None:
        return ref_xml(tag, ref, xsi_type=True)
    attributes = "".join(f" {key}={quoteattr(ref[key])}" for key in ("internalId", "externalId") if key in ref)
    return (f'<{tag} xsi:type="platformCore:CustomRecordRef"{attributes} typeId="{record_type.internal_id}" '
            f'scriptId="{record_type.script_id}"/>')


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
    if spec.custom_type is not None:
        return custom_record_xml(spec, internal_id, external_id, fields, date_created_ms, last_modified_ms)
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
        elif field.kind is FieldKind.LOCATIONS:
            out.append(locations_list_xml(prefix, value))
        elif field.kind is FieldKind.ITEMS:
            out.append(item_list_xml(prefix, value))
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


#: A ``locations`` line's quantity elements, in schema order.
LOCATION_QUANTITIES = ("quantityOnHand", "quantityOnOrder", "quantityCommitted", "quantityAvailable",
                       "quantityBackOrdered")


def locations_list_xml(prefix: str, lines: list[dict[str, Any]]) -> str:
    """An inventory item's ``locationsList``: one ``locations`` line per location with its stock quantities."""
    out = [f"<{prefix}:locationsList>"]
    for line in lines:
        ref = line["locationId"]
        out.append(f"<{prefix}:locations>")
        if ref.get("name"):
            out.append(f"<{prefix}:location>{escape(ref['name'])}</{prefix}:location>")
        for name in LOCATION_QUANTITIES:
            if line.get(name) is not None:
                out.append(f"<{prefix}:{name}>{float(line[name])!r}</{prefix}:{name}>")
        out.append(ref_xml(f"{prefix}:locationId", ref))
        out.append(f"</{prefix}:locations>")
    out.append(f"</{prefix}:locationsList>")
    return "".join(out)


def item_list_xml(prefix: str, lines: list[dict[str, Any]]) -> str:
    """A sales order's ``itemList``: one ``item`` per line, its fields in schema order."""
    out = [f"<{prefix}:itemList>"]
    for line in lines:
        out.append(f"<{prefix}:item>")
        out.append(ref_xml(f"{prefix}:item", line["item"]))
        out.append(f"<{prefix}:quantity>{float(line['quantity'])!r}</{prefix}:quantity>")
        if line.get("description") is not None:
            out.append(f"<{prefix}:description>{escape(str(line['description']))}</{prefix}:description>")
        if line.get("price") is not None:
            out.append(ref_xml(f"{prefix}:price", line["price"]))
        out.append(f"<{prefix}:rate>{escape(str(line['rate']))}</{prefix}:rate>")
        out.append(f"<{prefix}:amount>{float(line['amount'])!r}</{prefix}:amount>")
        out.append(f"<{prefix}:line>{int(line['line'])}</{prefix}:line>")
        out.append(f"</{prefix}:item>")
    out.append(f"</{prefix}:itemList>")
    return "".join(out)


def _custom_value_xml(kind: FieldKind, value: Any) -> str:
    if kind is FieldKind.REF:
        attributes = "".join(f" {key}={quoteattr(value[key])}" for key in ("internalId", "externalId", "typeId")
                             if value.get(key) is not None)
        name = f"<platformCore:name>{escape(value['name'])}</platformCore:name>" if value.get("name") else ""
        return f"<platformCore:value{attributes}>{name}</platformCore:value>"
    return f"<platformCore:value>{_value_text(kind, value)}</platformCore:value>"


def custom_record_xml(
    spec: RecordSpec, internal_id: int, external_id: str | None, fields: dict[str, Any],
    created_ms: int, last_modified_ms: int,
) -> str:
    """Render a custom record (``setupCustom:CustomRecord``): its body fields, ``recType`` and ``customFieldList``."""
    record_type = spec.custom_type
    assert record_type is not None
    ext = f" externalId={quoteattr(external_id)}" if external_id is not None else ""
    out = [f'<platformCore:record xsi:type="setupCustom:CustomRecord" internalId="{internal_id}"{ext}>',
           f"<setupCustom:customRecordId>{internal_id}</setupCustom:customRecordId>"]
    if fields.get("isInactive") is not None:
        out.append(f"<setupCustom:isInactive>{_value_text(FieldKind.BOOLEAN, fields['isInactive'])}"
                   "</setupCustom:isInactive>")
    out.append(f"<setupCustom:created>{iso_ms(created_ms)}</setupCustom:created>"
               f"<setupCustom:lastModified>{iso_ms(last_modified_ms)}</setupCustom:lastModified>")
    for name in ("name", "altName"):
        if fields.get(name) is not None:
            out.append(f"<setupCustom:{name}>{escape(str(fields[name]))}</setupCustom:{name}>")
    out.append(ref_xml("setupCustom:recType", {"internalId": record_type.internal_id, "type": "customRecordType",
                                               "name": record_type.record_name}))
    if fields.get("description") is not None:
        out.append(f"<setupCustom:description>{escape(str(fields['description']))}</setupCustom:description>")
    values = [(f, fields[f.script_id]) for f in record_type.fields if fields.get(f.script_id) is not None]
    if values:
        out.append("<setupCustom:customFieldList>")
        for custom, value in values:
            out.append(f'<platformCore:customField xsi:type="platformCore:{REF_TYPES[custom.kind]}" '
                       f'internalId="{custom.internal_id}" scriptId="{custom.script_id}">'
                       f"{_custom_value_xml(custom.kind, value)}</platformCore:customField>")
        out.append("</setupCustom:customFieldList>")
    out.append("</platformCore:record>")
    return "".join(out)


def custom_record_type_xml(tag: str, record_type: CustomRecordType, select_ids: dict[str, str]) -> str:
    """A ``setupCustom:CustomRecordType`` (what ``get`` of a ``CustomizationRef`` returns) in element ``tag``.

    Args:
        tag: the element (``platformMsgs:record``).
        record_type: the custom record type.
        select_ids: a custom list's internal id by script id, for ``selectRecordType``.
    """
    out = [f'<{tag} xsi:type="setupCustom:CustomRecordType" internalId="{record_type.internal_id}" '
           f'scriptId="{record_type.script_id}">',
           f"<setupCustom:recordName>{escape(record_type.record_name)}</setupCustom:recordName>",
           "<setupCustom:includeName>true</setupCustom:includeName><setupCustom:isInactive>false</setupCustom:isInactive>",
           "<setupCustom:customFieldList>"]
    for custom in record_type.fields:
        out.append(f'<setupCustom:customField internalId="{custom.internal_id}" scriptId="{custom.script_id}">'
                   f"<setupCustom:fieldType>{custom.field_type}</setupCustom:fieldType>"
                   f"<setupCustom:label>{escape(custom.label)}</setupCustom:label>")
        if custom.select:
            ref = ({"internalId": select_ids[custom.select], "type": "customList", "name": custom.select}
                   if custom.select in select_ids else {"type": custom.select, "name": custom.select})
            out.append(ref_xml("setupCustom:selectRecordType", ref))
        out.append(f"<setupCustom:isMandatory>{'true' if custom.mandatory else 'false'}</setupCustom:isMandatory>"
                   "</setupCustom:customField>")
    out.append(f"</setupCustom:customFieldList></{tag}>")
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
