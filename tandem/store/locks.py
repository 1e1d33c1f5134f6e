"""A lock per connection, so two runs of the same connection never interleave their writes.

Every procedure (initial import, full and incremental sync, deletion sweep, sandbox refresh) holds its
connection's lock while it works, whichever deployment started it. The lock is a row in the state store
held for a lease that a background thread renews; a holder that dies (a killed flow process) stops
renewing, and the lock is free again when its lease runs out. The same holder may take it again while
holding it (a procedure that runs another procedure's steps).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite

from tandem.store.engine import session_scope
from tandem.store.exceptions import ConnectionBusyError
from tandem.store.tables import ConnectionLock
from tandem.store.types import utc_now

log = logging.getLogger(__name__)

_TABLE: sa.Table = ConnectionLock.__table__  # type: ignore[attr-defined]
#: How long a lease lasts unless renewed; a killed holder blocks the connection at most this long.
DEFAULT_LEASE = timedelta(seconds=60)
#: How long a run waits for the lock before giving up.
DEFAULT_WAIT = timedelta(minutes=15)
#: How often a waiting run tries again.
POLL_SECONDS = 1.0


def _try_acquire(engine: Engine, connection_id: int, holder: str, lease: timedelta) -> tuple[str, bool]:
    """Take the lock if it is free, expired or already ours; return the holder afterwards and whether it was ours."""
    now = utc_now()
    with session_scope(engine) as session:
        current = session.execute(
            sa.select(_TABLE.c.holder, _TABLE.c.expires_at).where(_TABLE.c.connection_id == connection_id)
        ).first()
        held_already = current is not None and current.holder == holder and current.expires_at > now
        insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        statement = insert(_TABLE).values(
            connection_id=connection_id, holder=holder, acquired_at=now, expires_at=now + lease
        )
        statement = statement.on_conflict_do_update(
            index_elements=[_TABLE.c.connection_id],
            set_={"holder": holder, "acquired_at": now, "expires_at": now + lease},
            where=(_TABLE.c.expires_at <= now) | (_TABLE.c.holder == holder),
        )
        session.execute(statement)
        owner = session.execute(sa.select(_TABLE.c.holder).where(_TABLE.c.connection_id == connection_id)).scalar_one()
    return owner, held_already


def _renew(engine: Engine, connection_id: int, holder: str, lease: timedelta) -> bool:
    """Extend our lease; False when the lock is no longer ours."""
    with session_scope(engine) as session:
        statement = (
            sa.update(_TABLE)
            .where(_TABLE.c.connection_id == connection_id, _TABLE.c.holder == holder)
            .values(expires_at=utc_now() + lease)
        )
        return bool(session.exec(statement).rowcount)


def _release(engine: Engine, connection_id: int, holder: str) -> None:
    with session_scope(engine) as session:
        session.execute(sa.delete(_TABLE).where(_TABLE.c.connection_id == connection_id, _TABLE.c.holder == holder))


@contextmanager
def connection_lock(
    engine: Engine,
    connection_id: int,
    *,
    holder: str,
    lease: timedelta = DEFAULT_LEASE,
    wait: timedelta = DEFAULT_WAIT,
) -> Iterator[None]:
    """Hold the connection's lock for the duration of the block.

    Args:
        engine: the state store.
        connection_id: the connection.
        holder: who takes it (the flow run id); the same holder may nest.
        lease: how long the lock outlives a holder that stops renewing it (renewed every third of it).
        wait: how long to wait for another holder to finish.

    Raises:
        ConnectionBusyError: another holder kept the lock for longer than ``wait``.
    """
    deadline = time.monotonic() + wait.total_seconds()
    while True:
        owner, nested = _try_acquire(engine, connection_id, holder, lease)
        if owner == holder:
            break
        if time.monotonic() >= deadline:
            raise ConnectionBusyError(
                f"connection {connection_id} is being synced by flow run {owner}; "
                f"gave up after waiting {wait.total_seconds():.0f} s (its lock expires if that run died)"
            )
        log.info("connection %d is locked by %s; waiting", connection_id, owner)
        time.sleep(POLL_SECONDS)
    if nested:
        yield
        return
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(lease.total_seconds() / 3):
            try:
                if not _renew(engine, connection_id, holder, lease):
                    log.error("connection %d: the lock was taken over after its lease ran out", connection_id)
                    return
            except Exception:  # a store hiccup: try again at the next beat, the lease covers two misses
                log.warning("connection %d: renewing the lock failed", connection_id, exc_info=True)

    thread = threading.Thread(target=heartbeat, name=f"tandem-lock-{connection_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        _release(engine, connection_id, holder)
