"""Run entity jobs in dependency order: the jobs of one level at the same time, a job whose
dependency failed or was skipped is skipped with that reason."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from prefect import State, get_run_logger, runtime
from prefect.logging.handlers import APILogHandler
from prefect.states import Completed
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from blocks.connection import SyncConnection
from flows.heartbeats import install as end_runs_promptly
from flows.parameters import EntityName, connection_name, selected_entities
from tandem.mapping import Direction
from tandem.store import get_connection_by_id, session_scope
from tandem.store.locks import connection_lock
from tandem.store.runs import finish_run
from tandem.store.tables import JobState, RunState
from tandem.sync.context import SyncContext
from tandem.sync.jobs import JobReport
from tandem.sync.partitions import MIN_PARTITION_RECORDS
from tasks.parameters import untraversed
from tasks.partition import PoolRunner, pool_runner, sync_entity_in_parts
from tasks.report import RunProgress, publish_report, record_skip
from tasks.setup import begin_run, open_connection
from tasks.sync import sync_entity

# Every flow module imports this one: its flow runs end when the flow ends (flows/heartbeats.py). Not done in the
# package's __init__: importing ``flows`` must not load Prefect's settings before the demo has chosen its home.
end_runs_promptly()


@contextmanager
def engine_logs_in_prefect() -> Iterator[None]:
    """While a flow runs, show the engine's log lines (ids and counts, never payloads) in its Prefect logs."""
    engine_logger = logging.getLogger("tandem")
    handler = APILogHandler()
    previous_level = engine_logger.level
    engine_logger.addHandler(handler)
    engine_logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        engine_logger.removeHandler(handler)
        engine_logger.setLevel(previous_level)


@dataclass(frozen=True)
class Partitioning:
    """How a run splits its entity jobs (:mod:`tandem.sync.partitions`).

    Attributes:
        partitions: each direction's read is split into at most this many id ranges.
        min_records: the fewest records a partition should have on average (smaller reads are not split).
        runner: starts the partitions as flow runs on the work pool and collects their outcomes.
        holder: the flow run holding the connection's lock (this run).
    """

    partitions: int
    min_records: int
    runner: PoolRunner
    holder: str


class JobsFailedError(RuntimeError):
    """Some entity jobs failed or were skipped; the run's report and the state store say which and why."""


#: The name of the final state of a run whose jobs all finished but left records failing or conflicts held.
NEEDS_ATTENTION = "NeedsAttention"


def raise_for_failed_jobs(reports: list[JobReport]) -> None:
    """Fail the flow run (after its report is published) when any job did not succeed."""
    bad = [f"{r.entity} {r.state.value}" + (f" ({r.reason})" if r.reason else "") for r in reports
           if r.state is not JobState.SUCCEEDED]
    if bad:
        raise JobsFailedError(f"{len(bad)} of {len(reports)} entity jobs did not succeed: {'; '.join(bad)}")


def run_outcome(reports: list[JobReport], rows: list[dict[str, object]]) -> State[list[dict[str, object]]]:
    """The run's final state, so that the run list alone tells which runs need someone.

    ``Failed`` (by :class:`JobsFailedError`) when a job failed or was skipped; ``Completed`` named
    ``NeedsAttention`` when every job succeeded but records failed or conflicts are held (the message
    counts them); plain ``Completed`` otherwise. The state's data is ``rows``, the flow's return value.

    Raises:
        JobsFailedError: a job failed or was skipped.
    """
    raise_for_failed_jobs(reports)
    failed = sum(report.counts.failed for report in reports)
    held = sum(report.held_count for report in reports)
    if not failed and not held:
        return Completed(data=rows)
    parts = [f"{count} {what}" for count, what in ((failed, "records failed"), (held, "conflicts held")) if count]
    entities = sorted({r.entity for r in reports if r.counts.failed or r.held_count})
    message = f"{' and '.join(parts)} ({', '.join(entities)}): see the run's artifacts and `tandem failures`"
    return Completed(name=NEEDS_ATTENTION, message=message, data=rows)


@contextmanager
def opened(
    block: SyncConnection,
    procedure: str,
    entities: list[EntityName] | None,
    *,
    dry_run: bool,
    enable_sync: bool = False,
    scheduled: bool = False,
) -> Iterator[tuple[SyncContext, list[str]] | None]:
    """Open the connection for a run, take its lock, record the run, and hold the lock while the block runs.

    The run is recorded in the state store only once the lock is held (runs of the connection left
    ``running`` by a dead process are marked crashed then). Yields ``None`` (and records the run as
    cancelled) when ``scheduled`` and sync is not enabled on the connection (no initial import yet, or a
    sandbox refresh in progress): scheduled procedures leave such a connection alone.
    """
    name = connection_name(block)
    names = selected_entities(entities, block.enabled_entities())
    holder = str(runtime.flow_run.id)
    context = open_connection(
        block, name=name, procedure=procedure, entities=names, dry_run=dry_run, enable_sync=enable_sync,
    )
    lease = timedelta(seconds=block.lock_lease_seconds)
    with connection_lock(context.store, context.connection_id, holder=holder, lease=lease):
        context = begin_run(context, procedure, names, flow_run_id=holder)
        with session_scope(context.store, write=False) as session:
            enabled = get_connection_by_id(session, context.connection_id).enabled
        if scheduled and not enabled:
            reason = ("sync is not enabled on the connection (run the initial import first; a sandbox refresh "
                      "turns it off)")
            get_run_logger().warning("%s: %s: nothing done", name, reason)
            if context.run_id is not None:
                with session_scope(context.store) as session:
                    finish_run(session, context.run_id, RunState.CANCELLED, message=reason)
            yield None
            return
        yield context, names


