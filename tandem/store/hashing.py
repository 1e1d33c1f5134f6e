"""A stable content hash of a record's mapped fields.

The hash tells "this record has not changed since we last synced it" (and recognises our own
writes coming back as echoes). It must not depend on things that are not content:

- key order: mappings are serialised with sorted keys;
- number types: ``1``, ``1.0``, ``Decimal("1.00")`` and ``numpy.int64(1)`` hash alike, and
  ``0.1`` alike with ``Decimal("0.10")``;
- time zones: aware datetimes are converted to UTC (naive ones are taken as UTC);
- Unicode composition: strings are NFC-normalised;
- missing markers: ``None``, NaN and pandas' ``NaT``/``NA`` are all ``null``.

Strings stay distinct from numbers (``"1"`` is not ``1``) and a key with a ``None`` value is not
the same as an absent key (one clears a field, the other leaves it alone).
"""

from __future__ import annotations

import base64
import enum
import hashlib
import math
import unicodedata
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from json.encoder import encode_basestring  # = json.dumps(text, ensure_ascii=False), no encoder per call
from numbers import Integral, Real
from typing import Any


def content_hash(record: Mapping[str, Any]) -> str:
    """The SHA-256 (hex) of ``record``'s canonical form.

    Args:
        record: the mapped fields of one record (values: None, bool, numbers, strings, dates,
            datetimes, times, UUIDs, enums, bytes, and lists/sets/mappings of these).

    Raises:
        TypeError: for a value of a type the canonical form does not know.
    """
    return hashlib.sha256(canonical_form(record).encode("utf-8")).hexdigest()


def content_hashes(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """:func:`content_hash` of each record, in order."""
    return [content_hash(record) for record in records]


def canonical_form(value: Any) -> str:
    """The canonical JSON text of ``value`` that :func:`content_hash` hashes."""
    if type(value) is str:  # the common case first (not str subclasses such as StrEnum)
        return encode_basestring(unicodedata.normalize("NFC", value))
    if _is_missing(value):
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return canonical_form(value.value)
    if isinstance(value, str):
        return encode_basestring(unicodedata.normalize("NFC", value))
    if isinstance(value, Decimal | Real):
        return _number(value)
    if isinstance(value, datetime):
        return _string(_datetime(value))
    if isinstance(value, date):
        return _string(value.isoformat())
    if isinstance(value, time):
        return _string(value.isoformat(timespec="microseconds"))
    if isinstance(value, uuid.UUID):
        return _string(str(value))
    if isinstance(value, bytes | bytearray | memoryview):
        return _string(base64.b64encode(bytes(value)).decode("ascii"))
    if isinstance(value, Mapping):
        items = sorted((str(key), canonical_form(item)) for key, item in value.items())
        return "{" + ",".join(f"{_string(key)}:{item}" for key, item in items) + "}"
    if isinstance(value, set | frozenset):
        return "[" + ",".join(sorted(canonical_form(item) for item in value)) + "]"
    if isinstance(value, list | tuple):
        return "[" + ",".join(canonical_form(item) for item in value) + "]"
    item = getattr(value, "item", None)
    if callable(item):  # numpy scalars
        return canonical_form(item())
    raise TypeError(f"cannot hash a value of type {type(value).__name__}")


def _string(text: str) -> str:
    return encode_basestring(text)


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, Decimal):
        return value.is_nan()
    if isinstance(value, str | bool | int | Mapping | list | tuple | set | frozenset | bytes):
        return False
    try:
        differs = value != value  # NaN-likes: numpy.nan, pandas.NaT; pandas.NA answers NA itself
        return differs is value or bool(differs)
    except (TypeError, ValueError):
        return False


def _number(value: Decimal | Real) -> str:
    if isinstance(value, Integral):
        return str(int(value))
    number = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    if not number.is_finite():
        return _string(str(number))
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


def _datetime(value: datetime) -> str:
    utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
