"""The mapper: value maps and unsynced values, directions, templates, references, only-on-create, types."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import pytest

from tandem.mapper import Mapper, render_template
from tandem.mapping import Direction, MappingSet, parse_mapping_set
from tandem.store.hashing import content_hash

SPEC = {
    "entities": {
        "salesperson": {
            "crm_object": "User", "erp_type": "employee", "direction": "to_crm",
            "fields": [{"crm": "Email", "erp": "email"}],
        },
        "customer": {
            "crm_object": "Account", "erp_type": "customer", "direction": "both",
            "fields": [
                {"crm": "Name", "erp": "companyName"},
                {"crm": "OwnerId", "erp": "salesRep.internalId", "reference": "salesperson", "direction": "to_crm"},
                {"crm": "AccountNumber", "erp": "entityId", "only_on_create": True},
            ],
        },
        "task": {
            "crm_object": "Task", "erp_type": "task", "direction": "both",
            "fields": [
                {"crm": "Subject", "erp": "title", "direction": "to_crm", "template": "{{activity_subject}}",
                 "placeholder": "activity_subject"},
                {"crm": "Status", "erp": "status", "values": [["Not Started", "open"], ["Completed", "complete"]],
                 "not_synced": ["In Progress", "Waiting on someone else", "Deferred"]},
                {"crm": "Priority", "erp": "priority", "values": [["Normal", "normal"], ["High", "high"]],
                 "not_synced": ["Low"]},
                {"crm": "ActivityDate", "erp": "dueDate", "type": "date"},
                {"crm": "Description", "erp": "message"},
            ],
        },
    }
}


@pytest.fixture(scope="module")
def mappings() -> MappingSet:
    return parse_mapping_set(SPEC, "test.yaml")


def test_values_not_in_the_map_are_left_out_and_counted(mappings: MappingSet) -> None:
    crm_tasks = pd.DataFrame(
        {
            "id": ["00T1", "00T2", "00T3"],
            "Subject": ["Call", "Send quote", "Visit"],
            "Status": ["Completed", "In Progress", "Not Started"],
            "Priority": ["Low", "High", None],
            "ActivityDate": ["2024-05-01", None, "2024-06-30"],
            "Description": ["a", None, "c"],
        }
    )
    page = Mapper(mappings.entity("task"), Direction.TO_ERP).map_page(crm_tasks)
    assert page.source_ids == ["00T1", "00T2", "00T3"]
    assert page.records == [
        {"status": "complete", "dueDate": "2024-05-01", "message": "a"},  # Low priority not synced
        {"priority": "high", "dueDate": None, "message": None},  # In Progress not synced
        {"status": "open", "priority": None, "dueDate": "2024-06-30", "message": "c"},
    ]
    assert page.skipped_values == {"status": 1, "priority": 1}
    assert "title" not in str(page.records)  # Subject never travels to the ERP


def test_erp_values_map_back_and_the_subject_follows_the_template(mappings: MappingSet) -> None:
    erp_tasks = pd.DataFrame(
        {
            "id": ["11", "12"],
            "title": ["Call Acme", "Renewal"],
            "status": ["open", "complete"],
            "priority": ["normal", "high"],
            "dueDate": ["2024-05-01T00:00:00.000-07:00", "2024-05-02T10:00:00Z"],
            "message": ["x", "y"],
        }
    )
    task = mappings.entity("task")
    default = Mapper(task, Direction.TO_CRM).map_page(erp_tasks)
    assert [r["Subject"] for r in default.records] == ["Call Acme", "Renewal"]
    page = Mapper(task, Direction.TO_CRM, templates={"Subject": "Reminder: {{activity_subject}}"}).map_page(erp_tasks)
    assert [r["Subject"] for r in page.records] == ["Reminder: Call Acme", "Reminder: Renewal"]
    assert [(r["Status"], r["Priority"]) for r in page.records] == [("Not Started", "Normal"), ("Completed", "High")]
    assert [r["ActivityDate"] for r in page.records] == ["2024-05-01", "2024-05-02"]

    constant = Mapper(task, Direction.TO_CRM, templates={"Subject": "Follow up"})
    created = constant.map_page(erp_tasks)
    assert [r["Subject"] for r in created.records] == ["Follow up", "Follow up"]  # the template's text, on create
    retitled = erp_tasks.assign(title=["Call Acme again", "Renewal 2"])
    updated = constant.map_page(retitled, creating=pd.Series([False] * 2))
    assert all("Subject" not in r for r in updated.records)  # no placeholder: the title never updates Subject
    assert updated.hashes == created.hashes  # so a title change alone is not a change for the CRM


def test_unresolved_references_fail_alone_and_only_on_create_fields_wait(mappings: MappingSet) -> None:
    customers = pd.DataFrame(
        {
            "id": ["1", "2", "3"],
            "companyName": ["Acme", "Globex", "Initech"],
            "salesRep.internalId": ["7", "8", None],
            "entityId": ["C-1", "C-2", "C-3"],
        }
    )
    mapper = Mapper(mappings.entity("customer"), Direction.TO_CRM)
    page = mapper.map_page(
        customers, references={"salesperson": {"7": "005A"}}, creating=pd.Series([True, True, False])
    )
    assert page.source_ids == ["1", "3"]
    assert page.records == [
        {"Name": "Acme", "OwnerId": "005A", "AccountNumber": "C-1"},
        {"Name": "Initech", "OwnerId": None},
    ]
    assert [(f.source_id, f.code) for f in page.failures] == [("2", "UNRESOLVED_REFERENCE")]
    assert "salesperson" in page.failures[0].message and "Globex" not in page.failures[0].message


def test_a_missing_source_column_is_a_clear_error(mappings: MappingSet) -> None:
    with pytest.raises(KeyError, match="no column 'companyName' for field 'Name'"):
        Mapper(mappings.entity("customer"), Direction.TO_CRM).map_page(pd.DataFrame({"id": ["1"]}))
    with pytest.raises(ValueError, match="one way at a time"):
        Mapper(mappings.entity("customer"), Direction.BOTH)


def test_hashes_see_content_not_key_order(mappings: MappingSet) -> None:
    assert content_hash({"a": 1, "b": "x"}) == content_hash({"b": "x", "a": 1})
    assert content_hash({"a": 1}) != content_hash({"a": "1"})
    frame = pd.DataFrame({"id": ["1", "2"], "companyName": ["Acme", "Acme"], "salesRep.internalId": [None, None],
                          "entityId": ["C", "C"]})
    page = Mapper(mappings.entity("customer"), Direction.TO_CRM).map_page(frame)
    assert page.hashes[0] == page.hashes[1]
    assert render_template("{{a}} and {{ b }}", {"a": 1}) == "1 and "
    # A frame's empty cell (pandas 3 reads an empty text as NaN) is missing too, never the text "nan".
    empty = pd.DataFrame({"a": pd.array(["x", None], dtype="str")}).iloc[1].to_dict()
    assert render_template("[{{a}}]", empty) == "[]"
    assert render_template("[{{a}}]", {"a": float("nan")}) == render_template("[{{a}}]", {"a": pd.NA}) == "[]"


def test_an_unresolved_reference_can_be_omitted_instead_of_failing() -> None:
    spec = {
        "entities": {
            "salesperson": {"crm_object": "User", "erp_type": "employee", "direction": "to_crm",
                            "fields": [{"crm": "Email", "erp": "email"}]},
            "customer": {
                "crm_object": "Account", "erp_type": "customer", "direction": "to_crm",
                "fields": [
                    {"crm": "Name", "erp": "companyName"},
                    {"crm": "OwnerId", "erp": "salesRep.internalId", "reference": "salesperson", "unresolved": "omit"},
                ],
            },
        }
    }
    customer = parse_mapping_set(spec, "omit.yaml").entity("customer")
    frame = pd.DataFrame({"id": ["1", "2"], "companyName": ["Acme", "Globex"], "salesRep.internalId": ["7", "8"]})
    page = Mapper(customer, Direction.TO_CRM).map_page(frame, references={"salesperson": {"7": "005A"}})
    assert page.records == [{"Name": "Acme", "OwnerId": "005A"}, {"Name": "Globex"}]
    assert page.failures == [] and page.skipped_values == {"OwnerId": 1}


def test_a_reference_to_several_entities_tries_each() -> None:
    spec = {
        "entities": {
            "item": {"crm_object": "Product2", "erp_type": "inventoryItem", "direction": "to_crm",
                     "fields": [{"crm": "Name", "erp": "displayName"}]},
            "resource": {"crm_object": "Product2", "erp_type": "serviceItem", "direction": "to_crm",
                         "fields": [{"crm": "Name", "erp": "displayName"}]},
            "price": {"crm_object": "PricebookEntry", "erp_type": "itemPrice", "direction": "to_crm",
                      "fields": [{"crm": "Product2Id", "erp": "item.internalId", "reference": ["item", "resource"]}]},
        }
    }
    mappings = parse_mapping_set(spec, "multi.yaml")
    assert mappings.levels() == [["item", "resource"], ["price"]]
    frame = pd.DataFrame({"id": ["1", "2", "3"], "item.internalId": ["10", "20", "30"]})
    page = Mapper(mappings.entity("price"), Direction.TO_CRM).map_page(
        frame, references={"item": {"10": "01tA"}, "resource": {"20": "01tB"}}
    )
    assert page.records == [{"Product2Id": "01tA"}, {"Product2Id": "01tB"}]
    assert [f.source_id for f in page.failures] == ["3"]
    assert "item or resource" in page.failures[0].message


def test_fields_written_only_on_create_do_not_change_the_hash(mappings: MappingSet) -> None:
    frame = pd.DataFrame({"id": ["1"], "companyName": ["Acme"], "salesRep.internalId": [None], "entityId": ["C-1"]})
    mapper = Mapper(mappings.entity("customer"), Direction.TO_CRM)
    created = mapper.map_page(frame, creating=pd.Series([True]))
    updated = mapper.map_page(frame, creating=pd.Series([False]))
    assert "AccountNumber" in created.records[0] and "AccountNumber" not in updated.records[0]
    assert created.hashes == updated.hashes


def test_a_missing_value_of_a_value_mapped_field_stays_none(mappings: MappingSet) -> None:
    erp_tasks = pd.DataFrame({"id": ["1", "2"], "title": ["a", "b"], "status": ["complete", None],
                              "priority": [None, "high"], "dueDate": [None, None], "message": [None, None]})
    page = Mapper(mappings.entity("task"), Direction.TO_CRM).map_page(erp_tasks)
    assert [(r["Status"], r["Priority"]) for r in page.records] == [("Completed", None), (None, "High")]


TYPED = {
    "entities": {
        "visit": {
            "crm_object": "Visit__c", "erp_type": "visit", "direction": "both",
            "fields": [
                {"crm": "Due__c", "erp": "dueDate", "type": "date"},
                {"crm": "Starts__c", "erp": "startDate", "type": "datetime"},
                {"crm": "Hours__c", "erp": "hours", "type": "number"},
                {"crm": "Billable__c", "erp": "billable", "type": "boolean"},
                {"crm": "Name", "erp": "title"},
            ],
        }
    }
}


@pytest.fixture(scope="module")
def visit() -> Mapper:
    return Mapper(parse_mapping_set(TYPED, "typed.yaml").entity("visit"), Direction.TO_CRM)


def erp_visits(**columns: Sequence[object]) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base: dict[str, Sequence[object]] = {
        "id": [str(i + 1) for i in range(n)], "dueDate": [None] * n, "startDate": [None] * n, "hours": [None] * n,
        "billable": [None] * n, "title": [f"visit {i + 1}" for i in range(n)],
    }
    return pd.DataFrame({**base, **columns})


def test_dates_round_trip_exactly_over_the_whole_range_both_systems_accept() -> None:
    entity = parse_mapping_set(TYPED, "typed.yaml").entity("visit")
    # Salesforce's range (1700-01-01 to 4000-12-31) travels to the ERP and back unchanged.
    salesforce_dates = ["1700-01-01", "1899-12-31", "1970-01-01", "2024-02-29", "2026-02-28", "4000-12-31"]
    crm = pd.DataFrame({"id": [f"a0{i}" for i in range(6)], "Due__c": salesforce_dates, "Starts__c": [None] * 6,
                        "Hours__c": [None] * 6, "Billable__c": [None] * 6, "Name": ["v"] * 6})
    to_erp = Mapper(entity, Direction.TO_ERP).map_page(crm)
    assert to_erp.failures == [] and [r["dueDate"] for r in to_erp.records] == salesforce_dates
    # The ERP hands dates back as xsd:dateTime text (its emulator writes UTC with milliseconds).
    erp = erp_visits(dueDate=[f"{d}T00:00:00.000Z" for d in salesforce_dates])
    back = Mapper(entity, Direction.TO_CRM).map_page(erp)
    assert back.failures == [] and [r["Due__c"] for r in back.records] == salesforce_dates
    # The ERP's whole xsd range (years 0001-9999) is readable and written with four-digit years.
    extremes = pd.DataFrame({"id": ["a", "b"], "Due__c": ["0001-01-01", "9999-12-31"], "Starts__c": [None] * 2,
                             "Hours__c": [None] * 2, "Billable__c": [None] * 2, "Name": ["v"] * 2})
    page = Mapper(entity, Direction.TO_ERP).map_page(extremes)
    assert [r["dueDate"] for r in page.records] == ["0001-01-01", "9999-12-31"]


def test_a_date_the_target_cannot_hold_fails_that_record_alone(visit: Mapper) -> None:
    due = [
        "2026-02-28T00:00:00.000Z",  # fine
        "0001-01-01T00:00:00.000Z",  # a valid xsd:dateTime, before Salesforce's first date (was 2001-01-01!)
        "1-01-01T00:00:00.000Z",     # a year of fewer than four digits is no xsd:dateTime
        "1699-12-31",                # an xsd:date one day before Salesforce's range
        "4001-01-01T00:00:00Z",      # after it
        "2026-02-30",                # no such day
        "28/02/2026",                # not a format either system sends
        "2026-02-28T25:00:00Z",      # no such hour
        None, "", float("nan"),      # empty stays empty
        "2026-02-28T23:30:00-08:00", # the calendar date as written, not shifted to UTC
    ]
    page = visit.map_page(erp_visits(dueDate=due))
    failures = {f.source_id: f.code for f in page.failures}
    assert failures == {
        "2": "DATE_OUT_OF_RANGE", "3": "INVALID_DATE", "4": "DATE_OUT_OF_RANGE", "5": "DATE_OUT_OF_RANGE",
        "6": "INVALID_DATE", "7": "INVALID_DATE", "8": "INVALID_DATE",
    }
    assert page.source_ids == ["1", "9", "10", "11", "12"]
    assert [r["Due__c"] for r in page.records] == ["2026-02-28", None, None, None, "2026-02-28"]
    assert page.records[0]["Name"] == "visit 1"  # the rest of the page syncs
    out_of_range = next(f for f in page.failures if f.source_id == "2")
    assert "Due__c" in out_of_range.message and "dueDate" in out_of_range.message
    assert "1700-01-01 to 4000-12-31" in out_of_range.message
    for failure in page.failures:  # never the value
        assert "0001" not in failure.message and "28/02" not in failure.message and "2026-02-3" not in failure.message


def test_datetimes_are_parsed_with_their_zone_and_written_in_utc(visit: Mapper) -> None:
    starts = [
        "2026-02-28T10:15:30.123Z", "2026-02-28T01:00:00+02:00", "2026-02-28T10:15:30", "2026-02-28T10:15:30.1234567Z",
        "2026-02-28", "4000-12-31T00:00:00Z", "4000-12-31T00:00:01Z", "2026-02-28T10:15", "0001-01-01T00:30:00+01:00",
    ]
    page = visit.map_page(erp_visits(startDate=starts))
    assert [r["Starts__c"] for r in page.records] == [
        "2026-02-28T10:15:30.123Z", "2026-02-27T23:00:00.000Z", "2026-02-28T10:15:30.000Z",
        "2026-02-28T10:15:30.123Z", "2026-02-28T00:00:00.000Z", "4000-12-31T00:00:00.000Z",
    ]
    assert {f.source_id: f.code for f in page.failures} == {
        "7": "DATE_OUT_OF_RANGE", "8": "INVALID_DATE", "9": "DATE_OUT_OF_RANGE",
    }
    # Salesforce's own datetime form travels to the ERP as an xsd:dateTime in UTC.
    entity = parse_mapping_set(TYPED, "typed.yaml").entity("visit")
    crm = pd.DataFrame({"id": ["a0"], "Due__c": [None], "Starts__c": ["2026-02-28T10:15:30.000+0000"],
                        "Hours__c": [None], "Billable__c": [None], "Name": ["v"]})
    assert Mapper(entity, Direction.TO_ERP).map_page(crm).records[0]["startDate"] == "2026-02-28T10:15:30.000Z"


def test_date_and_datetime_objects_are_read_too(visit: Mapper) -> None:
    from datetime import UTC, date, datetime

    page = visit.map_page(erp_visits(dueDate=[date(1, 1, 1), date(2026, 2, 28), pd.Timestamp("2026-03-01T10:00Z")],
                                     startDate=[None, datetime(2026, 2, 28, 10, tzinfo=UTC), None]))
    assert [(f.source_id, f.code) for f in page.failures] == [("1", "DATE_OUT_OF_RANGE")]
    assert [(r["Due__c"], r["Starts__c"]) for r in page.records] == [
        ("2026-02-28", "2026-02-28T10:00:00.000Z"), ("2026-03-01", None),
    ]


def test_numbers_and_booleans_are_checked_not_coerced(visit: Mapper) -> None:
    hours = ["30", "-1.5", "1.2E3", 12, 2.5, None, "", "thirty", "inf", "NaN", "1,5", True]
    page = visit.map_page(erp_visits(hours=hours))
    assert {f.source_id: f.code for f in page.failures} == {
        "8": "INVALID_NUMBER", "9": "INVALID_NUMBER", "10": "INVALID_NUMBER", "11": "INVALID_NUMBER",
        "12": "INVALID_NUMBER",
    }
    values = [r["Hours__c"] for r in page.records]
    assert values == [30, -1.5, 1200.0, 12, 2.5, None, None]
    assert [type(v) for v in values[:5]] == [int, float, float, int, float]
    assert all("thirty" not in f.message and "Hours__c" in f.message for f in page.failures)
    flags = visit.map_page(erp_visits(billable=["true", "0", True, "FALSE", None, "maybe"]))
    assert [r["Billable__c"] for r in flags.records] == [True, False, True, False, None]
    assert [(f.source_id, f.code) for f in flags.failures] == [("6", "INVALID_BOOLEAN")]


def test_a_one_way_value_pair_maps_only_that_way() -> None:
    spec = {
        "entities": {
            "task": {
                "crm_object": "Task", "erp_type": "task", "direction": "both",
                "fields": [{"crm": "Status", "erp": "status",
                            "values": [["Not Started", "_notStarted"], ["In Progress", "_inProgress", "to_crm"]],
                            "not_synced": {"crm": ["In Progress"]}}],
            }
        }
    }
    task = parse_mapping_set(spec, "one-way.yaml").entity("task")
    erp = pd.DataFrame({"id": ["1", "2"], "status": ["_inProgress", "_notStarted"]})
    assert [r["Status"] for r in Mapper(task, Direction.TO_CRM).map_page(erp).records] == ["In Progress", "Not Started"]
    crm = pd.DataFrame({"id": ["00T1", "00T2"], "Status": ["In Progress", "Not Started"]})
    page = Mapper(task, Direction.TO_ERP).map_page(crm)
    assert page.records == [{}, {"status": "_notStarted"}] and page.skipped_values == {"status": 1}
