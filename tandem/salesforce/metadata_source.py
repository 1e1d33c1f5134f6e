"""The package as files: Salesforce DX source format (the repo's ``salesforce/`` project) and the Metadata API zip.

:func:`source_files` renders an :class:`OrgPackage` as the DX project's files; :func:`read_source`
reads such a folder back; :func:`deploy_zip` converts it to the Metadata API format (``package.xml``,
``objects/X.object`` with their fields inside, ``permissionsets/X.permissionset``) that ``deploy()``
takes, as ``sf project convert source`` would.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

from lxml import etree

from tandem.salesforce.metadata_model import (
    NUMERIC_TYPES,
    FieldAccess,
    FieldSpec,
    ObjectAccess,
    ObjectSpec,
    OrgPackage,
    PermissionSetSpec,
)

METADATA_NS = "http://soap.sforce.com/2006/04/metadata"
API_VERSION = "59.0"
PACKAGE_DIR = "force-app"
DEFAULT_DIR = f"{PACKAGE_DIR}/main/default"
#: The repo's DX project.
SOURCE_ROOT = Path(__file__).resolve().parents[2] / "salesforce"
_NS = {"m": METADATA_NS}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)

Element = tuple[str, "str | list[Element]"]


class PackageSourceError(ValueError):
    """A package file is missing or not what the package format expects; the message names the file."""


def _render(root: str, children: list[Element]) -> str:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', f'<{root} xmlns="{METADATA_NS}">']
    _render_children(children, lines, 1)
    lines.append(f"</{root}>")
    return "\n".join(lines) + "\n"


def _render_children(children: list[Element], lines: list[str], depth: int) -> None:
    pad = "    " * depth
    for tag, value in children:
        if isinstance(value, list):
            lines.append(f"{pad}<{tag}>")
            _render_children(value, lines, depth + 1)
            lines.append(f"{pad}</{tag}>")
        else:
            lines.append(f"{pad}<{tag}>{escape(value)}</{tag}>")


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _field_elements(spec: FieldSpec) -> list[Element]:
    """A CustomField's elements: ``fullName`` first, the others in the alphabetical order Salesforce writes."""
    items: list[Element] = []
    if spec.type == "Checkbox":
        items.append(("defaultValue", spec.default or "false"))
    if spec.type == "Lookup":
        items.append(("deleteConstraint", "Restrict" if spec.required else "SetNull"))
    items.append(("externalId", _flag(spec.external_id)))
    items.append(("fullName", spec.name))
    items.append(("label", spec.label))
    if spec.type in {"Text", "LongTextArea"}:
        items.append(("length", str(spec.length)))
    if spec.type in NUMERIC_TYPES:
        items.append(("precision", str(spec.precision)))
    if spec.type == "Lookup":
        items += [("referenceTo", spec.reference_to or ""), ("relationshipLabel", spec.relationship_label or ""),
                  ("relationshipName", spec.relationship_name or "")]
    if spec.type != "Checkbox":
        items.append(("required", _flag(spec.required)))
    if spec.type in NUMERIC_TYPES:
        items.append(("scale", str(spec.scale)))
    items.append(("type", spec.type))
    if spec.type == "Text" and spec.unique:
        items.append(("caseSensitive", "false"))
        items.append(("unique", "true"))
    if spec.type in {"Picklist", "MultiselectPicklist"}:
        values: list[Element] = [("sorted", "false")]
        values += [("value", [("fullName", v), ("default", _flag(v == spec.default)), ("label", v)])
                   for v in spec.picklist_values]
        items.append(("valueSet", [("restricted", _flag(spec.restricted)), ("valueSetDefinition", values)]))
    if spec.type in {"LongTextArea", "MultiselectPicklist"}:
        items.append(("visibleLines", "4"))
    return sorted(items, key=lambda item: (item[0] != "fullName", item[0]))


def _object_elements(spec: ObjectSpec) -> list[Element]:
    return [
        ("deploymentStatus", "Deployed"),
        ("enableActivities", "false"),
        ("enableReports", "true"),
        ("label", spec.label),
        ("nameField", [("label", spec.name_label), ("type", "Text")]),
        ("pluralLabel", spec.plural_label),
        ("sharingModel", "ReadWrite"),
    ]


