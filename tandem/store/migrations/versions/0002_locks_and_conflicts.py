"""A per-connection lock with a lease, and the conflicts table.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tandem.store.migrations.columns import ID, foreign_key, primary_key, timestamp

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``connection_locks`` and ``sync_conflicts``."""
    op.create_table(
        "connection_locks",
        sa.Column("connection_id", ID, sa.ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True,
                  autoincrement=False, nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        timestamp("acquired_at", nullable=False),
        timestamp("expires_at", nullable=False),
    )
    op.create_table(
        "sync_conflicts",
        primary_key(),
        foreign_key("run_id", "sync_runs.id"),
        sa.Column("entity", sa.String(64), nullable=False),
        sa.Column("crm_id", sa.String(64), nullable=False),
        sa.Column("erp_id", sa.String(64), nullable=False),
        timestamp("crm_modified_at", nullable=True),
        timestamp("erp_modified_at", nullable=True),
        sa.Column("policy", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        timestamp("occurred_at", nullable=False),
        sa.UniqueConstraint("run_id", "entity", "crm_id", "erp_id", name="uq_sync_conflicts_key"),
    )


def downgrade() -> None:
    """Not supported: restore a backup to go back."""
    raise NotImplementedError("the state store's migrations go forward only")
