"""The emulator's Metadata API (deploy, checkDeployStatus) driven by simple-salesforce, and the org check on it."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from lxml import etree
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from tandem.errors import FatalSyncError
from tandem.mapping import MAPPINGS_DIR, load_mapping_set, parse_mapping_set
from tandem.salesforce.adapter import SalesforceAdapter
from tandem.salesforce.metadata_check import check_org, describer, package_definitions, require_org_metadata
from tandem.salesforce.metadata_deploy import deploy_package
from tandem.salesforce.metadata_package import default_package
from tandem.salesforce.metadata_source import deploy_zip, write_source
from tests.salesforce_metadata.conftest import deploy, login, metadata, package_xml
from tests.support.emulator import RunningEmulator, start_emulator

NS = {"m": "http://soap.sforce.com/2006/04/metadata", "env": "http://schemas.xmlsoap.org/soap/envelope/"}
MAPPINGS = load_mapping_set(MAPPINGS_DIR / "default.yaml")
BARE_ORG_PROBLEMS = [
    "Account.ERP_Id__c: field missing (needs Text(64), external id)",
    "Account.ERP_Payment_Term__c: field missing (needs Lookup(ERP_Payment_Term__c))",
    "Contact.ERP_Id__c: field missing (needs Text(64), external id)",
    "CurrencyType.ERP_Id__c: field missing (needs Text(64), external id)",
    "ERP_Contract__c: object missing (a custom object of the package)",
    "ERP_Invoice__c: object missing (a custom object of the package)",
    "ERP_Item_Availability__c: object missing (a custom object of the package)",
    "ERP_Location__c: object missing (a custom object of the package)",
    "ERP_Payment_Term__c: object missing (a custom object of the package)",
    "ERP_Sales_Order__c: object missing (a custom object of the package)",
    "ERP_Unit_Group__c: object missing (a custom object of the package)",
    "Order.ERP_Id__c: field missing (needs Text(64), external id)",
    "Order.ERP_Order_Number__c: field missing (needs Text(30))",
    "Order.ERP_Status__c: field missing (needs Picklist)",
    "Order.Submit_to_ERP__c: field missing (needs Checkbox)",
    "Pricebook2.ERP_Id__c: field missing (needs Text(64), external id)",
    "PricebookEntry.ERP_Id__c: field missing (needs Text(64), external id)",
    "Product2.ERP_Id__c: field missing (needs Text(64), external id)",
    "Product2.ERP_Unit_Group__c: field missing (needs Lookup(ERP_Unit_Group__c))",
    "Product2.Quantity_Available__c: field missing (needs Number(18, 2))",
    "Product2.Quantity_On_Hand__c: field missing (needs Number(18, 2))",
    "Tandem_Pairing__c: object missing (a custom object of the package)",
    "Task.ERP_Id__c: field missing (needs Text(64), external id)",
    "User.ERP_Id__c: field missing (needs Text(64), external id)",
]


def problems(sf: Salesforce) -> list[str]:
    return [p.line() for p in check_org(describer(sf), MAPPINGS, package=package_definitions())]


def package_files(*, without: str | None = None, only: str | None = None) -> dict[str, str]:
    """The repo's package as deploy files, with one type left out (or only one type kept)."""
    with zipfile.ZipFile(io.BytesIO(deploy_zip())) as zipped:
        files = {name: zipped.read(name).decode() for name in zipped.namelist()}
    manifest = etree.fromstring(files["package.xml"].encode())
    types = {t.findtext("m:name", namespaces=NS): [m.text for m in t.findall("m:members", NS)]
             for t in manifest.findall("m:types", NS)}
    kept = {k: v for k, v in types.items() if k != without and (only is None or k == only)}
    files["package.xml"] = package_xml(kept)  # type: ignore[arg-type]
    return files


