"""Deletions: records deleted on one side, and what each entity's deletion policy does about them.

Two procedures apply them. Every incremental run reads the deletions since each side's deletion watermark
(:func:`incremental_deletions`: one call per entity and side, latency one schedule interval); the daily
deletion sweep (:func:`sweep_entity`) is the safety net that reconciles what a window could not cover.

For the sweep, deletions are read per side for a window (Salesforce's ``deleted/`` keeps 15 days, the ERP's
``getDeleted`` a range). When that cannot be trusted to cover everything since the last sweep (no sweep
yet, the last one older than the window, or the system reporting deletions only from a later time), the
side is reconciled instead: every id the system has is read and compared with the bindings, so no
deletion is missed silently. Then, for each coupled record deleted on one side:

- ``delete``: its partner on the other side is deleted too;
- ``unlink``: only the coupling is removed; the partner stays and no longer syncs (``excluded``);
- ``restore``: the record is created again from its partner (when the entity syncs that way).

Sweeping twice deletes nothing more: a settled binding is archived (or no longer holds the deleted id).
Both procedures apply deletions through :func:`apply_deletions`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

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
from tandem.store.watermarks import advance_deletion_watermark, get_deletion_watermark, get_watermark
from tandem.sync.codes import SyncCode
from tandem.sync.context import Route, SyncContext
from tandem.sync.entity_pass import FAILURE_SAMPLE, EntityPass, PassResult

if TYPE_CHECKING:
    from tandem.sync.jobs import JobReport

log = logging.getLogger(__name__)

#: How far back Salesforce reports deletions.
DELETION_WINDOW = timedelta(days=15)
_WAY = {Direction.TO_CRM: "ERP → Salesforce", Direction.TO_ERP: "Salesforce → ERP"}
#: The incremental run's deletion figures, in the order its counts table shows them.
_DETAIL_ORDER = ["deleted in crm", "deleted in erp", "couplings removed", "crm deletions read", "erp deletions read"]


def _other(side: Side) -> Side:
    return Side.ERP if side is Side.CRM else Side.CRM


def _object(entity: EntityMapping, side: Side) -> str:
    return entity.crm_object if side is Side.CRM else entity.erp_type


def _system(context: SyncContext, side: Side) -> str:
    """How messages name ``side``'s system: the CRM's own name, or the ERP."""
    return context.crm.system if side is Side.CRM else "the ERP"


def _adapter(context: SyncContext, side: Side) -> RecordAdapter:
    return context.adapter(side)


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
        reason = (f"{_system(context, side)} reports deletions only from {earliest:%Y-%m-%d %H:%M} UTC, "
                  "after the last sweep")
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
    from tandem.sync.jobs import JobReport, recorded_job  # the jobs module runs deletions in incremental jobs

    entity = context.mappings.entity(entity_name)
    since = context.started_at - window
    found = {side: deleted_ids(context, entity, side, since=since, last_sweep=last_sweep) for side in Side}
    result = PassResult()
    unlinked = 0
    with recorded_job(context, entity_name) as job:
        for side in Side:
            applied, removed = apply_deletions(context, entity, side, found[side][0], found[_other(side)][0], job.id)
            result.absorb(applied)
            unlinked += removed
        job.counts = result.counts
    how = {side: "window" if reason is None else f"reconciled: {reason}" for side, (_, reason) in found.items()}
    return JobReport(
        entity=entity_name, state=JobState.SUCCEEDED, counts=result.counts, failures=result.failures,
        details={
            "deleted in crm": len(found[Side.CRM][0]), "deleted in erp": len(found[Side.ERP][0]),
            "couplings removed": unlinked, "crm read": how[Side.CRM], "erp read": how[Side.ERP],
        },
    )


def apply_deletions(
    context: SyncContext, entity: EntityMapping, side: Side, deleted: set[str], partners_deleted: set[str],
    job_id: int | None,
) -> tuple[PassResult, int]:
    """Apply ``entity``'s deletion policy to its coupled records deleted on ``side`` (the sweep's and the
    incremental sync's one way of doing it).

    A binding whose partner is gone too (``partners_deleted``, or never had one) is only archived; for the
    others, the policy (see :func:`_policy`) deletes the partner, removes the coupling, or restores the record
    from its partner. Ids without an active binding are ignored, so applying the same deletions twice does
    nothing more. Failed deletes become the run's record errors (of ``job_id``'s job).

    Args:
        context: the run's context (a dry run counts what it would do and changes nothing).
        entity: the entity.
        side: the system the records were deleted in.
        deleted: their ids.
        partners_deleted: ids deleted on the other side (as far as they were read; empty when not read).
        job_id: the job the record errors belong to (``None`` in a dry run).

    Returns:
        What was done (``deleted`` partners, ``inserted`` restored records, ``failed`` and the first
        failures), and how many couplings were removed.
    """
    with session_scope(context.store, write=False) as session:
        bound = bindings_by_ids(session, context.connection_id, entity.name, side, deleted)
    gone, alive = _split(bound.values(), side, partners_deleted)
    if gone and not context.dry_run:
        with session_scope(context.store) as session:
            archive_deleted(session, context.connection_id, entity.name, side, gone)
    policy = _policy(entity, side)
    if policy is DeletionPolicy.DELETE:
        errors: list[RecordErrorEntry] = []
        done, failed = _delete_partners(context, entity, side, alive, errors)
        if errors and context.run_id is not None:
            with session_scope(context.store) as session:
                add_record_errors(session, context.run_id, errors, job_id=job_id)
        return PassResult(counts=JobCounts(deleted=done, failed=failed), failures=errors[:FAILURE_SAMPLE]), 0
    if policy is DeletionPolicy.UNLINK:
        return PassResult(), _unlink(context, entity, side, alive)
    with session_scope(context.store, write=False) as session:
        unfinished = pending_restores(session, context.connection_id, entity.name, side)
    return _restore(context, entity, side, alive, unfinished, job_id), 0


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
                    entity.name, other, result.key, result.error_code or SyncCode.UNKNOWN, result.error_message or ""
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
    message = f"its {_system(context, side)} partner was deleted; the coupling was removed (deletion policy)"
    with session_scope(context.store) as session:
        return detach_side(
            session, context.connection_id, entity.name, side, _ids(alive, side),
            status=BindingStatus.EXCLUDED, error_code=UNLINKED, error_message=message,
        )


def _restore(
    context: SyncContext, entity: EntityMapping, side: Side, alive: list[Binding], unfinished: list[str],
    job_id: int | None,
) -> PassResult:
    """Create the records deleted on ``side`` again from their partners (written as new records).

    ``unfinished`` are partners of restores an earlier run started but did not finish: they are
    written again (the bindings are detached first, so a run that fails half way is resumed by the next).
    """
    if context.dry_run:
        return PassResult(counts=JobCounts(inserted=len(alive) + len(unfinished)))
    partners = [*_ids(alive, _other(side)), *unfinished]
    if not partners:
        return PassResult()
    with session_scope(context.store) as session:
        detach_side(session, context.connection_id, entity.name, side, _ids(alive, side), status=BindingStatus.PENDING)
    route = Route.of(entity, Direction.TO_CRM if side is Side.CRM else Direction.TO_ERP)
    return EntityPass(context, route, job_id=job_id, force=True).run_ids(partners)


# -- deletions in every incremental run ---------------------------------------------------------------


@dataclass
class IncrementalDeletions:
    """What an incremental run did with one entity's deletions.

    Attributes:
        result: ``deleted`` partners deleted, ``inserted`` records restored, ``failed``, the first failures.
        details: for the run's counts table: deletions found per side, couplings removed, and how each side
            was read (its window, not read and why, or left to the deletion sweep and why).
    """

    result: PassResult = field(default_factory=PassResult)
    details: dict[str, object] = field(default_factory=dict)


@dataclass
class _SideRead:
    """One side's deletions as an incremental run read them, and where its deletion watermark goes next."""

    ids: set[str] = field(default_factory=set)
    how: str = "window"
    advance_to: datetime | None = None


