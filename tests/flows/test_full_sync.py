"""Full sync end to end: both emulators, real blocks, the flow under Prefect's test harness."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import ArtifactSort
from prefect.logging.handlers import APILogHandler
from simple_salesforce import Salesforce
from sqlmodel import select

from blocks.connection import SyncConnection
from flows.full_sync import full_sync
from flows.orchestration import JobsFailedError
from flows.parameters import EntityName
from tandem.mapping import MAPPINGS_DIR, MappingError
from tandem.salesforce.transport import build_session
from tandem.store import create_store_engine, session_scope
from tandem.store.runs import list_jobs
from tandem.store.tables import Binding, JobState, RecordError, RunState, SyncRun
from tandem.sync.pairing import PairingError
from tests.flows.clients import erp_client, erp_write
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


def test_a_failed_dependency_skips_its_dependents_with_the_reason(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path
) -> None:
    crm, erp = fresh
    store_path = tmp_path / "state.sqlite3"
    # The ERP refuses every currency read (getAll) as it refuses a bad login: fatal, so no retries.
    save_connection("refused", crm, erp, store_path)
    erp.control("POST", "faults", json={"pattern": "getAll", "kind": "soap_fault", "code": "INVALID_LOGIN_ATTEMPT",
                                        "probability": 1.0})
    erp.control("DELETE", "counters")
    try:
        with pytest.raises(JobsFailedError) as failed:
            full_sync(connection="refused", entities=[EntityName(e) for e in ("currency", "customer")])
    finally:
        erp.control("DELETE", "faults")
    assert "currency failed" in str(failed.value)
    assert "customer skipped (skipped: depends on currency, which did not succeed)" in str(failed.value)
    assert erp.control("GET", "counters")["by_endpoint"]["getAll"] == 1  # one refused call: no retry of a fatal error
    with session_scope(create_store_engine(f"sqlite:///{store_path}")) as session:
        run = session.exec(select(SyncRun)).one()
        jobs = {job.entity: job for job in list_jobs(session, int(run.id or 0))}
    assert run.state is RunState.FAILED
    assert (jobs["currency"].state, jobs["customer"].state) == (JobState.FAILED, JobState.SKIPPED)
    assert "depends on currency" in str(jobs["customer"].skip_reason)


def test_a_mapping_naming_a_missing_field_is_refused_before_anything_is_written(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path
) -> None:
    crm, erp = fresh
    for old, new, message in [
        ("{crm: Street__c, erp: addrText}", "{crm: Street__x, erp: addrText}",
         "entity 'location', field 'Street__x': unknown CRM field on ERP_Location__c"),
        ("crm_object: CurrencyType", "crm_object: Currency", "entity 'currency': the CRM has no object 'Currency'"),
    ]:
        broken = tmp_path / "broken.yaml"
        broken.write_text((MAPPINGS_DIR / "default.yaml").read_text().replace(old, new))
        save_connection("broken", crm, erp, tmp_path / "state.sqlite3", mapping_set=str(broken))
        crm.control("DELETE", "counters")
        with pytest.raises(MappingError, match=message):
            full_sync(connection="broken", entities=[EntityName("location"), EntityName("currency")])
        writes = [n for n in crm.control("GET", "counters")["by_endpoint"] if n.startswith(("collections", "sobject."))]
        assert not [n for n in writes if n not in ("sobject.describe",)]


def test_a_dry_run_reports_what_would_change_and_writes_nothing(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path
) -> None:
    crm, erp = fresh
    store_path = tmp_path / "state.sqlite3"
    save_connection("dry", crm, erp, store_path)
    sf = salesforce(crm)
    accounts = sf.query("SELECT COUNT() FROM Account")["totalSize"]
    crm.control("DELETE", "counters")
    rows = by_entity(full_sync(connection="dry", entities=[EntityName("payment_term"), EntityName("customer")],
                               dry_run=True))
    # ERP customers would be created in Salesforce, the org's own accounts in the ERP; 6 pairs couple (counted
    # once, as the real run counts them, although both directions of the two-way entity meet them).
    assert (rows["customer"]["inserted"], rows["customer"]["coupled"], rows["customer"]["failed"]) == (588, 6, 0)
    calls = crm.control("GET", "counters")["by_endpoint"]
    writes = [name for name in calls if name.startswith(("collections", "sobject.create", "sobject.update"))]
    assert writes in ([], ["collections.retrieve"]), calls  # reads of existing targets only
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == accounts
    with session_scope(create_store_engine(f"sqlite:///{store_path}")) as session:
        assert session.exec(select(Binding)).first() is None
        assert session.exec(select(SyncRun)).first() is None


def test_the_run_publishes_its_counts_and_progress(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path
) -> None:
    crm, erp = fresh
    save_connection("artifacts", crm, erp, tmp_path / "state.sqlite3")
    state = full_sync(connection="artifacts", entities=[EntityName(e) for e in CORE], return_state=True)
    assert (state.type, state.name) == (StateType.COMPLETED, "Completed")  # a clean run
    rows = state.result()
    with get_client(sync_client=True) as client:
        published = client.read_artifacts(sort=ArtifactSort.CREATED_DESC, limit=50)
        counts = [a for a in published if a.key == "full-sync-counts"]
        progress = [a for a in published if a.key == "full-sync-progress"]
        latest_progress = max(progress, key=lambda a: a.created)
    latest = max(counts, key=lambda a: a.created)
    table = json.loads(latest.data) if isinstance(latest.data, str) else latest.data
    assert [row["entity"] for row in table] == [row["entity"] for row in rows]
    assert all(set(row) >= {"inserted", "modified", "unchanged", "failed", "coupled"} for row in table)
    directions = {row["entity"]: row["direction"] for row in table}
    assert (directions["currency"], directions["customer"]) == (
        "ERP → Salesforce", "ERP → Salesforce, then Salesforce → ERP")
    assert latest_progress.data == 100.0
    assert latest_progress.description == f"{len(CORE)} of {len(CORE)} entities done"
    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        logs = [log.message for log in client.read_logs(limit=200)]
    assert any(message.startswith("payment_term to_crm: 1 pages") for message in logs), logs[-20:]


def test_a_transient_failure_is_retried_without_duplicates(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path
) -> None:
    crm, erp = fresh
    save_connection("retry", crm, erp, tmp_path / "state.sqlite3")
    sf = salesforce(crm)
    locations = sf.query("SELECT COUNT() FROM ERP_Location__c")["totalSize"]
    [renamed] = sf.query("SELECT ERP_Id__c FROM ERP_Location__c WHERE ERP_Id__c != null LIMIT 1")["records"]
    erp_write(erp_client(erp), "location", [{"externalId": renamed["ERP_Id__c"], "name": "Renamed depot"}])
    # Locations exist on both sides: the renamed one is coupled and updated by id. The write commits, then its
    # answer is lost: the task retries, finds the record already holding the values and writes nothing more.
    crm.control("POST", "faults", json={"pattern": "collections.update", "kind": "commit_then_drop", "count": 1})
    crm.control("DELETE", "counters")
    rows = by_entity(full_sync(connection="retry", entities=[EntityName("location")]))
    assert rows["location"]["state"] == "succeeded" and rows["location"]["failed"] == 0
    calls = crm.control("GET", "counters")["by_endpoint"]
    assert calls["collections.update"] == 1, calls  # the retry read the record again and did not rewrite it
    assert sf.query("SELECT COUNT() FROM ERP_Location__c")["totalSize"] == locations
    linked = sf.query("SELECT ERP_Id__c FROM ERP_Location__c WHERE ERP_Id__c != null")["records"]
    assert len({r["ERP_Id__c"] for r in linked}) == len(linked)  # no ERP location twice
    names = sf.query("SELECT Name FROM ERP_Location__c WHERE Name = 'Renamed depot'")["records"]
    assert len(names) == 1


def test_a_bad_record_fails_alone_with_its_reason_and_no_value_is_kept(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path
) -> None:
    crm, erp = fresh
    store_path = tmp_path / "state.sqlite3"
    save_connection("bad", crm, erp, store_path)
    adapter = erp_block(erp).get_client()
    written = adapter.upsert_batch("contact", "externalId", [
        {"externalId": "BAD-1", "lastName": "Broken", "email": "not-an-email-address"},
        {"externalId": "GOOD-1", "lastName": "Fine", "email": "fine@example.com"},
    ])
    assert all(r.ok for r in written)
    state = full_sync(connection="bad", entities=[EntityName(e) for e in CORE], return_state=True)
    # The run list tells this run from a clean one: Completed, named NeedsAttention, with the count.
    assert (state.type, state.name) == (StateType.COMPLETED, "NeedsAttention")
    assert state.message is not None and "1 records failed (contact)" in state.message
    rows = by_entity(state.result())
    assert rows["contact"]["failed"] == 1 and rows["contact"]["state"] == "succeeded"
    sf = salesforce(crm)
    assert sf.query("SELECT COUNT() FROM Contact WHERE ERP_Id__c = 'GOOD-1'")["totalSize"] == 1
    with session_scope(create_store_engine(f"sqlite:///{store_path}")) as session:
        errors = session.exec(select(RecordError)).all()
        binding = session.exec(select(Binding).where(Binding.erp_id == written[0].id)).one()
    assert [(e.entity, e.code) for e in errors] == [("contact", "INVALID_EMAIL_ADDRESS")]
    assert "not-an-email-address" not in errors[0].message and "[value]" in errors[0].message
    assert binding.status.value == "failed" and binding.error_code == "INVALID_EMAIL_ADDRESS"
