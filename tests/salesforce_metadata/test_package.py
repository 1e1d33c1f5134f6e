"""The org package in salesforce/: generated from the mappings and the emulator's schema, and never drifting."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from emulators.salesforce.schema import load_schema
from tandem.mapping import MAPPINGS_DIR, load_mapping_set, parse_mapping_set
from tandem.salesforce.metadata_package import PackageError, build_package, default_package, drifted, main
from tandem.salesforce.metadata_requirements import org_needs
from tandem.salesforce.metadata_source import SOURCE_ROOT, deploy_zip, read_source, source_files, write_source

NS = {"m": "http://soap.sforce.com/2006/04/metadata"}


def test_the_committed_package_is_what_the_generator_writes() -> None:
    # If this fails: python -m tandem.salesforce.metadata_package --write salesforce/
    assert drifted(SOURCE_ROOT, default_package()) == []
    assert main(["--check", str(SOURCE_ROOT)]) == 0


def test_a_hand_edit_is_reported_as_drift(tmp_path: Path) -> None:
    write_source(default_package(), tmp_path)
    field = tmp_path / "force-app/main/default/objects/Account/fields/ERP_Id__c.field-meta.xml"
    field.write_text(field.read_text().replace("<length>64</length>", "<length>40</length>"))
    (tmp_path / "force-app/main/default/objects/Account/fields/Extra__c.field-meta.xml").write_text("<x/>")
    assert drifted(tmp_path, default_package()) == [
        "force-app/main/default/objects/Account/fields/ERP_Id__c.field-meta.xml",
        "force-app/main/default/objects/Account/fields/Extra__c.field-meta.xml",
    ]
    assert main(["--check", str(tmp_path)]) == 1


def test_every_custom_object_and_field_the_mappings_use_is_in_the_package_as_the_emulator_defines_it() -> None:
    package = read_source()
    schema = load_schema()
    needs = org_needs(load_mapping_set(MAPPINGS_DIR / "default.yaml"))
    used = {(o, f) for o, need in needs.items() for f in need.fields if f.endswith("__c")}
    home = {"Task": "Activity"}
    assert used == {
        (o if o != "Activity" else "Task", f) for o, obj in package.objects.items() for f in obj.fields
    }
    assert {o for o in needs if o.endswith("__c")} == {o for o, obj in package.objects.items() if obj.custom}
    for object_name, field_name in used:
        spec = package.field(home.get(object_name, object_name), field_name)
        emulated = schema.objects[object_name].fields[field_name]
        assert spec is not None
        assert spec.external_id == emulated.external_id, (object_name, field_name)
        if emulated.type == "string":
            assert (spec.type, spec.length) == ("Text", emulated.length), (object_name, field_name)
        if emulated.type in {"currency", "percent", "double", "int"}:
            assert spec.precision == emulated.precision, (object_name, field_name)
        if emulated.type == "reference":
            assert (spec.type, spec.reference_to) == ("Lookup", emulated.reference_to[0])
    erp_id = package.field("Account", "ERP_Id__c")
    assert erp_id is not None and erp_id.summary() == "Text(64), external id" and erp_id.unique
    unit = package.field("ERP_Unit_Group__c", "Base_Unit__c")
    assert unit is not None and unit.summary() == "Text(20), required"
    assert package.objects["ERP_Invoice__c"].name_label == "Invoice Number"


def test_the_permission_set_grants_what_tandem_writes_and_skips_required_fields() -> None:
    package = read_source()
    permission_set = package.permission_set
    granted = {f.field: f.editable for f in permission_set.fields}
    assert granted["Account.ERP_Id__c"] is True and granted["Task.ERP_Id__c"] is True
    # Required fields are always editable: Salesforce refuses field permissions on them.
    assert "ERP_Invoice__c.Account__c" not in granted and "ERP_Unit_Group__c.Base_Unit__c" not in granted
    objects = {o.object: o for o in permission_set.objects}
    assert objects["ERP_Invoice__c"].delete and objects["ERP_Invoice__c"].edit  # deletion: delete
    assert objects["Account"].create and not objects["Account"].delete
    assert "Task" not in objects and "User" not in objects  # not permissionable: user permissions instead
    assert permission_set.user_permissions == ("ApiEnabled", "EditTask")


def test_the_deploy_zip_names_every_component_and_holds_its_file() -> None:
    package = read_source()
    with zipfile.ZipFile(io.BytesIO(deploy_zip())) as zipped:
        manifest = etree.fromstring(zipped.read("package.xml"))
        members = {
            str(t.findtext("m:name", namespaces=NS)): [str(m.text) for m in t.findall("m:members", NS)]
            for t in manifest.findall("m:types", NS)
        }
        assert sorted(members["CustomObject"]) == sorted(o for o, obj in package.objects.items() if obj.custom)
        assert len(members["CustomField"]) == len(package.fields()) == 54
        assert members["PermissionSet"] == ["Tandem_Integration"]
        invoice = etree.fromstring(zipped.read("objects/ERP_Invoice__c.object"))
        assert invoice.findtext("m:label", namespaces=NS) == "ERP Invoice"
        assert sorted(str(f.findtext("m:fullName", namespaces=NS)) for f in invoice.findall("m:fields", NS)) == sorted(
            package.objects["ERP_Invoice__c"].fields)
        assert "objects/Activity.object" in zipped.namelist()


def test_the_source_reads_back_into_the_same_package(tmp_path: Path) -> None:
    package = default_package()
    write_source(package, tmp_path)
    assert source_files(read_source(tmp_path)) == source_files(package)


def test_a_mapping_on_a_field_the_emulator_does_not_define_is_refused() -> None:
    mappings = parse_mapping_set({"name": "x", "entities": {"customer": {
        "crm_object": "Account", "erp_type": "customer", "direction": "both",
        "fields": [{"crm": "Loyalty_Tier__c", "erp": "category"}],
    }}}, "test.yaml")
    with pytest.raises(PackageError, match=r"Account\.Loyalty_Tier__c"):
        build_package(mappings, load_schema())
