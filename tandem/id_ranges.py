"""Key ranges of record ids, to split one entity's read into partitions that run apart (on several workers).

A partitioned read asks the source system for ``k`` ranges of its record ids that together cover every id once:
``[None, b1)``, ``[b1, b2)`` ... ``[b(k-1), None)``, the first and the last open-ended, so a record created after the
boundaries were chosen still falls in one range. The boundaries only balance the work; any boundaries give a
correct split, because the system itself compares ids with one order for every range. Salesforce ids are compared
as their base-62 text (Salesforce's own PK chunking splits them so); NetSuite internal ids are numbers.

An adapter that can read one range implements :class:`RangeReader` next to :class:`tandem.adapter.RecordAdapter`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Protocol, runtime_checkable

import pandas as pd

#: Salesforce's base-62 digits, in the order Salesforce compares ids (the order of their characters in ASCII).
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#: Where :func:`balanced_boundaries` starts looking for the highest id (doubling from there).
FIRST_PROBE = 1024
#: At most this many doublings: ids up to 1024 * 2**52.
MAX_DOUBLINGS = 52


@dataclass(frozen=True)
class IdRange:
    """Record ids from ``low`` (included) to ``high`` (left out); ``None`` leaves that end open.

    Attributes:
        low: the first id of the range, or ``None`` from the first id there is.
        high: the first id after the range, or ``None`` up to the last id there is (and any created later).
    """

    low: str | None = None
    high: str | None = None

    @property
    def whole(self) -> bool:
        """True when the range is every id (both ends open)."""
        return self.low is None and self.high is None

    def __str__(self) -> str:
        return f"[{self.low or '…'}, {self.high or '…'})"


@runtime_checkable
class RangeReader(Protocol):
    """What a partitioned read needs from a source system besides :class:`tandem.adapter.RecordAdapter`."""

    def id_ranges(self, entity: str, partitions: int, *, min_records: int = 1) -> list[IdRange]:
        """At most ``partitions`` ranges of ``entity`` ids that together cover every id once, in order, with
        ``min_records`` records or more each on average (one whole range when the type cannot be split, or has too
        few records)."""
        ...

    def read_id_range(
        self, entity: str, since: datetime | None, id_range: IdRange, *, fields: Sequence[str], page_size: int
    ) -> Iterator[pd.DataFrame]:
        """Yield pages of the ``entity`` records of ``id_range`` modified at or after ``since`` (all when ``None``),
        with the columns of :meth:`tandem.adapter.RecordAdapter.read_changed_since`, in any order."""
        ...


def ranges_between(boundaries: Sequence[str]) -> list[IdRange]:
    """The ranges ``[None, b1)``, ``[b1, b2)`` ... ``[bn, None)`` of ascending, distinct ``boundaries``."""
    edges: list[str | None] = [None, *boundaries, None]
    return [IdRange(low, high) for low, high in pairwise(edges)]


def from_base62(text: str) -> int:
    """A base-62 text (Salesforce's digits) as a number.

    Raises:
        ValueError: a character is not a base-62 digit.
    """
    number = 0
    for char in text:
        digit = BASE62.find(char)
        if digit < 0:
            raise ValueError(f"{char!r} is not a base-62 digit")
        number = number * 62 + digit
    return number


def to_base62(number: int, width: int) -> str:
    """``number`` in base-62 digits, left-padded with zeros to ``width``.

    Raises:
        ValueError: the number is negative or needs more than ``width`` digits.
    """
    if number < 0:
        raise ValueError("a base-62 number is never negative")
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(BASE62[rest])
    text = "".join(reversed(digits)).rjust(width, "0")
    if len(text) > width:
        raise ValueError(f"the number needs more than {width} base-62 digits")
    return text


def even_boundaries(low: int, high: int, partitions: int) -> list[int]:
    """The ``partitions - 1`` numbers that split ``[low, high]`` into equal spans (fewer when the span is too short
    for that many distinct ones); each is above ``low`` and at most ``high``."""
    span = high - low
    points = (low + span * i // partitions for i in range(1, partitions))
    return sorted({point for point in points if low < point <= high})


def balanced_boundaries(total: int, partitions: int, count_below: Callable[[int], int]) -> list[int]:
    """Numeric id boundaries that split ``total`` records into ``partitions`` about equal parts, by counting.

    For a system that can count the records whose id is below a number but cannot sort by id (a SuiteTalk search's
    ``totalRecords``): the highest id is bracketed by doubling, then each boundary is bisected until its count is
    within an eighth of a part of its target. Costs about ``log2(highest id / 1024)`` counts, plus a few per
    boundary when ids are evenly spread.

    Args:
        total: how many records there are.
        partitions: how many parts are wanted (2 or more).
        count_below: how many records have an id below the number given.

    Returns:
        Ascending, distinct boundaries (fewer than ``partitions - 1`` when records are too few to split further).

    Raises:
        ValueError: the counts never reach ``total`` (the records changed while counting).
    """
    if total < 2 or partitions < 2:
        return []
    known = {0: 0}
    high = FIRST_PROBE
    for _ in range(MAX_DOUBLINGS):
        known[high] = count_below(high)
        if known[high] >= total:
            break
        high *= 2
    else:
        raise ValueError(f"fewer than {total} records have an id below {high}: the records changed while counting")
    tolerance = max(1, total // (partitions * 8))
    boundaries: list[int] = []
    for part in range(1, partitions):
        target = total * part // partitions
        below = max(point for point, count in known.items() if count <= target)
        above = min(point for point, count in known.items() if count >= target)
        while above - below > 1 and abs(known[below] - target) > tolerance and abs(known[above] - target) > tolerance:
            middle = (below + above) // 2
            known[middle] = count_below(middle)
            if known[middle] < target:
                below = middle
            else:
                above = middle
        best = below if abs(known[below] - target) <= abs(known[above] - target) else above
        if 0 < known[best] < total and (not boundaries or best > boundaries[-1]):
            boundaries.append(best)
    return boundaries
