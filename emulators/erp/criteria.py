"""Search criteria as SuiteTalk defines them, turned into SQL over the emulator's ``records`` table.

A basic search (``TransactionSearchBasic`` ...) lists fields of search types (``SearchDateField``,
``SearchStringField``, ``SearchMultiSelectField`` ...), each with an ``operator`` attribute and one or two
``searchValue`` children. ``lastModifiedDate``/``lastModified``, ``dateCreated``/``created``, ``internalId``,
``externalId`` and their ``...Number``/``...String`` forms are columns; other fields are read from the record's
stored values (``json_extract``). The ``type`` and ``subType`` filters choose record types and are handled by the
caller.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from lxml import etree

from emulators.erp.custom_records import CustomField, custom_record_types
from emulators.erp.render import iso
from emulators.erp.requests_xml import child_text, children, local, parse_datetime, parse_int, parse_ref, xsi_type
from emulators.erp.schema import FieldKind
from emulators.erp.soapfaults import ClientFault

FAR = 2**62
_DATE_COLUMNS = {"lastModifiedDate": "last_modified", "lastModified": "last_modified", "dateCreated": "date_created",
                 "created": "date_created"}
_RANGE_OPERATORS = {"after", "before", "on", "onOrAfter", "onOrBefore", "within", "notAfter", "notBefore", "notOn",
                    "notOnOrAfter", "notOnOrBefore", "notWithin"}


def _day(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _month_start(moment: datetime, months_back: int = 0) -> datetime:
    year, month = moment.year, moment.month - months_back
    while month < 1:
        month += 12
        year -= 1
    return moment.replace(year=year, month=month, day=1, hour=0, minute=0, second=0, microsecond=0)


def predefined_range(value: str, now: datetime) -> tuple[datetime, datetime]:
    """The ``[start, end)`` of a ``predefinedSearchValue`` (``SearchDate``) at ``now`` (UTC, weeks from Sunday).

    Raises:
        ClientFault: for a ``SearchDate`` value the emulator does not evaluate (fiscal periods and the like).
    """
    today = _day(now)
    week = today - timedelta(days=(today.weekday() + 1) % 7)
    month = _month_start(today)
    year = today.replace(month=1, day=1)
    day = timedelta(days=1)
    counts = {"two": 2, "three": 3, "four": 4, "five": 5, "ten": 10, "thirty": 30, "sixty": 60, "ninety": 90}
    ranges: dict[str, tuple[datetime, datetime]] = {
        "today": (today, today + day), "yesterday": (today - day, today), "tomorrow": (today + day, today + 2 * day),
        "thisWeek": (week, week + 7 * day), "thisWeekToDate": (week, today + day),
        "lastWeek": (week - 7 * day, week), "lastWeekToDate": (week - 7 * day, today - 6 * day),
        "nextWeek": (week + 7 * day, week + 14 * day), "weekBeforeLast": (week - 14 * day, week - 7 * day),
        "thisMonth": (month, _month_start(month + 32 * day)), "thisMonthToDate": (month, today + day),
        "lastMonth": (_month_start(today, 1), month), "lastMonthToDate": (_month_start(today, 1), today + day),
        "nextMonth": (_month_start(month + 32 * day), _month_start(month + 63 * day)),
        "thisYear": (year, year.replace(year=year.year + 1)), "thisYearToDate": (year, today + day),
        "lastYear": (year.replace(year=year.year - 1), year),
        "previousOneDay": (today - day, today), "previousOneWeek": (today - 7 * day, today),
        "previousOneMonth": (_month_start(today, 1).replace(day=min(today.day, 28)), today),
        "previousOneYear": (today.replace(year=today.year - 1), today),
    }
    for word, count in counts.items():
        ranges[f"{word}DaysAgo"] = (today - count * day, today - (count - 1) * day)
        ranges[f"{word}DaysFromNow"] = (today + count * day, today + (count + 1) * day)
    if value not in ranges:
        raise ClientFault(f"The emulator does not evaluate the predefined search value {value!r}; "
                          f"it evaluates {', '.join(sorted(ranges))}.")
    return ranges[value]


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def date_bounds(element: etree._Element, what: str, now: datetime) -> tuple[str, int, int]:
    """``(operator, low, high)``: a ``SearchDateField``'s inclusive millisecond range and its operator.

    ``empty``/``notEmpty`` return the whole range. A ``predefinedSearchValue`` sets the range of ``within``
    and ``notWithin`` (and of ``on``/``after``/``before`` ..., relative to the period).

    Raises:
        ClientFault: when a value the operator needs is missing, or the operator is unknown.
    """
    operator = element.get("operator", "")
    if operator in ("empty", "notEmpty"):
        return operator, -FAR, FAR
    if operator not in _RANGE_OPERATORS:
        raise ClientFault(f"{what}: {operator!r} is not a legal value for SearchDateFieldOperator.")
    predefined = child_text(element, "predefinedSearchValue")
    first = child_text(element, "searchValue")
    if predefined:
        start, end = predefined_range(predefined, now)
        low, high = _ms(start), _ms(end) - 1
    elif first is None:
        raise ClientFault(f"{what} needs a searchValue or a predefinedSearchValue.")
    else:
        moment = parse_datetime(first, what)
        low = high = _ms(moment)
        if operator in ("within", "notWithin"):
            second = child_text(element, "searchValue2")
            if second is None:
                raise ClientFault(f"{what} with operator {operator!r} needs searchValue2.")
            high = _ms(parse_datetime(second, what))
        elif operator in ("on", "notOn"):
            low, high = _ms(_day(moment)), _ms(_day(moment) + timedelta(days=1)) - 1
    return operator, low, high


def inclusive_range(operator: str, low: int, high: int, what: str) -> tuple[int, int]:
    """The inclusive millisecond range a date operator selects (for filters that take one range).

    Raises:
        ClientFault: for the negated operators, which select two ranges.
    """
    ranges = {"within": (low, high), "on": (low, high), "after": (high + 1, FAR), "notOnOrBefore": (high + 1, FAR),
              "onOrAfter": (low, FAR), "notBefore": (low, FAR), "before": (-FAR, low - 1),
              "notOnOrAfter": (-FAR, low - 1), "onOrBefore": (-FAR, high), "notAfter": (-FAR, high),
              "empty": (-FAR, FAR), "notEmpty": (-FAR, FAR)}
    if operator not in ranges:
        raise ClientFault(f"{what}: the operator {operator!r} is not supported here.")
    return ranges[operator]


def _date_sql(expr: str, operator: str, low: int, high: int, convert: Callable[[int], Any]) -> tuple[str, list[Any]]:
    if operator == "empty":
        return f"{expr} IS NULL", []
    if operator == "notEmpty":
        return f"{expr} IS NOT NULL", []
    inside = {"within", "on"}
    if operator in inside:
        return f"{expr} BETWEEN ? AND ?", [convert(low), convert(high)]
    if operator in ("notWithin", "notOn"):
        return f"({expr} < ? OR {expr} > ?)", [convert(low), convert(high)]
    if operator in ("after", "notOnOrBefore"):
        return f"{expr} > ?", [convert(high)]
    if operator in ("onOrAfter", "notBefore"):
        return f"{expr} >= ?", [convert(low)]
    if operator in ("before", "notOnOrAfter"):
        return f"{expr} < ?", [convert(low)]
    return f"{expr} <= ?", [convert(high)]  # onOrBefore, notAfter


def _iso(epoch_ms: int) -> str:
    return iso(datetime.fromtimestamp(max(min(epoch_ms, 253402300799000), -62135596800000) / 1000, UTC))


def _json(name: str, part: str | None = None) -> str:
    path = f"$.{name}" + (f".{part}" if part else "")
    return f"json_extract(fields, '{path}')"


#: String fields whose value the store indexes case-folded (the fields Tandem couples by, searched one value at a
#: time): a ``startsWith`` on one of them reads a range of that index instead of every record of the type.
INDEXED_TEXT_FIELDS = ("email", "companyName", "itemId", "name", "symbol")

#: SQLite's ``lower()`` and ``LIKE`` fold ASCII letters only; the range bounds are folded the same way.
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def folded(name: str) -> str:
    """The indexed, case-folded expression of text field ``name`` (see :data:`INDEXED_TEXT_FIELDS`)."""
    return f"lower({_json(name)})"


def uses_folded_index(condition: str) -> bool:
    """Whether a SQL condition reads a folded text index (the search should then not walk the type index).

    Only a condition of the searched record itself counts, not one inside a join's subquery.
    """
    return condition.startswith("(lower(json_extract(")


def _prefix_sql(name: str, element: etree._Element, what: str) -> tuple[str, list[Any]]:
    """A ``startsWith`` on an indexed field: the folded index's range, then ``LIKE`` for the exact rule."""
    condition, params = _string_sql(_json(name), element, what)
    low = (child_text(element, "searchValue") or "").translate(_ASCII_LOWER)
    return f"({folded(name)} >= ? AND {folded(name)} < ? AND {condition})", [low, low + "\U0010ffff", *params]


