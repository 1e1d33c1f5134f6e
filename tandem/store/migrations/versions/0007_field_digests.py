"""Bindings keep a digest per mapped field: ``crm_hash``/``erp_hash`` become ``TEXT``.

A field digest is longer than the 64 characters a whole-record hash took. PostgreSQL widens the columns (no
table rewrite: ``VARCHAR`` to ``TEXT`` is binary compatible); SQLite does not enforce a ``VARCHAR``'s length, so
its columns are left as they are rather than rebuilding the bindings table.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Widen the bindings' digest columns on PostgreSQL."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in ("crm_hash", "erp_hash"):
        op.alter_column("bindings", name, type_=sa.Text(), existing_type=sa.String(64), existing_nullable=True)


def downgrade() -> None:
    """Not supported: restore a backup to go back."""
    raise NotImplementedError("the state store's migrations go forward only")
