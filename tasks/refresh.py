"""The sandbox refresh's tasks: the check (touches nothing), beginning or resuming the refresh, and its steps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NONE
from sqlmodel import select

from blocks.connection import SyncConnection
from tandem.store import get_connection, require_id, session_scope, update_connection
from tandem.store.exceptions import ConnectionNotFoundError
from tandem.store.refreshes import begin_refresh, complete_step, finish_refresh, unfinished_refresh
from tandem.store.tables import Connection, Environment, active_predicate
from tandem.sync import refresh
from tandem.sync.pairing import check_crm_side, check_environments, check_erp_side, read_side
from tandem.sync.refresh import RefreshRefusedError, RefreshScope, StepOutcome
from tasks.retry import RETRIES, RETRY_JITTER, backoff, retry_on_transient


@dataclass(frozen=True)
class RefreshCheck:
    """What the check found.

    Attributes:
        connection_id: the connection in the state store.
        previous_org_id: the org id the connection is bound to (before the refresh).
        org_id: the org id the credentials reach now (the refreshed sandbox).
        resuming: an earlier run began this refresh and did not finish it.
    """

    connection_id: int
    previous_org_id: str
    org_id: str
    resuming: bool


@dataclass(frozen=True)
class RefreshState:
    """The refresh being run: its id, what it set aside, and the steps earlier runs finished."""

    refresh_id: int | None
    previous_org_id: str
    saved: dict[str, Any]
    done: dict[str, Any]


@task(
    name="check-refresh", retries=RETRIES, retry_delay_seconds=backoff(), retry_jitter_factor=RETRY_JITTER,
    retry_condition_fn=retry_on_transient, cache_policy=NONE,
)
def check_refresh(block: SyncConnection, *, name: str, confirm_org_id: str, dry_run: bool) -> RefreshCheck:
    """Refuse before anything is touched unless this is a refreshed sandbox ↔ sandbox connection, confirmed.

    Raises:
        RefreshRefusedError: a production connection, no such connection, a sandbox that was not refreshed,
            an org paired elsewhere, or (unless ``dry_run``) a confirmation that is not the sandbox's org id.
        PairingError: either system is not a sandbox, the refreshed org is paired with another ERP account, or
            the ERP account with another org (the pairing recorded in the systems).
    """
    if block.environment != Environment.SANDBOX:
        raise RefreshRefusedError(
            f"connection {name!r} is a production connection: the sandbox refresh runs only on sandbox ↔ sandbox "
            "connections. Nothing was touched."
        )
    crm = block.require_salesforce("the sandbox refresh").get_client()
    org_id, is_sandbox = crm.organization()
    check_environments(block.environment, crm_org_id=org_id, crm_is_sandbox=is_sandbox,
                       erp_account=block.erp.account_id, erp_is_sandbox=block.erp.is_sandbox)
    store = block.store.get_engine()
    with session_scope(store, write=False) as session:
        try:
            connection = get_connection(session, name)
        except ConnectionNotFoundError:
            raise RefreshRefusedError(
                f"the state store has no connection {name!r}: there is nothing to refresh (a new connection starts "
                "with the initial import). Nothing was touched."
            ) from None
        connection_id = require_id(connection)
        under_way = unfinished_refresh(session, connection_id)
        others = session.exec(select(Connection.name).where(
            Connection.crm_org_id == org_id, Connection.name != name, active_predicate(Connection.__table__),  # type: ignore[attr-defined]
        )).all()
    if under_way is not None and under_way.crm_org_id != org_id:
        raise RefreshRefusedError(
            f"a refresh of connection {name!r} towards org {under_way.crm_org_id} is unfinished, but the credentials "
            f"now reach org {org_id}: check that the block points at the intended sandbox. Nothing was touched."
        )
    if under_way is None and connection.crm_org_id == org_id:
        raise RefreshRefusedError(
            f"the sandbox of connection {name!r} was not refreshed: the credentials still reach org {org_id}, the "
            "org the connection is bound to. Nothing to do; nothing was touched."
        )
    if others:
        raise RefreshRefusedError(
            f"org {org_id} is paired with connection {others[0]!r} already (one ERP company per CRM org). "
            "Nothing was touched."
        )
    previous = under_way.previous_crm_org_id if under_way is not None else connection.crm_org_id
    # The pairing recorded in the systems: the refreshed org may hold only its source's copies (or this pair's
    # own record, when resuming); the ERP account's names the previous org (or, resuming, the refreshed one).
    pair = {"name": name, "crm_org_id": org_id, "erp_account": block.erp.account_id}
    check_crm_side(read_side(crm, "crm", org_id), **pair)
    check_erp_side(read_side(block.erp.get_client(), "erp", block.erp.account_id), **pair,
                   also=frozenset({previous}))
    if not dry_run and confirm_org_id.strip() != org_id:
        raise RefreshRefusedError(
            "the sandbox refresh deletes records: type the refreshed sandbox's org id back in confirm_org_id to run "
            f"it (the credentials reach org {org_id}; got {confirm_org_id.strip() or 'nothing'}), or run a dry run "
            "first. Nothing was touched."
        )
    return RefreshCheck(connection_id, previous, org_id, resuming=under_way is not None)


@task(name="begin-refresh", cache_policy=NONE)
def begin_or_resume(block: SyncConnection, check: RefreshCheck, *, flow_run_id: str | None) -> RefreshState:
    """Begin the refresh (saving the connection's settings), or pick up the unfinished one (under the lock)."""
    store = block.store.get_engine()
    with session_scope(store) as session:
        under_way = unfinished_refresh(session, check.connection_id)
        if under_way is None:
            connection = session.get(Connection, check.connection_id)
            assert connection is not None
            under_way = begin_refresh(session, connection, check.org_id,
                                      block_options=block.options.model_dump(mode="json"), flow_run_id=flow_run_id)
            complete_step(session, require_id(under_way), "check", {})
        return RefreshState(require_id(under_way), under_way.previous_crm_org_id, dict(under_way.saved),
                            dict(under_way.steps))


def dry_run_state(block: SyncConnection, check: RefreshCheck) -> RefreshState:
    """What a dry run works from: the connection's settings as they are now, no step done."""
    with session_scope(block.store.get_engine(), write=False) as session:
        connection = session.get(Connection, check.connection_id)
        assert connection is not None
        saved = {
            "options": dict(connection.options), "block_options": block.options.model_dump(mode="json"),
            "enabled": connection.enabled,
            "sync_enabled_at": connection.sync_enabled_at.isoformat() if connection.sync_enabled_at else None,
        }
    return RefreshState(None, check.previous_org_id, saved, {})


STEP_FUNCTIONS: dict[str, Callable[..., StepOutcome]] = {
    "clear-subscription-data": refresh.clear_subscription_data,
    "cancel-subscription": refresh.cancel_subscription,
    "resubscribe": refresh.resubscribe,
    "reconfigure": refresh.reconfigure,
    "delete-transactions": refresh.delete_transactions,
}


@task(
    name="refresh-step", task_run_name="{step}", retries=RETRIES, retry_delay_seconds=backoff(),
    retry_jitter_factor=RETRY_JITTER, retry_condition_fn=retry_on_transient, cache_policy=NONE,
)
def run_step(step: str, scope: RefreshScope, **arguments: Any) -> StepOutcome:
    """Run one step (idempotent: a retry finishes what is left) and record it done."""
    return STEP_FUNCTIONS[step](scope, **arguments)


@task(name="finish-refresh", cache_policy=NONE)
def finish(scope: RefreshScope, saved: dict[str, Any], outcome: StepOutcome) -> StepOutcome:
    """After the resync: record it, turn sync back on as it was before the refresh, close the refresh."""
    assert scope.refresh_id is not None
    scope.record(outcome)
    with session_scope(scope.store) as session:
        update_connection(session, scope.connection_id, enabled=bool(saved.get("enabled", True)))
        finish_refresh(session, scope.refresh_id)
    return outcome


def publish_step(outcome: StepOutcome) -> None:
    """The step's table artifact: per object what was (or would be) deleted, kept, matched and created."""
    rows = outcome.rows or [{"summary": outcome.summary}]
    create_table_artifact(rows, key=f"sandbox-refresh-{outcome.step}",
                          description=f"{outcome.step} ({outcome.state}): {outcome.summary}")
