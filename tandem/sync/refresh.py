"""The sandbox refresh procedure's steps (after Sage Intacct's Advanced CRM Integration runbook).

After a Salesforce sandbox is refreshed from its source org it has a new org id and a copy of the source's
records, among them ERP transactions (sales orders, invoices, contracts) that belong to another ERP account.
The procedure: check → clear subscription data → cancel the subscription → resubscribe → reconfigure →
delete transactions → resync (the full sync, coupling what exists on both sides). Each step here is
idempotent: run again after a failure, it finishes what is left and changes nothing already done. In a
dry run each step reports what it would do and changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from tandem.adapter import RecordAdapter
from tandem.errors import FatalSyncError, RetryableSyncError
from tandem.mapping import MappingSet
from tandem.store import count_by_status, session_scope, update_connection
from tandem.store.bindings import archive_bindings
from tandem.store.refreshes import complete_step, rebind_org, set_aside_watermarks
from tandem.store.types import utc_now
from tandem.store.watermarks import list_deletion_watermarks, list_watermarks
from tandem.sync.context import CrmAdapter
from tandem.sync.pairing import move_pairing

log = logging.getLogger(__name__)

#: The steps, in order (their names label the run's artifacts and the refresh's record in the store).
STEPS = (
    "check", "clear-subscription-data", "cancel-subscription", "resubscribe", "reconfigure",
    "delete-transactions", "resync",
)
#: Per-record delete failures worth trying again (a locked row, a limit); others stop the step.
TRANSIENT_DELETE_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE"})
#: How many ids a step's table lists per object (the counts cover all of them).
IDS_SHOWN = 50


class RefreshRefusedError(FatalSyncError):
    """The procedure may not run (a production connection, no confirmation, nothing refreshed): nothing was touched."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="REFRESH_REFUSED", system="tandem")


@dataclass
class StepOutcome:
    """What one step did (or, in a dry run, would do).

    Attributes:
        step: the step's name (see :data:`STEPS`).
        state: ``done``, ``done before`` (finished by an earlier run), or ``dry run``.
        summary: the step in a sentence.
        rows: one row per object or entity: what was deleted, kept, matched and created, with ids.
    """

    step: str
    state: str
    summary: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        """The step's counts summed over its rows (``failed``: records that did not sync, the resync's)."""
        names = ("deleted", "kept", "matched", "created", "failed")
        return {name: sum(int(row.get(name, 0) or 0) for row in self.rows) for name in names}


@dataclass(frozen=True)
class RefreshScope:
    """What the steps work on.

    Attributes:
        store: the state store.
        crm: the refreshed sandbox's adapter.
        mappings: the connection's mapping set (its transactional entities are cleared and re-created).
        connection_id: the connection.
        refresh_id: the refresh in the store (``None`` in a dry run).
        org_id: the refreshed sandbox's org id.
        dry_run: report, change nothing.
        erp: the ERP account's adapter (its pairing record moves to the refreshed org).
        erp_account: the ERP account's id.
        connection: the connection's name (recorded with the pairing).
        environment: the connection's environment (``sandbox``).
    """

    store: Engine
    crm: CrmAdapter
    mappings: MappingSet
    connection_id: int
    refresh_id: int | None
    org_id: str
    dry_run: bool
    erp: RecordAdapter
    erp_account: str
    connection: str
    environment: str

    def record(self, outcome: StepOutcome) -> StepOutcome:
        """Store that the step finished (not in a dry run) and return it."""
        if not self.dry_run and self.refresh_id is not None:
            with session_scope(self.store) as session:
                complete_step(session, self.refresh_id, outcome.step, outcome.totals())
        return outcome


def transactional_objects(mappings: MappingSet) -> list[tuple[str, str, str]]:
    """``(entity, CRM object, link field)`` of the entities that show ERP transactions in the CRM."""
    return [(e.name, e.crm_object, e.crm_key) for e in mappings.entities.values() if e.transactional]


def reference_objects(mappings: MappingSet) -> list[str]:
    """The CRM objects of every other entity: reference and master data a refresh keeps."""
    transactional = {crm_object for _, crm_object, _ in transactional_objects(mappings)}
    return sorted({e.crm_object for e in mappings.entities.values()} - transactional)


def _transaction_ids(scope: RefreshScope, crm_object: str, link_field: str, *, linked_only: bool) -> list[str]:
    """The ids of the CRM's records of ``crm_object`` (only those holding an ERP link, when ``linked_only``)."""
    ids: list[str] = []
    for page in scope.crm.read_changed_since(crm_object, None, fields=[link_field], page_size=2000):
        if linked_only:
            page = page[page[link_field].notna() & (page[link_field].astype(str).str.strip() != "")]
        ids.extend(page["id"].astype(str))
    return ids


