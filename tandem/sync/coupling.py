"""Coupling: find records that already exist on the target side, and tell whether they already hold a record's
values.

An exact link (the link key both records hold, each in its side's link field) always wins; the entity's match
keys only couple records without one. The match index reads, for each page, the target records whose key
values are the page's (one read per match-key group, chunked by the system's limits): the cost of coupling
follows the changes, not the size of the other system, and the index holds a page's candidates only. A full
pass asks once how many records the target holds: none, and nothing is looked up; at most
:data:`WHOLE_READ_LIMIT`, and they are read once (fewer calls than a look-up per page).

:func:`holds_values` compares a target record as it is now with the values a sync would write to it: when
it holds them already (a run wrote them and stopped before recording its bindings, a reply was lost, or
the systems were put in step some other way), the record is re-linked instead of written again or held
as a conflict.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from numbers import Real
from typing import Any

import pandas as pd

from tandem.store.hashing import canonical_form
from tandem.sync.context import Route, SyncContext

#: Texts read as booleans (the ERP answers ``true``/``false`` as text).
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})
#: The most target records a full pass reads into the match index at once; above, it looks up page by page.
WHOLE_READ_LIMIT = 50_000
#: A look-up of at least this many source records asks the target's size first (once a pass), even outside a full
#: pass: an initial import or a large incremental run looks up hundreds of values, and the ERP's searches take one
#: value each (a search per value), where reading a small target whole costs a page or two.
COUNT_BEFORE_LOOKUP = 20
#: ... and then reads the target whole when it holds at most this many records per source record looked up (the
#: whole read then returns about as many records as the look-ups would have asked for).
WHOLE_READ_PER_ROW = 4


def normalise_key(value: Any) -> str | None:
    """Compare keys the way people mean them: trimmed, case-folded text; empty means no key."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip().casefold()
    return text or None


@dataclass(frozen=True)
class Match:
    """The outcome of looking a source record up: the target record's id and link key, or why not.

    Attributes:
        target_id: the partner's id, when one was found.
        target_link: the link key the partner holds.
        ambiguous: several target records qualify.
        exact: found by the exact link (not by match keys).
        group: the position of the match-key group that found it (0: the mapping's first), when found by match keys.
    """

    target_id: str | None = None
    target_link: str | None = None
    ambiguous: bool = False
    exact: bool = False
    group: int | None = None


class MatchIndex:
    """The target side's records by match-key values, for one route.

    Args:
        route: the entity and direction (the target side is the one searched).
        whole_read_limit: the most target records a full pass reads whole (see :meth:`look_up`).
    """

    def __init__(self, route: Route, *, whole_read_limit: int = WHOLE_READ_LIMIT) -> None:
        self.route = route
        self.whole_read_limit = whole_read_limit
        self.groups = [
            [(route.source_field(k.crm, k.erp), route.target_field(k.crm, k.erp)) for k in group]
            for group in route.entity.match_keys
        ]
        self._index: list[dict[tuple[str | None, ...], list[str]]] = [defaultdict(list) for _ in self.groups]
        self._links: dict[str, str | None] = {}
        #: Whether the index answers for every source record: the whole target was read, or it holds nothing.
        self._complete = False
        #: How many records the target holds, once a look-up asked (once a pass).
        self._held: int | None = None
        #: Target reads made by :meth:`look_up` (pages' look-ups and whole reads; for tests and benchmarks).
        self.reads = 0
        #: The target's link field (known once the index met the run's context).
        self.link_field: str | None = None

    @property
    def complete(self) -> bool:
        """Whether the index holds every target record it will need (read whole, or the target was empty): then
        no look-up reads the target any more."""
        return self._complete

    @property
    def empty(self) -> bool:
        """Whether the index knows the target holds no record at all (nothing can be found)."""
        return self._complete and not self._links

    @property
    def source_fields(self) -> list[str]:
        """The source columns the look-ups need."""
        return list(dict.fromkeys(source for group in self.groups for source, _ in group))

    @property
    def target_fields(self) -> list[str]:
        """The target columns the index needs: the link key (once known) and every match key."""
        links = [self.link_field] if self.link_field is not None else []
        return list(dict.fromkeys([*links, *(t for g in self.groups for _, t in g)]))

    def _meet(self, context: SyncContext) -> None:
        """Learn the target's link field from the run's adapters."""
        if self.link_field is None:
            self.link_field = self.route.target_link_field(context)

    def load(self, context: SyncContext) -> MatchIndex:
        """Read every target record's key fields (and link key) into the index."""
        self._meet(context)
        adapter = self.route.target_adapter(context)
        for page in adapter.read_changed_since(
            self.route.target_object, None, fields=self.target_fields, page_size=context.page_size
        ):
            self.add(page)
        self._complete = True
        return self

    def look_up(self, context: SyncContext, rows: Sequence[Mapping[str, Any]], *, full: bool = False) -> MatchIndex:
        """Read the target records :meth:`find` needs for ``rows`` (source records: their source columns).

        Group by group in the mapping's order, the target records holding the key values of the rows that no
        earlier group found are read by those values (``read_by_keys`` on the group's first field; one query
        per page and group, or a few where the values must be chunked); the index then holds those candidates
        only. Records a full pass (``full``) reads are many: it first asks how many the target holds (one call);
        when none, nothing is looked up for the whole pass; when at most ``whole_read_limit``, they are read
        once (:meth:`load`), which costs fewer calls than a page of look-ups. Outside a full pass, a look-up of at
        least :data:`COUNT_BEFORE_LOOKUP` rows asks the size too, and reads the target whole when it holds at most
        :data:`WHOLE_READ_PER_ROW` records per row (and no more than ``whole_read_limit``).
        """
        if self._complete:
            return self
        self._meet(context)
        adapter = self.route.target_adapter(context)
        many = len(rows) >= COUNT_BEFORE_LOOKUP and self.whole_read_limit > 0
        if full or many:
            if self._held is None:
                self._held = adapter.count(self.route.target_object)
                self.reads += 1
            held = self._held
            if held <= self.whole_read_limit and (full or held <= WHOLE_READ_PER_ROW * len(rows)):
                if held:
                    self.load(context)
                self._complete = True
                return self
        self._index = [defaultdict(list) for _ in self.groups]
        self._links = {}
        pending = list(rows)
        for position, group in enumerate(self.groups):
            values: dict[str, str] = {}
            for row in pending:
                if _key(group, row) is not None:
                    for spelling in _spellings(row.get(group[0][0])):
                        values.setdefault(spelling.casefold() if spelling.isascii() else spelling, spelling)
            if not values:
                continue
            self.add(adapter.read_by_keys(
                self.route.target_object, group[0][1], list(values.values()), fields=self.target_fields
            ))
            self.reads += 1
            index = self._index[position]
            pending = [row for row in pending if not index.get(_key(group, row) or ())]
        return self

    def add(self, page: pd.DataFrame) -> None:
        """Index a page of target records (a record indexed already is not added again)."""
        fresh = ~page["id"].astype(str).isin(self._links)
        page = page[fresh.to_numpy()]
        ids = page["id"].astype(str).tolist()
        links = page[self.link_field].tolist() if self.link_field in page else [None] * len(ids)
        for record_id, link in zip(ids, links, strict=True):
            self._links[record_id] = None if normalise_key(link) is None else str(link)
        for group, index in zip(self.groups, self._index, strict=True):
            columns = [page[target].tolist() for _, target in group]
            for record_id, *values in zip(ids, *columns, strict=True):
                key = tuple(normalise_key(v) for v in values)
                if all(part is not None for part in key):
                    index[key].append(record_id)

    def find(self, row: Mapping[str, Any]) -> Match:
        """Look a source record (its source columns) up, group by group; the first group that finds wins."""
        for position, (group, index) in enumerate(zip(self.groups, self._index, strict=True)):
            key = _key(group, row)
            if key is None:
                continue
            found = index.get(key, [])
            if len(found) == 1:
                return Match(target_id=found[0], target_link=self._links.get(found[0]), group=position)
            if len(found) > 1:
                return Match(ambiguous=True, group=position)
        return Match()


