"""Column types the revisions share, frozen here so that a revision never changes when ``tables.py`` does."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

#: Row ids: 64-bit on PostgreSQL (``BIGSERIAL`` for a primary key), SQLite's rowid alias on SQLite.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
#: JSON documents: ``JSONB`` on PostgreSQL.
JSON = sa.JSON().with_variant(JSONB(), "postgresql")
#: UTC instants: ``timestamp with time zone`` on PostgreSQL, ``DATETIME`` text on SQLite.
UTC_DATETIME = sa.DateTime(timezone=True)


def primary_key() -> sa.Column[int]:
    """The ``id`` column of a table."""
    return sa.Column("id", ID, primary_key=True, autoincrement=True, nullable=False)


def foreign_key(name: str, target: str, *, nullable: bool = False) -> sa.Column[int]:
    """A column referencing ``target`` (``table.id``), whose rows go when the referenced row is deleted."""
    return sa.Column(name, ID, sa.ForeignKey(target, ondelete="CASCADE"), nullable=nullable)


def timestamp(name: str, *, nullable: bool) -> sa.Column[datetime]:
    """A UTC timestamp column."""
    return sa.Column(name, UTC_DATETIME, nullable=nullable)


def enum_column(name: str, constraint: str, values: tuple[str, ...]) -> sa.Column[str]:
    """An enum stored as its value in a ``VARCHAR`` as long as the longest value, checked by ``constraint``."""
    return sa.Column(
        name,
        sa.Enum(*values, name=constraint, native_enum=False, create_constraint=True,
                length=max(len(value) for value in values)),
        nullable=False,
    )


def check_values(column: str, values: tuple[str, ...]) -> str:
    """The SQL of a CHECK that ``column`` holds one of ``values``."""
    return f"{column} IN ({', '.join(repr(value) for value in values)})"
