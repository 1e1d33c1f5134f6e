"""Partitioned reads from the ERP: internal id ranges found by counting (``internalIdNumber lessThan``), each read
alone with an ``internalIdNumber`` criterion (``between``, ``greaterThanOrEqualTo``, ``lessThan``)."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from tandem.erp.adapter import ErpAdapter
from tandem.errors import FatalSyncError
from tandem.id_ranges import IdRange
from tests.erp_adapter.conftest import calls
from tests.erp_adapter.test_adapter import customers, emulator_now
from tests.support.emulator import RunningEmulator


def read_range(adapter: ErpAdapter, id_range: IdRange, since: object = None) -> pd.DataFrame:
    pages = list(adapter.read_id_range("customer", since, id_range, fields=["companyName"],  # type: ignore[arg-type]
                                       page_size=100))
    return pd.concat(pages, ignore_index=True) if pages else pd.DataFrame(columns=["id", "modified_at"])


def test_ranges_cover_every_customer_once_in_parts_of_about_equal_size(
    adapter: ErpAdapter, erp: RunningEmulator
) -> None:
    assert all(r.ok for r in adapter.upsert_batch("customer", "externalId", customers(600)))
    erp.control("DELETE", "counters")

    ranges = adapter.id_ranges("customer", 3, min_records=100)

    assert len(ranges) == 3 and ranges[0].low is None and ranges[-1].high is None
    assert calls(erp, "search") <= 20  # counted, never read
    parts = [read_range(adapter, r) for r in ranges]
    ids = [i for part in parts for i in part["id"]]
    assert len(ids) == len(set(ids)) == 600
    assert all(150 <= len(part) <= 250 for part in parts), [len(p) for p in parts]
    assert sorted(int(i) for i in parts[1]["id"])[0] == int(str(ranges[1].low))  # the low end is included


def test_a_range_read_filters_on_since(adapter: ErpAdapter, erp: RunningEmulator) -> None:
    assert all(r.ok for r in adapter.upsert_batch("customer", "externalId", customers(200)))
    erp.control("POST", "clock", json={"advance_seconds": 120})
    later = emulator_now(erp) - timedelta(seconds=1)
    assert all(r.ok for r in adapter.upsert_batch("customer", "externalId", customers(50, "NEW")))

    [first, second] = adapter.id_ranges("customer", 2, min_records=10)

    assert len(read_range(adapter, first, later)) + len(read_range(adapter, second, later)) == 50


def test_types_read_otherwise_and_small_ones_are_one_whole_range(adapter: ErpAdapter) -> None:
    assert adapter.id_ranges("customer", 4) == [IdRange()]  # no records
    assert adapter.id_ranges("itemPrice", 4) == [IdRange()]  # composed from the items' pricing matrix
    assert all(r.ok for r in adapter.upsert_batch("customer", "externalId", customers(30)))
    assert adapter.id_ranges("customer", 4, min_records=20) == [IdRange()]
    assert len(read_range(adapter, IdRange())) == 30
    with pytest.raises(FatalSyncError, match="not a range of internal ids"):
        read_range(adapter, IdRange("001000000000001AAA", None))
