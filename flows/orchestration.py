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
from tandem.store.tables import JobState
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


def run_procedure(
    connection: str,
    procedure: str,
    entities: list[EntityName] | None,
    *,
    dry_run: bool,
    enable_sync: bool = False,
    lookback: timedelta | None = None,
    directions: tuple[Direction, ...] = (Direction.TO_CRM, Direction.TO_ERP),
) -> list[dict[str, object]]:
    """The body every sync flow shares: open the connection, run the jobs in order, report.

    Args:
        connection: the Tandem Sync Connection block's name.
        procedure: the flow's name (runs, artifacts and the state store are labelled with it).
        entities: the entities chosen in the run form (all enabled ones when empty).
        dry_run: report what would change, write nothing.
        enable_sync: record when sync was enabled (the initial import).
        lookback: read source records changed this long before the run started (``None``: all).
        directions: the directions the run may move records in.

    Returns:
        One row per entity with its state and counts (also published as a table artifact).

    Raises:
        JobsFailedError: after the report is published, when a job failed or was skipped.
    """
    with engine_logs_in_prefect():
        block = SyncConnection.load_named(connection)
        names = selected_entities(entities, block.enabled_entities())
        context = open_connection(
            block, name=connection, procedure=procedure, entities=names, dry_run=dry_run,
            flow_run_id=str(runtime.flow_run.id), enable_sync=enable_sync,
        )
        since = context.started_at - lookback if lookback is not None else None
        reports = run_in_dependency_order(context, procedure, names, since=since, directions=directions)
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
            futures[name] = sync_entity.submit(context, name, since=since, directions=directions)
        for name, future in futures.items():
            try:
                reports.append(future.result())
            except Exception as exc:  # the job failed after its retries: record it, go on with the others
                logger.error("%s failed: %s", name, exc)
                reports.append(JobReport(entity=name, state=JobState.FAILED, reason=str(exc)))
                not_done.add(name)
        advance_progress(progress, len(reports), len(entities))
    return reports
