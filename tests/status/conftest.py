"""Fixtures: the state store tests' stores (a SQLite file and a real PostgreSQL server), reused as they are."""

from tests.store.conftest import cid, engine, postgres_engine, session

__all__ = ["cid", "engine", "postgres_engine", "session"]
