"""An adapter (one run) asks Salesforce for each object's describe once; the next run's adapter sees a deploy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tandem.errors import FatalSyncError
from tandem.mapping import MAPPINGS_DIR, load_mapping_set
from tandem.salesforce.metadata_check import require_org_metadata
from tandem.salesforce.metadata_deploy import deploy_package
from tests.salesforce_adapter.conftest import credentials
from tests.salesforce_metadata.conftest import deploy, login, metadata, package_xml
from tests.support.emulator import RunningEmulator, start_emulator


def describes(emulator: RunningEmulator) -> int:
    """The describe calls the emulator has counted since its counters were cleared."""
    return int(emulator.control("GET", "counters")["by_endpoint"].get("sobject.describe", 0))


@pytest.fixture
def own_org(tmp_path: Path) -> Iterator[RunningEmulator]:
    """An org of its own (a deploy changes its schema for good), Tandem's package deployed."""
    emulator = start_emulator("salesforce", tmp_path / "crm", "--bare", "--api-limit", "1000000")
    try:
        assert deploy_package(login(emulator)).status == "Succeeded"
        yield emulator
    finally:
        emulator.stop()


def test_the_runs_checks_and_reads_share_one_describe_per_object(emulator: RunningEmulator) -> None:
    adapter = credentials(emulator).get_client()
    emulator.control("DELETE", "counters")
    require_org_metadata(adapter, load_mapping_set(MAPPINGS_DIR / "default.yaml"), ["customer"])
    checked = describes(emulator)
    assert checked >= 1
    names = adapter.field_names("Account")
    assert {"Name", "ERP_Id__c"} <= names
    assert adapter.key_prefix("Account") == "001"
    assert adapter.describe("Account") is adapter.describe("Account")
    assert describes(emulator) == checked  # Account was described by the check: nothing asked again
    # A read through a Bulk API 2.0 query job converts its CSV by the same describe.
    frames = adapter._bulk_reads.read("Account", ["Name"], since=None, page_size=500)
    assert frames is not None
    assert all("Name" in frame for frame in frames)
    assert describes(emulator) == checked

    assert adapter.describe("Gadget__c") is None  # an object the org lacks
    with pytest.raises(FatalSyncError) as missing:
        adapter.field_names("Gadget__c")
    assert missing.value.code == "NOT_FOUND"
    assert describes(emulator) == checked + 1


def test_the_next_run_sees_a_field_deployed_after_this_run_described_the_object(own_org: RunningEmulator) -> None:
    block = credentials(own_org)
    this_run = block.get_client()
    assert "Loyalty_Tier__c" not in this_run.field_names("Account")

    field = ("<fields><fullName>Loyalty_Tier__c</fullName><label>Loyalty tier</label><length>20</length>"
             "<type>Text</type></fields>")
    files = {"package.xml": package_xml({"CustomField": ["Account.Loyalty_Tier__c"]}),
             "objects/Account.object": metadata("CustomObject", field)}
    assert deploy(login(own_org), files)["state"] == "Succeeded"

    assert "Loyalty_Tier__c" in block.get_client().field_names("Account")  # a new adapter asks again
    assert "Loyalty_Tier__c" not in this_run.field_names("Account")  # the run keeps the describe it checked
