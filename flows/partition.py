"""One partition of a partitioned full sync: one id range of one entity's pass, started by the parent run.

Not a procedure to run by hand: a full sync with ``partitions`` above 1 starts this flow's deployment once per
id range (tasks/partition.py), on the same work pool, so that several workers share the job. It takes no lock: it
runs only while the parent run holds the connection's lock, checked before and after every page.
"""

from __future__ import annotations

from prefect import flow
from prefect.concurrency.sync import concurrency

from flows.orchestration import engine_logs_in_prefect
from flows.parameters import ConnectionParameter, EntityName, connection_name, form_field
from tandem.sync.partitions import PartitionSpec, PartOutcome
from tasks.parameters import untraversed
from tasks.partition import PARTITION_FLOW, partition_context, salesforce_limit, sync_part


@flow(name=PARTITION_FLOW, persist_result=True)
def sync_partition(
    connection: ConnectionParameter = form_field("Connection"),
    entity: EntityName = form_field("Entity"),
    part: PartitionSpec = form_field("Partition"),
) -> PartOutcome:
    """Sync one partition (an id range of one entity's read) of a full sync, within the run that started it.

    The outcome (counts, the newest modification read, the failed records the range did not yield) is the flow
    run's persisted result, which the parent reads; the parent alone moves the watermark, once every partition
    has succeeded. While it works the partition holds one slot of the connection's Salesforce global concurrency
    limit (tandem-CONNECTION-salesforce).

    Args:
        connection: The saved Tandem Sync Connection the parent run syncs.
        entity: The entity of the partition (the parent's job).
        part: The partition, as the parent run describes it (its id range and the parent's run and lock).

    Returns:
        What the partition did.

    Raises:
        ValueError: the entity and the partition disagree.
        PartitionError: the parent run does not hold the connection's lock, or the state store is a SQLite
            file on another machine.
    """
    if part.entity != str(entity.value):
        raise ValueError(f"the partition is of {part.entity}, not of {entity.value}")
    with engine_logs_in_prefect():
        context = partition_context(connection, part)
        with concurrency(salesforce_limit(connection_name(connection)), occupy=1):
            return sync_part(untraversed(context), part)
