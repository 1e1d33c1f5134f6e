"""Full sync: every enabled entity, in dependency order, everything from its source side."""

from __future__ import annotations

from prefect import State, flow

from flows.orchestration import parallel_jobs, run_procedure
from flows.parameters import ConnectionParameter, EntityName, form_field
from tandem.sync.partitions import MIN_PARTITION_RECORDS

PROCEDURE = "full-sync"


@flow(name=PROCEDURE, task_runner=parallel_jobs())
def full_sync(
    connection: ConnectionParameter = form_field("Connection"),
    entities: list[EntityName] | None = form_field("Entities", None),
    dry_run: bool = form_field("Dry run", False),
    partitions: int = form_field("Partitions", 1),
    min_partition_records: int = form_field("Records per partition", MIN_PARTITION_RECORDS),
) -> State[list[dict[str, object]]]:
    """Sync every enabled entity (or the chosen ones) completely, in dependency order.

    Currencies before customers, salespeople before accounts, units before items, price groups
    before prices, transactions last. Records that exist on both sides are coupled by match keys;
    writes are upserts by external id, so running it twice changes nothing the second time.

    Args:
        connection: The saved Tandem Sync Connection to sync.
        entities: The entities to sync; leave empty for every entity enabled on the connection.
        dry_run: Report what would change and write nothing.
        partitions: Split each entity's read into up to this many key ranges, each run as a flow run of the
            sync-partition deployment on the work pool, so that several workers share the job (1: no split;
            Salesforce and NetSuite sources only).
        min_partition_records: The fewest records a partition should have on average; smaller reads are not split.

    Returns:
        The final state: Completed, NeedsAttention (records failed or conflicts held) or Failed; its
        data is one row per entity with its state and counts (also published as a table artifact).

    Raises:
        JobsFailedError: after the report is published, when a job failed or was skipped.
    """
    return run_procedure(
        connection, PROCEDURE, entities, dry_run=dry_run, partitions=partitions,
        min_partition_records=min_partition_records,
    )
