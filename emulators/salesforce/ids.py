"""Salesforce record ids: 15-character case-sensitive ids and their 18-character case-safe form."""

from __future__ import annotations

import re

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SUFFIX_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
POD = "5g"
COUNTER_WIDTH = 10
ID_PATTERN = re.compile(r"^[0-9A-Za-z]{15}(?:[A-Z0-5]{3})?$")


def checksum_suffix(id15: str) -> str:
    """The 3-character suffix that makes a 15-character id case-safe (Salesforce's algorithm).

    Each block of 5 characters gives a 5-bit number whose bit ``i`` is set when character ``i``
    is an upper-case letter; the number indexes ``A..Z0..5``.
    """
    suffix = []
    for block in range(3):
        bits = 0
        for position, char in enumerate(id15[block * 5 : block * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix.append(SUFFIX_CHARS[bits])
    return "".join(suffix)


def to_base62(number: int, width: int) -> str:
    """``number`` in Salesforce's base-62 digits, left-padded with zeros to ``width``."""
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(BASE62[rest])
    text = "".join(reversed(digits)) or "0"
    if len(text) > width:
        raise ValueError(f"{number} does not fit in {width} base-62 digits")
    return text.rjust(width, "0")


def make_id(key_prefix: str, sequence: int) -> str:
    """The 18-character id of record number ``sequence`` of the object with ``key_prefix``."""
    id15 = key_prefix + POD + to_base62(sequence, COUNTER_WIDTH)
    return id15 + checksum_suffix(id15)


def sequence_of(record_id: str) -> int:
    """The record number an id made by :func:`make_id` encodes."""
    number = 0
    for char in record_id[5:15]:
        number = number * 62 + BASE62.index(char)
    return number


def normalize_id(value: str) -> str | None:
    """The 18-character form of a 15- or 18-character id, or ``None`` when ``value`` is not an id.

    An 18-character id whose suffix does not match its first 15 characters is rejected, as
    Salesforce does.
    """
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        return None
    id15 = value[:15]
    suffix = checksum_suffix(id15)
    if len(value) == 18 and value[15:].upper() != suffix:
        return None
    return id15 + suffix
