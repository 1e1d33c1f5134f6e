"""Benchmark Tandem's ERP adapter against the ERP emulator holding a million records.

What it measures, from one client process (this one) against one emulator process:

* reads of changed records: ``read_changed_since("customer", None, page_size=1000)`` over the first
  ``--read-records`` records (search + searchMoreWithId, pages parsed from the raw bytes with lxml);
* upserts through ``upsertList`` (chunks of 100, async threshold set above the batch), of new records;
* upserts through ``asyncUpsertList`` jobs (200 records each, polled with ``checkAsyncStatus``).

The store is filled with ``emulators.erp.bulkload.bulk_load`` (no SOAP) before the emulator starts.

How client and server time are split: the client's CPU time is ``time.process_time()`` in this
process around each phase (building requests with zeep, signing, HTTP, lxml parsing, DataFrames);
the server's CPU time is the emulator process's ``utime + stime`` from ``/proc/<pid>/stat`` before
and after the phase. Wall time is ``time.perf_counter()``. On a 2-core machine the two processes
mostly alternate (the client waits for each answer), so wall ≈ client CPU + server CPU + idle/IO;
the shares tell which side to optimise. Run it sparingly: the machine is shared.

Usage::

    .venv/bin/python bench/erp_adapter.py [--records 1000000] [--read-records 200000]
        [--upsert-records 10000] [--async-records 10000] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from blocks.erp import ErpCredentials  # noqa: E402
from emulators.erp.bulkload import bulk_load  # noqa: E402
from tests.support.emulator import RunningEmulator, running_emulator  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (from ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass
class Phase:
    """One measured phase."""

    name: str
    records: int = 0
    wall: float = 0.0
    client_cpu: float = 0.0
    server_cpu: float = 0.0

    def as_row(self) -> dict[str, Any]:
        """The phase's figures, rounded, with rates and shares."""
        return {
            "phase": self.name,
            "records": self.records,
            "wall_s": round(self.wall, 2),
            "records_per_s": round(self.records / self.wall) if self.wall else None,
            "client_cpu_s": round(self.client_cpu, 2),
            "server_cpu_s": round(self.server_cpu, 2),
            "client_share": round(self.client_cpu / self.wall, 2) if self.wall else None,
            "server_share": round(self.server_cpu / self.wall, 2) if self.wall else None,
        }


@contextmanager
def measured(name: str, server_pid: int) -> Iterator[Phase]:
    """Measure wall time, this process's CPU time and the server's CPU time around a block."""
    phase = Phase(name)
    server_before = process_cpu_seconds(server_pid)
    cpu_before = time.process_time()
    wall_before = time.perf_counter()
    yield phase
    phase.wall = time.perf_counter() - wall_before
    phase.client_cpu = time.process_time() - cpu_before
    phase.server_cpu = process_cpu_seconds(server_pid) - server_before


def credentials(emulator: RunningEmulator, **overrides: Any) -> ErpCredentials:
    """The block for the emulator."""
    info = emulator.info
    return ErpCredentials(
        account_id=info["account"],
        consumer_key=info["consumer_key"],
        consumer_secret=info["consumer_secret"],
        token_id=info["token_id"],
        token_secret=info["token_secret"],
        wsdl_url=info["wsdl_url"],
        ca_bundle_path=info["ca_cert"],
        operation_timeout=300.0,
        **overrides,
    )


def new_customers(count: int, prefix: str) -> list[dict[str, Any]]:
    """Fresh customer records (external ids not in the store)."""
    return [
        {
            "externalId": f"{prefix}-{i:07d}",
            "companyName": f"Bench Company {i}",
            "email": f"bench{i}@example.com",
            "phone": "+1 555 0100",
            "isInactive": False,
            "creditLimit": 1000.0 + i,
        }
        for i in range(count)
    ]


def run(args: argparse.Namespace, data_dir: Path) -> list[Phase]:
    """Load, start the emulator, and measure the three phases."""
    phases: list[Phase] = []
    started = time.perf_counter()
    bulk_load(data_dir, "customer", args.records)
    print(f"bulk-loaded {args.records} customers in {time.perf_counter() - started:.1f} s", flush=True)
    with running_emulator("erp", data_dir, "--max-concurrency", "10") as emulator:
        pid = emulator.process.pid
        erp = credentials(emulator, async_upsert_threshold=10**9).get_client()
        fields = ["externalId", "companyName", "email", "phone", "salesRep", "creditLimit", "isInactive"]

        with measured("read_changed_since (search + searchMoreWithId, lxml)", pid) as phase:
            for page in erp.read_changed_since("customer", None, fields=fields, page_size=1000):
                phase.records += len(page)
                if phase.records >= args.read_records:
                    break
        phases.append(phase)

        batch = new_customers(args.upsert_records, "SYNC")
        with measured("upsert_batch via upsertList (100 per call)", pid) as phase:
            results = erp.upsert_batch("customer", "externalId", batch)
            phase.records = sum(r.ok for r in results)
        phases.append(phase)

        async_erp = credentials(emulator, async_upsert_threshold=1).get_client()
        batch = new_customers(args.async_records, "ASYNC")
        with measured("upsert_batch via asyncUpsertList (200 per job)", pid) as phase:
            results = async_erp.upsert_batch("customer", "externalId", batch)
            phase.records = sum(r.ok for r in results)
        phases.append(phase)
        erp.close()
        async_erp.close()
    return phases


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one JSON line per phase."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=1_000_000, help="customers to bulk-load")
    parser.add_argument("--read-records", type=int, default=200_000, help="records to read")
    parser.add_argument("--upsert-records", type=int, default=10_000, help="records to upsert via upsertList")
    parser.add_argument("--async-records", type=int, default=10_000, help="records to upsert via asyncUpsertList")
    parser.add_argument("--data-dir", type=Path, default=None, help="emulator data dir (a temporary one if unset)")
    args = parser.parse_args(argv)
    if args.data_dir is not None:
        phases = run(args, args.data_dir)
    else:
        with tempfile.TemporaryDirectory(prefix="erp-bench-") as tmp:
            phases = run(args, Path(tmp))
    for phase in phases:
        print(json.dumps(phase.as_row()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
