"""Coupling by hand and by match: bind chosen pairs of existing records, or the pairs the match keys propose, and
undo a coupling (the engine of ``tandem couple`` / ``tandem uncouple`` and the couple-records flow; no Prefect).

A pair is checked before anything is written, a batch at a time: both ids are of the entity's object or record
type, both records exist (read through the adapters), neither is coupled already (on either side) and no other
Salesforce record holds the ERP record's link key. A refused pair is reported with its reason and the others
are coupled. Coupling writes only the binding, marked *pending* (:data:`COUPLED_BY_HAND`): the next sync run
(incremental or full) reads the pair by id and writes it in the entity's direction — the whole record, since
the binding has no field digests yet (ERP → CRM first for a two-way entity, as the passes run).

Uncoupling leaves two halves, each *excluded* with :data:`UNCOUPLED`: neither record travels, and neither is
coupled again by its link or match keys until a person couples it (by hand, or by match when asked).
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlmodel import Session

from tandem.errors import SyncError
from tandem.mapping import Direction, EntityMapping, MappingError
from tandem.store import session_scope
from tandem.store.bindings import BindingRecord, bindings_by_ids, upsert_bindings
from tandem.store.tables import Binding, BindingStatus, Side
from tandem.store.types import utc_now
from tandem.sync.codes import SyncCode
from tandem.sync.context import Route, SyncContext
from tandem.sync.coupling import Match, MatchIndex

log = logging.getLogger(__name__)

_TABLE: sa.Table = Binding.__table__  # type: ignore[attr-defined]
#: The error code of a binding coupled by a person and not synced yet (the next run syncs it).
COUPLED_BY_HAND = SyncCode.COUPLED_BY_HAND
#: The error code of the halves of a binding a person uncoupled (neither record travels until coupled again).
UNCOUPLED = SyncCode.UNCOUPLED
#: Pairs per batch (a task run of the couple-records flow; one read per side and batch).
BATCH_SIZE = 200
#: The CSV columns of a file of pairs.
CSV_COLUMNS = ("crm_id", "erp_id")
#: The error codes an adapter answers for a record type that is not a searchable record (skipped when probing).
_NOT_A_TYPE = frozenset({"INVALID_RCRD_TYPE", "INVALID_KEY_FIELD", "INVALID_TYPE", "NOT_FOUND"})


class UnknownEntityError(ValueError):
    """The entity is not in the connection's mapping set (or not enabled on it)."""


@dataclass(frozen=True)
class Pair:
    """A Salesforce record and an ERP record to couple.

    Attributes:
        crm_id: the Salesforce record id.
        erp_id: the ERP record's internal id.
    """

    crm_id: str
    erp_id: str


@dataclass(frozen=True)
class Refusal:
    """A pair (or a record) that was not coupled or uncoupled, and why (ids only, never field values)."""

    crm_id: str | None
    erp_id: str | None
    reason: str

    def line(self) -> str:
        """The refusal as one line: the ids and the reason."""
        ids = ", ".join(f"{name} {value}" for name, value in (("crm", self.crm_id), ("erp", self.erp_id)) if value)
        return f"{ids}: {self.reason}"


@dataclass(frozen=True)
class Proposal:
    """A pair the match keys propose.

    Attributes:
        crm_id: the Salesforce record.
        erp_id: the ERP record.
        rank: the match-key group that found it, 1 for the mapping's first (its priority).
        fields: that group's field pairs, ``CRM field = ERP field``.
    """

    crm_id: str
    erp_id: str
    rank: int
    fields: tuple[str, ...]

    @property
    def pair(self) -> Pair:
        """The proposal as a pair to couple."""
        return Pair(self.crm_id, self.erp_id)


@dataclass
class CouplingResult:
    """What a batch of couplings did.

    Attributes:
        coupled: pairs bound now (pending: the next run syncs them).
        unchanged: pairs that were coupled with each other already (nothing to do).
        refused: pairs refused, with the reason.
    """

    coupled: list[Pair] = field(default_factory=list)
    unchanged: list[Pair] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)

    def absorb(self, other: CouplingResult) -> None:
        """Add another batch's result to this one."""
        self.coupled += other.coupled
        self.unchanged += other.unchanged
        self.refused += other.refused


