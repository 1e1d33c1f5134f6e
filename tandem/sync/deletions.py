"""The deletion sweep: records deleted on one side, and what each entity's deletion policy does about them.

Deletions are read per side for a window (Salesforce's ``deleted/`` keeps 15 days, the ERP's
``getDeleted`` a range). When that cannot be trusted to cover everything since the last sweep (no sweep
yet, the last one older than the window, or the system reporting deletions only from a later time), the
side is reconciled instead: every id the system has is read and compared with the bindings, so no
deletion is missed silently. Then, for each coupled record deleted on one side:

- ``delete``: its partner on the other side is deleted too;
- ``unlink``: only the coupling is removed; the partner stays and no longer syncs (``excluded``);
- ``restore``: the record is created again from its partner (when the entity syncs that way).

Sweeping twice deletes nothing more: a settled binding is archived (or no longer holds the deleted id).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from tandem.adapter import RecordAdapter
from tandem.mapping import DeletionPolicy, Direction, EntityMapping
from tandem.store import session_scope
from tandem.store.bindings import (
    UNLINKED,
    archive_deleted,
    bindings_by_ids,
    bound_ids,
    detach_side,
    pending_restores,
)
from tandem.store.runs import JobCounts, RecordErrorEntry, add_record_errors
from tandem.store.tables import Binding, BindingStatus, JobState, Side
from tandem.sync.context import Route, SyncContext
from tandem.sync.entity_pass import EntityPass
from tandem.sync.jobs import JobReport, recorded_job

log = logging.getLogger(__name__)

#: How far back Salesforce reports deletions.
DELETION_WINDOW = timedelta(days=15)
_SYSTEM = {Side.CRM: "Salesforce", Side.ERP: "the ERP"}


def _other(side: Side) -> Side:
    return Side.ERP if side is Side.CRM else Side.CRM


def _object(entity: EntityMapping, side: Side) -> str:
    return entity.crm_object if side is Side.CRM else entity.erp_type


def _adapter(context: SyncContext, side: Side) -> RecordAdapter:
    return context.crm if side is Side.CRM else context.erp


def deleted_ids(
    context: SyncContext, entity: EntityMapping, side: Side, *, since: datetime, last_sweep: datetime | None
) -> tuple[set[str], str | None]:
    """The ids of ``entity``'s records deleted on ``side``, and why a reconcile was needed (``None``: the window).

    Args:
        context: the run's context.
        entity: the entity.
        side: the system to ask.
        since: the window's start (the window ends when the run started).
        last_sweep: when the last successful sweep started (``None``: never).
    """
    if last_sweep is None:
        reason = "no earlier deletion sweep"
    elif last_sweep < since:
        reason = f"the last sweep ({last_sweep:%Y-%m-%d %H:%M} UTC) is older than the window"
    else:
        window = _adapter(context, side).read_deleted_since(_object(entity, side), since, context.started_at)
        earliest = window.earliest_available
        if earliest is None or earliest <= last_sweep:
            return {record.id for record in window.records}, None
        reason = f"{_SYSTEM[side]} reports deletions only from {earliest:%Y-%m-%d %H:%M} UTC, after the last sweep"
    log.info("%s %s: reconciling all ids (%s)", entity.name, side.value, reason)
    return _missing_ids(context, entity, side), reason


def _missing_ids(context: SyncContext, entity: EntityMapping, side: Side) -> set[str]:
    """Bound ids of ``side`` that the system no longer has (every id is read: a reconcile)."""
    present: set[str] = set()
    for page in _adapter(context, side).read_changed_since(
        _object(entity, side), None, fields=[], page_size=context.page_size
    ):
        present.update(page["id"].astype(str))
    missing: set[str] = set()
    after = ""
    while True:
        with session_scope(context.store, write=False) as session:
            ids = bound_ids(session, context.connection_id, entity.name, side, after=after)
        if not ids:
            return missing
        missing.update(i for i in ids if i not in present)
        after = ids[-1]


def sweep_entity(
    context: SyncContext, entity_name: str, *, window: timedelta, last_sweep: datetime | None
) -> JobReport:
    """Apply the entity's deletion policy to the coupled records deleted on either side.

    Args:
        context: the run's context (a dry run counts what it would do and changes nothing).
        entity_name: the entity.
        window: how far back deletions are read.
        last_sweep: when the last successful sweep started (``None``: never).

    Returns:
        The job's report: ``deleted`` partners deleted, ``inserted`` records restored, ``failed``; the
        details say how many deletions each side reported, how many couplings were removed, and how each
        side was read (the window, or a reconcile and why).
    """
    entity = context.mappings.entity(entity_name)
    since = context.started_at - window
    found = {side: deleted_ids(context, entity, side, since=since, last_sweep=last_sweep) for side in Side}
    counts = JobCounts()
    unlinked = 0
    errors: list[RecordErrorEntry] = []
    with recorded_job(context, entity_name) as job:
        for side in Side:
            with session_scope(context.store, write=False) as session:
                bound = bindings_by_ids(session, context.connection_id, entity.name, side, found[side][0])
            gone, alive = _split(bound.values(), side, found[_other(side)][0])
            if gone and not context.dry_run:
                with session_scope(context.store) as session:
                    archive_deleted(session, context.connection_id, entity.name, side, gone)
            policy = _policy(entity, side)
            if policy is DeletionPolicy.DELETE:
                deleted, failed = _delete_partners(context, entity, side, alive, errors)
                counts += JobCounts(deleted=deleted, failed=failed)
            elif policy is DeletionPolicy.UNLINK:
                unlinked += _unlink(context, entity, side, alive)
            else:
                with session_scope(context.store, write=False) as session:
                    unfinished = pending_restores(session, context.connection_id, entity.name, side)
                counts += _restore(context, entity, side, alive, unfinished, job.id)
        if errors and context.run_id is not None:
            with session_scope(context.store) as session:
                add_record_errors(session, context.run_id, errors, job_id=job.id)
        job.counts = counts
    how = {side: "window" if reason is None else f"reconciled: {reason}" for side, (_, reason) in found.items()}
    return JobReport(
        entity=entity_name, state=JobState.SUCCEEDED, counts=counts, failures=errors[:50],
        details={
            "deleted in crm": len(found[Side.CRM][0]), "deleted in erp": len(found[Side.ERP][0]),
            "couplings removed": unlinked, "crm read": how[Side.CRM], "erp read": how[Side.ERP],
        },
    )


def _split(bindings: Iterable[Binding], side: Side, partners_deleted: set[str]) -> tuple[list[str], list[Binding]]:
    """Split the bindings of records deleted on ``side``: ids whose partner is gone too, and the rest."""
    gone: list[str] = []
    alive: list[Binding] = []
    for binding in bindings:
        partner = binding.erp_id if side is Side.CRM else binding.crm_id
        if partner is None or partner in partners_deleted:
            gone.append(str(binding.crm_id if side is Side.CRM else binding.erp_id))
        else:
            alive.append(binding)
    return gone, alive


def _policy(entity: EntityMapping, side: Side) -> DeletionPolicy:
    """The policy for a deletion on ``side``: a deletion never travels against the entity's direction, and a
    record is restored only where the entity syncs to; otherwise the coupling is removed."""
    towards_partner = Direction.TO_ERP if side is Side.CRM else Direction.TO_CRM
    towards_deleted = Direction.TO_CRM if side is Side.CRM else Direction.TO_ERP
    if entity.deletion is DeletionPolicy.DELETE and entity.direction.includes(towards_partner):
        return DeletionPolicy.DELETE
    if entity.deletion is DeletionPolicy.RESTORE and entity.direction.includes(towards_deleted):
        return DeletionPolicy.RESTORE
    return DeletionPolicy.UNLINK


def _ids(bindings: list[Binding], side: Side) -> list[str]:
    return [str(b.crm_id if side is Side.CRM else b.erp_id) for b in bindings]


def _delete_partners(
    context: SyncContext, entity: EntityMapping, side: Side, alive: list[Binding], errors: list[RecordErrorEntry]
) -> tuple[int, int]:
    """Delete the partners of records deleted on ``side``; return (deleted, failed)."""
    if not alive or context.dry_run:
        return len(alive), 0
    other = _other(side)
    results = _adapter(context, other).delete_batch(_object(entity, other), _ids(alive, other))
    done = [key for key, result in zip(_ids(alive, side), results, strict=True) if result.ok]
    for result in results:
        if not result.ok:
            errors.append(
                RecordErrorEntry(
                    entity.name, other, result.key, result.error_code or "UNKNOWN", result.error_message or ""
                )
            )
    with session_scope(context.store) as session:
        archive_deleted(session, context.connection_id, entity.name, side, done)
    log.info("%s: deleted %d %s partners of records deleted in %s", entity.name, len(done), other.value, side.value)
    return len(done), len(results) - len(done)


def _unlink(context: SyncContext, entity: EntityMapping, side: Side, alive: list[Binding]) -> int:
    """Remove the couplings of records deleted on ``side``; their partners stay and no longer sync."""
    if not alive or context.dry_run:
        return len(alive)
    message = f"its {_SYSTEM[side]} partner was deleted; the coupling was removed (deletion policy)"
    with session_scope(context.store) as session:
        return detach_side(
            session, context.connection_id, entity.name, side, _ids(alive, side),
            status=BindingStatus.EXCLUDED, error_code=UNLINKED, error_message=message,
        )


def _restore(
    context: SyncContext, entity: EntityMapping, side: Side, alive: list[Binding], unfinished: list[str],
    job_id: int | None,
) -> JobCounts:
    """Create the records deleted on ``side`` again from their partners (written as new records).

    ``unfinished`` are partners of restores an earlier sweep started but did not finish: they are
    written again (the bindings are detached first, so a sweep that fails half way is resumed by the next).
    """
    if context.dry_run:
        return JobCounts(inserted=len(alive) + len(unfinished))
    partners = [*_ids(alive, _other(side)), *unfinished]
    if not partners:
        return JobCounts()
    with session_scope(context.store) as session:
        detach_side(session, context.connection_id, entity.name, side, _ids(alive, side), status=BindingStatus.PENDING)
    route = Route.of(entity, Direction.TO_CRM if side is Side.CRM else Direction.TO_ERP)
    return EntityPass(context, route, job_id=job_id, force=True).run_ids(partners).counts
