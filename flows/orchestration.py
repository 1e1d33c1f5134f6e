"""Run entity jobs in dependency order: the jobs of one level at the same time, a job whose
dependency failed or was skipped is skipped with that reason."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, cast

from prefect import get_run_logger, runtime
from prefect.logging.handlers import APILogHandler
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from blocks.connection import SyncConnection
from flows.parameters import EntityName, selected_entities
from tandem.mapping import Direction
from tandem.store import get_connection_by_id, session_scope
from tandem.store.locks import connection_lock
from tandem.store.runs import finish_run
from tandem.store.tables import JobState, RunState
from tandem.sync.context import SyncContext
from tandem.sync.jobs import JobReport
from tasks.report import advance_progress, publish_report, record_skip, start_progress
from tasks.setup import open_connection
from tasks.sync import sync_entity


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


class JobsFailedError(RuntimeError):
    """Some entity jobs failed or were skipped; the run's report and the state store say which and why."""


def raise_for_failed_jobs(reports: list[JobReport]) -> None:
    """Fail the flow run (after its report is published) when any job did not succeed."""
    bad = [f"{r.entity} {r.state.value}" + (f" ({r.reason})" if r.reason else "") for r in reports
           if r.state is not JobState.SUCCEEDED]
    if bad:
        raise JobsFailedError(f"{len(bad)} of {len(reports)} entity jobs did not succeed: {'; '.join(bad)}")


@contextmanager
def opened(
    connection: str,
    procedure: str,
    entities: list[EntityName] | None,
    *,
    dry_run: bool,
    enable_sync: bool = False,
    scheduled: bool = False,
) -> Iterator[tuple[SyncContext, list[str]] | None]:
    """Open the connection for a run and hold its lock while the block runs.

    Yields ``None`` (and ends the run as cancelled) when ``scheduled`` and sync is not enabled on the
    connection (no initial import yet, or a sandbox refresh in progress): scheduled procedures leave such
    a connection alone.
    """
    block = SyncConnection.load_named(connection)
    names = selected_entities(entities, block.enabled_entities())
    holder = str(runtime.flow_run.id)
    context = open_connection(
        block, name=connection, procedure=procedure, entities=names, dry_run=dry_run,
        flow_run_id=holder, enable_sync=enable_sync,
    )
    lease = timedelta(seconds=block.lock_lease_seconds)
    with connection_lock(context.store, context.connection_id, holder=holder, lease=lease):
        with session_scope(context.store, write=False) as session:
            enabled = get_connection_by_id(session, context.connection_id).enabled
        if scheduled and not enabled:
            get_run_logger().warning(
                "sync is not enabled on connection %s (run the initial import first; a sandbox refresh turns it off "
                "while it runs): nothing done", connection,
            )
            if context.run_id is not None:
                with session_scope(context.store) as session:
                    finish_run(session, context.run_id, RunState.CANCELLED)
            yield None
            return
        yield context, names


def run_procedure(
    connection: str,
    procedure: str,
    entities: list[EntityName] | None,
    *,
    dry_run: bool,
    enable_sync: bool = False,
    lookback: timedelta | None = None,
    from_watermarks: bool = False,
    directions: tuple[Direction, ...] = (Direction.TO_CRM, Direction.TO_ERP),
) -> list[dict[str, object]]:
    """The body every sync flow shares: open the connection, hold its lock, run the jobs in order, report.

    Args:
        connection: the Tandem Sync Connection block's name.
        procedure: the flow's name (runs, artifacts and the state store are labelled with it).
        entities: the entities chosen in the run form (all enabled ones when empty).
        dry_run: report what would change, write nothing.
        enable_sync: record when sync was enabled (the initial import).
        lookback: read source records changed this long before the run started (``None``: all).
        from_watermarks: read each entity's sides from their watermarks (the incremental sync; it also
            leaves a connection that is turned off alone).
        directions: the directions the run may move records in.

    Returns:
        One row per entity with its state and counts (also published as a table artifact).

    Raises:
        JobsFailedError: after the report is published, when a job failed or was skipped.
    """
    with engine_logs_in_prefect(), opened(
        connection, procedure, entities, dry_run=dry_run, enable_sync=enable_sync, scheduled=from_watermarks
    ) as run:
        if run is None:
            return []
        context, names = run
        since = context.started_at - lookback if lookback is not None else None
        reports = run_in_dependency_order(
            context, procedure, names, since=since, from_watermarks=from_watermarks, directions=directions
        )
        rows = publish_report(context, procedure, reports)
    raise_for_failed_jobs(reports)
    return rows


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
) -> list[JobReport]:
    """Run one job per entity, level by level; return the reports in the order the jobs ran."""
    logger = get_run_logger()
    levels = context.mappings.levels(only=entities)
    progress = start_progress(procedure, len(entities))
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
            futures[name] = sync_entity.submit(
                context, name, since=since, from_watermarks=from_watermarks, directions=directions
            )
        for name, future in futures.items():
            try:
                reports.append(future.result())
            except Exception as exc:  # the job failed after its retries: record it, go on with the others
                logger.error("%s failed: %s", name, exc)
                reports.append(JobReport(entity=name, state=JobState.FAILED, reason=str(exc)))
                not_done.add(name)
        advance_progress(progress, len(reports), len(entities))
    return reports
