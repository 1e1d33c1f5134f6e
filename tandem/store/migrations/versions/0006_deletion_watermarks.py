"""Watermarks of deletions, apart from those of changes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tandem.store.migrations.columns import enum_column, foreign_key, primary_key, timestamp

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``deletion_watermarks``."""
    op.create_table(
        "deletion_watermarks",
        primary_key(),
        foreign_key("connection_id", "connections.id"),
        sa.Column("entity", sa.String(64), nullable=False),
        enum_column("side", "ck_deletion_watermarks_side", ("crm", "erp")),
        timestamp("value", nullable=False),
        timestamp("updated_at", nullable=False),
        sa.UniqueConstraint("connection_id", "entity", "side", name="uq_deletion_watermarks_key"),
    )


def downgrade() -> None:
    """Not supported: restore a backup to go back."""
    raise NotImplementedError("the state store's migrations go forward only")
