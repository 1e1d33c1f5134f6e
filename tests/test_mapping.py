"""Mapping files: loading, dependency order, and every validation error naming file, entity and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from tandem.mapping import Direction, MappingError, check_fields_exist, load_mapping_set

VALID = """
name: sample
entities:
  currency:
    crm_object: CurrencyType
    erp_type: currency
    direction: to_crm
    match_keys: [[{crm: IsoCode, erp: symbol}]]
    fields:
      - {crm: IsoCode, erp: symbol}
  salesperson:
    crm_object: User
    erp_type: employee
    direction: to_crm
    fields:
      - {crm: Email, erp: email}
  customer:
    crm_object: Account
    erp_type: customer
    direction: both
    depends_on: [currency]
    fields:
      - {crm: Name, erp: companyName}
      - {crm: OwnerId, erp: salesRep.internalId, reference: salesperson, direction: to_crm}
  task:
    crm_object: Task
    erp_type: task
    direction: both
    depends_on: [customer]
    fields:
      - {crm: Subject, erp: title, direction: to_crm, template: "{{activity_subject}}"}
      - crm: Status
        erp: status
        values: [[Not Started, open], [Completed, complete]]
        not_synced: [In Progress, Waiting on someone else, Deferred]
      - crm: Priority
        erp: priority
        values: [[Normal, normal], [High, high]]
        not_synced: [Low]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sample.yaml"
    path.write_text(text)
    return path


def test_valid_file_loads_with_directions_and_dependency_levels(tmp_path: Path) -> None:
    mappings = load_mapping_set(write(tmp_path, VALID))
    task = mappings.entity("task")
    assert [f.crm for f in task.fields_towards(Direction.TO_ERP)] == ["Status", "Priority"]
    assert [f.crm for f in task.fields_towards(Direction.TO_CRM)] == ["Subject", "Status", "Priority"]
    # the reference field adds a dependency on salesperson without declaring it
    assert mappings.entity("customer").dependencies() == {"currency", "salesperson"}
    assert mappings.levels() == [["currency", "salesperson"], ["customer"], ["task"]]
    assert mappings.levels(only=["task", "currency"]) == [["currency"], ["task"]]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("depends_on: [currency]", "depends_on: [currencies]",
         "entity 'customer': depends on unknown entity 'currencies'"),
        ("match_keys: [[{crm: IsoCode, erp: symbol}]]", "match_keys: [[{crm: IsoCode, erp: [code]}]]",
         "entity 'currency', match_keys.0.0.erp: Input should be a valid string"),
        ("values: [[Normal, normal], [High, high]]", "values: [[Normal, normal], [Normal, high]]",
         "entity 'task', field 'Priority': the value 'Normal' is mapped twice"),
        ("values: [[Normal, normal], [High, high]]", "values: [[Normal, normal], [High, normal]]",
         "entity 'task', field 'Priority': the value 'normal' is mapped twice"),
        ("not_synced: [Low]", "not_synced: [Low, High]",
         "entity 'task', field 'Priority': ['High'] is both mapped and listed as not synced"),
        ("- {crm: Email, erp: email}", "- {crm: Email, erp: email}\n      - {crm: Email, erp: phone}",
         "entity 'salesperson', field 'Email': the CRM field is mapped twice"),
        ("- {crm: Email, erp: email}", "- {crm: Email, erp: email, colour: red}",
         "entity 'salesperson', field 'Email', colour: Extra inputs are not permitted"),
        ("direction: to_crm\n    fields:\n      - {crm: Email", "direction: sideways\n    fields:\n      - {crm: Email",
         "entity 'salesperson', direction: Input should be 'to_crm', 'to_erp' or 'both'"),
        ("direction: to_crm, template", "direction: to_erp, template",
         "entity 'task', field 'Subject': a template renders CRM values"),
        ("    erp_type: employee\n", "    erp_type: employee\n    erp_type: contact\n",
         "line 14: 'erp_type' is given twice"),
    ],
)
def test_invalid_files_fail_naming_file_entity_and_field(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new, 1))
    with pytest.raises(MappingError) as caught:
        load_mapping_set(path)
    assert str(caught.value).startswith(str(path))
    assert message in str(caught.value)


def test_dependency_cycle_is_named(tmp_path: Path) -> None:
    text = VALID.replace("depends_on: [currency]", "depends_on: [currency, task]")
    cycle = r"dependency cycle: (customer -> task -> customer|task -> customer -> task)"
    with pytest.raises(MappingError, match=cycle):
        load_mapping_set(write(tmp_path, text))


def test_an_entity_depending_on_itself_is_a_cycle(tmp_path: Path) -> None:
    text = VALID.replace("depends_on: [currency]", "depends_on: [customer]")
    with pytest.raises(MappingError, match="dependency cycle: customer -> customer"):
        load_mapping_set(write(tmp_path, text))


def test_unreadable_and_shapeless_files(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="cannot be read"):
        load_mapping_set(tmp_path / "missing.yaml")
    with pytest.raises(MappingError, match="not valid YAML"):
        load_mapping_set(write(tmp_path, "entities: [unclosed"))
    with pytest.raises(MappingError, match="needs a top-level 'entities' mapping"):
        load_mapping_set(write(tmp_path, "- just a list"))
    with pytest.raises(MappingError, match="unknown entity 'nope'"):
        load_mapping_set(write(tmp_path, VALID)).entity("nope")


def test_fields_are_checked_against_the_systems_catalog(tmp_path: Path) -> None:
    mappings = load_mapping_set(write(tmp_path, VALID))
    catalog = {
        ("crm", "CurrencyType"): {"IsoCode", "ERP_Id__c"},
        ("erp", "currency"): {"symbol"},
        ("crm", "User"): {"Email", "ERP_Id__c"},
        ("erp", "employee"): {"email"},
        ("crm", "Account"): {"Name", "OwnerId", "ERP_Id__c"},
        ("erp", "customer"): {"companyName", "salesRep"},
        ("crm", "Task"): {"Subject", "Status", "Priority", "ERP_Id__c"},
        ("erp", "task"): {"title", "status", "priority"},
    }
    check_fields_exist(mappings, catalog)
    catalog[("erp", "currency")] = set()
    with pytest.raises(MappingError, match="entity 'currency', match key: unknown ERP field 'symbol' on currency"):
        check_fields_exist(mappings, catalog)
    catalog[("erp", "currency")] = {"symbol"}
    catalog[("erp", "task")] = {"title", "status"}
    with pytest.raises(MappingError, match="entity 'task', field 'Priority': unknown ERP field 'priority' on task"):
        check_fields_exist(mappings, catalog)
    del catalog[("crm", "User")]
    with pytest.raises(MappingError, match="entity 'salesperson': the CRM has no object 'User'"):
        check_fields_exist(mappings, catalog)
