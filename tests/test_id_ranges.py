"""Key ranges for partitioned reads (tandem/id_ranges.py) and the watermark rule of a partitioned job."""

from __future__ import annotations

import bisect
from datetime import UTC, datetime, timedelta

import pytest

from tandem.id_ranges import (
    IdRange,
    balanced_boundaries,
    even_boundaries,
    from_base62,
    ranges_between,
    to_base62,
)
from tandem.sync.partitions import watermark_after


def in_range(value: int, id_range: IdRange) -> bool:
    """Whether a numeric id falls in a range of numeric bounds (as SuiteTalk compares ``internalIdNumber``)."""
    above_low = id_range.low is None or value >= int(id_range.low)
    return above_low and (id_range.high is None or value < int(id_range.high))


def test_ranges_between_boundaries_cover_everything_once_and_leave_the_ends_open() -> None:
    assert ranges_between([]) == [IdRange()]
    assert IdRange().whole and not IdRange("5").whole
    assert ranges_between(["10", "20"]) == [IdRange(None, "10"), IdRange("10", "20"), IdRange("20", None)]
    assert str(IdRange("10", None)) == "[10, …)"


def test_base62_follows_salesforce_id_order() -> None:
    ids = ["001000000000001", "00100000000000A", "00100000000000Z", "00100000000000a", "00100000000000z",
           "001000000000010", "0015g00000AbCdE"]
    assert sorted(ids) == sorted(ids, key=from_base62)  # text order and number order agree
    assert all(to_base62(from_base62(i), 15) == i for i in ids)
    with pytest.raises(ValueError, match="base-62 digit"):
        from_base62("001-")
    with pytest.raises(ValueError, match="more than 2"):
        to_base62(62 * 62, 2)


def test_even_boundaries_split_a_span_into_equal_parts() -> None:
    assert even_boundaries(0, 100, 4) == [25, 50, 75]
    assert even_boundaries(10, 12, 4) == [11]  # too short for 3 distinct boundaries
    assert even_boundaries(7, 7, 3) == []


@pytest.mark.parametrize(
    "ids",
    [
        list(range(1, 10_001)),  # dense
        [*range(1, 3001), *range(1_000_000, 1_007_000)],  # a gap of a million ids
        [5, 6, 7],  # too few to make four parts
        [i * i for i in range(1, 4001)],  # ever sparser
    ],
    ids=["dense", "gap", "few", "sparse"],
)
def test_balanced_boundaries_make_parts_of_about_equal_size_by_counting(ids: list[int]) -> None:
    probes: list[int] = []

    def count_below(number: int) -> int:
        probes.append(number)
        return bisect.bisect_left(ids, number)

    boundaries = balanced_boundaries(len(ids), 4, count_below)
    ranges = ranges_between([str(b) for b in boundaries])
    sizes = [sum(in_range(i, r) for i in ids) for r in ranges]
    assert sum(sizes) == len(ids)  # every id in exactly one range
    assert all(size > 0 for size in sizes)
    if len(ids) >= 100:
        assert len(ranges) == 4
        # each boundary within an eighth of a part of its target: each part within a quarter of a part of the mean
        assert max(sizes) - min(sizes) <= len(ids) // 8, sizes
    assert len(probes) <= 60, len(probes)


def test_balanced_boundaries_refuse_counts_that_never_reach_the_total() -> None:
    with pytest.raises(ValueError, match="changed while counting"):
        balanced_boundaries(10, 2, lambda number: 5)
    assert balanced_boundaries(1, 4, lambda number: 1) == []


def test_the_watermark_after_partitions_is_where_one_pass_would_leave_it() -> None:
    start = datetime(2026, 12, 6, 6, 0, tzinfo=UTC)
    early, late = start - timedelta(hours=2), start - timedelta(minutes=5)
    # the newest modification any partition read, whichever partition read it ...
    assert watermark_after([early, None, late], start) == late
    # ... never past the run's start (a record modified during the run is read again next time) ...
    assert watermark_after([early, start + timedelta(seconds=3)], start) == start
    # ... and left where it is when no partition read anything
    assert watermark_after([None, None], start) is None
    assert watermark_after([], start) is None
