"""Deletion watermarks: their own table, forward only unless reset, apart from the change watermarks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from tandem.store import Side, advance_watermark, create_schema, get_watermark
from tandem.store.watermarks import (
    advance_deletion_watermark,
    get_deletion_watermark,
    list_deletion_watermarks,
    reset_deletion_watermark,
)

T0 = datetime(2026, 11, 22, 12, 0, 0, 500_000, tzinfo=UTC)


def test_a_deletion_watermark_only_moves_forward(session: Session, cid: int) -> None:
    assert get_deletion_watermark(session, cid, "task", Side.CRM) is None
    assert advance_deletion_watermark(session, cid, "task", Side.CRM, T0) == T0
    assert advance_deletion_watermark(session, cid, "task", Side.CRM, T0 - timedelta(minutes=1)) == T0
    later = T0 + timedelta(minutes=5)
    assert advance_deletion_watermark(session, cid, "task", Side.CRM, later) == later
    session.commit()
    assert get_deletion_watermark(session, cid, "task", Side.CRM) == later


def test_deletion_and_change_watermarks_are_kept_apart(session: Session, cid: int) -> None:
    advance_watermark(session, cid, "task", Side.ERP, T0)
    advance_deletion_watermark(session, cid, "task", Side.ERP, T0 + timedelta(hours=1))
    session.commit()
    assert get_watermark(session, cid, "task", Side.ERP) == T0
    assert get_deletion_watermark(session, cid, "task", Side.ERP) == T0 + timedelta(hours=1)
    assert get_deletion_watermark(session, cid, "task", Side.CRM) is None
    assert get_deletion_watermark(session, cid, "customer", Side.ERP) is None


def test_each_entity_and_side_has_its_own_deletion_watermark(session: Session, cid: int) -> None:
    advance_deletion_watermark(session, cid, "task", Side.ERP, T0 + timedelta(hours=1))
    advance_deletion_watermark(session, cid, "customer", Side.CRM, T0)
    advance_deletion_watermark(session, cid, "task", Side.CRM, T0 + timedelta(hours=2))
    session.commit()
    marks = [(w.entity, w.side, w.value) for w in list_deletion_watermarks(session, cid)]
    assert marks == [
        ("customer", Side.CRM, T0),
        ("task", Side.CRM, T0 + timedelta(hours=2)),
        ("task", Side.ERP, T0 + timedelta(hours=1)),
    ]


def test_an_explicit_reset_moves_a_deletion_watermark_back_or_clears_it(session: Session, cid: int) -> None:
    advance_deletion_watermark(session, cid, "task", Side.CRM, T0)
    reset_deletion_watermark(session, cid, "task", Side.CRM, T0 - timedelta(days=20))
    session.commit()
    assert get_deletion_watermark(session, cid, "task", Side.CRM) == T0 - timedelta(days=20)
    reset_deletion_watermark(session, cid, "task", Side.CRM, None)
    session.commit()
    assert get_deletion_watermark(session, cid, "task", Side.CRM) is None


def test_a_naive_value_is_refused(session: Session, cid: int) -> None:
    with pytest.raises(ValueError):
        advance_deletion_watermark(session, cid, "task", Side.CRM, datetime(2026, 11, 22, 12, 0))


def test_a_store_from_before_the_table_gains_it_at_start(engine: Engine) -> None:
    """``create_schema`` on an unversioned store created before the table existed adds it (its migration)."""
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE deletion_watermarks"))
        connection.execute(sa.text("DROP TABLE alembic_version"))
    assert "deletion_watermarks" not in sa.inspect(engine).get_table_names()
    create_schema(engine)
    assert "deletion_watermarks" in sa.inspect(engine).get_table_names()
