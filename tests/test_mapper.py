"""The mapper: value maps and unsynced values, directions, templates, references, only-on-create, types."""

from __future__ import annotations

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
