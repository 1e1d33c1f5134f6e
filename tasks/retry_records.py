"""The retry-records flow's tasks: one batch of records per task run, and the outcomes table.

The engine part (choosing the records, the passes, each record's outcome) is :mod:`tandem.sync.retry`.
"""

from __future__ import annotations

from collections.abc import Sequence

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NONE

from tandem.mapping import Direction
from tandem.status.failures import FailingRecord
from tandem.store import session_scope
from tandem.store.runs import finish_job, start_job
from tandem.store.tables import JobState
from tandem.sync.context import SyncContext
from tandem.sync.entity_pass import PassResult
from tandem.sync.jobs import JobReport
from tandem.sync.retry import BatchResult, Outcome, RecordOutcome, retry_failed, side_name
from tasks.parameters import untraversed
from tasks.retry import RETRIES, RETRY_JITTER, backoff, retry_on_transient

#: The key of the table artifact with every record's outcome.
OUTCOMES_KEY = "retry-records-outcomes"


@task(
    name="retry-records", task_run_name="retry {entity}: batch {number}", retries=RETRIES,
    retry_delay_seconds=backoff(), retry_jitter_factor=RETRY_JITTER, retry_condition_fn=retry_on_transient,
    cache_policy=NONE,
)
def retry_batch(
    context: SyncContext, entity: str, records: list[FailingRecord], job_id: int | None, number: int = 1
) -> BatchResult:
    """Retry one batch of an entity's failed records (idempotent writes: a task retry duplicates nothing)."""
    return retry_failed(context, entity, records, job_id=job_id)


def retry_in_batches(context: SyncContext, entity: str, records: Sequence[FailingRecord]) -> tuple[
    JobReport, list[RecordOutcome]
]:
    """Retry the records one batch (a page) at a time, as one job of the run; a batch that fails after its task
    retries leaves its records *not retried* and the job failed, and the other batches go on.

    Returns:
        The job's report and every record's outcome.
    """
    job_id: int | None = None
    if context.run_id is not None:
        with session_scope(context.store) as session:
            job_id = start_job(session, context.run_id, entity).id
    total = PassResult()
    outcomes: list[RecordOutcome] = []
    errors: list[str] = []
    size = max(context.page_size, 1)
    for number, start in enumerate(range(0, len(records), size), start=1):
        chunk = list(records[start : start + size])
        try:
            done = retry_batch(untraversed(context), entity, untraversed(chunk), job_id, number)
        except Exception as exc:  # after the task's retries: record it, go on with the other batches
            get_run_logger().error("%s: batch %d (%d records) failed: %s", entity, number, len(chunk), exc)
            errors.append(f"batch {number}: {exc}")
            outcomes += [RecordOutcome(r.entity, side_name(r), r.record_id, Outcome.NOT_RETRIED, r.error_code,
                                       f"its batch failed: {exc}") for r in chunk]
            continue
        outcomes += done.outcomes
        total.absorb(done.result)
    state = JobState.FAILED if errors else JobState.SUCCEEDED
    if job_id is not None:
        with session_scope(context.store) as session:
            finish_job(session, job_id, state=state, counts=total.counts)
    mapping = context.mappings.entity(entity)
    report = JobReport(
        entity=entity, state=state, counts=total.counts, skipped_values=total.skipped_values,
        failures=total.failures, conflicts=total.conflicts, conflict_count=total.conflict_count,
        held_count=len(total.held_keys),
        directions=tuple(d for d in (Direction.TO_CRM, Direction.TO_ERP) if mapping.direction.includes(d)),
        reason="; ".join(errors) or None,
    )
    return report, outcomes


def publish_outcomes(entity: str, outcomes: Sequence[RecordOutcome], *, dry_run: bool) -> list[dict[str, object]]:
    """Publish every record's outcome as the run's ``retry-records-outcomes`` table; return its rows."""
    rows = [outcome.row() for outcome in outcomes]
    tally: dict[str, int] = {}
    for outcome in outcomes:
        tally[outcome.outcome.value] = tally.get(outcome.outcome.value, 0) + 1
    summary = ", ".join(f"{count} {what}" for what, count in tally.items()) or "no record to retry"
    mode = "dry run: what a retry would do" if dry_run else "after the retry"
    create_table_artifact(rows, key=OUTCOMES_KEY, description=f"{entity} records, {mode}: {summary}")
    get_run_logger().info("%s: %s", entity, summary)
    return rows
