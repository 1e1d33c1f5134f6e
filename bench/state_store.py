"""Measure batch lookups and upserts of 2,000 records among 1,000,000 bindings.

Not collected by pytest (a measurement, not a test). Run
``.venv/bin/python bench/state_store.py [ROWS] [--postgres]``: SQLite in a temporary
directory by default, a throw-away PostgreSQL server (tests/support/postgres.py) with ``--postgres``.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tandem.store import (
    Binding,
    BindingRecord,
    Side,
    bindings_by_crm_ids,
    bindings_by_erp_ids,
    create_connection,
    create_schema,
    create_store_engine,
    require_id,
    session_scope,
    upsert_bindings,
)
from tests.support.postgres import postgres_server

PAGE = 2_000
ENTITY = "customer"


def _fill(engine: sa.Engine, connection_id: int, rows: int) -> None:
    now = datetime.now(UTC)
    table = Binding.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        for start in range(0, rows, 50_000):
            conn.execute(
                sa.insert(table),
                [
                    {
                        "connection_id": connection_id,
                        "entity": ENTITY,
                        "crm_id": f"001{n:015d}",
                        "erp_id": str(n),
                        "external_id": f"ext-{n}",
                        "crm_hash": f"{n:064x}",
                        "erp_hash": f"{n:064x}",
                        "last_synced_at": now,
                        "status": "synced",
                        "archived": False,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for n in range(start, min(start + 50_000, rows))
                ],
            )


def main(rows: int, postgres: bool) -> None:
    """Fill a fresh store with ``rows`` bindings and time page-sized operations."""
    with tempfile.TemporaryDirectory() as directory, ExitStack() as stack:
        if postgres:
            url = stack.enter_context(postgres_server()).url
        else:
            url = f"sqlite:///{Path(directory) / 'state.sqlite3'}"
        engine = create_store_engine(url)
        create_schema(engine)
        with session_scope(engine) as session:
            connection_id = require_id(create_connection(session, name="bench", crm_org_id="00D1", erp_account_id="E1"))
        started = time.perf_counter()
        _fill(engine, connection_id, rows)
        if postgres:
            with engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE bindings")
        print(f"{engine.dialect.name}: filled {rows:,} bindings in {time.perf_counter() - started:.1f} s")
        sample = random.Random(7).sample(range(rows), PAGE)
        for label, side, ids in (
            ("lookup by CRM id", Side.CRM, [f"001{n:015d}" for n in sample]),
            ("lookup by ERP id", Side.ERP, [str(n) for n in sample]),
        ):
            with session_scope(engine, write=False) as session:
                started = time.perf_counter()
                lookup = bindings_by_crm_ids if side is Side.CRM else bindings_by_erp_ids
                found = lookup(session, connection_id, ENTITY, ids)
                print(f"{label}: {len(found):,} of {PAGE:,} in {(time.perf_counter() - started) * 1000:.1f} ms")
        page = [BindingRecord(crm_id=f"001{n:015d}", erp_id=str(n), crm_hash="changed") for n in sample]
        with session_scope(engine) as session:
            started = time.perf_counter()
            result = upsert_bindings(session, connection_id, ENTITY, page, key=Side.CRM)
            print(f"upsert of {result.written:,} existing bindings: {(time.perf_counter() - started) * 1000:.1f} ms")
        fresh = [BindingRecord(crm_id=f"002{n:015d}", erp_id=f"new-{n}") for n in range(PAGE)]
        with session_scope(engine) as session:
            started = time.perf_counter()
            result = upsert_bindings(session, connection_id, ENTITY, fresh, key=Side.CRM)
            print(f"upsert of {result.written:,} new bindings: {(time.perf_counter() - started) * 1000:.1f} ms")
        engine.dispose()


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "--postgres"]
    main(int(arguments[0]) if arguments else 1_000_000, postgres="--postgres" in sys.argv[1:])
