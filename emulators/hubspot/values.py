"""Property values as HubSpot stores and returns them: every value a string, dates as ``YYYY-MM-DD``, datetimes as
ISO 8601 UTC with milliseconds, numbers and booleans in their plain text form."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from emulators.hubspot.schema import PropertySpec

MAX_STRING = 65_536


class BadValue(ValueError):
    """A value a property cannot hold: ``code`` is HubSpot's error name (``INVALID_OPTION``...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def iso(moment: datetime) -> str:
    """``2024-05-01T09:00:00.000Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_moment(value: Any) -> datetime | None:
    """A datetime from epoch milliseconds (number or digits) or ISO 8601 (date or datetime); ``None`` if neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC) if math.isfinite(value) else None
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@lru_cache(maxsize=1 << 18)
def timestamp(text: str) -> float | None:
    """Seconds since the epoch of a stored or filter time (memoised: searches compare the same values often)."""
    moment = parse_moment(text)
    return moment.timestamp() if moment is not None else None


def parse_number(value: Any) -> float | None:
    """A number from a number or its text; ``None`` if neither."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _number_text(number: float) -> str:
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)


def normalize(spec: PropertySpec, value: Any) -> str:
    """The stored text of ``value`` for property ``spec`` (``""`` clears it).

    Raises:
        BadValue: the value does not fit the property's type or options.
    """
    if value is None or value == "":
        return ""
    if spec.type == "number":
        number = parse_number(value)
        if number is None:
            raise BadValue("INVALID_DECIMAL", f"{value!s} was not a valid number.")
        return _number_text(number)
    if spec.type == "bool":
        text = str(value).lower()
        if text not in {"true", "false"}:
            raise BadValue("INVALID_BOOLEAN", f"{value!s} was not a valid boolean (true or false).")
        return text
    if spec.type == "datetime":
        moment = parse_moment(value)
        if moment is None:
            raise BadValue("INVALID_DATE", f"{value!s} was not a valid long or ISO 8601 datetime.")
        return iso(moment)
    if spec.type == "date":
        moment = parse_moment(value)
        if moment is None:
            raise BadValue("INVALID_DATE", f"{value!s} was not a valid date (YYYY-MM-DD or midnight UTC millis).")
        day = moment.astimezone(UTC)
        if (day.hour, day.minute, day.second, day.microsecond) != (0, 0, 0, 0):
            raise BadValue("INVALID_DATE", f"{value!s} is at {day.time()}, not midnight UTC.")
        return date(day.year, day.month, day.day).isoformat()
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if spec.type == "enumeration" and spec.options:
        allowed = [option for option, _ in spec.options]
        chosen = text.split(";") if spec.field_type == "checkbox" else [text]
        for option in chosen:
            if option not in allowed:
                raise BadValue("INVALID_OPTION",
                               f"{option} was not one of the allowed options: [{', '.join(allowed)}]")
    if len(text) > MAX_STRING:
        raise BadValue("INVALID_STRING_LENGTH", f"The value is {len(text)} characters long; the limit is {MAX_STRING}.")
    return text


def sort_key(spec: PropertySpec | None, text: str | None) -> tuple[int, Any]:
    """A key ordering values of one property: numbers and dates by value, text case-insensitively; empty last."""
    if text is None or text == "":
        return (1, "")
    if spec is not None and spec.type == "number":
        number = parse_number(text)
        return (0, number if number is not None else 0.0)
    if spec is not None and spec.type in {"datetime", "date"}:
        return (0, timestamp(text) or 0.0)
    return (0, text.lower())
