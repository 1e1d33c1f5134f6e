"""Micro-benchmark: mapping and field digests per record (``Mapper.map_page``), both customer directions.

Builds pages shaped like the ERP's customer pages in ``bench/peer.py`` (what ``records_frame`` gives for
bulk-loaded customers: text columns, the reference columns all missing) and the Salesforce Accounts read
back in a two-way run, maps them with the shipped ``customer`` mapping (``mappings/default.yaml``) and
prints the best of ``--repeat`` timings in µs per record (each repeat with a new ``Mapper``, as a run
has): ``map_page`` (mapping and field digests), and ``DigestMaker.digest`` of one mapped record at a
time (the per-record call order lines use).

Not collected by pytest (a measurement, not a test). Usage::

    .venv/bin/python bench/mapping.py [--records 20000] [--page 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tandem.mapper import MappedPage, Mapper
from tandem.mapping import Direction, load_mapping_set

ROOT = Path(__file__).resolve().parents[1]


def erp_customers(start: int, size: int) -> pd.DataFrame:
    """A page of bulk-loaded ERP customers as the ERP adapter builds it (``records_frame``)."""
    numbers = range(start, start + size)
    columns: dict[str, list[str | None]] = {
        "id": [str(n + 1) for n in numbers],
        "modified_at": ["2026-01-01T00:00:00.000Z"] * size,
        **{name: [f"Customer {name} {n}" for n in numbers] for name in ("companyName", "phone", "url", "comments")},
        "entityId": [f"Customer entityId {n}" for n in numbers],
        "salesRep.internalId": [None] * size,
        "terms.internalId": [None] * size,
    }
    frame = pd.DataFrame(columns)
    frame["modified_at"] = pd.to_datetime(frame["modified_at"], utc=True, format="ISO8601")
    return frame


def crm_accounts(start: int, size: int) -> pd.DataFrame:
    """A page of Salesforce Accounts as read back in a two-way run (what the ERP customers became)."""
    numbers = range(start, start + size)
    return pd.DataFrame({
        "id": [f"001{n:015d}" for n in numbers],
        "Name": [f"Customer companyName {n}" for n in numbers],
        "Phone": [f"Customer phone {n}" for n in numbers],
        "Website": [f"Customer url {n}" for n in numbers],
        "Description": [f"Customer comments {n}" for n in numbers],
    })


def best_of(repeat: int, run: Callable[[], object]) -> float:
    """The shortest of ``repeat`` wall times of ``run``, in seconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    """Print µs per record for mapping (with digests) and digests alone, both directions."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--page", type=int, default=1_000, help="records per page (the ERP's search page)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    customer = load_mapping_set(ROOT / "mappings" / "default.yaml").entities["customer"]
    starts = range(0, args.records, args.page)
    sizes = [(start, min(args.page, args.records - start)) for start in starts]
    cases = [
        ("to_crm (ERP customers)", Direction.TO_CRM, [erp_customers(*size) for size in sizes]),
        ("to_erp (Accounts read back)", Direction.TO_ERP, [crm_accounts(*size) for size in sizes]),
    ]
    print(f"{args.records:,} records in pages of {args.page:,}, best of {args.repeat}; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for label, direction, pages in cases:
        mapped: list[MappedPage] = []

        def map_all(direction: Direction = direction, pages: list[pd.DataFrame] = pages,
                    out: list[MappedPage] = mapped) -> None:
            mapper = Mapper(customer, direction)  # as a run does: no value remembered from the last repeat
            out[:] = [mapper.map_page(page, creating=pd.Series(True, index=page.index)) for page in pages]

        def digest_all(direction: Direction = direction, pages: list[MappedPage] = mapped) -> None:
            digests = Mapper(customer, direction).digests
            for page in pages:
                for record in page.records:
                    digests.digest(record)

        mapping = best_of(args.repeat, map_all)
        mapped_records = sum(len(page.records) for page in mapped)
        assert mapped_records == args.records, f"{label}: {mapped_records} of {args.records} records mapped"
        digests = best_of(args.repeat, digest_all)
        print(f"{label:30s} map_page {mapping / args.records * 1e6:6.1f} µs/record"
              f"   (DigestMaker.digest of one record {digests / args.records * 1e6:5.1f} µs)")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
