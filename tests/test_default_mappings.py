"""The shipped mapping set agrees with both emulators' schemas: objects, fields and value maps."""

from __future__ import annotations

import pytest

from emulators.erp.schema import record_specs
from emulators.salesforce.schema import load_schema
from tandem.erp.availability import STOCK_ENTITIES, stock_field_names
from tandem.erp.pricing import PRICE_ENTITY, PRICE_FIELDS
from tandem.mapping import MAPPINGS_DIR, Direction, MappingSet, check_fields_exist, load_mapping_set


@pytest.fixture(scope="module")
def mappings() -> MappingSet:
    return load_mapping_set(MAPPINGS_DIR / "default.yaml")


def test_every_field_exists_in_the_systems(mappings: MappingSet) -> None:
    crm = load_schema()
    erp = record_specs()
    catalog = {("crm", name): set(obj.fields) for name, obj in crm.objects.items()}
    catalog |= {("erp", name): {f.name for f in spec.fields} | {"dateCreated", "lastModifiedDate"}
                for name, spec in erp.items()}
    catalog[("erp", PRICE_ENTITY)] = set(PRICE_FIELDS)  # the adapter's virtual entity over items' pricing matrices
    for entity in STOCK_ENTITIES:  # the adapter's read-only stock entities (getItemAvailability)
        catalog[("erp", entity)] = set(stock_field_names(entity))
    check_fields_exist(mappings, catalog)


def test_value_maps_use_real_picklist_and_enum_values(mappings: MappingSet) -> None:
    crm = load_schema()
    erp = record_specs()
    checked = 0
    for entity in mappings.entities.values():
        for field in entity.fields:
            if field.values is None:
                continue
            crm_field = crm.object(entity.crm_object).field(field.crm)  # type: ignore[union-attr]
            assert crm_field is not None
            erp_name = field.erp.split(".")[0]
            spec = erp.get(entity.erp_type)  # None for the adapter's virtual itemPrice (no enumerations)
            choices = spec.by_name[erp_name].choices if spec is not None else frozenset()
            for pair in field.values:
                assert pair.crm in crm_field.picklist_values, (entity.name, field.crm, pair.crm)
                if choices:
                    assert pair.erp in choices, (entity.name, field.erp, pair.erp)
                checked += 1
            assert set(field.not_synced.crm) <= set(crm_field.picklist_values)
            if choices:
                assert set(field.not_synced.erp) <= choices
    assert checked >= 20


def test_dependency_order_follows_the_documented_products(mappings: MappingSet) -> None:
    order = {name: level for level, names in enumerate(mappings.levels()) for name in names}
    assert order["currency"] < order["customer"]
    assert order["salesperson"] < order["customer"]
    assert order["unit_group"] < order["item"]
    assert order["price_group"] < order["price"]
    assert max(order[t] for t in ("sales_order", "invoice", "contract")) == max(order.values())
    task = mappings.entity("task")
    assert task.only_new_to_crm and task.direction is Direction.BOTH
