"""Bulk API 1.0 on the wire: job and batch info in XML and JSON, errors, result lists, and request parsing.

XML documents are in the ``http://www.force.com/2009/06/asyncapi/dataload`` namespace and laid out
as Salesforce lays them out (the root's namespace on its second line, one space per level); JSON
documents carry every key, in alphabetical order, with ``null`` for an unset one. Dates are
to the second, ``2024-01-01T00:00:00.000Z`` in XML and ``2024-01-01T00:00:00.000+0000`` in JSON.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

import orjson
from lxml import etree

from emulators.salesforce.bulk1_jobs import Batch, BulkFault, IngestResult, Job
from emulators.salesforce.storage_format import format_datetime

NS = "http://www.force.com/2009/06/asyncapi/dataload"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
XML_TYPE, JSON_TYPE, CSV_TYPE = "application/xml", "application/json", "text/csv"
#: The HTTP media types a job's ``contentType`` takes its batches in.
MEDIA_TYPES = {"CSV": (CSV_TYPE,), "XML": (XML_TYPE, "text/xml"), "JSON": (JSON_TYPE,)}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True)


def json_stamp(when: datetime) -> str:
    """A date as Bulk API 1.0 writes it in JSON, to the second: ``2024-01-01T00:00:00.000+0000``."""
    return format_datetime(when.replace(microsecond=0))


def xml_stamp(when: datetime) -> str:
    """A date as Bulk API 1.0 writes it in XML, to the second: ``2024-01-01T00:00:00.000Z``."""
    return json_stamp(when)[:-5] + "Z"


def _element(name: str, value: Any, indent: str) -> str:
    if value is None:
        return f'{indent}<{name} xsi:nil="true"/>\n' if name == "id" else ""
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"{indent}<{name}>{escape(str(value))}</{name}>\n"


def _document(root: str, items: Iterable[tuple[str, Any]], *, declaration: bool = True, indent: str = " ") -> str:
    head = f"{XML_DECLARATION}<{root}\n   xmlns=\"{NS}\">\n" if declaration else f"{indent[:-1]}<{root}>\n"
    body = "".join(_element(name, value, indent) for name, value in items)
    return f"{head}{body}{indent[:-1]}</{root}>"


def media_type(content_type: str | None) -> str:
    """The bare media type of a ``Content-Type`` header (``application/xml; charset=UTF-8`` → ``application/xml``)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


# -- job info -------------------------------------------------------------------------------------


def _job_items(job: Job) -> list[tuple[str, Any]]:
    """The job's fields in the XSD's order (the caller holds the job's lock)."""
    counts = job.counts()
    items: list[tuple[str, Any]] = [
        ("id", job.id), ("operation", job.operation), ("object", job.object), ("createdById", job.created_by),
        ("createdDate", job.created), ("systemModstamp", job.modified or job.created), ("state", job.state),
        ("externalIdFieldName", job.external_id_field), ("concurrencyMode", job.concurrency_mode),
        ("contentType", job.content_type),
    ]
    items += [(name, counts[name]) for name in (
        "numberBatchesQueued", "numberBatchesInProgress", "numberBatchesCompleted", "numberBatchesFailed",
        "numberBatchesTotal", "numberRecordsProcessed")]
    items += [("numberRetries", 0), ("apiVersion", f"{float(job.api_version):.1f}"),
              ("assignmentRuleId", job.assignment_rule_id), ("numberRecordsFailed", counts["numberRecordsFailed"]),
              ("totalProcessingTime", counts["totalProcessingTime"]),
              ("apiActiveProcessingTime", counts["totalProcessingTime"]), ("apexProcessingTime", 0)]
    return items


def job_xml(job: Job) -> bytes:
    """The ``jobInfo`` document of ``job`` (the caller holds the job's lock)."""
    items = [(name, xml_stamp(value) if isinstance(value, datetime) else value) for name, value in _job_items(job)]
    return _document("jobInfo", items).encode()


def job_json(job: Job) -> bytes:
    """The JSON ``jobInfo`` of ``job`` (the caller holds the job's lock)."""
    data: dict[str, Any] = {"fastPathEnabled": False}
    for name, value in _job_items(job):
        data[name] = json_stamp(value) if isinstance(value, datetime) else value
    data["apiVersion"] = float(job.api_version)
    return orjson.dumps(dict(sorted(data.items())))


# -- batch info -----------------------------------------------------------------------------------


def _batch_items(batch: Batch) -> list[tuple[str, Any]]:
    return [("id", batch.id), ("jobId", batch.job_id), ("state", batch.state), ("stateMessage", batch.state_message),
            ("createdDate", batch.created), ("systemModstamp", batch.modified or batch.created),
            ("numberRecordsProcessed", batch.processed), ("numberRecordsFailed", batch.failed),
            ("totalProcessingTime", batch.processing_ms), ("apiActiveProcessingTime", batch.processing_ms),
            ("apexProcessingTime", 0)]