def _delete(scope: RefreshScope, crm_object: str, ids: list[str]) -> None:
    """Delete ``ids`` (already deleted counts as done); fail the step if any record could not be deleted."""
    failed = [r for r in scope.crm.delete_batch(crm_object, ids) if not r.ok]
    if failed:
        codes = sorted({str(r.error_code) for r in failed})
        sample = ", ".join(r.key for r in failed[:10])
        message = f"{len(failed)} {crm_object} records could not be deleted ({', '.join(codes)}): {sample}"
        error = RetryableSyncError if set(codes) <= TRANSIENT_DELETE_CODES else FatalSyncError
        raise error(message, code="DELETE_FAILED", system="crm")


def _delete_transactions(scope: RefreshScope, step: str, *, linked_only: bool) -> StepOutcome:
    rows: list[dict[str, Any]] = []
    for entity, crm_object, link_field in transactional_objects(scope.mappings):
        ids = _transaction_ids(scope, crm_object, link_field, linked_only=linked_only)
        if ids and not scope.dry_run:
            _delete(scope, crm_object, ids)
        rows.append({"entity": entity, "object": crm_object, "deleted": len(ids), "kept": 0, "matched": 0,
                     "created": 0, "ids": ", ".join(ids[:IDS_SHOWN])})
    return StepOutcome(step, "dry run" if scope.dry_run else "done", "", rows)


def clear_subscription_data(scope: RefreshScope) -> StepOutcome:
    """Delete the ERP transactions shown in the CRM sandbox (records holding an ERP link); keep the rest.

    Reference data (payment terms, locations, currencies ...) and master data (accounts, contacts) stay:
    the resync couples them instead of creating them again.
    """
    outcome = _delete_transactions(scope, "clear-subscription-data", linked_only=True)
    for crm_object in reference_objects(scope.mappings):
        outcome.rows.append({"entity": "", "object": crm_object, "deleted": 0, "kept": scope.crm.count(crm_object),
                             "matched": 0, "created": 0, "ids": ""})
    deleted = outcome.totals()["deleted"]
    verb = "would delete" if scope.dry_run else "deleted"
    outcome.summary = f"{verb} {deleted} ERP transactions shown in the CRM; kept the reference and master data"
    log.info("clear subscription data: %s %d transactions", verb, deleted)
    return scope.record(outcome)


def cancel_subscription(scope: RefreshScope) -> StepOutcome:
    """Turn the connection off (scheduled runs leave it alone), archive its bindings, set its watermarks aside."""
    if scope.dry_run:
        with session_scope(scope.store, write=False) as session:
            bindings = sum(count_by_status(session, scope.connection_id).values())
            watermarks = len(list_watermarks(session, scope.connection_id)) + len(
                list_deletion_watermarks(session, scope.connection_id))
        verb = "would archive"
    else:
        with session_scope(scope.store) as session:
            update_connection(session, scope.connection_id, enabled=False)
            bindings = archive_bindings(session, scope.connection_id)
            assert scope.refresh_id is not None
            watermarks = set_aside_watermarks(session, scope.refresh_id)
        verb = "archived"
    summary = (f"sync turned off on the connection; {verb} {bindings} bindings and {watermarks} watermarks "
               "(kept for audit, no longer used)")
    log.info("cancel subscription: %s %d bindings, %d watermarks", verb, bindings, watermarks)
    state = "dry run" if scope.dry_run else "done"
    return scope.record(StepOutcome("cancel-subscription", state, summary, [
        {"object": "bindings", "archived": bindings}, {"object": "watermarks", "archived": watermarks},
    ]))