def _permission_set_elements(spec: PermissionSetSpec) -> list[Element]:
    items: list[Element] = [("description", spec.description)]
    items += [("fieldPermissions", [("editable", _flag(f.editable)), ("field", f.field), ("readable", "true")])
              for f in spec.fields]
    items += [("hasActivationRequired", "false"), ("label", spec.label)]
    items += [("objectPermissions", [
        ("allowCreate", _flag(o.create)), ("allowDelete", _flag(o.delete)), ("allowEdit", _flag(o.edit)),
        ("allowRead", "true"), ("modifyAllRecords", "false"), ("object", o.object),
        ("viewAllRecords", _flag(o.view_all)),
    ]) for o in spec.objects]
    items += [("userPermissions", [("enabled", "true"), ("name", name)]) for name in spec.user_permissions]
    return items


def source_files(package: OrgPackage) -> dict[str, str]:
    """The DX project's files (path relative to the project root -> text) for ``package``."""
    files = {
        "sfdx-project.json": json.dumps({
            "packageDirectories": [{"path": PACKAGE_DIR, "default": True}],
            "name": "tandem-org-metadata",
            "namespace": "",
            "sfdcLoginUrl": "https://login.salesforce.com",
            "sourceApiVersion": API_VERSION,
        }, indent=2) + "\n",
    }
    for obj in package.objects.values():
        folder = f"{DEFAULT_DIR}/objects/{obj.name}"
        if obj.custom:
            files[f"{folder}/{obj.name}.object-meta.xml"] = _render("CustomObject", _object_elements(obj))
        for spec in obj.fields.values():
            files[f"{folder}/fields/{spec.name}.field-meta.xml"] = _render("CustomField", _field_elements(spec))
    ps = package.permission_set
    files[f"{DEFAULT_DIR}/permissionsets/{ps.name}.permissionset-meta.xml"] = _render(
        "PermissionSet", _permission_set_elements(ps))
    return dict(sorted(files.items()))


def write_source(package: OrgPackage, root: Path) -> list[Path]:
    """Write the DX project of ``package`` under ``root``; return the files written."""
    written = []
    for relative, text in source_files(package).items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written


def existing_files(root: Path) -> dict[str, str]:
    """The project's files under ``root`` (``sfdx-project.json`` and the package folder) -> text."""
    found = {}
    project = root / "sfdx-project.json"
    if project.is_file():
        found["sfdx-project.json"] = project.read_text()
    for path in sorted((root / PACKAGE_DIR).rglob("*")):
        if path.is_file():
            found[path.relative_to(root).as_posix()] = path.read_text()
    return found


# -- reading ---------------------------------------------------------------------------------------


def _parse(text: str, where: str) -> etree._Element:
    try:
        return etree.fromstring(text.encode(), _PARSER)
    except etree.XMLSyntaxError as exc:
        raise PackageSourceError(f"{where}: not valid XML: {exc}") from None


def _text(node: etree._Element, tag: str, default: str = "") -> str:
    found = node.find(f"m:{tag}", _NS)
    return (found.text or "") if found is not None else default


def parse_field(object_name: str, node: etree._Element) -> FieldSpec:
    """A ``CustomField`` element (a DX field file's root, or a ``fields`` element of an object) as a spec."""
    ftype = _text(node, "type")
    values = node.findall("m:valueSet/m:valueSetDefinition/m:value", _NS)
    default = next((_text(v, "fullName") for v in values if _text(v, "default") == "true"), None)
    if ftype == "Checkbox":
        default = _text(node, "defaultValue", "false")
    return FieldSpec(
        object=object_name, name=_text(node, "fullName"), type=ftype, label=_text(node, "label"),
        length=int(_text(node, "length", "0") or 0), precision=int(_text(node, "precision", "0") or 0),
        scale=int(_text(node, "scale", "0") or 0), required=_text(node, "required") == "true",
        external_id=_text(node, "externalId") == "true", unique=_text(node, "unique") == "true",
        reference_to=_text(node, "referenceTo") or None, relationship_name=_text(node, "relationshipName") or None,
        relationship_label=_text(node, "relationshipLabel") or None,
        picklist_values=tuple(_text(v, "fullName") for v in values),
        restricted=_text(node, "valueSet/m:restricted") == "true", default=default,
    )


