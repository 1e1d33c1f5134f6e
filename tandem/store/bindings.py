"""Bindings: which CRM record is coupled with which ERP record, batch by batch.

Every operation takes a whole page of records and issues one or two statements, never one per
record. Only active (non-archived) bindings are read or changed, except by :func:`archive_bindings`.

Upserts are keyed on one side's id (``key``): a binding is inserted, or the active binding with that
id is updated — ``INSERT ... ON CONFLICT DO UPDATE`` on SQLite and PostgreSQL — so repeating a batch
after a crash changes nothing. Values the caller leaves ``None`` (the other id, the external id, the
hashes, the sync time) keep what is stored; the status and error fields are always replaced, so a
successful sync clears an earlier error.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import zip_longest
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from tandem.store.exceptions import BindingConflictError, is_unique_violation
from tandem.store.tables import Binding, BindingStatus, Side, active_predicate
from tandem.store.types import as_utc, utc_now
from tandem.store.watermarks import advance_watermark

_TABLE: sa.Table = Binding.__table__  # type: ignore[attr-defined]
#: Ids per ``IN (...)`` list: a 2,000-record page is one query, far below SQLite's parameter limit.
_IDS_PER_QUERY = 10_000
#: Longest error message stored (messages carry codes and ids, never field values).
MAX_ERROR_MESSAGE = 2_000


@dataclass(frozen=True, slots=True)
class BindingRecord:
    """What a sync learnt about one record, to store as its binding.

    Attributes:
        crm_id: the CRM record id.
        erp_id: the ERP record id.
        external_id: the id used for upserts by external id.
        crm_hash: content hash of the CRM side's mapped fields.
        erp_hash: content hash of the ERP side's mapped fields.
        status: the binding's new status.
        last_synced_at: when the record was synced (aware datetime).
        error_code: the error's code, for ``failed`` records.
        error_message: the error's message (no field values), for ``failed`` records.
    """

    crm_id: str | None = None
    erp_id: str | None = None
    external_id: str | None = None
    crm_hash: str | None = None
    erp_hash: str | None = None
    status: BindingStatus = BindingStatus.SYNCED
    last_synced_at: datetime | None = None
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class BindingFailure:
    """A record that failed to sync.

    Attributes:
        record_id: the record's id on the side the batch is keyed on.
        code: the error code.
        message: the error message (no field values).
    """

    record_id: str
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class BindingConflict:
    """A record left out of an upsert because its other-side id is bound to a different record.

    Attributes:
        key_id: the record's id on the side the batch is keyed on.
        other_id: its other-side id, which is already taken.
        bound_to: the key-side id the other-side id is bound to (``None`` when a binding without a
            key-side id holds it, or when an earlier record of the same batch took it).
    """

    key_id: str
    other_id: str
    bound_to: str | None


@dataclass(frozen=True, slots=True)
class WatermarkAdvance:
    """A watermark to move forward in the same transaction as a batch of bindings.

    Attributes:
        side: the side whose reading the watermark tracks.
        value: the new value (aware datetime); ignored when not later than the stored one.
    """

    side: Side
    value: datetime


@dataclass(slots=True)
class UpsertResult:
    """The outcome of :func:`upsert_bindings`.

    Attributes:
        written: how many bindings were inserted or updated.
        conflicts: records left out because their other-side id is bound to another record.
        watermark: the watermark's stored value after the batch, when one was advanced.
    """

    written: int = 0
    conflicts: list[BindingConflict] = field(default_factory=list)
    watermark: datetime | None = None


def _id_column(side: Side) -> sa.Column[Any]:
    return _TABLE.c.crm_id if side is Side.CRM else _TABLE.c.erp_id


def _other(side: Side) -> Side:
    return Side.ERP if side is Side.CRM else Side.CRM


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _scope(connection_id: int, entity: str) -> list[sa.ColumnElement[bool]]:
    return [_TABLE.c.connection_id == connection_id, _TABLE.c.entity == entity, active_predicate(_TABLE)]


def bindings_by_ids(
    session: Session, connection_id: int, entity: str, side: Side, ids: Iterable[str]
) -> dict[str, Binding]:
    """The active bindings of the given records, by their id on ``side`` (one query per 10,000 ids).

    Args:
        session: the unit of work.
        connection_id: the connection.
        entity: the entity.
        side: which side's ids ``ids`` are.
        ids: record ids; unknown ids are simply absent from the result.

    Returns:
        ``{id: binding}`` for the ids that have an active binding.
    """
    column = _id_column(side)
    unique_ids = list(dict.fromkeys(ids))
    found: dict[str, Binding] = {}
    for chunk in _chunks(unique_ids, _IDS_PER_QUERY):
        statement = (
            select(Binding)
            .where(*_scope(connection_id, entity), column.in_(chunk))
            .execution_options(populate_existing=True)
        )
        for binding in session.exec(statement):
            key = binding.crm_id if side is Side.CRM else binding.erp_id
            if key is not None:
                found[key] = binding
    return found


def bindings_by_crm_ids(
    session: Session, connection_id: int, entity: str, crm_ids: Iterable[str]
) -> dict[str, Binding]:
    """:func:`bindings_by_ids` for CRM ids."""
    return bindings_by_ids(session, connection_id, entity, Side.CRM, crm_ids)


def bindings_by_erp_ids(
    session: Session, connection_id: int, entity: str, erp_ids: Iterable[str]
) -> dict[str, Binding]:
    """:func:`bindings_by_ids` for ERP ids."""
    return bindings_by_ids(session, connection_id, entity, Side.ERP, erp_ids)


def upsert_bindings(
    session: Session,
    connection_id: int,
    entity: str,
    records: Sequence[BindingRecord],
    *,
    key: Side,
    watermark: WatermarkAdvance | None = None,
) -> UpsertResult:
    """Insert or update a batch of bindings keyed on one side's id; idempotent.

    Records whose other-side id is already bound (actively) to a different record are not written
    but reported as conflicts, as are later records of the batch that repeat an earlier record's
    other-side id. When the batch repeats a key id, the last record wins.

    Args:
        session: the unit of work (not committed here: commit the bindings and the watermark together).
        connection_id: the connection.
        entity: the entity.
        records: the batch; each must have its ``key`` side's id.
        key: the side whose id identifies the binding.
        watermark: a watermark to advance in the same transaction, after the bindings are written.

    Returns:
        How many bindings were written, the conflicts, and the watermark's stored value.

    Raises:
        ValueError: a record lacks its key id, or a datetime is naive.
        BindingConflictError: a concurrent writer bound one of the ids first (roll back, then retry).
    """
    latest: dict[str, BindingRecord] = {}
    for record in records:
        key_id = _side_id(record, key)
        if not key_id:
            raise ValueError(f"every binding in a batch keyed on {key.value} ids needs a {key.value} id")
        latest[key_id] = record
    result = UpsertResult()
    by_key, by_other = _plan(session, connection_id, entity, key, latest, result.conflicts)
    now = utc_now()
    for side, group in ((key, by_key), (_other(key), by_other)):
        rows = [_row(connection_id, entity, record, now) for record in group]
        _upsert_rows(session, rows, side)
        result.written += len(rows)
    if watermark is not None:
        result.watermark = advance_watermark(session, connection_id, entity, watermark.side, watermark.value)
    return result


def _side_id(record: BindingRecord, side: Side) -> str | None:
    return record.crm_id if side is Side.CRM else record.erp_id


def _plan(
    session: Session,
    connection_id: int,
    entity: str,
    key: Side,
    latest: dict[str, BindingRecord],
    conflicts: list[BindingConflict],
) -> tuple[list[BindingRecord], list[BindingRecord]]:
    """Split a batch into records to upsert by their key id and by their other id; collect conflicts.

    One query reads the active bindings holding any of the batch's key ids or other-side ids. A
    record whose other-side id is held by a binding without a key id (a record known on the other
    side only, say after a failure) completes that binding, so it is upserted by the other id.
    """
    other = _other(key)
    claimed: dict[str, str] = {}
    for key_id, record in latest.items():
        other_id = _side_id(record, other)
        if other_id:
            claimed.setdefault(other_id, key_id)
    key_column, other_column = _id_column(key), _id_column(other)
    bound_keys: set[str] = set()
    holders: dict[str, str | None] = {}
    if claimed:
        pairs = zip_longest(_chunks(list(latest), _IDS_PER_QUERY), _chunks(list(claimed), _IDS_PER_QUERY), fillvalue=())
        for key_chunk, other_chunk in pairs:
            # Two index probes joined by UNION ALL: an OR of both IN lists would scan the entity's bindings.
            statement = sa.union_all(
                sa.select(key_column, other_column).where(*_scope(connection_id, entity), key_column.in_(key_chunk)),
                sa.select(key_column, other_column).where(
                    *_scope(connection_id, entity), other_column.in_(other_chunk)
                ),
            )
            for key_id, other_id in session.connection().execute(statement):
                if key_id is not None:
                    bound_keys.add(key_id)
                if other_id is not None:
                    holders[other_id] = key_id
    by_key: list[BindingRecord] = []
    by_other: list[BindingRecord] = []
    for key_id, record in latest.items():
        other_id = _side_id(record, other)
        if not other_id or (other_id not in holders and claimed[other_id] == key_id):
            by_key.append(record)
        elif other_id not in holders:
            conflicts.append(BindingConflict(key_id=key_id, other_id=other_id, bound_to=None))
        elif holders[other_id] == key_id:
            by_key.append(record)
        elif holders[other_id] is None and key_id not in bound_keys and claimed[other_id] == key_id:
            by_other.append(record)
        else:
            conflicts.append(BindingConflict(key_id=key_id, other_id=other_id, bound_to=holders[other_id]))
    return by_key, by_other


def _row(connection_id: int, entity: str, record: BindingRecord, now: datetime) -> dict[str, Any]:
    message = record.error_message[:MAX_ERROR_MESSAGE] if record.error_message is not None else None
    return {
        "connection_id": connection_id,
        "entity": entity,
        "crm_id": record.crm_id,
        "erp_id": record.erp_id,
        "external_id": record.external_id,
        "crm_hash": record.crm_hash,
        "erp_hash": record.erp_hash,
        "last_synced_at": as_utc(record.last_synced_at) if record.last_synced_at else None,
        "status": record.status,
        "error_code": record.error_code,
        "error_message": message,
        "archived": False,
        "created_at": now,
        "updated_at": now,
    }


#: The columns a binding row gives (see :func:`_row`).
_ROW_COLUMNS = (
    "connection_id", "entity", "crm_id", "erp_id", "external_id", "crm_hash", "erp_hash", "last_synced_at",
    "status", "error_code", "error_message", "archived", "created_at", "updated_at",
)
_KEPT_WHEN_NONE = ("crm_id", "erp_id", "external_id", "crm_hash", "erp_hash", "last_synced_at")
_REPLACED = ("status", "error_code", "error_message", "updated_at")


@dataclass(frozen=True)
class _CompiledUpsert:
    """The upsert statement of one dialect and key side, compiled once: its SQL, its parameters in order (for
    drivers that take them by position) and each parameter's bind processor."""

    sql: str
    positions: tuple[str, ...] | None
    processors: dict[str, Any]


