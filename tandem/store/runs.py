"""Sync runs, their per-entity jobs with counts, and record-level errors.

A run is one execution of a procedure (a Prefect flow run); it has one job per entity. A job's
counts grow page by page (:func:`add_job_counts` adds in the database, so concurrent pages never
lose an increment) and the job ends succeeded, failed or skipped with a reason. Record errors keep
ids and codes only — never field values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import sqlalchemy as sa
from sqlmodel import Session, select

from tandem.store.tables import JobState, RecordError, RunState, Side, SyncJob, SyncRun, require_id
from tandem.store.types import utc_now

_RUNS: sa.Table = SyncRun.__table__  # type: ignore[attr-defined]
_JOBS: sa.Table = SyncJob.__table__  # type: ignore[attr-defined]
_ERRORS: sa.Table = RecordError.__table__  # type: ignore[attr-defined]
#: Longest record error message stored.
MAX_MESSAGE = 2_000


@dataclass(frozen=True, slots=True)
class JobCounts:
    """What a job did to records (or a page's share of it).

    Attributes:
        inserted: records created on the target side.
        modified: records updated on the target side.
        deleted: records deleted on the target side.
        unchanged: records whose content had not changed since the last sync.
        skipped: records deliberately not synced.
        failed: records that failed.
        coupled: existing records matched and bound without a write.
    """

    inserted: int = 0
    modified: int = 0
    deleted: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    coupled: int = 0

    def __add__(self, other: JobCounts) -> JobCounts:
        """The sum of two counts."""
        return JobCounts(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    @classmethod
    def of(cls, job: SyncJob) -> JobCounts:
        """The counts stored on ``job``."""
        return cls(**{f.name: getattr(job, f.name) for f in fields(cls)})


@dataclass(frozen=True, slots=True)
class RecordErrorEntry:
    """One record's failure, to store with :func:`add_record_errors`.

    Attributes:
        entity: the entity.
        side: the system the record id belongs to.
        record_id: the record id.
        code: the error code.
        message: the message (ids and codes only, no field values).
    """

    entity: str
    side: Side
    record_id: str
    code: str
    message: str


def start_run(
    session: Session,
    connection_id: int,
    procedure: str,
    *,
    flow_run_id: str | None = None,
    entities: Sequence[str] = (),
) -> SyncRun:
    """Start a run, with a pending job for each entity it will sync (in that order).

    Args:
        session: the unit of work (not committed here).
        connection_id: the connection.
        procedure: the procedure's name (``full-sync`` ...).
        flow_run_id: the Prefect flow run id, when there is one.
        entities: the entities the run will sync.

    Returns:
        The run (state ``running``), flushed.
    """
    run = SyncRun(connection_id=connection_id, procedure=procedure, flow_run_id=flow_run_id, state=RunState.RUNNING)
    session.add(run)
    session.flush()
    if entities:
        session.add_all(SyncJob(run_id=require_id(run), entity=entity) for entity in dict.fromkeys(entities))
        session.flush()
    return run


def _job(session: Session, run_id: int, entity: str) -> SyncJob | None:
    statement = (
        select(SyncJob)
        .where(_JOBS.c.run_id == run_id, _JOBS.c.entity == entity)
        .execution_options(populate_existing=True)
    )
    return session.exec(statement).first()


def start_job(session: Session, run_id: int, entity: str) -> SyncJob:
    """Mark an entity's job running (creating it when the run did not list the entity).

    Returns:
        The job, flushed.
    """
    job = _job(session, run_id, entity) or SyncJob(run_id=run_id, entity=entity)
    job.state = JobState.RUNNING
    job.started_at = utc_now()
    session.add(job)
    session.flush()
    return job


def add_job_counts(session: Session, job_id: int, counts: JobCounts) -> None:
    """Add a page's counts to a job's, in the database (``SET inserted = inserted + n`` ...)."""
    increments = {name: _JOBS.c[name] + value for name, value in asdict(counts).items() if value}
    if increments:
        session.exec(sa.update(_JOBS).where(_JOBS.c.id == job_id).values(increments))


def finish_job(
    session: Session, job_id: int, *, state: JobState = JobState.SUCCEEDED, counts: JobCounts | None = None
) -> SyncJob:
    """End a job.

    Args:
        session: the unit of work (not committed here).
        job_id: the job.
        state: ``succeeded`` or ``failed``.
        counts: counts to add to those already recorded, when given.

    Returns:
        The job, reloaded.

    Raises:
        ValueError: ``state`` is not a final state, or the job does not exist.
    """
    if state not in (JobState.SUCCEEDED, JobState.FAILED):
        raise ValueError(f"a job finishes succeeded or failed, not {state.value} (use skip_job to skip)")
    if counts is not None:
        add_job_counts(session, job_id, counts)
    session.exec(sa.update(_JOBS).where(_JOBS.c.id == job_id).values(state=state, finished_at=utc_now()))
    job = session.get(SyncJob, job_id, populate_existing=True)
    if job is None:
        raise ValueError(f"no sync job with id {job_id}")
    return job


def skip_job(session: Session, run_id: int, entity: str, reason: str) -> SyncJob:
    """Mark an entity's job skipped, with the reason (creating it when the run did not list the entity).

    Returns:
        The job, flushed.
    """
    job = _job(session, run_id, entity) or SyncJob(run_id=run_id, entity=entity)
    now = utc_now()
    job.state = JobState.SKIPPED
    job.skip_reason = reason
    job.finished_at = now
    session.add(job)
    session.flush()
    return job


def list_jobs(session: Session, run_id: int) -> list[SyncJob]:
    """The jobs of a run, in the order they were created."""
    statement = (
        select(SyncJob).where(_JOBS.c.run_id == run_id).order_by(_JOBS.c.id).execution_options(populate_existing=True)
    )
    return list(session.exec(statement).all())


def finish_run(session: Session, run_id: int, state: RunState | None = None, *, message: str | None = None) -> SyncRun:
    """End a run.

    Args:
        session: the unit of work (not committed here).
        run_id: the run.
        state: the final state; by default ``failed`` when any job failed or never finished,
            else ``succeeded``.
        message: why it ended so, when that needs saying.

    Returns:
        The run.

    Raises:
        ValueError: no such run, or ``state`` is ``running``.
    """
    if state is RunState.RUNNING:
        raise ValueError("a finished run cannot be running")
    run = session.get(SyncRun, run_id, populate_existing=True)
    if run is None:
        raise ValueError(f"no sync run with id {run_id}")
    if state is None:
        unfinished = (JobState.FAILED, JobState.PENDING, JobState.RUNNING)
        failing = session.exec(select(sa.func.count()).where(_JOBS.c.run_id == run_id, _JOBS.c.state.in_(unfinished)))
        state = RunState.FAILED if failing.one() else RunState.SUCCEEDED
    run.state = state
    run.finished_at = utc_now()
    run.message = message
    session.add(run)
    session.flush()
    return run


def mark_crashed_runs(session: Session, connection_id: int, *, found_by: str) -> list[SyncRun]:
    """Mark the connection's runs still ``running`` as ``crashed``: call it while holding the connection's lock.

    A run holds its connection's lock while it works, so one still ``running`` when another run has the
    lock died without finishing (its process was killed, its machine lost); its lease ran out. Its
    unfinished jobs are marked failed.

    Args:
        session: the unit of work (not committed here).
        connection_id: the connection.
        found_by: who found them (the Prefect flow run id of the run that holds the lock now).

    Returns:
        The runs marked, with their message saying when and by whom they were found.
    """
    now = utc_now()
    statement = select(SyncRun).where(_RUNS.c.connection_id == connection_id, _RUNS.c.state == RunState.RUNNING)
    dead = list(session.exec(statement.execution_options(populate_existing=True)).all())
    for run in dead:
        run.state = RunState.CRASHED
        run.finished_at = now
        run.message = (
            f"crashed: its process stopped before the run finished; found at {now:%Y-%m-%d %H:%M:%S} UTC by "
            f"flow run {found_by}, which then held the connection's lock"
        )
        session.add(run)
        session.exec(
            sa.update(_JOBS)
            .where(_JOBS.c.run_id == require_id(run), _JOBS.c.state.in_((JobState.PENDING, JobState.RUNNING)))
            .values(state=JobState.FAILED, finished_at=now)
        )
    session.flush()
    return dead


def get_run(session: Session, run_id: int) -> SyncRun | None:
    """The run with id ``run_id``, if any."""
    return session.get(SyncRun, run_id, populate_existing=True)


def latest_run(session: Session, connection_id: int, procedure: str | None = None) -> SyncRun | None:
    """The most recently started run of a connection (of one procedure, when given)."""
    statement = select(SyncRun).where(_RUNS.c.connection_id == connection_id)
    if procedure is not None:
        statement = statement.where(_RUNS.c.procedure == procedure)
    return session.exec(statement.order_by(_RUNS.c.started_at.desc(), _RUNS.c.id.desc()).limit(1)).first()


def last_succeeded_run(session: Session, connection_id: int, procedure: str) -> SyncRun | None:
    """The most recently started run of ``procedure`` on a connection that succeeded."""
    statement = select(SyncRun).where(
        _RUNS.c.connection_id == connection_id, _RUNS.c.procedure == procedure, _RUNS.c.state == RunState.SUCCEEDED
    )
    return session.exec(statement.order_by(_RUNS.c.started_at.desc(), _RUNS.c.id.desc()).limit(1)).first()


def add_record_errors(
    session: Session, run_id: int, errors: Sequence[RecordErrorEntry], *, job_id: int | None = None
) -> int:
    """Store a batch of record errors of a run (one ``INSERT`` executed for the whole batch).

    Args:
        session: the unit of work (not committed here).
        run_id: the run.
        errors: the errors; messages longer than :data:`MAX_MESSAGE` are cut.
        job_id: the job they belong to, when known.

    Returns:
        How many errors were stored.
    """
    now = utc_now()
    rows = [
        {
            "run_id": run_id,
            "job_id": job_id,
            "entity": error.entity,
            "side": error.side,
            "record_id": error.record_id,
            "code": error.code,
            "message": error.message[:MAX_MESSAGE],
            "occurred_at": now,
        }
        for error in errors
    ]
    if rows:
        session.connection().execute(sa.insert(_ERRORS), rows)
    return len(rows)


def list_record_errors(
    session: Session, run_id: int, *, entity: str | None = None, limit: int = 1_000
) -> list[RecordError]:
    """The record errors of a run (of one entity, when given), oldest first, at most ``limit``."""
    statement = select(RecordError).where(_ERRORS.c.run_id == run_id)
    if entity is not None:
        statement = statement.where(_ERRORS.c.entity == entity)
    statement = statement.order_by(_ERRORS.c.id).limit(limit).execution_options(populate_existing=True)
    return list(session.exec(statement).all())
