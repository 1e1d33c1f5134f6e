"""Deletion sweep: records deleted in either system within the window, settled by each entity's policy."""

from __future__ import annotations

from datetime import timedelta

from prefect import State, flow, get_run_logger
from prefect.states import Completed

from flows.orchestration import engine_logs_in_prefect, opened, parallel_jobs, run_outcome
from flows.parameters import ConnectionParameter, EntityName, form_field
from tandem.store import session_scope
from tandem.store.runs import last_succeeded_run
from tandem.store.tables import JobState
from tandem.sync.jobs import JobReport
from tasks.deletion import sweep_deletions
from tasks.parameters import untraversed
from tasks.report import publish_report

PROCEDURE = "deletion-sweep"


@flow(name=PROCEDURE, task_runner=parallel_jobs())
def deletion_sweep(
    connection: ConnectionParameter = form_field("Connection"),
    days: int = form_field("Days back", 15),
    entities: list[EntityName] | None = form_field("Entities", None),
    dry_run: bool = form_field("Dry run", False),
) -> State[list[dict[str, object]]]:
    """Find the records deleted in Salesforce or the ERP and apply each entity's deletion policy.

    Reads Salesforce's deleted records (``deleted/``) and the ERP's ``getDeleted`` for the last ``days``.
    When that window cannot cover everything since the last successful sweep (no sweep yet, the last one
    is older than the window, or a system reports deletions only from a later time), that side is
    reconciled instead by comparing every id with the bindings, and the counts table says so. Dependents
    are swept before what they depend on (contacts before customers). Sweeping twice deletes nothing more.

    Args:
        connection: The saved Tandem Sync Connection to sweep.
        days: How far back deletions are read, in days (Salesforce keeps them 15 days).
        entities: The entities to sweep; leave empty for every entity enabled on the connection.
        dry_run: Report what would be deleted, unlinked or restored and change nothing.

    Returns:
        The final state (Completed, NeedsAttention, Skipped or Failed); its data is one row per entity
        with its counts and how each side was read (also a table artifact).

    Raises:
        JobsFailedError: after the report is published, when an entity's sweep failed.
    """
    if not 1 <= days <= 15:
        raise ValueError("days must be between 1 and 15 (Salesforce keeps deleted records 15 days)")
    logger = get_run_logger()
    with engine_logs_in_prefect(), opened(connection, PROCEDURE, entities, dry_run=dry_run, scheduled=True) as run:
        if run is None:
            return Completed(name="Skipped", message="sync is not enabled on the connection: nothing done", data=[])
        context, names = run
        with session_scope(context.store, write=False) as session:
            last = last_succeeded_run(session, context.connection_id, PROCEDURE)
        last_sweep = last.started_at if last is not None else None
        reports: list[JobReport] = []
        for level in reversed(context.mappings.levels(only=names)):
            futures = {
                name: sweep_deletions.submit(untraversed(context), name, timedelta(days=days), last_sweep)
                for name in level
            }
            for name, future in futures.items():
                try:
                    reports.append(future.result())
                except Exception as exc:  # the entity's sweep failed after its retries: report it, go on
                    logger.error("%s failed: %s", name, exc)
                    reports.append(JobReport(entity=name, state=JobState.FAILED, reason=str(exc)))
        rows = publish_report(untraversed(context), PROCEDURE, reports)
    return run_outcome(reports, rows)
