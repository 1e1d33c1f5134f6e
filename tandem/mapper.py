"""Turn a page of one system's records into the other system's shape, following an entity mapping.

Vectorised with pandas: one pass per field over the page, never per record and field in Python
loops beyond building the final dictionaries; the records' field digests are made from the same
columns, field by field (:meth:`tandem.store.digests.DigestMaker.digests`), not from the records.
Values a value map does not list are *not synced*: the field is left out of that record (the target
keeps its value) and the skip is counted.

Typed values are parsed with explicit formats and checked, never coerced:

* ``date``: ``YYYY-MM-DD`` (Salesforce, xsd:date) or an xsd:dateTime / Salesforce datetime, whose
  calendar date is taken as written (no time-zone shift); written as ``YYYY-MM-DD``.
* ``datetime``: ``YYYY-MM-DDThh:mm:ss[.fff][Z|+hh:mm|+hhmm]`` (no zone means UTC); written in UTC as
  ``YYYY-MM-DDThh:mm:ss.fffZ`` (milliseconds, Salesforce's precision; finer digits are dropped).
* ``number``: a JSON number or decimal text (``12``, ``-3.5``, ``1.2E3``); whole numbers without a
  point stay integers.
* ``boolean``: ``true``/``false``/``1``/``0`` (any case; also ``yes``/``no``).

Dates are Python ``date``/``datetime`` objects on the way (never pandas' datetime64, which cannot hold
the years before 1677), so the whole range both systems accept round-trips exactly: Salesforce
1700-01-01 to 4000-12-31, xsd years 0001 to 9999. A value that cannot be read, or that the target
cannot hold, fails that record alone with ``INVALID_DATE``, ``DATE_OUT_OF_RANGE``, ``INVALID_NUMBER``
or ``INVALID_BOOLEAN``; the message names the field, never the value. Missing values (``None``,
NaN, empty text) stay ``None``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from numbers import Integral, Real
from typing import Any

import pandas as pd

from tandem.mapping import Direction, EntityMapping, FieldMap, referenced_entities
from tandem.store.digests import DigestMaker
from tandem.store.hashing import content_hash

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")
_OMIT = object()

#: ``YYYY-MM-DD``, optionally ``Thh:mm:ss[.f+]``, optionally a zone (``Z``, ``+hh:mm``, ``+hhmm``): the
#: xsd:date / xsd:dateTime lexical forms and Salesforce's date and datetime forms. Years have at least
#: four digits (xsd), may be signed; anything else is not a date.
_DATE_TEXT = re.compile(
    r"(?P<year>-?\d{4,})-(?P<month>\d{2})-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2}):(?P<second>\d{2})(?:\.(?P<fraction>\d+))?)?"
    r"(?P<zone>Z|[+-]\d{2}:?\d{2})?"
)
_NUMBER_TEXT = re.compile(r"[+-]?(?:\d+(?P<point>\.\d*)?|(?P<bare>\.\d+))(?P<exponent>[eE][+-]?\d+)?")
_BOOLEAN_TEXT = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}

INVALID_DATE = "INVALID_DATE"
DATE_OUT_OF_RANGE = "DATE_OUT_OF_RANGE"
INVALID_NUMBER = "INVALID_NUMBER"
INVALID_BOOLEAN = "INVALID_BOOLEAN"


@dataclass(frozen=True)
class DateRange:
    """The dates and times a system can hold (inclusive), and how people name that range."""

    system: str
    first_date: date
    last_date: date
    first_time: datetime
    last_time: datetime

    def describe(self, kind: str) -> str:
        """``Salesforce holds dates from 1700-01-01 to 4000-12-31`` (``kind``: ``date`` or ``datetime``)."""
        if kind == "date":
            return f"{self.system} holds dates from {self.first_date.isoformat()} to {self.last_date.isoformat()}"
        return f"{self.system} holds times from {_time_text(self.first_time)} to {_time_text(self.last_time)}"


#: Salesforce: dates 1700-01-01 to 4000-12-31; datetimes 1700-01-01T00:00:00Z to 4000-12-31T00:00:00Z.
SALESFORCE_RANGE = DateRange(
    "Salesforce", date(1700, 1, 1), date(4000, 12, 31),
    datetime(1700, 1, 1, tzinfo=UTC), datetime(4000, 12, 31, tzinfo=UTC),
)
#: The ERP (xsd:date / xsd:dateTime as SuiteTalk reads them): years 0001 to 9999.
ERP_RANGE = DateRange(
    "the ERP", date.min, date.max, datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC),
)


class _Unfit(ValueError):
    """A value that cannot be read, or that the target cannot hold: its error code (no value inside)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


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
        hashes: the field digest of each mapped record (:mod:`tandem.store.digests`: to recognise unchanged
            records and echoes, and which fields changed); fields written only on create are left out, so a
            record digests alike before and after.
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
    """Replace ``{{name}}`` placeholders in ``template`` with ``values[name]`` (missing → empty: absent, ``None``, or
    a frame's NaN, NaT or NA, as pandas reads an empty text cell)."""
    return _PLACEHOLDER.sub(lambda m: "" if _is_missing(values.get(m.group(1))) else str(values[m.group(1)]), template)


