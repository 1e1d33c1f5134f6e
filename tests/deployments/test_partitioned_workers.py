"""Scale-out on Prefect's own engine: a partitioned full sync shared by two process workers of one work pool.

A real ``prefect server start`` and two ``prefect worker start --pool tandem`` processes (tests/support/
prefect_server.py); the connection's deployments made by ``tandem deploy`` (full-sync and sync-partition). The same
data (ERP customers and Salesforce accounts, a few of them with the same names) is synced twice from empty systems:
once unsplit (the full-sync flow called in this process, against the same server: a flow run without partitions
needs no worker, and a worker's process start costs 10-30 s on this machine), once from the full-sync deployment
with three partitions per direction, the parent run on one worker and each partition a flow run of the
sync-partition deployment that either worker may pick up. Both runs must leave the same records on both sides, the
same bindings and watermarks of the same rule; the partitions ran as separate flow runs, on both workers.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import DeploymentFilter, FlowRunFilter
from prefect.client.schemas.objects import FlowRun
from prefect.states import Cancelling
from sqlmodel import select

from blocks.connection import SyncConnection
from flows.full_sync import full_sync
from flows.parameters import EntityName
from ops.deploy import deploy_connection
from tandem.store import create_store_engine, list_watermarks, session_scope
from tandem.store.tables import SyncRun
from tasks.partition import salesforce_limit
from tests.flows.conftest import erp_block, salesforce_block, save_connection
from tests.flows.test_partitioned_sync import read_all, store_state, system_state
from tests.support.emulator import RunningEmulator
from tests.support.prefect_server import Background, PrefectServer, stop_all

POOL = "tandem"
CONNECTION = "partitioned"
#: Records on each side; with MIN_RECORDS a part, each direction's read splits into PARTITIONS.
ERP_CUSTOMERS = 400
SF_ACCOUNTS = 400
SAME_NAMES = 40  # accounts named as ERP customers: coupled by the match key, never duplicated
PARTITIONS = 3
MIN_RECORDS = 100
RUN_SECONDS = 300.0
WORKER_STARTUP_SECONDS = 90.0


def client() -> SyncPrefectClient:
    """A client of the module's server."""
    return get_client(sync_client=True)


@pytest.fixture(scope="module")
def workers(server: PrefectServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Background]]:
    """Two process workers of one pool, two flow runs at a time each (a parent run waits in one slot while its
    partitions run), polling every second."""
    logs = tmp_path_factory.mktemp("workers")
    started = [
        server.start(name, "worker", "start", "--pool", POOL, "--name", name, "--limit", "2", "--type", "process",
                     log_dir=logs, PREFECT_WORKER_QUERY_SECONDS="1")
        for name in ("worker-a", "worker-b")
    ]
    yield started
    stop_all(started)


