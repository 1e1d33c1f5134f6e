"""The HubSpot adapter's protocol methods against the HubSpot emulator (CRM API v3 over HTTP)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from tandem.adapter import READ_TOTAL, RecordAdapter
from tandem.errors import FatalSyncError
from tandem.hubspot.adapter import HubSpotAdapter, association_target, property_value
from tests.hubspot_adapter.conftest import LINK, companies, credentials
from tests.support.emulator import RunningEmulator, start_emulator


def test_the_adapter_offers_the_engine_protocol(adapter: HubSpotAdapter) -> None:
    engine_side: RecordAdapter = adapter
    assert (engine_side.system, engine_side.link_field) == ("HubSpot", None)
    assert (engine_side.created_field, engine_side.id_field) == ("createdate", "hs_object_id")
    assert adapter.is_record_id("contacts", "1501") and not adapter.is_record_id("contacts", "003ABC")
    assert adapter.record_url("contacts", "1501") == (
        f"https://app.hubspot.com/contacts/{adapter.portal_id}/record/0-1/1501")


def test_upsert_creates_then_updates_by_the_unique_property(adapter: HubSpotAdapter) -> None:
    first = adapter.upsert_batch("companies", LINK, companies(3))
    assert [r.key for r in first] == ["C00000", "C00001", "C00002"]
    assert all(r.ok and r.created and r.id and r.id.isdigit() for r in first)

    changed = [{LINK: "C00001", "name": "Renamed", "phone": None}, *companies(1, start=3)]
    second = adapter.upsert_batch("companies", LINK, changed)
    assert [(r.key, r.created, r.ok) for r in second] == [("C00001", False, True), ("C00003", True, True)]
    assert second[0].id == first[1].id

    frame = adapter.read_by_ids("companies", [first[1].id or "", "999999999"], fields=["name", "phone", LINK])
    assert frame[["name", LINK]].to_dict("records") == [{"name": "Renamed", LINK: "C00001"}]
    assert pd.isna(frame["phone"].iloc[0]) or frame["phone"].iloc[0] == ""  # None cleared the property
    assert adapter.count("companies") == 4


def test_a_record_without_its_key_fails_alone(adapter: HubSpotAdapter) -> None:
    results = adapter.upsert_batch("companies", LINK, [{LINK: None, "name": "No key"}, *companies(1)])
    assert [r.error_code for r in results] == ["MISSING_EXTERNAL_ID", None]


def test_read_by_keys_by_link_property_by_text_and_by_id(adapter: HubSpotAdapter) -> None:
    written = adapter.upsert_batch("companies", LINK, companies(4))
    by_link = adapter.read_by_keys("companies", LINK, ["C00001", "C00003", "NOPE"], fields=["name"])
    assert sorted(by_link[LINK]) == ["C00001", "C00003"]
    assert {"id", "modified_at", LINK, "name"} <= set(by_link.columns)

    by_text = adapter.read_by_keys("companies", "name", ["company c2", "COMPANY C0"], fields=[LINK])
    assert sorted(by_text["name"]) == ["Company C0", "Company C2"]  # HubSpot compares text ignoring case

    by_id = adapter.read_by_keys("companies", "hs_object_id", [written[2].id or ""], fields=["name"])
    assert by_id["hs_object_id"].tolist() == [written[2].id]
    assert by_id["name"].tolist() == ["Company C2"]


def test_read_changed_since_pages_oldest_first_past_a_page(adapter: HubSpotAdapter) -> None:
    start = datetime.now(UTC) - timedelta(seconds=5)
    adapter.upsert_batch("companies", LINK, companies(7))
    pages = list(adapter.read_changed_since("companies", start, fields=["name", LINK, "createdate"], page_size=3))
    assert [len(p) for p in pages] == [3, 3, 1]
    assert pages[0].attrs[READ_TOTAL] == 7
    rows = [row for page in pages for row in page.to_dict("records")]
    assert len({r["id"] for r in rows}) == 7
    stamps = [r["modified_at"] for r in rows]
    assert stamps == sorted(stamps) and all(s.tzinfo is not None for s in stamps)
    assert all(r["createdate"] for r in rows)
    later = max(stamps) + timedelta(seconds=1)
    assert list(adapter.read_changed_since("companies", later, fields=["name"], page_size=3)) == []


def test_a_read_past_the_search_result_limit_searches_again_from_the_last_time(
    emulator: RunningEmulator, adapter: HubSpotAdapter,
) -> None:
    # Records written in two batches share modified times: the search started again must neither lose nor repeat
    # them. The limit is lowered in the adapter so that a few records cross it.
    adapter.upsert_batch("companies", LINK, companies(5))
    emulator.control("POST", "clock", json={"advance_seconds": 1})
    adapter.upsert_batch("companies", LINK, companies(5, start=5))
    limited = HubSpotAdapter(adapter.transport, page_size=2, search_result_limit=6)
    ids = [i for page in limited.read_changed_since("companies", None, fields=["name"]) for i in page["id"]]
    assert len(ids) == 10 and len(set(ids)) == 10

    # More records sharing one modified time than one search can page through: an error, never a silent loss.
    too_low = HubSpotAdapter(adapter.transport, page_size=2, search_result_limit=4)
    with pytest.raises(FatalSyncError) as raised:
        list(too_low.read_changed_since("companies", None, fields=["name"]))
    assert raised.value.code == "SEARCH_LIMIT"


def test_update_batch_by_id_with_a_missing_record_failing_alone(adapter: HubSpotAdapter) -> None:
    written = adapter.upsert_batch("companies", LINK, companies(2))
    ids = [r.id or "" for r in written]
    results = adapter.update_batch("companies", [
        {"id": ids[0], "name": "First"}, {"id": "987654321", "name": "Ghost"}, {"id": ids[1], "phone": None},
    ])
    assert [(r.key, r.ok) for r in results] == [(ids[0], True), ("987654321", False), (ids[1], True)]
    assert results[1].error_code == "OBJECT_NOT_FOUND"
    frame = adapter.read_by_ids("companies", ids, fields=["name", "phone"]).set_index("id")
    assert frame.loc[ids[0], "name"] == "First"
    assert pd.isna(frame.loc[ids[1], "phone"]) or frame.loc[ids[1], "phone"] == ""


def test_a_batch_refused_whole_for_one_bad_record_fails_only_that_record(adapter: HubSpotAdapter) -> None:
    records = [
        {LINK: "T1", "hs_task_subject": "Call", "hs_timestamp": "2026-12-01T10:00:00Z",
         "hs_task_status": "NOT_STARTED"},
        {LINK: "T2", "hs_task_subject": "Bad", "hs_timestamp": "2026-12-01T10:00:00Z", "hs_task_status": "BOGUS"},
        {LINK: "T3", "hs_task_subject": "Mail", "hs_timestamp": "2026-12-02T10:00:00Z", "hs_task_priority": "HIGH"},
    ]
    results = adapter.upsert_batch("tasks", LINK, records)
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].key == "T2" and results[1].error_code == "VALIDATION_ERROR"
    assert results[1].error_message
    assert adapter.count("tasks") == 2


def test_batches_of_more_than_a_hundred_are_split(adapter: HubSpotAdapter) -> None:
    results = adapter.upsert_batch("companies", LINK, companies(230))
    assert len(results) == 230 and all(r.ok and r.created for r in results)
    ids = [r.id or "" for r in results]
    assert len(adapter.read_by_ids("companies", ids, fields=["name"])) == 230
    assert adapter.count("companies") == 230


def test_delete_batch_and_read_deleted_since(emulator: RunningEmulator, adapter: HubSpotAdapter) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    written = adapter.upsert_batch("companies", LINK, companies(3))
    gone = [written[0].id or "", written[2].id or ""]
    results = adapter.delete_batch("companies", [*gone, "123456789"])
    assert all(r.ok for r in results) and [r.key for r in results] == [*gone, "123456789"]
    assert adapter.count("companies") == 1
    window = adapter.read_deleted_since("companies", before, datetime.now(UTC) + timedelta(seconds=5))
    assert sorted(r.id for r in window.records) == sorted(gone)
    assert window.earliest_available is not None and window.earliest_available < before
    assert adapter.read_deleted_since("companies", before - timedelta(days=2), before).records == []


def test_field_names_and_holds_any(adapter: HubSpotAdapter) -> None:
    names = adapter.field_names("contacts")
    assert {"email", "firstname", LINK, "createdate", "association:companies"} <= names
    assert "association:contacts" in adapter.field_names("tasks") and "createdate" in adapter.field_names("tasks")
    assert not adapter.holds_any("companies", LINK)
    adapter.upsert_batch("companies", LINK, companies(1))
    assert adapter.holds_any("companies", LINK)
    assert not adapter.holds_any("companies", "description")


def test_association_pseudo_fields_read_and_write_the_contacts_company(adapter: HubSpotAdapter) -> None:
    acme, globex = (r.id or "" for r in adapter.upsert_batch("companies", LINK, companies(2)))
    contacts = [
        {LINK: "P1", "email": "ada@example.com", "lastname": "Lovelace", "association:companies": acme},
        {LINK: "P2", "email": "alan@example.com", "lastname": "Turing"},
    ]
    written = adapter.upsert_batch("contacts", LINK, contacts)
    assert all(r.ok for r in written)
    ids = [r.id or "" for r in written]

    def companies_of() -> dict[str, str | None]:
        frame = adapter.read_by_ids("contacts", ids, fields=["association:companies", "email"])
        return {email: None if pd.isna(company) else company
                for email, company in zip(frame["email"], frame["association:companies"], strict=True)}

    assert companies_of() == {"ada@example.com": acme, "alan@example.com": None}
    adapter.update_batch("contacts", [{"id": ids[0], "association:companies": globex},
                                      {"id": ids[1], "association:companies": acme}])
    assert companies_of() == {"ada@example.com": globex, "alan@example.com": acme}
    adapter.update_batch("contacts", [{"id": ids[0], "association:companies": None}])
    assert companies_of() == {"ada@example.com": None, "alan@example.com": acme}
    # Written as the contact's primary company: HubSpot shows it as such (associatedcompanyid).
    frame = adapter.read_by_ids("contacts", [ids[1]], fields=["associatedcompanyid"])
    assert frame["associatedcompanyid"].tolist() == [acme]


def test_an_association_to_a_missing_record_fails_that_record(adapter: HubSpotAdapter) -> None:
    results = adapter.upsert_batch("contacts", LINK, [
        {LINK: "P1", "email": "ada@example.com", "association:companies": "999999999"},
        {LINK: "P2", "email": "alan@example.com"},
    ])
    assert [r.ok for r in results] == [False, True]
    assert results[0].error_code == "OBJECT_NOT_FOUND" and results[0].key == "P1"


@pytest.mark.parametrize("entity", ["companies", "contacts", "products", "tasks"])
def test_every_synced_object_reads_with_its_own_modified_and_created_properties(
    adapter: HubSpotAdapter, entity: str,
) -> None:
    record = {LINK: "K1", "hs_timestamp": "2026-12-01T10:00:00Z"} if entity == "tasks" else {LINK: "K1"}
    assert adapter.upsert_batch(entity, LINK, [record])[0].ok
    (page,) = list(adapter.read_changed_since(entity, None, fields=[LINK, "createdate"], page_size=10))
    assert page[LINK].tolist() == ["K1"]
    assert page["modified_at"].notna().all() and page["createdate"].notna().all()


def test_values_are_written_as_hubspot_property_text() -> None:
    assert property_value(None) == "" and property_value(float("nan")) == "" and property_value(pd.NA) == ""
    assert property_value(True) == "true" and property_value(12.5) == "12.5"
    assert property_value(datetime(2026, 12, 1, 10, 0, tzinfo=UTC)) == "2026-12-01T10:00:00.000Z"
    assert property_value(datetime(2026, 12, 1, 10, 0)) == "2026-12-01T10:00:00.000Z"  # naive: taken as UTC
    assert property_value(date(2026, 12, 1)) == "2026-12-01"
    assert association_target("association:companies") == "companies" and association_target("company") is None


def test_a_contact_whose_email_another_contact_has_fails_with_hubspots_conflict(adapter: HubSpotAdapter) -> None:
    assert adapter.upsert_batch("contacts", LINK, [{LINK: "P1", "email": "ada@example.com"}])[0].ok
    results = adapter.upsert_batch("contacts", LINK, [
        {LINK: "P2", "email": "ada@example.com", "lastname": "Byron"}, {LINK: "P3", "email": "alan@example.com"},
    ])
    assert [(r.key, r.error_code) for r in results] == [("P2", "CONFLICT"), ("P3", None)]
    message = results[0].error_message or ""
    assert message and not message.startswith("CONFLICT") and "ada@example.com" not in message  # value redacted


def test_organization_is_the_portal_and_its_account_type(
    emulator: RunningEmulator, adapter: HubSpotAdapter, tmp_path_factory: pytest.TempPathFactory
) -> None:
    assert adapter.organization() == (str(emulator.info["portal_id"]), False)
    sandbox = start_emulator("hubspot", tmp_path_factory.mktemp("hs-sandbox"), "--seed", "none",
                             "--account-type", "SANDBOX")
    try:
        assert credentials(sandbox).get_client().organization() == (str(sandbox.info["portal_id"]), True)
    finally:
        sandbox.stop()
