"""Conflicts: records changed on both sides since their last sync, and how each was settled.

Only the sources of the competing values are kept (ids and modification times), never the values.
A conflict is stored once per run, however many passes of the run meet it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from tandem.store.tables import SyncConflict
from tandem.store.types import utc_now

_TABLE: sa.Table = SyncConflict.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class ConflictEntry:
    """One conflict as a pass met it.

    Attributes:
        entity: the entity.
        crm_id: the CRM record.
        erp_id: the ERP record.
        crm_modified_at: when the CRM record was last modified.
        erp_modified_at: when the ERP record was last modified.
        policy: the entity's conflict policy.
        outcome: whose values stand: ``crm``, ``erp`` or ``held``.
    """

    entity: str
    crm_id: str
    erp_id: str
    crm_modified_at: datetime | None
    erp_modified_at: datetime | None
    policy: str
    outcome: str


def record_conflicts(session: Session, run_id: int, entries: Sequence[ConflictEntry]) -> None:
    """Store a batch of conflicts of a run; one already stored for the run is left as it is."""
    if not entries:
        return
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(_TABLE).on_conflict_do_nothing(index_elements=["run_id", "entity", "crm_id", "erp_id"])
    now = utc_now()
    session.connection().execute(
        statement, [{"run_id": run_id, **asdict(entry), "occurred_at": now} for entry in entries]
    )


def list_conflicts(session: Session, run_id: int) -> list[SyncConflict]:
    """The conflicts of a run, in the order they were met."""
    statement = select(SyncConflict).where(_TABLE.c.run_id == run_id).order_by(_TABLE.c.id)
    return list(session.exec(statement).all())
