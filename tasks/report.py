"""What a run shows on its flow run page: progress while it runs, counts and failures at the end."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import cast
from uuid import UUID

from prefect import task
from prefect.artifacts import create_progress_artifact, create_table_artifact, update_progress_artifact
from prefect.cache_policies import NONE

from tandem.store import session_scope
from tandem.store.runs import finish_run, skip_job
from tandem.store.tables import JobState
from tandem.sync.context import SyncContext
from tandem.sync.jobs import JobReport

#: How many failed records the failures table lists (all of them are in the state store).
FAILURES_SHOWN = 50


def start_progress(procedure: str, total: int) -> UUID:
    """Create the run's progress artifact at 0 %."""
    artifact_id = create_progress_artifact(
        progress=0.0, key=f"{procedure}-progress", description=f"{procedure}: entities done out of {total}"
    )
    return cast(UUID, artifact_id)


def advance_progress(artifact_id: UUID, done: int, total: int) -> None:
    """Move the progress artifact to ``done`` out of ``total`` entities."""
    update_progress_artifact(artifact_id, progress=100.0 * done / max(total, 1))


def record_skip(context: SyncContext, entity: str, reason: str) -> JobReport:
    """Mark an entity's job skipped (a dependency failed) and return its report."""
    if context.run_id is not None:
        with session_scope(context.store) as session:
            skip_job(session, context.run_id, entity, reason)
    return JobReport(entity=entity, state=JobState.SKIPPED, reason=reason)


def count_rows(reports: Sequence[JobReport]) -> list[dict[str, object]]:
    """One row per entity: its state, its counts, values not synced, and the reason when not succeeded."""
    rows = []
    for report in reports:
        row: dict[str, object] = {"entity": report.entity, "state": report.state.value, **asdict(report.counts)}
        row["values not synced"] = sum(report.skipped_values.values())
        row["conflicts"] = report.conflict_count
        row.update(report.details)
        row["reason"] = report.reason or ""
        rows.append(row)
    return rows


def conflict_rows(reports: Sequence[JobReport]) -> list[dict[str, object]]:
    """One row per conflict met (the first ones of each job): both sources, the policy, the outcome."""
    rows: list[dict[str, object]] = [
        {
            "entity": c.entity, "crm record": c.crm_id,
            "crm changed at": c.crm_modified_at.isoformat() if c.crm_modified_at else "",
            "erp record": c.erp_id,
            "erp changed at": c.erp_modified_at.isoformat() if c.erp_modified_at else "",
            "policy": c.policy, "outcome": c.outcome,
        }
        for report in reports
        for c in report.conflicts
    ]
    return rows[:FAILURES_SHOWN]


@task(name="publish-report", cache_policy=NONE)
def publish_report(context: SyncContext, procedure: str, reports: list[JobReport]) -> list[dict[str, object]]:
    """Publish the per-entity counts and the first failed records (ids and codes), and finish the run."""
    rows = count_rows(reports)
    mode = "dry run: what would change" if context.dry_run else "what moved"
    create_table_artifact(rows, key=f"{procedure}-counts", description=f"{procedure}, {mode}, per entity")
    failures = [
        {"entity": f.entity, "side": f.side.value, "record id": f.record_id, "code": f.code, "message": f.message}
        for report in reports
        for f in report.failures
    ][:FAILURES_SHOWN]
    if failures:
        create_table_artifact(failures, key=f"{procedure}-failures", description="The first failed records")
    conflicts = conflict_rows(reports)
    if conflicts:
        create_table_artifact(
            conflicts, key=f"{procedure}-conflicts",
            description="Records changed in both systems since their last sync: where each value came from "
            "(system, record, when it changed; never the values) and whose values stand",
        )
    if context.run_id is not None:
        with session_scope(context.store) as session:
            finish_run(session, context.run_id)
    return rows