def _string_sql(expr: str, element: etree._Element, what: str) -> tuple[str, list[Any]]:
    operator = element.get("operator", "is")
    value = child_text(element, "searchValue") or ""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    patterns = {"contains": f"%{escaped}%", "doesNotContain": f"%{escaped}%", "startsWith": f"{escaped}%",
                "doesNotStartWith": f"{escaped}%", "hasKeywords": f"%{escaped}%"}
    if operator == "is":
        return f"{expr} = ?", [value]
    if operator == "isNot":
        return f"({expr} IS NULL OR {expr} != ?)", [value]
    if operator == "empty":
        return f"({expr} IS NULL OR {expr} = '')", []
    if operator == "notEmpty":
        return f"({expr} IS NOT NULL AND {expr} != '')", []
    if operator in patterns:
        negate = "NOT " if operator.startswith("doesNot") else ""
        return f"{negate}({expr} LIKE ? ESCAPE '\\')", [patterns[operator]]
    raise ClientFault(f"{what}: {operator!r} is not a legal value for SearchStringFieldOperator.")


def _number_sql(expr: str, element: etree._Element, what: str, parse: Callable[[str], Any]) -> tuple[str, list[Any]]:
    operator = element.get("operator", "equalTo")
    simple = {"equalTo": "=", "notEqualTo": "!=", "greaterThan": ">", "greaterThanOrEqualTo": ">=", "lessThan": "<",
              "lessThanOrEqualTo": "<=", "notGreaterThan": "<=", "notGreaterThanOrEqualTo": "<", "notLessThan": ">=",
              "notLessThanOrEqualTo": ">"}
    if operator == "empty":
        return f"{expr} IS NULL", []
    if operator == "notEmpty":
        return f"{expr} IS NOT NULL", []
    try:
        first = parse(child_text(element, "searchValue") or "")
        if operator in ("between", "notBetween"):
            second = parse(child_text(element, "searchValue2") or "")
            negate = "NOT " if operator == "notBetween" else ""
            return f"{expr} {negate}BETWEEN ? AND ?", [first, second]
    except ValueError:
        raise ClientFault(f"{what}: the search value is not a number.") from None
    if operator not in simple:
        raise ClientFault(f"{what}: {operator!r} is not a legal value for its operator type.")
    return f"{expr} {simple[operator]} ?", [first]


