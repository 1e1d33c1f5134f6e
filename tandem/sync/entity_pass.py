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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import pandas as pd

from tandem.adapter import READ_TOTAL, WriteResult
from tandem.mapper import Mapper
from tandem.mapping import Direction, Filter, referenced_entities
from tandem.redaction import redact
from tandem.store import session_scope
from tandem.store.bindings import (
    BindingRecord,
    WatermarkAdvance,
    bindings_by_ids,
    failed_ids,
    upsert_bindings,
)
from tandem.store.conflicts import ConflictEntry, record_conflicts
from tandem.store.runs import JobCounts, RecordErrorEntry, add_record_errors
from tandem.store.tables import Binding, BindingStatus, Side
from tandem.store.types import utc_now
from tandem.sync.codes import SyncCode
from tandem.sync.conflicts import HELD
from tandem.sync.context import Route, SyncContext
from tandem.sync.coupling import Match, MatchIndex
from tandem.sync.manual_coupling import pending_coupled_ids
from tandem.sync.order_lines import OrderLines, coupled_elsewhere
from tandem.sync.part import PassPart
from tandem.sync.pipeline import Planned, WritePipeline
from tandem.sync.planner import PagePlanner, Plan, Targets, Write
from tandem.sync.planner import excluded_code as excluded_code  # where the pass's callers have found it

log = logging.getLogger(__name__)

#: How many failed records (and conflicts) a pass keeps in memory for the run's artifacts (all are in the store).
FAILURE_SAMPLE = 50
#: The only-new rule, as its cards and reports name it.
ONLY_NEW_RULE = "only ERP records created after sync was enabled travel to the CRM"


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
        unchanged_read_back: of the unchanged records, those known unchanged from this run's read-back of them
            (the opposite pass wrote them; they were not mapped again: :mod:`tandem.sync.read_backs`).
    """

    counts: JobCounts = field(default_factory=JobCounts)
    skipped_values: dict[str, int] = field(default_factory=dict)
    failures: list[RecordErrorEntry] = field(default_factory=list)
    conflicts: list[ConflictEntry] = field(default_factory=list)
    conflict_keys: set[tuple[str, str]] = field(default_factory=set)
    held_keys: set[tuple[str, str]] = field(default_factory=set)
    coupled_keys: set[tuple[str, str]] = field(default_factory=set)
    pages: int = 0
    unchanged_read_back: int = 0

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
        self.unchanged_read_back += other.unchanged_read_back


@dataclass
class PlannedPage:
    """A page whose plan is made: what to write, and the page as read (``None``: its recording leaves the
    watermark where it is)."""

    plan: Plan
    read: pd.DataFrame | None

    @property
    def keys(self) -> frozenset[str]:
        """The page's source ids and the targets its writes touch (their ids, and the link keys it upserts by)."""
        plan = self.plan
        ids = {w.source_id for w in [*plan.updates, *plan.creates]}
        ids.update(str(w.target_id) for w in plan.updates)
        ids.update(f"link:{w.link}" for w in plan.creates)
        if self.read is not None:
            ids.update(self.read["id"].astype(str))
        return frozenset(ids)


@dataclass
class WrittenBatch:
    """A batch of planned pages whose writes are made, waiting to be bound and recorded: the pages, and each record
    written (its page plan, its write, its target id)."""

    batch: list[PlannedPage]
    written: list[tuple[Plan, Write, str]]


def _page_result(plan: Plan) -> PassResult:
    """What one recorded page did."""
    return PassResult(
        pages=1,
        counts=JobCounts(
            inserted=plan.counts.get("inserted", 0),
            modified=plan.counts.get("modified", 0),
            unchanged=plan.counts.get("unchanged", 0),
            coupled=plan.counts.get("coupled", 0),
            failed=plan.counts.get("failed", 0),
            skipped=plan.counts.get("skipped", 0),
        ),
        skipped_values=plan.skipped_values,
        failures=plan.errors[:FAILURE_SAMPLE],
        conflicts=plan.conflicts[:FAILURE_SAMPLE],
        conflict_keys={(c.crm_id, c.erp_id) for c in plan.conflicts},
        held_keys={(c.crm_id, c.erp_id) for c in plan.conflicts if c.outcome == HELD},
        coupled_keys=plan.coupled,
        unchanged_read_back=plan.counts.get("unchanged_read_back", 0),
    )


