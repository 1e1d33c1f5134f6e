"""Records failing right now, across runs: which, on which side, why, since when, and in which run.

A record is *failing* when its binding's latest state is ``failed`` (a record that failed and then synced is
not). The binding holds the last error's code and message (never field values) and the last attempt's time;
the record errors of the connection's runs (``record_errors``) add the side whose record failed, when the
current streak of failures began (the first failure after the last successful sync) and the run of the latest
failure. Everything comes from one statement on the state store, with a limit: the bindings are read through
their ``(connection_id, entity, status)`` index, then each one's first and latest record errors by two seeks
in the ``(entity, record_id, occurred_at)`` index ``ix_record_errors_record``.

Held conflicts are failing records too (code ``CONFLICT_HELD``): they wait for a person (the
resolve-conflicts flow), not for a retry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import sqlalchemy as sa
from sqlalchemy import Engine

from tandem.store.tables import Binding, BindingStatus, Connection, RecordError, Side, SyncRun, active_predicate

_BINDINGS: sa.Table = Binding.__table__  # type: ignore[attr-defined]
_CONNECTIONS: sa.Table = Connection.__table__  # type: ignore[attr-defined]
_ERRORS: sa.Table = RecordError.__table__  # type: ignore[attr-defined]
_RUNS: sa.Table = SyncRun.__table__  # type: ignore[attr-defined]

#: How many failing records a listing shows unless told otherwise.
DEFAULT_LIMIT = 500
#: The most a listing shows at once (narrow it by entity or time for more).
MAX_LIMIT = 10_000
#: Earlier than any record error (the "last successful sync" of a record that never synced).
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Where ``tandem serve`` lists the failing records.
FAILURES_PATH = "/failures"


class UnknownEntityError(ValueError):
    """An entity that is not in the connection's mapping set."""


