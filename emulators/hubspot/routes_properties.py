"""The properties API (``/crm/v3/properties/{objectType}``): describe an object's properties, read one, and
create a custom property (a unique one, ``hasUniqueValue``, can then be an upsert's ``idProperty``)."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response

from emulators.hubspot.errors import HubSpotError, json_response, not_found, validation
from emulators.hubspot.routes_objects import object_type_of
from emulators.hubspot.schema import PropertySpec
from emulators.hubspot.state import HubSpotState, read_json
from emulators.hubspot.values import iso

TYPES = {"string": {"text", "textarea", "phonenumber", "html", "file"}, "number": {"number", "calculation_equation"},
         "bool": {"booleancheckbox"}, "enumeration": {"select", "radio", "checkbox", "booleancheckbox"},
         "date": {"date"}, "datetime": {"date"}}
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_UNIQUE_PER_OBJECT = 10


async def list_properties(state: HubSpotState, request: Request) -> Response:
    """``GET /crm/v3/properties/{objectType}``."""
    object_type = object_type_of(request.path_params["objectType"])
    if request.query_params.get("archived", "false").lower() == "true":
        return json_response({"results": []})
    return json_response({"results": [p.to_json() for p in state.store.properties(object_type).values()]})


async def get_property(state: HubSpotState, request: Request) -> Response:
    """``GET /crm/v3/properties/{objectType}/{propertyName}``."""
    object_type = object_type_of(request.path_params["objectType"])
    spec = state.store.properties(object_type).get(request.path_params["propertyName"])
    if spec is None:
        raise not_found(f"Unable to find property {request.path_params['propertyName']} for object type "
                        f"{object_type.type_id}")
    return json_response(spec.to_json())


async def create_property(state: HubSpotState, request: Request) -> Response:
    """``POST /crm/v3/properties/{objectType}``: 201 with the property; 409 when the name is taken."""
    object_type = object_type_of(request.path_params["objectType"])
    body = await read_json(request)
    missing = [k for k in ("name", "label", "type", "fieldType", "groupName") if not body.get(k)]
    if missing:
        raise validation(f"Missing required field(s): {', '.join(missing)}", context={"missing": missing})
    name, kind, field_type = str(body["name"]), str(body["type"]), str(body["fieldType"])
    if not NAME.match(name):
        raise validation(f"Property name {name!r} is not valid: use lowercase letters, digits and underscores, "
                         "starting with a letter")
    if kind not in TYPES or field_type not in TYPES[kind]:
        raise validation(f"fieldType {field_type!r} is not valid for a property of type {kind!r}")
    if kind == "enumeration" and not isinstance(body.get("options"), list):
        raise validation("An enumeration property needs 'options'")
    if name in state.store.properties(object_type):
        raise HubSpotError(409, "OBJECT_ALREADY_EXISTS", f"Property named '{name}' already exists.",
                           context={"name": [name]})
    if body.get("hasUniqueValue") and sum(
            p.has_unique_value for p in state.store.properties(object_type).values()) >= MAX_UNIQUE_PER_OBJECT:
        raise validation(f"An object can have at most {MAX_UNIQUE_PER_OBJECT} properties with unique values")
    spec = PropertySpec.from_json(body, iso(state.clock.now()))
    state.store.add_property(object_type, spec)
    return json_response(spec.to_json(), 201)