def criterion_sql(kind: str, name: str, element: etree._Element, what: str, now: datetime) -> tuple[str, list[Any]]:
    """One search field as a SQL condition with its parameters.

    Args:
        kind: the search field's type (``SearchDateField`` ...), from ``common.xsd``.
        name: the field's name (``lastModifiedDate``, ``entity`` ...).
        element: the field's element in the request.
        what: ``SearchType.field``, for messages.
        now: the emulator's time (for predefined dates).

    Raises:
        ClientFault: for an operator or value the field's type does not allow.
    """
    if kind == "SearchDateField":
        operator, low, high = date_bounds(element, what, now)
        if name in _DATE_COLUMNS:
            return _date_sql(_DATE_COLUMNS[name], operator, low, high, lambda ms: ms)
        return _date_sql(_json(name), operator, low, high, _iso)
    if kind == "SearchMultiSelectField":
        operator = element.get("operator", "")
        if operator not in ("anyOf", "noneOf"):
            raise ClientFault(f"{what}: {operator!r} is not a legal value for SearchMultiSelectFieldOperator.")
        refs = [parse_ref(v) for v in children(element, "searchValue")]
        negate = "NOT " if operator == "noneOf" else ""
        if name in ("internalId", "externalId"):
            keys: list[Any] = [r[name] for r in refs if name in r]
            if name == "internalId":
                keys = [parse_int(k, what) for k in keys]
            column = "internal_id" if name == "internalId" else "external_id"
            return f"{column} {negate}IN ({','.join('?' * len(keys))})", keys
        by_id = [r["internalId"] for r in refs if "internalId" in r]
        by_external = [r["externalId"] for r in refs if "externalId" in r]
        condition = (f"({_json(name, 'internalId')} IN ({','.join('?' * len(by_id))}) OR "
                     f"{_json(name, 'externalId')} IN ({','.join('?' * len(by_external))}))")
        return (f"NOT COALESCE({condition}, 0)" if negate else condition), [*by_id, *by_external]
    if kind == "SearchEnumMultiSelectField":
        operator = element.get("operator", "")
        if operator not in ("anyOf", "noneOf"):
            raise ClientFault(f"{what}: {operator!r} is not a legal value for SearchEnumMultiSelectFieldOperator.")
        values = [(v.text or "").strip() for v in children(element, "searchValue")]
        negate = "NOT " if operator == "noneOf" else ""
        return f"COALESCE({_json(name)}, '') {negate}IN ({','.join('?' * len(values))})", values
    if kind == "SearchBooleanField":
        text = (child_text(element, "searchValue") or "").lower()
        if text not in ("true", "false", "1", "0"):
            raise ClientFault(f"{what}: {text!r} is not a valid boolean.")
        return f"COALESCE({_json(name)}, 0) = ?", [1 if text in ("true", "1") else 0]
    if kind == "SearchStringField":
        prefix = element.get("operator") == "startsWith" and child_text(element, "searchValue")
        if name in INDEXED_TEXT_FIELDS and prefix:
            return _prefix_sql(name, element, what)
        column = "external_id" if name == "externalIdString" else _json(name)
        return _string_sql(column, element, what)
    if kind == "SearchLongField":
        column = "internal_id" if name in ("internalIdNumber", "id") else _json(name)  # id: a custom record's
        return _number_sql(column, element, what, int)
    if kind == "SearchDoubleField":
        return _number_sql(_json(name), element, what, float)
    raise ClientFault(f"{what}: the emulator does not evaluate {kind} criteria.")


