"""Watermarks: how far an incremental sync has read each entity on each side.

Like singer-sdk bookmarks: the sync reads records modified at or after the watermark (``>=``, then
de-duplicates by id), caps the new value at the run's start, and moves the watermark only after the
batch is committed — pass it to :func:`tandem.store.bindings.upsert_bindings` to write it in the
batch's own transaction. A watermark only moves forward; :func:`reset_watermark` is the one
explicit way back.

Deletions have watermarks of their own (``deletion_watermarks``): how far the incremental sync has read
each entity's deleted records on each side (Salesforce ``deleted/``, ERP ``getDeleted``). They follow the
same rules and are moved only after the deletions read were applied and committed.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from tandem.store.tables import DeletionWatermark, Side, Watermark
from tandem.store.types import as_utc, utc_now

_TABLE: sa.Table = Watermark.__table__  # type: ignore[attr-defined]
_DELETIONS: sa.Table = DeletionWatermark.__table__  # type: ignore[attr-defined]


def _key(connection_id: int, entity: str, side: Side, table: sa.Table = _TABLE) -> list[sa.ColumnElement[bool]]:
    return [table.c.connection_id == connection_id, table.c.entity == entity, table.c.side == side]


def get_watermark(session: Session, connection_id: int, entity: str, side: Side) -> datetime | None:
    """The watermark of ``entity`` on ``side`` (aware UTC), or ``None`` when nothing was read yet."""
    return _get(session, _TABLE, connection_id, entity, side)


def _get(session: Session, table: sa.Table, connection_id: int, entity: str, side: Side) -> datetime | None:
    return session.exec(select(table.c.value).where(*_key(connection_id, entity, side, table))).first()


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
    return _advance(session, _TABLE, connection_id, entity, side, value)


def _advance(
    session: Session, table: sa.Table, connection_id: int, entity: str, side: Side, value: datetime
) -> datetime:
    new_value = as_utc(value)
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(table).values(
        connection_id=connection_id, entity=entity, side=side, value=new_value, updated_at=utc_now()
    )
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.connection_id, table.c.entity, table.c.side],
        set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
        where=table.c.value < statement.excluded.value,
    )
    session.exec(statement)
    return session.exec(select(table.c.value).where(*_key(connection_id, entity, side, table))).one()


def reset_watermark(session: Session, connection_id: int, entity: str, side: Side, value: datetime | None) -> None:
    """Set a watermark to ``value`` even if that is earlier (a re-read), or remove it with ``None``.

    Args:
        session: the unit of work (not committed here).
        connection_id: the connection.
        entity: the entity.
        side: the side.
        value: the new watermark (aware datetime), or ``None`` to read everything again.
    """
    _reset(session, _TABLE, connection_id, entity, side, value)


def _reset(
    session: Session, table: sa.Table, connection_id: int, entity: str, side: Side, value: datetime | None
) -> None:
    session.exec(sa.delete(table).where(*_key(connection_id, entity, side, table)))
    if value is not None:
        session.exec(
            sa.insert(table).values(
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


def get_deletion_watermark(session: Session, connection_id: int, entity: str, side: Side) -> datetime | None:
    """How far ``entity``'s deletions on ``side`` were read (aware UTC), or ``None`` when never.

    Args:
        session: the unit of work.
        connection_id: the connection.
        entity: the entity.
        side: the system whose deletions the watermark tracks.
    """
    return _get(session, _DELETIONS, connection_id, entity, side)


def advance_deletion_watermark(
    session: Session, connection_id: int, entity: str, side: Side, value: datetime
) -> datetime:
    """Move a deletion watermark forward to ``value``; an earlier or equal ``value`` leaves it where it is.

    Call it in the transaction after the deletions read up to ``value`` were applied (one statement, so
    concurrent writers cannot move it backwards).

    Args:
        session: the unit of work (not committed here).
        connection_id: the connection.
        entity: the entity.
        side: the system whose deletions were read.
        value: the new watermark (aware datetime).

    Returns:
        The stored value afterwards (aware UTC).

    Raises:
        ValueError: ``value`` is naive.
    """
    return _advance(session, _DELETIONS, connection_id, entity, side, value)


def reset_deletion_watermark(
    session: Session, connection_id: int, entity: str, side: Side, value: datetime | None
) -> None:
    """Set a deletion watermark to ``value`` even if that is earlier (a re-read), or remove it with ``None``.

    Args:
        session: the unit of work (not committed here).
        connection_id: the connection.
        entity: the entity.
        side: the side.
        value: the new watermark (aware datetime), or ``None``: the next incremental run starts from the
            entity's change watermark (or leaves earlier deletions to the deletion sweep).
    """
    _reset(session, _DELETIONS, connection_id, entity, side, value)


def list_deletion_watermarks(session: Session, connection_id: int) -> list[DeletionWatermark]:
    """All deletion watermarks of a connection, ordered by entity and side."""
    statement = (
        select(DeletionWatermark)
        .where(_DELETIONS.c.connection_id == connection_id)
        .order_by(_DELETIONS.c.entity, _DELETIONS.c.side)
        .execution_options(populate_existing=True)
    )
    return list(session.exec(statement).all())
