"""Partitioned entity jobs on Prefect: each partition a flow run of the ``sync-partition`` deployment, on the pool.

The parent's task (:func:`sync_entity_in_parts`) starts one flow run per partition with ``run_deployment`` on the
deployment of the ``sync-partition`` flow that sits beside the parent's own (``acme-full-sync`` →
``acme-sync-partition``), so any worker of the work pool may pick each one up, and waits for all of them; their
outcomes come back as the flow runs' persisted results. A partition holds one slot of the connection's Salesforce
global concurrency limit (:func:`salesforce_limit`) while it works, so no more partitions of a connection talk to
Salesforce at once than the limit allows, however many workers there are.
"""

from __future__ import annotations

import time
from contextlib import suppress
from datetime import datetime
from typing import Any, cast

from prefect import get_run_logger, task
from prefect.cache_policies import NONE
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.states import Cancelled

from blocks.connection import SyncConnection
from tandem.mapping import Direction
from tandem.store import get_connection_by_id, session_scope
from tandem.sync.context import SyncContext
from tandem.sync.jobs import JobReport
from tandem.sync.partitions import PartitionError, PartitionSpec, PartOutcome, run_part, run_partitioned_job
from tasks.retry import RETRIES, RETRY_JITTER, backoff, retry_on_transient

#: The flow (and deployment template) that runs one partition.
PARTITION_FLOW = "sync-partition"
#: How many partitions of one connection may talk to Salesforce at once, when ``tandem`` creates the limit.
DEFAULT_SALESFORCE_SLOTS = 3
#: Seconds between two looks at the partitions' flow runs.
POLL_SECONDS = 1.0
#: Seconds a partition's flow run may wait for a worker of the pool to start it; past that it is cancelled and the
#: job fails with the reason (no worker polls the pool, or all are busy), instead of holding the lock for ever.
START_TIMEOUT_SECONDS = 900.0


def salesforce_limit(connection: str) -> str:
    """The name of the connection's Salesforce global concurrency limit (``tandem-acme-salesforce``)."""
    return f"tandem-{connection}-salesforce"


def ensure_salesforce_limit(connection: str, slots: int = DEFAULT_SALESFORCE_SLOTS) -> str:
    """Create the connection's Salesforce global concurrency limit with ``slots`` slots unless it exists (one an
    operator set stays as it is); return its name."""
    name = salesforce_limit(connection)
    with get_client(sync_client=True) as client, suppress(ObjectAlreadyExists):
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=slots))
    return name


def partition_deployment(parent_deployment: str | None) -> str:
    """The ``flow/deployment`` name of the partitions' deployment, beside the parent's: ``acme-full-sync`` gives
    ``sync-partition/acme-sync-partition``; a parent run outside a deployment uses ``sync-partition/sync-partition``."""
    prefix = ""
    if parent_deployment:
        prefix = parent_deployment.rpartition("full-sync")[0] if parent_deployment.endswith("full-sync") else ""
    return f"{PARTITION_FLOW}/{prefix}{PARTITION_FLOW}"


def pool_runner(block: SyncConnection, connection: str, parent_deployment: str | None) -> PoolRunner:
    """The runner of a parent run's partitions: the deployment beside the parent's, the connection's block by reference
    (as the run form sends it), and the connection's Salesforce concurrency limit created if missing.

    Raises:
        ValueError: the connection's CRM is HubSpot (its reads cannot be split by id), or the block was never saved.
    """
    if block.salesforce is None:
        raise ValueError("partitions above 1 need a Salesforce connection: HubSpot's search API cannot split a read "
                         "by record id at a useful cost; run this connection with one partition")
    if block._block_document_id is None:
        raise ValueError("the connection block has no id: save it first (SyncConnection.save(NAME))")
    ensure_salesforce_limit(connection)
    reference = {"$ref": {"block_document_id": str(block._block_document_id)}}
    return PoolRunner(partition_deployment(parent_deployment), reference)


def partition_context(block: SyncConnection, spec: PartitionSpec) -> SyncContext:
    """The context a partition works in: the connection's clients and state store, within the parent's run.

    The parent checked the pairing and the mappings against both systems when it opened the connection; a
    partition logs in and reads the connection's row, nothing more.
    """
    store = block.store.get_engine()
    with session_scope(store, write=False) as session:
        enabled_at = get_connection_by_id(session, spec.connection_id).sync_enabled_at
    return SyncContext(
        connection_id=spec.connection_id, store=store, crm=block.crm_credentials.get_client(),
        erp=block.erp.get_client(), mappings=block.mapping_set_for_run(), started_at=spec.started_at,
        run_id=spec.run_id, dry_run=spec.dry_run, sync_enabled_at=enabled_at,
        templates={"task": {"Subject": block.options.activity_subject_template}},
        conflict_policies=block.options.conflict_policies, default_conflict_policy=block.options.conflict_policy,
    )