def _text(value: Any) -> str | None:
    """A cell as text; empty and missing cells are ``None``."""
    if value is None or value != value or not str(value).strip():
        return None
    return str(value)


class FrameRow(Mapping[str, Any]):
    """One row of a page, read in place from the page's columns (the values ``DataFrame.to_dict`` gives): a page's
    rows are looked at for a few fields each, so none is copied into a dict of its own."""

    __slots__ = ("_columns", "_position")

    def __init__(self, columns: dict[str, Any], position: int) -> None:
        self._columns = columns
        self._position = position

    def __getitem__(self, name: str) -> Any:
        return self._columns[name][self._position]

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)


def frame_rows(frame: pd.DataFrame) -> list[FrameRow]:
    """The frame's rows, in order (its columns converted once to Python objects)."""
    columns = {name: frame[name].to_numpy(dtype=object) for name in frame.columns}
    return [FrameRow(columns, position) for position in range(len(frame))]


def _frame_rows(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """A read's records by id, missing values as ``None``."""
    if not len(frame):
        return {}
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return {str(record["id"]): record for record in records}


def _ids_by_link(links: list[str], found: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Which record read by id answers each link: the one with that id, or one whose id spells it longer (a system
    may answer a short form of an id with its full form, as Salesforce answers 15 characters with 18)."""
    out: dict[str, str] = {}
    for link in links:
        if link in found:
            out[link] = link
            continue
        longer = [target_id for target_id in found if target_id.startswith(link)]
        if len(longer) == 1:
            out[link] = longer[0]
    return out


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
        #: The fields holding the link key on each side (the system's own, or the mapping's).
        self.source_link = route.source_link_field(context)
        self.target_link = route.target_link_field(context)
        #: The records' lines, for an entity that has them (orders travelling to the ERP).
        self.lines = OrderLines.of(context, route)
        #: Whether the pass reads every source record (a full sync): coupling may then read the target whole.
        self._full = False
        #: Whether some target record held a link key when the pass first looked (``None``: not asked yet).
        self._links_exist: bool | None = None
        #: Whether the pages being read carry only what tells the records known from a read-back (:meth:`run`).
        self._narrow = False
        #: Whether the entity's records refer to records of the same entity (a parent account).
        self._self_referring = any(route.entity.name in referenced_entities(f) for f in self.mapper.fields)
        source = route.source_adapter(context)
        #: Decides what to do with each page (pure: the pass reads and writes around it).
        self.planner = PagePlanner(
            self.mapper, self.reverse, source_side=route.source_side, source_link=self.source_link,
            target_link=self.target_link, mints_link=route.source_mints_link,
            create_missing=route.entity.create_missing, policy=context.conflict_policy(route.entity.name),
            force=force, missing_link=f"the {source.system} record has no {self.source_link}",
        )

    def read_fields(self) -> list[str]:
        """The source fields a page must carry."""
        route = self.route
        extra = [self.source_link, *self.index.source_fields]
        extra += [c.field for c in route.entity.filters if c.side == route.source_side.value]
        if route.entity.only_new_to_crm and route.source_side is Side.ERP:
            extra.append(route.created_field(self.context))
        # The fields the opposite pass writes: a target re-linked is in step both ways only if they agree.
        extra += list(self.planner.reverse_kinds)
        extra += self.lines.header_fields() if self.lines is not None else []
        return list(dict.fromkeys([*self.mapper.source_fields(), *extra]))

    def target_fields(self) -> list[str]:
        """The target fields a read of the targets must carry: the link key, the fields this pass writes, and
        the fields the opposite pass reads (to hash the target as it would)."""
        reverse = self.reverse.source_fields() if self.reverse is not None else []
        return list(dict.fromkeys([self.target_link, *self.planner.kinds, *reverse]))

    #: The partition :meth:`run` reads (:mod:`tandem.sync.partitions`), or ``None`` for the whole source.
    part: PassPart | None = None

    def run(self, since: datetime | None, *, part: PassPart | None = None) -> PassResult:
        """Sync every source record changed at or after ``since`` (everything when ``None``), then try
        again the records that failed before and were not among them (the watermark has moved past them).

        With ``part`` (one partition of a partitioned job, :mod:`tandem.sync.partitions`), only the records of its
        id range: the watermark stays, and the records to try again that the range did not yield are left in
        ``part.unread_retries`` for the job, which tries them once every partition is done.

        Pages are planned while the batch before them is written (:mod:`tandem.sync.pipeline`) when pages
        cannot depend on each other's writes (:meth:`_pipelined`); otherwise each page is planned once the one
        before is recorded. The records this run wrote the other way and read back, unchanged since, are not mapped
        again (:meth:`_unchanged_since_read_back`); when they are at least a page, the source is first read narrow
        (:meth:`_narrow_fields`) and only the other records are read whole.
        """
        result = PassResult()
        self._full = since is None
        self.part = part
        source = self.route.source_adapter(self.context)
        read = source.read_changed_since if part is None else part.reader(source, self.route.source_side.value)
        with session_scope(self.context.store, write=False) as session:
            retry = set(
                failed_ids(session, self.context.connection_id, self.route.entity.name, self.route.source_side)
            )
            # Pairs a person coupled since the last run: written whole, whether or not they changed.
            retry.update(pending_coupled_ids(session, self.context.connection_id, self.route.entity.name,
                                             self.route.source_side))
        narrow = self._narrow_fields()
        self._narrow = narrow is not None
        with WritePipeline[PlannedPage, PassResult](self._written, then=self._recorded) as pipeline:
            pages = read(self.route.source_object, since, fields=self.read_fields() if narrow is None else narrow,
                         page_size=self.context.page_size)
            for number, page in enumerate(pages):
                ids = page["id"].astype(str)
                retry.difference_update(ids)
                total = page.attrs.get(READ_TOTAL)
                if number == 0 and total is not None and not self.context.dry_run:
                    pipeline.gather = self.route.target_adapter(self.context).gather_size(
                        self.route.target_object, int(total)
                    )
                for done in self._plan_into(pipeline, page, set(ids)):
                    result.absorb(done)
                if self.context.on_page is not None:
                    self.context.on_page(self.route.entity.name, self.route.direction, len(page), total)
            for done in pipeline.drain():
                result.absorb(done)
        self._narrow = False
        if part is not None:
            part.unread_retries, retry = retry, set()
        if retry:
            log.info("%s %s: trying %d failed records again", self.route.entity.name, self.route.direction.value,
                     len(retry))
            result.absorb(self.run_ids(sorted(retry)))
        log.info(
            "%s %s: %d pages, %s (%d unchanged since this run's read-back, not mapped again)",
            self.route.entity.name, self.route.direction.value, result.pages, result.counts,
            result.unchanged_read_back,
        )
        return result

    def _plan_into(
        self, pipeline: WritePipeline[PlannedPage, PassResult], page: pd.DataFrame, ids: set[str]
    ) -> list[PassResult]:
        """Plan a page and hand it to the pipeline, waiting for earlier pages where this one depends on them;
        return the results of the batches waited for."""
        done: list[PassResult] = []
        if not self._pipelined() or pipeline.holds(ids):
            done += pipeline.drain()
        planned = self.plan_page(page)
        keys = planned.keys
        if pipeline.holds(keys):
            # It writes a target an unrecorded page writes: plan it again once that page is recorded.
            done += pipeline.drain()
            planned = self.plan_page(page)
            keys = planned.keys
        pipeline.add(Planned(planned, rows=len(page), keys=keys))
        # Asked again: planning the first page is what tells whether coupling reads the target page by page.
        if not self._pipelined():
            done += pipeline.drain()
        return done

    def _pipelined(self) -> bool:
        """Whether a page may be planned before the pages read before it are recorded: never in a dry run, for
        an entity whose records refer to each other or carry lines, or while coupling by match keys reads the
        target page by page (a record an earlier page writes could be the one a later page finds)."""
        if self.context.dry_run or self.lines is not None or self._self_referring:
            return False
        return not self.route.entity.match_keys or self.index.complete

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
        return self._finish_batch([self.plan_page(page, advance=advance)])

    def plan_page(self, page: pd.DataFrame, *, advance: bool = True) -> PlannedPage:
        """Decide what to do with one page of source records (reads the store and the target, writes nothing);
        ``advance``: recording the page moves the watermark past it."""
        read = page.drop_duplicates("id", keep="last").reset_index(drop=True)
        page, excluded = self._leave_out(read)
        echoes = self._unchanged_since_read_back(page)
        if echoes:
            page = page[~page["id"].astype(str).isin(echoes)].reset_index(drop=True)
        if self._narrow and len(page):
            # The rest is read whole (records deleted since the page was read are gone from it).
            whole = self.route.read_by_ids(self.context, self.route.source_side, page["id"].astype(str).tolist(),
                                           self.read_fields())
            page = whole.drop_duplicates("id", keep="last").reset_index(drop=True)
        source_ids = page["id"].astype(str).tolist()
        rows = dict(zip(source_ids, frame_rows(page), strict=True))
        with session_scope(self.context.store, write=False) as session:
            bound = bindings_by_ids(
                session, self.context.connection_id, self.route.entity.name, self.route.source_side,
                [*source_ids, *excluded],
            )
            references = self._references(session, page) if source_ids else {}
        plan = Plan(references=references)
        if echoes:
            plan.count("unchanged", len(echoes))
            plan.count("unchanged_read_back", len(echoes))
        self.planner.exclude(plan, excluded, bound)
        if source_ids:
            self._plan_page(plan, page, rows, bound)
        return PlannedPage(plan, read if advance and self.part is None else None)

    def _finish_batch(self, batch: list[PlannedPage]) -> PassResult:
        """Write a batch of planned pages (their writes gathered into as few calls as the target allows), then
        record each page in order; return what they did."""
        return self._recorded(self._written(batch))

    def _written(self, batch: list[PlannedPage]) -> WrittenBatch:
        """Write a batch of planned pages (the pipeline's first step; in a dry run, count what would be written)."""
        plans = [planned.plan for planned in batch]
        if not self.context.dry_run:
            return WrittenBatch(batch, self._write(plans))
        for plan in plans:
            # What the writes would do: the plan already knows which targets exist (by link or match key).
            couplings = [w for w in plan.updates if w.coupling]
            plan.count("inserted", len(plan.creates))
            plan.count("coupled", len(couplings))
            plan.count("modified", len(plan.updates) - len(couplings))
            plan.coupled.update(self.planner.pair(w.source_id, str(w.target_id)) for w in couplings)
        return WrittenBatch(batch, [])

    def _recorded(self, done: WrittenBatch) -> PassResult:
        """Bind the records a batch wrote (reading them back first, for a two-way entity) and record each page in
        order (the pipeline's second step, while the next batch is written); return what the pages did."""
        plans = [planned.plan for planned in done.batch]
        if not self.context.dry_run:
            read_back = self._bind(done.written)
            for planned in done.batch:
                self._record(planned.plan, planned.read, read_back)
        result = PassResult()
        for plan in plans:
            result.absorb(_page_result(plan))
        return result

    def _plan_page(
        self, plan: Plan, page: pd.DataFrame, rows: Mapping[str, Mapping[str, Any]], bound: dict[str, Binding]
    ) -> None:
        """Map the page's records and decide, record by record, what to write."""
        source_ids = list(rows)
        # Outside any store transaction: the look-ups read the target over the API.
        matches, current = self._matches([i for i in source_ids if self.planner.target_id(bound.get(i)) is None], rows)
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
            [self.planner.target_id(bound.get(i)) is None and matches.get(i, Match()).target_id is None
             for i in source_ids],
            index=page.index,
        )
        mapped = self.mapper.map_page(page, references=plan.references, creating=creating)
        if self.lines is not None:
            mapped = self.lines.attach(mapped, rows, self.mapper.digests.names)
        self.planner.decide(plan, rows, mapped, bound, matches, taken)
        self._reconcile(plan, rows, bound, current)
        # Values not synced count for the records written (an unchanged record's skipped value is no news).
        skipped = dict(zip(mapped.source_ids, mapped.skipped_fields, strict=True))
        for write in [*plan.updates, *plan.creates]:
            for name in skipped.get(write.source_id, []):
                plan.skipped_values[name] = plan.skipped_values.get(name, 0) + 1

    def _narrow_fields(self) -> list[str] | None:
        """The fields of a first, narrow read of the source, when this run read back at least a page of the
        records the pass is about to read (the opposite pass wrote them): each page is read with what filters the
        records (and their ids and stamps), the records known from the read-back are set aside, and only the rest
        is read whole, by id. ``None``: read every record whole (the read-back knows too few of them)."""
        if self.force or self.context.dry_run or self.lines is not None:
            return None
        route = self.route
        if self.context.read_backs.count(route.entity.name, route.source_side) < self.context.page_size:
            return None
        fields = [c.field for c in route.entity.filters if c.side == route.source_side.value]
        if route.entity.only_new_to_crm and route.source_side is Side.ERP:
            fields.append(route.created_field(self.context))
        return list(dict.fromkeys(fields))

    def _unchanged_since_read_back(self, page: pd.DataFrame) -> list[str]:
        """The page's records this run wrote the other way and read back, unchanged since: read with the stamp the
        read-back saw, their binding holding the digest it gave, synced (:mod:`tandem.sync.read_backs`). Mapping
        them would give that digest again: they are unchanged (as :meth:`PagePlanner.decide` would find) without
        being mapped.

        Never in a dry run (nothing was written or read back), a forced pass (it writes unchanged records too), or
        for an entity with lines (their digest covers the lines).
        """
        if self.force or self.context.dry_run or self.lines is not None or not len(page) or "modified_at" not in page:
            return []
        route = self.route
        known = self.context.read_backs.unchanged(route.entity.name, route.source_side, page["id"],
                                                  page["modified_at"])
        return page["id"].astype(str).to_numpy()[known].tolist() if known.any() else []

    def _leave_out(self, page: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, tuple[str, bool]]]:
        """Drop the records a filter or the only-new rule keeps out.

        Returns:
            The records that stay, and per record left out: the rule, and whether it only counts for
            records not coupled yet (the only-new rule: a coupled record still syncs).
        """
        keep = pd.Series(True, index=page.index)
        rule = pd.Series(None, index=page.index, dtype=object)
        id_field = self.route.source_adapter(self.context).id_field
        for condition in self.route.entity.filters:
            if condition.side == self.route.source_side.value:
                column = "id" if condition.field == id_field else condition.field  # an id list
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
            created = pd.to_datetime(
                page[self.route.created_field(self.context)], utc=True, errors="coerce", format="ISO8601"
            )
            only_new = keep & ~(created >= pd.Timestamp(enabled_at))
            rule = rule.where(~only_new, ONLY_NEW_RULE)
            keep &= ~only_new
        ids = page["id"].astype(str)
        excluded = {
            source_id: (str(reason), bool(new_rule))
            for source_id, reason, new_rule in zip(ids[~keep], rule[~keep], only_new[~keep], strict=True)
        }
        return page[keep].reset_index(drop=True), excluded

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

    def _matches(
        self, unbound: list[str], rows: Mapping[str, Mapping[str, Any]]
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
        if not self.index.empty:
            found.update({source_id: self.index.find(rows[source_id]) for source_id in rest})
        return found, current

    def _matches_by_link(
        self, unbound: list[str], rows: Mapping[str, Mapping[str, Any]]
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
            link = self.planner.link_for_new(rows[source_id], source_id)
            if link is not None:
                links[source_id] = link
        if not links:
            return {}, {}
        route, fields = self.route, self.target_fields()
        adapter = route.target_adapter(self.context)
        current: dict[str, dict[str, Any]] = {}
        if self._target_holds_links():
            frame = adapter.read_by_keys(route.target_object, self.target_link, sorted(set(links.values())),
                                         fields=fields)
            current = _frame_rows(frame)
        holders: dict[str, list[str]] = {}
        for target_id, row in current.items():
            link = _text(row.get(self.target_link))
            if link is not None:
                holders.setdefault(link, []).append(target_id)
        if not route.source_mints_link:
            # A link that is a target record's id: the target was created from that record (its id lent as the
            # link) by a run that stopped before writing the link back.
            by_id = sorted({link for link in links.values()
                            if link not in holders and adapter.is_record_id(route.target_object, link)})
            if by_id:
                created_from = _frame_rows(adapter.read_by_ids(route.target_object, by_id, fields=fields))
                current.update(created_from)
                for link, target_id in _ids_by_link(by_id, created_from).items():
                    holders.setdefault(link, [target_id])
        matches: dict[str, Match] = {}
        for source_id, link in links.items():
            targets = holders.get(link, [])
            if len(targets) == 1:
                target_link = _text(current[targets[0]].get(self.target_link))
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
            self._links_exist = route.target_adapter(self.context).holds_any(route.target_object, self.target_link)
        return self._links_exist

    def _reconcile(
        self,
        plan: Plan,
        rows: Mapping[str, Mapping[str, Any]],
        bound: dict[str, Binding],
        current: dict[str, dict[str, Any]],
    ) -> None:
        """Compare the page's update targets as they are now with what would be written (one read per page of
        updates, less the targets read by link already: the cost follows the changes).

        A target that is gone was deleted since the last sync: it is not written (an upsert by external id
        would bring it back); the deletion sweep applies the entity's deletion policy. A target that already
        holds the record's values (and its link) is re-linked: its binding is brought up to date without a
        write, and it is never a conflict. For a two-way entity, any other target that changed too since the
        last sync is a conflict, settled by the entity's policy (:meth:`PagePlanner.reconcile`).

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
        vanished = self.planner.vanished(plan, current)
        if vanished:
            log.info("%s %s: %d targets were deleted since the last sync; left to the deletion sweep",
                     route.entity.name, route.direction.value, vanished)
        targets = {str(w.target_id): current[str(w.target_id)] for w in plan.updates if str(w.target_id) in current}
        hashes, back = self._hash_targets(list(targets.values()))
        self.planner.reconcile(plan, rows, bound, Targets(targets, hashes, back), utc_now())

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

    def _write(self, plans: list[Plan]) -> list[tuple[Plan, Write, str]]:
        """Write a batch of pages' plans: their updates in one ``update_batch``, their creates in one
        ``upsert_batch`` (the adapter splits them into its calls, or one bulk job), then give the source records
        their link keys.

        Returns:
            The records written: each one's page plan, its write and its target id (for :meth:`_bind`).
        """
        route, context = self.route, self.context
        key = self.target_link
        updates = [(plan, w) for plan in plans for w in plan.updates]
        creates = [(plan, w) for plan in plans for w in plan.creates]
        relinked = [w for plan in plans for w in plan.relinked]
        if not updates and not creates:
            self._write_back_links(relinked)
            return []
        adapter = route.target_adapter(context)
        update_results = adapter.update_batch(
            route.target_object, [{"id": w.target_id, key: w.link, **w.record} for _, w in updates]
        ) if updates else []
        create_results = adapter.upsert_batch(
            route.target_object, key, [{key: w.link, **w.record} for _, w in creates]
        ) if creates else []
        written: list[tuple[Plan, Write, str]] = []
        for (plan, write), outcome in zip(updates, update_results, strict=True):
            if self._settle(plan, write, outcome):
                target_id = outcome.id or str(write.target_id)
                plan.count("coupled" if write.coupling else "modified")
                written.append((plan, write, target_id))
                if write.coupling:
                    plan.coupled.add(self.planner.pair(write.source_id, target_id))
        for (plan, write), outcome in zip(creates, create_results, strict=True):
            if self._settle(plan, write, outcome) and outcome.id is not None:
                # An upsert that found its record under the link key coupled it (matched by external id).
                plan.count("inserted" if outcome.created else "coupled")
                written.append((plan, write, outcome.id))
                if not outcome.created:
                    plan.coupled.add(self.planner.pair(write.source_id, outcome.id))
        self._write_back_links([*(w for _, w, _ in written), *relinked])
        return written

    def _bind(self, written: list[tuple[Plan, Write, str]]) -> pd.DataFrame | None:
        """Add each written record's binding to its page's plan, with the target's digest as the opposite pass
        computes it (read back, for a two-way entity).

        Returns:
            For a two-way entity, the written records as their read-back saw them (:meth:`_reverse_hashes`).
        """
        route, now = self.route, utc_now()
        read_back = self._reverse_hashes([target_id for _, _, target_id in written])
        reverse_hashes: dict[str, str] = {}
        whole: set[str] = set()
        if read_back is not None:
            reverse_hashes = dict(zip(read_back.index, read_back["digest"], strict=True))
            whole = set(read_back.index[read_back["whole"].to_numpy(dtype=bool)])
        for plan, write, target_id in written:
            ids = {route.source_side: write.source_id, route.target_side: target_id}
            fresh = reverse_hashes.get(target_id)
            if self.reverse is not None and write.pending:  # the target's own edits stay to be carried back
                fresh = self.reverse.digests.merge(fresh, write.target_digest, write.pending)
            elif fresh is not None and target_id in whole:
                plan.read_back.append((write.source_id, target_id))
            hashes = {route.source_side: write.digest, route.target_side: fresh}
            plan.bindings.append(
                BindingRecord(
                    crm_id=ids[Side.CRM], erp_id=ids[Side.ERP], external_id=write.link,
                    crm_hash=hashes.get(Side.CRM), erp_hash=hashes.get(Side.ERP),
                    status=BindingStatus.SYNCED, last_synced_at=now,
                )
            )
        return read_back

    def _reverse_hashes(self, written: list[str]) -> pd.DataFrame | None:
        """For a two-way entity: the hash each target record written (by id) has when read the other way.

        The written records are read back (one read per batch) and mapped in the opposite direction;
        stored as the target side's hash, it makes the opposite pass see them as unchanged instead of
        writing them back (no echo), whatever the target filled in or normalised itself.

        Returns:
            By target id (the records that mapped back): ``digest``, the record's ``modified_at`` as read back, and
            ``whole`` (no field was left out of the mapping: no unresolved reference, no value a value map skips).
            ``None`` for a one-way entity.
        """
        if self.reverse is None or not written:
            return None
        route = self.route
        frame = route.target_adapter(self.context).read_by_ids(
            route.target_object, written,
            fields=list(dict.fromkeys([self.target_link, *self.reverse.source_fields()])),
        )
        with session_scope(self.context.store, write=False) as session:
            target_references = self._references(session, frame, mapper=self.reverse, side=route.target_side)
        page = self.reverse.map_page(frame, references=target_references)
        read_back = pd.DataFrame(
            {"digest": page.hashes, "whole": [not skipped for skipped in page.skipped_fields]},
            index=pd.Index(page.source_ids, dtype=object),
        )
        read_back = read_back[~read_back.index.duplicated(keep="last")]
        if "modified_at" in frame:
            stamps = frame["modified_at"].set_axis(frame["id"].astype(str).to_numpy())
            read_back["modified_at"] = stamps[~stamps.index.duplicated(keep="last")].reindex(read_back.index)
        else:  # no stamps: nothing can be recognised later by its stamp
            read_back["modified_at"] = pd.NaT
        return read_back

    def _keep_read_back(self, plan: Plan, read_back: pd.DataFrame | None, conflicted: set[str]) -> None:
        """Keep the page's written records whose binding now holds their read-back's digest (not those whose
        source ``conflicted``: their binding was not written) in the run's read-backs, and forget every other record
        whose binding the page wrote."""
        entity, target_side, read_backs = self.route.entity.name, self.route.target_side, self.context.read_backs
        kept = [target for source, target in plan.read_back if source not in conflicted]
        if read_back is not None and kept:
            rows = read_back.reindex(kept)
            read_backs.add(entity, target_side, kept, rows["modified_at"])
        held = set(kept)
        for side in (Side.CRM, Side.ERP):
            ids = {b.crm_id if side is Side.CRM else b.erp_id for b in plan.bindings}
            ids -= held if side is target_side else set()
            read_backs.forget(entity, side, sorted(i for i in ids if i is not None))

    def _settle(self, plan: Plan, write: Write, outcome: WriteResult) -> bool:
        if outcome.ok:
            return True
        message = redact(outcome.error_message or "", write.record, keep=[write.link])
        self.planner.fail(plan, write.source_id, outcome.error_code or SyncCode.UNKNOWN, message, write.target_id)
        return False

    def _write_back_links(self, written: list[Write]) -> None:
        """Give source records their link key once their partner was written (or found)."""
        updates = [{"id": w.source_id, self.source_link: w.link} for w in written if w.write_back]
        if updates:
            adapter = self.route.source_adapter(self.context)
            failed = [r for r in adapter.update_batch(self.route.source_object, updates) if not r.ok]
            if failed:
                log.warning("%d %s link keys could not be written back", len(failed), self.route.source_object)

    def _record(self, plan: Plan, page: pd.DataFrame | None, read_back: pd.DataFrame | None = None) -> None:
        """Store the page's bindings, errors and conflicts, and move the watermark past ``page`` (if given); keep
        the records written whose binding now holds their read-back's digest in the run's
        :class:`~tandem.sync.read_backs.ReadBacks` (``read_back``: the batch's, from :meth:`_write`)."""
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
        self._keep_read_back(plan, read_back, {c.key_id for c in result.conflicts})
        if result.conflicts:
            conflicts = [
                RecordErrorEntry(
                    route.entity.name, route.source_side, c.key_id, SyncCode.BINDING_CONFLICT,
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
