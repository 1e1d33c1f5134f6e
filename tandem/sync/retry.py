"""Retry chosen failed records of one entity: select them, push them through the entity's own passes, and
tell how each one ended (the engine of the retry-records flow; no Prefect here).

Records are read by id on their side and pushed through :class:`tandem.sync.entity_pass.EntityPass` page by
page, exactly as the incremental sync retries the records that failed before (every direction the entity
syncs, the watermarks left where they are). Afterwards each record's binding says how it ended.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from tandem.mapping import Direction
from tandem.status.failures import MAX_LIMIT, FailingRecord, failing_records
from tandem.store import session_scope
from tandem.store.bindings import CONFLICT_HELD, bindings_by_ids
from tandem.store.tables import Binding, BindingStatus, Side
from tandem.sync.context import Route, SyncContext
from tandem.sync.entity_pass import EntityPass, PassResult

#: The most records one run retries (the rest wait for the next run, or the incremental sync).
MAX_RECORDS = MAX_LIMIT


class Outcome(StrEnum):
    """How a record named for a retry ended."""

    SYNCED = "synced"
    STILL_FAILING = "still failing"
    NOT_FOUND = "not found"
    NOT_FAILING = "not failing"
    HELD = "held conflict"
    EXCLUDED = "excluded"
    WOULD_RETRY = "would retry"
    NOT_RETRIED = "not retried"


@dataclass(frozen=True)
class RecordOutcome:
    """One record's outcome: ids, codes and a sentence, never field values.

    Attributes:
        entity: the entity.
        side: the system whose record it is (``crm``, ``erp``; ``both`` for a held conflict).
        record_id: its id there.
        outcome: see :class:`Outcome`.
        error_code: the error's code, when it still fails.
        detail: the outcome in a sentence.
    """

    entity: str
    side: str
    record_id: str
    outcome: Outcome
    error_code: str | None = None
    detail: str = ""

    def row(self) -> dict[str, object]:
        """The outcome as a row of the artifact and of the flow's return value."""
        return {
            "entity": self.entity, "side": self.side, "record id": self.record_id, "outcome": self.outcome.value,
            "error code": self.error_code or "", "detail": self.detail,
        }


@dataclass
class Selection:
    """The records a run retries, and the outcomes settled without a retry.

    Attributes:
        records: the failing records to retry.
        settled: outcomes known without a retry: ids not failing, unknown ids, held conflicts.
        truncated: more records fail than one run retries.
    """

    records: list[FailingRecord] = field(default_factory=list)
    settled: list[RecordOutcome] = field(default_factory=list)
    truncated: bool = False


@dataclass
class BatchResult:
    """What retrying one batch did: each record's outcome and the passes' counts."""

    outcomes: list[RecordOutcome] = field(default_factory=list)
    result: PassResult = field(default_factory=PassResult)


def side_name(record: FailingRecord) -> str:
    """The record's side as the outcomes table shows it (``both`` for a held conflict)."""
    return record.side.value if record.side is not None else "both"


def _held(record: FailingRecord) -> RecordOutcome:
    return RecordOutcome(
        record.entity, side_name(record), record.record_id, Outcome.HELD, CONFLICT_HELD,
        "changed in both systems and held for a person: run resolve-conflicts to keep one side",
    )


def select_records(context: SyncContext, entity: str, record_ids: Sequence[str]) -> Selection:
    """The entity's records to retry: those of ``record_ids`` that fail now, or every failing one when empty.

    Held conflicts are not retried (a person settles them); ids that do not fail are reported as such.

    Args:
        context: the run's context.
        entity: the entity.
        record_ids: CRM or ERP ids of the entity's records; empty for every failing record of the entity.

    Raises:
        ValueError: more ids than one run retries.
    """
    ids = list(dict.fromkeys(str(i).strip() for i in record_ids if str(i).strip()))
    if len(ids) > MAX_RECORDS:
        raise ValueError(f"{len(ids)} record ids: one run retries at most {MAX_RECORDS}")
    selection = Selection()
    named: set[str] = set()
    others: dict[str, Binding] = {}
    with session_scope(context.store, write=False) as session:
        if not ids:
            listing = failing_records(session.connection(), context.connection_id, entities=[entity],
                                      limit=MAX_RECORDS)
            failing, selection.truncated = listing.records, listing.truncated
        else:
            failing = failing_records(session.connection(), context.connection_id, entities=[entity], ids=ids,
                                      limit=2 * len(ids)).records
            named = {i for r in failing for i in (r.crm_id, r.erp_id) if i is not None}
            rest = [i for i in ids if i not in named]
            others = {
                **bindings_by_ids(session, context.connection_id, entity, Side.ERP, rest),
                **bindings_by_ids(session, context.connection_id, entity, Side.CRM, rest),
            }
    for record in failing:
        if record.error_code == CONFLICT_HELD:
            selection.settled.append(_held(record))
        else:
            selection.records.append(record)
    for record_id in ids:
        if record_id in others:
            status = others[record_id].status.value
            side = Side.CRM if others[record_id].crm_id == record_id else Side.ERP
            selection.settled.append(RecordOutcome(entity, side.value, record_id, Outcome.NOT_FAILING,
                                                   detail=f"not failing: its sync status is {status}"))
        elif record_id not in named:
            selection.settled.append(RecordOutcome(
                entity, "", record_id, Outcome.NOT_FOUND,
                detail=f"the sync of {entity} knows no record with this id (neither a {context.crm.system} nor an ERP "
                "id)",
            ))
    return selection


