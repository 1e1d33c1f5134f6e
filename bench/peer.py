"""Peer benchmark: Tandem's full sync against a hand-written "floor" script, same data, same run.

The floor is what a competent engineer writes by hand for a one-way customer load (no Tandem code,
only zeep, lxml, pandas, simple-salesforce and requests; the functions under "The floor" below):

- read the ERP customers page by page with zeep through SuiteTalk ``search`` (NetSuite's
  ``CustomerSearch`` with an empty ``basic``, or ``CustomerSearchBasic`` when the WSDL has no
  ``CustomerSearch``) and ``searchMoreWithId``, 1,000 a page, ``bodyFieldsOnly``; the raw reply is
  parsed with lxml; zeep keeps the WSDL and XSDs in its in-memory cache, as Tandem's client does;
- rename the ERP fields to Salesforce's with pandas (the ``customer`` fields of the shipped mapping
  that bulk-loaded customers have: Name, Phone, Website, Description, AccountNumber, and the
  externalId as ``ERP_Id__c``);
- write them with simple-salesforce:

  * **floor A (Collections)**: every page upserted through sObject Collections by external id,
    200 records a call (``PATCH composite/sobjects/Account/ERP_Id__c``), as each page arrives;
  * **floor B (Bulk 2.0)**: all pages gathered, one CSV (``DataFrame.to_csv``) upserted as a Bulk
    API 2.0 ingest job (split into several jobs above 100 MB), the job polled every 0.2 s until done.

Tandem runs its ``full_sync`` flow (``entities=[customer]``) under a Prefect test server, once with
the customer direction ``to_crm`` and once ``both`` (the shipped two-way mapping: the flow also
reads Salesforce back), through :func:`bench.full_sync.run_variant`. Above 10,000 records Tandem gathers
pages into Bulk API 2.0 jobs; ``tandem_to_crm_collections`` and ``tandem_both_collections`` (run only when
named in ``--variants``) keep every write on sObject Collections, to compare with floor A path for path.

For each size (``--sizes``, ERP customers bulk-loaded with ``emulators.erp.bulkload``), the two
emulators are started once; every run begins with Salesforce reset to no records and both
emulators' call counters cleared (the ERP is only read, so its store is the same for every run; the
figures show its write calls, which stay 0). The variants alternate: Tandem ``to_crm``, floor A,
floor B, Tandem ``both``, then again, ``--repeat`` times. Before them, at the first size only, come
``--warmup`` untimed rounds (default 1: the first run in a process pays imports and set-up that are
not per record). After each run the Salesforce accounts with an ``ERP_Id__c`` are counted; a run
that did not end with every customer there, or with a failed record, is an error.

Printed per size: each run's wall seconds; then per variant the median wall seconds, records/s,
the median Salesforce and ERP API calls (ERP: SOAP operations; the WSDL/XSD downloads apart), each
variant's calls by endpoint, and the ratio
Tandem ÷ floor (median Tandem wall ÷ median floor wall, and the median of the per-round ratios) to
floor A and floor B. The load average is printed at the start and end of every size.

``--profile FILE`` adds one more Tandem run of the first size, not timed, under cProfile: the variant
``--profile-variant`` names (default ``tandem_to_crm``; ``tandem_both`` profiles both passes of the two-way
job). Stats in ``FILE.<variant>.prof`` (``to_crm``, ``both``, ...); the top entries by cumulative and by own
time are printed, with the CPU seconds of the flow process and of each emulator during that run.

Usage::

    .venv/bin/python bench/peer.py [--sizes 20000,300000] [--repeat 3]
        [--variants tandem_to_crm,floor_collections,floor_bulk,tandem_both] [--warmup 1] [--profile FILE]
        [--profile-variant tandem_both]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import math
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pandas as pd
import requests
import zeep
from lxml import etree
from simple_salesforce import Salesforce
from zeep.cache import InMemoryCache
from zeep.transports import Transport

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.full_sync import PREFIX, run_variant  # noqa: E402
from emulators.erp.bulkload import bulk_load  # noqa: E402
from emulators.process import RunningEmulator, start_emulator  # noqa: E402

VARIANTS = ("tandem_to_crm", "floor_collections", "floor_bulk", "tandem_both")
#: Variants run only when asked for: Tandem with every Salesforce write through Collections.
EXTRA_VARIANTS = ("tandem_to_crm_collections", "tandem_both_collections")
FLOORS = {"floor_collections": "A", "floor_bulk": "B"}
ERP_SCHEMA_DOWNLOADS = frozenset({"wsdl", "xsd"})

# ---------------------------------------------------------------------------------------------------
# The floor: a hand-written one-way load (zeep, lxml, pandas, simple-salesforce, requests; nothing of Tandem).
# ---------------------------------------------------------------------------------------------------

ERP_TO_SALESFORCE = {"companyName": "Name", "phone": "Phone", "url": "Website", "comments": "Description",
                     "entityId": "AccountNumber"}
PAGE_SIZE = 1000
COLLECTION_SIZE = 200
BULK_MAX_BYTES = 100 * 1024 * 1024
BULK_POLL_SECONDS = 0.2
TIMEOUT = (10, 300)
Floor = Callable[[dict[str, Any], dict[str, Any], str | None], int]
PARTNER = "urn:partner.soap.sforce.com"
WSDL_CACHE = InMemoryCache(timeout=3600)


def erp_passport(erp: dict[str, Any]) -> dict[str, Any]:
    """A fresh SuiteTalk ``tokenPassport`` header (TBA, HMAC-SHA256)."""
    nonce, timestamp = secrets.token_hex(10), str(int(time.time()))
    base = "&".join((erp["account"], erp["consumer_key"], erp["token_id"], nonce, timestamp))
    key = f"{erp['consumer_secret']}&{erp['token_secret']}".encode()
    signature = base64.b64encode(hmac.new(key, base.encode(), hashlib.sha256).digest()).decode()
    return {"account": erp["account"], "consumerKey": erp["consumer_key"], "token": erp["token_id"], "nonce": nonce,
            "timestamp": timestamp, "signature": {"_value_1": signature, "algorithm": "HMAC-SHA256"}}


def wsdl_type(client: zeep.Client, name: str) -> Any:
    """The WSDL's type called ``name`` (any namespace), or None."""
    return next((t for t in client.wsdl.types.types if t.qname is not None and t.qname.localname == name), None)