def template_fields(template: str) -> list[str]:
    """The placeholder names used in ``template``."""
    return _PLACEHOLDER.findall(template)


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    return isinstance(value, float) and value != value


def _time_text(moment: datetime) -> str:
    """``moment`` in UTC as ``YYYY-MM-DDThh:mm:ss.fffZ`` (four-digit years, milliseconds)."""
    utc = moment.astimezone(UTC)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
        f".{utc.microsecond // 1000:03d}Z"
    )


def _parse_date_text(text: str, kind: str) -> date | datetime:
    """Read one date or datetime text (see :data:`_DATE_TEXT`).

    For ``kind == "date"`` the calendar date is taken as written; for ``datetime`` the moment in UTC.

    Raises:
        _Unfit: ``INVALID_DATE`` (not that form, no such day or time) or ``DATE_OUT_OF_RANGE`` (a year
            outside 0001-9999, which no system here holds).
    """
    match = _DATE_TEXT.fullmatch(text.strip())
    if match is None:
        raise _Unfit(INVALID_DATE)
    parts = match.groupdict()
    year = int(parts["year"])
    if not 1 <= year <= 9999:
        if not 1 <= int(parts["month"]) <= 12 or not 1 <= int(parts["day"]) <= 31:
            raise _Unfit(INVALID_DATE)
        raise _Unfit(DATE_OUT_OF_RANGE)
    try:
        day = date(year, int(parts["month"]), int(parts["day"]))
    except ValueError:
        raise _Unfit(INVALID_DATE) from None
    hour, minute, second = (int(parts[n] or 0) for n in ("hour", "minute", "second"))
    if hour > 23 or minute > 59 or second > 59:
        raise _Unfit(INVALID_DATE)
    zone = parts["zone"]
    offset = timedelta(0)
    if zone and zone != "Z":
        digits = zone[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:])
        if hours > 23 or minutes > 59:
            raise _Unfit(INVALID_DATE)
        offset = (-1 if zone[0] == "-" else 1) * timedelta(hours=hours, minutes=minutes)
    if kind == "date":
        return day
    micro = int((parts["fraction"] or "0")[:6].ljust(6, "0"))
    local = datetime(day.year, day.month, day.day, hour, minute, second, micro, tzinfo=UTC)
    try:
        return local - offset
    except OverflowError:
        raise _Unfit(DATE_OUT_OF_RANGE) from None


def _read_date(value: Any, kind: str) -> date | datetime:
    """Read one source value (text, ``date`` or ``datetime``) as a ``date`` or an aware UTC ``datetime``."""
    if isinstance(value, str):
        return _parse_date_text(value, kind)
    if isinstance(value, datetime):  # pandas Timestamps included
        if kind == "date":
            return date(value.year, value.month, value.day)
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise _Unfit(DATE_OUT_OF_RANGE) from None
    if isinstance(value, date):
        return value if kind == "date" else datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise _Unfit(INVALID_DATE)