def retry_failed(
    context: SyncContext, entity: str, records: Sequence[FailingRecord], *, job_id: int | None
) -> BatchResult:
    """Read the records by id and push them through the entity's passes; then tell each one's outcome.

    Every direction the entity syncs is run, ERP → CRM first, with the records' ids on its source side (as
    the incremental sync retries failed records); pages are written as the passes write them (no watermark
    moves). A dry run writes nothing and says which records would be retried.
    """
    mapping = context.mappings.entity(entity)
    batch = BatchResult()
    read: dict[Side, set[str]] = {Side.CRM: set(), Side.ERP: set()}
    routes = [Route.of(mapping, d) for d in (Direction.TO_CRM, Direction.TO_ERP) if mapping.direction.includes(d)]
    for route in routes:
        ids = [i for i in (r.id_on(route.source_side) for r in records) if i is not None]
        entity_pass = EntityPass(context, route, job_id=job_id)
        for start in range(0, len(ids), context.page_size):
            frame = route.read_by_ids(context, route.source_side, ids[start : start + context.page_size],
                                      entity_pass.read_fields())
            read[route.source_side].update(frame["id"].astype(str))
            if len(frame):
                batch.result.absorb(entity_pass.run_page(frame, advance=False))
    now: dict[Side, dict[str, Binding]] = {Side.CRM: {}, Side.ERP: {}}
    if not context.dry_run:
        with session_scope(context.store, write=False) as session:
            for side in now:
                ids = [i for i in (r.id_on(side) for r in records) if i is not None]
                now[side] = bindings_by_ids(session, context.connection_id, entity, side, ids)
    sources = {route.source_side for route in routes}
    systems = {Side.CRM: context.crm.system, Side.ERP: "ERP"}
    batch.outcomes = [_outcome(record, sources, read, now, systems, dry_run=context.dry_run) for record in records]
    return batch


def _outcome(
    record: FailingRecord,
    sources: set[Side],
    read: dict[Side, set[str]],
    now: dict[Side, dict[str, Binding]],
    systems: dict[Side, str],
    *,
    dry_run: bool,
) -> RecordOutcome:
    def outcome(what: Outcome, detail: str, code: str | None = None) -> RecordOutcome:
        return RecordOutcome(record.entity, side_name(record), record.record_id, what, code, detail)

    sides = [record.side] if record.side is not None else [s for s in (Side.CRM, Side.ERP) if record.id_on(s)]
    if not any(side in sources for side in sides):
        system = systems[sides[0]] if sides else "either"
        return outcome(Outcome.NOT_RETRIED, f"{record.entity} no longer syncs from the {system} side")
    if not any(record.id_on(side) in read[side] for side in sides):
        system = systems[sides[0]] if len(sides) == 1 else f"{systems[Side.CRM]} or the ERP"
        return outcome(Outcome.NOT_FOUND, f"the record no longer exists in {system}")
    if dry_run:
        return outcome(Outcome.WOULD_RETRY, "found: a run that is not a dry run retries it")
    side = sides[0]
    binding = now[side].get(str(record.id_on(side)))
    if binding is None or binding.status is BindingStatus.FAILED:
        code = binding.error_code if binding is not None else record.error_code
        message = binding.error_message if binding is not None else record.error_message
        return outcome(Outcome.STILL_FAILING, message or "", code)
    if binding.status is BindingStatus.SYNCED:
        partner = binding.erp_id if side is Side.CRM else binding.crm_id
        return outcome(Outcome.SYNCED, f"in step with {systems[Side.ERP if side is Side.CRM else Side.CRM]} "
                                       f"record {partner}")
    if binding.status is BindingStatus.EXCLUDED:
        return outcome(Outcome.EXCLUDED, f"excluded by the rule: {binding.error_message or binding.error_code}")
    return outcome(Outcome.NOT_FAILING, f"its sync status is now {binding.status.value}")
