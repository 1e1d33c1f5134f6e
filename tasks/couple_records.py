"""The couple-records flow's tasks: one batch of pairs per task run, and the outcomes table.

The engine part (checking and binding pairs, the match keys' proposals) is :mod:`tandem.sync.manual_coupling`.
"""

from __future__ import annotations

from collections.abc import Sequence

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NONE

from tandem.mapping import EntityMapping
from tandem.store import session_scope
from tandem.store.runs import JobCounts, RecordErrorEntry, finish_job, start_job
from tandem.store.tables import JobState, Side
from tandem.sync.context import SyncContext
from tandem.sync.jobs import JobReport
from tandem.sync.manual_coupling import CouplingResult, MatchPreview, Pair, Refusal, batches, couple_pairs
from tasks.parameters import untraversed
from tasks.retry import RETRIES, RETRY_JITTER, backoff, retry_on_transient

#: The key of the table artifact with every pair's outcome.
OUTCOMES_KEY = "couple-records-outcomes"
#: The error code of a refused pair in the run's report.
REFUSED = "COUPLING_REFUSED"


@task(
    name="couple-records", task_run_name="couple {entity_name}: batch {number}", retries=RETRIES,
    retry_delay_seconds=backoff(), retry_jitter_factor=RETRY_JITTER, retry_condition_fn=retry_on_transient,
    cache_policy=NONE,
)
def couple_batch(
    context: SyncContext, entity: EntityMapping, pairs: list[Pair], entity_name: str, number: int = 1
) -> CouplingResult:
    """Check and couple one batch of pairs (idempotent: a pair coupled already counts as unchanged)."""
    return couple_pairs(context, entity, pairs)


def couple_in_batches(context: SyncContext, entity: EntityMapping, pairs: Sequence[Pair]) -> tuple[
    JobReport, CouplingResult
]:
    """Couple the pairs a batch at a time, as one job of the run; a batch that fails after its task retries leaves
    its pairs refused with the error, the job failed, and the other batches go on."""
    job_id: int | None = None
    if context.run_id is not None:
        with session_scope(context.store) as session:
            job_id = start_job(session, context.run_id, entity.name).id
    total = CouplingResult()
    errors: list[str] = []
    for number, batch in enumerate(batches(pairs), start=1):
        try:
            done = couple_batch(untraversed(context), untraversed(entity), untraversed(batch), entity.name, number)
            total.absorb(done)
        except Exception as exc:  # after the task's retries: record it, go on with the other batches
            get_run_logger().error("%s: batch %d (%d pairs) failed: %s", entity.name, number, len(batch), exc)
            errors.append(f"batch {number}: {exc}")
            total.refused += [Refusal(p.crm_id, p.erp_id, f"its batch failed: {exc}") for p in batch]
    counts = JobCounts(coupled=len(total.coupled), unchanged=len(total.unchanged), failed=len(total.refused))
    state = JobState.FAILED if errors else JobState.SUCCEEDED
    if job_id is not None:
        with session_scope(context.store) as session:
            finish_job(session, job_id, state=state, counts=counts)
    failures = [RecordErrorEntry(entity.name, Side.CRM if r.crm_id else Side.ERP, str(r.crm_id or r.erp_id), REFUSED,
                                 r.line()) for r in total.refused]
    report = JobReport(entity=entity.name, state=state, counts=counts, failures=failures,
                       reason="; ".join(errors) or None)
    return report, total


def publish_outcomes(
    entity: str, result: CouplingResult, preview: MatchPreview | None, *, dry_run: bool
) -> list[dict[str, object]]:
    """Publish every pair's outcome (ids, the match fields used, the reason of a refusal) as the run's
    ``couple-records-outcomes`` table; return its rows."""
    fields = {(p.crm_id, p.erp_id): (p.rank, ", ".join(p.fields)) for p in (preview.proposals if preview else [])}

    def row(crm_id: str | None, erp_id: str | None, outcome: str, detail: str = "") -> dict[str, object]:
        rank, used = fields.get((str(crm_id), str(erp_id)), ("", ""))
        return {"entity": entity, "crm id": crm_id or "", "erp id": erp_id or "", "outcome": outcome,
                "match rank": rank, "match fields": used, "detail": detail}

    coupled = "would couple" if dry_run else "coupled"
    rows = [row(p.crm_id, p.erp_id, coupled) for p in result.coupled]
    rows += [row(p.crm_id, p.erp_id, "coupled already") for p in result.unchanged]
    rows += [row(r.crm_id, r.erp_id, "refused", r.reason) for r in result.refused]
    summary = (f"{len(result.coupled)} {coupled}, {len(result.unchanged)} coupled already, "
               f"{len(result.refused)} refused")
    if preview is not None:
        summary += (f"; match keys: {preview.unmatched} without a match, {preview.ambiguous} ambiguous, "
                    f"{preview.partner_coupled} whose partner is coupled already")
    create_table_artifact(rows, key=OUTCOMES_KEY, description=f"{entity} pairs: {summary}")
    get_run_logger().info("%s: %s", entity, summary)
    return rows
