"""Benchmark the incremental sync: its cost must follow the changes, not the size of the systems.

For each size (``--sizes``, default 1,000 and 100,000 customers per side):

1. bulk-loads that many ERP customers into a fresh ERP emulator data dir (no SOAP), starts both
   emulators (Salesforce empty), and runs the full sync of customers, so both sides hold the same
   records, all bound; the initial import of one small entity enables sync; then one Salesforce change
   and two incremental runs reach the steady state (Salesforce stamps the records of one write call
   with one ``SystemModstamp``; a ``>=`` read re-reads the records sharing the watermark's instant
   until a newer change moves it on);
2. changes 10 records in each system (Salesforce ``Phone`` through the REST API, ERP ``phone``
   through upsertList) and creates ``--new`` records in each (50 by default: new Salesforce accounts and new
   ERP customers, which the run must look up on the other side by link and match key before creating
   them), clears both emulators' call counters, and runs ``incremental_sync`` both ways;
3. prints the run's wall time and the API calls it made on each side (per endpoint), and checks the
   20 changes and the new records arrived on the other side.

Then it prints the ratio of the wall times (target: the large run within 1.5x of the small one, at
most 10 calls per side without new records) and of the calls, and the latency bound of each schedule: a
change waits at most one interval for the next run, then the run's wall time (target: interval + 10 s).

Usage::

    .venv/bin/python bench/incremental.py [--sizes 1000,100000] [--changes 10] [--new 50]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.full_sync import save_blocks  # noqa: E402
from emulators.erp.bulkload import bulk_load  # noqa: E402
from emulators.process import RunningEmulator, start_emulator  # noqa: E402

PREFIX = "INC"
SCHEDULES = {"incremental-sync/incremental-erp-to-crm": 300, "incremental-sync/incremental-crm-to-erp": 1800}


def calls(emulator: RunningEmulator) -> dict[str, int]:
    """The API calls counted since the last reset, by endpoint (control routes left out)."""
    by_endpoint: dict[str, int] = emulator.control("GET", "counters")["by_endpoint"]
    return {name: n for name, n in sorted(by_endpoint.items()) if not name.startswith("control")}


def run_size(size: int, changes: int, work: Path, new: int = 0) -> dict[str, Any]:
    """Set up ``size`` customers per side, change ``changes`` and create ``new`` on each side, time one
    incremental run."""
    from simple_salesforce import Salesforce

    from flows.full_sync import full_sync
    from flows.incremental_sync import incremental_sync
    from flows.initial_import import initial_import
    from flows.parameters import EntityName
    from tandem.salesforce.transport import build_session

    erp_dir = work / f"erp-{size}"
    erp_dir.mkdir()
    # One millisecond apart from two hours ago: nothing is stamped in the future of the runs.
    bulk_load(erp_dir, "customer", size, prefix=PREFIX, modified=datetime.now(UTC) - timedelta(hours=2))
    crm = start_emulator("salesforce", work / f"crm-{size}", "--seed", "none", "--api-limit", "100000000")
    erp = start_emulator("erp", erp_dir, "--seed", "none")
    try:
        name = f"bench-incremental-{size}"
        save_blocks(name, crm, erp, work / f"state-{size}.sqlite3", {})
        customer = [EntityName("customer")]
        started = time.perf_counter()
        full_sync(connection=name, entities=customer)
        initial_import(connection=name, entities=[EntityName("currency")])  # enables sync on the connection
        info = crm.info
        sf = Salesforce(username=info["username"], password=info["password"], security_token=info["security_token"],
                        session=build_session(ca_bundle=crm.ca_cert, login_url=info["login_url"]))
        # Salesforce stamps the records of one write call with one SystemModstamp; reading `>=` the watermark
        # re-reads the records sharing that instant until a newer change moves it on. One change and two runs
        # reach the steady state a live org is in.
        sf.Account.update(sf.query("SELECT Id FROM Account ORDER BY Id DESC LIMIT 1")["records"][0]["Id"],
                          {"Description": "steady state"})
        incremental_sync(connection=name, entities=customer)
        incremental_sync(connection=name, entities=customer)
        setup = time.perf_counter() - started

        step = max(1, size // (2 * changes))
        crm_targets = sf.query(f"SELECT Id, ERP_Id__c FROM Account ORDER BY Id LIMIT {changes}")["records"]
        for n, record in enumerate(crm_targets):
            sf.Account.update(record["Id"], {"Phone": f"+1 555 01{n:02d}"})
        erp_targets = [f"{PREFIX}-customer-{size - 1 - n * step}" for n in range(changes)]
        adapter = erp_blocks_client(erp)
        edits = [{"externalId": key, "phone": f"+1 555 02{n:02d}"} for n, key in enumerate(erp_targets)]
        written = adapter.upsert_batch("customer", "externalId", edits)
        assert all(r.ok for r in written)
        created = [sf.Account.create({"Name": f"New Salesforce account {n}"})["id"] for n in range(new)]
        fresh = [{"externalId": f"{PREFIX}-new-{n}", "companyName": f"New ERP customer {n}"} for n in range(new)]
        assert all(r.ok for r in adapter.upsert_batch("customer", "externalId", fresh))

        for emulator in (crm, erp):
            emulator.control("DELETE", "counters")
        started = time.perf_counter()
        rows = incremental_sync(connection=name, entities=customer)
        wall = time.perf_counter() - started
        [row] = [r for r in rows if r["entity"] == "customer"]
        moved = sf.query("SELECT COUNT() FROM Account WHERE Phone LIKE '+1 555 02%'")["totalSize"]
        links = [r["ERP_Id__c"] for r in crm_targets]
        arrived = adapter.read_by_keys("customer", "externalId", links, fields=["phone"])
        assert moved == changes and arrived["phone"].str.startswith("+1 555 01").sum() == changes, (moved, arrived)
        came = sf.query("SELECT COUNT() FROM Account WHERE Name LIKE 'New ERP customer %'")["totalSize"]
        went = adapter.read_by_keys("customer", "externalId", [i[:15] for i in created] + created, fields=[])
        assert came == new and len(went) == new, (came, len(went))
        return {"size": size, "setup_s": setup, "wall_s": wall, "row": row, "crm_calls": calls(crm),
                "erp_calls": calls(erp)}
    finally:
        crm.stop()
        erp.stop()


def erp_blocks_client(erp: RunningEmulator) -> Any:
    """An ERP adapter on the emulator (as an ERP user would write)."""
    from pydantic import SecretStr

    from blocks.erp import ErpCredentials

    ns = erp.info
    return ErpCredentials(
        account_id=ns["account"], consumer_key=SecretStr(ns["consumer_key"]),
        consumer_secret=SecretStr(ns["consumer_secret"]), token_id=SecretStr(ns["token_id"]),
        token_secret=SecretStr(ns["token_secret"]), wsdl_url=ns["wsdl_url"],
    ).get_client()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,100000", help="customers per side, comma-separated")
    parser.add_argument("--changes", type=int, default=10, help="records changed on each side")
    parser.add_argument("--new", type=int, default=50, help="records created on each side")
    args = parser.parse_args(argv)
    from prefect.testing.utilities import prefect_test_harness

    results = []
    with tempfile.TemporaryDirectory(prefix="tandem-bench-incremental-") as tmp, \
            prefect_test_harness(server_startup_timeout=120):
        for size in (int(s) for s in args.sizes.split(",")):
            result = run_size(size, args.changes, Path(tmp), args.new)
            results.append(result)
            crm_total, erp_total = sum(result["crm_calls"].values()), sum(result["erp_calls"].values())
            print(f"\n{size:,} customers per side, {args.changes} changed and {args.new} created on each side "
                  f"(set-up {result['setup_s']:.1f} s)")
            print(f"  incremental run: {result['wall_s']:.2f} s; counts {result['row']}")
            print(f"  Salesforce calls: {crm_total} {result['crm_calls']}")
            print(f"  ERP calls:        {erp_total} {result['erp_calls']}")
    if len(results) >= 2:
        small, large = results[0], results[-1]
        print(f"\nwall time {large['size']:,} vs {small['size']:,}: {large['wall_s'] / small['wall_s']:.2f}x "
              "(target <= 1.5x)")
        for side in ("crm_calls", "erp_calls"):
            ratio = sum(large[side].values()) / max(1, sum(small[side].values()))
            print(f"{'Salesforce' if side == 'crm_calls' else 'ERP'} calls {large['size']:,} vs {small['size']:,}: "
                  f"{ratio:.2f}x")
    worst = max(r["wall_s"] for r in results)
    for deployment, interval in SCHEDULES.items():
        print(f"latency bound of {deployment}: {interval} s interval + {worst:.1f} s run = {interval + worst:.1f} s "
              f"(target {interval + 10} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