def customer_search(client: zeep.Client) -> Any:
    """All customers: NetSuite's ``CustomerSearch`` (empty ``basic``) if the WSDL has it, else the basic search."""
    wrapper, basic = wsdl_type(client, "CustomerSearch"), wsdl_type(client, "CustomerSearchBasic")
    return wrapper(basic=basic()) if wrapper is not None else basic()


def search_page(reply: requests.Response) -> etree._Element:
    """The ``searchResult`` of a raw ``search``/``searchMoreWithId`` reply; raises on a fault or a failed status."""
    root = etree.fromstring(reply.content)
    result = root.find(".//{*}searchResult")
    if reply.status_code != 200 or result is None or result.find("{*}status[@isSuccess='true']") is None:
        raise RuntimeError(f"ERP search failed: HTTP {reply.status_code} {reply.content[:500]!r}")
    return result


def page_frame(result: etree._Element) -> pd.DataFrame:
    """One page of customers as a DataFrame with Salesforce's column names."""
    rows = []
    for record in result.iterfind("{*}recordList/{*}record"):
        row = {"ERP_Id__c": record.get("externalId")}
        for child in record:
            name = etree.QName(child).localname
            if name in ERP_TO_SALESFORCE:
                row[name] = child.text
        rows.append(row)
    return pd.DataFrame(rows, columns=["ERP_Id__c", *ERP_TO_SALESFORCE]).rename(columns=ERP_TO_SALESFORCE)


def read_erp_customers(erp: dict[str, Any]) -> Iterator[pd.DataFrame]:
    """Every ERP customer, one DataFrame per search page."""
    transport = Transport(cache=WSDL_CACHE, timeout=TIMEOUT[0], operation_timeout=TIMEOUT[1])
    client = zeep.Client(erp["wsdl_url"], transport=transport)
    preferences = next(e for e in client.wsdl.types.elements if e.qname.localname == "searchPreferences")
    headers = {"searchPreferences": preferences(bodyFieldsOnly=True, returnSearchColumns=False, pageSize=PAGE_SIZE)}
    with client.settings(raw_response=True):
        result = search_page(client.service.search(
            searchRecord=customer_search(client), _soapheaders={**headers, "tokenPassport": erp_passport(erp)}))
        yield page_frame(result)
        search_id, pages = result.findtext("{*}searchId"), int(result.findtext("{*}totalPages") or 0)
        for index in range(2, pages + 1):
            yield page_frame(search_page(client.service.searchMoreWithId(
                searchId=search_id, pageIndex=index, _soapheaders={**headers, "tokenPassport": erp_passport(erp)})))