def _date_writer(kind: str, bounds: DateRange) -> Callable[[Any], str]:
    """A function that turns one source value into the target's date (or datetime) text, checked."""
    if kind == "date":
        low: date | datetime = bounds.first_date
        high: date | datetime = bounds.last_date
    else:
        low, high = bounds.first_time, bounds.last_time

    def write(value: Any) -> str:
        moment = _read_date(value, kind)
        if not low <= moment <= high:  # both sides are dates, or both datetimes
            raise _Unfit(DATE_OUT_OF_RANGE)
        if isinstance(moment, datetime):
            return _time_text(moment)
        return moment.isoformat()

    return write


def _read_number(value: Any) -> int | float:
    """Read one number (a JSON number or decimal text); whole numbers written without a point stay ``int``.

    Raises:
        _Unfit: ``INVALID_NUMBER`` for text that is not a decimal number, a boolean, or an infinite value.
    """
    if isinstance(value, bool):
        raise _Unfit(INVALID_NUMBER)
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Decimal | Real):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        match = _NUMBER_TEXT.fullmatch(text)
        if match is None:
            raise _Unfit(INVALID_NUMBER)
        if match["point"] is None and match["bare"] is None and match["exponent"] is None:
            return int(text)
        number = float(text)
    else:
        raise _Unfit(INVALID_NUMBER)
    if not math.isfinite(number):
        raise _Unfit(INVALID_NUMBER)
    return number


