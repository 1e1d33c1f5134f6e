"""Benchmark the Salesforce emulator with 1,000,000 stored records.

Loads the records straight into the store (``RecordStore.bulk_load``), starts the emulator on that
data directory, and measures with simple-salesforce, as one client:

- upserts through ``composite/sobjects/Account/ERP_Id__c``, 200 records per call (half updates of
  stored records, half new ones), in records per second;
- reads through query paging (``query`` + ``nextRecordsUrl``, 2,000 per page), in records per second.

Run: ``.venv/bin/python bench/salesforce_emulator.py [--records 1000000] [--upsert-calls 100]
[--read-records 200000]``. Targets: 5,000 upserted and 20,000 read records per second.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simple_salesforce import Salesforce  # noqa: E402

from emulators.common.clock import EmulatorClock  # noqa: E402
from emulators.process import start_emulator  # noqa: E402
from emulators.salesforce.cli import DATABASE  # noqa: E402
from emulators.salesforce.schema import load_schema  # noqa: E402
from emulators.salesforce.store import RecordStore  # noqa: E402
from tandem.salesforce.transport import build_session  # noqa: E402

INDUSTRIES = ["Manufacturing", "Retail", "Technology", "Healthcare", "Energy"]


def account(n: int) -> dict[str, object]:
    """The n-th benchmark account."""
    return {
        "Name": f"Bench Account {n:07d}", "AccountNumber": f"B{n:07d}", "Industry": INDUSTRIES[n % 5],
        "BillingCity": "Chicago", "BillingCountry": "USA", "AnnualRevenue": float(n % 100_000) * 1000,
        "NumberOfEmployees": n % 5000, "ERP_Id__c": f"BENCH-{n:07d}",
    }


def load(data_dir: Path, count: int) -> float:
    """Bulk-load ``count`` accounts; return the seconds it took."""
    store = RecordStore(data_dir / DATABASE, load_schema(), EmulatorClock())
    started = time.perf_counter()
    store.bulk_load("Account", (account(n) for n in range(count)))
    elapsed = time.perf_counter() - started
    store.close()
    return elapsed


def bench_upserts(sf: Salesforce, calls: int, stored: int) -> float:
    """Upsert ``calls`` batches of 200 (100 existing keys, 100 new ones); return records per second."""
    started = time.perf_counter()
    for call in range(calls):
        records = []
        for i in range(100):
            n = (call * 100 + i) * 7 % stored
            records.append({"attributes": {"type": "Account"}, **account(n), "Name": f"Updated {n}"})
        for i in range(100):
            n = stored + call * 100 + i
            records.append({"attributes": {"type": "Account"}, **account(n)})
        results: Any = sf.restful("composite/sobjects/Account/ERP_Id__c", method="PATCH",
                             json={"allOrNone": False, "records": records})
        assert all(r["success"] for r in results), results[:2]
    return calls * 200 / (time.perf_counter() - started)


def bench_reads(sf: Salesforce, wanted: int) -> float:
    """Read ``wanted`` records through query paging; return records per second."""
    soql = ("SELECT Id, Name, AccountNumber, Industry, BillingCity, AnnualRevenue, ERP_Id__c, SystemModstamp "
            "FROM Account")
    started = time.perf_counter()
    page = sf.query(soql)
    read = len(page["records"])
    while not page["done"] and read < wanted:
        page = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)
        read += len(page["records"])
    return read / (time.perf_counter() - started)


def main() -> int:
    """Run the benchmark and print both figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--upsert-calls", type=int, default=100)
    parser.add_argument("--read-records", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sf-bench-") as tmp:
        data_dir = Path(tmp)
        seconds = load(data_dir, args.records)
        print(f"bulk-loaded {args.records:,} accounts in {seconds:.1f} s ({args.records / seconds:,.0f} records/s)")
        emulator = start_emulator("salesforce", data_dir, "--api-limit", "100000000")
        try:
            info = emulator.info
            session = build_session(ca_bundle=emulator.ca_cert, login_url=info["login_url"])
            sf = Salesforce(username=info["username"], password=info["password"],
                            security_token=info["security_token"], domain="login", session=session)
            upserts = bench_upserts(sf, args.upsert_calls, args.records)
            print(f"upsert via composite/sobjects/Account/ERP_Id__c (200 per call): {upserts:,.0f} records/s "
                  f"(target 5,000)")
            reads = bench_reads(sf, args.read_records)
            print(f"read via query paging (2,000 per page): {reads:,.0f} records/s (target 20,000)")
        finally:
            emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
