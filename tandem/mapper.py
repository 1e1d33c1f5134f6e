"""Turn a page of one system's records into the other system's shape, following an entity mapping.

Vectorised with pandas: one pass per field over the page, never per record and field in Python
loops beyond building the final dictionaries. Values a value map does not list are *not synced*:
the field is left out of that record (the target keeps its value) and the skip is counted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from tandem.mapping import Direction, EntityMapping, FieldMap, referenced_entities
from tandem.store.hashing import content_hash

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")
_OMIT = object()


@dataclass(frozen=True)
class RecordFailure:
    """A source record that cannot be mapped, and why (no field values in the message)."""

    source_id: str
    code: str
    message: str


@dataclass
class MappedPage:
    """The result of mapping one page.

    Attributes:
        source_ids: ids of the source records that mapped, in order.
        records: the target-shaped records (fields not synced are absent), aligned with ``source_ids``.
        hashes: a content hash of each mapped record (to recognise unchanged records and echoes);
            fields written only on create are left out, so a record hashes alike before and after.
        failures: records that could not be mapped.
        skipped_values: per target field, how many values a value map left unsynced.
        skipped_fields: per mapped record (aligned with ``records``), the target fields left unsynced.
    """

    source_ids: list[str] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)
    failures: list[RecordFailure] = field(default_factory=list)
    skipped_values: dict[str, int] = field(default_factory=dict)
    skipped_fields: list[list[str]] = field(default_factory=list)


def render_template(template: str, values: Mapping[str, Any]) -> str:
    """Replace ``{{name}}`` placeholders in ``template`` with ``values[name]`` (missing → empty)."""
    return _PLACEHOLDER.sub(lambda m: "" if values.get(m.group(1)) is None else str(values[m.group(1)]), template)


def template_fields(template: str) -> list[str]:
    """The placeholder names used in ``template``."""
    return _PLACEHOLDER.findall(template)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value is pd.NaT


def _convert(series: pd.Series, kind: str | None) -> pd.Series:
    """Normalise a column to JSON-ready values of ``kind``; missing values become ``None``."""
    if kind == "date":
        parsed = pd.to_datetime(series, utc=True, errors="coerce", format="mixed")
        out = parsed.dt.strftime("%Y-%m-%d")
    elif kind == "datetime":
        parsed = pd.to_datetime(series, utc=True, errors="coerce", format="mixed")
        out = parsed.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z"
    elif kind == "number":
        out = pd.to_numeric(series, errors="coerce")
    elif kind == "boolean":
        out = series.map(lambda v: None if _is_missing(v) else str(v).lower() in {"true", "1", "yes"})
    elif kind == "string":
        out = series.map(lambda v: None if _is_missing(v) else str(v))
    else:
        out = series
    return out.astype(object).where(series.notna() & out.notna(), None)


def _translate(values: pd.Series, lookup: Mapping[str, str]) -> tuple[pd.Series, list[int]]:
    """Translate reference ids through ``lookup``; return the new values and the unresolved positions."""
    out: list[Any] = []
    unresolved: list[int] = []
    for position, value in enumerate(values.tolist()):
        if value is None or value is _OMIT:
            out.append(value)
            continue
        target = lookup.get(str(value))
        if target is None:
            unresolved.append(position)
        out.append(target)
    return pd.Series(out, index=values.index, dtype=object), unresolved


class Mapper:
    """Maps pages of one entity in one direction.

    Args:
        entity: the entity mapping.
        direction: ``Direction.TO_CRM`` (ERP records in, CRM records out) or ``Direction.TO_ERP``.
        templates: text templates by target field, overriding the mapping's (e.g. the connection's
            activity subject template for ``Subject``).
    """

    def __init__(self, entity: EntityMapping, direction: Direction, *, templates: Mapping[str, str] | None = None):
        if direction is Direction.BOTH:
            raise ValueError("map one way at a time: Direction.TO_CRM or Direction.TO_ERP")
        self.entity = entity
        self.direction = direction
        self.fields = entity.fields_towards(direction)
        self.templates = dict(templates or {})
        self._create_only = {self._target(f) for f in self.fields if f.only_on_create or self._fixed_template(f)}

    def _source(self, f: FieldMap) -> str:
        return f.erp if self.direction is Direction.TO_CRM else f.crm

    def _target(self, f: FieldMap) -> str:
        return f.crm if self.direction is Direction.TO_CRM else f.erp

    def _fixed_template(self, f: FieldMap) -> bool:
        """True when ``f``'s template does not use the field's own value: its text is set on create only.

        (The Sales Connect rule: an ERP title change updates the Subject only when the activity subject
        template contains ``{{activity_subject}}``.)
        """
        template = self.templates.get(self._target(f), f.template)
        return template is not None and f.placeholder is not None and f.placeholder not in template_fields(template)

    def _placeholder_column(self, f: FieldMap, name: str) -> str:
        """The source column a template placeholder stands for."""
        return self._source(f) if name == f.placeholder else name

    def source_fields(self) -> list[str]:
        """The source columns this mapping reads (including template placeholders)."""
        names: list[str] = []
        for f in self.fields:
            template = self.templates.get(self._target(f), f.template)
            if template is None:
                names.append(self._source(f))
            else:
                names.extend(self._placeholder_column(f, n) for n in template_fields(template))
        return list(dict.fromkeys(names))

    def map_page(
        self,
        frame: pd.DataFrame,
        *,
        references: Mapping[str, Mapping[str, str]] | None = None,
        creating: pd.Series | None = None,
    ) -> MappedPage:
        """Map ``frame`` (an adapter page with an ``id`` column) to target-shaped records.

        Args:
            frame: the source records.
            references: per referenced entity, source id → target id (from the bindings).
            creating: a boolean per row, True where the target record does not exist yet; fields
                marked ``only_on_create`` are written only for those rows.

        Returns:
            The mapped page; a record whose reference cannot be translated fails alone.
        """
        references = references or {}
        page = MappedPage()
        n = len(frame)
        if n == 0:
            return page
        creating = creating if creating is not None else pd.Series(True, index=frame.index)
        columns: dict[str, list[Any]] = {}
        failed: dict[int, RecordFailure] = {}
        skipped_at: dict[int, list[str]] = {}
        ids = frame["id"].astype(str).tolist()
        for f in self.fields:
            target = self._target(f)
            values = self._column(f, frame, page)
            entities = referenced_entities(f)
            if entities:
                lookup = {k: v for name in reversed(entities) for k, v in references.get(name, {}).items()}
                values, unresolved = _translate(values, lookup)
                if f.unresolved == "omit":
                    for position in unresolved:
                        values.iat[position] = _OMIT
                    if unresolved:
                        page.skipped_values[target] = page.skipped_values.get(target, 0) + len(unresolved)
                    unresolved = []
                for position in unresolved:
                    failed.setdefault(
                        position,
                        RecordFailure(
                            ids[position], "UNRESOLVED_REFERENCE",
                            f"{target} refers to a {' or '.join(entities)} record that is not synced yet",
                        ),
                    )
            for position, value in enumerate(values.tolist()):
                if value is _OMIT:
                    skipped_at.setdefault(position, []).append(target)
            if target in self._create_only:
                values = values.where(creating.to_numpy(), _OMIT)
            columns[target] = values.tolist()
        targets = list(columns)
        rows = zip(*(columns[t] for t in targets), strict=True)
        for position, row in enumerate(rows):
            if position in failed:
                page.failures.append(failed[position])
                continue
            record = {name: value for name, value in zip(targets, row, strict=True) if value is not _OMIT}
            page.source_ids.append(ids[position])
            page.records.append(record)
            page.skipped_fields.append(skipped_at.get(position, []))
            page.hashes.append(content_hash({k: v for k, v in record.items() if k not in self._create_only}))
        return page

    def _column(self, f: FieldMap, frame: pd.DataFrame, page: MappedPage) -> pd.Series:
        target = self._target(f)
        template = self.templates.get(target, f.template)
        if template is not None:
            names = template_fields(template)
            if not names:
                return pd.Series(template, index=frame.index, dtype=object)
            columns = {name: self._placeholder_column(f, name) for name in names}
            sources = {
                name: frame[column] if column in frame else pd.Series(None, index=frame.index)
                for name, column in columns.items()
            }
            rendered = [
                render_template(template, dict(zip(names, row, strict=True)))
                for row in zip(*(sources[n].tolist() for n in names), strict=True)
            ]
            return pd.Series(rendered, index=frame.index, dtype=object)
        source = self._source(f)
        if source not in frame:
            raise KeyError(f"entity {self.entity.name!r}: the page has no column {source!r} for field {target!r}")
        values = _convert(frame[source], f.type)
        if f.values is None:
            return values
        forward = dict(f.values) if self.direction is Direction.TO_ERP else {erp: crm for crm, erp in f.values}
        # (pandas turns a None returned by map into NaN: missing stays None, which JSON can carry.)
        mapped = values.map(lambda v: None if v is None else forward.get(str(v), _OMIT))
        mapped = mapped.astype(object).where(values.notna(), None)
        skipped = int(mapped.map(lambda v: v is _OMIT).sum())
        if skipped:
            page.skipped_values[target] = page.skipped_values.get(target, 0) + skipped
        return mapped
