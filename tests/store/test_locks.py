"""The per-connection lock: one holder at a time, re-entrant for its holder, freed when a dead holder's lease ends."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tandem.store.exceptions import ConnectionBusyError
from tandem.store.locks import connection_lock
from tandem.store.tables import ConnectionLock
from tandem.store.types import utc_now

_TABLE: sa.Table = ConnectionLock.__table__  # type: ignore[attr-defined]


def _holder(engine: Engine, cid: int) -> str | None:
    with engine.connect() as connection:
        return connection.execute(sa.select(_TABLE.c.holder).where(_TABLE.c.connection_id == cid)).scalar()


def test_a_second_holder_waits_then_gives_up_with_a_clear_error(engine: Engine, cid: int) -> None:
    with connection_lock(engine, cid, holder="run-a"):
        assert _holder(engine, cid) == "run-a"
        with (
            pytest.raises(ConnectionBusyError, match="being synced by flow run run-a"),
            connection_lock(engine, cid, holder="run-b", wait=timedelta(seconds=0)),
        ):
            pytest.fail("run-b must not get the lock")
    assert _holder(engine, cid) is None


def test_the_same_holder_may_nest_and_the_outer_block_releases(engine: Engine, cid: int) -> None:
    with connection_lock(engine, cid, holder="run-a"):
        with connection_lock(engine, cid, holder="run-a", wait=timedelta(seconds=0)):
            assert _holder(engine, cid) == "run-a"
        assert _holder(engine, cid) == "run-a"
    assert _holder(engine, cid) is None


def test_a_waiting_holder_gets_the_lock_when_the_first_one_finishes(engine: Engine, cid: int) -> None:
    order: list[str] = []
    taken = threading.Event()

    def first() -> None:
        with connection_lock(engine, cid, holder="run-a"):
            taken.set()
            threading.Event().wait(1.5)
            order.append("a done")

    thread = threading.Thread(target=first)
    thread.start()
    taken.wait(10)
    with connection_lock(engine, cid, holder="run-b", wait=timedelta(seconds=30)):
        order.append("b in")
    thread.join()
    assert order == ["a done", "b in"]


def test_a_dead_holders_lock_is_free_once_its_lease_ran_out(engine: Engine, cid: int) -> None:
    with engine.begin() as connection:  # what a killed process leaves behind: a lease nobody renews
        connection.execute(
            sa.insert(_TABLE).values(
                connection_id=cid, holder="killed-run", acquired_at=utc_now(),
                expires_at=utc_now() + timedelta(seconds=2),
            )
        )
    with pytest.raises(ConnectionBusyError), connection_lock(engine, cid, holder="run-b", wait=timedelta(seconds=0)):
        pytest.fail("the lease has not run out yet")
    with connection_lock(engine, cid, holder="run-b", wait=timedelta(seconds=10)):
        assert _holder(engine, cid) == "run-b"


def test_the_holder_renews_its_lease_while_it_works(engine: Engine, cid: int) -> None:
    with connection_lock(engine, cid, holder="run-a", lease=timedelta(seconds=1.5)):
        threading.Event().wait(2.5)  # longer than the lease: only renewals keep it
        with (
            pytest.raises(ConnectionBusyError),
            connection_lock(engine, cid, holder="run-b", wait=timedelta(seconds=0)),
        ):
            pytest.fail("the lease was renewed")