_COMPILED: dict[tuple[str, Side], _CompiledUpsert] = {}


def _compiled_upsert(dialect: sa.Dialect, key: Side) -> _CompiledUpsert:
    """``INSERT ... ON CONFLICT (connection, entity, key id) WHERE active DO UPDATE``, compiled for ``dialect``."""
    found = _COMPILED.get((dialect.name, key))
    if found is not None:
        return found
    insert: Any = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
    statement = insert(_TABLE).inline()  # no RETURNING of the new ids: nothing reads them
    assignments: dict[str, Any] = {name: statement.excluded[name] for name in _REPLACED}
    for name in _KEPT_WHEN_NONE:
        assignments[name] = sa.func.coalesce(statement.excluded[name], _TABLE.c[name])
    statement = statement.on_conflict_do_update(
        index_elements=[_TABLE.c.connection_id, _TABLE.c.entity, _id_column(key)],
        index_where=active_predicate(_TABLE),
        set_=assignments,
    ).values({name: sa.bindparam(name, type_=_TABLE.c[name].type) for name in _ROW_COLUMNS})
    compiled = statement.compile(dialect=dialect)
    processors = {name: _TABLE.c[name].type.bind_processor(dialect) for name in _ROW_COLUMNS}
    positions = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None
    found = _COMPILED[(dialect.name, key)] = _CompiledUpsert(str(compiled), positions, processors)
    return found


