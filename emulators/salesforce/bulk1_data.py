"""Bulk API 1.0 batch data: CSV, XML and JSON records as the CSV rows Bulk API 2.0's writer takes,
and query records in the three result formats.

Ingest: a JSON or XML record becomes a row of the batch's column union — a field left out of a
record is left unset (``""``), a JSON ``null``, an XML ``xsi:nil`` or a ``fieldsToNull`` entry sets
it to null (``#N/A``), a nested object (``{"Account": {"ERP_Id__c": "A-1"}}``) names the parent by
an external id (column ``Account.ERP_Id__c``).

Query results: CSV with every value quoted and dates as ``2024-01-01T00:00:00.000Z``; JSON records
with ``attributes`` and date and datetime values as milliseconds since the epoch (as Salesforce's
Bulk API 1.0 writes them); XML ``<records xsi:type="sObject">`` with ``xsi:nil`` for null.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

import orjson
from lxml import etree

from emulators.salesforce.bulk1_jobs import BulkFault
from emulators.salesforce.bulk1_wire import NS, XML_DECLARATION, XSI, local_name, parse_xml
from emulators.salesforce.bulk_csv import NULL_VALUE, CsvFormatError, parse_csv
from emulators.salesforce.schema import Schema

NO_RECORDS = b"Records not found for this query"
_DATE_TYPES = frozenset({"date", "datetime"})


def ingest_rows(data: bytes, content_type: str) -> tuple[list[str], list[list[str]]]:
    """The header and rows of an ingest batch's data.

    Raises:
        CsvFormatError: data that is not valid for the job's content type (the message is the
            batch's ``stateMessage``).
    """
    if content_type == "CSV":
        first_line_end = data.find(b"\n")
        crlf = first_line_end > 0 and data[first_line_end - 1 : first_line_end] == b"\r"
        return parse_csv(data, delimiter="COMMA", line_ending="CRLF" if crlf else "LF")
    if content_type == "JSON":
        try:
            records = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise CsvFormatError(f"InvalidBatch : Failed to parse JSON: {exc}") from exc
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise CsvFormatError("InvalidBatch : The JSON batch must be an array of records")
        return _rows([_flatten_json(r) for r in records])
    try:
        root = parse_xml(data)
    except BulkFault as exc:
        raise CsvFormatError(f"InvalidBatch : {exc.message}") from exc
    if local_name(root) != "sObjects":
        raise CsvFormatError(f"InvalidBatch : Expected an sObjects element in namespace {NS}")
    return _rows([_flatten_xml(element) for element in root if isinstance(element.tag, str)])


def _rows(records: list[dict[str, str]]) -> tuple[list[str], list[list[str]]]:
    header: dict[str, None] = {}
    for record in records:
        header.update(dict.fromkeys(record))
    names = list(header)
    return names, [[record.get(name, "") for name in names] for record in records]


def _text(value: Any) -> str:
    if value is None:
        return NULL_VALUE
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _flatten_json(record: dict[str, Any]) -> dict[str, str]:
    flat: dict[str, str] = {}
    for name, value in record.items():
        if name == "attributes":
            continue
        if isinstance(value, dict):
            for key, inner in value.items():
                if key != "attributes":
                    flat[f"{name}.{key}"] = _text(inner)
        else:
            flat[name] = _text(value)
    return flat


def _is_nil(element: etree._Element) -> bool:
    return element.get(f"{{{XSI}}}nil") == "true"


def _flatten_xml(element: etree._Element) -> dict[str, str]:
    flat: dict[str, str] = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        name = local_name(child)
        if name == "fieldsToNull":
            flat[(child.text or "").strip()] = NULL_VALUE
            continue
        nested = [c for c in child if isinstance(c.tag, str)]
        if nested and len(nested) == 1 and local_name(nested[0]) == "sObject":
            nested = [c for c in nested[0] if isinstance(c.tag, str)]
        if nested:
            for inner in nested:
                if local_name(inner) != "type":
                    flat[f"{name}.{local_name(inner)}"] = NULL_VALUE if _is_nil(inner) else inner.text or ""
        else:
            flat[name] = NULL_VALUE if _is_nil(child) else child.text or ""
    return flat


# -- query results --------------------------------------------------------------------------------


def _parse_stamp(text: str) -> datetime:
    if len(text) == 10:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


def _field_type(schema: Schema, object_name: str | None, name: str) -> str | None:
    obj = schema.object(object_name) if object_name else None
    found = obj.field(name) if obj is not None else None
    return found.type if found is not None else None


def convert_dates(schema: Schema, record: dict[str, Any], as_millis: bool) -> dict[str, Any]:
    """``record`` with its date and datetime values as epoch milliseconds (``as_millis``) or as
    ``2024-01-01T00:00:00.000Z`` text (datetimes; dates stay ``2024-01-01``), parents included."""
    object_name = (record.get("attributes") or {}).get("type")
    converted: dict[str, Any] = {}
    for name, value in record.items():
        if isinstance(value, dict) and name != "attributes":
            converted[name] = convert_dates(schema, value, as_millis)
        elif isinstance(value, str) and _field_type(schema, object_name, name) in _DATE_TYPES:
            if as_millis:
                converted[name] = int(_parse_stamp(value).timestamp() * 1000)
            else:
                converted[name] = value if len(value) == 10 else value[:-5] + "Z"
        else:
            converted[name] = value
    return converted


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def query_csv(header: list[str], records: list[dict[str, Any]]) -> bytes:
    """CSV query results (every name and value quoted), or Salesforce's text for no records."""
    if not records:
        return NO_RECORDS
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(header)
    paths = [column.split(".") for column in header]
    for record in records:
        row = []
        for path in paths:
            value: Any = record
            for part in path:
                value = value.get(part) if isinstance(value, dict) else None
            row.append(_csv_value(value))
        writer.writerow(row)
    return out.getvalue().encode("utf-8")


def query_json(records: list[dict[str, Any]]) -> bytes:
    """JSON query results: the records with their ``attributes``."""
    return orjson.dumps(records)


def _xml_record(tag: str, record: dict[str, Any]) -> str:
    parts = [f'<{tag} xsi:type="sObject"><type>{escape(str(record["attributes"]["type"]))}</type>']
    for name, value in record.items():
        if name == "attributes":
            continue
        if isinstance(value, dict):
            parts.append(_xml_record(name, value))
        elif value is None:
            parts.append(f'<{name} xsi:nil="true"/>')
        else:
            parts.append(f"<{name}>{escape(_csv_value(value))}</{name}>")
    parts.append(f"</{tag}>")
    return "".join(parts)


def query_xml(records: list[dict[str, Any]]) -> bytes:
    """XML query results: a ``<queryResult>`` of ``<records xsi:type="sObject">``."""
    inner = "".join(_xml_record("records", record) for record in records)
    return f'{XML_DECLARATION}<queryResult xmlns="{NS}" xmlns:xsi="{XSI}">{inner}</queryResult>'.encode()
