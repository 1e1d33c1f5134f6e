"""Connections: which CRM org is coupled with which ERP account, and how.

The pairing rule: among active (non-archived) connections a CRM org is paired with one ERP account
only — one ERP company per CRM org. It is checked here with a clear error and backed by a partial
unique index on the CRM org id, so two concurrent creations cannot both win.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from tandem.store.bindings import archive_bindings
from tandem.store.exceptions import (
    ConnectionExistsError,
    ConnectionNotFoundError,
    ConnectionPairingError,
    is_unique_violation,
)
from tandem.store.tables import Connection, Environment, active_predicate
from tandem.store.types import as_utc, utc_now

_UNSET: Any = object()
_TABLE: sa.Table = Connection.__table__  # type: ignore[attr-defined]


def create_connection(
    session: Session,
    *,
    name: str,
    crm_org_id: str,
    erp_account_id: str,
    environment: Environment = Environment.PRODUCTION,
    options: Mapping[str, Any] | None = None,
    enabled: bool = True,
    sync_enabled_at: datetime | None = None,
) -> Connection:
    """Create a connection, enforcing unique names and one ERP company per CRM org.

    Args:
        session: the unit of work (not committed here).
        name: a unique name.
        crm_org_id: the CRM org id.
        erp_account_id: the ERP account id.
        environment: production or sandbox.
        options: connection options (JSON-serialisable, no credentials).
        enabled: whether scheduled syncs run.
        sync_enabled_at: when sync was enabled (aware datetime); defaults to now when ``enabled``.

    Returns:
        The new connection, flushed (its ``id`` is set).

    Raises:
        ConnectionExistsError: the name is taken.
        ConnectionPairingError: the CRM org is already paired by an active connection.
    """
    if session.exec(select(Connection.id).where(_TABLE.c.name == name)).first() is not None:
        raise ConnectionExistsError(f"a connection named {name!r} exists already")
    _check_pairing(session, crm_org_id, erp_account_id)
    now = utc_now()
    connection = Connection(
        name=name,
        crm_org_id=crm_org_id,
        erp_account_id=erp_account_id,
        environment=environment,
        options=dict(options or {}),
        enabled=enabled,
        sync_enabled_at=as_utc(sync_enabled_at) if sync_enabled_at else (now if enabled else None),
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(connection)
    except IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        _check_pairing(session, crm_org_id, erp_account_id)
        raise ConnectionExistsError(f"a connection named {name!r} exists already") from exc
    return connection


def _check_pairing(session: Session, crm_org_id: str, erp_account_id: str) -> None:
    statement = select(Connection).where(_TABLE.c.crm_org_id == crm_org_id, active_predicate(_TABLE))
    existing = session.exec(statement).first()
    if existing is not None:
        raise ConnectionPairingError(
            crm_org_id=crm_org_id,
            existing_erp_account_id=existing.erp_account_id,
            requested_erp_account_id=erp_account_id,
            existing_connection=existing.name,
        )


def get_connection(session: Session, name: str) -> Connection:
    """The connection named ``name`` (archived or not).

    Raises:
        ConnectionNotFoundError: no such connection.
    """
    connection = session.exec(select(Connection).where(_TABLE.c.name == name)).first()
    if connection is None:
        raise ConnectionNotFoundError(f"no connection named {name!r}")
    return connection


def get_connection_by_id(session: Session, connection_id: int) -> Connection:
    """The connection with id ``connection_id``.

    Raises:
        ConnectionNotFoundError: no such connection.
    """
    connection = session.get(Connection, connection_id)
    if connection is None:
        raise ConnectionNotFoundError(f"no connection with id {connection_id}")
    return connection


def list_connections(session: Session, *, include_archived: bool = False) -> list[Connection]:
    """All connections ordered by name; active ones only unless ``include_archived``."""
    statement = select(Connection).order_by(_TABLE.c.name)
    if not include_archived:
        statement = statement.where(active_predicate(_TABLE))
    return list(session.exec(statement).all())


def update_connection(
    session: Session,
    connection_id: int,
    *,
    options: Mapping[str, Any] | None = None,
    enabled: bool | None = None,
    sync_enabled_at: datetime | None = _UNSET,
) -> Connection:
    """Change a connection's options, enabled flag or sync-enabled time.

    Args:
        session: the unit of work (not committed here).
        connection_id: the connection.
        options: the new options (replace the old ones entirely); ``None`` keeps them.
        enabled: the new enabled flag; ``None`` keeps it. Enabling a connection that never had
            ``sync_enabled_at`` sets it to now.
        sync_enabled_at: a new sync-enabled time (aware datetime, or ``None`` to clear it);
            omitted keeps it.

    Returns:
        The updated connection.

    Raises:
        ConnectionNotFoundError: no such connection.
    """
    connection = get_connection_by_id(session, connection_id)
    now = utc_now()
    if options is not None:
        connection.options = dict(options)
    if enabled is not None:
        connection.enabled = enabled
        if enabled and connection.sync_enabled_at is None and sync_enabled_at is _UNSET:
            connection.sync_enabled_at = now
    if sync_enabled_at is not _UNSET:
        connection.sync_enabled_at = as_utc(sync_enabled_at) if sync_enabled_at is not None else None
    connection.updated_at = now
    session.add(connection)
    session.flush()
    return connection


def archive_connection(session: Session, connection_id: int) -> int:
    """Archive a connection and all its bindings; the CRM org becomes free to pair again.

    Args:
        session: the unit of work (not committed here).
        connection_id: the connection.

    Returns:
        How many bindings were archived.

    Raises:
        ConnectionNotFoundError: no such connection.
    """
    connection = get_connection_by_id(session, connection_id)
    connection.archived = True
    connection.enabled = False
    connection.updated_at = utc_now()
    session.add(connection)
    session.flush()
    return archive_bindings(session, connection_id)
