"""How the emulated org's records are laid out in SQLite: the contract between the store and the SOQL engine.

One normal rowid table per sObject, named exactly as the object (``Account``, ``ERP_Invoice__c``),
with one column per field named exactly as the field's API name. The implicit ``rowid`` orders
records by creation and is what query paging fetches by.

Value encoding per field type:

* text-like types (id, reference, string, textarea, picklist, multipicklist, email, phone, url): TEXT;
* boolean: INTEGER 0/1; int: INTEGER; double, currency, percent: REAL;
* date: TEXT ``YYYY-MM-DD``;
* datetime: TEXT in Salesforce's wire format, in UTC, fixed width (``2024-01-01T00:00:00.000+0000``),
  so text order is time order.

A deleted record stays in its table with ``IsDeleted = 1`` (the recycle bin); emptying the recycle bin
(or a hard delete) sets ``IsDeleted = 2`` (purged: ``queryAll`` leaves it out, the delete log keeps it).

:func:`table_name` and :func:`column_name` return the bare identifiers; quote them with
:func:`quote_identifier` (or use :func:`quoted_table` / :func:`quoted_column`) when building SQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from emulators.salesforce.schema import TEXT_TYPES, FieldDef, ObjectDef

SQL_TYPES: dict[str, str] = {
    **dict.fromkeys(TEXT_TYPES, "TEXT"),
    "boolean": "INTEGER",
    "int": "INTEGER",
    "double": "REAL",
    "currency": "REAL",
    "percent": "REAL",
    "date": "TEXT",
    "datetime": "TEXT",
}
INDEXED_DATETIMES = ("SystemModstamp", "LastModifiedDate", "CreatedDate")

_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})$"
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

Converter = Callable[[Any], Any]


def quote_identifier(name: str) -> str:
    """``name`` as a double-quoted SQLite identifier."""
    return '"' + name.replace('"', '""') + '"'


def table_name(obj: ObjectDef | str) -> str:
    """The bare SQLite table name of an sObject: exactly its API name (quote it before use)."""
    return obj if isinstance(obj, str) else obj.name


def column_name(field_name: str) -> str:
    """The bare SQLite column name of a field: exactly its API name (quote it before use)."""
    return field_name


def quoted_table(obj: ObjectDef | str) -> str:
    """The quoted table name of an sObject, ready for SQL."""
    return quote_identifier(table_name(obj))


def quoted_column(field_name: str) -> str:
    """The quoted column name of a field, ready for SQL."""
    return quote_identifier(column_name(field_name))


def create_table_statements(obj: ObjectDef) -> list[str]:
    """The statements that create ``obj``'s table and its indexes (all ``IF NOT EXISTS``).

    ``Id`` is the primary key; every unique or external-id field gets a ``UNIQUE`` index
    ``COLLATE NOCASE`` (NULLs may repeat); SystemModstamp, LastModifiedDate, CreatedDate and every
    reference field get a plain index.
    """
    table = table_name(obj)
    columns = []
    for f in obj.fields.values():
        column = f"{quoted_column(f.name)} {SQL_TYPES[f.type]}"
        if f.name == "Id":
            column += " PRIMARY KEY NOT NULL"
        columns.append(column)
    statements = [f"CREATE TABLE IF NOT EXISTS {quoted_table(obj)} ({', '.join(columns)})"]
    for f in obj.fields.values():
        if f.name == "Id":
            continue
        index = quote_identifier(f"ix_{table}_{f.name}")
        if f.unique or f.external_id:
            statements.append(
                f"CREATE UNIQUE INDEX IF NOT EXISTS {index} ON {quoted_table(obj)} "
                f"({quoted_column(f.name)} COLLATE NOCASE)"
            )
        elif f.type == "reference" or f.name in INDEXED_DATETIMES:
            statements.append(f"CREATE INDEX IF NOT EXISTS {index} ON {quoted_table(obj)} ({quoted_column(f.name)})")
    return statements


def format_datetime(value: datetime) -> str:
    """``value`` in Salesforce's fixed-width UTC wire format, ``2024-01-01T00:00:00.000+0000``.

    A naive datetime is taken as UTC; sub-millisecond digits are truncated.
    """
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:{value.minute:02d}:"
        f"{value.second:02d}.{value.microsecond // 1000:03d}+0000"
    )


def parse_datetime(text: str) -> datetime:
    """Parse a Salesforce datetime (``...Z``, ``...+0000``, ``...+00:00``, other offsets; milliseconds optional).

    Returns:
        An aware datetime in UTC.

    Raises:
        ValueError: ``text`` is not such a datetime.
    """
    match = _DATETIME.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"not a datetime: {text!r}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0").ljust(6, "0")[:6])
    offset = timedelta(0)
    if zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:])
        if hours > 23 or minutes > 59:
            raise ValueError(f"not a datetime: {text!r}")
        offset = sign * timedelta(hours=hours, minutes=minutes)
    try:
        local = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=UTC)
        return local - offset
    except OverflowError:
        raise ValueError(f"not a datetime: {text!r}") from None


def parse_date(text: str) -> date:
    """Parse a ``YYYY-MM-DD`` date.

    Raises:
        ValueError: ``text`` is not such a date.
    """
    if not isinstance(text, str) or not _DATE.match(text):
        raise ValueError(f"not a date: {text!r}")
    return date.fromisoformat(text)


def _store_date(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return parse_date(str(value)).isoformat()


def _store_datetime(value: Any) -> str:
    if isinstance(value, datetime):
        return format_datetime(value)
    return format_datetime(parse_datetime(str(value)))


_TO_STORAGE: dict[str, Converter] = {
    **dict.fromkeys(TEXT_TYPES, str),
    "boolean": lambda v: 1 if v else 0,
    "int": int,
    "double": float,
    "currency": float,
    "percent": float,
    "date": _store_date,
    "datetime": _store_datetime,
}


def to_storage(field: FieldDef, value: Any) -> Any:
    """The stored form of a validated value of ``field`` (``None`` stays ``None``).

    Raises:
        ValueError: a date or datetime value cannot be parsed.
    """
    if value is None:
        return None
    return _TO_STORAGE[field.type](value)


def _from_bool(value: Any) -> Any:
    return None if value is None else value != 0


def _from_int(value: Any) -> Any:
    return None if value is None else int(value)


def _from_float(value: Any) -> Any:
    return None if value is None else float(value)


_FROM_STORAGE: dict[str, Converter | None] = {
    **dict.fromkeys(TEXT_TYPES),
    "boolean": _from_bool,
    "int": _from_int,
    "double": _from_float,
    "currency": _from_float,
    "percent": _from_float,
    "date": None,
    "datetime": None,
}


def storage_decoder(field: FieldDef) -> Converter | None:
    """The function turning a stored value of ``field`` into its JSON value, or ``None`` when it is the identity.

    The returned function accepts ``None`` (and returns it). Use it to precompute per-column
    converters when decoding many rows.
    """
    return _FROM_STORAGE[field.type]


def from_storage(field: FieldDef, value: Any) -> Any:
    """The JSON value of a stored value of ``field``: booleans True/False, int or float by type, ``None`` kept."""
    decode = _FROM_STORAGE[field.type]
    return value if decode is None else decode(value)


def row_decoder(fields: Sequence[FieldDef]) -> Callable[[Sequence[Any]], list[Any]]:
    """A function decoding a whole stored row of ``fields`` (in that order) into JSON values.

    Converters are looked up once here, so decoding a row costs one call per non-text column.
    """
    steps = [(i, decode) for i, f in enumerate(fields) if (decode := _FROM_STORAGE[f.type]) is not None]

    def decode_row(row: Sequence[Any]) -> list[Any]:
        values = list(row)
        for i, decode in steps:
            values[i] = decode(values[i])
        return values

    return decode_row
