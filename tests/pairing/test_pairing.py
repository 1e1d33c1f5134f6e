"""The pairing recorded in both systems: one ERP company per CRM org across state stores, released on purpose.

Every test opens connections the way every flow does (the setup task, ``open_connection``), against the demo org,
the demo ERP account (1234567) and a second account (7654321), each connection with a state store of its own.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from blocks.connection import SyncConnection
from blocks.store import StateStore
from ops.cli import main
from tandem.adapter import RecordAdapter
from tandem.store import create_store_engine, get_connection, list_connections, session_scope, update_connection
from tandem.sync.context import SyncContext
from tandem.sync.pairing import PairingError, SideRecords, move_pairing, read_side
from tandem.sync.pairing_records import CRM_PAIRING_OBJECT, ERP_PAIRING_TYPE, crm_row, erp_row
from tasks.setup import open_connection
from tests.flows.conftest import erp_block, salesforce_block, save_connection
from tests.pairing.conftest import OTHER_ACCOUNT, adapter
from tests.support.emulator import RunningEmulator

Systems = tuple[RunningEmulator, RunningEmulator, RunningEmulator]
#: Another org's id, as a connection of that org would have recorded it.
ELSEWHERE_ORG = "00D5g0000000777EAA"
#: The emulators' names of write calls: Salesforce's sObject (Collections) writes, SuiteTalk's write operations.
WRITES = re.compile(r"^(collections|sobject)\.(create|update|upsert|delete)"
                    r"|^(async)?(add|update|upsert|delete)(List)?$", re.IGNORECASE)


def block(crm: RunningEmulator, erp: RunningEmulator, store: Path) -> SyncConnection:
    """A connection of ``crm`` and ``erp`` with the state store ``store`` (not saved)."""
    return SyncConnection(salesforce=salesforce_block(crm), erp=erp_block(erp),
                          store=StateStore(url=SecretStr(f"sqlite:///{store}")))


def open_for(connection: SyncConnection, name: str, *, dry_run: bool = False) -> SyncContext:
    """Open the connection as every flow does (the setup task's function)."""
    return open_connection.fn(connection, name=name, procedure="pairing-test", entities=["currency"],
                              dry_run=dry_run)


def recorded(crm: RunningEmulator | None, erp: RunningEmulator | None) -> tuple[SideRecords | None, ...]:
    """What the org and the account hold now (``None`` for a system not asked)."""
    sides: list[SideRecords | None] = []
    if crm is not None:
        sides.append(read_side(adapter(crm), "crm", crm.info["org_id"]))
    if erp is not None:
        sides.append(read_side(adapter(erp), "erp", erp.info["account"]))
    return tuple(sides)


def writes(*emulators: RunningEmulator) -> list[str]:
    """The write calls the emulators counted since their counters were cleared."""
    return [name for emulator in emulators for name in emulator.control("GET", "counters")["by_endpoint"]
            if WRITES.search(name)]


def store_names(store: Path) -> list[str]:
    """The connections a state store holds."""
    with session_scope(create_store_engine(f"sqlite:///{store}"), write=False) as session:
        return [c.name for c in list_connections(session)]


def test_the_first_run_records_the_pair_in_both_systems_and_a_rerun_writes_nothing(
    systems: Systems, tmp_path: Path
) -> None:
    crm, erp, _ = systems
    org_id = crm.info["org_id"]
    assert recorded(crm, erp) == (SideRecords("crm", None, ()), SideRecords("erp", None, ()))
    open_for(block(crm, erp, tmp_path / "first.sqlite3"), "first", dry_run=True)
    assert recorded(crm, erp) == (SideRecords("crm", None, ()), SideRecords("erp", None, ()))  # a dry run

    open_for(block(crm, erp, tmp_path / "first.sqlite3"), "first")
    in_crm, in_erp = recorded(crm, erp)
    assert in_crm is not None and in_crm.own is not None and in_erp is not None and in_erp.own is not None
    assert (in_crm.own.crm_org_id, in_crm.own.erp_account, in_crm.own.environment, in_crm.own.connection) == (
        org_id, "1234567", "production", "first")
    assert (in_erp.own.crm_org_id, in_erp.own.erp_account, in_erp.own.environment, in_erp.own.connection) == (
        org_id, "1234567", "production", "first")
    assert in_crm.own.paired_at is not None and abs(in_crm.own.paired_at - datetime.now(UTC)).total_seconds() < 60

    for emulator in (crm, erp):
        emulator.control("DELETE", "counters")
    open_for(block(crm, erp, tmp_path / "first.sqlite3"), "first")  # the same connection again
    open_for(block(crm, erp, tmp_path / "again.sqlite3"), "again")  # the same pair, a new state store
    assert writes(crm, erp) == []
    assert recorded(crm, erp) == (in_crm, in_erp)  # still the first connection's records
    assert store_names(tmp_path / "again.sqlite3") == ["again"]


def test_an_org_paired_elsewhere_refuses_a_connection_with_its_own_store(systems: Systems, tmp_path: Path) -> None:
    crm, erp, other = systems
    org_id = crm.info["org_id"]
    open_for(block(crm, erp, tmp_path / "first.sqlite3"), "first")
    before = recorded(crm, erp)
    for emulator in (crm, other):
        emulator.control("DELETE", "counters")

    refused = (rf"Salesforce org {org_id} is paired with ERP account 1234567 \(recorded by connection 'first' on "
               rf".*\), so connection 'second' may not pair it with ERP account {OTHER_ACCOUNT}: one ERP company per "
               r"CRM org\. Nothing was written\. .*tandem pairing release --connection first")
    with pytest.raises(PairingError, match=refused):
        open_for(block(crm, other, tmp_path / "second.sqlite3"), "second")

    asked = set(other.control("GET", "counters")["by_endpoint"])
    assert asked <= {"wsdl", "xsd"}, asked  # refused before the ERP was asked anything (only its WSDL was read)
    assert writes(crm) == []
    assert recorded(crm, erp) == before and recorded(None, other) == (SideRecords("erp", None, ()),)
    assert store_names(tmp_path / "second.sqlite3") == []


def test_an_account_paired_elsewhere_refuses_a_connection_with_its_own_store(
    systems: Systems, tmp_path: Path
) -> None:
    crm, erp, _ = systems
    org_id = crm.info["org_id"]
    # The account's record as a connection of another org left it (every emulated org has the demo org's id).
    assert all(r.ok for r in adapter(erp).upsert_batch(ERP_PAIRING_TYPE, "externalId", [erp_row(
        connection="elsewhere", crm_org_id=ELSEWHERE_ORG, erp_account="1234567", environment="production",
        paired_at=datetime(2026, 11, 30, 9, 15, tzinfo=UTC))]))
    crm.control("DELETE", "counters")

    refused = (rf"ERP account 1234567 is paired with Salesforce org {ELSEWHERE_ORG} \(recorded by connection "
               rf"'elsewhere' on 2026-11-30 09:15 UTC\), so connection 'second' may not pair it with Salesforce org "
               rf"{org_id}: one CRM org per ERP company\. Nothing was written\.")
    with pytest.raises(PairingError, match=refused):
        open_for(block(crm, erp, tmp_path / "second.sqlite3"), "second")

    assert writes(crm) == []
    in_crm, in_erp = recorded(crm, erp)
    assert in_crm == SideRecords("crm", None, ())
    assert in_erp is not None and in_erp.own is not None and in_erp.own.crm_org_id == ELSEWHERE_ORG


def test_release_then_pair_the_org_with_another_account(
    systems: Systems, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crm, erp, other = systems
    org_id = crm.info["org_id"]
    store = tmp_path / "first.sqlite3"
    first = save_connection("pairing-first", crm, erp, store)
    open_for(first, "pairing-first")
    engine = create_store_engine(f"sqlite:///{store}")
    with session_scope(engine) as session:
        update_connection(session, get_connection(session, "pairing-first").id or 0, enabled=True)

    capsys.readouterr()
    assert main(["pairing", "release", "--connection", "pairing-first"]) == 2  # sync is on: it would re-record
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "tandem connection disable pairing-first" in err[0], err
    with session_scope(engine) as session:
        update_connection(session, get_connection(session, "pairing-first").id or 0, enabled=False)

    assert main(["pairing", "show", "--connection", "pairing-first"]) == 0
    out = capsys.readouterr().out
    assert f"Salesforce org {org_id}: Salesforce Tandem_Pairing__c a0T" in out
    assert re.search(rf"ERP account 1234567: ERP customrecord_tandem_pairing \d+: Salesforce org {org_id} ↔ ERP "
                     r"account 1234567, production, recorded by connection 'pairing-first' on ", out), out
    assert main(["pairing", "release", "--connection", "pairing-first", "--dry-run"]) == 0
    assert "would be released (2 records)" in capsys.readouterr().out
    assert main(["pairing", "release", "--connection", "pairing-first"]) == 0
    out = capsys.readouterr().out
    assert f"the pairing of Salesforce org {org_id} and ERP account 1234567 released (2 records)" in out
    assert recorded(crm, erp) == (SideRecords("crm", None, ()), SideRecords("erp", None, ()))

    open_for(block(crm, other, tmp_path / "second.sqlite3"), "second")  # the org, now with another account
    in_crm, in_other = recorded(crm, other)
    assert in_crm is not None and in_crm.own is not None and in_crm.own.erp_account == OTHER_ACCOUNT
    assert in_other is not None and in_other.own is not None and in_other.own.crm_org_id == org_id
    with pytest.raises(PairingError, match=f"paired with ERP account {OTHER_ACCOUNT}"):
        open_for(first, "pairing-first")  # the first connection's next run is refused
    assert main(["pairing", "release", "--connection", "pairing-first"]) == 2  # not its pairing to release
    refusal = capsys.readouterr().err
    assert (f"Salesforce org {org_id} is paired with ERP account {OTHER_ACCOUNT} (recorded by connection 'second'"
            in refusal and "not with this connection's ERP account 1234567" in refusal), refusal
    assert len(refusal.strip().splitlines()) == 1 and "Traceback" not in refusal


def _copy_and_stale(crm: RecordAdapter, erp: RecordAdapter, previous: str) -> None:
    """What a sandbox refresh leaves: the org holds its source's record (keyed by the source org), and the account
    still names the org the sandbox was."""
    when = datetime(2026, 11, 1, tzinfo=UTC)
    values: dict[str, Any] = {"connection": "sb", "environment": "sandbox", "paired_at": when}
    assert all(r.ok for r in crm.upsert_batch(CRM_PAIRING_OBJECT, "Org_Id__c", [
        crm_row(crm_org_id=previous, erp_account="1234567", **{**values, "connection": "prod"})]))
    assert all(r.ok for r in erp.upsert_batch(ERP_PAIRING_TYPE, "externalId", [
        erp_row(crm_org_id=previous, erp_account="1234567", **values)]))


def test_the_refresh_step_releases_the_previous_orgs_pairing_and_records_the_new_one(systems: Systems) -> None:
    crm_emulator, erp_emulator, _ = systems
    crm, erp = adapter(crm_emulator), adapter(erp_emulator)
    org_id, previous = crm_emulator.info["org_id"], "00D5g0000000042EAA"
    _copy_and_stale(crm, erp, previous)
    pair: dict[str, Any] = {"name": "sb", "environment": "sandbox", "crm_org_id": org_id, "erp_account": "1234567",
                            "now": datetime.now(UTC)}

    with pytest.raises(PairingError, match=f"ERP account 1234567 is paired with Salesforce org {previous}"):
        move_pairing(crm, erp, previous_org_id="00D5g0000000043EAA", **pair)  # not the org the sandbox was
    released, would = move_pairing(crm, erp, previous_org_id=previous, dry_run=True, **pair)
    assert sorted((r.side, r.crm_org_id) for r in released) == [("crm", previous), ("erp", previous)]
    assert would == ["crm", "erp"]
    released, written = move_pairing(crm, erp, previous_org_id=previous, **pair)
    assert len(released) == 2 and written == ["crm", "erp"]
    in_crm, in_erp = recorded(crm_emulator, erp_emulator)
    assert in_crm is not None and in_crm.copies == () and in_crm.own is not None
    assert (in_crm.own.crm_org_id, in_crm.own.erp_account, in_crm.own.connection) == (org_id, "1234567", "sb")
    assert in_erp is not None and in_erp.own is not None and in_erp.own.crm_org_id == org_id
    assert move_pairing(crm, erp, previous_org_id=previous, **pair) == ([], [])  # run again: nothing to do
