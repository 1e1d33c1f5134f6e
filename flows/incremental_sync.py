"""Incremental sync: what changed since each side's watermark, both ways (or one), on a schedule."""

from __future__ import annotations

from typing import Literal

from prefect import State, flow

from flows.orchestration import parallel_jobs, run_procedure
from flows.parameters import ConnectionParameter, EntityName, form_field
from tandem.mapping import Direction

PROCEDURE = "incremental-sync"


@flow(name=PROCEDURE, task_runner=parallel_jobs())
def incremental_sync(
    connection: ConnectionParameter = form_field("Connection"),
    direction: Literal["to_crm", "to_erp", "both"] = form_field("Direction", "both"),
    entities: list[EntityName] | None = form_field("Entities", None),
    dry_run: bool = form_field("Dry run", False),
) -> State[list[dict[str, object]]]:
    """Sync what changed since the last run, in dependency order, in the chosen direction(s).

    Each entity reads the records changed on its source side since that side's watermark (Salesforce
    ``SystemModstamp``, ERP ``lastModifiedDate``, both ``>=`` and de-duplicated by id), plus the records
    that failed before, maps them field by field with each field's direction and value maps, and writes
    them in batches by external id. Before that, each entity applies the deletions since its deletion
    watermarks (Salesforce ``deleted/``, ERP ``getDeleted``; one call per side) by its deletion policy, in
    the directions the run goes; what a window cannot cover is left to the daily deletion sweep (the counts
    table says so). Tandem's own writes do not come back (content hashes); a record
    changed on both sides is settled by the connection's conflict policy and listed in the run's
    ``incremental-sync-conflicts`` artifact. A connection that is turned off (during a sandbox refresh)
    is left alone.

    Args:
        connection: The saved Tandem Sync Connection to sync.
        direction: to_crm sends ERP changes to Salesforce, to_erp sends Salesforce changes to the ERP, both
            does ERP to Salesforce first, then Salesforce to the ERP, per entity.
        entities: The entities to sync; leave empty for every entity enabled on the connection.
        dry_run: Report what would change and write nothing.

    Returns:
        The final state: Completed, NeedsAttention (records failed or conflicts held), Skipped (sync is not
        enabled on the connection) or Failed; its data is one row per entity with its state and counts.

    Raises:
        JobsFailedError: after the report is published, when a job failed or was skipped.
    """
    chosen = Direction(direction)  # a Literal, not the enum: the run form keeps its title only for inline choices
    directions = (Direction.TO_CRM, Direction.TO_ERP) if chosen is Direction.BOTH else (chosen,)
    return run_procedure(
        connection, PROCEDURE, entities, dry_run=dry_run, from_watermarks=True, directions=directions
    )
