"""The org's metadata changed at runtime: a bare org, and CustomObject, CustomField and PermissionSet applied to it.

A *bare* org (``--bare``) is ``schema.yaml`` without its custom objects and custom fields: an org where
Tandem's package was never deployed. A Metadata API deploy (:mod:`emulators.salesforce.metadata_api`)
hands the components it read to :class:`OrgMetadata`, which builds the new schema, switches the store
to it and keeps the components in the org's database, so a restarted emulator comes back with them.

Access, as Salesforce grants it to a user without "Modify All Data": an object or field created by a
deploy starts with no create, edit or delete access for the integration user (describe then reports it
not ``createable``/``updateable``/``deletable``, and writes to it are refused) until a deployed permission
set grants it; a required field is always editable. A deployed permission set gets its ``PermissionSet``
record, so it can be assigned with a ``PermissionSetAssignment`` insert. Simplifications: every deployed
permission set counts as assigned to the integration user, assigned or not; access is not per user (the
org's users share it); a field without read access stays visible (only create/edit/delete are modelled);
objects and fields of ``schema.yaml`` keep the full access they always have.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, replace
from typing import Any

from emulators.salesforce.schema import SYSTEM_FIELDS, ObjectDef, Schema, SchemaError, field_def
from emulators.salesforce.store import RecordStore

METADATA_TABLE = "_deployed_metadata"
CUSTOM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)*__c$")
#: Metadata API field types -> the emulator's describe types.
FIELD_TYPES = {
    "Text": "string", "TextArea": "textarea", "LongTextArea": "textarea", "Html": "textarea", "Number": "double",
    "Currency": "currency", "Percent": "percent", "Date": "date", "DateTime": "datetime", "Checkbox": "boolean",
    "Picklist": "picklist", "MultiselectPicklist": "multipicklist", "Email": "email", "Phone": "phone",
    "Url": "url", "Lookup": "reference", "MasterDetail": "reference",
}
FIXED_LENGTHS = {"TextArea": 255, "Email": 80, "Phone": 40, "Url": 255}
MAX_TEXT_LENGTH = 255
MAX_LONG_TEXT_LENGTH = 131_072
MAX_PRECISION = 18
#: Custom fields of tasks and events are defined on Activity.
ACTIVITY_OBJECTS = ("Task", "Event")
#: User permissions a permission set may enable (the ones Tandem's package uses, and a few more).
USER_PERMISSIONS = frozenset({"ApiEnabled", "EditTask", "EditEvent", "ViewSetup", "ManageUsers", "ViewAllData",
                              "ModifyAllData", "CustomizeApplication"})


class ComponentError(ValueError):
    """A component cannot be applied; the message is the deploy's ``problem`` text."""


def bare_schema(schema: Schema) -> Schema:
    """``schema`` without custom objects and custom fields (nor lookups to custom objects)."""
    objects = {}
    for name, obj in schema.objects.items():
        if obj.custom:
            continue
        fields = {n: f for n, f in obj.fields.items() if not f.custom}
        objects[name] = replace(obj, fields=fields, _by_lower={}, _relationships={})
    return Schema(objects)


@dataclass(frozen=True)
class Component:
    """One component of a deploy: its metadata type, full name (``Account.ERP_Id__c``), file and elements."""

    kind: str
    name: str
    file: str
    body: dict[str, Any]


@dataclass(frozen=True)
class ComponentResult:
    """How one component fared: its problem (a failure), or whether it was created or changed."""

    component: Component
    problem: str | None = None
    created: bool = False


@dataclass(frozen=True)
class CustomFieldDef:
    """A ``CustomField`` as deployed: the object it is on and its elements (``type``, ``length``...)."""

    object: str
    name: str
    spec: dict[str, Any]


def _next_prefix(schema: Schema) -> str:
    used = {o.key_prefix for o in schema.objects.values()}
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    for first in digits:
        for second in digits:
            prefix = f"a{first}{second}"
            if prefix not in used and prefix != "a00":
                return prefix
    raise ComponentError("the org has no key prefix left for a custom object")


def _int(spec: dict[str, Any], key: str) -> int | None:
    value = spec.get(key)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise ComponentError(f"Invalid value for {key}: {value}") from None


