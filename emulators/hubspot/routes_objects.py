"""The objects API (``/crm/v3/objects/{objectType}``): read, list, create, update, archive, the five batch calls
and search."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from emulators.hubspot.errors import HubSpotError, InputError, json_response, not_found, validation
from emulators.hubspot.schema import (
    ASSOCIATION_TYPES,
    OBJECT_TYPES,
    ObjectType,
    association_type_name,
    resolve_object_type,
)
from emulators.hubspot.search import run_search
from emulators.hubspot.state import HubSpotState, read_json
from emulators.hubspot.store import Record
from emulators.hubspot.values import iso

BATCH_LIMIT = 100
LIST_MAX = 100
LIST_DEFAULT = 10


def object_type_of(name: str) -> ObjectType:
    """The object type a path names.

    Raises:
        HubSpotError: 400 for an object type the portal does not have.
    """
    found = resolve_object_type(name)
    if found is None:
        raise HubSpotError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {name}",
                           sub_category="ObjectTypeIdUtils.INVALID_OBJECT_TYPE_ID")
    return found


def _names(values: list[str]) -> list[str]:
    """Property names from query parameters given repeated or comma-separated."""
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


def returned_properties(state: HubSpotState, object_type: ObjectType, requested: list[str] | None,
                        written: list[str] | None = None) -> list[str]:
    """What a response shows: the defaults, or the requested ones plus the id and the two dates; unknown ones
    are left out, as HubSpot does."""
    if not requested:
        return sorted({*object_type.default_properties, *(written or [])})
    specs = state.store.properties(object_type)
    system = {"hs_object_id", object_type.created_property, object_type.modified_property}
    return sorted({n for n in requested if n in specs} | system | set(written or []))


def render(state: HubSpotState, object_type: ObjectType, record: Record, names: list[str],
           associations: list[str] | None = None) -> dict[str, Any]:
    """A record as JSON, with its associations to the ``associations`` object types when asked."""
    data = record.to_json(names)
    if associations:
        linked: dict[str, Any] = {}
        for name in associations:
            other = resolve_object_type(name)
            if other is None:
                continue
            results = [{"id": to_id, "type": _v3_type(object_type, other, type_id)}
                       for to_id, types in state.store.associations(object_type, record.id, other).items()
                       for type_id in types]
            if results:
                linked[other.name] = {"results": results}
        if linked:
            data["associations"] = linked
    return data


def _v3_type(from_type: ObjectType, to_type: ObjectType, type_id: int) -> str:
    base = association_type_name(from_type, to_type)
    primary = ASSOCIATION_TYPES.get((from_type.name, to_type.name), (0, None))[1]
    return base if primary == type_id else f"{base}_unlabeled"


def _archived(request: Request) -> bool:
    return request.query_params.get("archived", "false").lower() == "true"


async def get_object(state: HubSpotState, request: Request) -> Response:
    """``GET /crm/v3/objects/{objectType}/{objectId}``."""
    object_type = object_type_of(request.path_params["objectType"])
    id_property = _unique_id_property(state, object_type, request.query_params.get("idProperty"))
    record = state.store.get(object_type, request.path_params["objectId"], id_property, archived=_archived(request))
    if record is None:
        raise not_found()
    names = returned_properties(state, object_type, _names(request.query_params.getlist("properties")))
    return json_response(render(state, object_type, record, names,
                                _names(request.query_params.getlist("associations"))))


async def list_objects(state: HubSpotState, request: Request) -> Response:
    """``GET /crm/v3/objects/{objectType}``: a page of records by id, ``after`` the id to start at."""
    object_type = object_type_of(request.path_params["objectType"])
    try:
        limit = int(request.query_params.get("limit", LIST_DEFAULT))
        after = int(request.query_params.get("after") or 0)
    except ValueError:
        raise validation("limit and after must be integers") from None
    if not 1 <= limit <= LIST_MAX:
        raise validation(f"limit must be between 1 and {LIST_MAX}; got {limit}")
    rows = state.store.archived(object_type) if _archived(request) else state.store.live(object_type)
    rows = sorted((r for r in rows if int(r.id) >= after), key=lambda r: int(r.id))
    names = returned_properties(state, object_type, _names(request.query_params.getlist("properties")))
    wanted = _names(request.query_params.getlist("associations"))
    body: dict[str, Any] = {"results": [render(state, object_type, r, names, wanted) for r in rows[:limit]]}
    if len(rows) > limit:
        following = rows[limit].id
        body["paging"] = {"next": {"after": following, "link": f"?after={following}"}}
    return json_response(body)


def _association_inputs(state: HubSpotState, object_type: ObjectType,
                        inputs: Any) -> list[tuple[ObjectType, str, list[int]]]:
    """Check the ``associations`` of a create input: ``[{"to": {"id"}, "types": [{"associationTypeId"}]}]``."""
    wanted = []
    for item in inputs or []:
        to_id = str((item.get("to") or {}).get("id", ""))
        type_ids = [int(t["associationTypeId"]) for t in item.get("types") or [] if "associationTypeId" in t]
        if not to_id or not type_ids:
            raise InputError("VALIDATION_ERROR", "Each association needs 'to': {'id'} and 'types'")
        target = next((OBJECT_TYPES[to] for (frm, to), ids in ASSOCIATION_TYPES.items()
                       if frm == object_type.name and type_ids[0] in ids), None)
        if target is None or state.store.get(target, to_id) is None:
            raise InputError("VALIDATION_ERROR", f"The association to {to_id} (type {type_ids[0]}) is not valid: "
                             "no such type from this object, or no such record",
                             {"toObjectId": [to_id]})
        wanted.append((target, to_id, type_ids))
    return wanted


async def create_object(state: HubSpotState, request: Request) -> Response:
    """``POST /crm/v3/objects/{objectType}``: 201 with the new record."""
    object_type = object_type_of(request.path_params["objectType"])
    body = await read_json(request)
    try:
        values = state.store.check_values(object_type, body.get("properties") or {}, creating=True)
        links = _association_inputs(state, object_type, body.get("associations"))
    except InputError as exc:
        raise HubSpotError.from_input_error(exc, 409 if exc.category == "CONFLICT" else 400) from None
    record = state.store.create_many(object_type, [values])[0]
    for target, to_id, type_ids in links:
        state.store.associate(object_type, record.id, target, to_id, type_ids)
    return json_response(render(state, object_type, record, returned_properties(state, object_type, None,
                                                                                   list(values))), 201)


async def update_object(state: HubSpotState, request: Request) -> Response:
    """``PATCH /crm/v3/objects/{objectType}/{objectId}``."""
    object_type = object_type_of(request.path_params["objectType"])
    id_property = _unique_id_property(state, object_type, request.query_params.get("idProperty"))
    record = state.store.get(object_type, request.path_params["objectId"], id_property)
    if record is None:
        raise not_found()
    body = await read_json(request)
    try:
        values = state.store.check_values(object_type, body.get("properties") or {}, creating=False, current=record)
    except InputError as exc:
        raise HubSpotError.from_input_error(exc, 409 if exc.category == "CONFLICT" else 400) from None
    state.store.update_many(object_type, [(record, values)])
    return json_response(render(state, object_type, record, returned_properties(state, object_type, None,
                                                                                   list(values))))


async def archive_object(state: HubSpotState, request: Request) -> Response:
    """``DELETE /crm/v3/objects/{objectType}/{objectId}``: 204, also when it was archived already."""
    object_type = object_type_of(request.path_params["objectType"])
    record = state.store.get(object_type, request.path_params["objectId"])
    if record is not None:
        state.store.archive_many(object_type, [record])
    return Response(status_code=204)


async def search_objects(state: HubSpotState, request: Request) -> Response:
    """``POST /crm/v3/objects/{objectType}/search``."""
    object_type = object_type_of(request.path_params["objectType"])
    body = await read_json(request)
    specs = state.store.properties(object_type)
    page = run_search(object_type, specs, state.store.live(object_type), body)
    requested = body.get("properties")
    names = returned_properties(state, object_type, requested if isinstance(requested, list) else None)
    data: dict[str, Any] = {"total": page.total, "results": [r.to_json(names) for r in page.records]}
    if page.after is not None:
        data["paging"] = {"next": {"after": page.after, "link": f"?after={page.after}"}}
    return json_response(data)


def batch_inputs(body: dict[str, Any]) -> list[dict[str, Any]]:
    """A batch request's ``inputs``: a list of objects, at most :data:`BATCH_LIMIT` (HubSpot's 400 otherwise)."""
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
        raise validation("Invalid input JSON: 'inputs' must be a list of objects")
    if len(inputs) > BATCH_LIMIT:
        raise validation(f"Batch input size limit exceeded: {len(inputs)} inputs were given; the maximum is "
                         f"{BATCH_LIMIT}.", context={"limit": [str(BATCH_LIMIT)], "size": [str(len(inputs))]})
    return inputs


def _batch_response(started: str, results: list[dict[str, Any]], errors: list[InputError], status: int,
                    state: HubSpotState) -> Response:
    body: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": started,
                            "completedAt": iso(state.clock.now())}
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = [e.to_json() for e in errors]
        status = 207
    return json_response(body, status)


def _not_found_error(object_type: ObjectType, ids: list[str]) -> InputError:
    return InputError("OBJECT_NOT_FOUND", f"Could not get some {object_type.singular.upper()} objects, they may be "
                      "deleted or not exist. Check that ids are valid.", {"ids": ids})


def _unique_id_property(state: HubSpotState, object_type: ObjectType, name: str | None) -> str | None:
    if name in (None, "", "hs_object_id"):
        return None
    if name not in state.store.unique_properties(object_type):
        raise validation(f"{name} is not a valid idProperty for {object_type.name}: it must be a property with "
                         "unique values", context={"idProperty": [str(name)]})
    return name


async def batch(state: HubSpotState, request: Request) -> Response:
    """``POST /crm/v3/objects/{objectType}/batch/{read|create|update|upsert|archive}``."""
    object_type = object_type_of(request.path_params["objectType"])
    action = request.path_params["action"]
    handler = {"read": _batch_read, "create": _batch_create, "update": _batch_update, "upsert": _batch_upsert,
               "archive": _batch_archive}.get(action)
    if handler is None:
        raise not_found()
    body = await read_json(request)
    inputs = batch_inputs(body)
    return handler(state, request, object_type, body, inputs, iso(state.clock.now()))


def _batch_read(state: HubSpotState, request: Request, object_type: ObjectType, body: dict[str, Any],
                inputs: list[dict[str, Any]], started: str) -> Response:
    id_property = _unique_id_property(state, object_type, body.get("idProperty"))
    names = returned_properties(state, object_type, body.get("properties") or None)
    results: list[dict[str, Any]] = []
    missing: list[str] = []
    for item in inputs:
        key = str(item.get("id", ""))
        record = state.store.get(object_type, key, id_property, archived=_archived(request))
        if record is None:
            missing.append(key)
        elif record.id not in {r["id"] for r in results}:
            results.append(render(state, object_type, record, names))
    errors = [_not_found_error(object_type, missing)] if missing else []
    return _batch_response(started, results, errors, 200, state)


def _batch_create(state: HubSpotState, request: Request, object_type: ObjectType, body: dict[str, Any],
                  inputs: list[dict[str, Any]], started: str) -> Response:
    multi_status = bool(inputs) and all(item.get("objectWriteTraceId") for item in inputs)
    accepted, errors = [], []
    for item in inputs:
        try:
            values = state.store.check_values(object_type, item.get("properties") or {}, creating=True)
            links = _association_inputs(state, object_type, item.get("associations"))
        except InputError as exc:
            if not multi_status:
                raise HubSpotError.from_input_error(exc, 409 if exc.category == "CONFLICT" else 400) from None
            exc.context = {**exc.context, "objectWriteTraceId": [str(item["objectWriteTraceId"])]}
            errors.append(exc)
            continue
        accepted.append((item, values, links))
    emails = [v.get("email") for _, v, _ in accepted if v.get("email") and object_type.unique_email]
    if len(set(emails)) != len(emails):
        raise HubSpotError(409, "CONFLICT", "Duplicate emails found in batch input; each contact needs its own.")
    records = state.store.create_many(object_type, [values for _, values, _ in accepted])
    results = []
    for record, (item, values, links) in zip(records, accepted, strict=True):
        for target, to_id, type_ids in links:
            state.store.associate(object_type, record.id, target, to_id, type_ids)
        data = render(state, object_type, record, returned_properties(state, object_type, None, list(values)))
        if item.get("objectWriteTraceId"):
            data["objectWriteTraceId"] = str(item["objectWriteTraceId"])
        results.append(data)
    return _batch_response(started, results, errors, 201, state)


def _duplicates(keys: list[str]) -> None:
    seen, repeated = set(), []
    for key in keys:
        if key in seen and key not in repeated:
            repeated.append(key)
        seen.add(key)
    if repeated:
        raise validation(f"Duplicate IDs found in batch input: {repeated}. IDs must be unique",
                         context={"ids": repeated})


def _batch_update(state: HubSpotState, request: Request, object_type: ObjectType, body: dict[str, Any],
                  inputs: list[dict[str, Any]], started: str) -> Response:
    _duplicates([str(item.get("id", "")) for item in inputs])
    changes: list[tuple[Record, dict[str, str]]] = []
    missing: list[str] = []
    for item in inputs:
        id_property = _unique_id_property(state, object_type, item.get("idProperty"))
        record = state.store.get(object_type, str(item.get("id", "")), id_property)
        if record is None:
            missing.append(str(item.get("id", "")))
            continue
        try:
            values = state.store.check_values(object_type, item.get("properties") or {}, creating=False,
                                              current=record)
        except InputError as exc:
            raise HubSpotError.from_input_error(exc, 409 if exc.category == "CONFLICT" else 400) from None
        changes.append((record, values))
    records = state.store.update_many(object_type, changes)
    results = [render(state, object_type, r, returned_properties(state, object_type, None, list(v)))
               for r, (_, v) in zip(records, changes, strict=True)]
    return _batch_response(started, results, [_not_found_error(object_type, missing)] if missing else [], 200, state)


def _batch_upsert(state: HubSpotState, request: Request, object_type: ObjectType, body: dict[str, Any],
                  inputs: list[dict[str, Any]], started: str) -> Response:
    _duplicates([str(item.get("id", "")) for item in inputs])
    creates: list[tuple[dict[str, str], dict[str, Any]]] = []
    updates: list[tuple[Record, dict[str, str]]] = []
    for item in inputs:
        id_property = _unique_id_property(state, object_type, item.get("idProperty"))
        if id_property is None:
            raise validation("Each upsert input needs an idProperty with unique values (and its value as id)")
        key = str(item.get("id", ""))
        if not key:
            raise validation("Each upsert input needs an id: the value of its idProperty")
        record = state.store.get(object_type, key, id_property)
        try:
            if record is None:
                values = state.store.check_values(object_type, {**(item.get("properties") or {}), id_property: key},
                                                  creating=True)
                creates.append((values, item))
            else:
                values = state.store.check_values(object_type, item.get("properties") or {}, creating=False,
                                                  current=record)
                updates.append((record, values))
        except InputError as exc:
            raise HubSpotError.from_input_error(exc, 409 if exc.category == "CONFLICT" else 400) from None
    updated = state.store.update_many(object_type, updates)
    created = state.store.create_many(object_type, [values for values, _ in creates])
    results = [{**render(state, object_type, r, returned_properties(state, object_type, None, list(v))), "new": False}
               for r, (_, v) in zip(updated, updates, strict=True)]
    results += [{**render(state, object_type, r, returned_properties(state, object_type, None, list(v))), "new": True}
                for r, (v, _) in zip(created, creates, strict=True)]
    return _batch_response(started, results, [], 200, state)


def _batch_archive(state: HubSpotState, request: Request, object_type: ObjectType, body: dict[str, Any],
                   inputs: list[dict[str, Any]], started: str) -> Response:
    records = [r for r in (state.store.get(object_type, str(item.get("id", ""))) for item in inputs) if r]
    state.store.archive_many(object_type, records)
    return Response(status_code=204)