def _read_boolean(value: Any) -> bool:
    """Read one boolean (``True``/``False``, ``true``/``false``/``1``/``0``/``yes``/``no``, 0 and 1).

    Raises:
        _Unfit: ``INVALID_BOOLEAN`` for anything else.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, Integral) and int(value) in (0, 1):
        return bool(int(value))
    found = _BOOLEAN_TEXT.get(value.strip().lower()) if isinstance(value, str) else None
    if found is None:
        raise _Unfit(INVALID_BOOLEAN)
    return found


def _convert(series: pd.Series, kind: str | None, bounds: DateRange) -> tuple[pd.Series, dict[int, str]]:
    """Normalise a column to JSON-ready values of ``kind``, checked against the target's ``bounds``.

    Returns:
        The values (missing ones ``None``; unfit ones ``None`` too), and per unfit position its error code.
    """
    if kind is None:
        return series.astype(object).where(series.notna(), None), {}
    if kind == "string":
        read: Callable[[Any], Any] = str
    elif kind in ("date", "datetime"):
        read = _date_writer(kind, bounds)
    elif kind == "number":
        read = _read_number
    else:
        read = _read_boolean
    out: list[Any] = []
    problems: dict[int, str] = {}
    cache: dict[Any, Any] = {}
    blank_is_missing = kind != "string"  # an empty text is no date, number or boolean: it is none
    for position, value in enumerate(series.tolist()):
        if _is_missing(value) or (blank_is_missing and isinstance(value, str) and not value.strip()):
            out.append(None)
            continue
        try:
            key = (type(value), value)
            converted = cache[key] if key in cache else cache.setdefault(key, read(value))
        except _Unfit as unfit:
            problems[position] = unfit.code
            converted = None
        except TypeError:  # an unhashable value: read it without the cache
            try:
                converted = read(value)
            except _Unfit as unfit:
                problems[position] = unfit.code
                converted = None
        out.append(converted)
    return pd.Series(out, index=series.index, dtype=object), problems


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
        #: Digests of the mapped records' fields (those written on create only are not part of them).
        self.digests = DigestMaker(
            sorted({self._target(f) for f in self.fields} - self._create_only)
        )

    def whole_record_hash(self, record: Mapping[str, Any]) -> str:
        """The whole-record hash stores kept before field digests, of a mapped record (to read such a store)."""
        return content_hash({k: v for k, v in record.items() if k not in self._create_only})

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
        left_out: set[int] = set()  # the records that leave a field out
        ids = frame["id"].astype(str).tolist()
        for f in self.fields:
            target = self._target(f)
            values, problems = self._column(f, frame, page)
            for position, code in problems.items():
                failed.setdefault(position, RecordFailure(ids[position], code, self._problem(f, code)))
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
                sources = frame[self._source(f)].tolist()
                for position in unresolved:
                    failed.setdefault(
                        position,
                        RecordFailure(
                            ids[position], "UNRESOLVED_REFERENCE",
                            f"{target} refers to {' or '.join(entities)} {sources[position]}, which is not "
                            "coupled (not synced yet)",
                        ),
                    )
            column = values.tolist()
            omitted = [position for position, value in enumerate(column) if value is _OMIT]
            for position in omitted:
                skipped_at.setdefault(position, []).append(target)
            if target in self._create_only:
                column = values.where(creating.to_numpy(), _OMIT).tolist()
                omitted = [position for position, value in enumerate(column) if value is _OMIT]
            left_out.update(omitted)
            columns[target] = column
        if not columns:  # no field travels this way: nothing to write
            return page
        kept: Sequence[int] = range(n)
        if failed:
            kept = [position for position in kept if position not in failed]
            columns = {target: [column[p] for p in kept] for target, column in columns.items()}
            page.failures = [failed[position] for position in sorted(failed)]
        targets = list(columns)
        page.source_ids = [ids[position] for position in kept]
        page.records = [
            {name: value for name, value in zip(targets, row, strict=True) if value is not _OMIT}
            if position in left_out
            else dict(zip(targets, row, strict=True))
            for position, row in zip(kept, zip(*columns.values(), strict=True), strict=True)
        ]
        page.skipped_fields = [skipped_at.get(position, []) for position in kept]
        page.hashes = self.digests.digests(columns, len(kept), absent=_OMIT)
        return page

    def _problem(self, f: FieldMap, code: str) -> str:
        """The message of a value ``f`` cannot carry: the fields and the rule, never the value."""
        target, source = self._target(f), self._source(f)
        bounds = SALESFORCE_RANGE if self.direction is Direction.TO_CRM else ERP_RANGE
        if code == DATE_OUT_OF_RANGE:
            return f"{target} (from {source}): out of range; {bounds.describe(f.type or 'date')}"
        if code == INVALID_DATE:
            kind = "a datetime" if f.type == "datetime" else "a date"
            return f"{target} (from {source}): not {kind} (YYYY-MM-DD or an ISO 8601 / xsd dateTime)"
        if code == INVALID_NUMBER:
            return f"{target} (from {source}): not a finite decimal number"
        return f"{target} (from {source}): not a boolean (true/false, 1/0)"

    def _column(self, f: FieldMap, frame: pd.DataFrame, page: MappedPage) -> tuple[pd.Series, dict[int, str]]:
        """One target column, and per record position whose value cannot travel, its error code."""
        target = self._target(f)
        template = self.templates.get(target, f.template)
        if template is not None:
            names = template_fields(template)
            if not names:
                return pd.Series(template, index=frame.index, dtype=object), {}
            columns = {name: self._placeholder_column(f, name) for name in names}
            sources = {
                name: frame[column] if column in frame else pd.Series(None, index=frame.index)
                for name, column in columns.items()
            }
            rendered = [
                render_template(template, dict(zip(names, row, strict=True)))
                for row in zip(*(sources[n].tolist() for n in names), strict=True)
            ]
            return pd.Series(rendered, index=frame.index, dtype=object), {}
        source = self._source(f)
        if source not in frame:
            raise KeyError(f"entity {self.entity.name!r}: the page has no column {source!r} for field {target!r}")
        bounds = SALESFORCE_RANGE if self.direction is Direction.TO_CRM else ERP_RANGE
        values, problems = _convert(frame[source], f.type, bounds)
        forward = f.value_map(self.direction, self.entity.field_direction(f))
        if forward is None:
            return values, problems
        # (pandas turns a None returned by map into NaN: missing stays None, which JSON can carry.)
        mapped = values.map(lambda v: None if v is None else forward.get(str(v), _OMIT))
        mapped = mapped.astype(object).where(values.notna(), None)
        skipped = int(mapped.map(lambda v: v is _OMIT).sum())
        if skipped:
            page.skipped_values[target] = page.skipped_values.get(target, 0) + skipped
        return mapped, problems