@task(
    name="sync-part", task_run_name="sync {spec.entity} {spec.direction.value} part {spec.index}/{spec.count}",
    retries=RETRIES, retry_delay_seconds=backoff(), retry_jitter_factor=RETRY_JITTER,
    retry_condition_fn=retry_on_transient, cache_policy=NONE,
)
def sync_part(context: SyncContext, spec: PartitionSpec) -> PartOutcome:
    """Sync one partition's id range; a retry repeats only idempotent writes."""
    return run_part(context, spec)


class PoolRunner:
    """Runs a pass's partitions as flow runs of the partitions' deployment and collects their outcomes.

    Args:
        deployment: the partitions' deployment (``flow/deployment``).
        connection: the connection as a deployment parameter (a reference to the saved block).
        start_timeout: seconds a partition may wait for a worker to start it (it is cancelled then).
    """

    def __init__(self, deployment: str, connection: dict[str, Any], *,
                 start_timeout: float = START_TIMEOUT_SECONDS) -> None:
        self.deployment = deployment
        self.start_timeout = start_timeout
        self.connection = connection

    def __call__(self, specs: list[PartitionSpec]) -> list[PartOutcome]:
        """Start a flow run per partition, wait until every one has ended, return their outcomes in order."""
        logger = get_run_logger()
        try:
            runs = [self._start(spec) for spec in specs]
        except ObjectNotFound:
            raise PartitionError(
                f"no deployment {self.deployment!r} on this Prefect server: partitions run as its flow runs; "
                "deploy it (tandem deploy --connection NAME, or prefect deploy --all) on the parent's work pool"
            ) from None
        logger.info("%s: %d partitions started as flow runs %s", specs[0].label.rpartition(" ")[0], len(runs),
                    ", ".join(run.name for run in runs))
        deadline = time.monotonic() + self.start_timeout
        with get_client(sync_client=True) as client:
            pending = {run.id for run in runs}
            while pending:
                time.sleep(POLL_SECONDS)
                for run_id in sorted(pending):
                    state = client.read_flow_run(run_id).state
                    if state is not None and state.is_final():
                        pending.discard(run_id)
                    elif time.monotonic() > deadline and (state is None or state.is_scheduled() or state.is_pending()):
                        client.set_flow_run_state(run_id, Cancelled(message=(
                            f"no worker of the pool started it within {self.start_timeout:g} s (is a worker polling "
                            "the pool, with a free slot?)")), force=True)
                        pending.discard(run_id)
            return [self._outcome(spec, client.read_flow_run(run.id)) for spec, run in zip(specs, runs, strict=True)]

    def _start(self, spec: PartitionSpec) -> FlowRun:
        parameters = {"connection": self.connection, "entity": spec.entity, "part": spec.model_dump(mode="json")}
        run = run_deployment(self.deployment, parameters=parameters, timeout=0, flow_run_name=spec.label)
        return cast(FlowRun, run)  # the synchronous form: called from a synchronous task

    @staticmethod
    def _outcome(spec: PartitionSpec, run: FlowRun) -> PartOutcome:
        state = run.state
        if state is None or not state.is_completed():
            name = state.name if state is not None else "without a state"
            message = state.message if state is not None and state.message else "see its logs"
            return PartOutcome(spec.index, error=f"flow run {run.name} ({run.id}) ended {name}: {message}")
        try:
            outcome = state.result()
        except Exception as exc:  # the result is stored where this process cannot read it
            return PartOutcome(spec.index, error=(
                f"flow run {run.name} ({run.id}) completed, but its result cannot be read here ({exc}): workers on "
                "several machines need a shared result storage (PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK)"))
        if not isinstance(outcome, PartOutcome):
            return PartOutcome(spec.index, error=f"flow run {run.name} ({run.id}) returned no partition outcome")
        return outcome


@task(name="sync-entity-in-parts", task_run_name="sync {entity} in parts", cache_policy=NONE)
def sync_entity_in_parts(
    context: SyncContext,
    entity: str,
    *,
    partitions: int,
    min_records: int,
    runner: PoolRunner,
    holder: str,
    since: datetime | None = None,
    directions: tuple[Direction, ...] = (Direction.TO_CRM, Direction.TO_ERP),
) -> JobReport:
    """Sync one entity with each direction's read split into partitions that run as flow runs on the work pool.

    Not retried as a whole: each partition retries its own transient failures.
    """
    return run_partitioned_job(
        context, entity, partitions=partitions, run_parts=runner, holder=holder, since=since,
        min_records=min_records, directions=directions,
    )
