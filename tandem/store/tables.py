"""The state store's tables: connections, bindings, watermarks (of changes and of deletions), sync runs and
jobs, record errors.

Every timestamp is a timezone-aware UTC datetime (see :class:`tandem.store.types.UTCDateTime`);
enums are stored as their lowercase values. "Active" rows are the non-archived ones: uniqueness
rules hold among active rows only (partial unique indexes on SQLite and PostgreSQL alike), so
archiving keeps history without blocking a fresh start.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from tandem.store.types import UTCDateTime, enum_type, utc_now

#: Row ids: 64-bit on PostgreSQL, SQLite's rowid alias (also 64-bit) on SQLite.
_ID_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON_TYPE = sa.JSON().with_variant(JSONB(), "postgresql")


class Environment(enum.StrEnum):
    """Which kind of CRM org and ERP account a connection pairs (never a mix)."""

    PRODUCTION = "production"
    SANDBOX = "sandbox"


class Side(enum.StrEnum):
    """One of the two systems a connection keeps in step."""

    CRM = "crm"
    ERP = "erp"


class BindingStatus(enum.StrEnum):
    """Where a coupled record stands.

    ``synced``: both sides hold the content whose hashes are stored. ``failed``: the last attempt
    failed (see the error code and message). ``excluded``: deliberately not synced (a filter or a
    user's choice). ``deleted``: deleted on one side and removed (or to be removed) on the other.
    ``pending``: known on one side, not yet written to the other.
    """

    SYNCED = "synced"
    FAILED = "failed"
    EXCLUDED = "excluded"
    DELETED = "deleted"
    PENDING = "pending"


class RunState(enum.StrEnum):
    """The state of a sync run (one flow run of a procedure)."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    CRASHED = "crashed"


class JobState(enum.StrEnum):
    """The state of one entity's job inside a sync run."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


def _id_field() -> Any:
    return Field(default=None, sa_column=sa.Column(_ID_TYPE, primary_key=True, autoincrement=True))


def _utc_field(*, nullable: bool, now_by_default: bool = False) -> Any:
    column: sa.Column[datetime] = sa.Column(UTCDateTime(), nullable=nullable)
    if now_by_default:
        return Field(default_factory=utc_now, sa_column=column)
    return Field(default=None, sa_column=column)


def _enum_field(enum_class: type[enum.Enum], name: str, default: enum.Enum) -> Any:
    return Field(default=default, sa_column=sa.Column(enum_type(enum_class, name), nullable=False))


def _foreign_key(target: str, *, nullable: bool = False, ondelete: str = "CASCADE") -> Any:
    return Field(
        default=None if nullable else ...,
        sa_column=sa.Column(_ID_TYPE, sa.ForeignKey(target, ondelete=ondelete), nullable=nullable),
    )


class Connection(SQLModel, table=True):
    """A coupling of one CRM org with one ERP account.

    Attributes:
        name: a unique, human-chosen name (used by flows and the CLI).
        crm_org_id: the Salesforce organization id.
        erp_account_id: the ERP account (company) id.
        environment: production or sandbox; both sides are of this kind.
        enabled: whether scheduled syncs run.
        options: connection options (JSON; never credentials).
        sync_enabled_at: when sync was enabled; ERP records created before it do not travel to the CRM
            in the initial import.
        archived: archived connections keep their history but no longer count for the pairing rule.
    """

    __tablename__ = "connections"

    id: int | None = _id_field()
    name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False, unique=True))
    crm_org_id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    erp_account_id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    environment: Environment = _enum_field(Environment, "ck_connections_environment", Environment.PRODUCTION)
    enabled: bool = Field(default=True, sa_column=sa.Column(sa.Boolean(), nullable=False))
    options: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(_JSON_TYPE, nullable=False))
    sync_enabled_at: datetime | None = _utc_field(nullable=True)
    created_at: datetime = _utc_field(nullable=False, now_by_default=True)
    updated_at: datetime = _utc_field(nullable=False, now_by_default=True)
    archived: bool = Field(default=False, sa_column=sa.Column(sa.Boolean(), nullable=False))


class Binding(SQLModel, table=True):
    """The link between one CRM record and one ERP record of an entity (the OCA ``Binder`` row).

    Either id may be missing while a record is known on one side only (``pending`` or ``failed``).

    Attributes:
        connection_id: the connection the binding belongs to.
        entity: the mapped entity's name (``customer``, ``item`` ...).
        crm_id: the CRM record id.
        erp_id: the ERP record's internal id.
        external_id: the id used for idempotent upserts by external id.
        crm_hash: field digest of the CRM side's mapped fields at the last sync (:mod:`tandem.store.digests`).
        erp_hash: field digest of the ERP side's mapped fields at the last sync.
        last_synced_at: when the record was last synced successfully.
        status: see :class:`BindingStatus`.
        error_code: the last error's code (``failed`` bindings).
        error_message: the last error's message (never field values).
        archived: archived bindings are history; they do not count for uniqueness.
    """

    __tablename__ = "bindings"

    id: int | None = _id_field()
    connection_id: int = _foreign_key("connections.id")
    entity: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    crm_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(64), nullable=True))
    erp_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(64), nullable=True))
    external_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(255), nullable=True))
    crm_hash: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    erp_hash: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    last_synced_at: datetime | None = _utc_field(nullable=True)
    status: BindingStatus = _enum_field(BindingStatus, "ck_bindings_status", BindingStatus.PENDING)
    error_code: str | None = Field(default=None, sa_column=sa.Column(sa.String(100), nullable=True))
    error_message: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    archived: bool = Field(default=False, sa_column=sa.Column(sa.Boolean(), nullable=False))
    created_at: datetime = _utc_field(nullable=False, now_by_default=True)
    updated_at: datetime = _utc_field(nullable=False, now_by_default=True)


class Watermark(SQLModel, table=True):
    """How far the incremental sync has read one entity on one side (a singer-sdk style bookmark).

    Attributes:
        value: records modified at or after this instant are still to be read.
    """

    __tablename__ = "watermarks"
    __table_args__ = (sa.UniqueConstraint("connection_id", "entity", "side", name="uq_watermarks_key"),)

    id: int | None = _id_field()
    connection_id: int = _foreign_key("connections.id")
    entity: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    side: Side = _enum_field(Side, "ck_watermarks_side", Side.CRM)
    value: datetime = _utc_field(nullable=False)
    updated_at: datetime = _utc_field(nullable=False, now_by_default=True)


class DeletionWatermark(SQLModel, table=True):
    """How far the incremental sync has read one entity's deletions on one side.

    Kept apart from :class:`Watermark`: changes and deletions are read by different calls with their own
    windows (Salesforce ``deleted/`` keeps 15 days and counts whole minutes, ERP ``getDeleted`` a range).

    Attributes:
        value: records deleted at or after this instant are still to be read.
    """

    __tablename__ = "deletion_watermarks"
    __table_args__ = (sa.UniqueConstraint("connection_id", "entity", "side", name="uq_deletion_watermarks_key"),)

    id: int | None = _id_field()
    connection_id: int = _foreign_key("connections.id")
    entity: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    side: Side = _enum_field(Side, "ck_deletion_watermarks_side", Side.CRM)
    value: datetime = _utc_field(nullable=False)
    updated_at: datetime = _utc_field(nullable=False, now_by_default=True)


class SyncRun(SQLModel, table=True):
    """One execution of a procedure (a Prefect flow run) for a connection.

    Attributes:
        flow_run_id: the Prefect flow run id, when run under Prefect.
        procedure: the procedure's name (``initial-import``, ``full-sync`` ...).
        state: see :class:`RunState`.
        message: why the run ended as it did, when that needs saying (a crashed run: who found it, when).
    """

    __tablename__ = "sync_runs"

    id: int | None = _id_field()
    connection_id: int = _foreign_key("connections.id")
    flow_run_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(64), nullable=True, index=True))
    procedure: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    state: RunState = _enum_field(RunState, "ck_sync_runs_state", RunState.RUNNING)
    started_at: datetime = _utc_field(nullable=False, now_by_default=True)
    finished_at: datetime | None = _utc_field(nullable=True)
    message: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))


class SyncJob(SQLModel, table=True):
    """One entity's share of a sync run, with its counts.

    Attributes:
        skip_reason: why the job was skipped (``skipped`` jobs only).
        inserted: records created on the target side.
        modified: records updated on the target side.
        deleted: records deleted on the target side.
        unchanged: records whose content had not changed since the last sync.
        skipped: records deliberately not synced.
        failed: records that failed (each has a record error).
        coupled: existing records matched and bound without a write.
    """

    __tablename__ = "sync_jobs"
    __table_args__ = (sa.UniqueConstraint("run_id", "entity", name="uq_sync_jobs_run_entity"),)

    id: int | None = _id_field()
    run_id: int = _foreign_key("sync_runs.id")
    entity: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    state: JobState = _enum_field(JobState, "ck_sync_jobs_state", JobState.PENDING)
    skip_reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    inserted: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False))
    modified: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False))
    deleted: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False))
    unchanged: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False))
    skipped: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False))
    failed: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False))
    coupled: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False))
    created_at: datetime = _utc_field(nullable=False, now_by_default=True)
    started_at: datetime | None = _utc_field(nullable=True)
    finished_at: datetime | None = _utc_field(nullable=True)


class RecordError(SQLModel, table=True):
    """A record that failed inside a run: ids and codes only, never field values.

    Attributes:
        side: the system whose record failed (the source of the failed write or read).
        record_id: that system's record id.
        code: the error code (``DUPLICATE_VALUE``, ``INVALID_FLD_VALUE``, ``UNMAPPED_VALUE`` ...).
        message: a message without field values.
    """

    __tablename__ = "record_errors"

    id: int | None = _id_field()
    run_id: int = _foreign_key("sync_runs.id")
    job_id: int | None = _foreign_key("sync_jobs.id", nullable=True)
    entity: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    side: Side = _enum_field(Side, "ck_record_errors_side", Side.CRM)
    record_id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    code: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    message: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    occurred_at: datetime = _utc_field(nullable=False, now_by_default=True)


class ConnectionLock(SQLModel, table=True):
    """Who is writing a connection right now: one row per locked connection, held for a lease.

    Attributes:
        holder: who holds it (a Prefect flow run id).
        acquired_at: when the holder took it.
        expires_at: when the lease ends unless the holder renews it (a killed holder stops renewing).
    """

    __tablename__ = "connection_locks"

    connection_id: int = Field(
        sa_column=sa.Column(_ID_TYPE, sa.ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True)
    )
    holder: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    acquired_at: datetime = _utc_field(nullable=False, now_by_default=True)
    expires_at: datetime = _utc_field(nullable=False)


class SyncConflict(SQLModel, table=True):
    """A record changed on both sides since its last sync, and how the connection's policy settled it.

    Only where the competing values came from is kept (systems, ids, modification times), never the values.

    Attributes:
        crm_modified_at: when the CRM record was last modified.
        erp_modified_at: when the ERP record was last modified.
        policy: the entity's conflict policy (``crm_wins``, ``erp_wins``, ``latest``, ``hold``).
        outcome: whose values stand: ``crm``, ``erp``, or ``held`` (both kept, waiting for a person).
    """

    __tablename__ = "sync_conflicts"
    __table_args__ = (sa.UniqueConstraint("run_id", "entity", "crm_id", "erp_id", name="uq_sync_conflicts_key"),)

    id: int | None = _id_field()
    run_id: int = _foreign_key("sync_runs.id")
    entity: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    crm_id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    erp_id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    crm_modified_at: datetime | None = _utc_field(nullable=True)
    erp_modified_at: datetime | None = _utc_field(nullable=True)
    policy: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    outcome: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    occurred_at: datetime = _utc_field(nullable=False, now_by_default=True)


class SandboxRefresh(SQLModel, table=True):
    """One run of the sandbox refresh procedure on a connection, from its check to its resync.

    Attributes:
        previous_crm_org_id: the org id the connection was bound to before the refresh.
        crm_org_id: the refreshed sandbox's new org id.
        saved: what cancelling the subscription set aside: the connection's options, enabled flag and
            sync-enabled time (re-applied by the reconfigure step) and its archived watermarks (audit only).
        steps: per finished step, when it finished and what it did (counts).
        finished_at: when the resync finished; ``None`` while the procedure is under way (a re-run resumes it).
    """

    __tablename__ = "sandbox_refreshes"

    id: int | None = _id_field()
    connection_id: int = _foreign_key("connections.id")
    previous_crm_org_id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    crm_org_id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    saved: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(_JSON_TYPE, nullable=False))
    steps: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(_JSON_TYPE, nullable=False))
    flow_run_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(64), nullable=True))
    started_at: datetime = _utc_field(nullable=False, now_by_default=True)
    finished_at: datetime | None = _utc_field(nullable=True)


def active_predicate(table: sa.Table) -> sa.ColumnElement[bool]:
    """The predicate that selects active (non-archived) rows of ``connections`` or ``bindings``.

    It renders as a literal (``archived = 0`` / ``archived = false``), never a bound parameter, so
    queries that use it are served by the partial unique indexes.
    """
    return table.c.archived == sa.false()


def _partial_unique(name: str, table: sa.Table, *columns: str) -> sa.Index:
    predicate = active_predicate(table)
    return sa.Index(
        name,
        *(table.c[column] for column in columns),
        unique=True,
        sqlite_where=predicate,
        postgresql_where=predicate,
    )


_connections: sa.Table = Connection.__table__  # type: ignore[attr-defined]
_bindings: sa.Table = Binding.__table__  # type: ignore[attr-defined]

_partial_unique("uq_connections_active_crm_org", _connections, "crm_org_id")
_partial_unique("uq_bindings_active_crm_id", _bindings, "connection_id", "entity", "crm_id")
_partial_unique("uq_bindings_active_erp_id", _bindings, "connection_id", "entity", "erp_id")
sa.Index("ix_bindings_connection_status", _bindings.c.connection_id, _bindings.c.entity, _bindings.c.status)
_errors: sa.Table = RecordError.__table__  # type: ignore[attr-defined]
sa.Index("ix_record_errors_run", _errors.c.run_id)
# A record's failure history (tandem failures: since when it fails, its last attempt).
sa.Index("ix_record_errors_record", _errors.c.entity, _errors.c.record_id, _errors.c.occurred_at)

#: The store's tables, in creation order.
TABLES: list[sa.Table] = [
    _connections,
    _bindings,
    Watermark.__table__,  # type: ignore[attr-defined]
    SyncRun.__table__,  # type: ignore[attr-defined]
    SyncJob.__table__,  # type: ignore[attr-defined]
    RecordError.__table__,  # type: ignore[attr-defined]
    ConnectionLock.__table__,  # type: ignore[attr-defined]
    SyncConflict.__table__,  # type: ignore[attr-defined]
    SandboxRefresh.__table__,  # type: ignore[attr-defined]
    DeletionWatermark.__table__,  # type: ignore[attr-defined]
]


def require_id(
    row: Connection | Binding | Watermark | SyncRun | SyncJob | RecordError | SyncConflict | SandboxRefresh,
) -> int:
    """The row's primary key, which the database assigns when the row is flushed.

    Raises:
        ValueError: the row was not flushed yet.
    """
    if row.id is None:
        raise ValueError(f"this {type(row).__name__} has no id yet: flush the session first")
    return row.id