@dataclass
class MatchPreview:
    """The pairs match-based coupling proposes, and the records it leaves alone (counts only).

    Attributes:
        proposals: the proposed pairs, by priority (the match-key group's rank), then Salesforce id.
        unmatched: uncoupled source records no match-key group finds a partner for.
        ambiguous: records whose keys find several partners, or whose partner several records find.
        partner_coupled: records whose partner is coupled with another record already.
        source_side: the side whose records were looked up on the other.
    """

    proposals: list[Proposal] = field(default_factory=list)
    unmatched: int = 0
    ambiguous: int = 0
    partner_coupled: int = 0
    source_side: Side = Side.CRM


def entity_of(context: SyncContext, name: str, enabled: Sequence[str] | None = None) -> EntityMapping:
    """The entity ``name`` of the connection's mapping set.

    Raises:
        UnknownEntityError: no such entity, or (``enabled`` given) not enabled on the connection.
    """
    try:
        entity = context.mappings.entity(name)
    except MappingError:
        raise UnknownEntityError(
            f"unknown entity {name!r}; the mapping set has: {', '.join(context.mappings.entities)}"
        ) from None
    if enabled is not None and name not in enabled:
        raise UnknownEntityError(f"the entity {name!r} is not enabled on this connection")
    return entity


def read_pairs_csv(path: Path) -> list[Pair]:
    """The pairs of a CSV file with the columns ``crm_id`` and ``erp_id`` (a header line, then one pair a line).

    Raises:
        ValueError: the file lacks a column or a line lacks an id (the message names the line).
    """
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: the header must name the columns crm_id,erp_id (missing: {', '.join(missing)})")
        pairs: list[Pair] = []
        for row in reader:
            crm_id, erp_id = (str(row.get(c) or "").strip() for c in CSV_COLUMNS)
            if not crm_id and not erp_id:
                continue
            if not crm_id or not erp_id:
                raise ValueError(f"{path}, line {reader.line_num}: both crm_id and erp_id are needed")
            pairs.append(Pair(crm_id, erp_id))
    return pairs


def batches(pairs: Sequence[Pair], size: int = BATCH_SIZE) -> Iterator[list[Pair]]:
    """The pairs, ``size`` at a time."""
    for start in range(0, len(pairs), max(size, 1)):
        yield list(pairs[start : start + size])


def couple_pairs(context: SyncContext, entity: EntityMapping, pairs: Sequence[Pair]) -> CouplingResult:
    """Check a batch of pairs and bind those that pass (pending: the next run syncs them); idempotent.

    Args:
        context: the connection's context (its adapters and state store); a dry run checks and writes nothing.
        entity: the entity the records belong to.
        pairs: the pairs (at most a few hundred: one read per side).

    Returns:
        The pairs coupled, those coupled with each other already, and those refused with their reason.
    """
    result = CouplingResult()
    pairs = _distinct(context, entity, pairs, result)
    pairs = _of_the_right_object(context, entity, pairs, result)
    if not pairs:
        return result
    with session_scope(context.store, write=False) as session:
        by_crm = bindings_by_ids(session, context.connection_id, entity.name, Side.CRM, [p.crm_id for p in pairs])
        by_erp = bindings_by_ids(session, context.connection_id, entity.name, Side.ERP, [p.erp_id for p in pairs])
    pairs = _not_coupled(pairs, by_crm, by_erp, result)
    links = _existing(context, entity, pairs, result)
    pairs = [p for p in pairs if p in links]
    if pairs and not context.dry_run:
        _bind(context, entity, pairs, links, by_crm, by_erp)
    result.coupled += pairs
    log.info("%s: %d pairs coupled by hand%s, %d coupled already, %d refused", entity.name, len(pairs),
             " (dry run: nothing written)" if context.dry_run else "", len(result.unchanged), len(result.refused))
    return result


