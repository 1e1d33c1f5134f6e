"""``composite``: up to 25 subrequests in one call, with ``@{ref.field}`` references and ``allOrNone``."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from emulators.salesforce.errors import SalesforceError
from emulators.salesforce.rest import (
    VERSION_PATH,
    Call,
    EmulatorState,
    Reply,
    dispatch,
    expect_object,
    route,
    supported,
)

MAX_SUBREQUESTS = 25
REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
HALTED = "The transaction was rolled back since another operation in the same transaction failed."


class _Unresolved(Exception):
    def __init__(self, expression: str, reference: str) -> None:
        super().__init__(expression)
        self.expression = expression
        self.reference = reference


def _lookup(results: dict[str, Any], reference: str, path: str, expression: str) -> Any:
    if reference not in results:
        raise _Unresolved(expression, reference)
    value = results[reference]
    for key, index in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", path):
        try:
            value = value[key] if key else value[int(index)]
        except (KeyError, IndexError, TypeError) as exc:
            raise _Unresolved(expression, reference) from exc
    if value is None or isinstance(value, dict | list):
        raise _Unresolved(expression, reference)
    return value


def _substitute(value: Any, results: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = REFERENCE.fullmatch(value)
        if whole:
            return _lookup(results, whole[1], whole[2], whole[0][2:-1])
        return REFERENCE.sub(lambda m: str(_lookup(results, m[1], m[2], m[0][2:-1])), value)
    if isinstance(value, dict):
        return {k: _substitute(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, results) for v in value]
    return value


def _error_item(reference_id: str, status: int, code: str, message: str) -> dict[str, Any]:
    return {"body": [{"errorCode": code, "message": message}], "httpHeaders": {}, "httpStatusCode": status,
            "referenceId": reference_id}


@route("POST", r"/composite/?", "composite")
def composite(state: EmulatorState, call: Call, match: re.Match[str]) -> Reply:
    """``POST composite``: run the subrequests in order; with ``allOrNone`` one failure undoes all."""
    body = expect_object(call.json(), "CompositeRequest")
    requests = body.get("compositeRequest")
    if not isinstance(requests, list) or not requests:
        raise SalesforceError(400, "INVALID_INPUT", "compositeRequest must be a non-empty array")
    if len(requests) > MAX_SUBREQUESTS:
        raise SalesforceError(400, "LIMIT_EXCEEDED",
                              f"Composite request has {len(requests)} subrequests, more than the limit of "
                              f"{MAX_SUBREQUESTS}")
    all_or_none = body.get("allOrNone") is True
    store = state.store
    with store.atomic() as transaction:
        items, failed_at = _run_all(state, call, [expect_object(r, "CompositeSubrequest") for r in requests],
                                    all_or_none)
        if all_or_none and failed_at is not None:
            transaction.rollback()
            items = [
                item if n == failed_at else _error_item(item["referenceId"], 400, "PROCESSING_HALTED", HALTED)
                for n, item in enumerate(items)
            ]
            for request in requests[len(items):]:
                items.append(_error_item(str(request.get("referenceId")), 400, "PROCESSING_HALTED", HALTED))
    return Reply(200, {"compositeResponse": items})


def _run_all(state: EmulatorState, call: Call, requests: list[dict[str, Any]], all_or_none: bool
             ) -> tuple[list[dict[str, Any]], int | None]:
    results: dict[str, Any] = {}
    items: list[dict[str, Any]] = []
    failed_at: int | None = None
    for n, request in enumerate(requests):
        reference_id = str(request.get("referenceId") or "")
        try:
            url = _substitute(str(request.get("url") or ""), results)
            sub_body = _substitute(request.get("body"), results)
        except _Unresolved as exc:
            items.append(_error_item(
                reference_id, 400, "PROCESSING_HALTED",
                f"Invalid reference specified. No value for {exc.expression} found in {exc.reference}. Provided "
                f"referenceId ('{exc.reference}') must be present in a previous subrequest, and the subrequest "
                "must return a value for the specified property."))
            failed_at = n if failed_at is None else failed_at
            if all_or_none:
                break
            continue
        reply = _subrequest(state, call, str(request.get("method") or "GET").upper(), url, sub_body)
        headers = {k: v for k, v in reply.headers.items() if k == "Location"}
        items.append({"body": reply.body, "httpHeaders": headers, "httpStatusCode": reply.status,
                      "referenceId": reference_id})
        if reply.status < 300:
            results[reference_id] = reply.body
        elif failed_at is None:
            failed_at = n
            if all_or_none:
                break
    return items, failed_at


def _subrequest(state: EmulatorState, call: Call, method: str, url: str, body: Any) -> Reply:
    parts = urlsplit(url)
    match = VERSION_PATH.match(parts.path)
    if match is None or not supported(match[1]):
        return Reply(404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])
    sub = Call(
        method=method, version=match[1], path=match[2] or "", query=dict(parse_qsl(parts.query)),
        body=orjson.dumps(body) if body is not None else b"", headers={}, user_id=call.user_id,
    )
    return dispatch(state, sub)
