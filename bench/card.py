"""Benchmark the sync status card: how long one record's cards take with 1,000,000 bindings in the store.

Fills a fresh SQLite state store (``--postgres``: a throw-away PostgreSQL) with ``--rows`` customer and
``--rows`` contact bindings (the way ``bench/state_store.py`` does), then asks for the cards of
``--lookups`` random records, on both sides, through ``CardSource.cards`` with the shipped mapping set
(one indexed query per card request, whatever the number of the record's entities). Prints the median,
95th percentile and worst time (target: under 50 ms) and the query plan SQLite chose.

Usage::

    .venv/bin/python bench/card.py [--rows 1000000] [--lookups 500] [--postgres]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.state_store import _fill
from tandem.mapping import MAPPINGS_DIR, load_mapping_set
from tandem.status.cards import CardSource
from tandem.store import create_connection, create_schema, create_store_engine, require_id, session_scope
from tandem.store.tables import Side
from tests.support.postgres import postgres_server


def main(argv: list[str] | None = None) -> int:
    """Fill the store, time the cards, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="bindings in the store")
    parser.add_argument("--lookups", type=int, default=500, help="cards asked for")
    parser.add_argument("--postgres", action="store_true", help="a throw-away PostgreSQL instead of SQLite")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory, ExitStack() as stack:
        url = stack.enter_context(postgres_server()).url if args.postgres else f"sqlite:///{Path(directory) / 's.db'}"
        engine = create_store_engine(url)
        create_schema(engine)
        with session_scope(engine) as session:
            connection_id = require_id(create_connection(session, name="bench", crm_org_id="00D1", erp_account_id="E1"))
        started = time.perf_counter()
        _fill(engine, connection_id, args.rows)
        print(f"filled {args.rows:,} bindings in {time.perf_counter() - started:.1f} s ({engine.dialect.name})")
        mappings = load_mapping_set(MAPPINGS_DIR / "default.yaml")
        source = CardSource(connection="bench", store=engine, mappings=mappings,
                            enabled_entities=list(mappings.entities), crm_base="login", erp_base="https://erp.example")
        rng = random.Random(7)
        timings: list[float] = []
        for _ in range(args.lookups):
            n = rng.randrange(args.rows)
            side, record_type, record_id = rng.choice(
                [(Side.CRM, "Account", f"001{n:015d}"), (Side.ERP, "customer", str(n))]
            )
            started = time.perf_counter()
            cards = source.cards(side, record_type, record_id)
            timings.append((time.perf_counter() - started) * 1000)
            assert cards[0].status.value == "up to date", cards
        timings.sort()
        print(f"{args.lookups} cards: median {statistics.median(timings):.2f} ms, "
              f"p95 {timings[int(len(timings) * 0.95) - 1]:.2f} ms, worst {timings[-1]:.2f} ms (target < 50 ms)")
        if engine.dialect.name == "sqlite":
            with engine.connect() as connection:
                plan = connection.exec_driver_sql(
                    "EXPLAIN QUERY PLAN SELECT * FROM connections LEFT OUTER JOIN bindings ON "
                    "bindings.connection_id = connections.id AND bindings.entity IN ('customer') AND "
                    "bindings.crm_id = '001' AND bindings.archived = 0 WHERE connections.name = 'bench'"
                ).fetchall()
            print("query plan:", "; ".join(str(row[-1]) for row in plan))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
