"""A bare org end to end: the sync refuses it with the list, `tandem check` lists it, `--deploy` fixes it,
then the sync runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.full_sync import full_sync
from flows.parameters import EntityName
from ops.cli import main
from tandem.errors import FatalSyncError
from tandem.sync.pairing import read_side
from tests.flows.clients import erp_client, erp_write

# The flow tests' Prefect server (session-scoped, autouse: this module's flows and blocks use it).
from tests.flows.conftest import prefect_server, save_connection  # noqa: F401
from tests.salesforce_metadata.conftest import login
from tests.salesforce_metadata.test_metadata_api import BARE_ORG_PROBLEMS, MAPPINGS
from tests.support.emulator import RunningEmulator, start_emulator

ENTITIES = [EntityName(e) for e in ("payment_term", "customer")]
CUSTOMERS = 3


@pytest.fixture
def erp(tmp_path: Path) -> Iterator[RunningEmulator]:
    """An ERP account holding a few customers."""
    emulator = start_emulator("erp", tmp_path / "erp")
    try:
        erp_write(erp_client(emulator), "customer", [
            {"externalId": f"CUST-{n}", "companyName": f"Bare Org Customer {n}", "phone": f"555-010{n}"}
            for n in range(1, CUSTOMERS + 1)
        ])
        yield emulator
    finally:
        emulator.stop()


def test_a_bare_org_is_refused_then_deployed_then_synced(
    bare: RunningEmulator, erp: RunningEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    block = save_connection("bare", bare, erp, tmp_path / "state.sqlite3")

    with pytest.raises(Exception, match="ORG_METADATA_MISSING") as refused:
        full_sync(connection="bare", entities=ENTITIES)
    message = str(refused.value)
    assert "nothing was written" in message
    for line in ("Account.ERP_Id__c: field missing (needs Text(64), external id)",
                 "ERP_Payment_Term__c: object missing (a custom object of the package)",
                 "ERP_Payment_Term__c: object missing", "Tandem_Pairing__c: object missing"):
        assert line in message
    assert "ERP_Invoice__c" not in message  # only what the run's entities need
    sf = login(bare)
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0
    # What the sandbox refresh and tandem pairing read first names what to deploy too.
    with pytest.raises(FatalSyncError, match=r"PAIRING_METADATA_MISSING.*no Tandem_Pairing__c.*Deploy salesforce/"):
        read_side(block.salesforce.get_client(), "crm", bare.info["org_id"])

    capsys.readouterr()
    assert main(["check", "--connection", "bare"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[:-1] == BARE_ORG_PROBLEMS
    assert out[-1].startswith(f"{len(BARE_ORG_PROBLEMS)} problem(s): deploy salesforce/")

    assert main(["check", "--connection", "bare", "--deploy"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("deployed 63 of 63 components (deploy 0Af")
    entities = len(MAPPINGS.entities)
    assert out[1:] == [f"the org has every object, field and permission the {entities} entities of 'default' need"]

    rows = {str(r["entity"]): r for r in full_sync(connection="bare", entities=ENTITIES)}
    assert {r["state"] for r in rows.values()} == {"succeeded"}, rows
    assert rows["customer"]["inserted"] == CUSTOMERS and rows["customer"]["failed"] == 0
    accounts = sf.query("SELECT Name, Phone, ERP_Id__c FROM Account ORDER BY Name")["records"]
    assert [(a["Name"], a["Phone"], a["ERP_Id__c"]) for a in accounts] == [
        (f"Bare Org Customer {n}", f"555-010{n}", f"CUST-{n}") for n in range(1, CUSTOMERS + 1)]


def test_check_names_an_unknown_connection_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--connection", "no-such-connection"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no Tandem Sync Connection block named 'no-such-connection'" in err[0]
