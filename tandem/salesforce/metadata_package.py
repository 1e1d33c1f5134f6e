"""Generate the org package (``salesforce/`` at the repo root) from the mapping set and the emulator's schema.

The single source of truth: the shipped mappings say which objects and fields Tandem uses and how
(:mod:`tandem.salesforce.metadata_requirements`); the Salesforce emulator's ``schema.yaml`` says what
each custom one is (type, length, precision, external id, picklist values). Every custom object and
custom field the mappings use, with the integration user's permission set, becomes Salesforce DX source::

    python -m tandem.salesforce.metadata_package --write salesforce/
    python -m tandem.salesforce.metadata_package --check salesforce/   # exit 1 when the files drifted
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import replace
from pathlib import Path

from emulators.salesforce.schema import FieldDef, Schema, load_schema
from tandem.mapping import MAPPINGS_DIR, MappingSet, load_mapping_set
from tandem.salesforce.metadata_model import (
    FieldAccess,
    FieldSpec,
    ObjectAccess,
    ObjectSpec,
    OrgPackage,
    PermissionSetSpec,
    package_object,
)
from tandem.salesforce.metadata_requirements import ObjectNeed, org_needs
from tandem.salesforce.metadata_source import PACKAGE_DIR, SOURCE_ROOT, existing_files, source_files, write_source

PERMISSION_SET = "Tandem_Integration"
#: Standard objects a permission set may grant object permissions on (the others - Task, User,
#: CurrencyType, PricebookEntry - are governed by user permissions or their parents).
PERMISSIONABLE_STANDARD_OBJECTS = frozenset({"Account", "Contact", "Product2", "Pricebook2", "Opportunity", "Order"})
#: Always granted: the integration user calls the API.
BASE_USER_PERMISSIONS = ("ApiEnabled",)
DEFAULT_MAPPING = MAPPINGS_DIR / "default.yaml"


class PackageError(ValueError):
    """The mappings use a field the emulator's schema cannot describe as a custom field."""


def _relationship_name(label_plural: str) -> str:
    return re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9]", "_", label_plural)).strip("_")


def field_spec(schema: Schema, object_name: str, f: FieldDef) -> FieldSpec:
    """The Metadata API definition of the emulator's custom field ``f`` of ``object_name``."""
    base = FieldSpec(object=object_name, name=f.name, type="", label=f.label,
                     required=not f.nillable and f.createable, external_id=f.external_id)
    numbers = {"int": "Number", "double": "Number", "currency": "Currency", "percent": "Percent"}
    simple = {"date": "Date", "datetime": "DateTime", "email": "Email", "phone": "Phone", "url": "Url"}
    if f.type == "string":
        return replace(base, type="Text", length=f.length, unique=f.unique)
    if f.type == "textarea":
        return replace(base, type="LongTextArea", length=f.length) if f.long_text else replace(base, type="TextArea")
    if f.type in numbers:
        return replace(base, type=numbers[f.type], precision=f.precision, scale=0 if f.type == "int" else f.scale)
    if f.type in {"picklist", "multipicklist"}:
        return replace(base, type="Picklist" if f.type == "picklist" else "MultiselectPicklist",
                       picklist_values=f.picklist_values, restricted=f.restricted_picklist,
                       default=str(f.default) if f.default is not None else None)
    if f.type == "boolean":
        return replace(base, type="Checkbox", default="true" if f.default else "false", required=False)
    if f.type == "reference":
        child = schema.objects[object_name]
        return replace(base, type="Lookup", reference_to=f.reference_to[0],
                       relationship_name=_relationship_name(child.label_plural), relationship_label=child.label_plural)
    if f.type in simple:
        return replace(base, type=simple[f.type])
    raise PackageError(f"{object_name}.{f.name}: a {f.type} field cannot be a custom field")


def _object_spec(schema: Schema, need: ObjectNeed) -> ObjectSpec:
    obj = schema.object(need.name)
    if obj is None:
        raise PackageError(f"{need.name}: the emulator's schema has no such object")
    fields: dict[str, FieldSpec] = {}
    for name in sorted(n for n in need.fields if n.endswith("__c")):
        f = obj.field(name)
        if f is None:
            raise PackageError(f"{need.name}.{name}: the mappings use it but the emulator's schema has no such field")
        fields[name] = field_spec(schema, obj.name, f)
    if not obj.custom:
        home = package_object(obj.name)
        return ObjectSpec(name=home, custom=False,
                          fields={n: replace(f, object=home) for n, f in fields.items()})
    name_field = obj.field("Name")
    return ObjectSpec(name=obj.name, custom=True, label=obj.label, plural_label=obj.label_plural,
                      name_label=name_field.label if name_field else "Name", fields=fields)