def parse_object(name: str, node: etree._Element | None) -> ObjectSpec:
    """A ``CustomObject`` element as a spec (``None``: a standard object the package only adds fields to)."""
    if node is None:
        return ObjectSpec(name=name, custom=False)
    return ObjectSpec(name=name, custom=name.endswith("__c"), label=_text(node, "label"),
                      plural_label=_text(node, "pluralLabel"), name_label=_text(node, "nameField/m:label", "Name"))


def parse_permission_set(name: str, node: etree._Element) -> PermissionSetSpec:
    """A ``PermissionSet`` element as a spec."""
    return PermissionSetSpec(
        name=name, label=_text(node, "label"), description=_text(node, "description"),
        objects=tuple(ObjectAccess(object=_text(o, "object"), create=_text(o, "allowCreate") == "true",
                                   edit=_text(o, "allowEdit") == "true", delete=_text(o, "allowDelete") == "true",
                                   view_all=_text(o, "viewAllRecords") == "true")
                      for o in node.findall("m:objectPermissions", _NS)),
        fields=tuple(FieldAccess(field=_text(f, "field"), editable=_text(f, "editable") == "true")
                     for f in node.findall("m:fieldPermissions", _NS)),
        user_permissions=tuple(_text(u, "name") for u in node.findall("m:userPermissions", _NS)
                               if _text(u, "enabled") == "true"),
    )


def read_source(root: Path = SOURCE_ROOT) -> OrgPackage:
    """Read the DX project under ``root`` back into an :class:`OrgPackage`.

    Raises:
        PackageSourceError: the folder is not such a project (it names the file).
    """
    default = root / DEFAULT_DIR
    if not (default / "objects").is_dir():
        raise PackageSourceError(f"{default / 'objects'}: no such folder (generate the package first)")
    objects: dict[str, ObjectSpec] = {}
    for folder in sorted(p for p in (default / "objects").iterdir() if p.is_dir()):
        meta = folder / f"{folder.name}.object-meta.xml"
        node = _parse(meta.read_text(), str(meta)) if meta.is_file() else None
        obj = parse_object(folder.name, node)
        for path in sorted((folder / "fields").glob("*.field-meta.xml")):
            spec = parse_field(folder.name, _parse(path.read_text(), str(path)))
            obj.fields[spec.name] = spec
        objects[obj.name] = obj
    sets = sorted((default / "permissionsets").glob("*.permissionset-meta.xml"))
    if len(sets) != 1:
        raise PackageSourceError(f"{default / 'permissionsets'}: expected one permission set, found {len(sets)}")
    name = sets[0].name.removesuffix(".permissionset-meta.xml")
    permission_set = parse_permission_set(name, _parse(sets[0].read_text(), str(sets[0])))
    return OrgPackage(objects=objects, permission_set=permission_set)


# -- the Metadata API format ----------------------------------------------------------------------


def _package_xml(package: OrgPackage) -> str:
    types: list[tuple[str, list[str]]] = [
        ("CustomField", sorted(f.full_name for f in package.fields())),
        ("CustomObject", sorted(o.name for o in package.objects.values() if o.custom)),
        ("PermissionSet", [package.permission_set.name]),
    ]
    items: list[Element] = [("types", [*(("members", m) for m in members), ("name", name)])
                            for name, members in types if members]
    items.append(("version", API_VERSION))
    return _render("Package", items)


def deploy_zip(root: Path = SOURCE_ROOT) -> bytes:
    """The DX project under ``root`` as a Metadata API deploy zip (``singlePackage``: files at the zip's root)."""
    package = read_source(root)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("package.xml", _package_xml(package))
        for obj in package.objects.values():
            elements = _object_elements(obj) if obj.custom else []
            fields: list[Element] = [("fields", _field_elements(f)) for f in obj.fields.values()]
            archive.writestr(f"objects/{obj.name}.object", _render("CustomObject", _merge(elements, fields)))
        ps = package.permission_set
        archive.writestr(f"permissionsets/{ps.name}.permissionset", _render("PermissionSet",
                                                                             _permission_set_elements(ps)))
    return buffer.getvalue()


def _merge(elements: list[Element], fields: list[Element]) -> list[Element]:
    """An object's elements with its ``fields`` in alphabetical place (after ``enableReports``)."""
    before = [e for e in elements if e[0] < "fields"]
    after = [e for e in elements if e[0] > "fields"]
    return [*before, *fields, *after]