def _processed(values: list[Any], processor: Any) -> list[Any]:
    """A column's values as the driver takes them; each distinct value is processed once (the batch's
    timestamps and statuses repeat)."""
    if processor is None:
        return values
    done: dict[Any, Any] = {}
    out: list[Any] = []
    for value in values:
        if value is None:
            out.append(None)
            continue
        converted = done.get(value)
        if converted is None:
            converted = done[value] = processor(value)
        out.append(converted)
    return out


def _upsert_rows(session: Session, rows: list[dict[str, Any]], key: Side) -> None:
    """One ``INSERT ... ON CONFLICT DO UPDATE`` statement, executed with the whole batch of rows.

    The statement is compiled once per dialect and key side, and the rows go to the driver as they are (each
    column converted by its type, each distinct value once) in one ``executemany`` (sqlite3's, or psycopg's
    pipelined one): a page of 1,000 bindings costs the driver's time, not a per-row pass through SQLAlchemy.
    """
    if not rows:
        return
    connection = session.connection()
    upsert = _compiled_upsert(connection.dialect, key)
    columns = {name: _processed([row[name] for row in rows], upsert.processors[name]) for name in _ROW_COLUMNS}
    params: list[Any]
    if upsert.positions is not None:
        params = list(zip(*(columns[name] for name in upsert.positions), strict=True))
    else:
        params = [dict(zip(_ROW_COLUMNS, values, strict=True)) for values in zip(*columns.values(), strict=True)]
    try:
        connection.exec_driver_sql(upsert.sql, params)
    except IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        raise BindingConflictError(
            f"a concurrent writer bound one of these {key.value} ids' records first; roll back and retry the batch"
        ) from exc


