"""The emulated org's objects, defined as data in ``schema.yaml`` and loaded into typed definitions."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

SCHEMA_FILE = Path(__file__).with_name("schema.yaml")

TEXT_TYPES = frozenset({"id", "reference", "string", "textarea", "picklist", "multipicklist", "email", "phone", "url"})
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent"})
LONG_TEXT_LENGTH = 255
FIELD_TYPES = TEXT_TYPES | NUMBER_TYPES | frozenset({"boolean", "date", "datetime"})

# Fields every object has; the loader adds them, schema.yaml does not repeat them.
SYSTEM_FIELDS: dict[str, dict[str, Any]] = {
    "Id": {"type": "id", "length": 18, "nillable": False, "createable": False, "updateable": False},
    "IsDeleted": {"type": "boolean", "nillable": False, "createable": False, "updateable": False},
    "CreatedDate": {"type": "datetime", "nillable": False, "createable": False, "updateable": False},
    "CreatedById": {
        "type": "reference", "referenceTo": ["User"], "relationshipName": "CreatedBy",
        "nillable": False, "createable": False, "updateable": False,
    },
    "LastModifiedDate": {"type": "datetime", "nillable": False, "createable": False, "updateable": False},
    "LastModifiedById": {
        "type": "reference", "referenceTo": ["User"], "relationshipName": "LastModifiedBy",
        "nillable": False, "createable": False, "updateable": False,
    },
    "SystemModstamp": {"type": "datetime", "nillable": False, "createable": False, "updateable": False},
}


DERIVATION_RULES = frozenset({"full_name", "picklist_in"})


class SchemaError(ValueError):
    """``schema.yaml`` is not valid; the message names the object and field."""


@dataclass(frozen=True)
class Derivation:
    """How the org computes a read-only field from others.

    ``full_name``: ``FirstName`` and ``LastName`` joined by a space (``Name`` of User and Contact).
    ``picklist_in``: true when picklist ``field`` holds one of ``values`` (``Task.IsClosed``).
    """

    rule: str
    field: str | None = None
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class FieldDef:
    """One field of an sObject, with the attributes ``describe`` reports."""

    name: str
    type: str
    label: str
    length: int = 0
    precision: int = 0
    scale: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    default: Any = None
    picklist_values: tuple[str, ...] = ()
    restricted_picklist: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    external_id: bool = False
    unique: bool = False
    custom: bool = False
    derived: Derivation | None = None
    cascade_delete: bool = False

    @property
    def long_text(self) -> bool:
        """A Long Text Area (or Rich Text Area): ``textarea`` longer than 255 characters. SOQL selects
        it but cannot filter, sort or group on it; describe reports it not filterable nor sortable."""
        return self.type == "textarea" and self.length > LONG_TEXT_LENGTH

    @property
    def required(self) -> bool:
        """True when a create must give a value (not nillable, createable, no default)."""
        return not self.nillable and self.createable and self.default is None and self.type != "boolean"


@dataclass(frozen=True)
class ObjectDef:
    """One sObject: its name, key prefix and fields (in describe order)."""

    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: dict[str, FieldDef]
    custom: bool = False
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    _by_lower: dict[str, FieldDef] = field(default_factory=dict, repr=False, compare=False)
    _relationships: dict[str, FieldDef] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_lower.update({name.lower(): f for name, f in self.fields.items()})
        self._relationships.update(
            {f.relationship_name.lower(): f for f in self.fields.values() if f.relationship_name}
        )

    def field(self, name: str) -> FieldDef | None:
        """The field called ``name`` (case-insensitive), or ``None``."""
        return self._by_lower.get(name.lower())

    def relationship(self, name: str) -> FieldDef | None:
        """The reference field whose relationship is called ``name`` (``Account`` → ``AccountId``)."""
        return self._relationships.get(name.lower())

    def external_id_fields(self) -> list[FieldDef]:
        """Fields marked as external ids."""
        return [f for f in self.fields.values() if f.external_id]


@dataclass(frozen=True)
class Schema:
    """Every object of the emulated org."""

    objects: dict[str, ObjectDef]
    _by_lower: dict[str, ObjectDef] = field(default_factory=dict, repr=False, compare=False)
    _by_prefix: dict[str, ObjectDef] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_lower.update({name.lower(): o for name, o in self.objects.items()})
        self._by_prefix.update({o.key_prefix: o for o in self.objects.values()})

    def object(self, name: str) -> ObjectDef | None:
        """The object called ``name`` (case-insensitive), or ``None``."""
        return self._by_lower.get(name.lower())

    def object_for_id(self, record_id: str) -> ObjectDef | None:
        """The object whose key prefix starts ``record_id``, or ``None``."""
        return self._by_prefix.get(record_id[:3])


def _field(obj_name: str, name: str, spec: dict[str, Any]) -> FieldDef:
    where = f"{obj_name}.{name}"
    ftype = spec.get("type")
    if ftype not in FIELD_TYPES:
        raise SchemaError(f"{where}: unknown type {ftype!r}; use one of {sorted(FIELD_TYPES)}")
    known = {
        "type", "label", "length", "precision", "scale", "nillable", "required", "createable", "updateable",
        "default", "picklistValues", "restricted", "referenceTo", "relationshipName", "externalId", "unique",
        "derived", "cascadeDelete",
    }
    unknown = set(spec) - known
    if unknown:
        raise SchemaError(f"{where}: unknown attribute(s) {sorted(unknown)}")
    values = tuple(str(v) for v in spec.get("picklistValues", ()))
    if ftype in {"picklist", "multipicklist"} and not values:
        raise SchemaError(f"{where}: a picklist needs picklistValues")
    reference_to = tuple(spec.get("referenceTo", ()))
    if ftype == "reference" and not reference_to:
        raise SchemaError(f"{where}: a reference needs referenceTo")
    derived = _derivation(where, spec.get("derived"))
    length = int(spec.get("length", 18 if ftype in {"id", "reference"} else 255 if ftype in TEXT_TYPES else 0))
    return FieldDef(
        name=name,
        type=ftype,
        label=str(spec.get("label", name.removesuffix("__c").replace("_", " "))),
        length=length,
        precision=int(spec.get("precision", 18 if ftype in NUMBER_TYPES else 0)),
        scale=int(spec.get("scale", 2 if ftype in {"currency", "percent", "double"} else 0)),
        nillable=bool(spec.get("nillable", not spec.get("required", False) and ftype != "boolean")),
        createable=bool(spec.get("createable", True)),
        updateable=bool(spec.get("updateable", True)),
        default=spec.get("default", False if ftype == "boolean" else None),
        picklist_values=values,
        restricted_picklist=bool(spec.get("restricted", False)),
        reference_to=reference_to,
        relationship_name=spec.get("relationshipName"),
        external_id=bool(spec.get("externalId", False)),
        unique=bool(spec.get("unique", spec.get("externalId", False))),
        custom=name.endswith("__c"),
        derived=derived,
        cascade_delete=bool(spec.get("cascadeDelete", False)),
    )


def field_def(obj_name: str, name: str, spec: dict[str, Any]) -> FieldDef:
    """One field from its ``schema.yaml`` attributes (a deploy adds fields at runtime); :class:`SchemaError`
    names what is wrong."""
    return _field(obj_name, name, spec)


def _derivation(where: str, spec: Any) -> Derivation | None:
    if spec is None:
        return None
    if not isinstance(spec, dict) or spec.get("rule") not in DERIVATION_RULES:
        raise SchemaError(f"{where}: derived needs a rule, one of {sorted(DERIVATION_RULES)}")
    if spec["rule"] == "picklist_in" and not (spec.get("field") and spec.get("values")):
        raise SchemaError(f"{where}: a picklist_in derivation needs 'field' and 'values'")
    return Derivation(rule=spec["rule"], field=spec.get("field"), values=tuple(spec.get("values", ())))


def parse_schema(data: dict[str, Any]) -> Schema:
    """Build a :class:`Schema` from the parsed YAML; raise :class:`SchemaError` naming what is wrong."""
    objects: dict[str, ObjectDef] = {}
    prefixes: dict[str, str] = {}
    for obj_name, spec in (data.get("objects") or {}).items():
        prefix = str(spec.get("keyPrefix", ""))
        if len(prefix) != 3:
            raise SchemaError(f"{obj_name}: keyPrefix must be 3 characters")
        if prefix in prefixes:
            raise SchemaError(f"{obj_name}: keyPrefix {prefix} is already used by {prefixes[prefix]}")
        prefixes[prefix] = obj_name
        fields = {name: _field(obj_name, name, dict(fspec)) for name, fspec in SYSTEM_FIELDS.items()}
        for name, fspec in (spec.get("fields") or {}).items():
            if name in fields:
                raise SchemaError(f"{obj_name}.{name}: system fields are added automatically")
            fields[name] = _field(obj_name, name, dict(fspec or {}))
        objects[obj_name] = ObjectDef(
            name=obj_name,
            label=str(spec.get("label", obj_name.removesuffix("__c").replace("_", " "))),
            label_plural=str(spec.get("labelPlural", spec.get("label", obj_name) + "s")),
            key_prefix=prefix,
            fields=fields,
            custom=obj_name.endswith("__c"),
            createable=bool(spec.get("createable", True)),
            updateable=bool(spec.get("updateable", True)),
            deletable=bool(spec.get("deletable", True)),
        )
    for obj in objects.values():
        for f in obj.fields.values():
            for target in f.reference_to:
                if target not in objects:
                    raise SchemaError(f"{obj.name}.{f.name}: referenceTo names unknown object {target!r}")
    return Schema(objects)


@cache
def load_schema(path: Path = SCHEMA_FILE) -> Schema:
    """Load and validate ``schema.yaml`` (cached per path)."""
    with path.open() as handle:
        return parse_schema(yaml.safe_load(handle) or {})
