"""An index on a record's failure history (``tandem failures``).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``ix_record_errors_record``."""
    op.create_index("ix_record_errors_record", "record_errors", ["entity", "record_id", "occurred_at"])


def downgrade() -> None:
    """Not supported: restore a backup to go back."""
    raise NotImplementedError("the state store's migrations go forward only")