def mark_failed(
    session: Session, connection_id: int, entity: str, failures: Sequence[BindingFailure], *, key: Side
) -> int:
    """Record a batch of failed records: status ``failed`` with each one's code and message.

    A record without a binding gets one (known on the ``key`` side only), so its failure shows in
    the sync status; a bound record keeps its ids, hashes and last sync time.

    Args:
        session: the unit of work (not committed here).
        connection_id: the connection.
        entity: the entity.
        failures: the failed records, by their id on ``key``'s side.
        key: the side the record ids belong to.

    Returns:
        How many bindings were written.
    """
    records = [
        BindingRecord(
            crm_id=failure.record_id if key is Side.CRM else None,
            erp_id=failure.record_id if key is Side.ERP else None,
            status=BindingStatus.FAILED,
            error_code=failure.code,
            error_message=failure.message,
        )
        for failure in failures
    ]
    return upsert_bindings(session, connection_id, entity, records, key=key).written


def set_status(
    session: Session, connection_id: int, entity: str, ids: Sequence[str], *, key: Side, status: BindingStatus
) -> int:
    """Set the status of existing active bindings (``excluded``, ``deleted``, ``pending`` ...) and clear errors.

    Args:
        session: the unit of work (not committed here).
        connection_id: the connection.
        entity: the entity.
        ids: record ids on ``key``'s side.
        key: the side the ids belong to.
        status: the new status (use :func:`mark_failed` for failures, which need a code).

    Returns:
        How many bindings changed.
    """
    changed = 0
    for chunk in _chunks(list(dict.fromkeys(ids)), _IDS_PER_QUERY):
        statement = (
            sa.update(_TABLE)
            .where(*_scope(connection_id, entity), _id_column(key).in_(chunk))
            .values(status=status, error_code=None, error_message=None, updated_at=utc_now())
        )
        changed += session.exec(statement).rowcount
    return changed


def archive_bindings(session: Session, connection_id: int, entity: str | None = None) -> int:
    """Archive the active bindings of a connection (of one entity, or all): history, no longer links.

    Returns:
        How many bindings were archived.
    """
    conditions = [_TABLE.c.connection_id == connection_id, active_predicate(_TABLE)]
    if entity is not None:
        conditions.append(_TABLE.c.entity == entity)
    statement = sa.update(_TABLE).where(*conditions).values(archived=True, updated_at=utc_now())
    return session.exec(statement).rowcount


def count_by_status(session: Session, connection_id: int, entity: str | None = None) -> dict[BindingStatus, int]:
    """How many active bindings have each status (every status present, zero when none).

    Args:
        session: the unit of work.
        connection_id: the connection.
        entity: one entity, or all when ``None``.
    """
    conditions = [_TABLE.c.connection_id == connection_id, active_predicate(_TABLE)]
    if entity is not None:
        conditions.append(_TABLE.c.entity == entity)
    statement = select(_TABLE.c.status, sa.func.count()).where(*conditions).group_by(_TABLE.c.status)
    counts = dict.fromkeys(BindingStatus, 0)
    for status, count in session.exec(statement):
        counts[BindingStatus(status)] = count
    return counts


def list_bindings(
    session: Session,
    connection_id: int,
    entity: str,
    *,
    status: BindingStatus | None = None,
    after_id: int = 0,
    limit: int = 2_000,
) -> list[Binding]:
    """A page of active bindings in id order (keyset pagination: pass the last id as ``after_id``).

    Args:
        session: the unit of work.
        connection_id: the connection.
        entity: the entity.
        status: only bindings with this status, when given.
        after_id: return bindings with a larger row id.
        limit: the page size.
    """
    statement = select(Binding).where(*_scope(connection_id, entity), _TABLE.c.id > after_id)
    if status is not None:
        statement = statement.where(_TABLE.c.status == status)
    statement = statement.order_by(_TABLE.c.id).limit(limit).execution_options(populate_existing=True)
    return list(session.exec(statement).all())


