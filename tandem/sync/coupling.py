"""Coupling: find records that already exist on the target side by each entity's match keys.

The index reads the target side's key fields once per pass (pages, like any read), so coupling a
page costs dictionary look-ups, not a query per record.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pandas as pd

from tandem.sync.context import Route, SyncContext


def normalise_key(value: Any) -> str | None:
    """Compare keys the way people mean them: trimmed, case-folded text; empty means no key."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip().casefold()
    return text or None


@dataclass(frozen=True)
class Match:
    """The outcome of looking a source record up: the target record's id and link key, or why not."""

    target_id: str | None = None
    target_link: str | None = None
    ambiguous: bool = False


class MatchIndex:
    """The target side's records by match-key values, for one route."""

    def __init__(self, route: Route) -> None:
        self.route = route
        self.groups = [
            [(route.source_field(k.crm, k.erp), route.target_field(k.crm, k.erp)) for k in group]
            for group in route.entity.match_keys
        ]
        self._index: list[dict[tuple[str | None, ...], list[str]]] = [defaultdict(list) for _ in self.groups]
        self._links: dict[str, str | None] = {}

    @property
    def source_fields(self) -> list[str]:
        """The source columns the look-ups need."""
        return list(dict.fromkeys(source for group in self.groups for source, _ in group))

    def load(self, context: SyncContext) -> MatchIndex:
        """Read every target record's key fields (and link key) into the index."""
        target_fields = list(dict.fromkeys([self.route.target_link_field] + [t for g in self.groups for _, t in g]))
        adapter = self.route.target_adapter(context)
        for page in adapter.read_changed_since(
            self.route.target_object, None, fields=target_fields, page_size=context.page_size
        ):
            self.add(page)
        return self

    def add(self, page: pd.DataFrame) -> None:
        """Index a page of target records."""
        ids = page["id"].astype(str).tolist()
        links = page[self.route.target_link_field].tolist()
        for record_id, link in zip(ids, links, strict=True):
            self._links[record_id] = None if normalise_key(link) is None else str(link)
        for group, index in zip(self.groups, self._index, strict=True):
            columns = [page[target].tolist() for _, target in group]
            for record_id, *values in zip(ids, *columns, strict=True):
                key = tuple(normalise_key(v) for v in values)
                if all(part is not None for part in key):
                    index[key].append(record_id)

    def find(self, row: dict[str, Any]) -> Match:
        """Look a source record (its source columns) up, group by group; the first group that finds wins."""
        for group, index in zip(self.groups, self._index, strict=True):
            key = tuple(normalise_key(row.get(source)) for source, _ in group)
            if any(part is None for part in key):
                continue
            found = index.get(key, [])
            if len(found) == 1:
                return Match(target_id=found[0], target_link=self._links.get(found[0]))
            if len(found) > 1:
                return Match(ambiguous=True)
        return Match()
