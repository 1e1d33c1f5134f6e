"""A record per sandbox refresh.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tandem.store.migrations.columns import JSON, foreign_key, primary_key, timestamp

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``sandbox_refreshes``."""
    op.create_table(
        "sandbox_refreshes",
        primary_key(),
        foreign_key("connection_id", "connections.id"),
        sa.Column("previous_crm_org_id", sa.String(64), nullable=False),
        sa.Column("crm_org_id", sa.String(64), nullable=False),
        sa.Column("saved", JSON, nullable=False),
        sa.Column("steps", JSON, nullable=False),
        sa.Column("flow_run_id", sa.String(64), nullable=True),
        timestamp("started_at", nullable=False),
        timestamp("finished_at", nullable=True),
    )


def downgrade() -> None:
    """Not supported: restore a backup to go back."""
    raise NotImplementedError("the state store's migrations go forward only")