@dataclass(frozen=True)
class FailingRecord:
    """One record whose latest sync attempt failed.

    Attributes:
        entity: the mapped entity.
        side: the system whose record failed (the source of the failed write), ``None`` when both records
            wait (a held conflict).
        record_id: that record's id (the CRM id of a held conflict).
        crm_id: the CRM record id, when known.
        erp_id: the ERP record id, when known.
        error_code: the latest error's code.
        error_message: the latest error's message (ids and codes, never field values).
        failing_since: the first failure after the record's last successful sync (``None`` when no run
            recorded one: a held conflict).
        last_attempt_at: when it last failed.
        run_id: the state store's run of the latest failure.
        flow_run_id: that run's Prefect flow run id.
        procedure: that run's procedure (``incremental-sync`` ...).
    """

    entity: str
    side: Side | None
    record_id: str
    crm_id: str | None
    erp_id: str | None
    error_code: str | None
    error_message: str | None
    failing_since: datetime | None
    last_attempt_at: datetime
    run_id: int | None = None
    flow_run_id: str | None = None
    procedure: str | None = None

    @property
    def partner_id(self) -> str | None:
        """The id of the record on the other side (the ERP id of a held conflict), if it has one."""
        return self.crm_id if self.side is Side.ERP else self.erp_id

    def id_on(self, side: Side) -> str | None:
        """The record's id on ``side`` (its own or its partner's), if it has one."""
        return self.crm_id if side is Side.CRM else self.erp_id

    def as_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data."""
        return {
            "entity": self.entity,
            "side": self.side.value if self.side is not None else None,
            "record_id": self.record_id,
            "crm_id": self.crm_id,
            "erp_id": self.erp_id,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "failing_since": self.failing_since.isoformat() if self.failing_since else None,
            "last_attempt_at": self.last_attempt_at.isoformat(),
            "run_id": self.run_id,
            "flow_run_id": self.flow_run_id,
            "procedure": self.procedure,
        }


@dataclass(frozen=True)
class FailureList:
    """A listing of failing records, newest failure first.

    Attributes:
        records: the records (at most the listing's limit).
        truncated: more records fail than the limit let through.
    """

    records: list[FailingRecord] = field(default_factory=list)
    truncated: bool = False


def parse_since(text: str) -> datetime:
    """An ISO date or date and time as an aware UTC datetime (no offset means UTC).

    Args:
        text: ``2026-12-05``, ``2026-12-05T10:30``, ``2026-12-05 10:30:00+01:00``, ``2026-12-05T09:30Z`` ...

    Raises:
        ValueError: not an ISO date or date and time.
    """
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO date or date and time (2026-12-05, 2026-12-05T10:30 or 2026-12-05T10:30+01:00)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def failures_path(entity: str | None = None) -> str:
    """The path of ``tandem serve``'s failing-records page (of one entity, when given)."""
    return f"{FAILURES_PATH}?{urlencode({'entity': entity})}" if entity else FAILURES_PATH


def failing_records(
    connection: sa.Connection,
    connection_key: int | str,
    *,
    entities: Sequence[str],
    since: datetime | None = None,
    ids: Sequence[str] | None = None,
    limit: int = DEFAULT_LIMIT,
) -> FailureList:
    """The records of a connection whose latest sync attempt failed, newest failure first (one statement).

    Args:
        connection: a database connection (``session.connection()`` or ``engine.connect()``).
        connection_key: the Tandem connection's id, or its name.
        entities: the entities to look in (the connection's mapping set, or one entity).
        since: only records whose latest failure is at or after this instant (aware).
        ids: only the records with these CRM or ERP ids.
        limit: at most this many records (``truncated`` says whether more fail).

    Returns:
        The records and whether the limit cut the listing short.
    """
    if not entities or (ids is not None and not ids):
        return FailureList()
    limit = max(1, min(limit, MAX_LIMIT))
    statement = failing_statement(connection_key, entities=entities, since=since, ids=ids, limit=limit + 1)
    rows = connection.execute(statement).mappings().all()
    return FailureList(records=[_record(row) for row in rows[:limit]], truncated=len(rows) > limit)


def failing_statement(
    connection_key: int | str,
    *,
    entities: Sequence[str],
    since: datetime | None = None,
    ids: Sequence[str] | None = None,
    limit: int = DEFAULT_LIMIT,
) -> sa.Select[Any]:
    """The statement :func:`failing_records` runs (at most ``limit`` rows); its arguments are the same.

    The failing bindings come from the ``(connection_id, entity, status)`` index, newest first, cut at
    ``limit``; then, per binding and side, two seeks in the record errors by ``(entity, record_id,
    occurred_at)`` find the first and the latest failure since its last successful sync, among the
    connection's runs (ERP ids of two connections may be equal).
    """
    b = _BINDINGS
    if isinstance(connection_key, str):
        connection_id: Any = (
            sa.select(_CONNECTIONS.c.id).where(_CONNECTIONS.c.name == connection_key).scalar_subquery()
        )
    else:
        connection_id = connection_key
    conditions = [
        b.c.connection_id == connection_id, b.c.entity.in_(list(entities)), b.c.status == BindingStatus.FAILED,
        active_predicate(b),
    ]
    if since is not None:
        conditions.append(b.c.updated_at >= since)
    if ids:
        conditions.append(sa.or_(b.c.crm_id.in_(list(ids)), b.c.erp_id.in_(list(ids))))
    failing = (
        sa.select(b.c.id, b.c.entity, b.c.crm_id, b.c.erp_id, b.c.error_code, b.c.error_message, b.c.updated_at,
                  sa.func.coalesce(b.c.last_synced_at, _EPOCH).label("synced_before"))
        .where(*conditions)
        .order_by(b.c.updated_at.desc(), b.c.id.desc())
        .limit(limit)
        .cte("failing")
    )
    runs = sa.select(_RUNS.c.id).where(_RUNS.c.connection_id == connection_id)

    def seek(side: Side, column: sa.ColumnElement[Any], *, latest: bool) -> sa.ScalarSelect[Any]:
        """The first (or latest) failure of the binding's ``side`` record since its last successful sync."""
        e = _ERRORS.alias(f"{'last' if latest else 'first'}_{side.value}_error")
        order = (e.c.occurred_at.desc(), e.c.id.desc()) if latest else (e.c.occurred_at, e.c.id)
        return (
            sa.select(e.c.id if latest else e.c.occurred_at)
            .where(e.c.entity == failing.c.entity, e.c.record_id == column, e.c.side == side,
                   e.c.occurred_at > failing.c.synced_before, e.c.run_id.in_(runs))
            .order_by(*order)
            .limit(1)
            .scalar_subquery()
        )

    history = sa.select(
        failing,
        seek(Side.CRM, failing.c.crm_id, latest=False).label("crm_since"),
        seek(Side.ERP, failing.c.erp_id, latest=False).label("erp_since"),
        seek(Side.CRM, failing.c.crm_id, latest=True).label("crm_last"),
        seek(Side.ERP, failing.c.erp_id, latest=True).label("erp_last"),
    ).cte("history").prefix_with("MATERIALIZED")  # each seek once per record, not once per use
    last_error, last_run = _ERRORS.alias("last_error"), _RUNS.alias("last_run")
    # Of the two sides' latest failures, the later one (ids grow with time).
    latest_id = sa.case(
        (sa.func.coalesce(history.c.crm_last, 0) > sa.func.coalesce(history.c.erp_last, 0), history.c.crm_last),
        else_=history.c.erp_last,
    )
    return (
        sa.select(
            history.c.entity, history.c.crm_id, history.c.erp_id, history.c.error_code, history.c.error_message,
            history.c.updated_at, history.c.crm_since, history.c.erp_since, last_error.c.side, last_error.c.run_id,
            last_run.c.flow_run_id, last_run.c.procedure,
        )
        .select_from(
            history.outerjoin(last_error, last_error.c.id == latest_id)
            .outerjoin(last_run, last_run.c.id == last_error.c.run_id)
        )
        .order_by(history.c.updated_at.desc(), history.c.id.desc())
    )


def _record(row: Any) -> FailingRecord:
    crm_id, erp_id = row["crm_id"], row["erp_id"]
    side: Side | None = Side(row["side"]) if row["side"] is not None else None
    if side is None and (crm_id is None) != (erp_id is None):
        side = Side.CRM if crm_id is not None else Side.ERP
    record_id = erp_id if side is Side.ERP else crm_id or erp_id
    last_attempt = row["updated_at"]
    firsts = [moment for moment in (row["crm_since"], row["erp_since"]) if moment is not None]
    # A failure's record error is written a moment after its binding, in the same transaction.
    since = min([*firsts, last_attempt]) if firsts else None
    return FailingRecord(
        entity=row["entity"], side=side, record_id=str(record_id), crm_id=crm_id, erp_id=erp_id,
        error_code=row["error_code"], error_message=row["error_message"], failing_since=since,
        last_attempt_at=last_attempt, run_id=row["run_id"], flow_run_id=row["flow_run_id"],
        procedure=row["procedure"],
    )


@dataclass(frozen=True)
class FailureSource:
    """What failure listings are made from: the connection's name, its store and its mapping set's entities.

    Attributes:
        connection: the connection's name.
        store: the state store's engine.
        entities: the entities of the connection's mapping set.
        objects: per entity, its Salesforce object and ERP record type (to link a record to its card).
    """

    connection: str
    store: Engine
    entities: Sequence[str]
    objects: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def card_path(self, record: FailingRecord) -> str | None:
        """The path of the record's status card on ``tandem serve`` (``None`` when its type is not known)."""
        if record.side is None or record.entity not in self.objects:
            return None
        crm_object, erp_type = self.objects[record.entity]
        record_type = crm_object if record.side is Side.CRM else erp_type
        return "/cards/" + "/".join(quote(part, safe="") for part in (record.side.value, record_type,
                                                                         record.record_id)) + "/html"

    def check_entity(self, entity: str) -> str:
        """``entity``, when the connection's mapping set has it.

        Raises:
            UnknownEntityError: it does not.
        """
        if entity not in self.entities:
            raise UnknownEntityError(
                f"no entity {entity!r} in the mapping set of connection {self.connection!r} "
                f"(its entities: {', '.join(self.entities)})"
            )
        return entity

    def failures(
        self, *, entity: str | None = None, since: datetime | None = None, limit: int = DEFAULT_LIMIT
    ) -> FailureList:
        """The connection's failing records (of one entity, failed at or after ``since``), newest first.

        Raises:
            UnknownEntityError: ``entity`` is not in the connection's mapping set.
        """
        entities = [self.check_entity(entity)] if entity else list(self.entities)
        with self.store.connect() as connection:
            return failing_records(connection, self.connection, entities=entities, since=since, limit=limit)


#: The longest message a text table shows (the JSON has all of it).
TABLE_MESSAGE_WIDTH = 60
_TABLE_HEADER = ("entity", "side", "record id", "partner id", "error code", "message", "failing since (UTC)",
                 "last attempt (UTC)", "run")


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


def table_rows(records: Sequence[FailingRecord]) -> list[tuple[str, ...]]:
    """The records as text cells: the header first, times in UTC to the minute, long messages cut."""
    rows: list[tuple[str, ...]] = [_TABLE_HEADER]
    for r in records:
        partner = r.partner_id or "-"
        message = " ".join((r.error_message or "").split())
        if len(message) > TABLE_MESSAGE_WIDTH:
            message = message[: TABLE_MESSAGE_WIDTH - 1] + "…"
        run = f"{r.procedure} #{r.run_id}" if r.run_id is not None else "-"
        rows.append((r.entity, r.side.value if r.side else "both", r.record_id, partner, r.error_code or "-",
                     message or "-", _when(r.failing_since), _when(r.last_attempt_at), run))
    return rows


def format_table(records: Sequence[FailingRecord]) -> str:
    """The records as an aligned text table (times in UTC)."""
    rows = table_rows(records)
    widths = [max(len(row[i]) for row in rows) for i in range(len(_TABLE_HEADER))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
                     for row in rows)
