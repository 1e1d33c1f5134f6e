"""The record protocol (:class:`tandem.adapter.RecordAdapter`), one suite for every system adapter.

Each test runs once per registered case (``tests/adapters/conftest.py``: ``CASES``), against that system's
emulator reset to no records.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from tests.adapters.conftest import AdapterCase


def _write(case: AdapterCase, *records: dict[str, object]) -> list[str]:
    results = case.adapter.upsert_batch(case.entity, case.link_field, list(records))
    assert all(r.ok for r in results), [r.error_message for r in results]
    return [str(r.id) for r in results]


def test_the_adapter_names_its_system_and_its_fields(case: AdapterCase) -> None:
    adapter = case.adapter
    assert adapter.system and adapter.id_field and adapter.created_field
    assert adapter.link_field in (None, case.link_field)
    names = adapter.field_names(case.entity)
    assert {case.link_field, case.text_field, case.clearable_field} <= set(names)


def test_changed_records_come_in_pages_oldest_first_from_the_watermark(case: AdapterCase) -> None:
    [first] = _write(case, case.record("P-1", "First"))
    case.advance(5)
    later = _write(case, case.record("P-2", "Second"), case.record("P-3", "Third"))
    fields = [case.link_field, case.text_field]
    pages = list(case.adapter.read_changed_since(case.entity, None, fields=fields, page_size=200))
    frame = pd.concat(pages, ignore_index=True)
    assert frame["id"].astype(str).tolist()[0] == first and set(frame["id"].astype(str)) == {first, *later}
    assert str(frame["modified_at"].dt.tz) == "UTC" and frame["modified_at"].is_monotonic_increasing
    assert sorted(frame[case.link_field]) == ["P-1", "P-2", "P-3"]
    mark = frame["modified_at"].max().to_pydatetime()
    since = pd.concat(list(case.adapter.read_changed_since(case.entity, mark, fields=fields, page_size=200)))
    assert set(since["id"].astype(str)) == set(later)  # at or after the watermark: never a strict ">"


def test_records_are_read_by_ids_and_by_keys(case: AdapterCase) -> None:
    ids = _write(case, case.record("K-1", "Alpha Ltd"), case.record("K-2", "Beta Ltd"))
    fields = [case.link_field, case.text_field, case.adapter.created_field]
    by_ids = case.adapter.read_by_ids(case.entity, [ids[1], *ids], fields=fields)
    assert sorted(by_ids["id"].astype(str)) == sorted(ids)
    assert by_ids[case.adapter.created_field].notna().all() and by_ids["modified_at"].notna().all()
    assert dict(zip(by_ids["id"].astype(str), by_ids[case.link_field], strict=True)) == {ids[0]: "K-1", ids[1]: "K-2"}
    by_link = case.adapter.read_by_keys(case.entity, case.link_field, ["K-2", "K-404"], fields=[case.text_field])
    assert by_link["id"].astype(str).tolist() == [ids[1]] and by_link[case.link_field].tolist() == ["K-2"]
    by_text = case.adapter.read_by_keys(case.entity, case.text_field, ["ALPHA LTD"], fields=[])
    assert by_text["id"].astype(str).tolist() == [ids[0]]  # a match key compares ignoring case


def test_an_upsert_by_the_link_key_is_idempotent(case: AdapterCase) -> None:
    record = case.record("U-1", "Once")
    first = case.adapter.upsert_batch(case.entity, case.link_field, [record])
    again = case.adapter.upsert_batch(case.entity, case.link_field, [record, case.record("U-2", "New")])
    assert first[0].ok and first[0].created and first[0].key == "U-1"
    assert [(r.key, r.id == first[0].id, r.created) for r in again[:1]] == [("U-1", True, False)]
    assert again[1].created and case.adapter.count(case.entity) == 2


def test_an_update_by_record_id_writes_and_clears_fields(case: AdapterCase) -> None:
    [record_id] = _write(case, case.record("D-1", "Before", clearable="555-0100"))
    results = case.adapter.update_batch(case.entity, [
        {"id": record_id, case.text_field: "After", case.clearable_field: None},
        {"id": "1" if record_id != "1" else "2", case.text_field: "Nobody"},
    ])
    assert results[0].ok and results[0].key == record_id
    assert not results[1].ok and results[1].error_code  # a missing record fails alone
    frame = case.adapter.read_by_ids(case.entity, [record_id], fields=[case.text_field, case.clearable_field])
    row = frame.astype(object).where(frame.notna(), None).to_dict("records")[0]
    assert (row[case.text_field], row[case.clearable_field]) == ("After", None)


def test_deletes_are_done_once_and_read_back_as_deletions(case: AdapterCase) -> None:
    start = case.now() - timedelta(minutes=5)
    ids = _write(case, case.record("X-1", "Doomed"), case.record("X-2", "Stays"))
    deleted = case.adapter.delete_batch(case.entity, [ids[0]])
    again = case.adapter.delete_batch(case.entity, [ids[0]])
    assert [(r.ok, r.key) for r in [*deleted, *again]] == [(True, ids[0]), (True, ids[0])]  # gone already: done
    case.advance(120)
    window = case.adapter.read_deleted_since(case.entity, start, case.now())
    assert [d.id for d in window.records] == [ids[0]]
    assert case.adapter.read_by_ids(case.entity, ids, fields=[])["id"].astype(str).tolist() == [ids[1]]


def test_record_ids_are_told_from_other_values(case: AdapterCase) -> None:
    [record_id] = _write(case, case.record("I-1", "Identified"))
    assert case.adapter.is_record_id(case.entity, record_id)
    for value in ("I-1", "", "not an id", record_id + "?"):
        assert not case.adapter.is_record_id(case.entity, value)


def test_count_and_holds_any(case: AdapterCase) -> None:
    assert case.adapter.count(case.entity) == 0
    assert not case.adapter.holds_any(case.entity, case.link_field)
    _write(case, case.record("H-1", "Held"), case.record("H-2", "Also held"))
    assert case.adapter.count(case.entity) == 2 and case.adapter.holds_any(case.entity, case.link_field)


def test_a_record_id_read_back_is_in_its_canonical_form(case: AdapterCase) -> None:
    [record_id] = _write(case, case.record("C-1", "Canonical"))
    assert case.adapter.canonical_id(case.entity, record_id) == record_id
    if len(record_id) == 18:  # a Salesforce id: its 15-character form comes back as the 18 reads return
        assert case.adapter.canonical_id(case.entity, record_id[:15]) == record_id
    assert case.adapter.deletion_granularity >= timedelta(0)


def test_a_small_pass_is_written_page_by_page(case: AdapterCase) -> None:
    assert case.adapter.gather_size(case.entity, 1) == 0
    assert case.adapter.gather_size(case.entity, 5_000) == 0
