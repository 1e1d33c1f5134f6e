"""Full sync end to end: both emulators, real blocks, the flow under Prefect's test harness."""

from __future__ import annotations

from pathlib import Path

import pytest
from simple_salesforce import Salesforce

from blocks.connection import SyncConnection
from flows.full_sync import full_sync
from flows.parameters import EntityName
from tandem.salesforce.transport import build_session
from tandem.sync.pairing import PairingError
from tests.flows.conftest import erp_block, salesforce_block, save_connection
from tests.support.emulator import RunningEmulator

CORE = ["currency", "salesperson", "payment_term", "customer", "contact"]


def salesforce(crm: RunningEmulator) -> Salesforce:
    info = crm.info
    session = build_session(ca_bundle=crm.ca_cert, login_url=info["login_url"])
    return Salesforce(username=info["username"], password=info["password"], security_token=info["security_token"],
                      session=session)


def by_entity(rows: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(row["entity"]): row for row in rows}


def test_full_sync_moves_records_and_a_second_run_changes_nothing(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path
) -> None:
    crm, erp = fresh
    save_connection("e2e", crm, erp, tmp_path / "state.sqlite3")
    sf = salesforce(crm)
    accounts_before = sf.query("SELECT COUNT() FROM Account")["totalSize"]

    erp_customers_before = 300
    first = by_entity(full_sync(connection="e2e", entities=[EntityName(e) for e in CORE]))
    assert {row["state"] for row in first.values()} == {"succeeded"}, first
    assert all(row["failed"] == 0 for row in first.values()), first
    # ERP customers were coupled or created in Salesforce; the org's own accounts were created in the ERP.
    accounts = sf.query("SELECT COUNT() FROM Account")["totalSize"]
    assert accounts == accounts_before + erp_customers_before - int(str(first["customer"]["coupled"]))
    linked = sf.query("SELECT COUNT() FROM Account WHERE ERP_Id__c != null")["totalSize"]
    assert linked == accounts
    coupled = int(str(first["customer"]["coupled"]))
    assert first["customer"]["inserted"] == (erp_customers_before - coupled) + (accounts_before - coupled)

    second = by_entity(full_sync(connection="e2e", entities=[EntityName(e) for e in CORE]))
    for name in CORE:
        row = second[name]
        assert (row["inserted"], row["modified"], row["coupled"], row["failed"]) == (0, 0, 0, 0), row
    assert second["customer"]["unchanged"] == 2 * accounts
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == accounts


def test_a_connection_refuses_production_with_sandbox_before_writing(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path
) -> None:
    crm, erp = fresh
    # The blocks claim sandbox on both sides, but the org behind the Salesforce credentials is production.
    save_connection(
        "mixed", crm, erp, tmp_path / "state.sqlite3", environment="sandbox",
        salesforce=salesforce_block(crm, sandbox=True), erp=erp_block(erp, account_id=erp.info["account"] + "_SB1"),
    )
    before = crm.control("GET", "counters")["by_endpoint"]
    refused = r"Salesforce org 00D\w+ is production and ERP account 1234567_SB1 is sandbox"
    with pytest.raises(PairingError, match=refused):
        full_sync(connection="mixed", entities=[EntityName("currency")])
    after = crm.control("GET", "counters")["by_endpoint"]
    writes = ("collections", "sobject.create", "sobject.update")
    assert not any(name.startswith(writes) for name in set(after) - set(before))
    with pytest.raises(ValueError, match="a production connection needs production on both sides"):
        SyncConnection(salesforce=salesforce_block(crm, login_host="test"), erp=erp_block(erp))


def test_one_erp_company_per_crm_org(fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path) -> None:
    crm, erp = fresh
    store = tmp_path / "state.sqlite3"
    save_connection("first", crm, erp, store)
    full_sync(connection="first", entities=[EntityName("currency")])
    other_account = erp_block(erp, account_id="7654321")
    save_connection("second", crm, erp, store, erp=other_account)
    with pytest.raises(PairingError, match=r"00D\w+.*1234567.*7654321|00D\w+.*7654321.*1234567"):
        full_sync(connection="second", entities=[EntityName("currency")])
