"""``tandem runs --connection NAME``: a connection's recent flow runs as the Prefect server has them.

``prefect flow-run ls`` shows each run's state *type*, so a run that ended ``NeedsAttention`` (records
failed, conflicts held) reads ``COMPLETED`` there like a clean one. This list shows the state's name and
message, newest first, for the runs of the connection's deployments (tag ``connection:NAME``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from ops.deploy import connection_tag
from ops.prefect_api import require_server
from tandem.errors import CommandError

#: How many runs the list shows by default.
DEFAULT_LIMIT = 20
#: Final states that need someone, by name.
NEEDS_SOMEONE = frozenset({"NeedsAttention", "Failed", "Crashed", "TimedOut"})


@dataclass(frozen=True)
class RunRow:
    """One flow run of a connection."""

    started: datetime | None
    deployment: str
    run: str
    state: str
    message: str
    run_id: str

    @property
    def needs_attention(self) -> bool:
        """Whether someone should open this run."""
        return self.state in NEEDS_SOMEONE

    def as_dict(self) -> dict[str, Any]:
        """The row as JSON-ready data."""
        data = asdict(self)
        data["started"] = self.started.isoformat() if self.started else None
        data["needs_attention"] = self.needs_attention
        return data


def recent_runs(connection: str, *, limit: int = DEFAULT_LIMIT) -> list[RunRow]:
    """The connection's latest flow runs (scheduled ones that have not started are left out), newest first.

    Raises:
        CommandError: no server answers, or the connection has no deployments on it.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterTags,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    require_server()
    tagged = DeploymentFilter(tags=DeploymentFilterTags(all_=[connection_tag(connection)]))
    with get_client(sync_client=True) as client:
        deployments = {d.id: d.name for d in client.read_deployments(deployment_filter=tagged)}
        if not deployments:
            raise CommandError(
                f"connection {connection!r} has no deployments on this Prefect server: "
                f"tandem deploy --connection {connection}"
            )
        started = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(not_any_=[StateType.SCHEDULED])))
        runs = client.read_flow_runs(
            deployment_filter=tagged, flow_run_filter=started, sort=FlowRunSort.START_TIME_DESC, limit=limit
        )
    return [
        RunRow(
            started=run.start_time or run.expected_start_time, deployment=deployments.get(run.deployment_id, "-")
            if run.deployment_id else "-", run=run.name, state=run.state_name or "-",
            message=" ".join(((run.state.message if run.state else None) or "").split()), run_id=str(run.id),
        )
        for run in runs
    ]


def main_runs(connection: str, *, limit: int, as_json: bool) -> int:
    """The ``tandem runs`` command."""
    if limit < 1:
        raise CommandError("--limit must be 1 or more")
    rows = recent_runs(connection, limit=limit)
    if as_json:
        print(json.dumps([row.as_dict() for row in rows], indent=2))
        return 0
    if not rows:
        print(f"no runs of connection {connection!r} yet")
        return 0
    header = ("started (UTC)", "deployment", "run", "state", "message")
    table = [header] + [
        (f"{r.started:%Y-%m-%d %H:%M}" if r.started else "-", r.deployment, r.run,
         ("! " if r.needs_attention else "") + r.state, r.message[:90] or "-")
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    flagged = sum(r.needs_attention for r in rows)
    if flagged:
        print(f"{flagged} of {len(rows)} runs need attention (!): tandem failures --connection {connection}")
    return 0
