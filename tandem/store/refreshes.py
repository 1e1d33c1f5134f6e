"""Sandbox refreshes: the procedure's progress per connection, so a re-run resumes where one stopped.

A refresh is begun once (by its check step) and finished once (after its resync); in between, each step
that finishes is recorded with what it did. What cancelling the subscription set aside (the connection's
options, enabled flag, sync-enabled time, and its watermarks for audit) is kept on the refresh.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from tandem.store.connections import get_connection_by_id
from tandem.store.tables import Connection, DeletionWatermark, SandboxRefresh, Watermark, require_id
from tandem.store.types import utc_now

_TABLE: sa.Table = SandboxRefresh.__table__  # type: ignore[attr-defined]
_WATERMARKS: sa.Table = Watermark.__table__  # type: ignore[attr-defined]
_DELETION_WATERMARKS: sa.Table = DeletionWatermark.__table__  # type: ignore[attr-defined]


def unfinished_refresh(session: Session, connection_id: int) -> SandboxRefresh | None:
    """The connection's refresh that has not finished its resync, if any."""
    statement = (
        select(SandboxRefresh)
        .where(_TABLE.c.connection_id == connection_id, _TABLE.c.finished_at.is_(None))
        .order_by(_TABLE.c.id.desc())
        .execution_options(populate_existing=True)
    )
    return session.exec(statement).first()


def begin_refresh(
    session: Session, connection: Connection, crm_org_id: str, *, block_options: Mapping[str, Any],
    flow_run_id: str | None,
) -> SandboxRefresh:
    """Start a refresh of ``connection`` towards the sandbox's new org id, saving the connection's settings.

    Args:
        session: the unit of work (not committed here).
        connection: the connection being refreshed (still bound to its previous org).
        crm_org_id: the refreshed sandbox's org id.
        block_options: the connection block's sync options (JSON), re-applied by the reconfigure step.
        flow_run_id: the Prefect flow run that began it.
    """
    saved = {
        "options": dict(connection.options),
        "block_options": dict(block_options),
        "enabled": connection.enabled,
        "sync_enabled_at": connection.sync_enabled_at.isoformat() if connection.sync_enabled_at else None,
    }
    refresh = SandboxRefresh(
        connection_id=require_id(connection), previous_crm_org_id=connection.crm_org_id, crm_org_id=crm_org_id,
        saved=saved, steps={}, flow_run_id=flow_run_id, started_at=utc_now(),
    )
    session.add(refresh)
    session.flush()
    return refresh


def complete_step(session: Session, refresh_id: int, step: str, counts: Mapping[str, Any]) -> None:
    """Record that ``step`` finished, with what it did (ids are in the run's artifacts, counts here)."""
    refresh = _get(session, refresh_id)
    refresh.steps = {**refresh.steps, step: {"at": utc_now().isoformat(), **counts}}
    session.add(refresh)
    session.flush()


def finish_refresh(session: Session, refresh_id: int) -> None:
    """Mark the refresh done: the connection syncs with the refreshed sandbox again."""
    refresh = _get(session, refresh_id)
    refresh.finished_at = utc_now()
    session.add(refresh)
    session.flush()


def set_aside_watermarks(session: Session, refresh_id: int) -> int:
    """Move the connection's watermarks (changes and deletions) onto the refresh (kept for audit, no longer
    read); return how many.

    Idempotent: watermarks already set aside stay on the refresh, and none are left to move.
    """
    refresh = _get(session, refresh_id)
    moved = 0
    for table, key in ((_WATERMARKS, "watermarks"), (_DELETION_WATERMARKS, "deletion_watermarks")):
        rows = session.connection().execute(
            sa.select(table.c.entity, table.c.side, table.c.value).where(table.c.connection_id == refresh.connection_id)
        ).all()
        if not rows:
            continue
        kept = list(refresh.saved.get(key, []))
        kept += [{"entity": e, "side": str(side), "value": value.isoformat()} for e, side, value in rows]
        refresh.saved = {**refresh.saved, key: kept}
        session.add(refresh)
        session.connection().execute(sa.delete(table).where(table.c.connection_id == refresh.connection_id))
        session.flush()
        moved += len(rows)
    return moved


def rebind_org(session: Session, connection_id: int, crm_org_id: str) -> bool:
    """Bind the connection to ``crm_org_id`` (the refreshed sandbox); ``False`` when it already was."""
    connection = get_connection_by_id(session, connection_id)
    if connection.crm_org_id == crm_org_id:
        return False
    connection.crm_org_id = crm_org_id
    connection.updated_at = utc_now()
    session.add(connection)
    session.flush()
    return True


def _get(session: Session, refresh_id: int) -> SandboxRefresh:
    refresh = session.get(SandboxRefresh, refresh_id, populate_existing=True)
    if refresh is None:
        raise LookupError(f"no sandbox refresh with id {refresh_id}")
    return refresh