def type_filter(element: etree._Element, what: str) -> tuple[bool, list[str]]:
    """A ``type``/``subType`` filter: ``(exclude, values)`` (``noneOf`` excludes)."""
    operator = element.get("operator", "")
    if operator not in ("anyOf", "noneOf"):
        raise ClientFault(f"{what}: {operator!r} is not a legal value for SearchEnumMultiSelectFieldOperator.")
    return operator == "noneOf", [(v.text or "").strip() for v in children(element, "searchValue")]



class SearchStatusError(Exception):
    """A search the account refuses with an unsuccessful ``searchResult`` status (not a fault)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.status = (code, message)


#: A custom field's stored kind → the ``SearchCustomField`` types that may search it.
CUSTOM_SEARCH_TYPES: dict[FieldKind, tuple[str, ...]] = {
    FieldKind.STRING: ("SearchStringCustomField",),
    FieldKind.DOUBLE: ("SearchDoubleCustomField", "SearchLongCustomField"),
    FieldKind.LONG: ("SearchLongCustomField", "SearchDoubleCustomField"),
    FieldKind.BOOLEAN: ("SearchBooleanCustomField",),
    FieldKind.DATETIME: ("SearchDateCustomField",),
    FieldKind.REF: ("SearchMultiSelectCustomField",),
}


def _custom_field(key: str, record_types: set[str]) -> CustomField | None:
    """The custom field with script id or internal id ``key`` of one of the searched custom record types."""
    for script_id, record_type in custom_record_types().items():
        if script_id in record_types:
            for custom in record_type.fields:
                if key in (custom.script_id, custom.internal_id):
                    return custom
    return None


def custom_field_sql(
    element: etree._Element, record_types: set[str], what: str, now: datetime,
) -> tuple[str, list[Any]]:
    """One ``customField`` of a SearchBasic's ``customFieldList`` as a SQL condition with its parameters.

    The field is named by ``scriptId`` (or ``internalId``) and searched by its ``xsi:type``
    (``SearchStringCustomField``, ``SearchDoubleCustomField``, ``SearchLongCustomField``, ``SearchDateCustomField``,
    ``SearchBooleanCustomField``, ``SearchMultiSelectCustomField``) with the operators of the matching standard
    search field. The emulator stores custom fields on custom records only.

    Raises:
        SearchStatusError: ``INVALID_CSTM_FIELD_REF`` for a field the searched records do not have,
            ``INVALID_CSTM_FIELD_DATA_TYP`` for a search type that does not fit the field.
        ClientFault: for an operator or value the search type does not allow.
    """
    if local(element) != "customField":
        raise ClientFault(f"{what} has no element {local(element)!r}.")
    key = element.get("scriptId") or element.get("internalId") or ""
    custom = _custom_field(key, record_types) if key else None
    if custom is None:
        raise SearchStatusError("INVALID_CSTM_FIELD_REF", f"The specified custom field reference {key} is invalid.")
    _, search_type = xsi_type(element)
    allowed = CUSTOM_SEARCH_TYPES[custom.kind]
    if search_type not in allowed:
        raise SearchStatusError(
            "INVALID_CSTM_FIELD_DATA_TYP",
            f"The custom field {custom.script_id} is searched with {' or '.join(allowed)}, not {search_type}.",
        )
    kind = search_type.replace("CustomField", "Field")
    return criterion_sql(kind, custom.script_id, element, f"{what}.{custom.script_id}", now)
