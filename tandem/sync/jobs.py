"""A sync job: one entity of a run, through every direction its mapping allows, with its outcome
recorded in the state store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tandem.mapping import Direction
from tandem.store import session_scope
from tandem.store.runs import JobCounts, RecordErrorEntry, finish_job, start_job
from tandem.store.tables import JobState
from tandem.sync.context import Route, SyncContext
from tandem.sync.entity_pass import EntityPass, PassResult


@dataclass
class JobReport:
    """The outcome of one entity's job, for artifacts and the flow's return value.

    Attributes:
        entity: the entity.
        state: ``succeeded``, ``failed`` or ``skipped``.
        counts: what happened to records.
        skipped_values: per target field, values a value map did not sync.
        failures: the first failed records (ids and codes).
        reason: why the job failed or was skipped.
    """

    entity: str
    state: JobState
    counts: JobCounts = field(default_factory=JobCounts)
    skipped_values: dict[str, int] = field(default_factory=dict)
    failures: list[RecordErrorEntry] = field(default_factory=list)
    reason: str | None = None


def run_entity_job(
    context: SyncContext,
    entity_name: str,
    *,
    since: datetime | None = None,
    directions: tuple[Direction, ...] = (Direction.TO_CRM, Direction.TO_ERP),
) -> JobReport:
    """Sync one entity: ERP→CRM first, then CRM→ERP, as far as its mapping allows.

    Args:
        context: the run's context.
        entity_name: the entity.
        since: read source records changed at or after this time (``None``: all of them).
        directions: the directions this run may move records in.

    Returns:
        The job's report. Errors other than record-level ones propagate (the job is marked failed).
    """
    entity = context.mappings.entity(entity_name)
    job_id = None
    if context.run_id is not None:
        with session_scope(context.store) as session:
            job_id = start_job(session, context.run_id, entity_name).id
    result = PassResult()
    try:
        for direction in directions:
            if entity.direction.includes(direction):
                result.absorb(EntityPass(context, Route.of(entity, direction), job_id=job_id).run(since))
    except Exception:
        if job_id is not None:
            with session_scope(context.store) as session:
                finish_job(session, job_id, state=JobState.FAILED)
        raise
    if job_id is not None:
        with session_scope(context.store) as session:
            finish_job(session, job_id, state=JobState.SUCCEEDED, counts=result.counts)
    return JobReport(
        entity=entity_name, state=JobState.SUCCEEDED, counts=result.counts,
        skipped_values=result.skipped_values, failures=result.failures,
    )
