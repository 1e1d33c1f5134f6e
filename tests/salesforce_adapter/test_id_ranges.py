"""Partitioned reads from Salesforce: id ranges split evenly in base 62, each read alone (``Id >= low AND
Id < high``)."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from tandem.id_ranges import IdRange
from tandem.salesforce.adapter import SalesforceAdapter
from tests.salesforce_adapter.conftest import accounts, emulator_now
from tests.support.emulator import RunningEmulator


def read_range(adapter: SalesforceAdapter, id_range: IdRange, **kwargs: object) -> pd.DataFrame:
    pages = list(adapter.read_id_range("Account", None, id_range, fields=["Name"], page_size=200, **kwargs))
    return pd.concat(pages, ignore_index=True)


def test_ranges_cover_every_account_once_in_parts_of_about_equal_size(adapter: SalesforceAdapter) -> None:
    assert all(r.ok for r in adapter.upsert_batch("Account", "ERP_Id__c", accounts(1000)))

    ranges = adapter.id_ranges("Account", 4, min_records=100)

    assert len(ranges) == 4 and ranges[0].low is None and ranges[-1].high is None
    assert all(len(str(r.high)) == 18 for r in ranges[:-1])  # case-safe ids, as Salesforce returns them
    parts = [read_range(adapter, r) for r in ranges]
    ids = [i for part in parts for i in part["id"]]
    assert len(ids) == len(set(ids)) == 1000
    assert all(200 <= len(part) <= 300 for part in parts), [len(p) for p in parts]
    assert all(part["id"].is_monotonic_increasing for part in parts)  # ordered by Id


def test_too_few_records_or_one_partition_give_one_whole_range(adapter: SalesforceAdapter) -> None:
    assert adapter.id_ranges("Account", 4) == [IdRange()]  # an empty object
    assert all(r.ok for r in adapter.upsert_batch("Account", "ERP_Id__c", accounts(150)))
    assert adapter.id_ranges("Account", 4, min_records=100) == [IdRange()]
    assert adapter.id_ranges("Account", 1) == [IdRange()]
    assert len(read_range(adapter, IdRange())) == 150


def test_a_range_read_filters_on_since_and_reads_again_after_a_closed_cursor(
    emulator: RunningEmulator, adapter: SalesforceAdapter
) -> None:
    assert all(r.ok for r in adapter.upsert_batch("Account", "ERP_Id__c", accounts(500)))
    emulator.control("POST", "clock", json={"advance_seconds": 120})
    later = emulator_now(emulator) - timedelta(seconds=1)
    assert all(r.ok for r in adapter.upsert_batch("Account", "ERP_Id__c", accounts(300, prefix="B")))
    [first, second] = adapter.id_ranges("Account", 2, min_records=100)
    emulator.control("POST", "faults", json={"pattern": "queryMore", "kind": "http_500",
                                              "code": "INVALID_QUERY_LOCATOR", "count": 1})

    whole = pd.concat([read_range(adapter, first), read_range(adapter, second)], ignore_index=True)
    recent = [
        frame for r in (first, second)
        for frame in adapter.read_id_range("Account", later, r, fields=["Name"], page_size=200)
    ]

    assert len(whole) == whole["id"].nunique() == 800  # the cursor closed once: read again after the last id
    assert sorted(pd.concat(recent)["Name"]) == sorted(a["Name"] for a in accounts(300, prefix="B"))
