"""The waits between polls of a Bulk API 2.0 ingest job: short while it runs, by its pace once it reports one."""

from __future__ import annotations

import pytest

from tandem.salesforce.adapter import BULK_POLL_MAX, BULK_POLL_MIN, next_poll_wait


def test_without_progress_half_the_time_waited_so_far_within_the_bounds() -> None:
    assert next_poll_wait(0.0, 0, 11_000) == BULK_POLL_MIN
    assert next_poll_wait(1.0, 0, 11_000) == 0.5
    assert next_poll_wait(60.0, 0, 11_000) == BULK_POLL_MAX


def test_with_progress_the_time_its_pace_says_it_needs() -> None:
    assert next_poll_wait(5.0, 40_000, 50_000) == pytest.approx(1.25)  # 10,000 more at 8,000 a second
    assert next_poll_wait(2.0, 10_000, 50_000) == 1.0  # the pace says 8 s: never more than half the time so far
    assert next_poll_wait(1.0, 10_000, 11_000) == BULK_POLL_MIN  # nearly done: the shortest wait


def test_a_job_of_a_few_seconds_is_seen_done_soon_after_it_ends_in_few_polls() -> None:
    """A job that processes 10,000 records a second (50,000 in 5 s), polled as the adapter polls it."""
    elapsed, polls = 0.0, 1
    while elapsed < 5.0:
        elapsed += next_poll_wait(elapsed, min(int(elapsed * 10_000) // 10_000 * 10_000, 50_000), 50_000)
        polls += 1
    assert elapsed < 6.0 and polls <= 12
