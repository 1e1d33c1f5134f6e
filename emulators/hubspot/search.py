"""``POST /crm/v3/objects/{objectType}/search``: filter groups (OR of ANDs), one sort, a free-text query, paging
with ``after``, and HubSpot's limits (200 a page, 10,000 results a query, 5 groups, 6 filters a group, 18 in all)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emulators.hubspot.errors import HubSpotError, validation
from emulators.hubspot.schema import ObjectType, PropertySpec
from emulators.hubspot.store import Record
from emulators.hubspot.values import parse_number, sort_key, timestamp

MAX_PAGE = 200
DEFAULT_PAGE = 10
MAX_RESULTS = 10_000
MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS = 18
OPERATORS = {"EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY",
             "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"}
#: Properties the free-text ``query`` looks in, per object (HubSpot's default searchable properties).
QUERY_PROPERTIES = {
    "contacts": ("firstname", "lastname", "email", "phone", "company", "hs_additional_emails"),
    "companies": ("name", "domain", "website", "phone"),
    "deals": ("dealname", "pipeline", "dealstage", "description", "dealtype"),
    "products": ("name", "description", "price", "hs_sku"),
    "line_items": ("name", "description", "price", "quantity", "hs_sku"),
    "tasks": ("hs_task_subject", "hs_task_body"),
}


@dataclass
class SearchPage:
    """One page of a search: the total matching, the records, and the ``after`` of the next page."""

    total: int
    records: list[Record]
    after: str | None


def run_search(object_type: ObjectType, specs: dict[str, PropertySpec], records: list[Record],
               body: dict[str, Any]) -> SearchPage:
    """Filter, sort and page ``records`` as the search request ``body`` asks.

    Raises:
        HubSpotError: a request HubSpot refuses (bad operator, too many filters, limit over 200, paging past
            10,000 results).
    """
    limit = _int(body.get("limit", DEFAULT_PAGE), "limit")
    if limit > MAX_PAGE or limit < 0:
        raise validation(f"limit must be between 0 and {MAX_PAGE}; got {limit}")
    after = _int(body.get("after") or 0, "after")
    if after + limit > MAX_RESULTS:
        raise validation(f"The maximum number of results for a search is {MAX_RESULTS}. "
                         f"after ({after}) + limit ({limit}) is past it; narrow the search (for example by "
                         f"{object_type.modified_property}) and page again.",
                         context={"after": [str(after)], "limit": [str(limit)]})
    groups = _groups(body.get("filterGroups") or [], specs)
    query = str(body.get("query") or "").strip().lower()
    matched = [r for r in records if (not groups or any(all(f(r) for f in g) for g in groups))
               and (not query or _query_matches(object_type, r, query))]
    matched.sort(key=lambda r: int(r.id))
    for sort in reversed(_sorts(body.get("sorts") or [])):
        name, descending = sort
        spec = specs.get(name)
        if spec is None:
            raise validation(f'Property "{name}" does not exist; it cannot be sorted on')
        present = [r for r in matched if r.properties.get(name)]
        empty = [r for r in matched if not r.properties.get(name)]
        present.sort(key=lambda r: sort_key(spec, r.properties.get(name)), reverse=descending)
        matched = present + empty
    page = matched[after:after + limit]
    following = after + limit
    return SearchPage(len(matched), page, str(following) if following < len(matched) else None)


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise validation(f"Invalid input JSON: {name} must be an integer; got {value!r}") from None


def _sorts(sorts: list[Any]) -> list[tuple[str, bool]]:
    if len(sorts) > 1:
        raise validation("Only one sort is supported per search request")
    parsed = []
    for sort in sorts:
        if isinstance(sort, str):
            parsed.append((sort.lstrip("-"), sort.startswith("-")))
        elif isinstance(sort, dict) and sort.get("propertyName"):
            parsed.append((str(sort["propertyName"]), str(sort.get("direction", "ASCENDING")).upper() == "DESCENDING"))
        else:
            raise validation(f"Invalid sort {sort!r}: give a property name or {{propertyName, direction}}")
    return parsed


Predicate = Callable[[Record], bool]


def _groups(groups: list[Any], specs: dict[str, PropertySpec]) -> list[list[Predicate]]:
    if len(groups) > MAX_GROUPS:
        raise validation(f"Too many filter groups: {len(groups)}. The maximum is {MAX_GROUPS}.")
    total = sum(len(g.get("filters") or []) for g in groups if isinstance(g, dict))
    if total > MAX_FILTERS:
        raise validation(f"Too many filters: {total}. The maximum is {MAX_FILTERS} across all filter groups.")
    compiled = []
    for group in groups:
        filters = group.get("filters") or [] if isinstance(group, dict) else []
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise validation(f"Too many filters in a group: {len(filters)}. The maximum is {MAX_FILTERS_PER_GROUP}.")
        compiled.append([_predicate(f, specs) for f in filters])
    return compiled


def _predicate(flt: dict[str, Any], specs: dict[str, PropertySpec]) -> Predicate:
    name = str(flt.get("propertyName") or "")
    operator = str(flt.get("operator") or "EQ").upper()
    if operator not in OPERATORS:
        raise HubSpotError(400, "VALIDATION_ERROR", f"Unknown operator {operator!r}; use one of "
                           f"{', '.join(sorted(OPERATORS))}")
    spec = specs.get(name)
    if spec is None:
        raise validation(f'Property "{name}" does not exist', context={"propertyName": [name]})
    if operator == "HAS_PROPERTY":
        return lambda r: bool(r.properties.get(name))
    if operator == "NOT_HAS_PROPERTY":
        return lambda r: not r.properties.get(name)
    if operator in {"CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"}:
        pattern = _token_pattern(str(flt.get("value", "")))
        wanted = operator == "CONTAINS_TOKEN"
        return lambda r: bool(pattern.search(r.properties.get(name, ""))) == wanted
    if operator in {"IN", "NOT_IN"}:
        values = flt.get("values")
        if not isinstance(values, list):
            raise validation(f"The {operator} operator needs 'values', a list")
        keys = {_key(spec, v) for v in values}
        inside = operator == "IN"
        return lambda r: (bool(r.properties.get(name)) and _key(spec, r.properties[name]) in keys) == inside
    if operator == "BETWEEN":
        if "value" not in flt or "highValue" not in flt:
            raise validation("The BETWEEN operator needs 'value' and 'highValue'")
        low, high = _key(spec, flt["value"]), _key(spec, flt["highValue"])
        return lambda r: bool(r.properties.get(name)) and low <= _key(spec, r.properties[name]) <= high
    if "value" not in flt:
        raise validation(f"The {operator} operator needs a 'value'")
    target = _key(spec, flt["value"])
    compare = {
        "EQ": lambda a: a == target, "NEQ": lambda a: a != target, "LT": lambda a: a < target,
        "LTE": lambda a: a <= target, "GT": lambda a: a > target, "GTE": lambda a: a >= target,
    }[operator]
    if operator == "NEQ":
        return lambda r: not r.properties.get(name) or compare(_key(spec, r.properties[name]))
    return lambda r: bool(r.properties.get(name)) and compare(_key(spec, r.properties[name]))


def _key(spec: PropertySpec, value: Any) -> Any:
    """The comparable form of a value: numbers and dates by value (epoch ms or ISO), text case-insensitively."""
    if spec.type == "number" or spec.name == "hs_object_id":
        number = parse_number(value)
        return number if number is not None else float("nan")
    if spec.type in {"datetime", "date"}:
        seconds = timestamp(str(value))
        return seconds if seconds is not None else float("nan")
    if spec.type == "bool":
        return str(value).lower()
    return str(value).lower()


def _token_pattern(value: str) -> re.Pattern[str]:
    """A CONTAINS_TOKEN value as a pattern: a whole word, ``*`` matching any characters."""
    parts = [re.escape(p) for p in value.split("*")]
    return re.compile(r"(?<![\w])" + ".*".join(parts) + r"(?![\w])" if value else r"^$", re.IGNORECASE)


def _query_matches(object_type: ObjectType, record: Record, query: str) -> bool:
    return any(query in record.properties.get(name, "").lower() for name in QUERY_PROPERTIES[object_type.name])
