"""Column types shared by the state store's tables: UTC datetimes and enums stored as their values."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


def utc_now() -> datetime:
    """The current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` converted to UTC.

    Raises:
        ValueError: when ``value`` is naive; the store never guesses a time zone.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("the state store takes timezone-aware datetimes only (got a naive datetime)")
    return value.astimezone(UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp that goes in and comes out as a timezone-aware UTC datetime on every database.

    PostgreSQL keeps it as ``timestamp with time zone``; SQLite, which has no time zones, keeps the
    UTC wall time as text (which sorts and compares correctly because every value is UTC).
    Naive datetimes are refused when binding.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        """Timezone-aware on PostgreSQL, plain on SQLite (which stores naive UTC)."""
        if dialect.name == "postgresql":
            return dialect.type_descriptor(sa.DateTime(timezone=True))
        return dialect.type_descriptor(sa.DateTime(timezone=False))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC (naive UTC for databases without time zones)."""
        if value is None:
            return None
        utc = as_utc(value)
        return utc if dialect.name == "postgresql" else utc.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime whatever the database handed back."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def enum_type(enum_class: type[enum.Enum], name: str) -> sa.Enum:
    """A portable enum column type: the members' *values* in a VARCHAR with a CHECK constraint.

    Args:
        enum_class: the Python enum.
        name: the constraint name (unique in the schema).
    """
    return sa.Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(len(str(member.value)) for member in enum_class),
        values_callable=lambda members: [str(member.value) for member in members],
        validate_strings=True,
    )
