"""One pass of one entity in one direction: read pages from the source, map, compare with the
bindings, couple (by the exact link first, then by match keys), write batches to the target, record
bindings and the watermark.

Every write is idempotent (upsert by the link key, or update by a known id), so a page that is
repeated after a crash or a retry never duplicates a record. Before a record is written (or held as a
conflict) its target is read as it is now: a target that already holds the values is re-linked (its
binding updated, no write), so a page written by a run that died before recording it is settled by the
next run without a write and without a conflict. A record that fails is stored as failed with its
reason; the rest of its page is written.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import pandas as pd

from tandem.adapter import READ_TOTAL, WriteResult
from tandem.mapper import MappedPage, Mapper
from tandem.mapping import Direction, FieldMap, Filter, referenced_entities
from tandem.redaction import redact
from tandem.store import session_scope
from tandem.store.bindings import (
    CONFLICT_HELD,
    UNLINKED,
    BindingRecord,
    WatermarkAdvance,
    bindings_by_ids,
    failed_ids,
    upsert_bindings,
)
from tandem.store.conflicts import ConflictEntry, record_conflicts
from tandem.store.digests import is_field_digest
from tandem.store.runs import JobCounts, RecordErrorEntry, add_record_errors
from tandem.store.tables import Binding, BindingStatus, Side
from tandem.store.types import utc_now
from tandem.sync.conflicts import HELD, settle
from tandem.sync.context import Route, SyncContext
from tandem.sync.coupling import Match, MatchIndex, holds_values
from tandem.sync.manual_coupling import UNCOUPLED, pending_coupled_ids
from tandem.sync.order_lines import OrderLines, coupled_elsewhere

log = logging.getLogger(__name__)

#: How many failed records (and conflicts) a pass keeps in memory for the run's artifacts (all are in the store).
FAILURE_SAMPLE = 50
#: A Salesforce record id: 15 characters, or 18 with the case-safe suffix.
SALESFORCE_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
#: The error code of bindings a filter keeps out, by the side whose record the filter looked at.
EXCLUDED_CODES = {Side.CRM: "EXCLUDED_IN_CRM", Side.ERP: "EXCLUDED_IN_ERP"}
#: The fields that name a record's own id (a page carries it as ``id``).
RECORD_ID_FIELDS = frozenset({"Id", "internalId"})
#: The only-new rule, as its cards and reports name it.
ONLY_NEW_RULE = "only ERP records created after sync was enabled travel to the CRM"


def excluded_code(side: Side) -> str:
    """The error code of a binding whose ``side`` record a filter keeps out."""
    return EXCLUDED_CODES[side]


@dataclass
class PassResult:
    """What a pass did.

    Attributes:
        counts: records inserted, modified, unchanged, skipped, failed, coupled.
        skipped_values: per target field, values a value map did not sync.
        failures: the first failed records (ids and codes only).
        conflicts: the first conflicts met (ids, times, policy and outcome); both passes of a two-way
            entity meet the same conflict, it is listed once.
        conflict_keys: the (CRM id, ERP id) of every conflict met.
        held_keys: those of the conflicts held for a person (policy ``hold``).
        coupled_keys: the (CRM id, ERP id) of every pair coupled; a pair both passes of a two-way entity
            couple (a dry run, where the first pass records nothing) counts once, the second time as
            unchanged, as in a real run.
        pages: pages read.
    """

    counts: JobCounts = field(default_factory=JobCounts)
    skipped_values: dict[str, int] = field(default_factory=dict)
    failures: list[RecordErrorEntry] = field(default_factory=list)
    conflicts: list[ConflictEntry] = field(default_factory=list)
    conflict_keys: set[tuple[str, str]] = field(default_factory=set)
    held_keys: set[tuple[str, str]] = field(default_factory=set)
    coupled_keys: set[tuple[str, str]] = field(default_factory=set)
    pages: int = 0

    @property
    def conflict_count(self) -> int:
        """How many records were in conflict."""
        return len(self.conflict_keys)

    def absorb(self, other: PassResult) -> None:
        """Add another pass's (or page's) outcome to this one."""
        repeated = len(self.coupled_keys & other.coupled_keys)
        self.counts = self.counts + other.counts
        if repeated:
            self.counts = replace(
                self.counts, coupled=self.counts.coupled - repeated, unchanged=self.counts.unchanged + repeated
            )
        self.coupled_keys |= other.coupled_keys
        for name, count in other.skipped_values.items():
            self.skipped_values[name] = self.skipped_values.get(name, 0) + count
        self.failures.extend(other.failures[: max(0, FAILURE_SAMPLE - len(self.failures))])
        new = [c for c in other.conflicts if (c.crm_id, c.erp_id) not in self.conflict_keys]
        self.conflicts.extend(new[: max(0, FAILURE_SAMPLE - len(self.conflicts))])
        self.conflict_keys |= other.conflict_keys
        self.held_keys |= other.held_keys
        self.pages += other.pages


@dataclass(frozen=True)
class _Write:
    """One record to write: to a known target record (update/couple) or a new one (``target_id`` None)."""

    source_id: str
    target_id: str | None
    link: str
    record: dict[str, Any]
    digest: str
    coupling: bool = False
    write_back: bool = False
    #: Fields (named on the source side) the target changed since the last sync and this write leaves as they
    #: are: their stored target digests stay, so the opposite pass carries them.
    pending: frozenset[str] = frozenset()
    #: The target's digest stored at the last sync (to keep the pending fields' parts of it).
    target_digest: str | None = None


@dataclass
class _Plan:
    """What to do with the mapped records of one page."""

    updates: list[_Write] = field(default_factory=list)
    creates: list[_Write] = field(default_factory=list)
    bindings: list[BindingRecord] = field(default_factory=list)
    errors: list[RecordErrorEntry] = field(default_factory=list)
    conflicts: list[ConflictEntry] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    references: dict[str, dict[str, str]] = field(default_factory=dict)
    skipped_values: dict[str, int] = field(default_factory=dict)
    relinked: list[_Write] = field(default_factory=list)
    coupled: set[tuple[str, str]] = field(default_factory=set)

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n


def _text(value: Any) -> str | None:
    """A cell as text; empty and missing cells are ``None``."""
    if value is None or value != value or not str(value).strip():
        return None
    return str(value)


def _instant(value: Any) -> datetime | None:
    """A page's ``modified_at`` value as an aware datetime (``None`` when missing)."""
    stamp = pd.Timestamp(value) if value is not None else None
    if stamp is None or pd.isna(stamp):
        return None
    return (stamp if stamp.tzinfo else stamp.tz_localize("UTC")).to_pydatetime()


