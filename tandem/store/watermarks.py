"""Watermarks: how far an incremental sync has read each entity on each side.

Like singer-sdk bookmarks: the sync reads records modified at or after the watermark (``>=``, then
de-duplicates by id), caps the new value at the run's start, and moves the watermark only after the
batch is committed — pass it to :func:`tandem.store.bindings.upsert_bindings` to write it in the
batch's own transaction. A watermark only moves forward; :func:`reset_watermark` is the one
explicit way back.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from tandem.store.tables import Side, Watermark
from tandem.store.types import as_utc, utc_now

_TABLE: sa.Table = Watermark.__table__  # type: ignore[attr-defined]


def _key(connection_id: int, entity: str, side: Side) -> list[sa.ColumnElement[bool]]:
    return [_TABLE.c.connection_id == connection_id, _TABLE.c.entity == entity, _TABLE.c.side == side]


def get_watermark(session: Session, connection_id: int, entity: str, side: Side) -> datetime | None:
    """The watermark of ``entity`` on ``side`` (aware UTC), or ``None`` when nothing was read yet."""
    return session.exec(select(_TABLE.c.value).where(*_key(connection_id, entity, side))).first()


def advance_watermark(session: Session, connection_id: int, entity: str, side: Side, value: datetime) -> datetime:
    """Move a watermark forward to ``value``; an earlier or equal ``value`` leaves it where it is.

    One ``INSERT ... ON CONFLICT DO UPDATE ... WHERE stored < new`` statement, so concurrent
    writers cannot move it backwards either.

    Args:
        session: the unit of work (not committed here).
        connection_id: the connection.
        entity: the entity.
        side: the side whose reading the watermark tracks.
        value: the new watermark (aware datetime).

    Returns:
        The stored value afterwards (aware UTC).

    Raises:
        ValueError: ``value`` is naive.
    """
    new_value = as_utc(value)
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(_TABLE).values(
        connection_id=connection_id, entity=entity, side=side, value=new_value, updated_at=utc_now()
    )
    statement = statement.on_conflict_do_update(
        index_elements=[_TABLE.c.connection_id, _TABLE.c.entity, _TABLE.c.side],
        set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
        where=_TABLE.c.value < statement.excluded.value,
    )
    session.exec(statement)
    return session.exec(select(_TABLE.c.value).where(*_key(connection_id, entity, side))).one()


def reset_watermark(session: Session, connection_id: int, entity: str, side: Side, value: datetime | None) -> None:
    """Set a watermark to ``value`` even if that is earlier (a re-read), or remove it with ``None``.

    Args:
        session: the unit of work (not committed here).
        connection_id: the connection.
        entity: the entity.
        side: the side.
        value: the new watermark (aware datetime), or ``None`` to read everything again.
    """
    session.exec(sa.delete(_TABLE).where(*_key(connection_id, entity, side)))
    if value is not None:
        session.exec(
            sa.insert(_TABLE).values(
                connection_id=connection_id, entity=entity, side=side, value=as_utc(value), updated_at=utc_now()
            )
        )


def list_watermarks(session: Session, connection_id: int) -> list[Watermark]:
    """All watermarks of a connection, ordered by entity and side."""
    statement = (
        select(Watermark)
        .where(_TABLE.c.connection_id == connection_id)
        .order_by(_TABLE.c.entity, _TABLE.c.side)
        .execution_options(populate_existing=True)
    )
    return list(session.exec(statement).all())
