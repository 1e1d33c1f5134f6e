"""The pure part of a pass: what to do with a page of mapped records, decided from data alone.

An :class:`~tandem.sync.entity_pass.EntityPass` reads (the source page, the bindings, the targets found by link
or match keys, the targets as they are now) and writes; between the two, a :class:`PagePlanner` turns

* the mapped page (:class:`~tandem.mapper.MappedPage`) and the source rows,
* the records' bindings, the partners found for the unbound ones and the partners coupled elsewhere,
* the update targets as they are now (and, for a two-way entity, their digests and values mapped back),

into a :class:`Plan`: records unchanged, skipped or failed (with a :class:`~tandem.sync.codes.SyncCode`), updates
(coupling a found partner or writing a bound one), creates, re-links (the target holds the values already: no
write), and conflicts settled by the entity's policy or held for a person. No store, no adapter, no clock (the
caller passes the time): it is unit-tested with small literal frames.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import pandas as pd

from tandem.mapper import MappedPage, Mapper
from tandem.store.bindings import BindingRecord
from tandem.store.conflicts import ConflictEntry
from tandem.store.digests import is_field_digest
from tandem.store.runs import RecordErrorEntry
from tandem.store.tables import Binding, BindingStatus, Side
from tandem.sync.codes import SyncCode
from tandem.sync.conflicts import HELD, ConflictPolicy, settle
from tandem.sync.coupling import Match, holds_values

#: The error code of bindings a filter keeps out, by the side whose record the filter looked at.
EXCLUDED_CODES = {Side.CRM: SyncCode.EXCLUDED_IN_CRM, Side.ERP: SyncCode.EXCLUDED_IN_ERP}


def excluded_code(side: Side) -> str:
    """The error code of a binding whose ``side`` record a filter keeps out."""
    return EXCLUDED_CODES[side]


@dataclass(frozen=True)
class Write:
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
class Plan:
    """What to do with the mapped records of one page."""

    updates: list[Write] = field(default_factory=list)
    creates: list[Write] = field(default_factory=list)
    bindings: list[BindingRecord] = field(default_factory=list)
    errors: list[RecordErrorEntry] = field(default_factory=list)
    conflicts: list[ConflictEntry] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    references: dict[str, dict[str, str]] = field(default_factory=dict)
    skipped_values: dict[str, int] = field(default_factory=dict)
    relinked: list[Write] = field(default_factory=list)
    coupled: set[tuple[str, str]] = field(default_factory=set)
    #: (source id, target id) of the records written whose target digest is the one their read-back gave.
    read_back: list[tuple[str, str]] = field(default_factory=list)

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to the count ``name`` (inserted, modified, unchanged, coupled, failed, skipped; and
        ``unchanged_read_back``: of the unchanged, those known from this run's read-back without mapping)."""
        self.counts[name] = self.counts.get(name, 0) + n


@dataclass(frozen=True)
class Targets:
    """The update targets as they are now, as a plan's second step needs them.

    Attributes:
        current: the targets read (by target id; a target not here is gone).
        hashes: for a two-way entity, each target's digest as the opposite pass computes it.
        back: for a two-way entity, each target's values as the opposite pass would write them to the source.
    """

    current: Mapping[str, dict[str, Any]]
    hashes: Mapping[str, str] = field(default_factory=dict)
    back: Mapping[str, dict[str, Any]] = field(default_factory=dict)


def _instant(value: Any) -> datetime | None:
    """A page's ``modified_at`` value as an aware datetime (``None`` when missing)."""
    stamp = pd.Timestamp(value) if value is not None else None
    if stamp is None or pd.isna(stamp):
        return None
    return (stamp if stamp.tzinfo else stamp.tz_localize("UTC")).to_pydatetime()


def _named(f: Any, target_side: Side) -> str:
    """The name of field pair ``f`` on ``target_side``."""
    return str(f.crm if target_side is Side.CRM else f.erp)


