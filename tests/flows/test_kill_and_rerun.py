"""The flow process killed in the middle of a batch, then run again: the sync converges, nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from prefect.settings import PREFECT_API_URL
from sqlmodel import func, select

from flows.full_sync import full_sync
from flows.incremental_sync import incremental_sync
from flows.initial_import import initial_import
from flows.parameters import EntityName
from tandem.store import create_store_engine, session_scope
from tandem.store.tables import Binding, ConnectionLock, RunState, SyncRun
from tests.deployments.prefect_server import ROOT
from tests.flows.clients import erp_client, erp_write, salesforce
from tests.flows.conftest import save_connection
from tests.support.emulator import RunningEmulator

BASE = [EntityName(e) for e in ("currency", "salesperson", "payment_term", "customer")]
NEW = 600  # three sObject Collections upserts of 200


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
    crm.control("DELETE", "counters")
    # Each Salesforce write takes a while, so the process is killed between two batches of one page.
    crm.control("POST", "faults", json={"pattern": "collections.upsert", "kind": "latency", "latency_ms": 1500,
                                        "probability": 1.0})
    code = (
        "from flows.incremental_sync import incremental_sync; from flows.parameters import EntityName; "
        "incremental_sync(connection='killed', entities=[EntityName('customer')])"
    )
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while crm.control("GET", "counters")["by_endpoint"].get("collections.upsert", 0) < 2:
            assert process.poll() is None, "the flow ended before it could be killed"
            assert time.monotonic() < deadline, "the flow never reached its writes"
            time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    crm.control("DELETE", "faults")
    sf = salesforce(crm)
    written = sf.query("SELECT COUNT() FROM Account WHERE ERP_Id__c LIKE 'KILL-%'")["totalSize"]
    assert 0 < written < NEW  # killed half way: some records written, their bindings not

    engine = create_store_engine(f"sqlite:///{store_path}")
    with session_scope(engine, write=False) as session:
        assert session.exec(select(ConnectionLock)).first() is not None  # the dead run's lock, until its lease ends
    rows = incremental_sync(connection="killed", entities=[EntityName("customer")])
    [customer] = [r for r in rows if r["entity"] == "customer"]
    assert customer["state"] == "succeeded" and customer["failed"] == 0, customer
    # The records written before the kill are found again (coupled), the rest are created.
    assert sum(int(str(customer[k])) for k in ("inserted", "modified", "coupled")) == NEW, customer

    accounts = sf.query_all("SELECT ERP_Id__c FROM Account WHERE ERP_Id__c LIKE 'KILL-%'")["records"]
    links = [a["ERP_Id__c"] for a in accounts]
    assert len(links) == NEW and len(set(links)) == NEW  # every record once
    with session_scope(engine, write=False) as session:
        bound = session.exec(
            select(func.count()).select_from(Binding).where(Binding.entity == "customer", Binding.crm_id.in_(  # type: ignore[union-attr]
                [a["Id"] for a in sf.query_all("SELECT Id FROM Account WHERE ERP_Id__c LIKE 'KILL-%'")["records"]]
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
