"""REST routes for one object or one record: describe, create, read, update, delete, upsert,
and the replication windows (``updated`` / ``deleted``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from emulators.salesforce import describe
from emulators.salesforce.errors import SalesforceError, not_found
from emulators.salesforce.ids import normalize_id
from emulators.salesforce.rest import Call, EmulatorState, Reply, expect_object, record_url, route, sobject
from emulators.salesforce.schema import ObjectDef
from emulators.salesforce.store import WriteResult
from emulators.salesforce.wire import http_date, parse_http_date

NAME = r"[A-Za-z][A-Za-z0-9_]*"


def _single(result: WriteResult) -> WriteResult:
    if not result.success:
        error = result.errors[0]
        raise SalesforceError(400, error.status_code, error.message, error.fields)
    return result


def _record_id(obj: ObjectDef, raw: str) -> str:
    record_id = normalize_id(raw)
    if record_id is None or record_id[:3] != obj.key_prefix:
        raise SalesforceError(400, "MALFORMED_ID", f"{obj.label} ID: id value of incorrect type: {raw}", ["Id"])
    return record_id


def _live_record(state: EmulatorState, obj: ObjectDef, record_id: str, *, write: bool) -> dict[str, Any]:
    record, deleted = state.store.get(obj.name, record_id)
    if record is None:
        raise not_found()
    if deleted:
        if write:
            raise SalesforceError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        raise not_found()
    return record


def _conditional(state: EmulatorState, call: Call, obj_name: str | None, build: Callable[[], Any]) -> Reply:
    """A describe answer with ``Last-Modified``, or 304 Not Modified when the request's
    ``If-Modified-Since`` is not older than the metadata's last change (to the second)."""
    modified = state.store.metadata_modified(obj_name).replace(microsecond=0)
    headers = {"Last-Modified": http_date(modified)}
    since = parse_http_date(call.headers.get("if-modified-since"))
    if since is not None and modified <= since:
        return Reply(304, None, headers)
    return Reply(200, build(), headers)


