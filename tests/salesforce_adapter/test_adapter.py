"""The Salesforce adapter against the emulator: paging, keys, writes, deletions, org and describe."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from tandem.salesforce.adapter import SalesforceAdapter
from tests.salesforce_adapter.conftest import accounts, credentials, emulator_now
from tests.support.emulator import RunningEmulator, start_emulator

BAD_CURRENCY = "ZZQ"


def test_read_changed_since_pages_through_every_record(adapter: SalesforceAdapter) -> None:
    written = adapter.upsert_batch("Account", "ERP_Id__c", accounts(1000))
    assert all(r.ok for r in written)

    pages = list(adapter.read_changed_since("Account", None, fields=["Name", "ERP_Id__c"], page_size=200))

    assert [len(p) for p in pages] == [200] * 5
    frame = pd.concat(pages, ignore_index=True)
    assert list(frame.columns) == ["id", "modified_at", "Name", "ERP_Id__c"]
    assert frame["id"].is_unique
    assert set(frame["ERP_Id__c"]) == {f"A{i:05d}" for i in range(1000)}
    assert frame["modified_at"].is_monotonic_increasing
    assert str(frame["modified_at"].dt.tz) == "UTC"


def test_watermark_includes_records_sharing_its_timestamp(adapter: SalesforceAdapter) -> None:
    adapter.upsert_batch("Account", "ERP_Id__c", accounts(600))
    frame = pd.concat(adapter.read_changed_since("Account", None, fields=["ERP_Id__c"], page_size=200))
    # a batch of 200 shares one SystemModstamp: take the stamp of a row in the middle of such a group
    stamp = frame["modified_at"].iloc[300]
    sharing = frame[frame["modified_at"] == stamp]
    assert len(sharing) > 1

    since = list(adapter.read_changed_since("Account", stamp.to_pydatetime(), fields=["ERP_Id__c"], page_size=200))
    later = pd.concat(since, ignore_index=True)

    assert set(sharing["id"]) <= set(later["id"])
    # SOQL datetime literals carry whole seconds: the read starts at the watermark's second
    assert set(later["id"]) == set(frame.loc[frame["modified_at"] >= stamp.floor("s"), "id"])


def test_parent_fields_are_flattened(adapter: SalesforceAdapter) -> None:
    parents = adapter.upsert_batch("Account", "ERP_Id__c", [{"ERP_Id__c": "P1", "Name": "Parent One"}])
    adapter.upsert_batch(
        "Contact", "ERP_Id__c",
        [
            {"ERP_Id__c": "C1", "LastName": "Linked", "AccountId": parents[0].id},
            {"ERP_Id__c": "C2", "LastName": "Alone"},
        ],
    )

    frame = pd.concat(adapter.read_changed_since("Contact", None, fields=["LastName", "Account.Name"]))

    by_name = frame.set_index("LastName")["Account.Name"].to_dict()
    assert by_name["Linked"] == "Parent One"
    assert pd.isna(by_name["Alone"])


def test_read_by_keys_queries_in_chunks_and_skips_missing(
    adapter: SalesforceAdapter, emulator: RunningEmulator
) -> None:
    adapter.upsert_batch("Account", "ERP_Id__c", accounts(700))
    keys = [f"A{i:05d}" for i in range(0, 700, 2)] + ["NOPE1", "NOPE2"]
    emulator.control("DELETE", "counters")

    frame = adapter.read_by_keys("Account", "ERP_Id__c", keys, fields=["Name"])

    assert len(frame) == 350
    assert set(frame["ERP_Id__c"]) == set(keys[:-2])
    assert {"id", "modified_at", "ERP_Id__c", "Name"} <= set(frame.columns)
    assert emulator.control("GET", "counters")["by_endpoint"] == {"query": 2}  # 352 keys, 300 per query


def test_read_by_ids_takes_one_call_per_2000_and_skips_missing(
    adapter: SalesforceAdapter, emulator: RunningEmulator
) -> None:
    written = adapter.upsert_batch("Account", "ERP_Id__c", accounts(2100))
    ids = [r.id for r in written if r.id] + ["001000000000000AAA"]
    emulator.control("DELETE", "counters")

    frame = adapter.read_by_ids("Account", ids, fields=["Name", "ERP_Id__c"])

    assert len(frame) == 2100 and set(frame["id"]) == set(ids[:-1])
    assert {"id", "modified_at", "Name", "ERP_Id__c"} <= set(frame.columns)
    assert emulator.control("GET", "counters")["by_endpoint"] == {"collections.retrieve": 2}


def test_read_by_keys_with_no_keys_gives_an_empty_frame(adapter: SalesforceAdapter) -> None:
    frame = adapter.read_by_keys("Account", "ERP_Id__c", [], fields=["Name"])
    assert frame.empty
    assert {"id", "ERP_Id__c", "Name"} <= set(frame.columns)


def test_upsert_creates_then_updates_and_is_idempotent(adapter: SalesforceAdapter) -> None:
    first = adapter.upsert_batch("Account", "ERP_Id__c", accounts(3))
    assert [r.created for r in first] == [True, True, True]
    assert [r.key for r in first] == ["A00000", "A00001", "A00002"]

    again = adapter.upsert_batch("Account", "ERP_Id__c", accounts(4))

    assert [r.created for r in again] == [False, False, False, True]
    assert [r.id for r in again[:3]] == [r.id for r in first]
    frame = pd.concat(adapter.read_changed_since("Account", None, fields=["ERP_Id__c"]))
    assert len(frame) == 4


def test_mixed_batch_fails_bad_records_alone(adapter: SalesforceAdapter) -> None:
    records: list[dict[str, Any]] = [
        {"ERP_Id__c": "OK1", "Name": "Good"},
        {"ERP_Id__c": "BAD1", "Name": "Bad", "CurrencyIsoCode": BAD_CURRENCY},
        {"Name": "No key"},
        {"ERP_Id__c": "BAD2", "Name": None},
        {"ERP_Id__c": "OK2", "Name": "Good too"},
    ]

    results = adapter.upsert_batch("Account", "ERP_Id__c", records)

    assert [r.ok for r in results] == [True, False, False, False, True]
    assert results[1].key == "BAD1" and results[1].error_code and results[1].error_message
    assert BAD_CURRENCY not in results[1].error_message
    assert results[2].error_code == "MISSING_EXTERNAL_ID"
    assert results[3].error_code == "REQUIRED_FIELD_MISSING"
    assert "Name" in (results[3].error_message or "")


def test_upsert_over_200_records_takes_several_calls(adapter: SalesforceAdapter, emulator: RunningEmulator) -> None:
    emulator.control("DELETE", "counters")
    results = adapter.upsert_batch("Account", "ERP_Id__c", accounts(450))
    assert len(results) == 450 and all(r.ok and r.created for r in results)
    assert [r.key for r in results] == [f"A{i:05d}" for i in range(450)]
    assert emulator.control("GET", "counters")["by_endpoint"] == {"collections.upsert": 3}


def test_update_batch_by_id(adapter: SalesforceAdapter) -> None:
    created = adapter.upsert_batch("Account", "ERP_Id__c", accounts(2))
    results = adapter.update_batch(
        "Account", [{"Id": created[0].id, "Name": "Renamed"}, {"Id": "001000000000000AAA", "Name": "Ghost"}]
    )
    assert results[0].ok and results[0].key == created[0].id
    assert not results[1].ok and results[1].error_code
    frame = adapter.read_by_keys("Account", "ERP_Id__c", ["A00000"], fields=["Name"])
    assert frame["Name"].tolist() == ["Renamed"]


def test_delete_batch_counts_already_deleted_as_done(adapter: SalesforceAdapter) -> None:
    created = adapter.upsert_batch("Account", "ERP_Id__c", accounts(3))
    ids = [r.id or "" for r in created]

    first = adapter.delete_batch("Account", ids[:2])
    second = adapter.delete_batch("Account", ids)

    assert all(r.ok for r in first) and all(r.ok for r in second)
    assert [r.key for r in second] == ids
    assert adapter.read_by_keys("Account", "ERP_Id__c", ["A00000", "A00001", "A00002"], fields=[]).empty


def test_read_deleted_since_and_earliest_available(adapter: SalesforceAdapter, emulator: RunningEmulator) -> None:
    start = emulator_now(emulator) - timedelta(minutes=5)
    created = adapter.upsert_batch("Account", "ERP_Id__c", accounts(3))
    adapter.delete_batch("Account", [created[0].id or "", created[1].id or ""])
    emulator.control("POST", "clock", json={"advance_seconds": 120})

    window = adapter.read_deleted_since("Account", start, emulator_now(emulator))

    assert {d.id for d in window.records} == {created[0].id, created[1].id}
    assert all(d.deleted_at.tzinfo is not None for d in window.records)
    # nothing purged yet: the earliest available date is no later than the first deletion
    assert window.earliest_available is not None
    assert window.earliest_available <= min(d.deleted_at for d in window.records)

    # 16 days later the first deletions are purged: the earliest available date moves past them
    emulator.control("POST", "clock", json={"advance_seconds": 16 * 86400})
    adapter.delete_batch("Account", [created[2].id or ""])
    emulator.control("POST", "clock", json={"advance_seconds": 120})
    now = emulator_now(emulator)
    since = now - timedelta(days=20)
    later = adapter.read_deleted_since("Account", since, now)

    assert {d.id for d in later.records} == {created[2].id}
    assert later.earliest_available is not None and later.earliest_available > since


def test_session_expiry_is_renewed_transparently(adapter: SalesforceAdapter, emulator: RunningEmulator) -> None:
    adapter.upsert_batch("Account", "ERP_Id__c", accounts(2))
    old_session = adapter.sf.session_id
    emulator.control("POST", "clock", json={"advance_seconds": 3 * 3600})  # sessions idle out after 2 h

    frame = pd.concat(adapter.read_changed_since("Account", None, fields=["Name"]))

    assert len(frame) == 2
    assert adapter.sf.session_id != old_session


def test_organization_on_production(adapter: SalesforceAdapter, emulator: RunningEmulator) -> None:
    org_id, sandbox = adapter.organization()
    assert org_id == emulator.info["org_id"] and sandbox is False


def test_organization_on_a_sandbox(tmp_path: Path) -> None:
    sandbox = start_emulator("salesforce", tmp_path / "sbx", "--seed", "none", "--org-type", "sandbox")
    try:
        org_id, is_sandbox = credentials(sandbox, sandbox=True).get_client().organization()
    finally:
        sandbox.stop()
    assert is_sandbox is True and org_id == sandbox.info["org_id"]


def test_field_names(adapter: SalesforceAdapter) -> None:
    names = adapter.field_names("Contact")
    assert {"Id", "LastName", "AccountId", "ERP_Id__c", "SystemModstamp"} <= names


def test_session_expiring_between_pages_is_renewed(adapter: SalesforceAdapter, emulator: RunningEmulator) -> None:
    adapter.upsert_batch("Account", "ERP_Id__c", accounts(500))
    pages = adapter.read_changed_since("Account", None, fields=["ERP_Id__c"], page_size=200)
    first = next(pages)
    emulator.control("POST", "clock", json={"advance_seconds": 3 * 3600})

    rest = list(pages)

    frame = pd.concat([first, *rest], ignore_index=True)
    assert len(frame) == 500 and frame["id"].is_unique


def test_an_expired_query_cursor_resumes_without_loss_or_repeats(
    adapter: SalesforceAdapter, emulator: RunningEmulator
) -> None:
    adapter.upsert_batch("Account", "ERP_Id__c", accounts(700))
    pages = adapter.read_changed_since("Account", None, fields=["ERP_Id__c"], page_size=200)
    first = [next(pages), next(pages)]
    emulator.control("POST", "clock", json={"advance_seconds": 20 * 60})  # cursors expire after 15 min unused

    rest = list(pages)

    frame = pd.concat([*first, *rest], ignore_index=True)
    assert len(frame) == 700 and frame["id"].is_unique
    assert list(frame.columns) == ["id", "modified_at", "ERP_Id__c"]
