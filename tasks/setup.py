"""Open a connection for a run: log in to both systems, check the pairing rules; then, under the lock, start the run."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from prefect import task
from prefect.cache_policies import NONE
from sqlalchemy import Engine

from blocks.connection import SyncConnection
from tandem.adapter import RecordAdapter
from tandem.errors import SyncError
from tandem.mapping import MappingSet, check_fields_exist
from tandem.salesforce.metadata_check import require_org_metadata
from tandem.store import require_id, session_scope, update_connection
from tandem.store.runs import mark_crashed_runs, start_run
from tandem.store.types import utc_now
from tandem.sync.context import SyncContext
from tandem.sync.pairing import (
    SideRecords,
    check_crm_side,
    check_environments,
    check_erp_side,
    read_side,
    record_pairing,
    register_connection,
)
from tasks.retry import RETRIES, RETRY_JITTER, backoff, retry_on_transient

log = logging.getLogger("tandem.run")

T = TypeVar("T")


@task(
    name="open-connection", retries=RETRIES, retry_delay_seconds=backoff(), retry_jitter_factor=RETRY_JITTER,
    retry_condition_fn=retry_on_transient, cache_policy=NONE,
)
def open_connection(
    block: SyncConnection,
    *,
    name: str,
    procedure: str,
    entities: list[str],
    dry_run: bool,
    enable_sync: bool = False,
    replacing_org: str | None = None,
) -> SyncContext:
    """Log in, check production↔production / sandbox↔sandbox and one ERP company per CRM org; record the pairing.

    The pairing records in both systems are read before anything is written (a pair either contradicts is
    refused, whichever state store the other connection used) and written on the pair's first run (not in a
    dry run). The run itself is recorded by :func:`begin_run`, once the connection's lock is held.

    Args:
        block: the connection block.
        name: the connection's name (the block's name).
        procedure: the flow's name, recorded with the run.
        entities: the entities the run will sync.
        dry_run: report what would change, write nothing (no run is recorded).
        enable_sync: record now as the time sync was enabled, unless it already was (initial import).
        replacing_org: the org a sandbox refresh replaces: the ERP account's pairing may still name it (the
            refresh's dry run, which moves nothing).

    Returns:
        The run's context (no run recorded yet: ``run_id`` is ``None``).
    """
    started_at = utc_now()
    erp_account = block.erp.account_id
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="tandem-open") as pool:
        # The ERP client (its WSDL), the state store (its schema) and the mappings are made while Salesforce is
        # logged in to; each is taken where it was needed before, so the first failure is reported as it was.
        erp_ready = _started(pool, block.erp.get_client)
        store_ready = _started(pool, block.store.get_engine)
        mappings_ready = _started(pool, block.mapping_set_for_run)
        crm = block.crm_credentials.get_client()
        erp, store = erp_ready.result(), store_ready.result()
        org_id, org_is_sandbox = crm.organization()
        check_environments(
            block.environment, crm_org_id=org_id, crm_is_sandbox=org_is_sandbox,
            erp_account=erp_account, erp_is_sandbox=block.erp.is_sandbox,
        )
        mappings = mappings_ready.result()
    require_org_metadata(crm, mappings, entities)  # the org has every object, field and access needed
    # The pairing recorded in the systems, read before anything is written: the org's first (it refuses
    # an org paired elsewhere before the ERP is asked anything), then the account's.
    pair = {"name": name, "crm_org_id": org_id, "erp_account": erp_account}
    # A HubSpot portal holds no pairing record (custom objects are not on every HubSpot tier): the ERP account's
    # record and the state store keep its pairing.
    pairs_in_crm = block.salesforce is not None
    crm_pairing = read_side(crm, "crm", org_id) if pairs_in_crm else SideRecords("crm", None, ())
    check_crm_side(crm_pairing, **pair)
    connection = register_connection(store, environment=block.environment, **pair)
    _check_fields(mappings, entities, crm, erp)
    erp_pairing = read_side(erp, "erp", erp_account)
    check_erp_side(erp_pairing, **pair, also=frozenset({replacing_org} if replacing_org else ()))
    if not dry_run:
        record_pairing(crm if pairs_in_crm else None, erp, crm_pairing, erp_pairing, environment=block.environment,
                       now=started_at, **pair)
    connection_id = require_id(connection)
    enabled_at = connection.sync_enabled_at
    if enable_sync and enabled_at is None:
        # A dry run reports as if sync were enabled now, without recording it.
        enabled_at = started_at if dry_run else _enable(store, connection_id, started_at)
    context = SyncContext(
        connection_id=connection_id, store=store, crm=crm, erp=erp, mappings=mappings,
        started_at=started_at, dry_run=dry_run, sync_enabled_at=enabled_at,
        templates={"task": {"Subject": block.options.activity_subject_template}},
        conflict_policies=block.options.conflict_policies, default_conflict_policy=block.options.conflict_policy,
    )
    return context


def begin_run(context: SyncContext, procedure: str, entities: list[str], *, flow_run_id: str) -> SyncContext:
    """Record the run in the state store (call it holding the connection's lock); a dry run records nothing.

    Runs of the connection still marked running died without finishing (the lock was free for this one):
    they are marked crashed first, saying when and by whom they were found.

    Returns:
        The context with the recorded run's id.
    """
    if context.dry_run:
        return context
    with session_scope(context.store) as session:
        crashed = mark_crashed_runs(session, context.connection_id, found_by=flow_run_id)
        run = start_run(session, context.connection_id, procedure, flow_run_id=flow_run_id, entities=entities)
    for dead in crashed:
        log.warning("run %s (%s, flow run %s) had crashed: marked crashed", dead.id, dead.procedure, dead.flow_run_id)
    return replace(context, run_id=run.id)


def _started(pool: ThreadPoolExecutor, make: Callable[[], T]) -> Future[T]:
    """``make()`` started on ``pool`` in the caller's context (its log lines belong to the same run)."""
    return pool.submit(contextvars.copy_context().run, make)


#: What the systems answer for an object or record type they do not have.
UNKNOWN_OBJECT_CODES = frozenset({"NOT_FOUND", "INVALID_TYPE", "UNKNOWN_RECORD_TYPE", "INVALID_RECORD_TYPE"})


def _check_fields(mappings: MappingSet, entities: list[str], crm: RecordAdapter, erp: RecordAdapter) -> None:
    """Check the run's mappings against both systems' own field lists before anything is written."""
    selected = [mappings.entity(name) for name in entities]
    catalog: dict[tuple[str, str], AbstractSet[str]] = {}
    for entity in selected:
        for side, adapter, name in (("crm", crm, entity.crm_object), ("erp", erp, entity.erp_type)):
            try:
                catalog[(side, name)] = adapter.field_names(name)
            except SyncError as exc:
                if exc.code not in UNKNOWN_OBJECT_CODES:
                    raise
    check_fields_exist(mappings.model_copy(update={"entities": {e.name: e for e in selected}}), catalog)


def _enable(store: Engine, connection_id: int, when: datetime) -> datetime:
    """Record ``when`` as the moment sync was enabled on the connection."""
    with session_scope(store) as session:
        update_connection(session, connection_id, sync_enabled_at=when, enabled=True)
    return when
