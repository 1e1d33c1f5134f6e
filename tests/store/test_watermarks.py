"""Watermarks move forward only, unless explicitly reset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlmodel import Session

from tandem.store import (
    Side,
    advance_watermark,
    get_watermark,
    list_watermarks,
    reset_watermark,
)

T0 = datetime(2026, 11, 22, 12, 0, 0, 500_000, tzinfo=UTC)


def test_a_watermark_only_moves_forward(session: Session, cid: int) -> None:
    assert get_watermark(session, cid, "customer", Side.CRM) is None
    assert advance_watermark(session, cid, "customer", Side.CRM, T0) == T0
    assert advance_watermark(session, cid, "customer", Side.CRM, T0 - timedelta(seconds=1)) == T0
    assert advance_watermark(session, cid, "customer", Side.CRM, T0) == T0
    later = T0 + timedelta(microseconds=1)
    assert advance_watermark(session, cid, "customer", Side.CRM, later) == later
    session.commit()
    assert get_watermark(session, cid, "customer", Side.CRM) == later


def test_offsets_are_compared_as_instants(session: Session, cid: int) -> None:
    advance_watermark(session, cid, "customer", Side.ERP, T0)
    # 13:00 at +02:00 is 11:00 UTC: earlier, so ignored, though its wall time is later
    two_hours_east = timezone(timedelta(hours=2))
    earlier = datetime(2026, 11, 22, 13, 0, tzinfo=two_hours_east)
    assert advance_watermark(session, cid, "customer", Side.ERP, earlier) == T0
    later = datetime(2026, 11, 22, 15, 0, tzinfo=two_hours_east)
    stored = advance_watermark(session, cid, "customer", Side.ERP, later)
    assert stored == later and stored.tzinfo is UTC and stored.hour == 13


def test_each_entity_and_side_has_its_own_watermark(session: Session, cid: int) -> None:
    advance_watermark(session, cid, "customer", Side.CRM, T0)
    advance_watermark(session, cid, "customer", Side.ERP, T0 + timedelta(hours=1))
    advance_watermark(session, cid, "item", Side.CRM, T0 + timedelta(hours=2))
    session.commit()
    marks = [(w.entity, w.side, w.value) for w in list_watermarks(session, cid)]
    assert marks == [
        ("customer", Side.CRM, T0),
        ("customer", Side.ERP, T0 + timedelta(hours=1)),
        ("item", Side.CRM, T0 + timedelta(hours=2)),
    ]


def test_an_explicit_reset_moves_back_or_clears(session: Session, cid: int) -> None:
    advance_watermark(session, cid, "customer", Side.CRM, T0)
    reset_watermark(session, cid, "customer", Side.CRM, T0 - timedelta(days=15))
    session.commit()
    assert get_watermark(session, cid, "customer", Side.CRM) == T0 - timedelta(days=15)
    reset_watermark(session, cid, "customer", Side.CRM, None)
    session.commit()
    assert get_watermark(session, cid, "customer", Side.CRM) is None


def test_naive_datetimes_are_refused(session: Session, cid: int) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        advance_watermark(session, cid, "customer", Side.CRM, datetime(2026, 1, 1))