def _spellings(value: Any) -> list[str]:
    """The spellings of a key value a look-up sends: the value as it is (trimmed), and for text beyond ASCII its
    lower and upper case too (both systems compare text ignoring case, but some, like the emulators, fold the
    case of ASCII letters only)."""
    text = str(value).strip()
    if text.isascii():
        return [text]
    return list(dict.fromkeys([text, text.lower(), text.upper()]))


def _key(group: list[tuple[str, str]], row: Mapping[str, Any]) -> tuple[str | None, ...] | None:
    """A source record's normalised values for one match-key group, or ``None`` when one is missing."""
    key = tuple(normalise_key(row.get(source)) for source, _ in group)
    return None if any(part is None for part in key) else key


def _missing(value: Any) -> bool:
    """None, NaN, NaT, pandas' NA and empty text (Salesforce stores an empty text as null)."""
    if value is None:
        return True
    if isinstance(value, str):
        return value == ""
    if isinstance(value, list | tuple | dict | set):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def comparable(value: Any, kind: str | None) -> Any:
    """``value`` in a form that compares equal to the same value as the other system writes or reads it.

    Missing values and empty text are ``None``; ``number`` fields compare as decimals (``12.5`` = ``"12.50"``),
    ``boolean`` fields as booleans (``"true"`` = ``True``), ``date`` fields by their UTC day and ``datetime``
    fields to the millisecond in UTC (as the mapper writes them); other values as NFC text (numbers as their
    canonical digits). A value that cannot be read as its kind compares as text, so it never equals a value of
    another kind by accident.

    Args:
        value: a value from a page or a mapped record.
        kind: the field's type in the mapping (``None`` when it has none).
    """
    if _missing(value):
        return None
    if kind == "number" and not isinstance(value, bool):
        try:
            return ("number", canonical_form(Decimal(str(value))))
        except (InvalidOperation, ValueError):
            pass
    elif kind == "boolean":
        if isinstance(value, bool):
            return ("boolean", value)
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return ("boolean", text in _TRUE)
    elif kind in ("date", "datetime"):
        stamp = pd.to_datetime(pd.Series([value], dtype=object), utc=True, errors="coerce", format="mixed").iloc[0]
        if not pd.isna(stamp):
            if kind == "date":
                return ("date", stamp.strftime("%Y-%m-%d"))
            return ("datetime", stamp.floor("ms").isoformat())
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, Decimal | Real):
        return canonical_form(value)
    item = getattr(value, "item", None)
    if callable(item):  # numpy scalars
        return comparable(item(), kind)
    return canonical_form(value)


def holds_values(current: Mapping[str, Any], record: Mapping[str, Any], kinds: Mapping[str, str | None]) -> bool:
    """True when ``current`` (a record as a system holds it now) holds every value of ``record``.

    Args:
        current: the record as read (a page row: field name → value).
        record: the values to look for (a mapped record; its absent fields are not compared).
        kinds: each field's type in the mapping, for :func:`comparable`.

    Returns:
        False as soon as one field differs or was not read.
    """
    for name, value in record.items():
        if name not in current:
            return False
        kind = kinds.get(name)
        if comparable(value, kind) != comparable(current[name], kind):
            return False
    return True
