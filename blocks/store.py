"""Prefect block naming Tandem's state store database."""

from __future__ import annotations

from typing import Self

from prefect.blocks.core import Block
from pydantic import Field, SecretStr, model_validator
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from blocks.schema_cache import CachedJsonSchema
from tandem.store import create_schema, create_store_engine, open_existing_store


class StateStore(CachedJsonSchema, Block):
    """Where Tandem keeps record bindings, watermarks, sync runs and record errors.

    SQLite (a local file) by default; PostgreSQL for production. The URL is a secret because a
    PostgreSQL URL carries its password.

    Example:
        Open the store and create its tables:
        ```python
        from blocks.store import StateStore

        engine = StateStore.load("BLOCK_NAME").get_engine()
        ```
    """

    _block_type_name = "Tandem State Store"
    _block_type_slug = "tandem-state-store"
    _documentation_url = "https://docs.sqlalchemy.org/en/20/core/engines.html#database-urls"  # type: ignore[assignment]

    url: SecretStr = Field(
        default=SecretStr("sqlite:///.tandem/state.sqlite3"),
        description=(
            "A SQLAlchemy database URL: sqlite:///path/state.sqlite3 (the default, a local file) or "
            "postgresql+psycopg://user:password@host:5432/tandem for production."
        ),
    )

    @model_validator(mode="after")
    def _check_url(self) -> Self:
        try:
            backend = make_url(self.url.get_secret_value()).get_backend_name()
        except ArgumentError:
            raise ValueError("url is not a database URL; use sqlite:///path or postgresql+psycopg://...") from None
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"the state store runs on SQLite or PostgreSQL, not {backend}")
        return self

    def get_engine(self) -> Engine:
        """Open the store (creating its tables when missing) and return its SQLAlchemy engine."""
        engine = create_store_engine(self.url.get_secret_value())
        create_schema(engine)
        return engine

    def get_existing_engine(self) -> Engine:
        """Open the store for a command that only reads it (a card, the failures, the review): never a new one.

        Raises:
            StoreUnavailableError: no SQLite file at the url, or the database cannot be opened (the message
                names the store without its password).
        """
        return open_existing_store(self.url.get_secret_value())
