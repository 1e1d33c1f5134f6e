"""Every picklist and enum value of both systems has a stated rule in the shipped mappings.

The value lists are the emulators' own declarations: the Salesforce emulator's ``schema.yaml``
(what its describe reports as ``picklistValues``) and the ERP emulator's XSD enumerations (what its
WSDL declares). A value added to either system without a rule in ``mappings/default.yaml`` fails here.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from emulators.erp.schema import FieldKind, record_specs
from emulators.salesforce.schema import load_schema
from tandem.mapping import (
    MAPPINGS_DIR,
    Direction,
    MappingError,
    MappingSet,
    ValueCatalog,
    check_value_rules,
    load_mapping_set,
    parse_mapping_set,
)


def declared_values(mappings: MappingSet) -> dict[tuple[str, str, str], frozenset[str]]:
    """The picklist values of every CRM field and the enum values of every ERP field the mappings use."""
    crm = load_schema()
    erp = record_specs()
    catalog: dict[tuple[str, str, str], frozenset[str]] = {}
    for entity in mappings.entities.values():
        for field in entity.fields:
            crm_field = crm.objects[entity.crm_object].fields.get(field.crm)
            if crm_field is not None and crm_field.picklist_values:
                catalog[("crm", entity.crm_object, field.crm)] = frozenset(crm_field.picklist_values)
            erp_name = field.erp.split(".")[0]
            erp_spec = erp.get(entity.erp_type)  # None for the adapter's virtual itemPrice (no enumerations)
            erp_field = erp_spec.by_name.get(erp_name) if erp_spec is not None else None
            if erp_field is not None and (erp_field.kind is FieldKind.ENUM or erp_field.choices):  # or a custom list
                catalog[("erp", entity.erp_type, erp_name)] = erp_field.choices
    return catalog


@pytest.fixture(scope="module")
def shipped() -> MappingSet:
    return load_mapping_set(MAPPINGS_DIR / "default.yaml")


def test_every_value_of_both_systems_has_a_rule_in_the_shipped_mappings(shipped: MappingSet) -> None:
    catalog = declared_values(shipped)
    # The value-mapped fields whose sides declare their values (the price currency is an ERP record).
    assert ("erp", "task", "status") in catalog and ("crm", "Task", "Status") in catalog
    assert ("erp", "task", "priority") in catalog
    assert ("erp", "customrecord_contract", "custrecord_contract_status") in catalog  # a custom list's values
    assert ("erp", "salesOrder", "orderStatus") in catalog and ("crm", "PricebookEntry", "CurrencyIsoCode") in catalog
    check_value_rules(shipped, catalog)


def test_the_task_rules_per_value(shipped: MappingSet) -> None:
    task = shipped.entity("task")
    status = next(f for f in task.fields if f.crm == "Status")
    priority = next(f for f in task.fields if f.crm == "Priority")
    both = Direction.BOTH
    assert status.value_map(Direction.TO_CRM, both) == {
        "_notStarted": "Not Started", "_completed": "Completed", "_inProgress": "In Progress", "_deferred": "Deferred",
    }
    assert status.value_map(Direction.TO_ERP, both) == {"Not Started": "_notStarted", "Completed": "_completed"}
    assert set(status.not_synced.crm) == {"In Progress", "Waiting on someone else", "Deferred"}
    assert priority.value_map(Direction.TO_CRM, both) == {"_medium": "Normal", "_high": "High", "_low": "Low"}
    assert priority.value_map(Direction.TO_ERP, both) == {"Normal": "_medium", "High": "_high"}
    assert priority.not_synced.crm == ["Low"]


def test_a_value_without_a_rule_is_named(shipped: MappingSet) -> None:
    catalog: dict[tuple[str, str, str], frozenset[str]] = dict(declared_values(shipped))
    grown = dict(catalog)
    grown[("erp", "task", "status")] = catalog[("erp", "task", "status")] | {"_waiting"}
    with pytest.raises(MappingError, match=r"entity 'task', field 'Status': the ERP value\(s\) \['_waiting'\] of "
                                           r"task.status have no rule"):
        check_value_rules(shipped, grown)
    grown = dict(catalog)
    grown[("crm", "ERP_Contract__c", "Status__c")] = catalog[("crm", "ERP_Contract__c", "Status__c")] | {"On Hold"}
    with pytest.raises(MappingError, match=r"entity 'contract', field 'Status__c': the CRM value\(s\) \['On Hold'\]"):
        check_value_rules(shipped, grown)
    shrunk = dict(catalog)
    shrunk[("crm", "Task", "Priority")] = frozenset({"High", "Normal"})
    with pytest.raises(MappingError, match=r"Task.Priority has no value\(s\) \['Low'\]"):
        check_value_rules(shipped, shrunk)


SPEC: dict[str, Any] = {
    "entities": {
        "task": {
            "crm_object": "Task", "erp_type": "task", "direction": "both",
            "fields": [
                {"crm": "Status", "erp": "status",
                 "values": [["Not Started", "open"], ["Completed", "done"], ["In Progress", "busy", "to_crm"]],
                 "not_synced": {"crm": ["In Progress", "Waiting"]}},
                {"crm": "Subject", "erp": "title"},
            ],
        },
        "order": {
            "crm_object": "Order__c", "erp_type": "salesOrder", "direction": "to_crm",
            "fields": [
                {"crm": "Status__c", "erp": "orderStatus",
                 "values": [["Open", "pending"], ["Open", "partial"], ["Billed", "billed"]],
                 "not_synced": {"erp": ["waiting"], "crm": ["Suspended"]}},
            ],
        },
    }
}

CATALOG: ValueCatalog = {
    ("crm", "Task", "Status"): {"Not Started", "Completed", "In Progress", "Waiting"},
    ("erp", "task", "status"): {"open", "done", "busy"},
    ("crm", "Order__c", "Status__c"): {"Open", "Billed", "Suspended"},
    ("erp", "salesOrder", "orderStatus"): {"pending", "partial", "billed", "waiting"},
}


def test_one_way_pairs_many_to_one_and_not_synced_per_side() -> None:
    mappings = parse_mapping_set(SPEC, "rules.yaml")
    check_value_rules(mappings, CATALOG)
    order = mappings.entity("order").fields[0]
    assert order.value_map(Direction.TO_CRM, Direction.TO_CRM) == {"pending": "Open", "partial": "Open",
                                                                   "billed": "Billed"}
    assert order.not_synced.erp == ["waiting"]
    # An ERP enumeration mapped without a value map has no rule for any of its values.
    text_field = {**CATALOG, ("erp", "task", "title"): {"a", "b"}}
    with pytest.raises(MappingError, match="field 'Subject': the ERP field 'title' is an enumeration"):
        check_value_rules(mappings, text_field)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # the CRM's In Progress travels ERP -> CRM only: CRM -> ERP it needs a rule of its own
        (lambda s: s["task"]["fields"][0].update(not_synced={"crm": ["Waiting"]}),
         "field 'Status': the CRM value(s) ['In Progress'] have no rule for to_erp"),
        (lambda s: s["task"]["fields"][0]["values"].append(["Waiting", "busy", "to_crm"]),
         "field 'Status': the value 'busy' is mapped twice (it must map back one way)"),
        (lambda s: s["task"]["fields"][0]["values"].append(["Not Started", "later", "to_erp"]),
         "field 'Status': the value 'Not Started' is mapped twice"),
        (lambda s: s["order"]["fields"][0]["values"].append(["Billed", "billed2", "to_erp"]),
         "field 'Status__c': the pair ['Billed', 'billed2'] travels to_erp, but the field travels to_crm"),
        (lambda s: s["order"]["fields"][0]["values"].append(["Billed", "billed2", "sideways"]),
         "field 'Status__c', values.3.direction: Input should be 'to_crm', 'to_erp' or 'both'"),
        (lambda s: s["order"]["fields"][0]["values"].append(["Billed"]),
         "field 'Status__c', values.3: Value error, a value pair is [crm value, erp value]"),
        (lambda s: s["order"]["fields"][0].update(not_synced={"erp": ["billed"]}),
         "field 'Status__c': ['billed'] is both mapped and listed as not synced"),
        (lambda s: s["order"]["fields"][0].update(not_synced={"erp": ["waiting"], "nope": ["x"]}),
         "field 'Status__c', not_synced.nope: Extra inputs are not permitted"),
        (lambda s: s["task"]["fields"][1].update(not_synced={"erp": ["x"]}),
         "field 'Subject': not_synced needs a value map ('values')"),
    ],
)
def test_invalid_value_rules_are_named(change: Callable[[dict[str, Any]], None], message: str) -> None:
    spec = copy.deepcopy(SPEC)
    change(spec["entities"])
    with pytest.raises(MappingError) as caught:
        parse_mapping_set(spec, "rules.yaml")
    assert str(caught.value).startswith("rules.yaml: entity ")
    assert message in str(caught.value)


def test_the_docs_state_a_rule_for_each_task_value() -> None:
    page = (Path(__file__).resolve().parents[1] / "docs" / "mappings.md").read_text()
    section = page.split("## Reminder tasks (the Sales Connect rules)")[1].split("\n## ")[0]
    for value in ("_inProgress", "_deferred", "_low", "Waiting on someone else", "DATE_OUT_OF_RANGE", "INVALID_DATE"):
        assert value in section, value