class PagePlanner:
    """Decides, record by record, what a pass does with a page (see the module docstring).

    Args:
        mapper: the pass's mapper (source → target).
        reverse: the opposite direction's mapper, for a two-way entity (else ``None``).
        source_side: the side records come from (the other one is the target).
        source_link: the source field holding the link key.
        target_link: the target field holding the link key.
        mints_link: whether a source record without a link lends its own id as the link (and gets it written back).
        create_missing: create targets that have no partner (else skip the record).
        policy: whose change stands when a record changed on both sides.
        force: the source's values stand: write even unchanged records and conflicts.
        missing_link: the message of a record that has no link key and cannot lend one.
    """

    def __init__(
        self,
        mapper: Mapper,
        reverse: Mapper | None,
        *,
        source_side: Side,
        source_link: str,
        target_link: str,
        mints_link: bool,
        create_missing: bool = True,
        policy: ConflictPolicy = ConflictPolicy.HOLD,
        force: bool = False,
        missing_link: str = "the record has no link key",
    ) -> None:
        self.mapper = mapper
        self.reverse = reverse
        self.source_side = source_side
        self.target_side = Side.ERP if source_side is Side.CRM else Side.CRM
        self.source_link = source_link
        self.target_link = target_link
        self.mints_link = mints_link
        self.create_missing = create_missing
        self.policy = policy
        self.force = force
        self.missing_link = missing_link
        self.entity = mapper.entity.name
        #: Each written target field's type (to compare a target's values with a mapped record's).
        self.kinds: dict[str, str | None] = {_named(f, self.target_side): f.type for f in mapper.fields}
        self.kinds[target_link] = None
        #: Each source field's type as the opposite pass writes it (to tell a target in step both ways).
        self.reverse_kinds: dict[str, str | None] = (
            {_named(f, self.source_side): f.type for f in reverse.fields} if reverse else {}
        )
        both_ways = {id(f) for f in reverse.fields} if reverse else set()
        #: The fields that travel both ways: the target's name → the source's name.
        self.partners = {
            _named(f, self.target_side): _named(f, self.source_side) for f in mapper.fields if id(f) in both_ways
        }

    # -- ids by side ---------------------------------------------------------------------------

    def pair(self, source_id: str, target_id: str) -> tuple[str, str]:
        """A record and its partner as (CRM id, ERP id)."""
        return (target_id, source_id) if self.source_side is Side.ERP else (source_id, target_id)

    def target_id(self, binding: Binding | None) -> str | None:
        """The target side's id of a binding."""
        if binding is None:
            return None
        return binding.crm_id if self.target_side is Side.CRM else binding.erp_id

    def _source_hash(self, binding: Binding) -> str | None:
        return binding.crm_hash if self.source_side is Side.CRM else binding.erp_hash

    def _target_hash(self, binding: Binding) -> str | None:
        return binding.crm_hash if self.target_side is Side.CRM else binding.erp_hash

    def link_for_new(self, row: Mapping[str, Any], source_id: str) -> str | None:
        """The link of a source record not bound yet: the one it holds, else its id when the source lends it."""
        link = row.get(self.source_link)
        if link is not None and link == link and str(link).strip():
            return str(link)
        return source_id if self.mints_link else None

    # -- step 1: decide ------------------------------------------------------------------------

    def exclude(self, plan: Plan, excluded: Mapping[str, tuple[str, bool]], bound: Mapping[str, Binding]) -> None:
        """Mark the records left out (by id: the rule, and whether it only counts for records not coupled yet) as
        excluded, naming the rule (a coupled record is not excluded by the only-new rule)."""
        for source_id, (reason, only_uncoupled) in excluded.items():
            plan.count("skipped")
            if only_uncoupled and self.target_id(bound.get(source_id)) is not None:
                continue
            crm_side = self.source_side is Side.CRM
            plan.bindings.append(
                BindingRecord(
                    crm_id=source_id if crm_side else None, erp_id=None if crm_side else source_id,
                    status=BindingStatus.EXCLUDED, error_code=excluded_code(self.source_side),
                    error_message=reason,
                )
            )

    def decide(
        self,
        plan: Plan,
        rows: Mapping[str, Mapping[str, Any]],
        mapped: MappedPage,
        bound: Mapping[str, Binding],
        matches: Mapping[str, Match],
        taken: set[str],
    ) -> None:
        """Sort the mapped records into unchanged, skipped, failed, updates (bound or coupled) and creates.

        Args:
            plan: the page's plan, filled in.
            rows: the source records by id (their link field is read).
            mapped: the page mapped towards the target.
            bound: the records' bindings by source id.
            matches: the partners found for the unbound records (by link or match keys).
            taken: target ids coupled with other records already (a partner found is added as it is taken).
        """
        for failure in mapped.failures:
            self.fail(plan, failure.source_id, failure.code, failure.message)
        for source_id, record, digest in zip(mapped.source_ids, mapped.records, mapped.hashes, strict=True):
            row = rows[source_id]
            binding = bound.get(source_id)
            if self._blocked(binding):
                plan.count("skipped")
                continue
            target_id = self.target_id(binding)
            if binding is not None and target_id is not None:
                if self._unchanged(binding, digest, record):
                    plan.count("unchanged")
                    continue
                record = self._changed_part(record, self._source_hash(binding), digest)
                link = binding.external_id or self.link_for_new(row, source_id)
                if link is None:
                    self.fail(plan, source_id, SyncCode.MISSING_EXTERNAL_ID, self.missing_link)
                    continue
                plan.updates.append(Write(source_id, target_id, link, record, digest,
                                          write_back=self._unlinked(row, link)))
                continue
            match = matches.get(source_id, Match())
            if match.ambiguous:
                shared = "its link key" if match.exact else "its match keys"
                self.fail(plan, source_id, SyncCode.AMBIGUOUS_MATCH, f"several target records share {shared}")
                continue
            if match.target_id is not None:
                if match.target_id in taken:
                    how = "link-key" if match.exact else "match-key"
                    self.fail(
                        plan, source_id, SyncCode.MATCH_TAKEN,
                        f"its {how} partner {match.target_id} is already coupled with another record",
                    )
                    continue
                taken.add(match.target_id)
                # The link is the source's own when it cannot lend one, else the partner's (or the lent id).
                own = None if self.mints_link else self.link_for_new(row, source_id)
                link = own or match.target_link or self.link_for_new(row, source_id)
                if link is None:
                    self.fail(plan, source_id, SyncCode.MISSING_EXTERNAL_ID, self.missing_link)
                    continue
                plan.updates.append(
                    Write(source_id, match.target_id, link, record, digest, True, self._unlinked(row, link))
                )
                continue
            if not self.create_missing:
                plan.count("skipped")
                continue
            link = self.link_for_new(row, source_id)
            if link is None:
                self.fail(plan, source_id, SyncCode.MISSING_EXTERNAL_ID, self.missing_link)
                continue
            plan.creates.append(Write(source_id, None, link, record, digest, write_back=self._unlinked(row, link)))

    def _blocked(self, binding: Binding | None) -> bool:
        """True when the record must not travel this way: its coupling was removed after its partner was
        deleted or by a person (uncoupled), or a filter on the other side keeps its partner out."""
        if binding is None or binding.status is not BindingStatus.EXCLUDED:
            return False
        return binding.error_code in {SyncCode.UNLINKED, SyncCode.UNCOUPLED, excluded_code(self.target_side)}

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

    def _unlinked(self, row: Mapping[str, Any], link: str) -> bool:
        """True when the source lends links and its record does not hold ``link`` in its link field yet."""
        if not self.mints_link:
            return False
        current = row.get(self.source_link)
        return current is None or current != current or str(current) != link

    def fail(self, plan: Plan, source_id: str, code: str, message: str, target_id: str | None = None) -> None:
        """Count a record as failed with ``code`` and store its binding as failed."""
        plan.count("failed")
        plan.errors.append(RecordErrorEntry(self.entity, self.source_side, source_id, code, message))
        ids = {self.source_side: source_id, self.target_side: target_id}
        plan.bindings.append(
            BindingRecord(
                crm_id=ids[Side.CRM], erp_id=ids[Side.ERP], status=BindingStatus.FAILED,
                error_code=code, error_message=message,
            )
        )

    # -- step 2: compare with the targets as they are now ---------------------------------------

    def vanished(self, plan: Plan, current: Mapping[str, Any]) -> int:
        """Drop the updates of bound records whose target is gone (deleted since the last sync: an upsert would
        bring it back; the deletion sweep applies the entity's policy); they count as skipped. Returns how many."""
        gone = [w for w in plan.updates if not w.coupling and str(w.target_id) not in current]
        if gone:
            plan.count("skipped", len(gone))
            dropped = {id(w) for w in gone}
            plan.updates = [w for w in plan.updates if id(w) not in dropped]
        return len(gone)

    def reconcile(
        self,
        plan: Plan,
        rows: Mapping[str, Mapping[str, Any]],
        bound: Mapping[str, Binding],
        targets: Targets,
        now: datetime,
    ) -> None:
        """Re-link the updates whose target holds their values already, and settle the conflicts of the rest.

        Call :meth:`vanished` first. A target that already holds the record's values (and its link) is re-linked:
        its binding is brought up to date without a write, never a conflict. For a two-way entity, any other
        target that changed too since the last sync is a conflict, settled by the entity's policy.

        Args:
            plan: the page's plan (its updates are narrowed to the records to write).
            rows: the page's source records by id.
            bound: their bindings.
            targets: the update targets as they are now.
            now: the sync time of the bindings re-linked.
        """
        keep: list[Write] = []
        for write in plan.updates:
            target = targets.current.get(str(write.target_id))
            if target is not None and not self.force and self.holds(target, write):
                self._relink(plan, write, rows[write.source_id], targets, now)
            else:
                keep.append(write)
        plan.updates = keep
        if self.reverse is not None and not self.force and targets.current:
            self._settle_conflicts(plan, rows, bound, targets)

    def holds(self, target: Mapping[str, Any], write: Write) -> bool:
        """True when ``target`` holds the values ``write`` would write, and its link key."""
        return holds_values(target, {self.target_link: write.link, **write.record}, self.kinds)

    def _relink(self, plan: Plan, write: Write, row: Mapping[str, Any], targets: Targets, now: datetime) -> None:
        """Bind a record to a target that already holds its values: no write, no conflict.

        The target side's hash is stored only when the record is in step both ways (the source holds what the
        opposite pass would write too); otherwise the stored one stays, and the opposite pass syncs the rest.
        """
        target_id = str(write.target_id)
        back = targets.back
        in_step = target_id in back and holds_values(row, back[target_id], self.reverse_kinds)
        ids = {self.source_side: write.source_id, self.target_side: target_id}
        digests = {self.source_side: write.digest,
                   self.target_side: targets.hashes.get(target_id) if in_step else None}
        plan.bindings.append(
            BindingRecord(
                crm_id=ids[Side.CRM], erp_id=ids[Side.ERP], external_id=write.link,
                crm_hash=digests[Side.CRM], erp_hash=digests[Side.ERP],
                status=BindingStatus.SYNCED, last_synced_at=now,
            )
        )
        if write.coupling:
            plan.count("coupled")
            plan.coupled.add(self.pair(write.source_id, target_id))
        else:
            plan.count("unchanged")
        if write.write_back:
            plan.relinked.append(write)

    def _settle_conflicts(
        self,
        plan: Plan,
        rows: Mapping[str, Mapping[str, Any]],
        bound: Mapping[str, Binding],
        targets: Targets,
    ) -> None:
        """Find the updates whose target record changed the same fields since the last sync, and apply the
        entity's policy to them.

        Fields whose digests (as the opposite pass computes them) differ from the stored ones changed on the
        target since the last sync. Edits of different fields are no conflict: this pass writes its fields and
        leaves the target's (they stay pending, for the opposite pass). When a field changed on both sides to
        different values, the winner's values are written (by this pass or the opposite one); a held record is
        written by neither and marked ``CONFLICT_HELD``.
        """
        keep: list[Write] = []
        for write in plan.updates:
            target_id = str(write.target_id)
            stored = self._target_hash(bound[write.source_id]) if not write.coupling else None
            changed_there = self._target_changes(stored, targets.hashes.get(target_id), targets.back.get(target_id))
            if not changed_there:
                keep.append(write)
                continue
            write = replace(write, pending=changed_there, target_digest=stored)
            overlap = self._overlap(write, targets.current[target_id])
            if not overlap:
                keep.append(write)
                continue
            times = {
                self.source_side: rows[write.source_id].get("modified_at"),
                self.target_side: targets.current[target_id].get("modified_at"),
            }
            outcome = settle(self.policy, times[Side.CRM], times[Side.ERP])
            ids = {self.source_side: write.source_id, self.target_side: target_id}
            plan.conflicts.append(
                ConflictEntry(
                    entity=self.entity, crm_id=ids[Side.CRM], erp_id=ids[Side.ERP],
                    crm_modified_at=_instant(times[Side.CRM]), erp_modified_at=_instant(times[Side.ERP]),
                    policy=self.policy.value, outcome=outcome,
                )
            )
            if outcome == self.source_side.value:  # this side's values stand; the target's other edits travel
                keep.append(replace(write, pending=write.pending - {self.partners[name] for name in overlap}))
            elif outcome == HELD:  # listed with the conflicts (not as a failure); the binding says it waits
                plan.bindings.append(
                    BindingRecord(
                        crm_id=ids[Side.CRM], erp_id=ids[Side.ERP], status=BindingStatus.FAILED,
                        error_code=SyncCode.CONFLICT_HELD,
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
        self, stored: str | None, now: str | None, target: Mapping[str, Any] | None
    ) -> frozenset[str]:
        """The fields (named on the source side) a target changed since the last sync; every two-way field when
        the stored digest cannot tell which (a store older than field digests)."""
        if self.reverse is None or stored is None or now is None or now == stored:
            return frozenset()
        if not is_field_digest(stored):
            if target is not None and self.reverse.whole_record_hash(dict(target)) == stored:
                return frozenset()
            return frozenset(self.reverse.digests.names)
        changed = self.reverse.digests.changed_fields(stored, now)
        return frozenset(self.reverse.digests.names) if changed is None else changed

    def _overlap(self, write: Write, target: Mapping[str, Any]) -> set[str]:
        """The fields ``write`` would write (target names) that the target changed too, to another value."""
        return {
            name for name, value in write.record.items()
            if self.partners.get(name) in write.pending and not holds_values(target, {name: value}, self.kinds)
        }
