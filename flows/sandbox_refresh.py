"""Sandbox refresh: after a Salesforce sandbox refresh, clear, resubscribe, reconfigure, resync — no duplicates."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from prefect import State, flow, get_run_logger, runtime
from prefect.artifacts import create_table_artifact
from pydantic import SecretStr

from blocks.connection import ConnectionOptions, SyncConnection
from blocks.store import StateStore
from flows.orchestration import engine_logs_in_prefect, parallel_jobs, run_in_dependency_order, run_outcome
from flows.parameters import ConnectionParameter, connection_name, form_field
from tandem.store.locks import connection_lock
from tandem.store.tables import JobState
from tandem.sync.jobs import JobReport
from tandem.sync.refresh import STEPS, RefreshScope, StepOutcome, resync_rows
from tasks.parameters import untraversed
from tasks.refresh import (
    RefreshCheck,
    RefreshState,
    begin_or_resume,
    check_refresh,
    dry_run_state,
    finish,
    publish_step,
    run_step,
)
from tasks.report import count_rows, publish_report
from tasks.setup import begin_run, open_connection

PROCEDURE = "sandbox-refresh"


@flow(name=PROCEDURE, task_runner=parallel_jobs())
def sandbox_refresh(
    connection: ConnectionParameter = form_field("Connection"),
    confirm_org_id: str = form_field("Confirm the new org id", ""),
    dry_run: bool = form_field("Dry run", False),
) -> State[list[dict[str, object]]]:
    """Bring a sandbox ↔ sandbox connection back in step after its Salesforce sandbox was refreshed.

    The steps, each idempotent (a re-run after any failure resumes the procedure and ends in the same state):

    1. check: a sandbox ↔ sandbox connection whose Salesforce org id changed (refused otherwise, before
       anything is touched);
    2. clear subscription data: delete the ERP transactions shown in the CRM sandbox (sales orders, invoices,
       contracts), keep reference data (payment terms, locations ...) and accounts and contacts;
    3. cancel the subscription: sync off (schedules leave the connection alone), bindings archived, watermarks
       set aside (both kept for audit);
    4. resubscribe: bind the connection to the new org id, with the same integration user; release the previous
       org's pairing recorded in the systems and record the new org's (tandem.sync.pairing.move_pairing);
    5. reconfigure: re-apply the options saved before cancelling;
    6. delete the transactions still in the CRM, so the resync cannot duplicate them;
    7. resync: the full sync, coupling records that exist on both sides (by external id, then by match keys)
       and re-creating the transactions once; then sync is turned back on.

    Args:
        connection: The saved Tandem Sync Connection to refresh (a sandbox connection).
        confirm_org_id: The refreshed sandbox's org id, typed back; required unless this is a dry run.
        dry_run: Report what each step would delete, keep, match and create, and change nothing.

    Returns:
        The final state (Completed, NeedsAttention or Failed); its data is one row per step with its state,
        summary and counts (also the sandbox-refresh-steps artifact).
    """
    logger = get_run_logger()
    block = connection
    name = connection_name(block)
    check = check_refresh(block, name=name, confirm_org_id=confirm_org_id, dry_run=dry_run)
    holder = str(runtime.flow_run.id)
    store = block.store.get_engine()
    lease = timedelta(seconds=block.lock_lease_seconds)
    with engine_logs_in_prefect(), connection_lock(store, check.connection_id, holder=holder, lease=lease):
        state = dry_run_state(block, check) if dry_run else begin_or_resume(block, check, flow_run_id=holder)
        if check.resuming:
            logger.info("resuming the refresh towards org %s; done before: %s", check.org_id, ", ".join(state.done))
        scope = RefreshScope(
            store=store, crm=block.require_salesforce("the sandbox refresh").get_client(),
            mappings=block.mapping_set_for_run(),
            connection_id=check.connection_id, refresh_id=state.refresh_id, org_id=check.org_id, dry_run=dry_run,
            erp=block.erp.get_client(), erp_account=block.erp.account_id, connection=name,
            environment=block.environment,
        )
        outcomes = [_checked(check, state, dry_run)]
        arguments: dict[str, dict[str, object]] = {
            "resubscribe": {"previous_org_id": state.previous_org_id},
            "reconfigure": {"saved": state.saved, "current_options": block.options.model_dump(mode="json")},
        }
        for step in STEPS[1:-1]:
            outcome = _done_before(step, state) or run_step(step, scope, **arguments.get(step, {}))
            publish_step(outcome)
            outcomes.append(outcome)
        saved_block = block.model_copy(update={"options": ConnectionOptions(**state.saved["block_options"])})
        resync, reports = _resync(saved_block, name, scope, state, holder)
        publish_step(resync)
        outcomes.append(resync)
        rows: list[dict[str, object]] = [
            {"step": f"{n}. {o.step}", "state": o.state, **o.totals(), "summary": o.summary}
            for n, o in enumerate(outcomes, start=1)
        ]
        create_table_artifact(rows, key=f"{PROCEDURE}-steps",
                              description=f"{PROCEDURE} of {name} ({'dry run' if dry_run else 'run'})")
    return run_outcome(reports, rows)


def _checked(check: RefreshCheck, state: RefreshState, dry_run: bool) -> StepOutcome:
    summary = (f"sandbox ↔ sandbox; Salesforce org {check.previous_org_id} was refreshed into {check.org_id}"
               + ("; resuming an unfinished refresh" if check.resuming else ""))
    outcome = StepOutcome("check", "dry run" if dry_run else "done", summary,
                          [{"object": "org", "previous org": check.previous_org_id, "org": check.org_id}])
    publish_step(outcome)
    return outcome


def _done_before(step: str, state: RefreshState) -> StepOutcome | None:
    """A step an earlier run of this refresh finished: reported, not run again."""
    if step not in state.done:
        return None
    counts = {k: v for k, v in state.done[step].items() if k != "at"}
    return StepOutcome(step, "done before", f"finished by an earlier run at {state.done[step]['at']}",
                       [{"object": "(earlier run)", **counts}])


def _resync(
    block: SyncConnection, connection: str, scope: RefreshScope, state: RefreshState, holder: str
) -> tuple[StepOutcome, list[JobReport]]:
    """The full sync with the saved options; in a dry run against an empty scratch store (bindings archived)."""
    names = block.enabled_entities()
    enabled_at = state.saved.get("sync_enabled_at")
    if scope.dry_run:
        with tempfile.TemporaryDirectory(prefix="tandem-refresh-") as scratch:
            url = SecretStr(f"sqlite:///{Path(scratch) / 'state.sqlite3'}")
            scratch_block = block.model_copy(update={"store": StateStore(url=url)})
            context = open_connection(scratch_block, name=connection, procedure=PROCEDURE, entities=names,
                                      dry_run=True, replacing_org=state.previous_org_id)
            context = replace(context, sync_enabled_at=datetime.fromisoformat(enabled_at) if enabled_at else None)
            reports = run_in_dependency_order(context, PROCEDURE, names)
            context.store.dispose()
        rows = resync_rows(count_rows(reports), scope.mappings, dry_run=True)
        summary = "would couple {matched} records that exist on both sides and create {created}"
        outcome = StepOutcome("resync", "dry run", "", rows)
        outcome.summary = summary.format(**outcome.totals())
        return outcome, reports
    context = open_connection(block, name=connection, procedure=PROCEDURE, entities=names, dry_run=False)
    context = begin_run(context, PROCEDURE, names, flow_run_id=holder)
    reports = run_in_dependency_order(context, PROCEDURE, names)
    publish_report(untraversed(context), PROCEDURE, reports)
    succeeded = all(r.state is JobState.SUCCEEDED for r in reports)
    outcome = StepOutcome("resync", "done" if succeeded else "failed", "",
                          resync_rows(count_rows(reports), scope.mappings, dry_run=False))
    outcome.summary = "coupled {matched} records that exist on both sides and created {created}".format(
        **outcome.totals())
    if not succeeded:
        outcome.summary += "; some entities did not sync (see sandbox-refresh-counts): run the refresh again"
        return outcome, reports
    return finish(scope, state.saved, outcome), reports
