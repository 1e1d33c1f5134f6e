"""The flow process killed in the middle of a batch, then run again: the sync converges, nothing twice, and
what the killed run wrote is settled without writing it again and without a conflict."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from prefect.settings import PREFECT_API_URL
from simple_salesforce.format import format_soql
from sqlmodel import func, select

from flows.full_sync import full_sync
from flows.incremental_sync import incremental_sync
from flows.initial_import import initial_import
from flows.parameters import EntityName
from tandem.store import create_store_engine, session_scope
from tandem.store.tables import Binding, ConnectionLock, RunState, SyncRun
from tests.flows.clients import erp_client, erp_write, salesforce
from tests.flows.conftest import save_connection
from tests.support.emulator import RunningEmulator
from tests.support.prefect_server import ROOT

BASE = [EntityName(e) for e in ("currency", "salesperson", "payment_term", "customer")]
NEW = 600  # three sObject Collections upserts of 200
KILLED_RUN = (
    "from flows.incremental_sync import incremental_sync; from flows.parameters import EntityName; "
    "incremental_sync(connection='killed', entities=[EntityName('customer')])"
)


def kill_mid_batch(crm: RunningEmulator, endpoint: str, calls: int) -> None:
    """Run the incremental sync of customers in its own process and SIGKILL it once Salesforce has answered
    ``calls`` calls to ``endpoint`` (each takes 1.5 s, so the process dies between two batches of one page)."""
    crm.control("DELETE", "counters")
    crm.control("POST", "faults", json={"pattern": endpoint, "kind": "latency", "latency_ms": 1500, "probability": 1.0})
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-c", KILLED_RUN], cwd=ROOT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while crm.control("GET", "counters")["by_endpoint"].get(endpoint, 0) < calls:
            assert process.poll() is None, "the flow ended before it could be killed"
            assert time.monotonic() < deadline, "the flow never reached its writes"
            time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    time.sleep(2)  # the call in flight when the process died still commits on the server: let it
    crm.control("DELETE", "faults")


def stamps(sf: Any, where: str) -> dict[str, str]:
    """``SystemModstamp`` of the accounts ``where`` selects, by id: a record written again gets a new one."""
    records = sf.query_all(f"SELECT Id, SystemModstamp FROM Account WHERE {where}")["records"]
    return {r["Id"]: r["SystemModstamp"] for r in records}


def test_a_run_killed_mid_batch_is_finished_by_the_next_run_without_duplicates(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path
) -> None:
    crm, erp = fresh
    store_path = tmp_path / "state.sqlite3"
    save_connection("killed", crm, erp, store_path, lock_lease_seconds=5)
    initial_import(connection="killed", entities=BASE)
    full_sync(connection="killed", entities=BASE)
    erp_write(erp_client(erp), "customer", [
        {"externalId": f"KILL-{i:04d}", "companyName": f"Kill Test {i:04d}"} for i in range(NEW)
    ])
    kill_mid_batch(crm, "collections.upsert", 2)
    sf = salesforce(crm)
    before = stamps(sf, "ERP_Id__c LIKE 'KILL-%'")
    assert 0 < len(before) < NEW  # killed half way: some records written, their bindings not

    engine = create_store_engine(f"sqlite:///{store_path}")
    with session_scope(engine, write=False) as session:
        assert session.exec(select(ConnectionLock)).first() is not None  # the dead run's lock, until its lease ends
    rows = incremental_sync(connection="killed", entities=[EntityName("customer")])
    [customer] = [r for r in rows if r["entity"] == "customer"]
    assert customer["state"] == "succeeded" and customer["failed"] == 0, customer
    # The records written before the kill are found by their link and hold the values: coupled without a
    # write (their SystemModstamp did not move); only the rest are created.
    assert (customer["coupled"], customer["inserted"], customer["modified"]) == (len(before), NEW - len(before), 0)
    assert customer["conflicts held"] == 0, customer
    after = stamps(sf, "ERP_Id__c LIKE 'KILL-%'")
    assert {k: after[k] for k in before} == before

    accounts = sf.query_all("SELECT ERP_Id__c FROM Account WHERE ERP_Id__c LIKE 'KILL-%'")["records"]
    links = [a["ERP_Id__c"] for a in accounts]
    assert len(links) == NEW and len(set(links)) == NEW  # every record once
    with session_scope(engine, write=False) as session:
        bound = session.exec(
            select(func.count()).select_from(Binding).where(Binding.entity == "customer", Binding.crm_id.in_(  # type: ignore[union-attr]
                list(after)
            ))
        ).one()
        runs = session.exec(select(SyncRun).where(SyncRun.procedure == "incremental-sync")).all()
    assert bound == NEW
    # The next run, once it held the lock, marked the killed one crashed: when, and by which flow run.
    assert sorted(run.state for run in runs) == sorted([RunState.CRASHED, RunState.SUCCEEDED])
    [dead] = [run for run in runs if run.state is RunState.CRASHED]
    [survivor] = [run for run in runs if run.state is RunState.SUCCEEDED]
    assert dead.finished_at is not None and dead.finished_at <= survivor.started_at
    assert dead.message and "crashed" in dead.message and str(survivor.flow_run_id) in dead.message


def test_a_run_killed_after_updating_part_of_a_page_leaves_no_conflict_and_later_edits_sync(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path
) -> None:
    """Customers sync both ways (conflicts held for a person): the killed run updated some Salesforce accounts
    and recorded nothing. The next run finds them holding the ERP's values: re-linked, no write, no conflict."""
    crm, erp_emulator = fresh
    store_path = tmp_path / "state.sqlite3"
    save_connection("killed", crm, erp_emulator, store_path, lock_lease_seconds=5)
    initial_import(connection="killed", entities=BASE)
    full_sync(connection="killed", entities=BASE)
    erp = erp_client(erp_emulator)
    erp_write(erp, "customer", [
        {"externalId": f"KILL-{i:04d}", "companyName": f"Kill Test {i:04d}"} for i in range(NEW)
    ])
    incremental_sync(connection="killed", entities=[EntityName("customer")])
    erp_write(erp, "customer", [{"externalId": f"KILL-{i:04d}", "phone": f"+1 555 {i:04d}"} for i in range(NEW)])
    sf = salesforce(crm)
    kill_mid_batch(crm, "collections.update", 2)
    before = stamps(sf, "ERP_Id__c LIKE 'KILL-%' AND Phone != null")
    assert 0 < len(before) < NEW  # killed half way: some accounts updated, their bindings not

    rows = incremental_sync(connection="killed", entities=[EntityName("customer")])
    [customer] = [r for r in rows if r["entity"] == "customer"]
    assert customer["state"] == "succeeded" and customer["failed"] == 0, customer
    assert (customer["conflicts"], customer["conflicts held"]) == (0, 0), customer  # was 200 of 200 held
    assert customer["modified"] == NEW - len(before), customer  # each account written once, nothing sent back
    after = stamps(sf, "ERP_Id__c LIKE 'KILL-%'")
    assert {k: after[k] for k in before} == before  # the accounts the killed run updated: not written again

    # Later edits on either side sync, also for the records the killed run wrote.
    written = sf.query_all(format_soql("SELECT Id, ERP_Id__c FROM Account WHERE Id IN {ids}", ids=sorted(before)))
    edited = {r["Id"]: r["ERP_Id__c"] for r in written["records"][:3]}
    untouched = sorted({f"KILL-{i:04d}" for i in range(NEW)} - {r["ERP_Id__c"] for r in written["records"]})[-1]
    for account_id in edited:
        sf.Account.update(account_id, {"Phone": "+44 20 0000 0000"})
    erp_write(erp, "customer", [{"externalId": untouched, "phone": "+49 30 0000 0000"}])
    rows = incremental_sync(connection="killed", entities=[EntityName("customer")])
    [customer] = [r for r in rows if r["entity"] == "customer"]
    assert (customer["failed"], customer["conflicts"], customer["modified"]) == (0, 0, len(edited) + 1), customer
    frame = erp.read_by_keys("customer", "externalId", list(edited.values()), fields=["phone"])
    assert list(frame["phone"]) == ["+44 20 0000 0000"] * len(edited)
    account = sf.query(format_soql("SELECT Phone FROM Account WHERE ERP_Id__c = {link}", link=untouched))
    assert account["records"][0]["Phone"] == "+49 30 0000 0000"