def salesforce_login(crm: dict[str, Any], ca_cert: str | None) -> Salesforce:
    """Log in with the partner SOAP ``login`` at the emulator's login URL; a simple-salesforce client."""
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
    session.verify = ca_cert or True
    envelope = (f'<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:p="{PARTNER}">'
                f"<env:Body><p:login><p:username>{escape(crm['username'])}</p:username>"
                f"<p:password>{escape(crm['password'] + crm['security_token'])}</p:password>"
                "</p:login></env:Body></env:Envelope>")
    version = crm.get("api_version", "59.0")
    reply = session.post(f"{crm['login_url']}/services/Soap/u/{version}", data=envelope.encode(), timeout=TIMEOUT,
                         headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": "login"})
    reply.raise_for_status()
    root = etree.fromstring(reply.content)
    server, session_id = root.findtext(".//{*}result/{*}serverUrl"), root.findtext(".//{*}result/{*}sessionId")
    if not server or not session_id:
        raise RuntimeError(f"Salesforce login failed: {reply.content[:500]!r}")
    return Salesforce(instance_url=server[: server.index("/services/")], session_id=session_id, session=session,
                      version=version)


def rest(sf: Salesforce, path: str, method: str = "GET", **kwargs: Any) -> Any:
    """A REST call with a timeout; its JSON reply (which every call made here has)."""
    reply = sf.restful(path, method=method, timeout=TIMEOUT, **kwargs)
    if reply is None:
        raise RuntimeError(f"{method} {path}: no content")
    return reply


def records_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows as dicts without missing values."""
    return [{k: v for k, v in row.items() if v is not None and v == v} for row in frame.to_dict("records")]


def floor_collections(crm: dict[str, Any], erp: dict[str, Any], ca_cert: str | None) -> int:
    """Floor A: each ERP page upserted by external id, 200 a call. Returns the number of failed records."""
    sf, failed = salesforce_login(crm, ca_cert), 0
    for frame in read_erp_customers(erp):
        records = [{"attributes": {"type": "Account"}, **r} for r in records_of(frame)]
        for start in range(0, len(records), COLLECTION_SIZE):
            body = {"allOrNone": False, "records": records[start:start + COLLECTION_SIZE]}
            results = rest(sf, "composite/sobjects/Account/ERP_Id__c", "PATCH", json=body)
            failed += sum(not r["success"] for r in results)
    return failed


def floor_bulk(crm: dict[str, Any], erp: dict[str, Any], ca_cert: str | None) -> int:
    """Floor B: all ERP pages upserted as Bulk API 2.0 ingest jobs (CSV). Returns the number of failed records."""
    sf = salesforce_login(crm, ca_cert)
    frame = pd.concat(list(read_erp_customers(erp)), ignore_index=True)
    parts = math.ceil(len(frame.to_csv(index=False).encode()) / BULK_MAX_BYTES)
    jobs = []
    for part in range(parts):
        csv = frame.iloc[part * len(frame) // parts:(part + 1) * len(frame) // parts].to_csv(index=False)
        job = rest(sf, "jobs/ingest", "POST", json={
            "object": "Account", "operation": "upsert", "externalIdFieldName": "ERP_Id__c", "contentType": "CSV",
            "lineEnding": "LF"})
        sf.session.put(f"{sf.base_url}jobs/ingest/{job['id']}/batches", data=csv.encode(), timeout=TIMEOUT,
                       headers={**sf.headers, "Content-Type": "text/csv"}).raise_for_status()
        rest(sf, f"jobs/ingest/{job['id']}", "PATCH", json={"state": "UploadComplete"})
        jobs.append(job["id"])
    failed = 0
    for job_id in jobs:
        while (info := rest(sf, f"jobs/ingest/{job_id}"))["state"] not in (
                "JobComplete", "Failed", "Aborted"):
            time.sleep(BULK_POLL_SECONDS)
        if info["state"] != "JobComplete":
            raise RuntimeError(f"Bulk job {job_id} ended {info['state']}: {info.get('errorMessage')}")
        failed += int(info["numberRecordsFailed"])
    return failed


# ---------------------------------------------------------------------------------------------------
# The benchmark around both.
# ---------------------------------------------------------------------------------------------------


def account_count(crm: RunningEmulator) -> int:
    """Salesforce accounts that carry an ERP id (checked after every run, outside its figures)."""
    sf = salesforce_login(crm.info, crm.ca_cert)
    return int(sf.query("SELECT COUNT() FROM Account WHERE ERP_Id__c != null")["totalSize"])


def run_floor(name: str, crm: RunningEmulator, erp: RunningEmulator) -> dict[str, Any]:
    """One floor run on a reset Salesforce; its wall time and calls."""
    floor: Floor = floor_collections if name == "floor_collections" else floor_bulk
    crm.control("POST", "reset", json={"seed": "none"})
    crm.control("DELETE", "counters")
    erp.control("DELETE", "counters")
    started = time.perf_counter()
    failed = floor(crm.info, erp.info, crm.ca_cert)
    wall = time.perf_counter() - started
    return {"wall": wall, "failed": failed, "sf": crm.control("GET", "counters"), "erp": erp.control("GET", "counters")}


def run_tandem(name: str, crm: RunningEmulator, erp: RunningEmulator, work: Path, size: int,
               profile: Path | None = None) -> dict[str, Any]:
    """One Tandem ``full_sync`` of the customers (``run_variant`` resets Salesforce and the state store)."""
    figures = run_variant(name.removeprefix("tandem_"), crm, erp, work, size, profile, entities=("customer",))
    failed = sum(int(row.get("failed") or 0) for row in figures["rows"])
    return {"wall": figures["wall"], "failed": failed, "sf": figures["sf"], "erp": figures["erp"],
            "rows": figures["rows"], "cpu_flow": figures["cpu_flow"], "cpu": figures["cpu"]}


def erp_soap_calls(counters: dict[str, Any]) -> int:
    """ERP calls that are SOAP operations (the WSDL and XSD downloads left out)."""
    return sum(n for endpoint, n in counters["by_endpoint"].items() if endpoint not in ERP_SCHEMA_DOWNLOADS)


def load_text() -> str:
    """The 1/5/15-minute load averages and the CPU count."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def describe_calls(counters: dict[str, Any]) -> str:
    """``endpoint n, ...`` of a counters reply."""
    return ", ".join(f"{endpoint} {n:,}" for endpoint, n in counters["by_endpoint"].items())


def summarize(size: int, runs: dict[str, list[dict[str, Any]]]) -> None:
    """Print the medians, calls and ratios of one size."""
    print(f"\n=== {size:,} ERP customers: median of {max(len(v) for v in runs.values())} runs")
    medians = {name: statistics.median(r["wall"] for r in results) for name, results in runs.items()}
    floors = [f for f in FLOORS if f in runs]
    header = f"{'variant':20s} {'wall s':>8s} {'records/s':>10s} {'SF calls':>9s} {'ERP calls':>10s}"
    print(header + "".join(f"  {'÷ floor ' + FLOORS[f]:>16s}" for f in floors))
    for name, results in runs.items():
        sf_calls = statistics.median(int(r["sf"]["total"]) for r in results)
        erp_calls = statistics.median(erp_soap_calls(r["erp"]) for r in results)
        line = f"{name:20s} {medians[name]:8.1f} {size / medians[name]:10,.0f} {sf_calls:9,.0f} {erp_calls:10,.0f}"
        for floor in floors:
            pairs = [t["wall"] / f["wall"] for t, f in zip(results, runs[floor], strict=False)]
            line += f"  {medians[name] / medians[floor]:6.2f} ({statistics.median(pairs):5.2f})"
        print(line)
    print("(calls: the median; ratio = median wall ÷ median floor wall; in brackets the median of the per-round "
          "ratios)\nCalls of each variant's last run:")
    for name, results in runs.items():
        print(f"  {name}: Salesforce {describe_calls(results[-1]['sf'])}")
        print(f"  {' ' * len(name)}  ERP {describe_calls(results[-1]['erp'])}")


def run_once(name: str, crm: RunningEmulator, erp: RunningEmulator, work: Path, size: int) -> dict[str, Any]:
    """One run of variant ``name``, checked: every customer is in Salesforce, none failed."""
    result = run_tandem(name, crm, erp, work, size) if name.startswith("tandem_") else run_floor(name, crm, erp)
    stored = account_count(crm)
    if stored != size or result["failed"]:
        raise RuntimeError(f"{name}: {stored:,} accounts of {size:,}, {result['failed']} failed")
    return result


def bench_size(size: int, variants: list[str], repeat: int, warmup: int, work: Path, profile: Path | None,
               profile_variant: str = "tandem_to_crm") -> None:
    """Load ``size`` customers, start the emulators, run the variants ``repeat`` times alternating, print.

    ``warmup`` rounds run first and are left out of the figures (imports and first-call set-up). With
    ``profile``, one more run of ``profile_variant`` follows under cProfile.
    """
    erp_dir = work / f"erp-{size}"
    erp_dir.mkdir(parents=True)
    started = time.perf_counter()
    bulk_load(erp_dir, "customer", size, prefix=PREFIX, modified=datetime.now(UTC) - timedelta(days=1))
    print(f"\nloaded {size:,} customers into the ERP store in {time.perf_counter() - started:.1f} s; {load_text()}",
          flush=True)
    crm = start_emulator("salesforce", work / f"crm-{size}", "--seed", "none", "--api-limit", "100000000")
    erp = start_emulator("erp", erp_dir, "--seed", "none")
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    try:
        for round_ in range(1 - warmup, repeat + 1):
            for name in variants:
                result = run_once(name, crm, erp, work, size)
                if round_ > 0:
                    runs[name].append(result)
                label = f"round {round_}" if round_ > 0 else "warm-up"
                print(f"[{size:,}] {label} {name}: {result['wall']:.1f} s, "
                      f"{size / result['wall']:,.0f} records/s, SF {int(result['sf']['total'])} calls, "
                      f"ERP {erp_soap_calls(result['erp'])} SOAP calls; {load_text()}", flush=True)
        summarize(size, runs)
        print(f"{load_text()} at the end", flush=True)
        if profile is not None:
            print(f"\n--- one more {profile_variant} run of {size:,} under cProfile (not in the figures)", flush=True)
            profiled = run_tandem(profile_variant, crm, erp, work, size, profile)
            cpu = profiled["cpu"]
            print(f"profiled run: {profiled['wall']:.1f} s (cProfile slows it); CPU seconds: flow process "
                  f"{profiled['cpu_flow']:.1f}, Salesforce emulator {cpu['crm']:.1f}, ERP emulator {cpu['erp']:.1f}; "
                  f"{load_text()}", flush=True)
    finally:
        crm.stop()
        erp.stop()


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="20000", help="comma-separated customer counts (default 20000)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of all variants (default 3)")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated, in run order: {(*VARIANTS, *EXTRA_VARIANTS)}")
    parser.add_argument("--warmup", type=int, default=1,
                        help="untimed rounds before the first size's timed ones (default 1)")
    parser.add_argument("--entities", default="customer", help="only customer is supported")
    parser.add_argument("--profile", type=Path, help="profile one extra Tandem run of the first size")
    parser.add_argument("--profile-variant", default="tandem_to_crm",
                        help="the Tandem variant --profile runs (default tandem_to_crm)")
    parser.add_argument("--data-dir", type=Path, help="work directory (default: a new temporary one)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if any(v not in (*VARIANTS, *EXTRA_VARIANTS) for v in variants) or not variants:
        parser.error(f"--variants takes {', '.join((*VARIANTS, *EXTRA_VARIANTS))}")
    if args.entities != "customer":
        parser.error("--entities: the floor loads customers only")
    if not args.profile_variant.startswith("tandem_") or args.profile_variant not in (*VARIANTS, *EXTRA_VARIANTS):
        parser.error("--profile-variant takes a tandem_ variant")
    if args.repeat < 1 or args.warmup < 0 or not sizes:
        parser.error("--repeat must be at least 1, --warmup not negative and --sizes not empty")

    # The test server's telemetry cannot reach the internet here; its retries only add noise to the log.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.testing.utilities import prefect_test_harness

    print(f"peer benchmark: sizes {sizes}, {args.repeat} rounds of {variants}; {load_text()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="tandem-peer-") as tmp, \
            prefect_test_harness(server_startup_timeout=120):
        work = args.data_dir or Path(tmp)
        for index, size in enumerate(sizes):
            bench_size(size, variants, args.repeat, args.warmup if index == 0 else 0, work,
                       args.profile if index == 0 else None, args.profile_variant)
    return 0


if __name__ == "__main__":
    sys.exit(main())
