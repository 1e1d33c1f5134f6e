"""sObject Collections: create, update, upsert, delete and retrieve up to 200 records per call."""

from __future__ import annotations

import re
from typing import Any

from emulators.salesforce.errors import SalesforceError
from emulators.salesforce.ids import normalize_id
from emulators.salesforce.rest import Call, EmulatorState, Reply, expect_object, route, sobject, sobject_for_type
from emulators.salesforce.store import WriteResult
from emulators.salesforce.validation import unknown_field

NAME = r"[A-Za-z][A-Za-z0-9_]*"
MAX_RECORDS = 200
MAX_RETRIEVE = 2000


def _too_many() -> SalesforceError:
    return SalesforceError(400, "EXCEEDED_ID_LIMIT",
                           "record limit reached. cannot submit more than 200 records into this call")


def _flag(value: Any, default: bool = False) -> bool:
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value) if value is not None else default


def _records(call: Call) -> tuple[list[dict[str, Any]], bool]:
    body = expect_object(call.json(), "SObjectCollection")
    records = body.get("records")
    if not isinstance(records, list):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of List from "
                              f"{'VALUE_NULL' if records is None else 'VALUE_STRING'} value at [line:1, column:1]")
    if len(records) > MAX_RECORDS:
        raise _too_many()
    return [expect_object(r) for r in records], _flag(body.get("allOrNone"))


def _type_of(record: dict[str, Any]) -> Any:
    attributes = record.get("attributes")
    return attributes.get("type") if isinstance(attributes, dict) else None


def _grouped(state: EmulatorState, records: list[dict[str, Any]]) -> dict[str, list[int]]:
    """Record positions per object (from ``attributes.type``), checking every type first."""
    groups: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        type_name = _type_of(record)
        if type_name is None:
            raise SalesforceError(400, "INVALID_TYPE", "Must send a concrete entity type.")
        groups.setdefault(sobject_for_type(state, type_name).name, []).append(index)
    return groups


def _merge(count: int, groups: dict[str, list[int]], outcomes: dict[str, list[WriteResult]]) -> list[WriteResult]:
    results: list[WriteResult | None] = [None] * count
    for obj_name, positions in groups.items():
        for position, result in zip(positions, outcomes[obj_name], strict=True):
            results[position] = result
    return [r for r in results if r is not None]


def _write_all(state: EmulatorState, call: Call, records: list[dict[str, Any]], all_or_none: bool, op: str
               ) -> list[WriteResult]:
    groups = _grouped(state, records)
    store = state.store
    with store.lock, store.atomic() as transaction:
        outcomes = {}
        for obj_name, positions in groups.items():
            batch = [records[i] for i in positions]
            if op == "create":
                outcomes[obj_name] = store.insert(obj_name, batch, user_id=call.user_id, all_or_none=all_or_none)
            else:
                outcomes[obj_name] = store.update(obj_name, batch, user_id=call.user_id, all_or_none=all_or_none)
        results = _merge(len(records), groups, outcomes)
        if all_or_none and not all(r.success for r in results):
            transaction.rollback()
            results = _rolled_back(results)
    return results


def _rolled_back(results: list[WriteResult]) -> list[WriteResult]:
    from emulators.salesforce.errors import ROLLED_BACK_MESSAGE, RecordError

    return [
        r if not r.success and r.errors[0].status_code != "ALL_OR_NONE_OPERATION_ROLLED_BACK"
        else WriteResult(id=None, errors=[RecordError("ALL_OR_NONE_OPERATION_ROLLED_BACK", ROLLED_BACK_MESSAGE, [])])
        for r in results
    ]


@route("POST", r"/composite/sobjects/?", "collections.create")
def create(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``POST composite/sobjects``: create up to 200 records (of up to 10 types)."""
    records, all_or_none = _records(call)
    results = _write_all(state, call, records, all_or_none, "create")
    return Reply(200, [r.to_json() for r in results])


@route("PATCH", r"/composite/sobjects/?", "collections.update")
def update(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``PATCH composite/sobjects``: update up to 200 records by ``Id``."""
    records, all_or_none = _records(call)
    results = _write_all(state, call, records, all_or_none, "update")
    return Reply(200, [r.to_json() for r in results])


@route("PATCH", rf"/composite/sobjects/(?P<obj>{NAME})/(?P<field>{NAME})/?", "collections.upsert")
def upsert(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``PATCH composite/sobjects/X/field``: upsert up to 200 records of X by an external id."""
    obj = sobject(state, match["obj"])
    records, all_or_none = _records(call)
    for record in records:
        type_name = _type_of(record)
        if type_name is None:
            raise SalesforceError(400, "INVALID_TYPE", "Must send a concrete entity type.")
        if sobject_for_type(state, type_name).name != obj.name:
            raise SalesforceError(400, "INVALID_TYPE",
                                  f"The type {type_name} of a record does not match the type {obj.name} in the URL")
    results = state.store.upsert(obj.name, match["field"], records, user_id=call.user_id, all_or_none=all_or_none)
    return Reply(200, [r.to_json(with_created=True) for r in results])


@route("DELETE", r"/composite/sobjects/?", "collections.delete")
def delete(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``DELETE composite/sobjects?ids=a,b[&allOrNone=true]``."""
    ids = [i for i in (call.query.get("ids") or "").split(",") if i]
    if not ids:
        raise SalesforceError(400, "MISSING_ARGUMENT", "Missing required parameter: ids")
    if len(ids) > MAX_RECORDS:
        raise _too_many()
    results = state.store.delete(ids, user_id=call.user_id, all_or_none=_flag(call.query.get("allOrNone")))
    return Reply(200, [r.to_json() for r in results])


def _retrieve(state: EmulatorState, call: Call, obj_name: str, ids: list[Any], fields: list[Any]) -> Reply:
    obj = sobject(state, obj_name)
    if not ids or not fields:
        raise SalesforceError(400, "MISSING_ARGUMENT", "Both ids and fields are required")
    if len(ids) > MAX_RETRIEVE:
        raise SalesforceError(400, "EXCEEDED_ID_LIMIT", f"Too many ids; the limit is {MAX_RETRIEVE}")
    names = []
    for name in fields:
        f = obj.field(str(name))
        if f is None:
            raise unknown_field(obj, str(name))
        names.append(f.name)
    normalized = [normalize_id(str(i)) for i in ids]
    found = state.store.get_many(obj.name, [i for i in normalized if i])
    table = state.store.table(obj.name)
    return Reply(200, [
        state.store.record_json(table, found[i], names, call.version) if i and i in found else None
        for i in normalized
    ])


@route("GET", rf"/composite/sobjects/(?P<obj>{NAME})/?", "collections.retrieve")
def retrieve(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``GET composite/sobjects/X?ids=&fields=``: records in the order asked, ``null`` when missing."""
    ids = [i for i in (call.query.get("ids") or "").split(",") if i]
    fields = [f for f in (call.query.get("fields") or "").split(",") if f]
    return _retrieve(state, call, match["obj"], ids, fields)


@route("POST", rf"/composite/sobjects/(?P<obj>{NAME})/?", "collections.retrieve")
def retrieve_post(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``POST composite/sobjects/X`` with ``{"ids": [...], "fields": [...]}`` (up to 2,000 ids)."""
    body = expect_object(call.json())
    ids, fields = body.get("ids") or [], body.get("fields") or []
    if not isinstance(ids, list) or not isinstance(fields, list):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "ids and fields must be arrays")
    return _retrieve(state, call, match["obj"], ids, fields)