def acting_direction(entity: EntityMapping, side: Side) -> Direction:
    """The way a deletion on ``side`` acts under ``entity``'s policy: the runs going that way apply it.

    A delete goes to the partner's system, a restore comes back from it; removing a coupling writes
    nothing, so it goes with the runs that carry ``side``'s changes to the partner (or, for an entity
    that only syncs into ``side``, with the runs that would otherwise write to the deleted record).
    """
    away = Direction.TO_ERP if side is Side.CRM else Direction.TO_CRM
    towards = Direction.TO_CRM if side is Side.CRM else Direction.TO_ERP
    policy = _policy(entity, side)
    if policy is DeletionPolicy.DELETE:
        return away
    if policy is DeletionPolicy.RESTORE:
        return towards
    return away if entity.direction.includes(away) else towards


def incremental_deletions(
    context: SyncContext, entity_name: str, directions: tuple[Direction, ...], *, job_id: int | None
) -> IncrementalDeletions:
    """Read ``entity_name``'s deletions since each side's deletion watermark and apply its deletion policy.

    A side is read when the run goes the way its deletions act (:func:`acting_direction`): an ERP → Salesforce
    run applies ERP deletions to Salesforce, a Salesforce → ERP run Salesforce deletions to the ERP, a run
    both ways both. One deleted-records call per side (Salesforce ``deleted/``, ERP ``getDeleted``, paged),
    from the deletion watermark (the first time: from the entity's change watermark of that side) to the
    run's start. Where that window cannot cover the time since the watermark (older than 15 days, or the
    system reporting deletions only from a later time), or there is no watermark at all, the earlier
    deletions are left to the deletion sweep (the details say so) and the side is read from this run on;
    nothing is reconciled here. The watermark moves only after the deletions were applied and committed; a
    deletion that failed is a record error, and the sweep tries it again. A dry run reads and counts, and
    changes nothing (no watermark moves).

    Args:
        context: the run's context.
        entity_name: the entity.
        directions: the ways this run moves the entity's records (already limited to the entity's own).
        job_id: the job record errors belong to (``None`` in a dry run).

    Returns:
        What was done, and the details for the run's counts table.
    """
    entity = context.mappings.entity(entity_name)
    reads: dict[Side, _SideRead] = {}
    details: dict[str, object] = {}
    for side in Side:
        way = acting_direction(entity, side)
        if way in directions:
            reads[side] = _read_side(context, entity, side)
        else:
            details[f"{side.value} deletions read"] = (
                f"not read: {_system(context, side)} deletions go with {_WAY[way]} runs"
            )
    outcome = IncrementalDeletions()
    unlinked = 0
    for side, read in reads.items():
        other = reads.get(_other(side))
        applied, removed = apply_deletions(
            context, entity, side, read.ids, other.ids if other is not None else set(), job_id
        )
        outcome.result.absorb(applied)
        unlinked += removed
        details[f"{side.value} deletions read"] = read.how
    moves = {side: read.advance_to for side, read in reads.items() if read.advance_to is not None}
    if moves and not context.dry_run:
        with session_scope(context.store) as session:
            for side, value in moves.items():
                advance_deletion_watermark(session, context.connection_id, entity.name, side, value)
    for side in Side:
        details[f"deleted in {side.value}"] = len(reads[side].ids) if side in reads else 0
    details["couplings removed"] = unlinked
    outcome.details = dict(sorted(details.items(), key=lambda item: _DETAIL_ORDER.index(item[0])))
    if reads:
        log.info(
            "%s: deletions read from %s; %d partners deleted, %d restored, %d couplings removed, %d failed",
            entity.name, "/".join(side.value for side in reads), outcome.result.counts.deleted,
            outcome.result.counts.inserted, unlinked, outcome.result.counts.failed,
        )
    return outcome