@route("GET", r"/sobjects/?", "sobjects.list")
def list_objects(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``GET sobjects`` (Describe Global; honours ``If-Modified-Since``)."""
    return _conditional(state, call, None, lambda: describe.list_objects(state.store.schema, call.version))


@route("GET", rf"/sobjects/(?P<obj>{NAME})/?", "sobject.info")
def object_info(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``GET sobjects/X``: basic information."""
    return Reply(200, describe.basic_info(sobject(state, match["obj"]), call.version))


@route("GET", rf"/sobjects/(?P<obj>{NAME})/describe/?", "sobject.describe")
def object_describe(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``GET sobjects/X/describe`` (honours ``If-Modified-Since``)."""
    obj = sobject(state, match["obj"])
    return _conditional(state, call, obj.name,
                        lambda: describe.describe_object(state.store.schema, obj, call.version))


@route("POST", rf"/sobjects/(?P<obj>{NAME})/?", "sobject.create")
def create(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``POST sobjects/X``: 201 ``{id, success, errors}``."""
    obj = sobject(state, match["obj"])
    data = expect_object(call.json(), obj.name)
    result = _single(state.store.insert(obj.name, [data], user_id=call.user_id)[0])
    return Reply(201, {"id": result.id, "success": True, "errors": []},
                 {"Location": record_url(call.version, obj.name, str(result.id))})


def _window(call: Call) -> tuple[datetime, datetime]:
    bounds = []
    for name in ("start", "end"):
        text = call.query.get(name)
        if not text:
            raise SalesforceError(400, "MISSING_ARGUMENT", f"Missing required parameter: {name}")
        try:
            when = datetime.fromisoformat(unquote(text).replace(" ", "+").replace("Z", "+00:00"))
        except ValueError as exc:
            raise SalesforceError(400, "INVALID_REPLICATION_DATE",
                                  f"Invalid {name} date/time: {text}. Use ISO 8601 with a time zone") from exc
        if when.tzinfo is None:
            raise SalesforceError(400, "INVALID_REPLICATION_DATE", f"{name} needs a time zone: {text}")
        bounds.append(when)
    return bounds[0], bounds[1]


@route("GET", rf"/sobjects/(?P<obj>{NAME})/updated/?", "sobject.updated")
def updated(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``GET sobjects/X/updated/?start=&end=``."""
    obj = sobject(state, match["obj"])
    start, end = _window(call)
    return Reply(200, state.store.updated(obj.name, start, end))


@route("GET", rf"/sobjects/(?P<obj>{NAME})/deleted/?", "sobject.deleted")
def deleted(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``GET sobjects/X/deleted/?start=&end=``."""
    obj = sobject(state, match["obj"])
    start, end = _window(call)
    return Reply(200, state.store.deleted(obj.name, start, end))


@route("GET", rf"/sobjects/(?P<obj>{NAME})/(?P<id>[^/]+)/?", "sobject.get")
def get(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``GET sobjects/X/id[?fields=a,b]``."""
    obj = sobject(state, match["obj"])
    record_id = normalize_id(match["id"])
    if record_id is None or record_id[:3] != obj.key_prefix:
        raise SalesforceError(404, "NOT_FOUND",
                              f"Provided external ID field does not exist or is not accessible: {match['id']}")
    fields = state.store.resolve_fields(obj, call.query.get("fields"))
    record = _live_record(state, obj, record_id, write=False)
    return Reply(200, state.store.record_json(state.store.table(obj.name), record, fields, call.version))


@route("PATCH", rf"/sobjects/(?P<obj>{NAME})/(?P<id>[^/]+)/?", "sobject.update")
def update(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``PATCH sobjects/X/id``: 204."""
    obj = sobject(state, match["obj"])
    record_id = _record_id(obj, match["id"])
    data = expect_object(call.json(), obj.name)
    _live_record(state, obj, record_id, write=True)
    _single(state.store.update(obj.name, [{**data, "Id": record_id}], user_id=call.user_id)[0])
    return Reply(204)


@route("DELETE", rf"/sobjects/(?P<obj>{NAME})/(?P<id>[^/]+)/?", "sobject.delete")
def delete(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``DELETE sobjects/X/id``: 204."""
    obj = sobject(state, match["obj"])
    record_id = _record_id(obj, match["id"])
    _live_record(state, obj, record_id, write=True)
    result = state.store.delete([record_id], user_id=call.user_id)[0]
    if not result.success:
        error = result.errors[0]
        raise SalesforceError(400, error.status_code, error.message, error.fields)
    return Reply(204)


def _by_external_id(
    state: EmulatorState, call: Call, match: re.Match[str]
) -> tuple[ObjectDef, str, list[dict[str, Any]]]:
    obj = sobject(state, match["obj"])
    key_field = state.store.external_id_field(obj, match["field"])
    value = unquote(match["value"])
    if key_field.name == "Id":
        record_id = normalize_id(value)
        record = state.store.get_many(obj.name, [record_id]).get(record_id) if record_id else None
        return obj, key_field.name, [record] if record else []
    return obj, key_field.name, state.store.find_by_external_id(obj.name, key_field.name, value)


def _several(call: Call, obj: ObjectDef, records: list[dict[str, Any]]) -> Reply:
    return Reply(300, [record_url(call.version, obj.name, r["Id"]) for r in records])


@route("GET", rf"/sobjects/(?P<obj>{NAME})/(?P<field>{NAME})/(?P<value>[^/]+)/?", "sobject.getByExternalId")
def get_by_external_id(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``GET sobjects/X/field/value``: the record, 404, or 300 with the matching records' URLs."""
    obj, _, records = _by_external_id(state, call, match)
    fields = state.store.resolve_fields(obj, call.query.get("fields"))
    if not records:
        raise not_found()
    if len(records) > 1:
        return _several(call, obj, records)
    return Reply(200, state.store.record_json(state.store.table(obj.name), records[0], fields, call.version))


@route("PATCH", rf"/sobjects/(?P<obj>{NAME})/(?P<field>{NAME})/(?P<value>[^/]+)/?", "sobject.upsert")
def upsert(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``PATCH sobjects/X/field/value``: 201 created, 200 updated, 300 several matches."""
    obj = sobject(state, match["obj"])
    key_field = state.store.external_id_field(obj, match["field"])
    value = unquote(match["value"])
    data = expect_object(call.json(), obj.name)
    given = next((v for k, v in data.items() if k.lower() == key_field.name.lower()), None)
    if given is not None and str(given) != value:
        raise SalesforceError(400, "INVALID_FIELD",
                              f"The value provided for the external ID field ({given}) does not match the value in "
                              f"the URL ({value})", [key_field.name])
    if key_field.name == "Id":
        record_id = _record_id(obj, value)
        _live_record(state, obj, record_id, write=True)
        _single(state.store.update(obj.name, [{**data, "Id": record_id}], user_id=call.user_id)[0])
        return Reply(200, {"id": record_id, "success": True, "errors": [], "created": False})
    existing = state.store.find_by_external_id(obj.name, key_field.name, value)
    if len(existing) > 1:
        return _several(call, obj, existing)
    record = {k: v for k, v in data.items() if k.lower() != key_field.name.lower()}
    record[key_field.name] = value
    result = _single(state.store.upsert(obj.name, key_field.name, [record], user_id=call.user_id)[0])
    body: dict[str, Any] = {"id": result.id, "success": True, "errors": [], "created": result.created}
    if result.created:
        return Reply(201, body, {"Location": record_url(call.version, obj.name, str(result.id))})
    return Reply(200, body)


@route("DELETE", rf"/sobjects/(?P<obj>{NAME})/(?P<field>{NAME})/(?P<value>[^/]+)/?", "sobject.deleteByExternalId")
def delete_by_external_id(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``DELETE sobjects/X/field/value``: 204, 404, or 300 with several matches."""
    obj, _, records = _by_external_id(state, call, match)
    if not records:
        raise not_found()
    if len(records) > 1:
        return _several(call, obj, records)
    state.store.delete([records[0]["Id"]], user_id=call.user_id)
    return Reply(204)
