"""Sync runs say why they ended (``message``) and can be ``crashed``.

SQLite cannot change a CHECK constraint in place: batch mode rebuilds ``sync_runs`` (new table, copy, drop,
rename; :mod:`tandem.store.upgrade` keeps foreign keys off meanwhile, so the runs' jobs stay).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tandem.store.migrations.columns import check_values, foreign_key, primary_key, timestamp

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

OLD_STATES = ("running", "succeeded", "failed", "cancelled")
STATES = (*OLD_STATES, "crashed")


def _old_runs() -> sa.Table:
    """``sync_runs`` as revision 0001 made it (what batch mode copies on SQLite)."""
    return sa.Table(
        "sync_runs",
        sa.MetaData(),
        primary_key(),
        foreign_key("connection_id", "connections.id"),
        sa.Column("flow_run_id", sa.String(64), nullable=True, index=True),
        sa.Column("procedure", sa.String(64), nullable=False),
        sa.Column("state", sa.String(9), nullable=False),
        timestamp("started_at", nullable=False),
        timestamp("finished_at", nullable=True),
        sa.CheckConstraint(check_values("state", OLD_STATES), name="ck_sync_runs_state"),
    )


def upgrade() -> None:
    """Add ``sync_runs.message`` and allow the ``crashed`` state."""
    with op.batch_alter_table("sync_runs", copy_from=_old_runs()) as batch:
        batch.add_column(sa.Column("message", sa.Text(), nullable=True))
        batch.drop_constraint("ck_sync_runs_state", type_="check")
        batch.create_check_constraint("ck_sync_runs_state", check_values("state", STATES))
    if op.get_bind().dialect.name == "sqlite":  # the rebuilt table comes without the old one's index
        op.create_index("ix_sync_runs_flow_run_id", "sync_runs", ["flow_run_id"])


def downgrade() -> None:
    """Not supported: restore a backup to go back."""
    raise NotImplementedError("the state store's migrations go forward only")