def _batch_dict(batch: Batch) -> dict[str, Any]:
    data = {name: json_stamp(value) if isinstance(value, datetime) else value
            for name, value in _batch_items(batch)}
    return dict(sorted(data.items()))


def _batch_xml_items(batch: Batch) -> list[tuple[str, Any]]:
    return [(name, xml_stamp(value) if isinstance(value, datetime) else value) for name, value in _batch_items(batch)]


def batch_info(batch: Batch, content_type: str) -> tuple[bytes, str]:
    """A ``batchInfo`` in the job's format: JSON for a JSON job, XML otherwise (the caller holds the job's lock)."""
    if content_type == "JSON":
        return orjson.dumps(_batch_dict(batch)), JSON_TYPE
    return _document("batchInfo", _batch_xml_items(batch)).encode(), XML_TYPE


def batch_list(batches: list[Batch], content_type: str) -> tuple[bytes, str]:
    """The ``batchInfoList`` of a job (the caller holds the job's lock)."""
    if content_type == "JSON":
        return orjson.dumps({"batchInfo": [_batch_dict(b) for b in batches]}), JSON_TYPE
    inner = "".join(_document("batchInfo", _batch_xml_items(b), declaration=False, indent="  ") + "\n"
                    for b in batches)
    return f"{XML_DECLARATION}<batchInfoList\n   xmlns=\"{NS}\">\n{inner}</batchInfoList>".encode(), XML_TYPE


def result_list(result_ids: list[str], content_type: str) -> tuple[bytes, str]:
    """A query batch's result ids: ``<result-list>`` or a JSON array."""
    if content_type == "JSON":
        return orjson.dumps(result_ids), JSON_TYPE
    inner = "".join(f"<result>{escape(r)}</result>" for r in result_ids)
    return f'{XML_DECLARATION}<result-list xmlns="{NS}">{inner}</result-list>'.encode(), XML_TYPE


def ingest_results_xml(results: list[IngestResult]) -> bytes:
    """An ingest batch's ``<results>`` document."""
    parts = [f'{XML_DECLARATION}<results xmlns="{NS}" xmlns:xsi="{XSI}">']
    for result in results:
        parts.append("<result>")
        for code, message, fields in result.errors:
            parts.append("<errors>" + "".join(f"<fields>{escape(f)}</fields>" for f in fields)
                         + f"<message>{escape(message)}</message><statusCode>{escape(code)}</statusCode></errors>")
        parts.append(f"<id>{escape(result.id)}</id>" if result.id else '<id xsi:nil="true"/>')
        parts.append(f"<success>{str(result.success).lower()}</success>"
                     f"<created>{str(result.created).lower()}</created></result>")
    parts.append("</results>")
    return "".join(parts).encode()


def ingest_results_json(results: list[IngestResult]) -> bytes:
    """An ingest batch's JSON results: ``[{"success", "created", "id", "errors"}]``."""
    return orjson.dumps([
        {"success": r.success, "created": r.created, "id": r.id or None,
         "errors": [{"fields": fields, "message": message, "statusCode": code} for code, message, fields in r.errors]}
        for r in results
    ])


# -- errors ---------------------------------------------------------------------------------------


def error_body(fault: BulkFault, as_json: bool) -> tuple[bytes, str]:
    """The ``<error>`` document (or JSON object) of ``fault``."""
    if as_json:
        return orjson.dumps({"exceptionCode": fault.code, "exceptionMessage": fault.message}), JSON_TYPE
    body = (f"{XML_DECLARATION}<error\n   xmlns=\"{NS}\">\n <exceptionCode>{escape(fault.code)}</exceptionCode>\n"
            f" <exceptionMessage>{escape(fault.message)}</exceptionMessage>\n</error>")
    return body.encode(), XML_TYPE


# -- requests -------------------------------------------------------------------------------------


def parse_xml(body: bytes) -> etree._Element:
    """Parse a request body as XML.

    Raises:
        BulkFault: ``InvalidXML`` for a body that is not well-formed XML.
    """
    try:
        return etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise BulkFault("InvalidXML", f"Unable to parse XML: {exc}") from exc


def local_name(element: etree._Element) -> str:
    """An element's name without its namespace."""
    return etree.QName(element).localname


def parse_job_request(body: bytes, as_json: bool) -> dict[str, Any]:
    """The fields of a ``jobInfo`` request body (create, close or abort), by name.

    Raises:
        BulkFault: ``InvalidXML`` / ``InvalidJob`` for a body that is not a ``jobInfo``.
    """
    if as_json:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BulkFault("InvalidJob", f"Unable to parse the JSON jobInfo: {exc}") from exc
        if not isinstance(data, dict):
            raise BulkFault("InvalidJob", "The JSON jobInfo must be an object")
        return data
    root = parse_xml(body)
    if local_name(root) != "jobInfo" or etree.QName(root).namespace != NS:
        raise BulkFault("InvalidXML", f"Expected a jobInfo element in namespace {NS}")
    return {local_name(child): (child.text or "").strip() for child in root if isinstance(child.tag, str)}
