"""Incremental sync: what changed since each side's watermark, both ways (or one), on a schedule."""

from __future__ import annotations

from prefect import flow

from flows.orchestration import parallel_jobs, run_procedure
from flows.parameters import EntityName
from tandem.mapping import Direction

PROCEDURE = "incremental-sync"


@flow(name=PROCEDURE, task_runner=parallel_jobs())
def incremental_sync(
    connection: str = "demo",
    direction: Direction = Direction.BOTH,
    entities: list[EntityName] | None = None,
    dry_run: bool = False,
) -> list[dict[str, object]]:
    """Sync what changed since the last run, in dependency order, in the chosen direction(s).

    Each entity reads the records changed on its source side since that side's watermark (Salesforce
    ``SystemModstamp``, ERP ``lastModifiedDate``, both ``>=`` and de-duplicated by id), plus the records
    that failed before, maps them field by field with each field's direction and value maps, and writes
    them in batches by external id. Tandem's own writes do not come back (content hashes); a record
    changed on both sides is settled by the connection's conflict policy and listed in the run's
    ``incremental-sync-conflicts`` artifact. A connection that is turned off (during a sandbox refresh)
    is left alone.

    Args:
        connection: the name of the Tandem Sync Connection block.
        direction: ``to_crm`` (ERP changes to Salesforce), ``to_erp`` (Salesforce changes to the ERP) or
            ``both`` (ERP → CRM first, then CRM → ERP, per entity).
        entities: the entities to sync (all enabled ones when empty).
        dry_run: report what would change, write nothing.

    Returns:
        One row per entity with its state and counts (also published as a table artifact).

    Raises:
        JobsFailedError: after the report is published, when a job failed or was skipped.
    """
    directions = (Direction.TO_CRM, Direction.TO_ERP) if direction is Direction.BOTH else (direction,)
    return run_procedure(
        connection, PROCEDURE, entities, dry_run=dry_run, from_watermarks=True, directions=directions
    )