def _named(f: FieldMap, direction: Direction) -> str:
    """The name of ``f`` on the side records travelling ``direction`` are written to."""
    return f.crm if direction is Direction.TO_CRM else f.erp


def _frame_rows(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """A read's records by id, missing values as ``None``."""
    if not len(frame):
        return {}
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return {str(record["id"]): record for record in records}


def _matches(series: pd.Series, condition: Filter) -> pd.Series:
    values = condition.value if isinstance(condition.value, list) else [condition.value]
    text = series.astype(object).where(series.notna(), None).map(lambda v: None if v is None else str(v))
    wanted = {None if v is None else str(v) for v in values}
    inside = text.map(lambda v: v in wanted)
    return ~inside if condition.op in {"!=", "not in"} else inside


class EntityPass:
    """Runs one route (entity + direction) over every changed source record.

    Args:
        context: the run's context.
        route: the entity and direction.
        job_id: the job the records belong to (for record errors).
        force: the source's values stand: write records even when unchanged or in conflict (a person
            settling a held conflict, a record restored from its partner).
    """

    def __init__(self, context: SyncContext, route: Route, *, job_id: int | None = None, force: bool = False) -> None:
        self.context = context
        self.route = route
        self.job_id = job_id
        self.force = force
        templates = context.templates.get(route.entity.name)
        self.mapper = Mapper(route.entity, route.direction, templates=templates)
        opposite = Direction.TO_ERP if route.direction is Direction.TO_CRM else Direction.TO_CRM
        two_way = route.entity.direction is Direction.BOTH
        self.reverse = Mapper(route.entity, opposite, templates=templates) if two_way else None
        self.index = MatchIndex(route)
        #: The records' lines, for an entity that has them (orders travelling to the ERP).
        self.lines = OrderLines.of(context, route)
        #: Whether the pass reads every source record (a full sync): coupling may then read the target whole.
        self._full = False
        #: Whether some target record held a link key when the pass first looked (``None``: not asked yet).
        self._links_exist: bool | None = None
        #: Each written target field's type (to compare a target's values with a mapped record's).
        self._kinds = {_named(f, route.direction): f.type for f in self.mapper.fields}
        self._kinds[route.target_link_field] = None
        #: Each source field's type as the opposite pass writes it (to tell a target in step both ways).
        self._reverse_kinds = {_named(f, opposite): f.type for f in self.reverse.fields} if self.reverse else {}
        #: The fields that travel both ways: the target's name → the source's name.
        both_ways = {id(f) for f in self.reverse.fields} if self.reverse else set()
        self._partners = {
            _named(f, route.direction): _named(f, opposite) for f in self.mapper.fields if id(f) in both_ways
        }

    def read_fields(self) -> list[str]:
        """The source fields a page must carry."""
        route = self.route
        extra = [route.source_link_field, *self.index.source_fields]
        extra += [c.field for c in route.entity.filters if c.side == route.source_side.value]
        if route.entity.only_new_to_crm and route.source_side is Side.ERP:
            extra.append(route.created_field)
        # The fields the opposite pass writes: a target re-linked is in step both ways only if they agree.
        extra += list(self._reverse_kinds)
        extra += self.lines.header_fields() if self.lines is not None else []
        return list(dict.fromkeys([*self.mapper.source_fields(), *extra]))

    def target_fields(self) -> list[str]:
        """The target fields a read of the targets must carry: the link key, the fields this pass writes, and
        the fields the opposite pass reads (to hash the target as it would)."""
        reverse = self.reverse.source_fields() if self.reverse is not None else []
        return list(dict.fromkeys([self.route.target_link_field, *self._kinds, *reverse]))

    def run(self, since: datetime | None) -> PassResult:
        """Sync every source record changed at or after ``since`` (everything when ``None``), then try
        again the records that failed before and were not among them (the watermark has moved past them)."""
        result = PassResult()
        self._full = since is None
        source = self.route.source_adapter(self.context)
        with session_scope(self.context.store, write=False) as session:
            retry = set(
                failed_ids(session, self.context.connection_id, self.route.entity.name, self.route.source_side)
            )
            # Pairs a person coupled since the last run: written whole, whether or not they changed.
            retry.update(pending_coupled_ids(session, self.context.connection_id, self.route.entity.name,
                                             self.route.source_side))
        for page in source.read_changed_since(
            self.route.source_object, since, fields=self.read_fields(), page_size=self.context.page_size
        ):
            retry.difference_update(page["id"].astype(str))
            result.absorb(self.run_page(page))
            if self.context.on_page is not None:
                total = page.attrs.get(READ_TOTAL)
                self.context.on_page(self.route.entity.name, self.route.direction, len(page), total)
        if retry:
            log.info("%s %s: trying %d failed records again", self.route.entity.name, self.route.direction.value,
                     len(retry))
            result.absorb(self.run_ids(sorted(retry)))
        log.info(
            "%s %s: %d pages, %s", self.route.entity.name, self.route.direction.value, result.pages, result.counts
        )
        return result

    def run_ids(self, ids: list[str]) -> PassResult:
        """Sync the source records with these ids (read by id, a page at a time); the watermark stays."""
        result = PassResult()
        size = self.context.page_size
        for start in range(0, len(ids), size):
            frame = self.route.read_by_ids(
                self.context, self.route.source_side, ids[start : start + size], self.read_fields()
            )
            if len(frame):
                result.absorb(self.run_page(frame, advance=False))
        return result

    def run_page(self, page: pd.DataFrame, *, advance: bool = True) -> PassResult:
        """Sync one page of source records; ``advance`` moves the watermark past the page."""
        read = page.drop_duplicates("id", keep="last").reset_index(drop=True)
        result = PassResult(pages=1)
        page, excluded = self._leave_out(read)
        source_ids = page["id"].astype(str).tolist()
        rows = page.set_index(page["id"].astype(str)).to_dict("index")
        with session_scope(self.context.store, write=False) as session:
            bound = bindings_by_ids(
                session, self.context.connection_id, self.route.entity.name, self.route.source_side,
                [*source_ids, *excluded],
            )
            references = self._references(session, page) if source_ids else {}
        plan = _Plan(references=references)
        self._exclude(plan, excluded, bound)
        if source_ids:
            self._plan_page(plan, page, rows, bound)
        if self.context.dry_run:
            # What the writes would do: the plan already knows which targets exist (by link or match key).
            couplings = [w for w in plan.updates if w.coupling]
            plan.count("inserted", len(plan.creates))
            plan.count("coupled", len(couplings))
            plan.count("modified", len(plan.updates) - len(couplings))
            plan.coupled.update(self._pair(w.source_id, str(w.target_id)) for w in couplings)
        else:
            self._write(plan)
            self._record(plan, read if advance else None)
        result.counts = JobCounts(
            inserted=plan.counts.get("inserted", 0),
            modified=plan.counts.get("modified", 0),
            unchanged=plan.counts.get("unchanged", 0),
            coupled=plan.counts.get("coupled", 0),
            failed=plan.counts.get("failed", 0),
            skipped=plan.counts.get("skipped", 0),
        )
        result.skipped_values = plan.skipped_values
        result.failures = plan.errors[:FAILURE_SAMPLE]
        result.conflicts = plan.conflicts[:FAILURE_SAMPLE]
        result.conflict_keys = {(c.crm_id, c.erp_id) for c in plan.conflicts}
        result.held_keys = {(c.crm_id, c.erp_id) for c in plan.conflicts if c.outcome == HELD}
        result.coupled_keys = plan.coupled
        return result

    def _pair(self, source_id: str, target_id: str) -> tuple[str, str]:
        """A record and its partner as (CRM id, ERP id)."""
        return (target_id, source_id) if self.route.source_side is Side.ERP else (source_id, target_id)

    def _plan_page(
        self, plan: _Plan, page: pd.DataFrame, rows: dict[str, dict[str, Any]], bound: dict[str, Binding]
    ) -> None:
        """Map the page's records and decide, record by record, what to write."""
        source_ids = list(rows)
        # Outside any store transaction: the look-ups read the target over the API.
        matches, current = self._matches([i for i in source_ids if self._target_id(bound.get(i)) is None], rows)
        with session_scope(self.context.store, write=False) as session:
            holders = bindings_by_ids(
                session, self.context.connection_id, self.route.entity.name, self.route.target_side,
                [m.target_id for m in matches.values() if m.target_id is not None],
            )
        # Taken: coupled with another source record (a binding that only knows the target, after a failure
        # the other way, is completed by the coupling).
        source_side = self.route.source_side
        taken = {
            target_id for target_id, b in holders.items() if (b.crm_id if source_side is Side.CRM else b.erp_id)
        }
        # A record is created only when no target exists: one found by its link or match keys is updated
        # without the fields written on create only (Salesforce refuses to update PricebookEntry.Product2Id).
        creating = pd.Series(
            [self._target_id(bound.get(i)) is None and matches.get(i, Match()).target_id is None for i in source_ids],
            index=page.index,
        )
        mapped = self.mapper.map_page(page, references=plan.references, creating=creating)
        if self.lines is not None:
            mapped = self.lines.attach(mapped, rows, self.mapper.digests.names)
        self._plan(plan, rows, mapped, bound, matches, taken)
        self._reconcile(plan, rows, bound, current)
        # Values not synced count for the records written (an unchanged record's skipped value is no news).
        skipped = dict(zip(mapped.source_ids, mapped.skipped_fields, strict=True))
        for write in [*plan.updates, *plan.creates]:
            for name in skipped.get(write.source_id, []):
                plan.skipped_values[name] = plan.skipped_values.get(name, 0) + 1

    def _leave_out(self, page: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, tuple[str, bool]]]:
        """Drop the records a filter or the only-new rule keeps out.

        Returns:
            The records that stay, and per record left out: the rule, and whether it only counts for
            records not coupled yet (the only-new rule: a coupled record still syncs).
        """
        keep = pd.Series(True, index=page.index)
        rule = pd.Series(None, index=page.index, dtype=object)
        for condition in self.route.entity.filters:
            if condition.side == self.route.source_side.value:
                column = "id" if condition.field in RECORD_ID_FIELDS else condition.field  # an id list
                passes = _matches(page[column], condition)
                rule = rule.where(passes | rule.notna(), condition.describe())
                keep &= passes
        if self.route.entity.exclude_coupled_in:
            elsewhere = coupled_elsewhere(self.context, self.route, page["id"].astype(str).tolist())
            coupled = page["id"].astype(str).map(lambda i: elsewhere.get(i))
            rule = rule.where(coupled.isna() | rule.notna(), coupled)
            keep &= coupled.isna()
        only_new = pd.Series(False, index=page.index)
        enabled_at = self.context.sync_enabled_at
        if self.route.entity.only_new_to_crm and self.route.source_side is Side.ERP and enabled_at is not None:
            # The system's own creation stamp (ISO 8601). A record without one counts as created before sync
            # was enabled: an old record is never pushed by accident.
            created = pd.to_datetime(page[self.route.created_field], utc=True, errors="coerce", format="ISO8601")
            only_new = keep & ~(created >= pd.Timestamp(enabled_at))
            rule = rule.where(~only_new, ONLY_NEW_RULE)
            keep &= ~only_new
        ids = page["id"].astype(str)
        excluded = {
            source_id: (str(reason), bool(new_rule))
            for source_id, reason, new_rule in zip(ids[~keep], rule[~keep], only_new[~keep], strict=True)
        }
        return page[keep].reset_index(drop=True), excluded

    def _exclude(self, plan: _Plan, excluded: dict[str, tuple[str, bool]], bound: dict[str, Binding]) -> None:
        """Mark the records left out as excluded, naming the rule (a coupled record is not excluded by the
        only-new rule: it came from the CRM)."""
        for source_id, (reason, only_uncoupled) in excluded.items():
            plan.count("skipped")
            if only_uncoupled and self._target_id(bound.get(source_id)) is not None:
                continue
            crm_side = self.route.source_side is Side.CRM
            plan.bindings.append(
                BindingRecord(
                    crm_id=source_id if crm_side else None, erp_id=None if crm_side else source_id,
                    status=BindingStatus.EXCLUDED, error_code=excluded_code(self.route.source_side),
                    error_message=reason,
                )
            )

    def _references(
        self, session: Any, page: pd.DataFrame, *, mapper: Mapper | None = None, side: Side | None = None
    ) -> dict[str, dict[str, str]]:
        """Per referenced entity, the ids the page's reference fields hold, translated to the other side.

        Args:
            session: the unit of work.
            page: records of ``side`` (the source side by default).
            mapper: the mapper that will map them (this pass's by default).
            side: the side the page's records come from.
        """
        mapper = mapper or self.mapper
        side = side or self.route.source_side
        other = Side.ERP if side is Side.CRM else Side.CRM
        references: dict[str, dict[str, str]] = {}
        for f in mapper.fields:
            column = f.crm if side is Side.CRM else f.erp
            for entity in referenced_entities(f):
                ids = [str(v) for v in page[column].dropna().unique()] if column in page else []
                found = bindings_by_ids(session, self.context.connection_id, entity, side, ids)
                lookup = references.setdefault(entity, {})
                for source_id, binding in found.items():
                    target = binding.crm_id if other is Side.CRM else binding.erp_id
                    if target is not None:
                        lookup[source_id] = target
                if self.context.dry_run and side is self.route.source_side:
                    # Nothing was written, so dependencies are not bound yet: assume they would be.
                    for source_id in ids:
                        lookup.setdefault(source_id, f"(new {entity} {source_id})")
        return references

    def _target_id(self, binding: Binding | None) -> str | None:
        if binding is None:
            return None
        return binding.crm_id if self.route.target_side is Side.CRM else binding.erp_id

    def _source_hash(self, binding: Binding) -> str | None:
        return binding.erp_hash if self.route.source_side is Side.ERP else binding.crm_hash

    def _link_for_new(self, row: dict[str, Any], source_id: str) -> str | None:
        link = row.get(self.route.source_link_field)
        if link is not None and link == link and str(link).strip():
            return str(link)
        # A CRM record that never had an ERP partner: its own id becomes the ERP externalId.
        return source_id if self.route.source_side is Side.CRM else None

    def _matches(
        self, unbound: list[str], rows: dict[str, dict[str, Any]]
    ) -> tuple[dict[str, Match], dict[str, dict[str, Any]]]:
        """Look the unbound source records up on the target side: by their exact link first, then (only the
        records without one) by the entity's match keys.

        Returns:
            The matches by source id, and the target records found by link as they are now (by target id,
            with :meth:`target_fields`).
        """
        found, current = self._matches_by_link(unbound, rows)
        rest = [source_id for source_id in unbound if source_id not in found]
        if not self.route.entity.match_keys or not rest:
            return found, current
        self.index.look_up(self.context, [rows[source_id] for source_id in rest], full=self._full)
        found.update({source_id: self.index.find(rows[source_id]) for source_id in rest})
        return found, current

    def _matches_by_link(
        self, unbound: list[str], rows: dict[str, dict[str, Any]]
    ) -> tuple[dict[str, Match], dict[str, dict[str, Any]]]:
        """The target records that hold the unbound source records' link keys (one read per page).

        The link is the source's own (the ERP ``externalId``; a CRM record's ``ERP_Id__c``, or its id when it
        never had an ERP partner). A target holding it is the record's partner whatever the match keys say:
        written by a run that stopped before recording its binding, or coupled before a new state store.
        An ERP record whose externalId is the id of a Salesforce record is that record's partner too (it was
        created from it; a run that stopped before writing ``ERP_Id__c`` back leaves it so).
        """
        links: dict[str, str] = {}
        for source_id in unbound:
            link = self._link_for_new(rows[source_id], source_id)
            if link is not None:
                links[source_id] = link
        if not links:
            return {}, {}
        route, fields = self.route, self.target_fields()
        current: dict[str, dict[str, Any]] = {}
        if self._target_holds_links():
            frame = route.target_adapter(self.context).read_by_keys(
                route.target_object, route.target_link_field, sorted(set(links.values())), fields=fields
            )
            current = _frame_rows(frame)
        holders: dict[str, list[str]] = {}
        for target_id, row in current.items():
            link = _text(row.get(route.target_link_field))
            if link is not None:
                holders.setdefault(link, []).append(target_id)
        if route.target_side is Side.CRM:
            by_id = {source_id: link for source_id, link in links.items()
                     if link not in holders and SALESFORCE_ID.fullmatch(link)}
            prefix = self.context.crm.key_prefix(route.target_object) if by_id else ""
            by_id = {source_id: link for source_id, link in by_id.items() if prefix and link.startswith(prefix)}
            if by_id:
                created_from = _frame_rows(
                    self.context.crm.read_by_ids(route.target_object, sorted(set(by_id.values())), fields=fields)
                )
                current.update(created_from)
                for target_id in created_from:
                    holders.setdefault(target_id[:15], [target_id])
                links = {source_id: link[:15] if source_id in by_id else link for source_id, link in links.items()}
        matches: dict[str, Match] = {}
        for source_id, link in links.items():
            targets = holders.get(link, [])
            if len(targets) == 1:
                target_link = _text(current[targets[0]].get(route.target_link_field))
                matches[source_id] = Match(target_id=targets[0], target_link=target_link, exact=True)
            elif targets:
                matches[source_id] = Match(ambiguous=True, exact=True)
        return matches, current

    def _target_holds_links(self) -> bool:
        """Whether any target record held a link key when the pass started writing (asked once a pass).

        When none did (a first load into an empty object), no page needs its link keys looked up: the records
        this pass writes are bound as each page is recorded, and a create is an upsert by the link key anyway.
        """
        if self._links_exist is None:
            route = self.route
            self._links_exist = route.target_adapter(self.context).holds_any(
                route.target_object, route.target_link_field
            )
        return self._links_exist

    def _blocked(self, binding: Binding | None) -> bool:
        """True when the record must not travel this way: its coupling was removed after its partner was
        deleted or by a person (uncoupled), or a filter on the other side keeps its partner out."""
        if binding is None or binding.status is not BindingStatus.EXCLUDED:
            return False
        return binding.error_code in {UNLINKED, UNCOUPLED, excluded_code(self.route.target_side)}

    def _unchanged(self, binding: Binding, digest: str, record: dict[str, Any]) -> bool:
        """True when the source record holds what was last synced (a failure the other way does not count)."""
        if self.force or binding.status not in {BindingStatus.SYNCED, BindingStatus.FAILED}:
            return False
        stored = self._source_hash(binding)
        if stored is not None and not is_field_digest(stored):  # a store older than field digests
            return stored == self.mapper.whole_record_hash(record)
        return stored == digest

    def _changed_part(self, record: dict[str, Any], stored: str | None, digest: str) -> dict[str, Any]:
        """The fields of a two-way record that changed since its last sync (all of them when that is unknown).

        A one-way entity's target is a copy of its source: its records are written whole.
        """
        if self.reverse is None or self.force:
            return record
        changed = self.mapper.digests.changed_fields(stored, digest)
        if changed is None:
            return record
        return {name: value for name, value in record.items() if name in changed}

    def _plan(
        self,
        plan: _Plan,
        rows: dict[str, dict[str, Any]],
        mapped: MappedPage,
        bound: dict[str, Binding],
        matches: dict[str, Match],
        taken: set[str],
    ) -> None:
        for failure in mapped.failures:
            self._fail(plan, failure.source_id, failure.code, failure.message)
        for source_id, record, digest in zip(mapped.source_ids, mapped.records, mapped.hashes, strict=True):
            row = rows[source_id]
            binding = bound.get(source_id)
            if self._blocked(binding):
                plan.count("skipped")
                continue
            target_id = self._target_id(binding)
            if binding is not None and target_id is not None:
                if self._unchanged(binding, digest, record):
                    plan.count("unchanged")
                    continue
                record = self._changed_part(record, self._source_hash(binding), digest)
                link = binding.external_id or self._link_for_new(row, source_id)
                if link is None:
                    self._fail(plan, source_id, "MISSING_EXTERNAL_ID", "the ERP record has no externalId")
                    continue
                write_back = self._unlinked(row, link)
                plan.updates.append(_Write(source_id, target_id, link, record, digest, write_back=write_back))
                continue
            match = matches.get(source_id, Match())
            if match.ambiguous:
                shared = "its link key" if match.exact else "its match keys"
                self._fail(plan, source_id, "AMBIGUOUS_MATCH", f"several target records share {shared}")
                continue
            if match.target_id is not None:
                if match.target_id in taken:
                    how = "link-key" if match.exact else "match-key"
                    self._fail(
                        plan, source_id, "MATCH_TAKEN",
                        f"its {how} partner {match.target_id} is already coupled with another record",
                    )
                    continue
                taken.add(match.target_id)
                # The ERP side's externalId is the link: the source's when it is the ERP, else the partner's.
                erp_link = self._link_for_new(row, source_id) if self.route.source_side is Side.ERP else None
                link = erp_link or match.target_link or self._link_for_new(row, source_id)
                if link is None:
                    self._fail(plan, source_id, "MISSING_EXTERNAL_ID", "the ERP record has no externalId")
                    continue
                write_back = self._unlinked(row, link)
                plan.updates.append(
                    _Write(source_id, match.target_id, link, record, digest, True, write_back)
                )
                continue
            if not self.route.entity.create_missing:
                plan.count("skipped")
                continue
            link = self._link_for_new(row, source_id)
            if link is None:
                self._fail(plan, source_id, "MISSING_EXTERNAL_ID", "the ERP record has no externalId")
                continue
            plan.creates.append(_Write(source_id, None, link, record, digest, write_back=self._unlinked(row, link)))

    def _reconcile(
        self,
        plan: _Plan,
        rows: dict[str, dict[str, Any]],
        bound: dict[str, Binding],
        current: dict[str, dict[str, Any]],
    ) -> None:
        """Compare the page's update targets as they are now with what would be written (one read per page of
        updates, less the targets read by link already: the cost follows the changes).

        A target that is gone was deleted since the last sync: it is not written (an upsert by external id
        would bring it back); the deletion sweep applies the entity's deletion policy. A target that already
        holds the record's values (and its link) is re-linked: its binding is brought up to date without a
        write, and it is never a conflict. For a two-way entity, any other target that changed too since the
        last sync is a conflict, settled by :meth:`_settle_conflicts`.

        Args:
            plan: the page's plan (its updates are narrowed to the records to write).
            rows: the page's source records by id.
            bound: their bindings.
            current: target records read already (by target id); the others are read here.
        """
        if not plan.updates:
            return
        route = self.route
        missing = sorted({str(w.target_id) for w in plan.updates} - set(current))
        if missing:
            current.update(_frame_rows(route.read_by_ids(self.context, route.target_side, missing,
                                                         self.target_fields())))
        vanished = [w for w in plan.updates if not w.coupling and str(w.target_id) not in current]
        if vanished:
            log.info("%s %s: %d targets were deleted since the last sync; left to the deletion sweep",
                     route.entity.name, route.direction.value, len(vanished))
            plan.count("skipped", len(vanished))
            gone = {id(w) for w in vanished}
            plan.updates = [w for w in plan.updates if id(w) not in gone]
        targets = [current[str(w.target_id)] for w in plan.updates if str(w.target_id) in current]
        hashes, back = self._hash_targets(targets)
        keep: list[_Write] = []
        for write in plan.updates:
            target = current.get(str(write.target_id))
            if target is not None and not self.force and self._holds(target, write):
                self._relink(plan, write, rows[write.source_id], hashes, back)
            else:
                keep.append(write)
        plan.updates = keep
        if self.reverse is not None and not self.force and targets:
            self._settle_conflicts(plan, rows, bound, current, hashes, back)

    def _holds(self, target: dict[str, Any], write: _Write) -> bool:
        """True when ``target`` holds the values ``write`` would write, and its link key."""
        return holds_values(target, {self.route.target_link_field: write.link, **write.record}, self._kinds)

    def _hash_targets(
        self, targets: list[dict[str, Any]]
    ) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
        """For a two-way entity: the target records mapped the opposite way (as the opposite pass maps them).

        Returns:
            By target id: the hash the opposite pass computes (compared with the stored one, it tells whether
            the target changed since the last sync), and the values it would write to the source.
        """
        if self.reverse is None or not targets:
            return {}, {}
        frame = pd.DataFrame.from_records(targets, columns=["id", "modified_at", *self.target_fields()])
        with session_scope(self.context.store, write=False) as session:
            references = self._references(session, frame, mapper=self.reverse, side=self.route.target_side)
        page = self.reverse.map_page(frame, references=references)
        return (dict(zip(page.source_ids, page.hashes, strict=True)),
                dict(zip(page.source_ids, page.records, strict=True)))

    def _relink(
        self,
        plan: _Plan,
        write: _Write,
        row: dict[str, Any],
        hashes: dict[str, str],
        back: dict[str, dict[str, Any]],
    ) -> None:
        """Bind a record to a target that already holds its values: no write, no conflict.

        The target side's hash is stored only when the record is in step both ways (the source holds what the
        opposite pass would write too); otherwise the stored one stays, and the opposite pass syncs the rest.
        """
        route = self.route
        target_id = str(write.target_id)
        in_step = target_id in back and holds_values(row, back[target_id], self._reverse_kinds)
        ids = {route.source_side: write.source_id, route.target_side: target_id}
        digests = {route.source_side: write.digest, route.target_side: hashes.get(target_id) if in_step else None}
        plan.bindings.append(
            BindingRecord(
                crm_id=ids[Side.CRM], erp_id=ids[Side.ERP], external_id=write.link,
                crm_hash=digests[Side.CRM], erp_hash=digests[Side.ERP],
                status=BindingStatus.SYNCED, last_synced_at=utc_now(),
            )
        )
        if write.coupling:
            plan.count("coupled")
            plan.coupled.add(self._pair(write.source_id, target_id))
        else:
            plan.count("unchanged")
        if write.write_back:
            plan.relinked.append(write)

    def _settle_conflicts(
        self,
        plan: _Plan,
        rows: dict[str, dict[str, Any]],
        bound: dict[str, Binding],
        current: dict[str, dict[str, Any]],
        current_hashes: dict[str, str],
        back: dict[str, dict[str, Any]],
    ) -> None:
        """Find the updates whose target record changed the same fields since the last sync, and apply the
        entity's policy to them.

        ``current`` holds the targets as they are now and ``current_hashes`` their digests the way the opposite
        pass computes them: fields whose digests differ from the stored ones changed on the target since the
        last sync. Edits of different fields are no conflict: this pass writes its fields and leaves the
        target's (they stay pending, for the opposite pass). When a field changed on both sides to different
        values, the winner's values are written (by this pass or the opposite one); a held record is written by
        neither and marked ``CONFLICT_HELD``. (Targets that hold the record's values were re-linked before:
        never a conflict.)
        """
        route = self.route
        policy = self.context.conflict_policy(route.entity.name)
        keep: list[_Write] = []
        for write in plan.updates:
            target_id = str(write.target_id)
            stored = self._target_hash(bound[write.source_id]) if not write.coupling else None
            changed_there = self._target_changes(stored, current_hashes.get(target_id), back.get(target_id))
            if not changed_there:
                keep.append(write)
                continue
            write = replace(write, pending=changed_there, target_digest=stored)
            overlap = self._overlap(write, current[target_id])
            if not overlap:
                keep.append(write)
                continue
            times = {
                route.source_side: rows[write.source_id].get("modified_at"),
                route.target_side: current[target_id].get("modified_at"),
            }
            outcome = settle(policy, times[Side.CRM], times[Side.ERP])
            ids = {route.source_side: write.source_id, route.target_side: target_id}
            plan.conflicts.append(
                ConflictEntry(
                    entity=route.entity.name, crm_id=ids[Side.CRM], erp_id=ids[Side.ERP],
                    crm_modified_at=_instant(times[Side.CRM]), erp_modified_at=_instant(times[Side.ERP]),
                    policy=policy.value, outcome=outcome,
                )
            )
            if outcome == route.source_side.value:  # this side's values stand; the target's other edits travel
                keep.append(replace(write, pending=write.pending - {self._partners[name] for name in overlap}))
            elif outcome == HELD:  # listed with the conflicts (not as a failure); the binding says it waits
                plan.bindings.append(
                    BindingRecord(
                        crm_id=ids[Side.CRM], erp_id=ids[Side.ERP], status=BindingStatus.FAILED,
                        error_code=CONFLICT_HELD,
                        error_message="changed in both systems since its last sync; held for a person: run "
                        "resolve-conflicts to keep one side",
                    )
                )
            else:  # the target's values stand (the opposite pass writes them); this side's other edits travel
                rest = {name: value for name, value in write.record.items() if name not in overlap}
                if rest:
                    keep.append(replace(write, record=rest))
                else:
                    plan.count("skipped")
        plan.updates = keep

    def _target_changes(
        self, stored: str | None, now: str | None, target: dict[str, Any] | None
    ) -> frozenset[str]:
        """The fields (named on the source side) a target changed since the last sync; every two-way field when
        the stored digest cannot tell which (a store older than field digests)."""
        if self.reverse is None or stored is None or now is None or now == stored:
            return frozenset()
        if not is_field_digest(stored):
            if target is not None and self.reverse.whole_record_hash(target) == stored:
                return frozenset()
            return frozenset(self.reverse.digests.names)
        changed = self.reverse.digests.changed_fields(stored, now)
        return frozenset(self.reverse.digests.names) if changed is None else changed

    def _overlap(self, write: _Write, target: dict[str, Any]) -> set[str]:
        """The fields ``write`` would write (target names) that the target changed too, to another value."""
        return {
            name for name, value in write.record.items()
            if self._partners.get(name) in write.pending and not holds_values(target, {name: value}, self._kinds)
        }

    def _target_hash(self, binding: Binding) -> str | None:
        return binding.crm_hash if self.route.target_side is Side.CRM else binding.erp_hash

    def _unlinked(self, row: dict[str, Any], link: str) -> bool:
        """True when the source is the CRM and its record does not hold ``link`` in its key field yet."""
        if self.route.source_side is not Side.CRM:
            return False
        current = row.get(self.route.entity.crm_key)
        return current is None or current != current or str(current) != link

    def _fail(self, plan: _Plan, source_id: str, code: str, message: str, target_id: str | None = None) -> None:
        plan.count("failed")
        plan.errors.append(RecordErrorEntry(self.route.entity.name, self.route.source_side, source_id, code, message))
        ids = {self.route.source_side: source_id, self.route.target_side: target_id}
        plan.bindings.append(
            BindingRecord(
                crm_id=ids[Side.CRM], erp_id=ids[Side.ERP], status=BindingStatus.FAILED,
                error_code=code, error_message=message,
            )
        )

    def _write(self, plan: _Plan) -> None:
        route, context = self.route, self.context
        now = utc_now()
        key = route.entity.crm_key
        if not plan.updates and not plan.creates:
            self._write_back_links(plan.relinked)
            return
        if route.target_side is Side.CRM:
            update_results = context.crm.update_batch(
                route.target_object, [{"Id": w.target_id, key: w.link, **w.record} for w in plan.updates]
            )
            create_results = context.crm.upsert_batch(
                route.target_object, key, [{key: w.link, **w.record} for w in plan.creates]
            )
        else:
            combined = context.erp.upsert_batch(
                route.target_object, "externalId",
                [{"externalId": w.link, **w.record} for w in [*plan.updates, *plan.creates]],
            )
            update_results, create_results = combined[: len(plan.updates)], combined[len(plan.updates) :]
        written: list[tuple[_Write, str]] = []
        for write, outcome in zip(plan.updates, update_results, strict=True):
            if self._settle(plan, write, outcome):
                plan.count("coupled" if write.coupling else "modified")
                written.append((write, outcome.id or str(write.target_id)))
                if write.coupling:
                    plan.coupled.add(self._pair(write.source_id, written[-1][1]))
        for write, outcome in zip(plan.creates, create_results, strict=True):
            if self._settle(plan, write, outcome) and outcome.id is not None:
                # An upsert that found its record under the link key coupled it (matched by external id).
                plan.count("inserted" if outcome.created else "coupled")
                written.append((write, outcome.id))
                if not outcome.created:
                    plan.coupled.add(self._pair(write.source_id, outcome.id))
        if route.target_side is Side.ERP:
            self._write_back_links([*(w for w, _ in written), *plan.relinked])
        reverse_hashes = self._reverse_hashes(written)
        for write, target_id in written:
            ids = {route.source_side: write.source_id, route.target_side: target_id}
            fresh = reverse_hashes.get(target_id)
            if self.reverse is not None and write.pending:  # the target's own edits stay to be carried back
                fresh = self.reverse.digests.merge(fresh, write.target_digest, write.pending)
            hashes = {route.source_side: write.digest, route.target_side: fresh}
            plan.bindings.append(
                BindingRecord(
                    crm_id=ids[Side.CRM], erp_id=ids[Side.ERP], external_id=write.link,
                    crm_hash=hashes.get(Side.CRM), erp_hash=hashes.get(Side.ERP),
                    status=BindingStatus.SYNCED, last_synced_at=now,
                )
            )

    def _reverse_hashes(self, written: list[tuple[_Write, str]]) -> dict[str, str]:
        """For a two-way entity: the hash each written target record has when read the other way.

        The written records are read back (one read per page) and mapped in the opposite direction;
        stored as the target side's hash, it makes the opposite pass see them as unchanged instead of
        writing them back (no echo), whatever the target filled in or normalised itself.
        """
        if self.reverse is None or not written:
            return {}
        route = self.route
        adapter = route.target_adapter(self.context)
        if route.target_side is Side.CRM:
            # By id, one sObject Collections retrieve per 2,000 records (not one SOQL query per 300 keys).
            frame = self.context.crm.read_by_ids(
                route.target_object, [target_id for _, target_id in written],
                fields=list(dict.fromkeys([route.target_link_field, *self.reverse.source_fields()])),
            )
        else:
            frame = adapter.read_by_keys(
                route.target_object, route.target_link_field, [w.link for w, _ in written],
                fields=self.reverse.source_fields(),
            )
        with session_scope(self.context.store, write=False) as session:
            target_references = self._references(session, frame, mapper=self.reverse, side=route.target_side)
        page = self.reverse.map_page(frame, references=target_references)
        return dict(zip(page.source_ids, page.hashes, strict=True))

    def _settle(self, plan: _Plan, write: _Write, outcome: WriteResult) -> bool:
        if outcome.ok:
            return True
        message = redact(outcome.error_message or "", write.record, keep=[write.link])
        self._fail(plan, write.source_id, outcome.error_code or "UNKNOWN", message, write.target_id)
        return False

    def _write_back_links(self, written: list[_Write]) -> None:
        """Give CRM records their ERP link key (``ERP_Id__c``) once their ERP partner was written (or found)."""
        key = self.route.entity.crm_key
        updates = [{"Id": w.source_id, key: w.link} for w in written if w.write_back]
        if updates:
            failed = [r for r in self.context.crm.update_batch(self.route.source_object, updates) if not r.ok]
            if failed:
                log.warning("%d %s link keys could not be written back", len(failed), self.route.source_object)

    def _record(self, plan: _Plan, page: pd.DataFrame | None) -> None:
        """Store the page's bindings, errors and conflicts, and move the watermark past ``page`` (if given)."""
        context, route = self.context, self.route
        watermark = None
        newest = page["modified_at"].max() if page is not None else None
        if newest is not None and pd.notna(newest):
            watermark = WatermarkAdvance(route.source_side, min(newest.to_pydatetime(), context.started_at))
        with session_scope(context.store) as session:
            result = upsert_bindings(
                session, context.connection_id, route.entity.name, plan.bindings,
                key=route.source_side, watermark=watermark,
            )
            if context.run_id is not None:
                add_record_errors(session, context.run_id, plan.errors, job_id=self.job_id)
                record_conflicts(session, context.run_id, plan.conflicts)
        if result.conflicts:
            conflicts = [
                RecordErrorEntry(
                    route.entity.name, route.source_side, c.key_id, "BINDING_CONFLICT",
                    f"written, but its partner {c.other_id} is already bound to {c.bound_to or 'another record'}",
                )
                for c in result.conflicts
            ]
            plan.errors.extend(conflicts)
            plan.count("failed", len(conflicts))
            if context.run_id is not None:
                with session_scope(context.store) as session:
                    add_record_errors(session, context.run_id, conflicts, job_id=self.job_id)
            log.warning("%s: %d bindings conflicted with existing ones", route.entity.name, len(conflicts))