def _permission_set(needs: dict[str, ObjectNeed], objects: dict[str, ObjectSpec]) -> PermissionSetSpec:
    access = [
        # Salesforce requires read with create or edit, and edit with delete.
        ObjectAccess(object=n.name, create=n.create, edit=n.edit or n.delete, delete=n.delete)
        for n in sorted(needs.values(), key=lambda n: n.name)
        if n.name.endswith("__c") or n.name in PERMISSIONABLE_STANDARD_OBJECTS
    ]
    fields = [
        FieldAccess(field=need.full_name, editable=need.create or need.update)
        for obj in needs.values() for need in obj.fields.values()
        if (spec := objects[package_object(obj.name)].fields.get(need.name)) is not None
        and not spec.required  # Salesforce refuses field permissions on a required field
    ]
    user = [*BASE_USER_PERMISSIONS, *(["EditTask"] if "Task" in needs and needs["Task"].edit else [])]
    return PermissionSetSpec(
        name=PERMISSION_SET, label="Tandem Integration",
        description="What Tandem's integration user reads and writes: the objects and fields of the shipped "
                    "mappings (generated by tandem.salesforce.metadata_package; do not edit by hand).",
        objects=tuple(access), fields=tuple(sorted(fields, key=lambda f: f.field)), user_permissions=tuple(user),
    )


def build_package(mapping_set: MappingSet, schema: Schema) -> OrgPackage:
    """The package for ``mapping_set``: its custom objects and fields as ``schema`` defines them, and the
    permission set for what it reads and writes.

    Raises:
        PackageError: a mapped custom object or field is not in ``schema``, or a lookup points to a custom
            object the package does not create.
    """
    needs = org_needs(mapping_set)
    objects = {package_object(name): _object_spec(schema, needs[name]) for name in sorted(needs)}
    for obj in objects.values():
        for spec in obj.fields.values():
            target = spec.reference_to
            if target and target.endswith("__c") and target not in objects:
                raise PackageError(f"{spec.full_name}: looks up {target}, which no mapped entity uses")
    return OrgPackage(objects=objects, permission_set=_permission_set(needs, objects))


def default_package() -> OrgPackage:
    """The package of the shipped mappings (``mappings/default.yaml``) and the emulator's schema."""
    return build_package(load_mapping_set(DEFAULT_MAPPING), load_schema())


def drifted(root: Path, package: OrgPackage) -> list[str]:
    """The files under ``root`` that differ from what ``package`` renders (missing, changed or extra)."""
    expected, actual = source_files(package), existing_files(root)
    return sorted(p for p in expected.keys() | actual.keys() if expected.get(p) != actual.get(p))


def main(argv: list[str] | None = None) -> int:
    """Write the package (``--write DIR``) or check the committed one (``--check DIR``)."""
    parser = argparse.ArgumentParser(prog="python -m tandem.salesforce.metadata_package", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", type=Path, metavar="DIR", help="write the DX project into DIR")
    action.add_argument("--check", type=Path, metavar="DIR", nargs="?", const=SOURCE_ROOT,
                        help="exit 1 when DIR (default: the repo's salesforce/) differs from the generated package")
    parser.add_argument("--mapping", type=Path, default=DEFAULT_MAPPING, help="the mapping file (default: default)")
    args = parser.parse_args(argv)
    package = build_package(load_mapping_set(args.mapping), load_schema())
    if args.write is not None:
        for path in existing_files(args.write):
            if path != "sfdx-project.json":
                (args.write / path).unlink()
        for folder in sorted((args.write / PACKAGE_DIR).rglob("*"), reverse=True):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        written = write_source(package, args.write)
        print(f"wrote {len(written)} files under {args.write}")
        return 0
    changed = drifted(args.check, package)
    for path in changed:
        print(f"differs from the generated package: {path}")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
