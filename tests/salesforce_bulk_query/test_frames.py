"""Bulk API 2.0 query reads yield exactly the frames the REST query path yields, in a handful of calls."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
import pytest

from tandem.adapter import READ_TOTAL
from tandem.mapping import MAPPINGS_DIR, EntityMapping, load_mapping_set
from tandem.salesforce.adapter import SalesforceAdapter, records_to_frame
from tandem.salesforce.bulk_query import BulkQueryReader, converter
from tests.salesforce_bulk_query.conftest import adapter, calls
from tests.support.emulator import RunningEmulator

PAGE = 200
#: Values CSV must carry through unchanged: quotes, commas, line breaks, non-ASCII text, decimals, nulls.
AWKWARD_ACCOUNTS: list[dict[str, Any]] = [
    {"ERP_Id__c": "BQ-1", "Name": 'Quote "me", please', "Description": "two\nlines, and a comma",
     "NumberOfEmployees": None, "AnnualRevenue": 1234567.0, "Website": None},
    {"ERP_Id__c": "BQ-2", "Name": "Müller & Søn — Ünïcode", "Description": "crlf\r\nline", "NumberOfEmployees": 0,
     "AnnualRevenue": None, "Phone": "+49 89 1234"},
    {"ERP_Id__c": "BQ-3", "Name": "  spaces kept  ", "Description": "", "NumberOfEmployees": 7},
]


def crm_fields(entity: EntityMapping) -> list[str]:
    """Every CRM field a mapping reads or writes: its link key, fields, match keys, filters and lines' fields."""
    names = [entity.crm_key, *(f.crm for f in entity.fields), *(k.crm for group in entity.match_keys for k in group)]
    names += [c.field for c in entity.filters if c.side == "crm"]
    return list(dict.fromkeys([*names, "CreatedDate", "LastModifiedDate"]))


def objects_and_fields() -> dict[str, list[str]]:
    """Every Salesforce object of the default mappings with the union of the fields its entities use."""
    found: dict[str, list[str]] = {}
    for entity in load_mapping_set(MAPPINGS_DIR / "default.yaml").entities.values():
        found[entity.crm_object] = list(dict.fromkeys([*found.get(entity.crm_object, []), *crm_fields(entity)]))
        if entity.lines is not None:
            lines = [entity.lines.parent, *(f.crm for f in entity.lines.fields)]
            found[entity.lines.crm_object] = list(dict.fromkeys([*found.get(entity.lines.crm_object, []), *lines]))
    return found


def assert_same_frames(rest: list[pd.DataFrame], bulk: list[pd.DataFrame]) -> None:
    """The same frames, one for one: values, dtypes, column order and the read's total."""
    assert [len(frame) for frame in bulk] == [len(frame) for frame in rest]
    for rest_frame, bulk_frame in zip(rest, bulk, strict=True):
        pd.testing.assert_frame_equal(bulk_frame, rest_frame, check_dtype=True, check_exact=True)
        assert bulk_frame.attrs.get(READ_TOTAL) == rest_frame.attrs.get(READ_TOTAL)


def rest_read(emulator: RunningEmulator, entity: str, fields: list[str], **kwargs: Any) -> list[pd.DataFrame]:
    """The frames of a read through REST alone."""
    reader = adapter(emulator, page_size=PAGE, bulk_read_threshold=0)
    return list(reader.read_changed_since(entity, kwargs.get("since"), fields=fields))


def add_awkward_records(emulator: RunningEmulator) -> None:
    """Accounts with awkward values, and a contact without an account (a null parent)."""
    writer = adapter(emulator)
    assert all(r.ok for r in writer.upsert_batch("Account", "ERP_Id__c", AWKWARD_ACCOUNTS))
    assert all(r.ok for r in writer.upsert_batch("Contact", "ERP_Id__c", [{"ERP_Id__c": "BQ-C", "LastName": "Alone"}]))


def test_every_field_tandem_maps_reads_the_same_through_a_query_job(org: RunningEmulator) -> None:
    add_awkward_records(org)
    client = adapter(org)
    # 70 records a results page: several pages, each followed to the next by its Sforce-Locator
    reader = BulkQueryReader(client._call, client._described, records_to_frame, timeout=60, max_records=70)
    checked = 0
    for entity, fields in objects_and_fields().items():
        rest = rest_read(org, entity, fields)
        total = rest[0].attrs[READ_TOTAL] if rest else 0
        frames = reader.read(entity, fields, since=None, page_size=PAGE, total=total)
        assert frames is not None, entity
        assert_same_frames(rest, list(frames))
        checked += sum(len(frame) for frame in rest)
    assert checked > 1_000  # the demo org holds records of every mapped object


