"""A record's sync history: every failure of it that the connection's runs recorded (codes and messages, never
field values), newest first — where the card of a *not synced* record links, with the action that retries it.

One statement on the state store through the ``(entity, record_id, occurred_at)`` index of the record errors,
limited to the connection's runs (two connections may share ERP ids).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy import Engine

from tandem.status.failures import FAILURES_PATH
from tandem.store.tables import Connection, RecordError, Side, SyncRun

_CONNECTIONS: sa.Table = Connection.__table__  # type: ignore[attr-defined]
_ERRORS: sa.Table = RecordError.__table__  # type: ignore[attr-defined]
_RUNS: sa.Table = SyncRun.__table__  # type: ignore[attr-defined]
#: How many failures a history shows unless told otherwise.
HISTORY_LIMIT = 50
#: The flow a retry action runs, and the deployment template it runs from (``<connection>-retry-records``).
RETRY_FLOW = "retry-records"


@dataclass(frozen=True)
class HistoryEntry:
    """One failure of the record in a run.

    Attributes:
        occurred_at: when it failed.
        code: the error's code.
        message: the error's message (no field values).
        run_id: the state store run.
        procedure: the run's procedure.
        flow_run_id: the run's Prefect flow run.
        run_state: the run's state.
    """

    occurred_at: datetime
    code: str
    message: str
    run_id: int
    procedure: str
    flow_run_id: str | None
    run_state: str

    def as_dict(self) -> dict[str, Any]:
        """The entry as JSON-ready data."""
        return {"occurred_at": self.occurred_at.isoformat(), "code": self.code, "message": self.message,
                "run_id": self.run_id, "procedure": self.procedure, "flow_run_id": self.flow_run_id,
                "run_state": self.run_state}


def history_path(entity: str, side: Side | str, record_id: str) -> str:
    """The path of a record's failure history on ``tandem serve`` (``/failures/contact/erp/2397``)."""
    side_name = side.value if isinstance(side, Side) else side
    return FAILURES_PATH + "/" + "/".join(quote(part, safe="") for part in (entity, side_name, record_id))


def retry_path(entity: str, side: Side | str, record_id: str) -> str:
    """The path a retry of the record is posted to (it starts the connection's ``retry-records`` deployment)."""
    return history_path(entity, side, record_id) + "/retry"


def retry_deployment(connection: str) -> str:
    """The full name of the connection's retry deployment, as ``tandem deploy`` creates it."""
    return f"{RETRY_FLOW}/{connection}-{RETRY_FLOW}"


def retry_command(connection: str, entity: str, record_id: str) -> str:
    """The command line that retries the record without ``tandem serve``."""
    return (f"prefect deployment run '{retry_deployment(connection)}' -p entity={entity} "
            f"-p 'record_ids=[\"{record_id}\"]' --watch")


def record_history(
    store: Engine, connection: str, entity: str, side: Side, record_id: str, *, limit: int = HISTORY_LIMIT
) -> list[HistoryEntry]:
    """The record's failures in the connection's runs, newest first (at most ``limit``).

    Args:
        store: the state store.
        connection: the connection's name.
        entity: the entity.
        side: the system whose record it is.
        record_id: its id there.
        limit: at most this many failures.
    """
    runs = (
        sa.select(_RUNS.c.id)
        .join(_CONNECTIONS, _CONNECTIONS.c.id == _RUNS.c.connection_id)
        .where(_CONNECTIONS.c.name == connection)
    )
    statement = (
        sa.select(_ERRORS.c.occurred_at, _ERRORS.c.code, _ERRORS.c.message, _ERRORS.c.run_id, _RUNS.c.procedure,
                  _RUNS.c.flow_run_id, _RUNS.c.state)
        .join(_RUNS, _RUNS.c.id == _ERRORS.c.run_id)
        .where(_ERRORS.c.entity == entity, _ERRORS.c.record_id == record_id, _ERRORS.c.side == side,
               _ERRORS.c.run_id.in_(runs))
        .order_by(_ERRORS.c.occurred_at.desc(), _ERRORS.c.id.desc())
        .limit(max(1, limit))
    )
    with store.connect() as db:
        rows = db.execute(statement).all()
    return [HistoryEntry(occurred_at=r.occurred_at, code=r.code, message=r.message, run_id=int(r.run_id),
                         procedure=r.procedure, flow_run_id=r.flow_run_id, run_state=str(r.state)) for r in rows]