def check_status_xml(emulator: RunningEmulator, sf: Salesforce, deploy_id: str) -> etree._Element:
    """The raw ``checkDeployStatus`` result with details."""
    body = (f'<soapenv:Envelope xmlns:soapenv="{NS["env"]}" xmlns:met="{NS["m"]}"><soapenv:Header>'
            f"<met:SessionHeader><met:sessionId>{sf.session_id}</met:sessionId></met:SessionHeader></soapenv:Header>"
            f"<soapenv:Body><met:checkDeployStatus><met:asyncProcessId>{deploy_id}</met:asyncProcessId>"
            "<met:includeDetails>true</met:includeDetails></met:checkDeployStatus></soapenv:Body></soapenv:Envelope>")
    with emulator.session() as session:
        answer = session.post(f"{emulator.base_url}/services/Soap/m/59.0/deployRequest/{deploy_id}", data=body,
                              headers={"Content-Type": "text/xml", "SOAPAction": "checkDeployStatus"}, timeout=30)
    return etree.fromstring(answer.content)


def test_a_bare_org_is_listed_with_everything_it_lacks(bare_sf: Salesforce) -> None:
    assert problems(bare_sf) == BARE_ORG_PROBLEMS


def test_the_package_deploys_and_then_the_org_has_everything(bare: RunningEmulator, bare_sf: Salesforce) -> None:
    outcome = deploy_package(bare_sf)
    assert (outcome.status, outcome.deployed, outcome.total, outcome.failures) == ("Succeeded", 63, 63, [])
    assert problems(bare_sf) == []
    invoice = bare_sf.ERP_Invoice__c.describe()
    assert (invoice["keyPrefix"][0], invoice["label"], invoice["createable"]) == ("a", "ERP Invoice", True)
    fields = {f["name"]: f for f in invoice["fields"]}
    lookup = fields["Account__c"]
    assert (lookup["referenceTo"], lookup["relationshipName"]) == (["Account"], "Account__r")
    assert fields["Amount__c"]["type"] == "currency" and fields["Amount__c"]["precision"] == 16
    assert {f["name"]: f for f in bare_sf.ERP_Payment_Term__c.describe()["fields"]}["Days_Due__c"]["type"] == "double"
    # The new objects and fields take records at once.
    account = bare_sf.Account.create({"Name": "Acme", "ERP_Id__c": "CUST-1"})["id"]
    bare_sf.ERP_Invoice__c.upsert("ERP_Id__c/INV-1", {"Name": "INV-1", "Account__c": account,
                                                      "Invoice_Date__c": "2026-12-01", "Amount__c": 12.5})
    [row] = bare_sf.query("SELECT Name, Account__r.ERP_Id__c, Amount__c FROM ERP_Invoice__c")["records"]
    assert (row["Name"], row["Account__r"]["ERP_Id__c"], row["Amount__c"]) == ("INV-1", "CUST-1", 12.5)

    result = check_status_xml(bare, bare_sf, outcome.id).find("env:Body/m:checkDeployStatusResponse/m:result", NS)
    assert result is not None
    assert {child: result.findtext(f"m:{child}", namespaces=NS) for child in (
        "id", "done", "status", "success", "numberComponentsDeployed", "numberComponentErrors", "checkOnly",
        "rollbackOnError")} == {
        "id": outcome.id, "done": "true", "status": "Succeeded", "success": "true",
        "numberComponentsDeployed": "63", "numberComponentErrors": "0", "checkOnly": "false", "rollbackOnError": "true"}
    successes = {(s.findtext("m:componentType", namespaces=NS), s.findtext("m:fullName", namespaces=NS)):
                 s.findtext("m:created", namespaces=NS) for s in result.findall("m:details/m:componentSuccesses", NS)}
    assert successes[("CustomObject", "ERP_Invoice__c")] == "true"
    assert successes[("CustomField", "Activity.ERP_Id__c")] == "true"
    assert successes[("PermissionSet", "Tandem_Integration")] == "true"
    # A second deploy changes what is there: nothing is created again.
    again = deploy_package(bare_sf)
    assert again.succeeded
    details = check_status_xml(bare, bare_sf, again.id).findall(".//m:componentSuccesses/m:created", NS)
    assert {d.text for d in details} == {"false"}
    assert bare_sf.query("SELECT COUNT() FROM ERP_Invoice__c")["totalSize"] == 1


