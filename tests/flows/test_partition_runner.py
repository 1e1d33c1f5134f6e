"""The parent's partition runner on a Prefect server: a partition no worker starts does not hold the run for ever."""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime

from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.exceptions import ObjectAlreadyExists

from flows.partition import sync_partition
from tandem.mapping import Direction
from tandem.sync.partitions import PartitionSpec, PartOutcome
from tasks.partition import PoolRunner


def test_a_partition_no_worker_starts_is_cancelled_and_fails_with_the_reason() -> None:
    # A deployment of the partition flow on a pool no worker polls: its flow runs stay scheduled.
    with get_client(sync_client=True) as client, suppress(ObjectAlreadyExists):
        client.create_work_pool(WorkPoolCreate(name="no-worker-polls-this", type="process"))
    sync_partition.to_deployment(name="unattended", work_pool_name="no-worker-polls-this").apply()
    spec = PartitionSpec(connection_id=1, entity="customer", direction=Direction.TO_CRM, index=1, count=1,
                         started_at=datetime.now(UTC), holder="parent", host="here")
    runner = PoolRunner("sync-partition/unattended", {"$ref": {"block_document_id": "unused"}}, start_timeout=2.0)

    @flow
    def parent() -> list[PartOutcome]:
        return runner([spec])

    [outcome] = parent()

    assert outcome.error is not None and "no worker of the pool started it within 2 s" in outcome.error
    with get_client(sync_client=True) as client:
        [run] = [run for run in client.read_flow_runs() if run.deployment_id is not None and run.name == spec.label
                 and run.state is not None and run.state.is_cancelled()]
    assert run.state is not None and "no worker" in (run.state.message or "")