def _a(noun: str) -> str:
    """``noun`` with its indefinite article (an Account, a customer)."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _distinct(context: SyncContext, entity: EntityMapping, pairs: Sequence[Pair], result: CouplingResult) -> list[Pair]:
    """The pairs (their ids in the form bindings hold) less repeats; a record named in two different pairs refuses
    both."""
    unique = list(dict.fromkeys(
        Pair(context.crm.canonical_id(entity.crm_object, p.crm_id.strip()),
             context.erp.canonical_id(entity.erp_type, p.erp_id.strip())) for p in pairs))
    crm_count: dict[str, int] = {}
    erp_count: dict[str, int] = {}
    for p in unique:
        crm_count[p.crm_id] = crm_count.get(p.crm_id, 0) + 1
        erp_count[p.erp_id] = erp_count.get(p.erp_id, 0) + 1
    kept: list[Pair] = []
    for p in unique:
        if not p.crm_id or not p.erp_id:
            result.refused.append(Refusal(p.crm_id or None, p.erp_id or None, "both a crm id and an erp id are needed"))
        elif crm_count[p.crm_id] > 1:
            result.refused.append(Refusal(p.crm_id, p.erp_id, "the Salesforce record is named in several pairs"))
        elif erp_count[p.erp_id] > 1:
            result.refused.append(Refusal(p.crm_id, p.erp_id, "the ERP record is named in several pairs"))
        else:
            kept.append(p)
    return kept


def _of_the_right_object(
    context: SyncContext, entity: EntityMapping, pairs: list[Pair], result: CouplingResult
) -> list[Pair]:
    """The pairs whose CRM id is shaped as an id of the entity's object (a refusal names the mapped object it is
    shaped as, when it is one)."""
    if not pairs:
        return pairs
    crm = context.crm
    others = list(dict.fromkeys(e.crm_object for e in context.mappings.entities.values()
                                if e.crm_object != entity.crm_object))
    kept: list[Pair] = []
    for p in pairs:
        if crm.is_record_id(entity.crm_object, p.crm_id):
            kept.append(p)
            continue
        kind = next((name for name in others if crm.is_record_id(name, p.crm_id)), None)
        reason = (f"the {crm.system} record is not {_a(entity.crm_object)}: {p.crm_id} is {_a(kind)}" if kind
                  else f"not {_a(entity.crm_object)} id in {crm.system}: {p.crm_id}")
        result.refused.append(Refusal(p.crm_id, p.erp_id, reason))
    return kept


def _not_coupled(
    pairs: list[Pair], by_crm: dict[str, Binding], by_erp: dict[str, Binding], result: CouplingResult
) -> list[Pair]:
    """The pairs neither of whose records is coupled (pairs coupled with each other already are ``unchanged``)."""
    kept: list[Pair] = []
    for p in pairs:
        crm_partner = by_crm[p.crm_id].erp_id if p.crm_id in by_crm else None
        erp_partner = by_erp[p.erp_id].crm_id if p.erp_id in by_erp else None
        if crm_partner == p.erp_id and erp_partner == p.crm_id:
            result.unchanged.append(p)
        elif crm_partner is not None:
            result.refused.append(Refusal(p.crm_id, p.erp_id, f"the Salesforce record is already coupled with ERP "
                                                              f"record {crm_partner}: uncouple it first"))
        elif erp_partner is not None:
            result.refused.append(Refusal(p.crm_id, p.erp_id, f"the ERP record is already coupled with Salesforce "
                                                              f"record {erp_partner}: uncouple it first"))
        else:
            kept.append(p)
    return kept


def _existing(
    context: SyncContext, entity: EntityMapping, pairs: list[Pair], result: CouplingResult
) -> dict[Pair, str]:
    """Read both sides: the pairs whose records exist, with the link key the binding keeps (the ERP externalId).

    Refused: a record that does not exist (an ERP id of another record type is named as such), an ERP record
    without an externalId (Tandem writes ERP records by it), and an ERP record whose externalId another Salesforce
    record holds in its link field (the write would clash with that record's unique key).
    """
    if not pairs:
        return {}
    route = match_route(entity)
    crm_link, erp_link = route.link_field(context, Side.CRM), route.link_field(context, Side.ERP)
    crm = context.crm.read_by_ids(entity.crm_object, [p.crm_id for p in pairs], fields=[crm_link])
    crm_found = {str(i) for i in crm["id"]} if len(crm) else set()
    erp = context.erp.read_by_ids(entity.erp_type, [p.erp_id for p in pairs], fields=[erp_link])
    erp_links = _column(erp, erp_link)
    others = _other_types(context, entity, [p.erp_id for p in pairs if p.erp_id not in erp_links])
    holders = _link_holders(context, entity, crm_link, [link for link in erp_links.values() if link])
    links: dict[Pair, str] = {}
    for p in pairs:
        if p.crm_id not in crm_found:
            result.refused.append(Refusal(p.crm_id, p.erp_id, f"no {entity.crm_object} with this id in "
                                                              f"{context.crm.system} (deleted, or never there)"))
        elif p.erp_id not in erp_links:
            kind = others.get(p.erp_id)
            reason = (f"the ERP record is not {_a(entity.erp_type)}: internal id {p.erp_id} is {_a(kind)}" if kind
                      else f"no {entity.erp_type} with internal id {p.erp_id} in the ERP (deleted, or never there)")
            result.refused.append(Refusal(p.crm_id, p.erp_id, reason))
        elif not erp_links[p.erp_id]:
            result.refused.append(Refusal(p.crm_id, p.erp_id, f"the ERP record has no {erp_link} (Tandem writes ERP "
                                                              "records by it): give it one in the ERP first"))
        elif holders.get(erp_links[p.erp_id], p.crm_id) != p.crm_id:
            result.refused.append(Refusal(
                p.crm_id, p.erp_id, f"{context.crm.system} record {holders[erp_links[p.erp_id]]} holds this ERP "
                f"record's {erp_link} in {crm_link}: clear it there, or couple that record",
            ))
        else:
            links[p] = erp_links[p.erp_id]
    return links


def _column(frame: pd.DataFrame, name: str) -> dict[str, str]:
    """``{id: value}`` of a read (an empty text for a missing value)."""
    if not len(frame):
        return {}
    values = frame[name] if name in frame else pd.Series([None] * len(frame))
    return {str(i): ("" if v is None or v != v else str(v).strip()) for i, v in zip(frame["id"], values, strict=True)}


def _other_types(context: SyncContext, entity: EntityMapping, ids: list[str]) -> dict[str, str]:
    """For ERP ids not found as the entity's record type: the mapped record type each one is (to name it)."""
    found: dict[str, str] = {}
    types = dict.fromkeys(e.erp_type for e in context.mappings.entities.values() if e.erp_type != entity.erp_type)
    for record_type in types:
        rest = [i for i in ids if i not in found]
        if not rest:
            break
        try:
            frame = context.erp.read_by_ids(record_type, rest, fields=[])
        except SyncError as exc:
            if exc.code not in _NOT_A_TYPE:
                raise
            continue
        for record_id in frame["id"].astype(str) if len(frame) else []:
            found.setdefault(record_id, record_type)
    return found


def _link_holders(context: SyncContext, entity: EntityMapping, link_field: str, links: list[str]) -> dict[str, str]:
    """The CRM records of the entity's object that hold these link keys in their link field."""
    if not links:
        return {}
    frame = context.crm.read_by_keys(entity.crm_object, link_field, links, fields=[])
    return {link: record_id for record_id, link in _column(frame, link_field).items() if link}


def _bind(
    context: SyncContext,
    entity: EntityMapping,
    pairs: list[Pair],
    links: dict[Pair, str],
    by_crm: dict[str, Binding],
    by_erp: dict[str, Binding],
) -> None:
    """Archive what the records' bindings held (uncoupled or excluded halves, failures) and bind the pairs anew,
    pending, without hashes: the next run writes each pair whole."""
    earlier = [b.id for p in pairs for b in (by_crm.get(p.crm_id), by_erp.get(p.erp_id)) if b is not None]
    records = [
        BindingRecord(crm_id=p.crm_id, erp_id=p.erp_id, external_id=links[p], status=BindingStatus.PENDING,
                      error_code=COUPLED_BY_HAND, error_message="coupled by hand: the next sync run writes it")
        for p in pairs
    ]
    with session_scope(context.store) as session:
        _archive_rows(session, [i for i in earlier if i is not None])
        upsert_bindings(session, context.connection_id, entity.name, records, key=Side.CRM)


def _archive_rows(session: Session, row_ids: list[int]) -> None:
    """Archive bindings by their row ids (history only)."""
    if row_ids:
        session.exec(sa.update(_TABLE).where(_TABLE.c.id.in_(row_ids)).values(archived=True, updated_at=utc_now()))


def pending_coupled_ids(session: Session, connection_id: int, entity: str, side: Side) -> list[str]:
    """The ``side`` ids of pairs coupled by hand and not synced yet (a sync pass reads them by id)."""
    column = _TABLE.c.crm_id if side is Side.CRM else _TABLE.c.erp_id
    statement = sa.select(column).where(
        _TABLE.c.connection_id == connection_id, _TABLE.c.entity == entity, _TABLE.c.archived.is_(False),
        _TABLE.c.status == BindingStatus.PENDING, _TABLE.c.error_code == COUPLED_BY_HAND,
        _TABLE.c.crm_id.is_not(None), _TABLE.c.erp_id.is_not(None),
    )
    return [str(value) for value in session.connection().execute(statement).scalars()]


def match_route(entity: EntityMapping) -> Route:
    """The route whose target side the match index reads: the ERP's records are looked up in Salesforce for an
    entity that travels to the CRM only, Salesforce's in the ERP otherwise."""
    return Route.of(entity, Direction.TO_CRM if entity.direction is Direction.TO_CRM else Direction.TO_ERP)


def propose_matches(context: SyncContext, entity: EntityMapping) -> MatchPreview:
    """The pairs the entity's match keys propose among records coupled with nothing, by priority.

    The source records are read page by page and looked up group by group in a
    :class:`tandem.sync.coupling.MatchIndex` (as a full pass: a target of at most its whole-read limit is read
    once, a larger one is looked up page by page) (the mapping's order: the first group that finds wins). A
    source record whose keys find several targets, or a target several sources find, is left out (ambiguous);
    so is one whose partner is coupled already. Records coupled already are not looked up.

    Raises:
        UnknownEntityError: the entity has no match keys.
    """
    if not entity.match_keys:
        raise UnknownEntityError(f"the entity {entity.name!r} has no match_keys in its mapping: couple it by hand")
    route = match_route(entity)
    index = MatchIndex(route)
    preview = MatchPreview(source_side=route.source_side)
    found: dict[str, tuple[str, Match]] = {}
    by_target: dict[str, int] = {}
    for page in route.source_adapter(context).read_changed_since(
        route.source_object, None, fields=index.source_fields, page_size=context.page_size
    ):
        rows = page.astype(object).where(page.notna(), None).to_dict("records")
        ids = [str(row["id"]) for row in rows]
        with session_scope(context.store, write=False) as session:
            bound = bindings_by_ids(session, context.connection_id, entity.name, route.source_side, ids)
        unbound = [(source_id, row) for source_id, row in zip(ids, rows, strict=True)
                   if not _coupled(bound.get(source_id), route.source_side)]
        index.look_up(context, [row for _, row in unbound], full=True)
        for source_id, row in unbound:
            match = index.find(row)
            if match.ambiguous:
                preview.ambiguous += 1
            elif match.target_id is None:
                preview.unmatched += 1
            else:
                found[source_id] = (match.target_id, match)
                by_target[match.target_id] = by_target.get(match.target_id, 0) + 1
    with session_scope(context.store, write=False) as session:
        holders = bindings_by_ids(session, context.connection_id, entity.name, route.target_side,
                                  list(by_target))
    for source_id, (target_id, match) in found.items():
        holder = holders.get(target_id)
        if by_target[target_id] > 1:
            preview.ambiguous += 1
        elif holder is not None and (holder.crm_id if route.target_side is Side.ERP else holder.erp_id):
            preview.partner_coupled += 1
        else:
            crm_id, erp_id = (source_id, target_id) if route.source_side is Side.CRM else (target_id, source_id)
            group = entity.match_keys[match.group or 0]
            preview.proposals.append(
                Proposal(crm_id, erp_id, (match.group or 0) + 1, tuple(f"{k.crm} = {k.erp}" for k in group))
            )
    preview.proposals.sort(key=lambda p: (p.rank, p.crm_id))
    log.info("%s: match keys propose %d pairs (%d unmatched, %d ambiguous, %d partners coupled already)",
             entity.name, len(preview.proposals), preview.unmatched, preview.ambiguous, preview.partner_coupled)
    return preview


def _coupled(binding: Binding | None, side: Side) -> bool:
    """Whether a ``side`` record's binding couples it with a partner."""
    return binding is not None and bool(binding.erp_id if side is Side.CRM else binding.crm_id)


@dataclass
class UncouplingResult:
    """What uncoupling did: the pairs uncoupled, and the ids refused with their reason."""

    uncoupled: list[Pair] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)