def test_without_the_permission_set_the_integration_user_may_not_write_the_new_fields(bare_sf: Salesforce) -> None:
    status = deploy(bare_sf, package_files(without="PermissionSet"))
    assert status["state"] == "Succeeded"
    lines = problems(bare_sf)
    assert "Account.ERP_Id__c: no access (not createable for the integration user)" in lines
    assert "Account.ERP_Id__c: no access (not updateable for the integration user)" in lines
    assert "ERP_Invoice__c: no access (the integration user may not create its records)" in lines
    assert "ERP_Invoice__c: no access (the integration user may not delete its records)" in lines
    assert not [line for line in lines if "missing" in line]
    with pytest.raises(SalesforceError) as refused:
        bare_sf.Account.create({"Name": "Acme", "ERP_Id__c": "CUST-1"})
    assert refused.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"

    assert deploy(bare_sf, package_files(only="PermissionSet"))["state"] == "Succeeded"
    assert problems(bare_sf) == []


def test_a_definition_that_differs_is_listed_as_mistyped_or_too_short(bare_sf: Salesforce) -> None:
    text = ("<fields><fullName>ERP_Id__c</fullName><externalId>false</externalId><label>ERP Id</label>"
            "<length>20</length><type>Text</type></fields>"
            "<fields><fullName>ERP_Unit_Group__c</fullName><label>Unit group</label><length>80</length>"
            "<type>Text</type></fields>")
    files = {"package.xml": package_xml({"CustomField": ["Product2.ERP_Id__c", "Product2.ERP_Unit_Group__c"]}),
             "objects/Product2.object": metadata("CustomObject", text)}
    assert deploy(bare_sf, files)["state"] == "Succeeded"
    deployed = ("Product2.ERP_Id__c", "Product2.ERP_Unit_Group__c")
    lines = [line for line in problems(bare_sf) if line.startswith(deployed)]
    assert lines == [
        "Product2.ERP_Id__c: too short (holds 20 characters, needs 64)",
        "Product2.ERP_Id__c: not an external id (Tandem upserts by it)",
        "Product2.ERP_Id__c: no access (not createable for the integration user)",
        "Product2.ERP_Id__c: no access (not updateable for the integration user)",
        "Product2.ERP_Unit_Group__c: wrong type (is string, needs Lookup(ERP_Unit_Group__c))",
        "Product2.ERP_Unit_Group__c: no access (not createable for the integration user)",
        "Product2.ERP_Unit_Group__c: no access (not updateable for the integration user)",
    ]


OBJECT = "<label>Gadget</label><nameField><label>Gadget Name</label><type>Text</type></nameField>" \
         "<pluralLabel>Gadgets</pluralLabel><deploymentStatus>Deployed</deploymentStatus>" \
         "<sharingModel>ReadWrite</sharingModel>"
BAD_LOOKUP = ("<fields><fullName>Part__c</fullName><label>Part</label><referenceTo>Nope__c</referenceTo>"
              "<relationshipName>Gadgets</relationshipName><type>Lookup</type></fields>")
GOOD_FIELD = "<fields><fullName>Size__c</fullName><label>Size</label><precision>5</precision><scale>1</scale>" \
             "<type>Number</type></fields>"


def gadget_files() -> dict[str, str]:
    return {
        "package.xml": package_xml({"CustomObject": ["Gadget__c"],
                                    "CustomField": ["Gadget__c.Part__c", "Gadget__c.Size__c"]}),
        "objects/Gadget__c.object": metadata("CustomObject", OBJECT + BAD_LOOKUP + GOOD_FIELD),
    }


def test_a_failing_component_rolls_back_a_production_deploy(bare_sf: Salesforce) -> None:
    status = deploy(bare_sf, gadget_files())
    detail = status["deployment_detail"]
    assert status["state"] == "Failed"
    assert (detail["failed_count"], detail["total_count"]) == ("1", "3")
    assert detail["errors"] == [{
        "type": "CustomField", "file": "objects/Gadget__c.object", "status": "Error",
        "message": "referenceTo value of 'Nope__c' does not resolve to a valid sObject type"}]
    assert "Gadget__c" not in {o["name"] for o in bare_sf.describe()["sobjects"]}


