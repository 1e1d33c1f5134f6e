"""Keep record values out of error messages before they are stored, logged or shown.

Systems quote the offending value in some messages (Salesforce: ``invalid email address: ...``,
``data value too large: ...``). Messages are kept for operators, but values that belong to the record
are replaced, so personal data never reaches the state store, an artifact or a log.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "[value]"
#: Values shorter than this are left alone (they would also match ordinary words and codes).
MIN_LENGTH = 3
#: A cut value is recognised by at least this many of its first characters.
CUT_PREFIX = 20


def redact(message: str, record: Mapping[str, Any], *, keep: Iterable[str] = ()) -> str:
    """Replace every text value of ``record`` that appears in ``message`` (longest first).

    Args:
        message: the system's error message.
        record: the record that was written.
        keep: values to leave visible (such as ids and link keys, which are not personal data).
    """
    kept = set(keep)
    values = {str(v) for v in record.values() if isinstance(v, str | int | float) and not isinstance(v, bool)}
    candidates = sorted((v for v in values if len(v) >= MIN_LENGTH and v not in kept), key=len, reverse=True)
    for value in candidates:
        if value in message:
            message = message.replace(value, REDACTED)
            continue
        quoted = _longest_quoted_prefix(message, value)
        if quoted:
            message = message.replace(quoted, REDACTED)
    return message


def _longest_quoted_prefix(message: str, value: str) -> str:
    """The longest start of ``value`` (``CUT_PREFIX`` or more long) that ``message`` quotes."""
    low, high = CUT_PREFIX - 1, len(value)
    while low < high:
        middle = (low + high + 1) // 2
        if value[:middle] in message:
            low = middle
        else:
            high = middle - 1
    return value[:low] if low >= CUT_PREFIX else ""