@pytest.fixture(scope="module")
def deployed(server: PrefectServer, crm: RunningEmulator, erp: RunningEmulator,
             tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The connection saved on the server and its full-sync and sync-partition deployments made by ``tandem deploy``
    (which creates the process pool); returns the state store's SQLite file."""
    store = tmp_path_factory.mktemp("store") / "state.sqlite3"
    save_connection(CONNECTION, crm, erp, store)
    names = deploy_connection(CONNECTION, pool=POOL, only=["full-sync", "sync-partition"])
    assert names == [f"full-sync/{CONNECTION}-full-sync", f"sync-partition/{CONNECTION}-sync-partition"]
    return store


def wait_for_workers(workers: list[Background]) -> None:
    """Wait until both workers poll the pool."""
    deadline = time.monotonic() + WORKER_STARTUP_SECONDS
    with client() as prefect:
        while time.monotonic() < deadline:
            for worker in workers:
                if not worker.running():
                    raise AssertionError(f"{worker.name} exited\n{worker.log_tail()}")
            online = {w.name for w in prefect.read_workers_for_work_pool(POOL) if w.status == "ONLINE"}
            if online >= {worker.name for worker in workers}:
                return
            time.sleep(0.5)
    raise AssertionError("the workers did not come online\n" + "\n".join(w.log_tail() for w in workers))


def seed(crm: RunningEmulator, erp: RunningEmulator) -> None:
    """Empty both systems, then write the same records each time: ERP customers, and Salesforce accounts of which
    SAME_NAMES bear an ERP customer's name."""
    for emulator in (crm, erp):
        emulator.control("POST", "clock", json={"reset": True})
        emulator.control("POST", "reset", json={"seed": "none"})
    customers = [{"externalId": f"NS-{n:05d}", "companyName": f"Customer {n:05d}", "phone": f"+1 555 {n:07d}",
                  "url": f"https://c{n}.example.com"} for n in range(ERP_CUSTOMERS)]
    adapter = erp_block(erp).get_client()
    try:
        assert all(result.ok for result in adapter.upsert_batch("customer", "externalId", customers))
    finally:
        adapter.close()
    names = [f"Customer {n:05d}" for n in range(SAME_NAMES)]
    names += [f"Account {n:05d}" for n in range(SF_ACCOUNTS - SAME_NAMES)]
    sf = salesforce_block(crm).get_client().sf
    for start in range(0, len(names), 200):
        records = [{"attributes": {"type": "Account"}, "Name": name, "Phone": f"+1 777 {i:07d}"}
                   for i, name in enumerate(names[start : start + 200], start=start)]
        answers = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": records})
        assert answers and all(answer["success"] for answer in answers)


def run_here() -> FlowRun:
    """The connection's full sync of customers, unsplit, in this process (a flow run on the server, on no worker)."""
    state = full_sync(connection=CONNECTION, entities=[EntityName("customer")], return_state=True)
    assert state.is_completed(), state.message
    with client() as prefect:
        return prefect.read_flow_run(state.state_details.flow_run_id)  # type: ignore[arg-type]


def run_on_pool(workers: list[Background], **parameters: Any) -> FlowRun:
    """Start the connection's full sync of customers from its deployment, as the UI's Run button does; wait for it."""
    with client() as prefect:
        deployment = prefect.read_deployment_by_name(f"full-sync/{CONNECTION}-full-sync")
        run = prefect.create_flow_run_from_deployment(deployment.id, parameters={"entities": ["customer"],
                                                                                 **parameters})
        deadline = time.monotonic() + RUN_SECONDS
        while time.monotonic() < deadline:
            current = prefect.read_flow_run(run.id)
            if current.state is not None and current.state.is_final():
                assert current.state.is_completed(), (
                    f"{current.state_name}: {current.state.message}\n" + "\n".join(w.log_tail() for w in workers))
                return current
            time.sleep(1)
        prefect.set_flow_run_state(run.id, Cancelling(), force=True)
    raise AssertionError(f"the full sync did not finish in {RUN_SECONDS:.0f} s\n"
                         + "\n".join(w.log_tail() for w in workers))


def capture(block: SyncConnection, store: Path, run: FlowRun, erp_newest: datetime) -> tuple[Any, ...]:
    """The state after a run: both systems' records, the bindings, and each watermark by the rule it followed."""
    crm, erp = block.crm_credentials.get_client(), block.erp.get_client()
    engine = create_store_engine(f"sqlite:///{store}")
    mappings = block.mapping_set_for_run()
    with session_scope(engine, write=False) as session:
        [sync_run] = session.exec(select(SyncRun)).all()
        marks = {f"{m.entity} {m.side.value}": m.value for m in list_watermarks(session, sync_run.connection_id)}
    assert run.start_time is not None
    shapes = {}
    for key, value in marks.items():
        if key == "customer erp" and value == erp_newest:
            shapes[key] = "newest read"  # the newest ERP customer, as it was before the run
        elif key == "customer crm" and run.start_time - timedelta(seconds=1) <= value <= sync_run.started_at:
            shapes[key] = "run start"  # capped: accounts written during the run are newer than its start
        else:
            shapes[key] = value.isoformat()
    return system_state(mappings, crm, erp, ["customer"]), store_state(engine), shapes


def partition_runs(parent: FlowRun) -> list[FlowRun]:
    """The flow runs of the sync-partition deployment started during ``parent``."""
    with client() as prefect:
        deployment = prefect.read_deployment_by_name(f"sync-partition/{CONNECTION}-sync-partition")
        runs = prefect.read_flow_runs(
            deployment_filter=DeploymentFilter(id={"any_": [deployment.id]}),  # type: ignore[arg-type]
            flow_run_filter=FlowRunFilter(start_time={"after_": parent.start_time}),  # type: ignore[arg-type]
        )
    return runs


def partitions_by_worker(workers: list[Background]) -> dict[str, list[str]]:
    """Which partitions ran on each worker (the flow run processes a worker starts write to its output)."""
    pattern = re.compile(r"Beginning subflow run '([^']+)' for flow 'sync-partition'")
    return {w.name: sorted(pattern.findall(w.log_path.read_text(errors="replace"))) for w in workers}


def test_a_partitioned_full_sync_on_two_workers_ends_as_one_unsplit_run(
    server: PrefectServer, workers: list[Background], deployed: Path, crm: RunningEmulator, erp: RunningEmulator
) -> None:
    block = SyncConnection.load_named(CONNECTION)
    wait_for_workers(workers)
    results = []
    for partitioned in (False, True):
        for path in deployed.parent.glob(f"{deployed.name}*"):
            path.unlink()  # a new state store: both runs start from nothing
        seed(crm, erp)
        erp_newest = read_all(block.erp.get_client(), "customer", ["externalId"])["modified_at"].max().to_pydatetime()
        started = time.monotonic()
        run = run_on_pool(workers, partitions=PARTITIONS, min_partition_records=MIN_RECORDS) if partitioned \
            else run_here()
        seconds = time.monotonic() - started
        results.append((capture(block, deployed, run, erp_newest), partition_runs(run), seconds))
    (whole_state, whole_parts, whole_seconds), (split_state, parts, split_seconds) = results

    systems, bindings, watermarks = whole_state
    assert split_state[0] == systems
    assert split_state[1] == bindings
    assert split_state[2] == watermarks == {"customer crm": "run start", "customer erp": "newest read"}
    assert len(systems["customer crm"]) == len(systems["customer erp"]) == ERP_CUSTOMERS + SF_ACCOUNTS - SAME_NAMES
    assert whole_parts == []
    assert len(parts) == 2 * PARTITIONS  # three per direction, each its own flow run on the pool
    assert all(part.state is not None and part.state.is_completed() for part in parts)
    assert sorted(part.name for part in parts) == sorted(
        f"customer {direction} {n}/{PARTITIONS}" for direction in ("to_crm", "to_erp") for n in range(1, 4))
    ran_parts = partitions_by_worker(workers)
    assert sorted(name for names in ran_parts.values() for name in names) == sorted(part.name for part in parts)
    assert all(ran_parts.values()), ran_parts  # both workers ran partitions
    with client() as prefect:
        limit = prefect.read_global_concurrency_limit_by_name(salesforce_limit(CONNECTION))
    assert limit.limit == 3 and limit.active_slots == 0
    print(f"unsplit {whole_seconds:.1f} s, {PARTITIONS} partitions on two workers {split_seconds:.1f} s; "
          f"partitions per worker: {ran_parts}")