def test_a_large_read_goes_on_through_one_query_job(org: RunningEmulator) -> None:
    add_awkward_records(org)
    fields = objects_and_fields()["Account"]
    rest = rest_read(org, "Account", fields)
    assert rest[0].attrs[READ_TOTAL] > PAGE
    org.control("DELETE", "counters")

    bulk = list(adapter(org, page_size=PAGE, bulk_read_threshold=PAGE).read_changed_since(
        "Account", None, fields=fields))

    assert_same_frames(rest, bulk)
    made = calls(org)
    # the first REST page gives the total; the rest is one job: created, polled, its results read
    assert made["query"] == 1 and "queryMore" not in made, made
    assert made["bulk2.query.create"] == 1 and made["bulk2.query.results"] == 1, made
    assert made["bulk2.query.get"] <= 3, made


def test_an_incremental_read_through_a_query_job_starts_at_its_watermark(org: RunningEmulator) -> None:
    writer = adapter(org)
    more = [{"ERP_Id__c": f"BQ-N{i:04d}", "Name": f"New {i}", "NumberOfEmployees": i} for i in range(600)]
    assert all(r.ok for r in writer.upsert_batch("Account", "ERP_Id__c", more))
    fields = ["Name", "NumberOfEmployees", "Owner.Name", "ERP_Id__c"]
    everything = pd.concat(rest_read(org, "Account", fields), ignore_index=True)
    since = everything["modified_at"].iloc[len(everything) // 3].to_pydatetime()
    rest = rest_read(org, "Account", fields, since=since)
    assert sum(len(frame) for frame in rest) > 2 * PAGE
    org.control("DELETE", "counters")

    bulk = list(adapter(org, page_size=PAGE, bulk_read_threshold=1).read_changed_since(
        "Account", since, fields=fields))

    assert_same_frames(rest, bulk)
    assert calls(org)["bulk2.query.create"] == 1


@pytest.mark.parametrize("threshold", [0, None, 10_000])
def test_reads_at_or_below_the_threshold_stay_on_rest(org: RunningEmulator, threshold: int | None) -> None:
    client = SalesforceAdapter(adapter(org).sf, page_size=PAGE, bulk_read_threshold=threshold)
    org.control("DELETE", "counters")

    pages = list(client.read_changed_since("Account", None, fields=["Name"]))

    assert len(pages) > 1
    assert not any(name.startswith("bulk2") for name in calls(org))


def test_a_query_job_salesforce_refuses_leaves_the_read_to_rest(org: RunningEmulator) -> None:
    # Bulk API 2.0 refuses compound fields ("Selecting compound data not supported in Bulk Query"); REST serves them
    fields = ["Name", "BillingAddress"]
    rest = rest_read(org, "Account", fields)
    org.control("DELETE", "counters")

    pages = list(adapter(org, page_size=PAGE, bulk_read_threshold=1).read_changed_since("Account", None, fields=fields))

    assert_same_frames(rest, pages)
    made = calls(org)
    assert made["bulk2.query.create"] == 1 and "bulk2.query.results" not in made, made
    assert made["queryMore"] == len(rest) - 1, made


def test_a_negative_threshold_is_refused(org: RunningEmulator) -> None:
    with pytest.raises(ValueError, match="bulk_read_threshold"):
        SalesforceAdapter(adapter(org).sf, bulk_read_threshold=-1)


@pytest.mark.parametrize(
    ("field_type", "text", "value"),
    [
        ("boolean", "true", True),
        ("boolean", "false", False),
        ("int", "42", 42),
        ("double", "1.5E7", 15_000_000.0),
        ("currency", "12.50", 12.5),
        ("percent", "30", 30.0),
        ("datetime", "2026-12-06T05:57:27.000Z", "2026-12-06T05:57:27.000+0000"),
        ("datetime", "2026-12-06T05:57:27.000+0000", "2026-12-06T05:57:27.000+0000"),
        ("date", "2026-12-06", "2026-12-06"),
        ("picklist", "Hot", "Hot"),
    ],
)
def test_csv_values_become_what_rest_json_carries(field_type: str, text: str, value: Any) -> None:
    converted = converter(field_type)(text)
    assert converted == value and type(converted) is type(value)


def test_bulk_datetimes_in_z_form_parse_as_rest_datetimes() -> None:
    def frame(stamps: Iterable[str]) -> pd.DataFrame:
        return records_to_frame([{"Id": "001", "SystemModstamp": s} for s in stamps], [])

    z = frame([converter("datetime")("2026-12-06T05:57:27.123Z")])
    rest = frame(["2026-12-06T05:57:27.123+0000"])
    pd.testing.assert_frame_equal(z, rest)