#: The error code of a conflict held for a person (see the resolve-conflicts flow).
CONFLICT_HELD = "CONFLICT_HELD"
#: The error code of a binding whose partner was deleted and whose coupling the deletion policy removed.
UNLINKED = "UNLINKED"


def failed_ids(session: Session, connection_id: int, entity: str, side: Side, *, limit: int = 10_000) -> list[str]:
    """Ids on ``side`` of failed records to try again (not held conflicts, which wait for a person).

    Args:
        session: the unit of work.
        connection_id: the connection.
        entity: the entity.
        side: whose ids to return (records without an id on that side are left out).
        limit: at most this many, oldest failures first.
    """
    column = _id_column(side)
    statement = (
        sa.select(column)
        .where(
            *_scope(connection_id, entity), _TABLE.c.status == BindingStatus.FAILED, column.is_not(None),
            sa.or_(_TABLE.c.error_code.is_(None), _TABLE.c.error_code != CONFLICT_HELD),
        )
        .order_by(_TABLE.c.updated_at)
        .limit(limit)
    )
    return [str(value) for value in session.connection().execute(statement).scalars()]


def held_bindings(session: Session, connection_id: int, entity: str, ids: Sequence[str] | None = None) -> list[Binding]:
    """The bindings whose conflict is held for a person (optionally only those with these CRM or ERP ids)."""
    statement = select(Binding).where(*_scope(connection_id, entity), _TABLE.c.error_code == CONFLICT_HELD)
    if ids:
        statement = statement.where(sa.or_(_TABLE.c.crm_id.in_(list(ids)), _TABLE.c.erp_id.in_(list(ids))))
    return list(session.exec(statement.order_by(_TABLE.c.id).execution_options(populate_existing=True)).all())


def detach_side(
    session: Session,
    connection_id: int,
    entity: str,
    side: Side,
    ids: Sequence[str],
    *,
    status: BindingStatus,
    error_code: str | None = None,
    error_message: str | None = None,
) -> int:
    """Forget the ``side`` half of bindings whose ``side`` record was deleted; the partner's half stays.

    The deleted record's id and hash are cleared and the status set (``excluded`` with :data:`UNLINKED`
    when the coupling is removed, ``pending`` when the record is to be restored from its partner).

    Returns:
        How many bindings changed.
    """
    hash_column = "crm_hash" if side is Side.CRM else "erp_hash"
    id_column = "crm_id" if side is Side.CRM else "erp_id"
    changed = 0
    for chunk in _chunks(list(dict.fromkeys(ids)), _IDS_PER_QUERY):
        statement = (
            sa.update(_TABLE)
            .where(*_scope(connection_id, entity), _id_column(side).in_(chunk))
            .values(
                {id_column: None, hash_column: None, "status": status, "error_code": error_code,
                 "error_message": error_message, "updated_at": utc_now()}
            )
        )
        changed += session.exec(statement).rowcount
    return changed


def archive_deleted(session: Session, connection_id: int, entity: str, side: Side, ids: Sequence[str]) -> int:
    """Mark the bindings of records deleted on ``side`` as ``deleted`` and archive them (history only).

    Returns:
        How many bindings were archived.
    """
    changed = 0
    for chunk in _chunks(list(dict.fromkeys(ids)), _IDS_PER_QUERY):
        statement = (
            sa.update(_TABLE)
            .where(*_scope(connection_id, entity), _id_column(side).in_(chunk))
            .values(status=BindingStatus.DELETED, archived=True, updated_at=utc_now())
        )
        changed += session.exec(statement).rowcount
    return changed


def bound_ids(
    session: Session, connection_id: int, entity: str, side: Side, *, after: str = "", limit: int = 10_000
) -> list[str]:
    """A page of the ``side`` ids of active bindings that have one, in id order (keyset: pass the last as ``after``)."""
    column = _id_column(side)
    statement = (
        sa.select(column)
        .where(*_scope(connection_id, entity), column.is_not(None), column > after)
        .order_by(column)
        .limit(limit)
    )
    return [str(value) for value in session.connection().execute(statement).scalars()]


def pending_restores(session: Session, connection_id: int, entity: str, side: Side) -> list[str]:
    """The partners' ids of records deleted on ``side`` whose restore has not finished (a run died or failed).

    Args:
        session: the unit of work.
        connection_id: the connection.
        entity: the entity.
        side: the side the deleted records were on.
    """
    other = _id_column(_other(side))
    statement = sa.select(other).where(
        *_scope(connection_id, entity), _TABLE.c.status == BindingStatus.PENDING, _id_column(side).is_(None),
        other.is_not(None),
    )
    return [str(value) for value in session.connection().execute(statement).scalars()]
