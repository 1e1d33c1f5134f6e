"""The task that sweeps one entity's deletions (all its pages: task runs do not grow with record counts)."""

from __future__ import annotations

from datetime import datetime, timedelta

from prefect import task
from prefect.cache_policies import NONE

from tandem.sync.context import SyncContext
from tandem.sync.deletions import sweep_entity
from tandem.sync.jobs import JobReport
from tasks.retry import RETRIES, RETRY_JITTER, backoff, retry_on_transient


@task(
    name="sweep-deletions", task_run_name="sweep {entity}", retries=RETRIES, retry_delay_seconds=backoff(),
    retry_jitter_factor=RETRY_JITTER, retry_condition_fn=retry_on_transient, cache_policy=NONE,
)
def sweep_deletions(context: SyncContext, entity: str, window: timedelta, last_sweep: datetime | None) -> JobReport:
    """Apply one entity's deletion policy; a retry repeats only idempotent deletes (gone already is done)."""
    return sweep_entity(context, entity, window=window, last_sweep=last_sweep)