def field_attributes(definition: CustomFieldDef, schema: Schema) -> dict[str, Any]:
    """The ``schema.yaml``-style attributes of a deployed field (checked as Salesforce checks them).

    Raises:
        ComponentError: the type is unknown, a length, precision or scale is out of range, a lookup's target
            does not exist, a picklist has no values.
    """
    spec, mtype = definition.spec, str(definition.spec.get("type") or "")
    if mtype not in FIELD_TYPES:
        raise ComponentError(f"Invalid type: {mtype or '(none)'}")
    attributes: dict[str, Any] = {"type": FIELD_TYPES[mtype], "label": spec.get("label") or definition.name,
                                  "required": spec.get("required") == "true" or mtype == "MasterDetail"}
    length = _int(spec, "length")
    if mtype in {"Text", "LongTextArea", "Html"}:
        limit = MAX_TEXT_LENGTH if mtype == "Text" else MAX_LONG_TEXT_LENGTH
        if length is None:
            raise ComponentError(f"Must specify 'length' for a CustomField of type {mtype}")
        if not 1 <= length <= limit:
            raise ComponentError(f"Length must be between 1 and {limit}")
        attributes["length"] = length
    elif mtype in FIXED_LENGTHS:
        attributes["length"] = FIXED_LENGTHS[mtype]
    if mtype in {"Number", "Currency", "Percent"}:
        precision, scale = _int(spec, "precision"), _int(spec, "scale") or 0
        if precision is None or not 1 <= precision <= MAX_PRECISION:
            raise ComponentError(f"Must specify 'precision' between 1 and {MAX_PRECISION}")
        if not 0 <= scale <= precision:
            raise ComponentError("Scale must be between 0 and the precision")
        attributes.update(precision=precision, scale=scale)
    if mtype == "Checkbox":
        attributes["default"] = spec.get("defaultValue") == "true"
        attributes["required"] = False
    if mtype in {"Picklist", "MultiselectPicklist"}:
        values = spec.get("values") or []
        if not values:
            raise ComponentError("Picklist must have at least one value")
        attributes.update(picklistValues=values, restricted=spec.get("restricted") == "true")
        if spec.get("default"):
            attributes["default"] = spec["default"]
    if mtype in {"Lookup", "MasterDetail"}:
        target = str(spec.get("referenceTo") or "")
        parent = schema.object(target)
        if parent is None:
            raise ComponentError(f"referenceTo value of '{target}' does not resolve to a valid sObject type")
        attributes.update(referenceTo=[parent.name],
                          relationshipName=definition.name.removesuffix("__c") + "__r",
                          cascadeDelete=mtype == "MasterDetail" or spec.get("deleteConstraint") == "Cascade")
    if spec.get("externalId") == "true":
        if mtype not in {"Text", "Number", "Email"}:
            raise ComponentError("External ID can only be set on Text, Number or Email fields")
        attributes["externalId"] = True
        attributes["unique"] = spec.get("unique") == "true"
    elif spec.get("unique") == "true":
        attributes["unique"] = True
    return attributes


