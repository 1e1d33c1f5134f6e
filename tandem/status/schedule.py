"""The sync schedule view (the Procore ↔ Sage 300 schedule page): one row per deployment, saying what it
syncs, how often, and its last and next runs.

Rows are made from deployment data in the shape of ``prefect.yaml`` (entrypoint, name, parameters,
schedules). With a Prefect server (see ``web/sources.py``) the rows are the server's Tandem deployments and
the last and next runs are the server's own; a schedule that is on but has no upcoming run, or whose run is
overdue, gets a warning. Without one the rows come from ``prefect.yaml`` and the next runs are computed
from the schedules (and the view says so).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import croniter

#: What each flow syncs, by its entrypoint's function name, when its parameters do not say.
FLOW_SCOPES = {
    "full_sync": ("full-sync", "both ways"),
    "initial_import": ("initial-import", "to the ERP (Salesforce's last day)"),
    "incremental_sync": ("incremental-sync", "both ways"),
    "deletion_sweep": ("deletion-sweep", "deletions, both systems"),
    "resolve_conflicts": ("resolve-conflicts", "held conflicts, one entity"),
    "sync_partition": ("sync-partition", "one id range of a split full sync, started by it"),
}
DIRECTIONS = {"to_crm": "ERP → Salesforce", "to_erp": "Salesforce → ERP", "both": "both ways"}
#: Prefect's default anchor for interval schedules.
INTERVAL_ANCHOR = datetime(2020, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ScheduleRow:
    """One deployment as the schedule view shows it."""

    deployment: str
    syncs: str
    direction: str
    how_often: str
    active: bool
    last_run_state: str | None = None
    last_run_at: datetime | None = None
    next_run_at: datetime | None = None
    connection: str | None = None
    warning: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The row as JSON-ready data."""
        data = asdict(self)
        for key in ("last_run_at", "next_run_at"):
            data[key] = data[key].isoformat() if data[key] else None
        return data


def describe_schedule(schedule: dict[str, Any] | None) -> str:
    """``every 5 minutes``, ``every 30 minutes``, ``daily at 02:00 UTC``, ``on demand`` ..."""
    if not schedule:
        return "on demand"
    if "interval" in schedule:
        seconds = int(schedule["interval"])
        for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
            if seconds % size == 0:
                count = seconds // size
                return f"every {unit}" if count == 1 else f"every {count} {unit}s"
        return f"every {seconds} seconds"
    cron = str(schedule.get("cron", ""))
    zone = schedule.get("timezone") or "UTC"
    fields = cron.split()
    if len(fields) == 5 and fields[2:] == ["*", "*", "*"] and fields[0].isdigit() and fields[1].isdigit():
        return f"daily at {int(fields[1]):02d}:{int(fields[0]):02d} {zone}"
    return f"cron {cron} ({zone})"


def next_run(schedule: dict[str, Any] | None, now: datetime) -> datetime | None:
    """When the schedule fires next after ``now`` (``None`` for on-demand or paused deployments)."""
    if not schedule or not schedule.get("active", True):
        return None
    if "interval" in schedule:
        interval = timedelta(seconds=float(schedule["interval"]))
        anchor = schedule.get("anchor_date") or INTERVAL_ANCHOR
        steps = (now - anchor) // interval + 1
        return anchor + steps * interval
    if schedule.get("timezone", "UTC") != "UTC":
        return None
    following: datetime = croniter(str(schedule["cron"]), now).get_next(datetime)
    return following


#: How late a scheduled run may start before the view warns (a worker polls every few seconds).
LATE_AFTER = timedelta(minutes=2)


def schedule_warning(
    active: bool, next_run_at: datetime | None, next_run_state: str | None, now: datetime, pool: str | None
) -> str | None:
    """What is wrong with a deployment's schedule on the server, in words (``None`` when nothing is).

    Args:
        active: whether a schedule of the deployment is on.
        next_run_at: when the server's earliest scheduled run of it is due, if it has one.
        next_run_state: that run's state name (``Scheduled``, ``Late``).
        now: the time of the view.
        pool: the deployment's work pool.
    """
    if active and next_run_at is None:
        return ("the schedule is on but the server has no upcoming run: its scheduler service is not running "
                "(see the log of `prefect server start`)")
    if next_run_at is not None and (next_run_state == "Late" or now - next_run_at > LATE_AFTER):
        return (f"the run due at {next_run_at:%Y-%m-%d %H:%M} UTC has not started: is a worker running for pool "
                f"{pool or '?'}? (prefect worker start --pool {pool or 'POOL'})")
    return None


def schedule_rows(deployments: list[dict[str, Any]], now: datetime) -> list[ScheduleRow]:
    """Rows for deployments given as in ``prefect.yaml`` (entrypoint, name, parameters, schedules)."""
    rows = []
    for deployment in deployments:
        function = str(deployment["entrypoint"]).rpartition(":")[2]
        flow_name, scope = FLOW_SCOPES.get(function, (function.replace("_", "-"), ""))
        parameters = deployment.get("parameters") or {}
        schedules = deployment.get("schedules") or []
        schedule = schedules[0] if schedules else None
        entities = parameters.get("entities") or ["every enabled entity"]
        direction = DIRECTIONS.get(str(parameters.get("direction", "")), scope)
        active = bool(schedule and schedule.get("active", True))
        how_often = describe_schedule(schedule) + ("" if active or not schedule else " (paused)")
        rows.append(
            ScheduleRow(
                deployment=f"{flow_name}/{deployment['name']}", syncs=", ".join(entities), direction=direction,
                how_often=how_often, active=active, next_run_at=next_run(schedule, now) if active else None,
            )
        )
    return rows
