"""Upserts above the bulk threshold go through a Bulk API 2.0 ingest job, mapped back record by record."""

from __future__ import annotations

from datetime import UTC, date, datetime

from tandem.salesforce.adapter import parse_bulk_error, records_to_csv
from tests.salesforce_adapter.conftest import accounts, credentials
from tests.support.emulator import RunningEmulator

BAD_CURRENCY = "ZZQ"


def test_bulk_upsert_of_a_mixed_batch_maps_results_in_input_order(emulator: RunningEmulator) -> None:
    adapter = credentials(emulator, bulk_threshold=10, bulk_timeout=60).get_client()
    existing = adapter.upsert_batch("Account", "ERP_Id__c", accounts(5))  # 5 ≤ threshold: Collections
    emulator.control("DELETE", "counters")
    records = [
        *accounts(20),  # A00000..A00004 exist, the rest are new
        {"ERP_Id__c": "BAD1", "Name": "Bad currency", "CurrencyIsoCode": BAD_CURRENCY},
        {"Name": "No key"},
        {"ERP_Id__c": "BAD2", "Name": None},
        {"ERP_Id__c": "NEW9", "Name": "Last, with a comma", "NumberOfEmployees": 12},
    ]

    results = adapter.upsert_batch("Account", "ERP_Id__c", records)

    assert len(results) == len(records)
    assert [r.key for r in results] == [r.get("ERP_Id__c", "") for r in records]
    assert [r.created for r in results[:5]] == [False] * 5
    assert [r.id for r in results[:5]] == [r.id for r in existing]
    assert all(r.ok and r.created and r.id for r in results[5:20])
    bad_currency, no_key, no_name, last = results[20:]
    assert bad_currency.error_code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert "CurrencyIsoCode" in (bad_currency.error_message or "")
    assert BAD_CURRENCY not in (bad_currency.error_message or "")
    assert no_key.error_code == "MISSING_EXTERNAL_ID"
    assert no_name.error_code == "REQUIRED_FIELD_MISSING"
    assert last.ok and last.created
    endpoints = emulator.control("GET", "counters")["by_endpoint"]
    assert not any(name.startswith("collections") for name in endpoints), endpoints
    assert any("ingest" in name for name in endpoints), endpoints

    frame = adapter.read_by_keys("Account", "ERP_Id__c", ["NEW9", "A00019"], fields=["Name", "NumberOfEmployees"])
    rows = frame.set_index("ERP_Id__c")
    assert rows.loc["NEW9", "Name"] == "Last, with a comma"
    assert rows.loc["NEW9", "NumberOfEmployees"] == 12
    assert rows.loc["A00019", "id"] == results[19].id


def test_bulk_upsert_rerun_is_idempotent(emulator: RunningEmulator) -> None:
    adapter = credentials(emulator, bulk_threshold=10).get_client()
    first = adapter.upsert_batch("Account", "ERP_Id__c", accounts(25))
    again = adapter.upsert_batch("Account", "ERP_Id__c", accounts(25))

    assert all(r.created for r in first) and not any(r.created for r in again)
    assert [r.id for r in first] == [r.id for r in again]
    assert sum(len(p) for p in adapter.read_changed_since("Account", None, fields=["Name"])) == 25


def test_records_to_csv_writes_nulls_references_and_types() -> None:
    text = records_to_csv(
        [
            {"ERP_Id__c": "A1", "Name": "Quote \"me\", please", "Active__c": True, "Closed": date(2026, 1, 2)},
            {"ERP_Id__c": "A2", "Name": None, "Account": {"ERP_Id__c": "P1"},
             "At": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)},
        ]
    )
    lines = text.splitlines()
    assert lines[0] == "ERP_Id__c,Name,Active__c,Closed,Account.ERP_Id__c,At"
    assert lines[1] == 'A1,"Quote ""me"", please",true,2026-01-02,,'
    assert lines[2] == "A2,#N/A,,,P1,2026-01-02T03:04:05.000Z"


def test_parse_bulk_error() -> None:
    assert parse_bulk_error("REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --") == (
        "REQUIRED_FIELD_MISSING", "Required fields are missing: [Name] (fields: Name)"
    )
    assert parse_bulk_error("DUPLICATE_VALUE:duplicate value found:ERP_Id__c,Name --") == (
        "DUPLICATE_VALUE", "duplicate value found (fields: ERP_Id__c, Name)"
    )
    assert parse_bulk_error("UNKNOWN_EXCEPTION:something broke: --") == ("UNKNOWN_EXCEPTION", "something broke")
    assert parse_bulk_error("") == ("UNKNOWN", "")


def test_a_pass_above_the_bulk_threshold_gathers_its_pages_into_a_few_jobs(emulator: RunningEmulator) -> None:
    adapter = credentials(emulator).get_client()
    assert adapter.gather_size("Account", 10_000) == 0  # at the threshold: page by page, through Collections
    assert adapter.gather_size("Account", 20_000) == 10_001  # each batch above the threshold: a Bulk job
    assert adapter.gather_size("Account", 300_000) == 50_000  # 6 jobs
    assert adapter.gather_size("Account", 1_000_000) == 50_000  # at most 50,000 records a batch in memory