class OrgMetadata:
    """The emulated org's deployable metadata: the schema it started with plus what deploys added.

    Args:
        store: the org's record store (its schema is switched as components are applied).
    """

    def __init__(self, store: RecordStore) -> None:
        self.store = store
        self.lock = threading.RLock()
        #: Objects and fields created by deploys: their access comes from permission sets.
        self.created_objects: set[str] = set()
        self.created_fields: set[str] = set()
        self.permission_sets: set[str] = set()
        with store.lock:
            store.conn.execute(f'CREATE TABLE IF NOT EXISTS "{METADATA_TABLE}" '
                               "(seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL)")

    # -- building the new schema ------------------------------------------------------------------

    def with_object(self, schema: Schema, name: str, spec: dict[str, Any]) -> Schema:
        """``schema`` with the custom object ``name`` created (or its labels changed)."""
        if not CUSTOM_NAME.match(name):
            raise ComponentError(f"Invalid name: {name} (a custom object's name ends in __c)")
        for key in ("label", "pluralLabel"):
            if not spec.get(key):
                raise ComponentError(f"Must specify a non-empty label for the CustomObject: {key}")
        existing = schema.object(name)
        label, plural = str(spec["label"]), str(spec["pluralLabel"])
        if existing is not None:
            obj = replace(existing, label=label, label_plural=plural, _by_lower={}, _relationships={})
        else:
            fields = {n: field_def(name, n, dict(s)) for n, s in SYSTEM_FIELDS.items()}
            fields["Name"] = field_def(name, "Name", {"type": "string", "length": 80, "required": True,
                                                   "label": spec.get("nameLabel") or "Name"})
            obj = ObjectDef(name=name, label=label, label_plural=plural, key_prefix=_next_prefix(schema),
                            fields=fields, custom=True, createable=False, updateable=False, deletable=False)
            self.created_objects.add(name)
        return Schema({**schema.objects, name: obj})

    def with_field(self, schema: Schema, definition: CustomFieldDef) -> Schema:
        """``schema`` with ``definition`` created or changed on its object(s)."""
        if not CUSTOM_NAME.match(definition.name):
            raise ComponentError(f"Invalid field name: {definition.name} (a custom field's name ends in __c)")
        homes = ([n for n in ACTIVITY_OBJECTS if n in schema.objects] if definition.object == "Activity"
                 else [definition.object])
        objects = dict(schema.objects)
        for home in homes:
            obj = schema.object(home)
            if obj is None:
                raise ComponentError(f"Cannot create a field on {home}: no such object")
            try:
                new = field_def(obj.name, definition.name, field_attributes(definition, schema))
            except SchemaError as exc:
                raise ComponentError(str(exc)) from None
            old = obj.field(definition.name)
            key = f"{obj.name}.{definition.name}"
            if old is not None and old.type != new.type and not {old.type, new.type} <= {"int", "double"}:
                raise ComponentError(f"Cannot change type of {key} from {old.type} to {new.type}")
            if old is None:
                self.created_fields.add(key)
            if key in self.created_fields and not new.required:
                keep = old if old is not None else replace(new, createable=False, updateable=False)
                new = replace(new, createable=keep.createable, updateable=keep.updateable)
            elif old is not None:
                new = replace(new, createable=old.createable, updateable=old.updateable)
            objects[obj.name] = replace(obj, fields={**obj.fields, definition.name: new}, _by_lower={},
                                        _relationships={})
        return Schema(objects)

    def with_permissions(self, schema: Schema, name: str, spec: dict[str, Any]) -> Schema:
        """``schema`` with the access the permission set ``name`` grants (to objects and fields deploys created)."""
        objects = dict(schema.objects)
        for grant in spec.get("objectPermissions") or []:
            target = schema.object(str(grant.get("object") or ""))
            if target is None:
                raise ComponentError(f"In field: object - no CustomObject named {grant.get('object')} found")
            create, edit, delete = (grant.get(k) == "true" for k in ("allowCreate", "allowEdit", "allowDelete"))
            if (create or edit or delete) and grant.get("allowRead") != "true":
                raise ComponentError(f"Permission Read {target.name} depends on permission(s): none granted; "
                                     "grant allowRead with allowCreate, allowEdit or allowDelete")
            if delete and not edit:
                raise ComponentError(f"Permission Delete {target.name} depends on permission(s): Edit {target.name}")
            if target.name in self.created_objects:
                current = objects[target.name]
                objects[target.name] = replace(current, createable=current.createable or create,
                                               updateable=current.updateable or edit,
                                               deletable=current.deletable or delete, _by_lower={},
                                               _relationships={})
        for grant in spec.get("fieldPermissions") or []:
            full = str(grant.get("field") or "")
            object_name, _, field_name = full.partition(".")
            obj = objects.get(object_name) or schema.object(object_name)
            f = obj.field(field_name) if obj else None
            if obj is None or f is None or not f.custom:
                raise ComponentError(f"In field: field - no CustomField named {full} found")
            if f.required:
                raise ComponentError(f"You cannot deploy to a required field: {full}")
            editable = grant.get("editable") == "true"
            if editable and grant.get("readable") != "true":
                raise ComponentError(f"{full}: an editable field must also be readable")
            if f"{obj.name}.{f.name}" in self.created_fields and editable:
                objects[obj.name] = replace(obj, fields={**obj.fields, f.name: replace(f, createable=True,
                                                                                        updateable=True)},
                                            _by_lower={}, _relationships={})
        for permission in spec.get("userPermissions") or []:
            if permission not in USER_PERMISSIONS:
                raise ComponentError(f"Unknown user permission: {permission}")
        return Schema(objects)

    # -- deploying and keeping ------------------------------------------------------------------

    def build(self, schema: Schema, component: Component) -> Schema:
        """``schema`` with one component applied (``CustomObject``, ``CustomField`` or ``PermissionSet``)."""
        body = component.body
        if component.kind == "CustomObject":
            return self.with_object(schema, component.name, body)
        if component.kind == "CustomField":
            object_name, _, field_name = component.name.partition(".")
            return self.with_field(schema, CustomFieldDef(object_name, field_name, body))
        if component.kind == "PermissionSet":
            self.permission_sets.add(component.name)
            return self.with_permissions(schema, component.name, body)
        raise ComponentError(f"Unknown type name '{component.kind}' specified in package.xml")

    def exists(self, schema: Schema, component: Component) -> bool:
        """True when the org already has ``component`` (a deploy then changes it rather than creates it)."""
        if component.kind == "CustomObject":
            return schema.object(component.name) is not None
        if component.kind == "CustomField":
            object_name, _, field_name = component.name.partition(".")
            obj = schema.object(ACTIVITY_OBJECTS[0] if object_name == "Activity" else object_name)
            return obj is not None and obj.field(field_name) is not None
        return component.name in self.permission_sets

    def deploy(self, components: list[Component], *, rollback_on_error: bool, check_only: bool
               ) -> list[ComponentResult]:
        """Apply ``components`` in order, each checked against the org as the earlier ones left it.

        Nothing changes when ``check_only``, or when one fails and ``rollback_on_error``; otherwise the
        components that passed are applied and kept (a restart applies them again).
        """
        with self.lock:
            saved = (set(self.created_objects), set(self.created_fields), set(self.permission_sets))
            schema = self.store.schema
            results: list[ComponentResult] = []
            passed: list[Component] = []
            for component in components:
                existed = self.exists(schema, component)
                try:
                    schema = self.build(schema, component)
                except ComponentError as exc:
                    results.append(ComponentResult(component, problem=str(exc)))
                    continue
                results.append(ComponentResult(component, created=not existed))
                passed.append(component)
            failed = any(r.problem for r in results)
            if check_only or not passed or (failed and rollback_on_error):
                self.created_objects, self.created_fields, self.permission_sets = saved
                return results
            self.store.apply_schema(schema)
            with self.store.lock:
                self.store.conn.executemany(
                    f'INSERT INTO "{METADATA_TABLE}" (kind, name, body) VALUES (?, ?, ?)',
                    [(c.kind, c.name, json.dumps(c.body)) for c in passed],
                )
            self.record_permission_sets([c for c in passed if c.kind == "PermissionSet"])
            return results

    def record_permission_sets(self, components: list[Component]) -> None:
        """Give each deployed permission set its ``PermissionSet`` record (queried and assigned through the
        REST API), unless the org has one of that name already."""
        for component in components:
            if not self.store.find_by_external_id("PermissionSet", "Name", component.name):
                label = str(component.body.get("label") or component.name)
                self.store.insert("PermissionSet", [{"Name": component.name, "Label": label}],
                                  user_id=self.store.integration_user_id)

    def restore(self) -> int:
        """Apply the components earlier deploys kept (at start-up); return how many."""
        with self.store.lock:
            rows = self.store.conn.execute(
                f'SELECT kind, name, body FROM "{METADATA_TABLE}" ORDER BY seq').fetchall()
        schema = self.store.schema
        for kind, name, text in rows:
            schema = self.build(schema, Component(kind, name, "", json.loads(text)))
        if rows:
            self.store.apply_schema(schema)
            self.record_permission_sets([Component(kind, name, "", json.loads(text)) for kind, name, text in rows
                                         if kind == "PermissionSet"])
        return len(rows)