def run_procedure(
    connection: SyncConnection,
    procedure: str,
    entities: list[EntityName] | None,
    *,
    dry_run: bool,
    enable_sync: bool = False,
    lookback: timedelta | None = None,
    from_watermarks: bool = False,
    directions: tuple[Direction, ...] = (Direction.TO_CRM, Direction.TO_ERP),
    partitions: int = 1,
    min_partition_records: int = MIN_PARTITION_RECORDS,
) -> State[list[dict[str, object]]]:
    """The body every sync flow shares: open the connection, hold its lock, run the jobs in order, report.

    Args:
        connection: the Tandem Sync Connection block.
        procedure: the flow's name (runs, artifacts and the state store are labelled with it).
        entities: the entities chosen in the run form (all enabled ones when empty).
        dry_run: report what would change, write nothing.
        enable_sync: record when sync was enabled (the initial import).
        lookback: read source records changed this long before the run started (``None``: all).
        from_watermarks: read each entity's sides from their watermarks (the incremental sync; it also
            leaves a connection that is turned off alone).
        directions: the directions the run may move records in.
        partitions: split each entity job's reads into up to this many id ranges, each run as a flow run of the
            ``sync-partition`` deployment on the work pool (1: no split).
        min_partition_records: the fewest records a partition should have on average (smaller reads are not split).

    Returns:
        The run's final state (see :func:`run_outcome`); its data is one row per entity with its state and
        counts (also published as a table artifact).

    Raises:
        JobsFailedError: after the report is published, when a job failed or was skipped.
        ValueError: ``partitions`` is below 1, or above 1 for a HubSpot connection or with ``from_watermarks``.
    """
    if partitions < 1:
        raise ValueError("partitions must be 1 or more")
    if partitions > 1 and from_watermarks:
        raise ValueError("partitions split a whole read (a full sync), not reads from the watermarks")
    split = None
    if partitions > 1:
        runner = pool_runner(connection, connection_name(connection), runtime.deployment.name)
        split = Partitioning(partitions, min_partition_records, runner, holder=str(runtime.flow_run.id))
    with engine_logs_in_prefect(), opened(
        connection, procedure, entities, dry_run=dry_run, enable_sync=enable_sync, scheduled=from_watermarks
    ) as run:
        if run is None:
            return Completed(name="Skipped", message="sync is not enabled on the connection: nothing done", data=[])
        context, names = run
        since = context.started_at - lookback if lookback is not None else None
        reports = run_in_dependency_order(
            context, procedure, names, since=since, from_watermarks=from_watermarks, directions=directions,
            split=split,
        )
        rows = publish_report(untraversed(context), procedure, reports)
    return run_outcome(reports, rows)


def parallel_jobs() -> TaskRunner[Any]:
    """The flows' task runner: two entity jobs at a time (a 2-core machine; SQLite serialises writers)."""
    return cast(TaskRunner[Any], ThreadPoolTaskRunner(max_workers=2))


def run_in_dependency_order(
    context: SyncContext,
    procedure: str,
    entities: list[str],
    *,
    since: datetime | None = None,
    from_watermarks: bool = False,
    directions: tuple[Direction, ...] = (Direction.TO_CRM, Direction.TO_ERP),
    split: Partitioning | None = None,
) -> list[JobReport]:
    """Run one job per entity, level by level; return the reports in the order the jobs ran.

    With ``split``, each job's reads are split into partitions that run as flow runs on the work pool.
    """
    logger = get_run_logger()
    levels = context.mappings.levels(only=entities)
    progress = RunProgress(procedure, len(entities))
    context = replace(context, on_page=progress.page_done)
    not_done: set[str] = set()
    reports: list[JobReport] = []
    for level in levels:
        futures = {}
        for name in level:
            blockers = sorted(context.mappings.entity(name).dependencies() & not_done)
            if blockers:
                reason = f"skipped: depends on {', '.join(blockers)}, which did not succeed"
                logger.warning("%s %s", name, reason)
                reports.append(record_skip(context, name, reason))
                not_done.add(name)
                continue
            if split is None:
                futures[name] = sync_entity.submit(
                    untraversed(context), name, since=since, from_watermarks=from_watermarks, directions=directions
                )
            else:
                futures[name] = sync_entity_in_parts.submit(
                    untraversed(context), name, partitions=split.partitions, min_records=split.min_records,
                    runner=split.runner, holder=split.holder, since=since, directions=directions,
                )
        for name, future in futures.items():
            try:
                reports.append(future.result())
            except Exception as exc:  # the job failed after its retries: record it, go on with the others
                logger.error("%s failed: %s", name, exc)
                reports.append(JobReport(entity=name, state=JobState.FAILED, reason=str(exc)))
                not_done.add(name)
        progress.entities_done(len(reports))
    return reports