def _read_side(context: SyncContext, entity: EntityMapping, side: Side) -> _SideRead:
    """Read ``side``'s deletions of ``entity`` since its deletion watermark (one call), or say why not."""
    with session_scope(context.store, write=False) as session:
        mark = get_deletion_watermark(session, context.connection_id, entity.name, side)
        first = mark is None
        if mark is None:
            mark = get_watermark(session, context.connection_id, entity.name, side)
    end = context.started_at
    # A system that counts deletions in whole units (Salesforce: minutes, up to the unit its own clock is in) is
    # read again from the last unit next time: a clock a little behind ours must not make a deletion fall between
    # two reads (a deletion read twice is settled once: its binding is archived).
    step = _adapter(context, side).deletion_granularity
    next_mark = _floor(end, step) - step if step else end
    if mark is None:
        return _SideRead(how="left to the sweep: nothing read on this side yet; read from this run on",
                         advance_to=next_mark)
    if mark < end - DELETION_WINDOW:
        return _SideRead(
            how=f"left to the sweep: {'the change' if first else 'the deletion'} watermark "
            f"({mark:%Y-%m-%d %H:%M} UTC) is older than the {DELETION_WINDOW.days}-day window; read from this run on",
            advance_to=next_mark,
        )
    if step and _floor(mark, step) >= _floor(end, step):
        # The system needs a window of one unit at least: nothing to read yet, read from here next time.
        return _SideRead(how=f"window (under {_unit(step)}: read next run)", advance_to=mark if first else None)
    window = _adapter(context, side).read_deleted_since(_object(entity, side), mark, end)
    ids = {record.id for record in window.records}
    earliest = window.earliest_available
    if earliest is not None and earliest > mark:
        return _SideRead(
            ids=ids, advance_to=next_mark,
            how=f"window from {earliest:%Y-%m-%d %H:%M} UTC ({_system(context, side)} reports deletions only from "
            "then): earlier ones left to the sweep",
        )
    return _SideRead(ids=ids, how="window", advance_to=next_mark)


def _floor(moment: datetime, step: timedelta) -> datetime:
    """``moment`` rounded down to a whole ``step`` (a minute: the minute it is in)."""
    return moment - (moment - datetime.min.replace(tzinfo=moment.tzinfo)) % step


def _unit(step: timedelta) -> str:
    return "a minute" if step == timedelta(minutes=1) else f"{step.total_seconds():g} s"
