"""SOQL for the emulated org: compile a query once into SQLite statements and a record shaper.

Intended use (the store's paging plan: materialise the matching rowids once, then fetch pages by rowid,
which keeps paging linear over a million rows)::

    query = compile_query(soql, schema, now=clock.now(), include_deleted=False, api_version="59.0")
    if query.is_count:
        total = conn.execute(query.count_sql, query.count_params).fetchone()[0]
    else:
        rowids = [row[0] for row in conn.execute(query.ids_sql, query.ids_params)]
        records = execute_page(conn, query, rowids[0:2000])   # JSON records, in rowid-list order

``rows_sql(n)`` selects the output columns of ``n`` given rowids (first column the rowid, so the caller
can restore the order) and ``shape(row)`` turns one such row into the record Salesforce returns:
``{"attributes": {"type", "url"}, <fields in selected order>, <parent>: {"attributes", ...} | None}``.

Supported: field lists with parent fields through lookups (any depth up to 5), compound address fields
(``BillingAddress``, as a nested value; REST only, ``allow_compound``), ``FIELDS(ALL|STANDARD|CUSTOM)``,
``COUNT()``; one object,
optionally aliased; ``WHERE`` with ``= != <> < <= > >= LIKE IN NOT IN``, ``AND OR NOT`` and parentheses;
string, number, ``true/false``, ``null``, date, datetime and ``TODAY``/``YESTERDAY``/``TOMORROW``/
``LAST_N_DAYS:n``/``NEXT_N_DAYS:n`` literals; ``ORDER BY`` with ``ASC/DESC`` and ``NULLS FIRST/LAST``;
``LIMIT``; ``OFFSET`` up to 2,000. Anything else raises :class:`SoqlError` naming the construct.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from emulators.salesforce.describe import CompoundField, compound_field
from emulators.salesforce.ids import normalize_id
from emulators.salesforce.schema import FieldDef, ObjectDef, Schema
from emulators.salesforce.soql_parser import (
    Comparison,
    Condition,
    FieldPath,
    Literal,
    Logical,
    Negation,
    Query,
    SoqlError,
    error_at,
    parse,
)
from emulators.salesforce.storage_format import format_datetime, quote_identifier, storage_decoder

__all__ = ["CompiledQuery", "SoqlError", "compile_query", "execute_page"]

MAX_RELATIONSHIP_DEPTH = 5
SQLITE_VARIABLES = 900
MAX_FILTER_VALUES = 30_000
NUMERIC_TYPES = frozenset({"int", "double", "currency", "percent"})
CASE_SENSITIVE_TEXT = frozenset({"id", "reference"})
TEXT_TYPES = frozenset({"string", "textarea", "picklist", "multipicklist", "email", "phone", "url"})
SOAP_TYPE_NAMES = {"int": "integer", "double": "double", "currency": "double", "percent": "double",
                   "boolean": "boolean", "date": "date", "datetime": "dateTime"}
INVALID_TYPE_HINT = ("If you are attempting to use a custom object, be sure to append the '__c' after the entity "
                     "name. Please reference your WSDL or the describe call for the appropriate names.")
INVALID_FIELD_HINT = ("If you are attempting to use a custom field, be sure to append the '__c' after the custom "
                      "field name. Please reference your WSDL or the describe call for the appropriate names.")
INVALID_RELATIONSHIP_HINT = ("If you are attempting to use a custom relationship, be sure to append the '__r' after "
                             "the custom relationship name. Please reference your WSDL or the describe call for "
                             "the appropriate names.")
RANGE_OPERATORS = {"=", "!=", "<", "<=", ">", ">="}
FIELDS_LIMIT = 200
RECYCLE_BIN_DAYS = 15


@dataclass(frozen=True)
class _Column:
    """A resolved field: the SQL alias of its table, its definition, and the relationship path to it."""

    alias: str
    field: FieldDef
    path: tuple[str, ...]

    @property
    def sql(self) -> str:
        return f"{self.alias}.{quote_identifier(self.field.name)}"


@dataclass(frozen=True)
class _CompoundColumn:
    """A selected compound address field: the SQL alias of its table, the field and the relationship path to it."""

    alias: str
    compound: CompoundField
    path: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.compound.name


def _column_name(column: _Column | _CompoundColumn) -> str:
    return column.name if isinstance(column, _CompoundColumn) else column.field.name


#: Builds a value from the whole row (a compound address from its component columns).
RowBuilder = Callable[[Sequence[Any]], Any]
COMPOUND_IN_BULK = "Selecting compound data not supported in Bulk Query"


@dataclass
class _Join:
    alias: str
    obj: ObjectDef
    sql: str
    parent: tuple[str, ...]


@dataclass
class _ShapeNode:
    """One record level of the output: its object, the row index of its Id, and its entries in order."""

    type_name: str
    id_index: int
    entries: list[tuple[str, int, Callable[[Any], Any] | None, _ShapeNode | RowBuilder | None]] = field(
        default_factory=list)
    children: dict[str, _ShapeNode] = field(default_factory=dict)


@dataclass
class CompiledQuery:
    """A compiled SOQL query: the statements of the paging plan and the record shaper.

    Attributes:
        object_name: the queried sObject's API name.
        is_count: ``SELECT COUNT()``; run ``count_sql`` instead of ``ids_sql``.
        ids_sql: one column, the matching rowids in query order (WHERE, ORDER BY, LIMIT, OFFSET applied).
        count_sql: the number of matching rows (LIMIT and OFFSET applied).
        columns: the selected field paths, canonical (``Account.Name``), in selected order.
    """

    object_name: str
    is_count: bool
    ids_sql: str
    ids_params: tuple[Any, ...]
    count_sql: str
    count_params: tuple[Any, ...]
    columns: list[str]
    _rows_prefix: str
    _shape: Callable[[Sequence[Any]], dict[str, Any]]

    def rows_sql(self, n: int) -> str:
        """The statement selecting the output row (rowid first) of each of ``n`` rowids bound as parameters."""
        return _rows_sql(self._rows_prefix, n)

    def shape(self, row: Sequence[Any]) -> dict[str, Any]:
        """The JSON record Salesforce returns for one row fetched with :meth:`rows_sql`."""
        return self._shape(row)


@lru_cache(maxsize=256)
def _rows_sql(prefix: str, n: int) -> str:
    return f"{prefix} ({', '.join('?' * n)})" if n else f"{prefix} (NULL)"


def execute_page(conn: sqlite3.Connection, query: CompiledQuery, rowids: Sequence[int]) -> list[dict[str, Any]]:
    """Fetch and shape the records of ``rowids`` (one page), in the order given.

    Rowids whose rows have vanished meanwhile (purged) are skipped.
    """
    rows: dict[int, Sequence[Any]] = {}
    for start in range(0, len(rowids), SQLITE_VARIABLES):
        chunk = list(rowids[start : start + SQLITE_VARIABLES])
        for row in conn.execute(query.rows_sql(len(chunk)), chunk):
            rows[row[0]] = row
    shape = query.shape
    return [shape(rows[rowid]) for rowid in rowids if rowid in rows]


def compile_query(soql: str, schema: Schema, *, now: datetime, include_deleted: bool,
                  api_version: str, allow_compound: bool = False) -> CompiledQuery:
    """Compile ``soql`` against ``schema``.

    Args:
        soql: the query text.
        schema: the org's objects.
        now: the emulator's current time (relative date literals are computed from it, in UTC).
        include_deleted: ``True`` for ``queryAll`` (recycle-bin rows match too).
        api_version: the request's API version (``59.0``), used in the records' ``attributes.url``.
        allow_compound: whether compound address fields (``BillingAddress``) may be selected: ``True`` for the
            REST API; the Bulk APIs refuse them (``INVALID_FIELD``, Salesforce's message).

    Raises:
        SoqlError: ``MALFORMED_QUERY``, ``INVALID_TYPE``, ``INVALID_FIELD``, ``INVALID_QUERY_FILTER_OPERATOR``
            or ``NUMBER_OUTSIDE_VALID_RANGE`` with Salesforce's message.
    """
    if not isinstance(soql, str):
        raise SoqlError("MALFORMED_QUERY", "The query must be a string")
    return _Compiler(soql, schema, now, include_deleted, api_version, allow_compound).compile(parse(soql))


class _Compiler:
    def __init__(self, soql: str, schema: Schema, now: datetime, include_deleted: bool, api_version: str,
                 allow_compound: bool = False) -> None:
        self.soql = soql
        self.allow_compound = allow_compound
        self.schema = schema
        self.now = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
        self.include_deleted = include_deleted
        self.api_version = api_version
        self.base: ObjectDef | None = None
        self.alias: str | None = None
        self.joins: dict[tuple[str, ...], _Join] = {}
        self.params: list[Any] = []

    # -- names ---------------------------------------------------------------------------

    def error(self, pos: int, code: str, text: str) -> SoqlError:
        return error_at(self.soql, pos, code, text)

    def resolve(self, path: FieldPath) -> _Column:
        """The column of ``path``, adding the LEFT JOINs its relationships need."""
        obj, alias, walked, name = self.walk(path)
        found = obj.field(name)
        if found is None:
            if compound_field(obj, name) is not None:
                raise self.error(path.pos, "MALFORMED_QUERY", f"The compound field '{name}' can only be selected "
                                                              "(the Salesforce emulator has no DISTANCE())")
            raise self.error(path.pos, "INVALID_FIELD", f"No such column '{name}' on entity '{obj.name}'. "
                                                        f"{INVALID_FIELD_HINT}")
        return _Column(alias, found, walked)

    def resolve_selected(self, path: FieldPath) -> _Column | _CompoundColumn:
        """A selected field's column: a field, or a compound address field (REST only)."""
        obj, alias, walked, name = self.walk(path)
        compound = compound_field(obj, name) if obj.field(name) is None else None
        if compound is None:
            return self.resolve(path)
        if not self.allow_compound:
            raise SoqlError("INVALID_FIELD", COMPOUND_IN_BULK)  # no query excerpt: clients match the text
        return _CompoundColumn(alias, compound, walked)

    def walk(self, path: FieldPath) -> tuple[ObjectDef, str, tuple[str, ...], str]:
        """Follow ``path``'s relationships (adding their LEFT JOINs): the last object, its alias, the relationship
        path and the field name at the end."""
        assert self.base is not None
        parts = path.parts
        if self.alias and len(parts) > 1 and parts[0].lower() == self.alias.lower():
            parts = parts[1:]
        if len(parts) - 1 > MAX_RELATIONSHIP_DEPTH:
            raise self.error(path.pos, "INVALID_FIELD", "SOQL statements cannot query relationships that are more "
                                                        f"than {MAX_RELATIONSHIP_DEPTH} levels away from the root "
                                                        "entity object.")
        obj, alias = self.base, "t0"
        walked: tuple[str, ...] = ()
        for name in parts[:-1]:
            ref = obj.relationship(name)
            if ref is None:
                raise self.error(path.pos, "INVALID_FIELD", f"Didn't understand relationship '{name}' in field "
                                                            f"path. {INVALID_RELATIONSHIP_HINT}")
            if len(ref.reference_to) != 1:
                raise self.error(path.pos, "MALFORMED_QUERY", f"The polymorphic relationship '{ref.relationship_name}'"
                                                              " is not supported by the Salesforce emulator")
            target = self.schema.object(ref.reference_to[0])
            if target is None:
                raise self.error(path.pos, "INVALID_TYPE", f"sObject type '{ref.reference_to[0]}' is not supported.")
            key = (*walked, ref.relationship_name or name)
            join = self.joins.get(key)
            if join is None:
                join_alias = f"t{len(self.joins) + 1}"
                join = _Join(
                    join_alias, target,
                    f" LEFT JOIN {quote_identifier(target.name)} {join_alias} ON {join_alias}.\"Id\" = "
                    f"{alias}.{quote_identifier(ref.name)}",
                    walked,
                )
                self.joins[key] = join
            obj, alias, walked = target, join.alias, key
        return obj, alias, walked, parts[-1]

    def joins_for(self, paths: set[tuple[str, ...]]) -> str:
        """The JOIN clauses (in creation order) that ``paths`` and their ancestors need."""
        needed: set[tuple[str, ...]] = set()
        for path in paths:
            for length in range(1, len(path) + 1):
                needed.add(path[:length])
        return "".join(j.sql for key, j in self.joins.items() if key in needed)

    # -- compile -------------------------------------------------------------------------

    def compile(self, query: Query) -> CompiledQuery:
        base = self.schema.object(query.object_name)
        if base is None:
            raise self.error(query.object_pos, "INVALID_TYPE", f"sObject type '{query.object_name}' is not "
                                                               f"supported. {INVALID_TYPE_HINT}")
        self.base = base
        self.alias = query.alias
        paths = self.expand_fields(query, base)
        selected = [self.resolve_selected(p) for p in paths]
        self.check_duplicates(paths, selected)

        filter_paths: set[tuple[str, ...]] = set()
        if self.include_deleted:
            # queryAll: live records and the recycle bin, not what was purged (emptied, hard-deleted,
            # or deleted more than RECYCLE_BIN_DAYS ago).
            where_parts = ['(t0."IsDeleted" = 0 OR (t0."IsDeleted" = 1 AND t0."SystemModstamp" >= ?))']
            self.params.append(format_datetime(self.now - timedelta(days=RECYCLE_BIN_DAYS)))
        else:
            where_parts = ['t0."IsDeleted" = 0']
        if query.where is not None:
            where_parts.append(self.condition(query.where, filter_paths))
        order_terms = []
        for item in query.order_by:
            column = self.resolve(item.field)
            if column.field.long_text:
                raise self.error(item.field.pos, "MALFORMED_QUERY",
                                 f"field '{column.field.name}' can not be sorted in a query call")
            filter_paths.add(column.path)
            expr = column.sql + (" COLLATE NOCASE" if column.field.type in TEXT_TYPES else "")
            term = expr + (" DESC" if item.descending else "")
            if item.nulls_last != item.descending:
                term += " NULLS LAST" if item.nulls_last else " NULLS FIRST"
            order_terms.append(term)
        order_terms.append("t0.rowid")
        where_params = tuple(self.params)
        if len(where_params) > MAX_FILTER_VALUES:
            raise SoqlError("MALFORMED_QUERY", f"The query has {len(where_params)} filter values; the emulator "
                                               f"accepts at most {MAX_FILTER_VALUES}")

        table = f"{quote_identifier(base.name)} t0"
        from_filter = table + self.joins_for(filter_paths)
        where_sql = f" WHERE {' AND '.join(where_parts)}" if where_parts else ""
        paging, paging_params = self.paging(query)
        ids_sql = f"SELECT t0.rowid FROM {from_filter}{where_sql} ORDER BY {', '.join(order_terms)}{paging}"
        if paging:
            count_sql = f"SELECT COUNT(*) FROM (SELECT 1 FROM {from_filter}{where_sql}{paging})"
        else:
            count_sql = f"SELECT COUNT(*) FROM {from_filter}{where_sql}"

        output = ["t0.rowid", 't0."Id"']
        root = _ShapeNode(base.name, 1)
        for chosen in selected:
            self.add_to_shape(root, chosen, output)
        rows_prefix = (f"SELECT {', '.join(output)} FROM {table}"
                       f"{self.joins_for({c.path for c in selected})} WHERE t0.rowid IN")
        return CompiledQuery(
            object_name=base.name,
            is_count=query.is_count,
            ids_sql=ids_sql,
            ids_params=where_params + paging_params,
            count_sql=count_sql,
            count_params=where_params + paging_params,
            columns=[".".join((*c.path, _column_name(c))) for c in selected],
            _rows_prefix=rows_prefix,
            _shape=_shaper(root, f"/services/data/v{self.api_version}/sobjects/"),
        )

    def expand_fields(self, query: Query, base: ObjectDef) -> list[FieldPath]:
        """The select list with ``FIELDS(...)`` replaced by the object's fields (each field once)."""
        paths: list[FieldPath] = []
        explicit = {p.text.lower() for p in query.fields if isinstance(p, FieldPath)}
        expanded: set[str] = set()
        for item in query.fields:
            if isinstance(item, FieldPath):
                paths.append(item)
                continue
            if item.kind != "STANDARD" and (query.limit is None or query.limit > FIELDS_LIMIT):
                raise self.error(item.pos, "MALFORMED_QUERY", f"The SOQL FIELDS function must have a LIMIT of at "
                                                              f"most {FIELDS_LIMIT}")
            for f in base.fields.values():
                wanted = item.kind == "ALL" or f.custom == (item.kind == "CUSTOM")
                if wanted and f.name.lower() not in explicit and f.name.lower() not in expanded:
                    expanded.add(f.name.lower())
                    paths.append(FieldPath((f.name,), item.pos))
        return paths

    def check_duplicates(self, paths: list[FieldPath], columns: list[_Column | _CompoundColumn]) -> None:
        seen: set[str] = set()
        for path, column in zip(paths, columns, strict=True):
            key = ".".join((*column.path, _column_name(column))).lower()
            if key in seen:
                raise self.error(path.pos, "MALFORMED_QUERY", f"duplicate field selected: {path.text}")
            seen.add(key)

    @staticmethod
    def paging(query: Query) -> tuple[str, tuple[Any, ...]]:
        if query.limit is None and query.offset is None:
            return "", ()
        limit = -1 if query.limit is None else query.limit
        return " LIMIT ? OFFSET ?", (limit, query.offset or 0)

    def add_to_shape(self, root: _ShapeNode, column: _Column | _CompoundColumn, output: list[str]) -> None:
        node = root
        for depth in range(1, len(column.path) + 1):
            key = column.path[: depth]
            name = key[-1]
            child = node.children.get(name)
            if child is None:
                join = self.joins[key]
                output.append(f'{join.alias}."Id"')
                child = _ShapeNode(join.obj.name, len(output) - 1)
                node.children[name] = child
                node.entries.append((name, child.id_index, None, child))
            node = child
        if isinstance(column, _CompoundColumn):
            parts = []
            for value_key, component in column.compound.components:
                output.append(f"{column.alias}.{quote_identifier(component.name)}")
                parts.append((value_key, len(output) - 1, storage_decoder(component)))
            node.entries.append((column.name, node.id_index, None, _address_builder(column.compound, parts)))
            return
        output.append(column.sql)
        node.entries.append((column.field.name, len(output) - 1, storage_decoder(column.field), None))

    # -- WHERE ---------------------------------------------------------------------------

    def condition(self, cond: Condition, paths: set[tuple[str, ...]]) -> str:
        if isinstance(cond, Logical):
            return "(" + f" {cond.op} ".join(self.condition(c, paths) for c in cond.items) + ")"
        if isinstance(cond, Negation):
            return f"(NOT {self.condition(cond.item, paths)})"
        column = self.resolve(cond.field)
        if column.field.long_text:
            raise self.error(cond.field.pos, "INVALID_FIELD",
                             f"field '{column.field.name}' can not be filtered in a query call")
        paths.add(column.path)
        return self.comparison(cond, column)

    def comparison(self, cond: Comparison, column: _Column) -> str:
        """SQL for one comparison, two-valued like SOQL: a null field never matches ``=``/``<``/``LIKE``/``IN``
        but does match ``!=`` and ``NOT IN`` of non-null values."""
        f, sql, op = column.field, column.sql, cond.op
        nocase = " COLLATE NOCASE" if f.type in TEXT_TYPES else ""
        if isinstance(cond.value, tuple):
            values = [self.value(f, v, op) for v in cond.value]
            non_null = [v for v in values if v is not None]
            has_null = len(non_null) < len(values)
            members = f"{sql}{nocase} IN ({', '.join('?' * len(non_null))})" if non_null else "0"
            self.params.extend(non_null)
            if op == "IN":
                inside = f"({sql} IS NOT NULL AND {members})"
                return f"({sql} IS NULL OR {inside})" if has_null else inside
            outside = f"({sql} IS NULL OR NOT {members})"
            return f"({sql} IS NOT NULL AND NOT {members})" if has_null else outside
        literal = cond.value
        if literal.kind == "null":
            if f.type == "boolean" and op in {"=", "!="}:
                return f"({sql} IS NULL OR {sql} = 0)" if op == "=" else f"({sql} = 1)"
            if op == "=":
                return f"({sql} IS NULL)"
            if op == "!=":
                return f"({sql} IS NOT NULL)"
            raise self.error(cond.pos, "INVALID_QUERY_FILTER_OPERATOR", f"invalid operator on null value: {op}")
        if op == "LIKE":
            if f.type not in TEXT_TYPES:
                raise self.error(cond.pos, "INVALID_QUERY_FILTER_OPERATOR",
                                 f"invalid operator on {'id' if f.type in CASE_SENSITIVE_TEXT else f.type} field "
                                 f"'{f.name}': LIKE needs a text field")
            if literal.kind != "string":
                raise self.type_error(f, literal)
            self.params.append(literal.like)
            return f"({sql} IS NOT NULL AND {sql} LIKE ? ESCAPE '\\')"
        if literal.kind == "date_literal":
            return self.date_range(cond, column, literal)
        value = self.value(f, literal, op)
        self.params.append(value)
        if op == "!=":
            return f"({sql} IS NULL OR {sql}{nocase} <> ?)"
        return f"({sql} IS NOT NULL AND {sql}{nocase} {op} ?)"

    def type_error(self, f: FieldDef, literal: Literal) -> SoqlError:
        if f.type in SOAP_TYPE_NAMES:
            kind = SOAP_TYPE_NAMES[f.type]
            return self.error(literal.pos, "INVALID_FIELD", f"value of filter criterion for field '{f.name}' must "
                                                            f"be of type {kind} and should not be enclosed in quotes")
        return self.error(literal.pos, "INVALID_FIELD", f"value of filter criterion for field '{f.name}' must be of "
                                                        "type string and should be enclosed in quotes")

    def value(self, f: FieldDef, literal: Literal, op: str) -> Any:
        """The bound parameter for ``literal`` compared with field ``f`` (``None`` for null)."""
        kind = literal.kind
        if kind == "null":
            return None
        if f.type in CASE_SENSITIVE_TEXT:
            if kind != "string":
                raise self.type_error(f, literal)
            normalized = normalize_id(str(literal.value))
            if normalized is None:
                raise self.error(literal.pos, "INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {literal.value}")
            return normalized
        if f.type in TEXT_TYPES:
            if kind != "string":
                raise self.type_error(f, literal)
            return literal.value
        if f.type == "boolean":
            if kind != "boolean":
                raise self.type_error(f, literal)
            return 1 if literal.value else 0
        if f.type in NUMERIC_TYPES:
            if kind != "number":
                raise self.type_error(f, literal)
            return literal.value
        if f.type == "date" and kind == "date" and isinstance(literal.value, date):
            return literal.value.isoformat()
        if f.type == "datetime" and kind == "datetime" and isinstance(literal.value, datetime):
            return format_datetime(literal.value)
        if kind == "date_literal":
            raise self.error(literal.pos, "MALFORMED_QUERY", f"date literals cannot be used with {op}")
        raise self.type_error(f, literal)

    def date_range(self, cond: Comparison, column: _Column, literal: Literal) -> str:
        """A relative date literal compared with a date or datetime field, as the range it stands for (UTC)."""
        f, sql, op = column.field, column.sql, cond.op
        if f.type not in {"date", "datetime"}:
            raise self.type_error(f, literal)
        if op not in RANGE_OPERATORS:
            raise self.error(cond.pos, "MALFORMED_QUERY", f"date literals cannot be used with {op}")
        first, end = _date_range(self.now.date(), str(literal.value), literal.n)
        if f.type == "date":
            start_value, end_value = first.isoformat(), end.isoformat()
        else:
            start_value = format_datetime(datetime.combine(first, time(), UTC))
            end_value = format_datetime(datetime.combine(end, time(), UTC))
        if op == "=":
            self.params.extend((start_value, end_value))
            return f"({sql} IS NOT NULL AND {sql} >= ? AND {sql} < ?)"
        if op == "!=":
            self.params.extend((start_value, end_value))
            return f"({sql} IS NULL OR {sql} < ? OR {sql} >= ?)"
        bound, sql_op = {"<": (start_value, "<"), "<=": (end_value, "<"),
                         ">": (end_value, ">="), ">=": (start_value, ">=")}[op]
        self.params.append(bound)
        return f"({sql} IS NOT NULL AND {sql} {sql_op} ?)"


def _shift(day: date, days: int) -> date:
    """``day`` moved by ``days``, clamped to the calendar's range."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


def _date_range(today: date, word: str, n: int) -> tuple[date, date]:
    """The first day and the day after the last day a relative date literal covers (Salesforce's definitions)."""
    if word == "TODAY":
        return today, _shift(today, 1)
    if word == "YESTERDAY":
        return _shift(today, -1), today
    if word == "TOMORROW":
        return _shift(today, 1), _shift(today, 2)
    if word == "LAST_N_DAYS":
        return _shift(today, -n), _shift(today, 1)
    return _shift(today, 1), _shift(today, n + 1)


def _address_builder(compound: CompoundField, parts: list[tuple[str, int, Callable[[Any], Any] | None]]
                     ) -> RowBuilder:
    """The compound address value of a row: every key (``null`` for what the org lacks), or ``null`` when all
    components are empty."""
    keys = compound.keys()

    def build(row: Sequence[Any]) -> dict[str, Any] | None:
        values = {key: row[index] if decode is None else decode(row[index]) for key, index, decode in parts}
        if all(value is None for value in values.values()):
            return None
        return {key: values.get(key) for key in keys}

    return build


def _shaper(root: _ShapeNode, url_prefix: str) -> Callable[[Sequence[Any]], dict[str, Any]]:
    """A function building the nested JSON record from a row, precompiled from the shape tree."""

    def build(node: _ShapeNode) -> Callable[[Sequence[Any]], dict[str, Any]]:
        type_name = node.type_name
        prefix = url_prefix + type_name + "/"
        id_index = node.id_index
        plain = tuple((key, index) for key, index, decode, child in node.entries if decode is None and child is None)
        steps = tuple(
            (key, index, decode, build(child) if isinstance(child, _ShapeNode) else child)
            for key, index, decode, child in node.entries
        )
        if len(plain) == len(steps):

            def shape_plain(row: Sequence[Any]) -> dict[str, Any]:
                record: dict[str, Any] = {"attributes": {"type": type_name, "url": prefix + row[id_index]}}
                for key, index in plain:
                    record[key] = row[index]
                return record

            return shape_plain

        def shape(row: Sequence[Any]) -> dict[str, Any]:
            record: dict[str, Any] = {"attributes": {"type": type_name, "url": prefix + row[id_index]}}
            for key, index, decode, child in steps:
                if child is not None:
                    record[key] = None if row[index] is None else child(row)
                elif decode is None:
                    record[key] = row[index]
                else:
                    record[key] = decode(row[index])
            return record

        return shape

    return build(root)
