"""What a mapping set needs from the Salesforce org: the objects and fields it reads and writes, and how.

Derived from the mappings alone (no org, no Prefect): an entity whose fields travel to the CRM
creates and updates its object's records, its link key (``crm_key``, ``ERP_Id__c``) is an external id
that Tandem writes on every coupled record (also when records only travel to the ERP: the key is
written back), and a ``deletion: delete`` entity travelling to the CRM deletes records there. Every run
also reads and writes Tandem's own ``Tandem_Pairing__c`` (the pairing recorded in the org,
:mod:`tandem.sync.pairing_records`), whatever its entities.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from tandem.mapping import Direction, EntityMapping, MappingSet
from tandem.sync.pairing_records import CRM_PAIRING_FIELDS, CRM_PAIRING_KEY, CRM_PAIRING_OBJECT


@dataclass
class FieldNeed:
    """How Tandem uses one field of the org.

    Attributes:
        object: the object's API name.
        name: the field's API name.
        create: Tandem sets it when it creates a record (needs ``createable``).
        update: Tandem sets it on existing records (needs ``updateable``).
        external_id: Tandem upserts by it (needs an external id).
    """

    object: str
    name: str
    create: bool = False
    update: bool = False
    external_id: bool = False

    @property
    def full_name(self) -> str:
        """``Object.Field``."""
        return f"{self.object}.{self.name}"


@dataclass
class ObjectNeed:
    """How Tandem uses one object: it always reads it; it may create, edit and delete its records."""

    name: str
    create: bool = False
    edit: bool = False
    delete: bool = False
    fields: dict[str, FieldNeed] = field(default_factory=dict)

    def need(self, name: str) -> FieldNeed:
        """The need of field ``name`` (created on first use)."""
        return self.fields.setdefault(name, FieldNeed(self.name, name))


def _creates_in_crm(entity: EntityMapping) -> bool:
    return entity.direction.includes(Direction.TO_CRM) and entity.create_missing


def org_needs(mapping_set: MappingSet, entities: Iterable[str] | None = None) -> dict[str, ObjectNeed]:
    """The objects and fields the CRM side of ``mapping_set`` uses, by object name.

    Args:
        mapping_set: the loaded mappings.
        entities: only these entities (default: all of them).
    """
    names = list(entities) if entities is not None else list(mapping_set.entities)
    needs: dict[str, ObjectNeed] = {}
    for name in names:
        entity = mapping_set.entity(name)
        obj = needs.setdefault(entity.crm_object, ObjectNeed(entity.crm_object))
        creates = _creates_in_crm(entity)
        to_crm = entity.direction.includes(Direction.TO_CRM)
        obj.create |= creates
        obj.edit = True  # the link key is written on every coupled record
        obj.delete |= to_crm and entity.deletion == "delete"
        key = obj.need(entity.crm_key)
        key.external_id = True
        key.create |= creates
        key.update = True
        for group in entity.match_keys:
            for match in group:
                obj.need(match.crm.split(".")[0])
        for condition in entity.filters:
            if condition.side == "crm":
                obj.need(condition.field.split(".")[0])
        for mapped in entity.fields:
            need = obj.need(mapped.crm.split(".")[0])
            if (mapped.direction or entity.direction).includes(Direction.TO_CRM):
                need.create |= creates
                need.update |= not mapped.only_on_create
    needs[CRM_PAIRING_OBJECT] = pairing_need()
    return needs


def pairing_need() -> ObjectNeed:
    """Tandem's own pairing object: every run reads it, the first run of a pair creates its record, releasing the
    pairing deletes it."""
    need = ObjectNeed(CRM_PAIRING_OBJECT, create=True, edit=True, delete=True)
    for name in CRM_PAIRING_FIELDS:
        field_need = need.need(name)
        field_need.create = field_need.update = True
    need.need(CRM_PAIRING_KEY).external_id = True
    return need
