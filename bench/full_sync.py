"""Benchmark the ``full_sync`` flow at scale: ERP customers and contacts into the Salesforce emulator.

What it does:

1. fills a fresh ERP emulator data dir without SOAP: ``--customers`` customers with
   ``emulators.erp.bulkload.bulk_load``, then ``--contacts`` contacts written the same way by this
   script, each with a ``company`` RecordRef to a customer (round robin) and a valid e-mail
   (``bulk_load`` leaves references out and fills text fields with ``"contact email 7"``, which
   Salesforce rejects as an e-mail address);
2. starts both emulators (``emulators.process.start_emulator``): the ERP on that data dir, Salesforce
   with ``--seed none`` and a large ``--api-limit``;
3. under ``prefect_test_harness`` saves the blocks and a ``SyncConnection`` (SQLite state store in
   the temp dir) and runs ``full_sync(entities=[customer, contact])`` in this process, once per
   variant: ``both`` (the shipped two-way mapping: the flow also reads Salesforce back) and
   ``to_crm`` (``ConnectionOptions.directions`` one-way); ``both_collections`` and ``to_crm_collections``
   are the same with the Salesforce block's ``bulk_threshold`` out of reach, so every write goes through
   sObject Collections (the default path gathers a large pass's pages into Bulk API 2.0 jobs). Salesforce is
   reset and the state store is new before each variant;
4. prints wall time, records/s, API calls per endpoint on each side (``/__emulator/counters``), calls
   per record, peak RSS of this (the flow's) process and of each emulator, the number of task runs
   in the flow run (from the Prefect API) and the job rows.

Peak RSS of this process is ``ru_maxrss``, which never goes down: with two variants the second
reports the peak over both, so the growth of each variant is printed as well (``VmHWM`` is reset
between variants via ``/proc/self/clear_refs`` where the kernel allows it). ``--profile FILE`` runs
the flow under cProfile and writes the stats; the emulators' CPU seconds (``/proc/<pid>/stat``) show
how the wall time splits between the flow and the two servers.

Usage::

    .venv/bin/python bench/full_sync.py [--customers 100000] [--contacts 200000]
        [--variants both,to_crm,to_crm_collections,both_collections] [--profile FILE] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import resource
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from emulators.erp.bulkload import bulk_load  # noqa: E402
from emulators.process import RunningEmulator, start_emulator  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CHUNK = 20_000
PREFIX = "BULK"


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (from ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def peak_rss_mib(pid: int | str = "self") -> float:
    """``VmHWM`` (peak resident set) of a process in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak_rss() -> bool:
    """Reset this process's ``VmHWM`` to its current RSS (Linux ``clear_refs`` 5); False when refused."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def load_contacts(data_dir: Path, count: int, customers: int, modified: datetime) -> int:
    """Bulk-load ``count`` contacts, each referring to one of the ``customers`` bulk-loaded customers.

    The customers must have been loaded by ``bulk_load(data_dir, "customer", customers)`` into an
    empty store, so their internal ids are 1..customers and their externalIds ``BULK-customer-n``.
    """

    def contact(n: int) -> dict[str, Any]:
        k = n % customers
        return {
            "firstName": f"First{n}", "lastName": f"Last{n}", "title": "Buyer",
            "phone": f"+1 555 {n % 10_000_000:07d}", "mobilePhone": f"+1 556 {n % 10_000_000:07d}",
            "email": f"contact{n}@example.com", "isInactive": False,
            "company": {"internalId": str(k + 1), "type": "customer", "externalId": f"{PREFIX}-customer-{k}",
                        "name": f"customer companyName {k}"},
        }

    return bulk_load(data_dir, "contact", count, prefix=PREFIX, modified=modified, fields=contact)


#: The variants: the flow's directions, and whether every Salesforce write goes through Collections.
VARIANTS = {"both": ("both", False), "to_crm": ("to_crm", False),
            "both_collections": ("both", True), "to_crm_collections": ("to_crm", True)}
#: A bulk threshold no pass reaches: the Collections path.
NO_BULK = 1_000_000_000


def save_blocks(name: str, crm: RunningEmulator, erp: RunningEmulator, store_path: Path,
                directions: dict[str, str], *, collections_only: bool = False) -> None:
    """Save the credentials blocks and a Sync Connection called ``name`` (SQLite state store); with
    ``collections_only`` every Salesforce write goes through sObject Collections."""
    from pydantic import SecretStr

    from blocks.connection import ConnectionOptions, SyncConnection
    from blocks.erp import ErpCredentials
    from blocks.salesforce import SalesforceCredentials
    from blocks.store import StateStore

    sf, ns = crm.info, erp.info
    SyncConnection(
        salesforce=SalesforceCredentials(
            login_host=sf["login_url"], username=sf["username"], password=SecretStr(sf["password"]),
            security_token=SecretStr(sf["security_token"]), ca_bundle_path=crm.ca_cert,
            api_version=sf.get("api_version", "59.0"), **({"bulk_threshold": NO_BULK} if collections_only else {}),
        ),
        erp=ErpCredentials(
            account_id=ns["account"], consumer_key=SecretStr(ns["consumer_key"]),
            consumer_secret=SecretStr(ns["consumer_secret"]), token_id=SecretStr(ns["token_id"]),
            token_secret=SecretStr(ns["token_secret"]), wsdl_url=ns["wsdl_url"],
        ),
        store=StateStore(url=SecretStr(f"sqlite:///{store_path}")),
        options=ConnectionOptions(directions=directions),  # type: ignore[arg-type]
    ).save(name, overwrite=True)


@contextmanager
def profiled_jobs(profiles: list[cProfile.Profile]) -> Iterator[None]:
    """Profile every entity job where it runs (a task runner thread), appending one profile per job.

    The flow's jobs run in the task runner's worker threads, which a profiler enabled in this
    (the flow's) thread does not see; so the job function the ``sync-entity`` task calls is wrapped
    for the duration. Behaviour is unchanged: the wrapper calls the same function with the same
    arguments.
    """
    import tasks.sync

    original = tasks.sync.run_entity_job

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        profiler = cProfile.Profile()
        profiles.append(profiler)
        return profiler.runcall(original, *args, **kwargs)

    tasks.sync.run_entity_job = wrapper
    try:
        yield
    finally:
        tasks.sync.run_entity_job = original


async def count_task_runs(flow_run_id: UUID) -> dict[str, int]:
    """Task runs of one flow run, by task name."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async with get_client() as client:
        runs = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    by_name: dict[str, int] = {}
    for run in runs:
        key = run.name.split(" ")[0] if run.name else "?"
        by_name[key] = by_name.get(key, 0) + 1
    return by_name


def run_variant(variant: str, crm: RunningEmulator, erp: RunningEmulator, work: Path, records: int,
                profile: Path | None, entities: Sequence[str] = ("customer", "contact"),
                *, populated: bool = False) -> dict[str, Any]:
    """Run ``full_sync`` of ``entities`` once for ``variant`` (one of :data:`VARIANTS`) and return its figures.

    Salesforce is reset (no records) and the state store is a new file, so the call is a first sync; with
    ``populated`` nothing is reset: the run is a second full sync over a target that holds every record, all
    coupled and unchanged (it should read both sides and write nothing).
    """
    from flows.full_sync import full_sync
    from flows.parameters import EntityName

    name = f"bench-{variant.replace('_', '-')}"
    store_path = work / f"state-{variant}.sqlite3"
    if not populated:
        crm.control("POST", "reset", json={"seed": "none"})
        for stale in (store_path,
                      *(store_path.with_name(store_path.name + tail) for tail in ("-wal", "-shm", "-journal"))):
            stale.unlink(missing_ok=True)
        direction, collections_only = VARIANTS[variant]
        directions = {} if direction == "both" else dict.fromkeys(entities, direction)
        save_blocks(name, crm, erp, store_path, directions, collections_only=collections_only)
    crm.control("DELETE", "counters")
    erp.control("DELETE", "counters")
    cleared = reset_peak_rss()
    rss_before = peak_rss_mib()
    cpu = {"crm": process_cpu_seconds(crm.process.pid), "erp": process_cpu_seconds(erp.process.pid)}
    own_cpu = time.process_time()
    started = time.perf_counter()
    profiles: list[cProfile.Profile] = []
    with profiled_jobs(profiles) if profile else nullcontext():
        state = full_sync(connection=name, entities=[EntityName(e) for e in entities],
                          return_state=True)
    wall = time.perf_counter() - started
    own_cpu = time.process_time() - own_cpu
    cpu = {k: process_cpu_seconds(p.process.pid) - cpu[k] for k, p in (("crm", crm), ("erp", erp))}
    rows = state.result()
    flow_run_id = state.state_details.flow_run_id
    assert flow_run_id is not None
    tasks = asyncio.run(count_task_runs(flow_run_id))
    sf_calls = crm.control("GET", "counters")
    erp_calls = erp.control("GET", "counters")
    if profiles and profile:
        out = profile.with_name(f"{profile.name}.{variant}.prof")
        out.parent.mkdir(parents=True, exist_ok=True)
        stats = pstats.Stats(*profiles)
        stats.dump_stats(out)
        print(f"\n--- cProfile of the entity jobs ({variant}), top 40 by cumulative time; stats in {out}")
        stats.sort_stats("cumulative").print_stats(40)
        print(f"--- cProfile of the entity jobs ({variant}), top 40 by own time")
        stats.sort_stats("tottime").print_stats(40)
    return {
        "variant": f"{variant}, second run over the populated target" if populated else variant,
        "wall": wall, "records": records, "rows": rows, "tasks": tasks,
        "sf": sf_calls, "erp": erp_calls, "cpu_flow": own_cpu, "cpu": cpu,
        "rss_before": rss_before, "rss_peak": peak_rss_mib(), "rss_reset": cleared,
        "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "crm_hwm": peak_rss_mib(crm.process.pid), "erp_hwm": peak_rss_mib(erp.process.pid),
    }


def report(figures: dict[str, Any]) -> None:
    """Print one variant's figures."""
    records, wall = figures["records"], figures["wall"]
    sf_total = int(figures["sf"]["total"])
    print(f"\n=== full_sync, variant {figures['variant']}: {records:,} ERP records")
    print(f"wall {wall:.1f} s, {records / wall:,.0f} records/s")
    print(f"CPU seconds: flow process {figures['cpu_flow']:.1f}, Salesforce emulator {figures['cpu']['crm']:.1f}, "
          f"ERP emulator {figures['cpu']['erp']:.1f}")
    print(f"Salesforce API calls {sf_total:,} = {sf_total / records:.5f} per record "
          f"(1 per {records / max(sf_total, 1):,.0f}; target at most 1/150)")
    for endpoint, n in figures["sf"]["by_endpoint"].items():
        print(f"  {endpoint:40s} {n:8,}")
    erp_total = int(figures["erp"]["total"])
    print(f"ERP calls {erp_total:,} = {erp_total / records:.5f} per record")
    for endpoint, n in figures["erp"]["by_endpoint"].items():
        print(f"  {endpoint:40s} {n:8,}")
    reset_note = "" if figures["rss_reset"] else " (VmHWM not resettable: peak since process start)"
    print(f"peak RSS flow process {figures['rss_peak']:.0f} MiB (at start of run {figures['rss_before']:.0f} MiB)"
          f"{reset_note}; ru_maxrss {figures['ru_maxrss']:.0f} MiB")
    print(f"peak RSS Salesforce emulator {figures['crm_hwm']:.0f} MiB, ERP emulator {figures['erp_hwm']:.0f} MiB "
          "(since each started)")
    print(f"task runs in the flow run: {sum(figures['tasks'].values())} {figures['tasks']}")
    for row in figures["rows"]:
        keep = ("entity", "state", "inserted", "modified", "unchanged", "coupled", "skipped", "failed")
        print("  " + ", ".join(f"{k}={row.get(k)}" for k in keep))


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--variants", default="both,to_crm", help=f"comma-separated: {', '.join(VARIANTS)}")
    parser.add_argument("--profile", type=Path, help="write cProfile stats to FILE.<variant>.prof and print the top")
    parser.add_argument("--data-dir", type=Path, help="work directory (default: a new temporary one)")
    parser.add_argument("--populated", action="store_true",
                        help="after each variant, run a second full sync over the populated target (all unchanged)")
    args = parser.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if any(v not in VARIANTS for v in variants):
        parser.error(f"--variants takes {', '.join(VARIANTS)}")

    from prefect.testing.utilities import prefect_test_harness

    with tempfile.TemporaryDirectory(prefix="tandem-bench-") as tmp:
        work = args.data_dir or Path(tmp)
        erp_dir = work / "erp"
        erp_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        modified = datetime.now(UTC) - timedelta(days=1)
        bulk_load(erp_dir, "customer", args.customers, prefix=PREFIX, modified=modified)
        load_contacts(erp_dir, args.contacts, args.customers, modified + timedelta(hours=1))
        print(f"loaded {args.customers:,} customers and {args.contacts:,} contacts into the ERP store "
              f"in {time.perf_counter() - started:.1f} s", flush=True)
        crm = start_emulator("salesforce", work / "crm", "--seed", "none", "--api-limit", "100000000")
        erp = start_emulator("erp", erp_dir, "--seed", "none")
        try:
            with prefect_test_harness(server_startup_timeout=120):
                for variant in variants:
                    records = args.customers + args.contacts
                    report(run_variant(variant, crm, erp, work, records, args.profile))
                    sys.stdout.flush()
                    if args.populated:
                        report(run_variant(variant, crm, erp, work, records, args.profile, populated=True))
                        sys.stdout.flush()
        finally:
            crm.stop()
            erp.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
