"""Server-side speed of the ERP emulator: paged search reads and 100-record upserts.

Bulk-loads N customers (default 1,000,000) straight into a fresh data dir, starts the emulator,
then prints: the first search (which fixes the matching ids), records/s over `searchMoreWithId`
pages of 1,000 parsed with lxml, and the median round trip of `upsertList` with 100 records.

    .venv/bin/python bench/erp_emulator.py [--records N] [--pages P]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emulators.erp.bulkload import bulk_load
from emulators.process import running_emulator
from tests.erp_emulator.soap import ErpClient

CORE = "{urn:core_2023_2.platform.webservices.netsuite.com}"
SEARCH = (
    '<platformMsgs:search><platformMsgs:searchRecord xsi:type="platformCommon:CustomerSearchBasic">'
    '<platformCommon:lastModifiedDate operator="onOrAfter"><platformCore:searchValue>'
    "2000-01-01T00:00:00Z</platformCore:searchValue></platformCommon:lastModifiedDate>"
    "</platformMsgs:searchRecord></platformMsgs:search>"
)
PREFERENCES = (
    "<platformMsgs:searchPreferences><platformMsgs:pageSize>1000</platformMsgs:pageSize>"
    "</platformMsgs:searchPreferences>"
)


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--pages", type=int, default=100, help="search pages of 1,000 to read")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        started = time.perf_counter()
        bulk_load(data_dir, "customer", args.records)
        print(f"bulk load of {args.records:,} customers: {time.perf_counter() - started:.1f} s")
        with running_emulator("erp", data_dir) as emulator:
            client = ErpClient(emulator)
            started = time.perf_counter()
            first = etree.fromstring(client.raw(SEARCH, "search", header=client.raw_passport() + PREFERENCES).content)
            print(f"first search page (fixes {args.records:,} ids): {time.perf_counter() - started:.2f} s")
            search_id = first.findtext(f".//{CORE}searchId")
            read = 0
            started = time.perf_counter()
            for page in range(2, args.pages + 2):
                body = (f"<platformMsgs:searchMoreWithId><platformMsgs:searchId>{search_id}</platformMsgs:searchId>"
                        f"<platformMsgs:pageIndex>{page}</platformMsgs:pageIndex></platformMsgs:searchMoreWithId>")
                read += len(etree.fromstring(client.raw(body, "searchMoreWithId").content).findall(f".//{CORE}record"))
            elapsed = time.perf_counter() - started
            print(f"searchMoreWithId: {read:,} records in {elapsed:.2f} s = {read / elapsed:,.0f} records/s "
                  f"({elapsed / args.pages * 1000:.1f} ms a page of 1,000)")
            timings = []
            for batch in range(20):
                records = "".join(
                    f'<platformMsgs:record xsi:type="listRel:Customer" externalId="BULK-customer-{batch * 100 + i}">'
                    "<listRel:phone>555 0100</listRel:phone></platformMsgs:record>" for i in range(100))
                started = time.perf_counter()
                client.raw(f"<platformMsgs:upsertList>{records}</platformMsgs:upsertList>", "upsertList")
                timings.append(time.perf_counter() - started)
            print(f"upsertList of 100 (updates): median {statistics.median(timings) * 1000:.1f} ms a call")


if __name__ == "__main__":
    main()