def resubscribe(scope: RefreshScope, previous_org_id: str) -> StepOutcome:
    """Bind the connection to the refreshed sandbox's org id, with the same integration user (the same block), and
    move the pairing recorded in the systems: release the previous org's (the ERP account's record naming it, and
    the copies of the source org's records the refresh brought into the sandbox), record the refreshed org's."""
    released, recorded = move_pairing(
        scope.crm, scope.erp, previous_org_id=previous_org_id, name=scope.connection, environment=scope.environment,
        crm_org_id=scope.org_id, erp_account=scope.erp_account, now=utc_now(), dry_run=scope.dry_run,
    )
    if scope.dry_run:
        summary = f"would bind the connection to org {scope.org_id} (was {previous_org_id})"
    else:
        with session_scope(scope.store) as session:
            changed = rebind_org(session, scope.connection_id, scope.org_id)
        summary = f"bound the connection to org {scope.org_id} (was {previous_org_id})" if changed else \
            f"the connection was bound to org {scope.org_id} already"
    verbs = ("would release", "would record") if scope.dry_run else ("released", "recorded")
    summary += (f"; {verbs[0]} {len(released)} pairing records of the previous org and {verbs[1]} the pairing "
                f"with ERP account {scope.erp_account} in {len(recorded)} systems")
    log.info("resubscribe: %s %d pairing records, %s %d", verbs[0], len(released), verbs[1], len(recorded))
    state = "dry run" if scope.dry_run else "done"
    return scope.record(StepOutcome("resubscribe", state, summary, [
        {"object": "connection", "previous org": previous_org_id, "org": scope.org_id},
        {"object": "pairing", "released": ", ".join(f"{r.side}: {r.crm_org_id} ↔ {r.erp_account}" for r in released),
         "recorded": ", ".join(recorded)},
    ]))


def reconfigure(scope: RefreshScope, saved: dict[str, Any], current_options: dict[str, Any]) -> StepOutcome:
    """Re-apply the options saved before cancelling: the connection's stored options and its sync-enabled time.

    Args:
        scope: the refresh.
        saved: what the refresh set aside (``options``, ``block_options``, ``sync_enabled_at``).
        current_options: the connection block's options now; the resync runs with the saved ones, and any
            difference is reported.
    """
    block_options = dict(saved.get("block_options") or {})
    changed = sorted(k for k in set(block_options) | set(current_options)
                     if block_options.get(k) != current_options.get(k))
    if not scope.dry_run:
        enabled_at = saved.get("sync_enabled_at")
        with session_scope(scope.store) as session:
            update_connection(
                session, scope.connection_id, options=dict(saved.get("options") or {}),
                sync_enabled_at=datetime.fromisoformat(enabled_at) if enabled_at else None,
            )
    verb = "would re-apply" if scope.dry_run else "re-applied"
    summary = f"{verb} the saved options ({', '.join(sorted(block_options)) or 'defaults'}) and sync-enabled time"
    if changed:
        summary += f"; the block's options changed since the refresh began ({', '.join(changed)}): the saved ones apply"
    rows = [{"object": "option", "name": name, "value": str(value)} for name, value in sorted(block_options.items())]
    state = "dry run" if scope.dry_run else "done"
    return scope.record(StepOutcome("reconfigure", state, summary, rows))


def delete_transactions(scope: RefreshScope) -> StepOutcome:
    """Delete the transactions still in the CRM (any left or created since), so the resync cannot duplicate them.

    In a dry run (nothing cleared yet) it lists the transactions the clearing step would leave: those
    without an ERP link.
    """
    outcome = _delete_transactions(scope, "delete-transactions", linked_only=False)
    if scope.dry_run:
        linked = {
            entity: len(_transaction_ids(scope, crm_object, link_field, linked_only=True))
            for entity, crm_object, link_field in transactional_objects(scope.mappings)
        }
        for row in outcome.rows:
            row["deleted"] -= linked[row["entity"]]
            row["ids"] = "(those without an ERP link)" if row["deleted"] else ""
    deleted = outcome.totals()["deleted"]
    verb = "would delete" if scope.dry_run else "deleted"
    outcome.summary = f"{verb} {deleted} transactions still in the CRM"
    log.info("delete transactions: %s %d", verb, deleted)
    return scope.record(outcome)


def resync_rows(reports_rows: list[dict[str, Any]], mappings: MappingSet, *, dry_run: bool) -> list[dict[str, Any]]:
    """The resync's per-entity counts as matched (coupled) and created (inserted) records.

    In a dry run the CRM still holds the transactions the procedure deletes first, so the transactions a
    dry run finds under their link key are counted as created, as the real run will create them. The rest
    of a dry run's counts are what the real run does: it finds the same records by link and match keys,
    counts a pair both directions of a two-way entity find once, and updates a matched record without the
    fields written on create only.
    """
    transactional = {entity for entity, _, _ in transactional_objects(mappings)}
    rows = []
    for row in reports_rows:
        matched, created = int(row.get("coupled", 0) or 0), int(row.get("inserted", 0) or 0)
        if dry_run and row["entity"] in transactional:
            matched, created = 0, matched + created
        rows.append({"entity": row["entity"], "state": row["state"], "deleted": 0, "kept": 0, "matched": matched,
                     "created": created, "modified": row.get("modified", 0), "failed": row.get("failed", 0)})
    return rows