def test_without_rollback_the_components_that_pass_are_deployed(bare_sf: Salesforce) -> None:
    status = deploy(bare_sf, gadget_files(), sandbox=True)  # simple-salesforce: no rollbackOnError for sandboxes
    assert status["state"] == "SucceededPartial"
    fields = {f["name"]: f for f in bare_sf.Gadget__c.describe()["fields"]}
    assert "Size__c" in fields and "Part__c" not in fields
    assert (fields["Size__c"]["precision"], fields["Size__c"]["scale"]) == (5, 1)


def test_check_only_validates_and_changes_nothing(bare_sf: Salesforce) -> None:
    files = {"package.xml": package_xml({"CustomObject": ["Gadget__c"], "CustomField": ["Gadget__c.Size__c"]}),
             "objects/Gadget__c.object": metadata("CustomObject", OBJECT + GOOD_FIELD)}
    status = deploy(bare_sf, files, checkOnly=True)
    assert status["state"] == "Succeeded" and status["deployment_detail"]["deployed_count"] == "2"
    assert "Gadget__c" not in {o["name"] for o in bare_sf.describe()["sobjects"]}


@pytest.mark.parametrize(("files", "message"), [
    ({"package.xml": package_xml({"PermissionSet": ["Tandem"]}),
      "permissionsets/Tandem.permissionset": metadata("PermissionSet", (
          "<label>Tandem</label><fieldPermissions><editable>true</editable><field>Account.Name</field>"
          "<readable>true</readable></fieldPermissions>"))},
     "In field: field - no CustomField named Account.Name found"),
    ({"package.xml": package_xml({"CustomObject": ["Gadget__c"]})},
     "An object 'Gadget__c' of type CustomObject was named in package.xml, but was not found in zipped directory"),
    ({"package.xml": package_xml({"ApexClass": ["Sync"]})}, "Unknown type name 'ApexClass' specified in package.xml"),
    ({"package.xml": package_xml({"CustomField": ["Account.Size__c"]}),
      "objects/Account.object": metadata("CustomObject", "<fields><fullName>Size__c</fullName><label>Size</label>"
                                                         "<type>Text</type></fields>")},
     "Must specify 'length' for a CustomField of type Text"),
])
def test_components_the_org_refuses_fail_with_salesforces_problem(
    bare_sf: Salesforce, files: dict[str, str], message: str
) -> None:
    status = deploy(bare_sf, files)
    assert status["state"] == "Failed"
    assert [e["message"] for e in status["deployment_detail"]["errors"]] == [message]


def test_a_permission_on_a_required_field_is_refused(bare_sf: Salesforce) -> None:
    assert deploy(bare_sf, package_files(without="PermissionSet"))["state"] == "Succeeded"
    files = {"package.xml": package_xml({"PermissionSet": ["Tandem"]}),
             "permissionsets/Tandem.permissionset": metadata("PermissionSet", (
                 "<label>Tandem</label><fieldPermissions><editable>true</editable>"
                 "<field>ERP_Invoice__c.Account__c</field><readable>true</readable></fieldPermissions>"))}
    status = deploy(bare_sf, files)
    assert [e["message"] for e in status["deployment_detail"]["errors"]] == [
        "You cannot deploy to a required field: ERP_Invoice__c.Account__c"]


def test_a_zip_without_package_xml_fails_the_whole_deploy(bare: RunningEmulator, bare_sf: Salesforce) -> None:
    started = bare_sf.deploy(io.BytesIO(b"not a zip"), sandbox=False)
    result = check_status_xml(bare, bare_sf, str(started["asyncId"])).find(".//m:result", NS)
    assert result is not None
    assert (result.findtext("m:status", namespaces=NS), result.findtext("m:success", namespaces=NS),
            result.findtext("m:errorMessage", namespaces=NS)) == (
        "Failed", "false", "The zip file could not be read: not a zip archive")


