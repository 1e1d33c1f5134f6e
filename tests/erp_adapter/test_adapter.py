"""The ERP adapter against the running emulator: reads, writes, deletions, async jobs."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pandas as pd

from blocks.erp import ErpCredentials
from tandem.adapter import RecordAdapter
from tandem.erp.adapter import ErpAdapter
from tandem.erp.client import forget_documents
from tests.erp_adapter.conftest import calls, credentials_for
from tests.support.emulator import RunningEmulator

FIELDS = ["externalId", "companyName", "email", "salesRep"]


def customers(count: int, prefix: str = "C", start: int = 0) -> list[dict[str, Any]]:
    return [
        {"externalId": f"{prefix}{i:05d}", "companyName": f"Company {i}", "email": f"c{i}@example.com"}
        for i in range(start, start + count)
    ]


def emulator_now(erp: RunningEmulator) -> datetime:
    return datetime.fromisoformat(erp.control("GET", "clock")["now"].replace("Z", "+00:00"))


def test_changed_since_pages_through_search_more(adapter: ErpAdapter, erp: RunningEmulator) -> None:
    assert all(r.ok for r in adapter.upsert_batch("customer", "externalId", customers(12, "OLD")))
    erp.control("POST", "clock", json={"advance_seconds": 60})
    watermark = emulator_now(erp)
    assert all(r.ok for r in adapter.upsert_batch("customer", "externalId", customers(23, "NEW")))

    pages = list(adapter.read_changed_since("customer", watermark, fields=FIELDS, page_size=5))

    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    frame = pd.concat(pages, ignore_index=True)
    assert frame["id"].is_unique
    assert set(frame["externalId"]) == {f"NEW{i:05d}" for i in range(23)}
    assert frame["modified_at"].is_monotonic_increasing
    assert (frame["modified_at"] >= pd.Timestamp(watermark)).all()
    assert str(frame["modified_at"].dt.tz) == "UTC"
    assert {"salesRep.internalId", "salesRep.externalId", "salesRep.name"} <= set(frame.columns)
    assert calls(erp, "searchMoreWithId") == 4

    everything = pd.concat(adapter.read_changed_since("customer", None, fields=["companyName"], page_size=1000))
    assert len(everything) == 35


def test_references_flatten_and_round_trip(adapter: ErpAdapter) -> None:
    [rep] = adapter.upsert_batch("employee", "externalId", [{"externalId": "EMP1", "lastName": "Rep"}])
    records: list[dict[str, Any]] = [
        {"externalId": "R1", "companyName": "By internal id", "salesRep.internalId": rep.id},
        {"externalId": "R2", "companyName": "By external id", "salesRep.externalId": "EMP1"},
    ]
    assert all(r.ok for r in adapter.upsert_batch("customer", "externalId", records))

    frame = adapter.read_by_keys("customer", "externalId", ["R1", "R2"], fields=FIELDS)

    assert list(frame.sort_values("externalId")["salesRep.internalId"]) == [rep.id, rep.id]
    assert set(frame["salesRep.externalId"]) == {"EMP1"}


def test_read_by_keys(adapter: ErpAdapter) -> None:
    results = adapter.upsert_batch("customer", "externalId", customers(5))
    ids = [str(r.id) for r in results]

    by_external = adapter.read_by_keys("customer", "externalId", ["C00001", "C00003", "MISSING"], fields=FIELDS)
    by_internal = adapter.read_by_keys("customer", "internalId", [ids[0], "999999"], fields=["companyName"])

    assert sorted(by_external["externalId"]) == ["C00001", "C00003"]
    assert list(by_internal["id"]) == [ids[0]]
    assert list(by_internal["companyName"]) == ["Company 0"]


def test_upsert_created_then_updated_and_rerun_changes_nothing(adapter: ErpAdapter) -> None:
    batch = customers(7)
    first = adapter.upsert_batch("customer", "externalId", batch)
    before = adapter.read_by_keys("customer", "externalId", [r["externalId"] for r in batch], fields=FIELDS)

    second = adapter.upsert_batch("customer", "externalId", batch)
    after = adapter.read_by_keys("customer", "externalId", [r["externalId"] for r in batch], fields=FIELDS)

    assert [r.created for r in first] == [True] * 7 and all(r.ok for r in first)
    assert [r.created for r in second] == [False] * 7 and all(r.ok for r in second)
    assert [r.id for r in first] == [r.id for r in second]
    columns = ["id", "externalId", "companyName", "email"]
    pd.testing.assert_frame_equal(
        before[columns].sort_values("id").reset_index(drop=True),
        after[columns].sort_values("id").reset_index(drop=True),
    )


def test_mixed_batch_writes_the_good_and_reports_the_bad(adapter: ErpAdapter) -> None:
    batch: list[dict[str, Any]] = [
        {"externalId": "G1", "companyName": "Good one"},
        {"externalId": "B1", "email": "no-company@example.com"},
        {"externalId": "B2", "companyName": "Bad ref", "salesRep.internalId": "987654"},
        {"externalId": "B3", "companyName": "Unknown field", "favouriteColour": "blue"},
        {"externalId": "G2", "companyName": "Good two"},
        {"companyName": "No external id"},
        {"externalId": "B4", "companyName": "Wrong type", "creditLimit": "lots", "isInactive": "maybe"},
        {"externalId": "B5", "companyName": "Not a boolean", "isInactive": "perhaps"},
    ]

    results = adapter.upsert_batch("customer", "externalId", batch)

    assert [r.ok for r in results] == [True, False, False, False, True, False, False, False]
    codes = [r.error_code for r in results]
    assert codes[1] == "USER_ERROR" and codes[2] == "INVALID_KEY_OR_REF"
    assert codes[3] == "INVALID_FIELD" and "favouriteColour" in (results[3].error_message or "")
    assert codes[5] == "MISSING_EXTERNAL_ID"
    assert codes[6] == codes[7] == "INVALID_FIELD" and "creditLimit" in (results[6].error_message or "")
    assert "lots" not in (results[6].error_message or "") and "isInactive" in (results[7].error_message or "")
    assert all(r.error_message for r in results if not r.ok)
    assert "blue" not in (results[3].error_message or "")
    found = adapter.read_by_keys("customer", "externalId", ["G1", "G2", "B1", "B2", "B3", "B4"], fields=FIELDS)
    assert sorted(found["externalId"]) == ["G1", "G2"]


def test_delete_and_deletion_window(adapter: ErpAdapter, erp: RunningEmulator) -> None:
    results = adapter.upsert_batch("customer", "externalId", customers(4))
    start = emulator_now(erp) - timedelta(seconds=1)
    doomed = [str(results[0].id), str(results[1].id)]

    deleted = adapter.delete_batch("customer", [*doomed, doomed[0]])
    again = adapter.delete_batch("customer", doomed)
    window = adapter.read_deleted_since("customer", start, emulator_now(erp) + timedelta(seconds=1))

    assert all(r.ok for r in deleted) and [r.key for r in deleted] == [*doomed, doomed[0]]
    assert all(r.ok for r in again)
    assert sorted(d.id for d in window.records) == sorted(doomed)
    assert {d.external_id for d in window.records} == {"C00000", "C00001"}
    assert all(start <= d.deleted_at for d in window.records)
    assert adapter.read_deleted_since("task", start, emulator_now(erp)).records == []
    remaining = adapter.read_by_keys("customer", "internalId", [str(r.id) for r in results], fields=[])
    assert len(remaining) == 2


def test_large_upsert_goes_through_async_jobs(credentials: ErpCredentials, erp: RunningEmulator) -> None:
    adapter = credentials.model_copy(update={"async_upsert_threshold": 100}).get_client()
    batch = customers(450, "ASYNC")
    batch[17] = {"externalId": "ASYNC00017"}  # no companyName: fails alone

    results = adapter.upsert_batch("customer", "externalId", batch)

    assert len(results) == 450
    assert [r.key for r in results] == [r["externalId"] for r in batch]
    assert sum(r.ok for r in results) == 449 and results[17].error_code == "USER_ERROR"
    assert calls(erp, "asyncUpsertList") == 3 and not calls(erp, "upsertList")
    assert calls(erp, "getAsyncResult") == 3
    adapter.close()


def test_expired_search_resumes_without_loss_or_repeats(credentials: ErpCredentials, erp: RunningEmulator) -> None:
    offset = {"seconds": 0.0}
    connection = dataclasses.replace(credentials.connection(), clock=lambda: time.time() + offset["seconds"])
    adapter = ErpAdapter(connection)
    adapter.upsert_batch("customer", "externalId", customers(30))
    pages = adapter.read_changed_since("customer", None, fields=["externalId"], page_size=10)

    first = next(pages)
    offset["seconds"] = erp.control("POST", "clock", json={"advance_seconds": 16 * 60})["offset_seconds"]
    rest = list(pages)

    frame = pd.concat([first, *rest], ignore_index=True)
    assert sorted(frame["externalId"]) == [f"C{i:05d}" for i in range(30)]
    assert calls(erp, "search") == 2
    adapter.close()


def test_since_is_inclusive_and_naive_means_utc(adapter: ErpAdapter) -> None:
    adapter.upsert_batch("customer", "externalId", customers(3))
    newest = pd.concat(adapter.read_changed_since("customer", None, fields=[], page_size=5))["modified_at"].max()

    frame = pd.concat(
        adapter.read_changed_since("customer", newest.tz_convert(None).to_pydatetime(), fields=[], page_size=5)
    )

    assert len(frame) >= 1 and (frame["modified_at"] == newest).any()
    assert datetime.now(UTC) > newest


def test_a_key_repeated_in_one_batch_is_created_once(adapter: ErpAdapter) -> None:
    batch = [{"externalId": "TWICE", "companyName": "First"}, {"externalId": "TWICE", "companyName": "Second"}]

    results = adapter.upsert_batch("customer", "externalId", batch)

    assert [r.created for r in results] == [True, False] and results[0].id == results[1].id
    found = adapter.read_by_keys("customer", "externalId", ["TWICE"], fields=["companyName"])
    assert list(found["companyName"]) == ["Second"]


def test_local_wsdl_file_with_endpoint_override(erp: RunningEmulator) -> None:
    wsdl = Path(__file__).resolve().parents[2] / "emulators/erp/wsdl/wsdl/v2023_2_0/netsuite.wsdl"
    adapter = credentials_for(erp, wsdl_url=str(wsdl), endpoint_url=erp.info["endpoint"]).get_client()

    results = adapter.upsert_batch("customer", "externalId", customers(2))

    assert adapter.soap.address == erp.info["endpoint"] and all(r.ok for r in results)
    adapter.close()


def test_wsdl_is_loaded_once_per_process(credentials: ErpCredentials, erp: RunningEmulator) -> None:
    forget_documents()
    first, second = credentials.get_client(), credentials.get_client()

    assert calls(erp, "wsdl") == 1
    assert first.soap.zeep.wsdl is second.soap.zeep.wsdl
    first.close()
    second.close()


def test_is_a_record_adapter(adapter: ErpAdapter) -> None:
    protocol: RecordAdapter = adapter  # checked by mypy: the adapter satisfies the engine's protocol
    assert callable(protocol.read_deleted_since)


def test_values_read_as_text_write_back_faithfully(adapter: ErpAdapter) -> None:
    batch: list[dict[str, Any]] = [
        {"externalId": "T1", "companyName": "Inactive", "isInactive": "False", "creditLimit": "1500.5"},
        {"externalId": "T2", "companyName": "Active", "isInactive": True, "creditLimit": 20},
    ]
    assert all(r.ok for r in adapter.upsert_batch("customer", "externalId", batch))

    fields = ["externalId", "isInactive", "creditLimit"]
    frame = adapter.read_by_keys("customer", "externalId", ["T1", "T2"], fields=fields).sort_values("externalId")
    again = adapter.upsert_batch("customer", "externalId", cast(list[dict[str, Any]], frame.to_dict("records")))
    reread = adapter.read_by_keys("customer", "externalId", ["T1", "T2"], fields=fields).sort_values("externalId")

    assert list(frame["isInactive"]) == ["false", "true"] and list(frame["creditLimit"]) == ["1500.5", "20.0"]
    assert all(r.ok and not r.created for r in again)
    assert list(reread["isInactive"]) == ["false", "true"] and list(reread["creditLimit"]) == ["1500.5", "20.0"]