def uncouple(context: SyncContext, entity: EntityMapping, side: Side, ids: Sequence[str]) -> UncouplingResult:
    """Remove the couplings of these records (named by their ``side`` id): neither record of a pair travels again,
    nor is coupled again by its link or match keys, until a person couples it (by hand, or by match when asked).

    The binding is archived (history) and each record keeps an *excluded* half with :data:`UNCOUPLED`; the
    Salesforce record's link field (``ERP_Id__c``) is cleared, so that its ERP partner's key may be given to
    another record. A dry run checks and writes nothing.
    """
    result = UncouplingResult()
    wanted = list(dict.fromkeys(str(i).strip() for i in ids if str(i).strip()))
    adapter, record_type = (context.crm, entity.crm_object) if side is Side.CRM else (context.erp, entity.erp_type)
    wanted = [adapter.canonical_id(record_type, i) for i in wanted]
    with session_scope(context.store, write=False) as session:
        bound = bindings_by_ids(session, context.connection_id, entity.name, side, wanted)
    system = context.crm.system if side is Side.CRM else "ERP"
    pairs: list[tuple[Pair, Binding]] = []
    for record_id in wanted:
        binding = bound.get(record_id)
        if binding is None or binding.crm_id is None or binding.erp_id is None:
            crm_id, erp_id = (record_id, None) if side is Side.CRM else (None, record_id)
            result.refused.append(Refusal(crm_id, erp_id, f"the {system} record is not coupled ({entity.name})"))
        else:
            pairs.append((Pair(binding.crm_id, binding.erp_id), binding))
    if pairs and not context.dry_run:
        crm_link = match_route(entity).link_field(context, Side.CRM)
        cleared = context.crm.update_batch(entity.crm_object, [{"id": p.crm_id, crm_link: None} for p, _ in pairs])
        failed = {r.key for r in cleared if not r.ok}
        if failed:
            log.warning("%s: %d %s link keys could not be cleared", entity.name, len(failed), context.crm.system)
        when = utc_now()
        message = f"uncoupled by hand on {when:%Y-%m-%d %H:%M} UTC: not synced until coupled again"
        halves = [BindingRecord(crm_id=p.crm_id, status=BindingStatus.EXCLUDED, error_code=UNCOUPLED,
                                error_message=message) for p, _ in pairs]
        erp_halves = [BindingRecord(erp_id=p.erp_id, status=BindingStatus.EXCLUDED, error_code=UNCOUPLED,
                                    error_message=message) for p, _ in pairs]
        with session_scope(context.store) as session:
            _archive_rows(session, [b.id for _, b in pairs if b.id is not None])
            upsert_bindings(session, context.connection_id, entity.name, halves, key=Side.CRM)
            upsert_bindings(session, context.connection_id, entity.name, erp_halves, key=Side.ERP)
    result.uncoupled = [p for p, _ in pairs]
    log.info("%s: %d pairs uncoupled%s, %d refused", entity.name, len(result.uncoupled),
             " (dry run: nothing written)" if context.dry_run else "", len(result.refused))
    return result
