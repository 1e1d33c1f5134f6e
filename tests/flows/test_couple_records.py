"""Coupling by hand and by match against both emulators: every refusal (one line, exit 2), a CSV of pairs, the
match preview equal to what applying it couples (command line and the couple-records flow), a hand-coupled pair
written whole by the next sync, and uncoupling that keeps the records apart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from emulators.salesforce.ids import make_id
from flows.couple_records import RecordPair, couple_records
from flows.full_sync import full_sync
from flows.incremental_sync import incremental_sync
from flows.initial_import import initial_import
from flows.parameters import EntityName
from ops.cli import main
from tandem.store import create_store_engine, get_connection, require_id, session_scope
from tandem.store.bindings import bindings_by_ids
from tandem.store.tables import BindingStatus, Side
from tandem.sync.manual_coupling import COUPLED_BY_HAND, UNCOUPLED
from tests.flows.clients import erp_client, erp_write, salesforce
from tests.flows.conftest import save_connection
from tests.support.emulator import RunningEmulator

#: The customer job and the entities its references need (a record whose currency is not coupled fails).
WITH_DEPENDENCIES = [EntityName(e) for e in ("currency", "salesperson", "payment_term", "customer")]
CUSTOMER_FIELDS = ["externalId", "companyName", "phone", "url", "comments", "entityId"]


def accounts(crm: RunningEmulator, limit: int = 5) -> list[dict[str, Any]]:
    """Some Salesforce accounts (id, name, link key)."""
    soql = f"SELECT Id, Name, Phone, Website, ERP_Id__c FROM Account ORDER BY Name LIMIT {limit}"
    return [dict(r) for r in salesforce(crm).query(soql)["records"]]


def customers(erp: RunningEmulator, limit: int = 5) -> list[dict[str, Any]]:
    """Some ERP customers (internal id and their fields), read as a user would."""
    page = next(erp_client(erp).read_changed_since("customer", None, fields=CUSTOMER_FIELDS, page_size=50))
    return page.head(limit).to_dict("records")


def binding_of(store_path: Path, connection: str, side: Side, record_id: str) -> Any:
    engine = create_store_engine(f"sqlite:///{store_path}")
    with session_scope(engine, write=False) as session:
        connection_id = require_id(get_connection(session, connection))
        return bindings_by_ids(session, connection_id, "customer", side, [record_id]).get(record_id)


def couple(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["couple", "customer", "--connection", "coupling", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_refusals_one_line_each_and_a_csv_of_pairs(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crm, erp = fresh
    store_path = tmp_path / "state.sqlite3"
    save_connection("coupling", crm, erp, store_path)
    (a1, a2, a3, a4, _), (c1, c2, c3, c4, _) = accounts(crm), customers(erp)
    contact_id = salesforce(crm).query("SELECT Id FROM Contact LIMIT 1")["records"][0]["Id"]
    customer_ids = {str(c["id"]) for c in customers(erp, 1000)}
    erp_contacts = next(erp_client(erp).read_changed_since("contact", None, fields=["externalId"], page_size=1000))
    erp_contact = next(str(i) for i in erp_contacts["id"] if str(i) not in customer_ids)
    ghost_account = make_id("001", 999_999)

    code, out, err = couple(capsys, "--crm", a1["Id"], "--erp", str(c1["id"]))
    assert code == 0, err
    assert f"coupled customer: crm {a1['Id']} with erp {c1['id']}" in out
    binding = binding_of(store_path, "coupling", Side.CRM, a1["Id"])
    assert (binding.erp_id, binding.status, binding.error_code) == (str(c1["id"]), BindingStatus.PENDING,
                                                                     COUPLED_BY_HAND)
    assert binding.external_id == c1["externalId"] and binding.crm_hash is None and binding.erp_hash is None
    # The same pair again changes nothing (idempotent); a 15-character id is the same record.
    assert couple(capsys, "--crm", a1["Id"][:15], "--erp", str(c1["id"]))[0] == 0

    refusals = [
        (["--crm", a1["Id"], "--erp", str(c2["id"])],
         f"the Salesforce record is already coupled with ERP record {c1['id']}: uncouple it first"),
        (["--crm", a2["Id"], "--erp", str(c1["id"])],
         f"the ERP record is already coupled with Salesforce record {a1['Id']}: uncouple it first"),
        (["--crm", contact_id, "--erp", str(c2["id"])],
         f"the Salesforce record is not an Account: {contact_id} is a Contact"),
        (["--crm", a2["Id"], "--erp", erp_contact], f"the ERP record is not a customer: internal id {erp_contact} "
                                                    "is a contact"),
        (["--crm", ghost_account, "--erp", str(c2["id"])],
         "no Account with this id in Salesforce (deleted, or never there)"),
        (["--crm", a2["Id"], "--erp", "987654"],
         "no customer with internal id 987654 in the ERP (deleted, or never there)"),
    ]
    # An ERP customer made in the ERP without an externalId, and a Salesforce account holding c4's externalId.
    [plain] = erp_client(erp).add_batch("customer", [{"companyName": "Made By Hand Ltd"}])
    assert plain.ok, plain.error_message
    salesforce(crm).Account.update(a4["Id"], {"ERP_Id__c": c4["externalId"]})
    refusals += [
        (["--crm", a2["Id"], "--erp", str(plain.id)],
         "the ERP record has no externalId (Tandem writes ERP records by it): give it one in the ERP first"),
        (["--crm", a2["Id"], "--erp", str(c4["id"])],
         f"Salesforce record {a4['Id']} holds this ERP record's externalId in ERP_Id__c: clear it there, or couple "
         "that record"),
    ]
    for argv, reason in refusals:
        code, out, err = couple(capsys, *argv)
        assert code == 2 and err == f"tandem couple: {reason}\n", (argv, err)
    assert main(["couple", "lead", "--connection", "coupling", "--match"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tandem couple: unknown entity 'lead'; the mapping set has: ") and err.count("\n") == 1
    assert main(["uncouple", "customer", "--connection", "coupling", "--erp", str(c3["id"])]) == 2
    assert capsys.readouterr().err == "tandem uncouple: the ERP record is not coupled (customer)\n"

    pairs = tmp_path / "pairs.csv"
    pairs.write_text(f"crm_id,erp_id\n{a2['Id']},{c2['id']}\n{a3['Id']},{c3['id']}\n{a4['Id']},{c1['id']}\n")
    code, out, err = couple(capsys, "--csv", str(pairs), "--json")
    printed = json.loads(out)
    assert code == 2
    assert printed["coupled"] == [{"crm_id": a2["Id"], "erp_id": str(c2["id"])},
                                  {"crm_id": a3["Id"], "erp_id": str(c3["id"])}]
    assert printed["refused"] == [{"crm_id": a4["Id"], "erp_id": str(c1["id"]), "reason": (
        f"the ERP record is already coupled with Salesforce record {a1['Id']}: uncouple it first")}]
    assert err == (f"tandem couple: refused: crm {a4['Id']}, erp {c1['id']}: the ERP record is already coupled "
                   f"with Salesforce record {a1['Id']}: uncouple it first\n")
    assert binding_of(store_path, "coupling", Side.ERP, str(c3["id"])).crm_id == a3["Id"]
    assert binding_of(store_path, "coupling", Side.CRM, a4["Id"]) is None
    # A dry run checks and writes nothing.
    code, out, _ = couple(capsys, "--crm", a4["Id"], "--erp", str(c4["id"]), "--dry-run")
    assert code == 0 and "1 pairs would couple" in out
    assert binding_of(store_path, "coupling", Side.CRM, a4["Id"]) is None
    bad = tmp_path / "bad.csv"
    bad.write_text("crm,erp\n1,2\n")
    assert couple(capsys, "--csv", str(bad))[2].startswith("tandem couple: --csv: ")


def test_match_preview_equals_what_applying_it_couples_and_the_flow_does_the_same(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crm, erp = fresh
    store_path = tmp_path / "state.sqlite3"
    save_connection("coupling", crm, erp, store_path)
    (a1, a2, a3, *_), (c1, c2, c3, c4, _) = accounts(crm), customers(erp)
    # Give two ERP customers the names of two Salesforce accounts: the match key (Name = companyName) pairs them.
    erp_write(erp_client(erp), "customer", [{"externalId": c1["externalId"], "companyName": a1["Name"]},
                                            {"externalId": c2["externalId"], "companyName": a2["Name"].upper()}])
    code, out, err = couple(capsys, "--match", "--dry-run", "--json")
    preview = json.loads(out)
    assert code == 0, err
    proposed = {(p["crm_id"], p["erp_id"]) for p in preview["proposals"]}
    assert {(a1["Id"], str(c1["id"])), (a2["Id"], str(c2["id"]))} <= proposed
    assert all(p["match_fields"] == ["Name = companyName"] and p["rank"] == 1 for p in preview["proposals"])
    assert binding_of(store_path, "coupling", Side.CRM, a1["Id"]) is None  # a dry run writes nothing
    code, table, _ = couple(capsys, "--match", "--dry-run")
    assert table.splitlines()[0].split() == ["rank", "crm", "id", "erp", "id", "match", "fields"]
    assert any(line.split()[:3] == ["1", a1["Id"], str(c1["id"])] and line.endswith("Name = companyName")
               for line in table.splitlines())

    # The flow's dry run proposes the same pairs; its run with the match keys couples exactly them.
    rows = couple_records(connection="coupling", entity=EntityName("customer"), match=True, dry_run=True)
    assert {(r["crm id"], r["erp id"]) for r in rows} == proposed
    assert {r["outcome"] for r in rows} == {"would couple"} and {r["match fields"] for r in rows} == {
        "Name = companyName"}
    rows = couple_records(connection="coupling", entity=EntityName("customer"), match=True)
    assert {(r["crm id"], r["erp id"]) for r in rows if r["outcome"] == "coupled"} == proposed
    assert binding_of(store_path, "coupling", Side.CRM, a2["Id"]).erp_id == str(c2["id"])
    # Nothing is proposed twice; pairs given to the flow are checked like the command's.
    assert json.loads(couple(capsys, "--match", "--dry-run", "--json")[1])["proposals"] == []
    state = couple_records(connection="coupling", entity=EntityName("customer"), return_state=True, pairs=[
        RecordPair(crm_id=a3["Id"], erp_id=str(c3["id"])), RecordPair(crm_id=a1["Id"], erp_id=str(c4["id"]))])
    rows = state.result()
    assert state.name == "NeedsAttention"
    assert [(r["crm id"], r["outcome"]) for r in rows] == [(a3["Id"], "coupled"), (a1["Id"], "refused")]
    assert rows[1]["detail"] == (f"the Salesforce record is already coupled with ERP record {c1['id']}: "
                                 "uncouple it first")


def test_a_hand_coupled_pair_is_written_whole_by_the_next_sync_and_uncoupling_keeps_it_apart(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crm, erp = fresh
    store_path = tmp_path / "state.sqlite3"
    save_connection("coupling", crm, erp, store_path)
    [account], [customer] = accounts(crm, 1), customers(erp, 1)
    assert account["Name"] != customer["companyName"]  # two unrelated records
    assert couple(capsys, "--crm", account["Id"], "--erp", str(customer["id"]))[0] == 0

    rows = full_sync(connection="coupling", entities=WITH_DEPENDENCIES)
    assert rows[-1]["entity"] == "customer" and rows[-1]["state"] == "succeeded" and rows[-1]["failed"] == 0, rows
    sf = salesforce(crm)
    after = sf.Account.get(account["Id"])
    # ERP → CRM runs first: every field that travels to the CRM is written, not only changed ones.
    assert (after["Name"], after["Phone"], after["Website"], after["AccountNumber"], after["ERP_Id__c"]) == (
        customer["companyName"], customer["phone"], customer["url"], customer["entityId"], customer["externalId"])
    binding = binding_of(store_path, "coupling", Side.CRM, account["Id"])
    assert binding.status is BindingStatus.SYNCED and binding.erp_id == str(customer["id"])
    assert binding.crm_hash and binding.erp_hash

    # An edit in Salesforce travels to the coupled ERP record.
    sf.Account.update(account["Id"], {"Phone": "+1 555 0100"})
    full_sync(connection="coupling", entities=[EntityName("customer")])
    [now] = erp_client(erp).read_by_keys("customer", "internalId", [str(customer["id"])], fields=["phone"]).to_dict(
        "records")
    assert now["phone"] == "+1 555 0100"

    assert main(["uncouple", "customer", "--connection", "coupling", "--erp", str(customer["id"]), "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith(f"would uncouple customer: crm {account['Id']} from erp")
    assert binding_of(store_path, "coupling", Side.CRM, account["Id"]).status is BindingStatus.SYNCED
    assert main(["uncouple", "customer", "--connection", "coupling", "--crm", account["Id"]]) == 0
    assert "uncoupled customer: crm" in capsys.readouterr().out
    for side, record_id in ((Side.CRM, account["Id"]), (Side.ERP, str(customer["id"]))):
        half = binding_of(store_path, "coupling", side, record_id)
        assert (half.status, half.error_code, half.crm_id if side is Side.ERP else half.erp_id) == (
            BindingStatus.EXCLUDED, UNCOUPLED, None)
    assert sf.Account.get(account["Id"])["ERP_Id__c"] is None
    # The next sync neither syncs them nor couples them again, though their names still match.
    sf.Account.update(account["Id"], {"Phone": "+1 555 0199"})
    full_sync(connection="coupling", entities=[EntityName("customer")])
    assert binding_of(store_path, "coupling", Side.CRM, account["Id"]).error_code == UNCOUPLED
    [now] = erp_client(erp).read_by_keys("customer", "internalId", [str(customer["id"])], fields=["phone"]).to_dict(
        "records")
    assert now["phone"] == "+1 555 0100"
    # Match-based coupling couples them again when asked.
    code, out, _ = couple(capsys, "--match", "--json")
    assert code == 0 and {"crm_id": account["Id"], "erp_id": str(customer["id"])} in json.loads(out)["coupled"]


def test_the_incremental_sync_writes_a_pair_coupled_by_hand_though_neither_record_changed(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crm, erp = fresh
    store_path = tmp_path / "state.sqlite3"
    save_connection("coupling", crm, erp, store_path)
    rows = initial_import(connection="coupling", entities=WITH_DEPENDENCIES)
    assert rows[-1]["entity"] == "customer" and rows[-1]["failed"] == 0, rows
    a1, a2 = accounts(crm, 2)
    b1 = binding_of(store_path, "coupling", Side.CRM, a1["Id"]).erp_id
    b2 = binding_of(store_path, "coupling", Side.CRM, a2["Id"]).erp_id
    for account in (a1, a2):
        assert main(["uncouple", "customer", "--connection", "coupling", "--crm", account["Id"]]) == 0
    # Cross the pairs: a1 with a2's old partner. Neither record changes before the next run.
    assert couple(capsys, "--crm", a1["Id"], "--erp", str(b2))[0] == 0
    # (The ERP's own 300 customers, never synced to the CRM by the initial import, fail on references here.)
    [row] = incremental_sync(connection="coupling", entities=[EntityName("customer")])
    assert row["modified"] >= 1, row
    [partner] = erp_client(erp).read_by_keys("customer", "internalId", [str(b2)], fields=CUSTOMER_FIELDS).to_dict(
        "records")
    after = salesforce(crm).Account.get(a1["Id"])
    assert (after["Name"], after["Phone"], after["ERP_Id__c"]) == (
        partner["companyName"], partner["phone"], partner["externalId"])
    assert binding_of(store_path, "coupling", Side.CRM, a1["Id"]).status is BindingStatus.SYNCED
    # The other two stay uncoupled: a2 is not written, b1 is coupled with nothing.
    assert binding_of(store_path, "coupling", Side.CRM, a2["Id"]).error_code == UNCOUPLED
    assert binding_of(store_path, "coupling", Side.ERP, str(b1)).error_code == UNCOUPLED
    assert salesforce(crm).Account.get(a2["Id"])["Name"] == a2["Name"]
