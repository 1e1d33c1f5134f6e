"""The task that settles held conflicts of one entity in favour of one side."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NONE

from tandem.store.tables import Side
from tandem.sync.context import SyncContext
from tandem.sync.jobs import JobReport, resolve_held_conflicts
from tasks.retry import RETRIES, RETRY_JITTER, backoff, retry_on_transient


@task(
    name="resolve-held", task_run_name="resolve {entity}", retries=RETRIES, retry_delay_seconds=backoff(),
    retry_jitter_factor=RETRY_JITTER, retry_condition_fn=retry_on_transient, cache_policy=NONE,
)
def resolve_held(context: SyncContext, entity: str, keep: Side, record_ids: list[str]) -> JobReport:
    """Write the kept side's values of the held records over the other side (idempotent: by id)."""
    return resolve_held_conflicts(context, entity, keep, record_ids)