def test_faults_for_a_bad_session_and_an_unknown_deploy(bare: RunningEmulator, bare_sf: Salesforce) -> None:
    envelope = (f'<soapenv:Envelope xmlns:soapenv="{NS["env"]}" xmlns:met="{NS["m"]}"><soapenv:Header>'
                "<met:SessionHeader><met:sessionId>{session}</met:sessionId></met:SessionHeader></soapenv:Header>"
                "<soapenv:Body><met:checkDeployStatus><met:asyncProcessId>0Af5g0000000999AAA</met:asyncProcessId>"
                "</met:checkDeployStatus></soapenv:Body></soapenv:Envelope>")
    with bare.session() as session:
        for token, code in (("bogus", "sf:INVALID_SESSION_ID"), (bare_sf.session_id, "sf:INVALID_CROSS_REFERENCE_KEY")):
            answer = session.post(f"{bare.base_url}/services/Soap/m/59.0/deployRequest/x",
                                   data=envelope.format(session=token), headers={"Content-Type": "text/xml"},
                                   timeout=30)
            assert answer.status_code == 500
            assert etree.fromstring(answer.content).findtext(".//faultcode") == code


def test_deployed_metadata_comes_back_after_a_restart(bare: RunningEmulator, bare_sf: Salesforce) -> None:
    assert deploy_package(bare_sf).succeeded
    bare_sf.Account.create({"Name": "Acme", "ERP_Id__c": "CUST-1"})
    bare.stop()
    again = start_emulator("salesforce", bare.data_dir, "--bare")
    try:
        sf = login(again)
        assert problems(sf) == []
        assert sf.query("SELECT ERP_Id__c FROM Account WHERE Name = 'Acme'")["records"][0]["ERP_Id__c"] == "CUST-1"
    finally:
        again.stop()


def test_a_package_the_org_refuses_is_reported_component_by_component(bare_sf: Salesforce, tmp_path: Path) -> None:
    write_source(default_package(), tmp_path)
    lookup = tmp_path / "force-app/main/default/objects/Product2/fields/ERP_Unit_Group__c.field-meta.xml"
    lookup.write_text(lookup.read_text().replace("<referenceTo>ERP_Unit_Group__c<", "<referenceTo>Unit__c<"))
    outcome = deploy_package(bare_sf, tmp_path)
    assert (outcome.succeeded, outcome.status, outcome.total) == (False, "Failed", 63)
    assert outcome.failures == [
        "CustomField objects/Product2.object: referenceTo value of 'Unit__c' does not resolve to a valid sObject type",
        # The permission set names the field that failed: it fails too, as in Salesforce.
        "PermissionSet permissionsets/Tandem_Integration.permissionset: In field: field - no CustomField named "
        "Product2.ERP_Unit_Group__c found",
    ]
    assert problems(bare_sf) == BARE_ORG_PROBLEMS  # rolled back: nothing was deployed


def test_the_emulators_full_org_has_everything_before_and_after_a_deploy(tmp_path: Path) -> None:
    full = start_emulator("salesforce", tmp_path / "full", "--api-limit", "1000000")
    try:
        sf = login(full)
        assert problems(sf) == []  # every sync against the demo org passes the check
        assert deploy_package(sf).succeeded
        assert problems(sf) == []
        # A field neither the org nor the package has: listed by the check, left to the mapping check by a run.
        mappings = parse_mapping_set({"name": "x", "entities": {"customer": {
            "crm_object": "Account", "erp_type": "customer", "direction": "both",
            "fields": [{"crm": "Loyalty_Tier__c", "erp": "category"}]}}}, "x.yaml")
        [line] = [p.line() for p in check_org(describer(sf), mappings, package=package_definitions())]
        assert line.startswith("Account.Loyalty_Tier__c: field missing (not in salesforce/")
        require_org_metadata(SalesforceAdapter(sf), mappings, ["customer"])
        erp_id = parse_mapping_set({"name": "x", "entities": {"customer": {
            "crm_object": "Account", "erp_type": "customer", "direction": "both", "crm_key": "AccountNumber",
            "fields": [{"crm": "Name", "erp": "companyName"}]}}}, "x.yaml")
        with pytest.raises(FatalSyncError, match=r"Account\.AccountNumber: not an external id") as refused:
            require_org_metadata(SalesforceAdapter(sf), erp_id, ["customer"])
        assert refused.value.code == "ORG_METADATA_MISSING"
    finally:
        full.stop()
