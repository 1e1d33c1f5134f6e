"""The first released schema (Tandem 0.1.0): connections, bindings, watermarks, sync runs and jobs, record errors.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tandem.store.migrations.columns import JSON, enum_column, foreign_key, primary_key, timestamp

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BINDING_STATUSES = ("synced", "failed", "excluded", "deleted", "pending")
SIDES = ("crm", "erp")


def _active(table: str) -> sa.ColumnElement[bool]:
    return sa.column("archived", sa.Boolean()) == sa.false()


def _partial_unique(name: str, table: str, columns: list[str]) -> None:
    predicate = _active(table)
    op.create_index(name, table, columns, unique=True, sqlite_where=predicate, postgresql_where=predicate)


def upgrade() -> None:
    """Create the tables of Tandem 0.1.0."""
    op.create_table(
        "connections",
        primary_key(),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("crm_org_id", sa.String(64), nullable=False),
        sa.Column("erp_account_id", sa.String(64), nullable=False),
        enum_column("environment", "ck_connections_environment", ("production", "sandbox")),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("options", JSON, nullable=False),
        timestamp("sync_enabled_at", nullable=True),
        timestamp("created_at", nullable=False),
        timestamp("updated_at", nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
    )
    _partial_unique("uq_connections_active_crm_org", "connections", ["crm_org_id"])
    op.create_table(
        "bindings",
        primary_key(),
        foreign_key("connection_id", "connections.id"),
        sa.Column("entity", sa.String(64), nullable=False),
        sa.Column("crm_id", sa.String(64), nullable=True),
        sa.Column("erp_id", sa.String(64), nullable=True),
        sa.Column("external_id", sa.String(255), nullable=True),
        sa.Column("crm_hash", sa.String(64), nullable=True),
        sa.Column("erp_hash", sa.String(64), nullable=True),
        timestamp("last_synced_at", nullable=True),
        enum_column("status", "ck_bindings_status", BINDING_STATUSES),
        sa.Column("error_code", sa.String(100), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
        timestamp("created_at", nullable=False),
        timestamp("updated_at", nullable=False),
    )
    op.create_index("ix_bindings_connection_status", "bindings", ["connection_id", "entity", "status"])
    _partial_unique("uq_bindings_active_crm_id", "bindings", ["connection_id", "entity", "crm_id"])
    _partial_unique("uq_bindings_active_erp_id", "bindings", ["connection_id", "entity", "erp_id"])
    op.create_table(
        "watermarks",
        primary_key(),
        foreign_key("connection_id", "connections.id"),
        sa.Column("entity", sa.String(64), nullable=False),
        enum_column("side", "ck_watermarks_side", SIDES),
        timestamp("value", nullable=False),
        timestamp("updated_at", nullable=False),
        sa.UniqueConstraint("connection_id", "entity", "side", name="uq_watermarks_key"),
    )
    op.create_table(
        "sync_runs",
        primary_key(),
        foreign_key("connection_id", "connections.id"),
        sa.Column("flow_run_id", sa.String(64), nullable=True),
        sa.Column("procedure", sa.String(64), nullable=False),
        enum_column("state", "ck_sync_runs_state", ("running", "succeeded", "failed", "cancelled")),
        timestamp("started_at", nullable=False),
        timestamp("finished_at", nullable=True),
    )
    op.create_index("ix_sync_runs_flow_run_id", "sync_runs", ["flow_run_id"])
    op.create_table(
        "sync_jobs",
        primary_key(),
        foreign_key("run_id", "sync_runs.id"),
        sa.Column("entity", sa.String(64), nullable=False),
        enum_column("state", "ck_sync_jobs_state", ("pending", "running", "succeeded", "failed", "skipped")),
        sa.Column("skip_reason", sa.Text(), nullable=True),
        *(sa.Column(count, sa.Integer(), nullable=False)
          for count in ("inserted", "modified", "deleted", "unchanged", "skipped", "failed", "coupled")),
        timestamp("created_at", nullable=False),
        timestamp("started_at", nullable=True),
        timestamp("finished_at", nullable=True),
        sa.UniqueConstraint("run_id", "entity", name="uq_sync_jobs_run_entity"),
    )
    op.create_table(
        "record_errors",
        primary_key(),
        foreign_key("run_id", "sync_runs.id"),
        foreign_key("job_id", "sync_jobs.id", nullable=True),
        sa.Column("entity", sa.String(64), nullable=False),
        enum_column("side", "ck_record_errors_side", SIDES),
        sa.Column("record_id", sa.String(64), nullable=False),
        sa.Column("code", sa.String(100), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        timestamp("occurred_at", nullable=False),
    )
    op.create_index("ix_record_errors_run", "record_errors", ["run_id"])


def downgrade() -> None:
    """Not supported: restore a backup to go back."""
    raise NotImplementedError("the state store's migrations go forward only")
