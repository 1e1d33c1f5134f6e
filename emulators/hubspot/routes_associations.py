"""Associations v4 (``/crm/v4/objects/...`` and ``/crm/v4/associations/...``): associate two records with the
default type or labeled types, list a record's associations, remove them, and the batch read/create/archive."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from emulators.hubspot.errors import HubSpotError, InputError, json_response, not_found, validation
from emulators.hubspot.routes_objects import batch_inputs, object_type_of
from emulators.hubspot.schema import ObjectType, association_label
from emulators.hubspot.state import HubSpotState, read_body, read_json
from emulators.hubspot.values import iso

PAGE = 500


def _record(state: HubSpotState, object_type: ObjectType, object_id: str) -> None:
    if state.store.get(object_type, object_id) is None:
        raise not_found(f"No {object_type.singular} with id {object_id} exists")


def _types(object_type: ObjectType, other: ObjectType, type_ids: list[int]) -> list[dict[str, Any]]:
    return [{"category": "HUBSPOT_DEFINED", "typeId": t, "label": association_label(object_type.name, other.name, t)}
            for t in type_ids]


async def put_default(state: HubSpotState, request: Request) -> Response:
    """``PUT /crm/v4/objects/{fromObjectType}/{fromObjectId}/associations/default/{toObjectType}/{toObjectId}``."""
    started = iso(state.clock.now())
    params = request.path_params
    from_type, to_type = object_type_of(params["fromObjectType"]), object_type_of(params["toObjectType"])
    _record(state, from_type, params["fromObjectId"])
    _record(state, to_type, params["toObjectId"])
    try:
        made = state.store.associate(from_type, params["fromObjectId"], to_type, params["toObjectId"])
    except InputError as exc:
        raise HubSpotError.from_input_error(exc) from None
    results = [{"from": {"id": a.from_id}, "to": {"id": a.to_id},
                "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": a.type_id}}
               for a in made]
    return json_response({"status": "COMPLETE", "results": results, "startedAt": started,
                          "completedAt": iso(state.clock.now())})


async def put_labeled(state: HubSpotState, request: Request) -> Response:
    """``PUT /crm/v4/objects/{fromObjectType}/{fromObjectId}/associations/{toObjectType}/{toObjectId}`` with
    ``[{"associationCategory", "associationTypeId"}]``: 201."""
    params = request.path_params
    from_type, to_type = object_type_of(params["fromObjectType"]), object_type_of(params["toObjectType"])
    _record(state, from_type, params["fromObjectId"])
    _record(state, to_type, params["toObjectId"])
    body = await read_body(request)
    if not isinstance(body, list) or not body:
        raise validation("The body must be a list of {associationCategory, associationTypeId}")
    type_ids = [int(item["associationTypeId"]) for item in body if isinstance(item, dict)
                and "associationTypeId" in item]
    try:
        state.store.associate(from_type, params["fromObjectId"], to_type, params["toObjectId"], type_ids)
    except InputError as exc:
        raise HubSpotError.from_input_error(exc) from None
    labels = [label for t in type_ids if (label := association_label(from_type.name, to_type.name, t))]
    return json_response({"fromObjectTypeId": from_type.type_id, "fromObjectId": int(params["fromObjectId"]),
                          "toObjectTypeId": to_type.type_id, "toObjectId": int(params["toObjectId"]),
                          "labels": labels}, 201)


async def list_associations(state: HubSpotState, request: Request) -> Response:
    """``GET /crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}``: paged by ``after``."""
    params = request.path_params
    from_type, to_type = object_type_of(params["objectType"]), object_type_of(params["toObjectType"])
    found = state.store.associations(from_type, params["objectId"], to_type)
    try:
        limit = min(int(request.query_params.get("limit", PAGE)), PAGE)
        after = int(request.query_params.get("after") or 0)
    except ValueError:
        raise validation("limit and after must be integers") from None
    rows = [(to_id, types) for to_id, types in found.items() if int(to_id) >= after]
    body: dict[str, Any] = {"results": [{"toObjectId": int(to_id), "associationTypes": _types(from_type, to_type, t)}
                                        for to_id, t in rows[:limit]]}
    if len(rows) > limit:
        body["paging"] = {"next": {"after": rows[limit][0], "link": f"?after={rows[limit][0]}"}}
    return json_response(body)


async def delete_association(state: HubSpotState, request: Request) -> Response:
    """``DELETE /crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}/{toObjectId}``: 204."""
    params = request.path_params
    state.store.dissociate(object_type_of(params["objectType"]), params["objectId"],
                           object_type_of(params["toObjectType"]), params["toObjectId"])
    return Response(status_code=204)


def _id(value: Any) -> str:
    return str((value or {}).get("id", "")) if isinstance(value, dict) else str(value or "")


async def batch(state: HubSpotState, request: Request) -> Response:
    """``POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/{read|associate/default|create|archive|
    labels/archive}``."""
    started = iso(state.clock.now())
    params = request.path_params
    from_type, to_type = object_type_of(params["fromObjectType"]), object_type_of(params["toObjectType"])
    action = params["action"]
    inputs = batch_inputs(await read_json(request))
    results: list[dict[str, Any]] = []
    errors: list[InputError] = []
    if action == "read":
        for item in inputs:
            from_id = _id(item)
            if state.store.get(from_type, from_id) is None:
                errors.append(InputError("OBJECT_NOT_FOUND", f"No {from_type.singular} with id {from_id} exists",
                                         {"fromObjectId": [from_id]}))
                continue
            found = state.store.associations(from_type, from_id, to_type)
            results.append({"from": {"id": from_id}, "to": [
                {"toObjectId": int(to_id), "associationTypes": _types(from_type, to_type, t)}
                for to_id, t in found.items()]})
    elif action in {"associate/default", "create"}:
        for item in inputs:
            from_id, to_id = _id(item.get("from")), _id(item.get("to"))
            if state.store.get(from_type, from_id) is None or state.store.get(to_type, to_id) is None:
                errors.append(InputError("OBJECT_NOT_FOUND", f"No record {from_id} or {to_id} exists",
                                         {"fromObjectId": [from_id], "toObjectId": [to_id]}))
                continue
            type_ids = [int(t["associationTypeId"]) for t in item.get("types") or [] if "associationTypeId" in t]
            try:
                made = state.store.associate(from_type, from_id, to_type, to_id, type_ids or None)
            except InputError as exc:
                errors.append(exc)
                continue
            results += [{"from": {"id": a.from_id}, "to": {"id": a.to_id}, "associationSpec": {
                "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": a.type_id}} for a in made]
    elif action == "archive":
        for item in inputs:
            for target in item.get("to") or []:
                state.store.dissociate(from_type, _id(item.get("from")), to_type, _id(target))
        return Response(status_code=204)
    elif action == "labels/archive":
        for item in inputs:
            type_ids = [int(t["associationTypeId"]) for t in item.get("types") or [] if "associationTypeId" in t]
            state.store.dissociate(from_type, _id(item.get("from")), to_type, _id(item.get("to")), type_ids)
        return Response(status_code=204)
    else:
        raise not_found()
    body: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": started,
                            "completedAt": iso(state.clock.now())}
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = [e.to_json() for e in errors]
    return json_response(body, 207 if errors else (201 if action == "create" else 200))
