"""Full sync: every enabled entity, in dependency order, everything from its source side."""

from __future__ import annotations

from prefect import flow

from flows.orchestration import parallel_jobs, run_procedure
from flows.parameters import EntityName

PROCEDURE = "full-sync"


@flow(name=PROCEDURE, task_runner=parallel_jobs())
def full_sync(
    connection: str = "demo", entities: list[EntityName] | None = None, dry_run: bool = False
) -> list[dict[str, object]]:
    """Sync every enabled entity (or the chosen ones) completely, in dependency order.

    Currencies before customers, salespeople before accounts, units before items, price groups
    before prices, transactions last. Records that exist on both sides are coupled by match keys;
    writes are upserts by external id, so running it twice changes nothing the second time.

    Args:
        connection: the name of the Tandem Sync Connection block.
        entities: the entities to sync (all enabled ones when empty).
        dry_run: report what would change, write nothing.

    Returns:
        One row per entity with its state and counts (also published as a table artifact).

    Raises:
        JobsFailedError: after the report is published, when a job failed or was skipped.
    """
    return run_procedure(connection, PROCEDURE, entities, dry_run=dry_run)
