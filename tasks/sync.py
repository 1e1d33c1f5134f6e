"""The task that syncs one entity's job (all its pages: task runs do not grow with record counts)."""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NONE

from tandem.mapping import Direction
from tandem.sync.context import SyncContext
from tandem.sync.jobs import JobReport, run_entity_job
from tasks.retry import RETRIES, RETRY_JITTER, backoff, retry_on_transient


@task(
    name="sync-entity", task_run_name="sync {entity}", retries=RETRIES, retry_delay_seconds=backoff(),
    retry_jitter_factor=RETRY_JITTER, retry_condition_fn=retry_on_transient, cache_policy=NONE,
)
def sync_entity(
    context: SyncContext,
    entity: str,
    since: datetime | None = None,
    from_watermarks: bool = False,
    directions: tuple[Direction, ...] = (Direction.TO_CRM, Direction.TO_ERP),
) -> JobReport:
    """Sync one entity; a retry repeats only idempotent writes, so it never duplicates a record."""
    return run_entity_job(context, entity, since=since, from_watermarks=from_watermarks, directions=directions)
