"""The HubSpot <-> NetSuite mapping set loads, names only fields both systems have, and states a rule for every
enumeration value of both (HubSpot's from the emulator's properties API, NetSuite's from the ERP schema)."""

from __future__ import annotations

import pytest

from emulators.erp.schema import FieldKind, record_specs
from tandem.hubspot.adapter import HubSpotAdapter
from tandem.mapping import MAPPINGS_DIR, MappingSet, check_fields_exist, check_value_rules, load_mapping_set


@pytest.fixture(scope="module")
def hubspot_mappings() -> MappingSet:
    return load_mapping_set(MAPPINGS_DIR / "hubspot.yaml")


def test_the_mapping_set_covers_the_four_objects_in_dependency_order(hubspot_mappings: MappingSet) -> None:
    pairs = {name: (e.crm_object, e.erp_type, e.direction.value) for name, e in hubspot_mappings.entities.items()}
    assert pairs == {
        "customer": ("companies", "customer", "both"), "contact": ("contacts", "contact", "both"),
        "item": ("products", "inventoryItem", "to_crm"), "task": ("tasks", "task", "both"),
    }
    assert all(e.crm_key == "erp_id" for e in hubspot_mappings.entities.values())
    assert hubspot_mappings.levels() == [["customer", "item"], ["contact"], ["task"]]


def test_every_mapped_field_exists_in_hubspot_and_the_erp(
    adapter: HubSpotAdapter, hubspot_mappings: MappingSet,
) -> None:
    erp = record_specs()
    catalog: dict[tuple[str, str], frozenset[str] | set[str]] = {}
    for entity in hubspot_mappings.entities.values():
        catalog[("crm", entity.crm_object)] = adapter.field_names(entity.crm_object)
        catalog[("erp", entity.erp_type)] = frozenset(erp[entity.erp_type].by_name)
    check_fields_exist(hubspot_mappings, catalog)


def test_every_enumeration_value_of_both_systems_has_a_rule(
    adapter: HubSpotAdapter, hubspot_mappings: MappingSet,
) -> None:
    erp = record_specs()
    catalog: dict[tuple[str, str, str], frozenset[str]] = {}
    for entity in hubspot_mappings.entities.values():
        answer = adapter.transport.request("GET", f"/crm/v3/properties/{entity.crm_object}")
        options = {p["name"]: frozenset(o["value"] for o in p.get("options") or []) for p in answer["results"]}
        for field in entity.fields:
            if options.get(field.crm):
                catalog[("crm", entity.crm_object, field.crm)] = options[field.crm]
            erp_field = erp[entity.erp_type].by_name.get(field.erp.split(".")[0])
            if erp_field is not None and (erp_field.kind is FieldKind.ENUM or erp_field.choices):
                catalog[("erp", entity.erp_type, erp_field.name)] = erp_field.choices
    assert {("crm", "tasks", "hs_task_status"), ("crm", "tasks", "hs_task_priority"),
            ("erp", "task", "status"), ("erp", "task", "priority")} <= set(catalog)
    check_value_rules(hubspot_mappings, catalog)
