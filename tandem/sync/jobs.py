"""A sync job: one entity of a run, through every direction its mapping allows, with its outcome
recorded in the state store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from tandem.mapping import Direction
from tandem.store import get_watermark, session_scope
from tandem.store.bindings import held_bindings
from tandem.store.conflicts import ConflictEntry
from tandem.store.runs import JobCounts, RecordErrorEntry, finish_job, start_job
from tandem.store.tables import JobState, Side
from tandem.sync.context import Route, SyncContext
from tandem.sync.deletions import incremental_deletions
from tandem.sync.entity_pass import EntityPass, PassResult

#: The job figure counting the records found unchanged from this run's read-back, without being mapped again.
READ_BACK_DETAIL = "unchanged since read-back"


@dataclass
class JobReport:
    """The outcome of one entity's job, for artifacts and the flow's return value.

    Attributes:
        entity: the entity.
        state: ``succeeded``, ``failed`` or ``skipped``.
        counts: what happened to records.
        skipped_values: per target field, values a value map did not sync.
        failures: the first failed records (ids and codes).
        conflicts: the first conflicts (ids, modification times, policy, outcome).
        conflict_count: how many conflicts the job met.
        held_count: how many of them are held for a person (policy ``hold``).
        directions: the ways records went (``to_crm``, ``to_erp``), in the order the job ran them.
        details: procedure-specific figures shown beside the counts (the deletion sweep's).
        reason: why the job failed or was skipped.
    """

    entity: str
    state: JobState
    counts: JobCounts = field(default_factory=JobCounts)
    skipped_values: dict[str, int] = field(default_factory=dict)
    failures: list[RecordErrorEntry] = field(default_factory=list)
    conflicts: list[ConflictEntry] = field(default_factory=list)
    conflict_count: int = 0
    held_count: int = 0
    directions: tuple[Direction, ...] = ()
    details: dict[str, object] = field(default_factory=dict)
    reason: str | None = None


@dataclass
class RecordedJob:
    """A job being recorded in the state store: its id (``None`` in a dry run) and its final counts."""

    id: int | None
    counts: JobCounts = field(default_factory=JobCounts)


@contextmanager
def recorded_job(context: SyncContext, entity_name: str) -> Iterator[RecordedJob]:
    """Record an entity's job: started now, finished succeeded with ``counts`` or failed on an error."""
    job = RecordedJob(id=None)
    if context.run_id is not None:
        with session_scope(context.store) as session:
            job.id = start_job(session, context.run_id, entity_name).id
    try:
        yield job
    except Exception:
        if job.id is not None:
            with session_scope(context.store) as session:
                finish_job(session, job.id, state=JobState.FAILED)
        raise
    if job.id is not None:
        with session_scope(context.store) as session:
            finish_job(session, job.id, state=JobState.SUCCEEDED, counts=job.counts)


def job_report(
    entity_name: str, result: PassResult, directions: tuple[Direction, ...], details: dict[str, object] | None = None
) -> JobReport:
    """The report of an entity's job that succeeded with ``result``, having moved records ``directions``."""
    return JobReport(
        directions=directions,
        entity=entity_name, state=JobState.SUCCEEDED, counts=result.counts,
        skipped_values=result.skipped_values, failures=result.failures,
        conflicts=result.conflicts, conflict_count=result.conflict_count, held_count=len(result.held_keys),
        details=details or {},
    )


def run_entity_job(
    context: SyncContext,
    entity_name: str,
    *,
    since: datetime | None = None,
    from_watermarks: bool = False,
    directions: tuple[Direction, ...] = (Direction.TO_CRM, Direction.TO_ERP),
) -> JobReport:
    """Sync one entity: ERP→CRM first, then CRM→ERP, as far as its mapping allows.

    An incremental job (``from_watermarks``) first applies the entity's deletions since each side's deletion
    watermark, in the directions it runs (see :func:`tandem.sync.deletions.incremental_deletions`), so a
    deleted record's partner is settled before changes are read; then it syncs the changes.

    Args:
        context: the run's context.
        entity_name: the entity.
        since: read source records changed at or after this time (``None``: all of them).
        from_watermarks: read each side from its watermark instead (an incremental sync; a side never
            read before is read completely), and apply the deletions since the deletion watermarks.
        directions: the directions this run may move records in.

    Returns:
        The job's report (an incremental job's details say how deletions were read on each side; a two-way
        job's, how many of its unchanged records the second pass knew from the first pass's read-back,
        :data:`READ_BACK_DETAIL`). Errors other than record-level ones propagate (the job is marked failed).
    """
    entity = context.mappings.entity(entity_name)
    result = PassResult()
    details: dict[str, object] = {}
    ran = tuple(direction for direction in directions if entity.direction.includes(direction))
    with recorded_job(context, entity_name) as job:
        if from_watermarks:
            deletions = incremental_deletions(context, entity_name, ran, job_id=job.id)
            result.absorb(deletions.result)
            details = deletions.details
        for direction in ran:
            route = Route.of(entity, direction)
            start = since
            if from_watermarks:
                with session_scope(context.store, write=False) as session:
                    start = get_watermark(session, context.connection_id, entity_name, route.source_side)
            result.absorb(EntityPass(context, route, job_id=job.id).run(start))
        job.counts = result.counts
    if result.unchanged_read_back:
        details = {**details, READ_BACK_DETAIL: result.unchanged_read_back}
    return job_report(entity_name, result, ran, details)


def resolve_held_conflicts(context: SyncContext, entity_name: str, keep: Side, record_ids: list[str]) -> JobReport:
    """Settle the held conflicts of an entity: the ``keep`` side's records are written over their partners.

    Args:
        context: the run's context.
        entity_name: the entity.
        keep: whose values stand.
        record_ids: only the held records with these CRM or ERP ids (all held ones when empty).

    Returns:
        The job's report (``modified``: records written).

    Raises:
        ValueError: the entity does not sync from the kept side.
    """
    entity = context.mappings.entity(entity_name)
    direction = Direction.TO_ERP if keep is Side.CRM else Direction.TO_CRM
    if not entity.direction.includes(direction):
        raise ValueError(f"{entity_name} does not sync {direction.value}, so {keep.value} cannot be kept")
    with session_scope(context.store, write=False) as session:
        held = held_bindings(session, context.connection_id, entity_name, record_ids)
    kept_ids = [b.crm_id if keep is Side.CRM else b.erp_id for b in held]
    ids = [str(record_id) for record_id in kept_ids if record_id is not None]
    with recorded_job(context, entity_name) as job:
        result = EntityPass(context, Route.of(entity, direction), job_id=job.id, force=True).run_ids(ids)
        job.counts = result.counts
    return job_report(entity_name, result, (direction,))
