"""Initial import: the first sync of a connection (the Sales Connect rules)."""

from __future__ import annotations

from datetime import timedelta

from prefect import State, flow

from flows.orchestration import parallel_jobs, run_procedure
from flows.parameters import ConnectionParameter, EntityName, form_field
from tandem.mapping import Direction

PROCEDURE = "initial-import"


@flow(name=PROCEDURE, task_runner=parallel_jobs())
def initial_import(
    connection: ConnectionParameter = form_field("Connection"),
    hours: int = form_field("Hours back", 24),
    entities: list[EntityName] | None = form_field("Entities", None),
    dry_run: bool = form_field("Dry run", False),
) -> State[list[dict[str, object]]]:
    """Bring the CRM's recent records in and record when sync was enabled.

    Imports the Salesforce records created or changed in the last ``hours`` into the ERP, coupling
    records that already exist on both sides (by match keys) instead of creating them again. Nothing
    travels ERP → CRM here: ERP records that existed before sync was enabled are never pushed to
    the CRM; for entities marked ``only_new_to_crm`` only those created afterwards travel that way.

    Args:
        connection: The saved Tandem Sync Connection to import.
        hours: How far back Salesforce records are imported, in hours.
        entities: The entities to import; leave empty for every entity enabled on the connection.
        dry_run: Report what would change and write nothing.

    Returns:
        The final state (Completed, NeedsAttention or Failed); its data is one row per entity with its
        state and counts (also published as a table artifact).

    Raises:
        JobsFailedError: after the report is published, when a job failed or was skipped.
    """
    if hours < 1:
        raise ValueError("hours must be at least 1")
    return run_procedure(
        connection, PROCEDURE, entities, dry_run=dry_run, enable_sync=True,
        lookback=timedelta(hours=hours), directions=(Direction.TO_ERP,),
    )
