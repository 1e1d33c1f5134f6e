"""Benchmark a full read of Salesforce accounts: REST ``query``/``queryMore`` against a Bulk API 2.0 query job.

What it does:

1. starts the Salesforce emulator (``--seed none``, a large ``--api-limit``) and loads ``--accounts``
   accounts through the adapter's Bulk API 2.0 upsert (every field of the shipped ``customer`` mapping
   that an account can hold filled in, one in ten left empty);
2. reads them all with ``SalesforceAdapter.read_changed_since(since=None)`` and the ``customer``
   entity's Salesforce fields, 2,000 records a page, once through REST alone (``bulk_read_threshold=0``)
   and once with the default threshold (the first REST page, then one query job), alternating,
   ``--repeat`` times; the emulator's call counters are cleared before each read;
3. prints per read: wall seconds, records/s, Salesforce calls by endpoint and in all, records per call;
   checks that both reads yielded the same number of records in the same order (ids and timestamps).

The pass's own work (mapping, state store) is left out: this measures what reading costs in calls and
time. Usage::

    .venv/bin/python bench/bulk_read.py [--accounts 100000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pydantic import SecretStr  # noqa: E402

from blocks.salesforce import SalesforceCredentials  # noqa: E402
from emulators.process import RunningEmulator, start_emulator  # noqa: E402
from tandem.mapping import MAPPINGS_DIR, load_mapping_set  # noqa: E402
from tandem.salesforce.bulk_query import DEFAULT_BULK_READ_THRESHOLD  # noqa: E402

LOAD_CHUNK = 100_000


def block(emulator: RunningEmulator, **settings: Any) -> SalesforceCredentials:
    """Credentials for the emulator, with these settings."""
    info = emulator.info
    return SalesforceCredentials(
        login_host=info["login_url"], username=info["username"], password=SecretStr(info["password"]),
        security_token=SecretStr(info["security_token"]), ca_bundle_path=emulator.ca_cert, read_timeout=600.0,
        **settings,
    )


def account_fields() -> list[str]:
    """The Salesforce fields the ``customer`` entity's pass reads (its link key and mapped fields)."""
    entity = load_mapping_set(MAPPINGS_DIR / "default.yaml").entity("customer")
    return list(dict.fromkeys([entity.crm_key, *(f.crm for f in entity.fields)]))


def load(emulator: RunningEmulator, count: int) -> None:
    """``count`` accounts, upserted by ``ERP_Id__c`` through Bulk API 2.0 ingest jobs."""
    adapter = block(emulator, bulk_threshold=1).get_client()
    for start in range(0, count, LOAD_CHUNK):
        records = [
            {"ERP_Id__c": f"BR{i:07d}", "Name": f"Account {i}", "Phone": None if i % 10 == 0 else f"+1 555 {i:07d}",
             "Website": f"https://a{i}.example", "AccountNumber": f"N{i}", "Description": f"Line one\nline, {i}",
             "NumberOfEmployees": None if i % 10 == 0 else i % 5000, "AnnualRevenue": float(i * 10)}
            for i in range(start, min(start + LOAD_CHUNK, count))
        ]
        failed = [r for r in adapter.upsert_batch("Account", "ERP_Id__c", records) if not r.ok]
        if failed:
            raise SystemExit(f"{len(failed)} accounts failed to load, e.g. {failed[0]}")


def read(emulator: RunningEmulator, threshold: int, fields: list[str]) -> dict[str, Any]:
    """Read every account once; the wall time, records, calls and a digest of the ids and timestamps in order."""
    adapter = block(emulator, bulk_read_threshold=threshold).get_client()
    emulator.control("DELETE", "counters")
    digest = hashlib.sha256()
    records = 0
    started = time.perf_counter()
    for page in adapter.read_changed_since("Account", None, fields=fields):
        records += len(page)
        digest.update("".join(page["id"].astype(str)).encode())
        digest.update(str(page["modified_at"].tolist()).encode())
    wall = time.perf_counter() - started
    calls = {k: v for k, v in emulator.control("GET", "counters")["by_endpoint"].items() if not k.startswith("login")}
    return {"wall": wall, "records": records, "calls": calls, "digest": digest.hexdigest()}


def report(name: str, result: dict[str, Any]) -> None:
    """Print one read's figures."""
    total = sum(result["calls"].values())
    print(f"{name:>5}: {result['records']:,} records in {result['wall']:.1f} s "
          f"({result['records'] / result['wall']:,.0f} records/s); {total} calls "
          f"({result['records'] / max(total, 1):,.0f} records a call): {dict(sorted(result['calls'].items()))}")


def main() -> None:
    """Load the accounts, read them both ways, print the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    fields = account_fields()
    print(f"load average at start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as work:
        emulator = start_emulator("salesforce", Path(work), "--seed", "none", "--api-limit", "100000000")
        try:
            started = time.perf_counter()
            load(emulator, args.accounts)
            print(f"loaded {args.accounts:,} accounts in {time.perf_counter() - started:.1f} s; fields read: "
                  f"{', '.join(fields)}")
            for _ in range(args.repeat):
                rest = read(emulator, 0, fields)
                report("REST", rest)
                bulk = read(emulator, DEFAULT_BULK_READ_THRESHOLD, fields)
                report("Bulk", bulk)
                if (rest["records"], rest["digest"]) != (bulk["records"], bulk["digest"]):
                    raise SystemExit("the two reads differ")
        finally:
            emulator.stop()
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
