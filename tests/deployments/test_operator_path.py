"""What an operator does, against a real Prefect server: pool, blocks, deploy, worker, a run from the UI, its history.

The server, the CLI commands and the worker are the venv's ``prefect`` in their own processes (as in
docs/operating/deployments.md); this process only plays the UI's part, through
the same API: it saves the connection block, presses "Run" (``create_flow_run_from_deployment``, the
endpoint behind the UI's button) and reads the run back from the server.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import requests
import yaml
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import LogSort
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
from prefect.states import Cancelling, Completed, Scheduled
from sqlmodel import select

from ops.cli import main
from tandem.mapping import MAPPINGS_DIR, load_mapping_set
from tandem.store import create_store_engine, session_scope
from tandem.store.tables import RunState, SyncRun
from tests.flows.conftest import save_connection
from tests.support.emulator import RunningEmulator
from tests.support.prefect_server import ROOT, Background, PrefectServer
from web.sources import schedule

POOL = "tandem"
FULL_SYNC = "full-sync/full-sync"
INITIAL_IMPORT = "initial-import/initial-import"
CONNECTION = "operator"
BLOCK_TYPES = [
    "tandem-erp-credentials", "tandem-salesforce-credentials", "tandem-state-store", "tandem-sync-connection",
]
WORKER_STARTUP_SECONDS = 90.0
RUN_SECONDS = 240.0


def client() -> SyncPrefectClient:
    """A client of the module's server (the ``server`` fixture points this process's settings at it)."""
    return get_client(sync_client=True)


@pytest.fixture(scope="module")
def pool(server: PrefectServer) -> str:
    """``prefect work-pool create tandem --type process``."""
    server.cli("work-pool", "create", POOL, "--type", "process")
    return POOL


@pytest.fixture(scope="module")
def worker(server: PrefectServer, pool: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Background]:
    """``prefect worker start --pool tandem --limit 1``, requested before the emulators and the blocks so
    that its start (several seconds) overlaps theirs.

    The worker polls every second rather than every ten (PREFECT_WORKER_QUERY_SECONDS) so the run is
    picked up quickly; everything else is Prefect's defaults.
    """
    process = server.start(
        "worker", "worker", "start", "--pool", pool, "--limit", "1", log_dir=tmp_path_factory.mktemp("worker"),
        PREFECT_WORKER_QUERY_SECONDS="1",
    )
    yield process
    process.stop()


@pytest.fixture(scope="module")
def deployed(server: PrefectServer, pool: str) -> str:
    """``prefect --no-prompt deploy --all`` from the repository root; its output."""
    return server.cli("--no-prompt", "deploy", "--all")


@pytest.fixture(scope="module")
def connection(
    server: PrefectServer, crm: RunningEmulator, erp: RunningEmulator, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The Sync Connection block (with its Salesforce, ERP and state store blocks) saved on the server.

    Returns:
        The state store's SQLite file, which the worker's flow run writes to.
    """
    store = tmp_path_factory.mktemp("store") / "state.sqlite3"
    save_connection(CONNECTION, crm, erp, store)
    return store


def connection_ref() -> dict[str, Any]:
    """The connection as the run form's block selector sends it: a reference to the saved block."""
    with client() as prefect:
        document = prefect.read_block_document_by_name(CONNECTION, block_type_slug="tandem-sync-connection")
    return {"$ref": {"block_document_id": str(document.id)}}


def wait_for_worker(worker: Background, pool: str) -> None:
    """Wait until the worker has registered with the pool and polls it; fail with its log when it does not."""
    deadline = time.monotonic() + WORKER_STARTUP_SECONDS
    with client() as prefect:
        while time.monotonic() < deadline:
            if not worker.running():
                raise AssertionError(f"the worker exited with {worker.popen.returncode}\n{worker.log_tail()}")
            if any(w.status == "ONLINE" for w in prefect.read_workers_for_work_pool(pool)):
                return
            time.sleep(0.5)
    raise AssertionError(f"no worker of pool {pool!r} online after {WORKER_STARTUP_SECONDS:.0f} s\n{worker.log_tail()}")


def run_logs(prefect: SyncPrefectClient, run_id: UUID, lines: int = 40) -> str:
    """The flow run's last log lines as the UI's Logs tab shows them."""
    of_run = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id]))
    logs = prefect.read_logs(log_filter=of_run, sort=LogSort.TIMESTAMP_ASC)
    return "\n".join(f"{log.level:>2} {log.message}" for log in logs[-lines:]) or "(no logs)"


def wait_for_log_line(run_id: UUID, text: str, timeout: float = 30.0) -> str:
    """The run's logs once a line containing ``text`` has arrived, or as they are after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    with client() as prefect:
        while True:
            logs = run_logs(prefect, run_id, lines=1000)
            if text in logs or time.monotonic() > deadline:
                return logs
            time.sleep(0.5)


def wait_for_final_state(run_id: UUID, worker: Background) -> FlowRun:
    """Poll the flow run until it is final; on timeout cancel it and fail with the run's and worker's logs."""
    deadline = time.monotonic() + RUN_SECONDS
    with client() as prefect:
        while time.monotonic() < deadline:
            run = prefect.read_flow_run(run_id)
            if run.state is not None and run.state.is_final():
                return run
            if not worker.running():
                raise AssertionError(
                    f"the worker exited while run {run_id} was {run.state_name}\n{worker.log_tail()}\n"
                    f"--- the run's logs ---\n{run_logs(prefect, run_id)}"
                )
            time.sleep(1)
        state = prefect.read_flow_run(run_id).state_name
        prefect.set_flow_run_state(run_id, Cancelling(), force=True)
        raise AssertionError(
            f"run {run_id} not finished after {RUN_SECONDS:.0f} s (state {state}); cancelled\n"
            f"{worker.log_tail()}\n--- the run's logs ---\n{run_logs(prefect, run_id)}"
        )


def entity_names() -> list[str]:
    return list(load_mapping_set(MAPPINGS_DIR / "default.yaml").entities)


def test_block_register_registers_every_tandem_block_type(server: PrefectServer) -> None:
    output = server.cli("block", "register", "-m", "blocks")
    with client() as prefect:
        registered = {slug for slug in BLOCK_TYPES if _block_type_exists(prefect, slug)}
    assert registered == set(BLOCK_TYPES), (
        f"`prefect block register -m blocks` registered {sorted(registered)} of {BLOCK_TYPES} "
        f"(blocks/__init__.py must export every block class):\n{output}"
    )


def _block_type_exists(prefect: SyncPrefectClient, slug: str) -> bool:
    try:
        prefect.read_block_type_by_slug(slug)
    except ObjectNotFound:
        return False
    return True


def test_deploy_all_creates_both_deployments_with_their_run_forms(server: PrefectServer, deployed: str) -> None:
    assert FULL_SYNC in deployed and INITIAL_IMPORT in deployed, deployed
    shipped = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    with client() as prefect:
        full = prefect.read_deployment_by_name(FULL_SYNC)
        initial = prefect.read_deployment_by_name(INITIAL_IMPORT)
    for deployment, entrypoint in ((full, "flows/full_sync.py:full_sync"),
                                   (initial, "flows/initial_import.py:initial_import")):
        assert deployment.entrypoint == entrypoint
        assert deployment.work_pool_name == POOL
        assert deployment.pull_steps == shipped["pull"] == [{"tandem.deploy.set_project_directory": {}}]
        assert deployment.enforce_parameter_schema is True
        assert deployment.description and "Artifacts" in deployment.description
        assert deployment.global_concurrency_limit is not None and deployment.global_concurrency_limit.limit == 1
        schema = deployment.parameter_openapi_schema or {}
        properties = schema["properties"]
        # The form: the block's name, the entities as a multi-select of the mapping set's entities, a dry-run switch.
        # The connection: a selector of the saved Tandem Sync Connection blocks, titled in words.
        connection = properties["connection"]
        assert connection["$ref"] == "#/definitions/SyncConnection" and connection["title"] == "Connection"
        assert schema["definitions"]["SyncConnection"]["block_type_slug"] == "tandem-sync-connection"
        assert properties["dry_run"]["title"] == "Dry run" and "``" not in str(schema["properties"])
        assert properties["dry_run"] == {**properties["dry_run"], "type": "boolean", "default": False}
        choices = properties["entities"]["anyOf"]
        assert {"type": "null"} in choices and properties["entities"]["default"] is None
        array = next(choice for choice in choices if choice.get("type") == "array")
        assert array["items"] == {"$ref": "#/definitions/EntityName"}
        assert schema["definitions"]["EntityName"]["enum"] == entity_names()
    assert list((full.parameter_openapi_schema or {})["properties"]) == [
        "connection", "entities", "dry_run", "partitions", "min_partition_records"]
    hours = (initial.parameter_openapi_schema or {})["properties"]["hours"]
    assert (hours["type"], hours["default"]) == ("integer", 24) and hours["description"]


def test_the_ui_points_at_the_servers_own_port(server: PrefectServer) -> None:
    # With only `--port` the UI would still call port 4200: PREFECT_SERVER_API_PORT sets both.
    with requests.Session() as session:
        session.trust_env = False
        settings = session.get(f"{server.url}/ui-settings", timeout=10).json()
    assert settings["api_url"] == server.api_url


def test_the_server_refuses_an_entity_outside_the_form(server: PrefectServer, deployed: str, connection: Path) -> None:
    with client() as prefect:
        deployment = prefect.read_deployment_by_name(FULL_SYNC)
        with pytest.raises(PrefectHTTPStatusError) as refused:
            prefect.create_flow_run_from_deployment(
                deployment.id, parameters={"connection": connection_ref(), "entities": ["currency", "no_such_entity"]}
            )
        of_deployment = FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[deployment.id]))
        runs = prefect.read_flow_runs(flow_run_filter=of_deployment)
    assert refused.value.response.status_code == 409
    assert "no_such_entity" in refused.value.response.text
    assert runs == []


def test_a_run_started_like_the_ui_run_button_completes_and_its_history_is_on_the_server(
    server: PrefectServer, worker: Background, pool: str, deployed: str, connection: Path
) -> None:
    wait_for_worker(worker, pool)
    parameters: dict[str, Any] = {"connection": connection_ref(), "entities": ["currency", "payment_term"]}
    with client() as prefect:  # what the UI's "Run" button sends: a flow run of the deployment, with the form's values
        deployment = prefect.read_deployment_by_name(FULL_SYNC)
        started = prefect.create_flow_run_from_deployment(deployment.id, parameters=parameters)
    finished = wait_for_final_state(started.id, worker)

    with client() as prefect:
        logs = run_logs(prefect, finished.id)
        assert finished.state_type == StateType.COMPLETED, (
            f"run {finished.id} ended {finished.state_name}: {finished.state and finished.state.message}\n"
            f"--- the run's logs ---\n{logs}\n{worker.log_tail()}"
        )
        # The run's history as the UI shows it: deployment, pool, parameters (with the form's defaults) ...
        assert finished.deployment_id == deployment.id
        assert finished.work_pool_name == pool
        assert finished.infrastructure_pid, "the run was not started by the worker"
        assert finished.parameters == parameters
        # ... its task runs, all completed ...
        task_runs = prefect.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[finished.id])))
        names = sorted(run.name for run in task_runs)
        assert {run.state_type for run in task_runs} == {StateType.COMPLETED}, names
        assert [n for n in names if n.startswith("sync ")] == ["sync currency", "sync payment_term"]
        assert any(n.startswith("open-connection") for n in names), names
        assert any(n.startswith("publish-report") for n in names), names
        # ... and its artifacts: the per-entity counts table.
        of_run = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[finished.id]))
        artifacts = prefect.read_artifacts(artifact_filter=of_run)
    by_key = {artifact.key: artifact for artifact in artifacts if artifact.key}
    assert "full-sync-counts" in by_key, sorted(by_key)
    counts = by_key["full-sync-counts"]
    assert counts.type == "table"
    rows = json.loads(counts.data) if isinstance(counts.data, str) else counts.data
    assert isinstance(rows, list)
    assert {row["entity"]: row["state"] for row in rows} == {"currency": "succeeded", "payment_term": "succeeded"}
    assert all(row["failed"] == 0 for row in rows), rows
    moved = sum(int(row[column]) for row in rows for column in ("inserted", "modified", "coupled"))
    assert moved > 0, rows
    assert "full-sync-progress" in by_key
    # The engine's own lines (ids and counts) reach the run's logs (sent in batches: they may trail the state).
    assert "currency to_crm" in wait_for_log_line(finished.id, "currency to_crm")

    # The worker's flow run wrote to the connection's state store, under this flow run's id.
    engine = create_store_engine(f"sqlite:///{connection}")
    with session_scope(engine) as session:
        recorded = session.exec(select(SyncRun).where(SyncRun.flow_run_id == str(finished.id))).all()
    engine.dispose()
    assert [(run.procedure, run.state) for run in recorded] == [("full-sync", RunState.SUCCEEDED)]


def tandem_cli(server: PrefectServer, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
    """Run ``tandem ARGS`` as an operator's shell would, against this server."""
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "tandem"), *args], cwd=ROOT, env=server.env(), capture_output=True, text=True,
        timeout=timeout, check=False,
    )


#: ``tandem`` as its entry point runs it, but importing the flows' shared module takes ``SLOW_IMPORT_SECONDS`` longer
#: (a busy machine; the flows are imported after the command has started).
SLOW_IMPORT_SECONDS = 8
SLOW_TANDEM = (
    "import sys, time\n"
    "class SlowImport:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    f"        if name == 'flows.orchestration': time.sleep({SLOW_IMPORT_SECONDS})\n"
    "        return None\n"
    "sys.meta_path.insert(0, SlowImport())\n"
    "from ops.cli import main\n"
    "sys.exit(main())\n"
)


def tandem_cli_slow_import(server: PrefectServer, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``tandem ARGS`` against this server with the flows slow to import (:data:`SLOW_TANDEM`)."""
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-c", SLOW_TANDEM, *args], cwd=ROOT, env=server.env(),
        capture_output=True, text=True, timeout=300, check=False,
    )


def test_a_connections_shipped_schedule_fires_by_itself_and_a_worker_completes_the_run(
    server: PrefectServer, worker: Background, pool: str, connection: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `tandem` runs in its own process for each command below once; its refusals through the same entry point here.
    capsys.readouterr()
    assert main(["deploy", "--connection", "ghost"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "tandem deploy: no Tandem Sync Connection block named 'ghost' on this Prefect server: save it first "
        "(docs/operating/deployments.md, step 4), or check the name with `prefect block ls`"
    ]
    # The operator's path: `tandem deploy --connection NAME`, the initial import once (Run in the UI), nothing else.
    # (No flow runs in this process: its events would stay queued for this module's server after it stops.)
    # The schedules must first fire after the initial import has turned sync on (a run that fires before it is
    # rightly skipped, "sync is not enabled on the connection", and the next one is an interval later): deployed to
    # start in 10 minutes, whatever the import takes; once it is done, deploying the schedule again (an update of the
    # same deployment) anchors it 30 seconds on, counted from when the flows are imported: here they import 8 s
    # slower, and the first run is still about 30 s away when the command ends.
    deployed = tandem_cli(server, "deploy", "--connection", CONNECTION, "--start-in", "600")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    name = f"incremental-sync/{CONNECTION}-incremental-erp-to-crm"
    assert f"{CONNECTION}-incremental-erp-to-crm" in deployed.stdout
    wait_for_worker(worker, pool)
    with client() as prefect:
        importing = prefect.create_flow_run_from_deployment(
            prefect.read_deployment_by_name(f"initial-import/{CONNECTION}-initial-import").id
        )
    imported = wait_for_final_state(importing.id, worker)
    assert imported.state_name == "Completed", imported.state_name
    again = tandem_cli_slow_import(server, "deploy", "--connection", CONNECTION, "--only", "incremental-erp-to-crm",
                                   "--start-in", "30")
    ended = datetime.now(UTC)
    assert again.returncode == 0 and again.stdout.count(f"{CONNECTION}-") == 1, again.stdout + again.stderr
    with client() as prefect:
        deployment = prefect.read_deployment_by_name(name)
        [schedule] = deployment.schedules
        assert schedule.active and deployment.tags == ["tandem", "incremental-sync", f"connection:{CONNECTION}"]
        # 30 s ahead of the import, less the second its anchor drops and the deployment's creation.
        assert schedule.schedule.anchor_date >= ended + timedelta(seconds=30 - 5), (schedule.schedule, ended)
        assert deployment.parameters["connection"] == connection_ref()
        paused = prefect.read_deployment_by_name(f"incremental-sync/{CONNECTION}-incremental-two-way")
        assert [s.active for s in paused.schedules] == [False]
    # The scheduler service (not this test) creates the run; the worker picks it up and runs it to the end.
    deadline = time.monotonic() + RUN_SECONDS
    of_deployment = FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[deployment.id]))
    finished: FlowRun | None = None
    while finished is None and time.monotonic() < deadline:
        with client() as prefect:
            runs = prefect.read_flow_runs(flow_run_filter=of_deployment)
        done = [run for run in runs if run.state is not None and run.state.is_final()
                and run.expected_start_time is not None and imported.end_time is not None
                and run.expected_start_time >= imported.end_time]
        finished = done[0] if done else None
        time.sleep(1)
    assert finished is not None, (
        f"no scheduled run of {name} finished in {RUN_SECONDS:.0f} s: "
        f"{[(run.name, run.state_name, run.expected_start_time) for run in runs]}\n{worker.log_tail()}\n"
        f"{server.process.log_tail()}"
    )
    assert finished.auto_scheduled, "the run was not created by the scheduler"
    assert finished.infrastructure_pid, "the run was not started by the worker"
    with client() as prefect:
        logs = run_logs(prefect, finished.id)
    assert finished.state_type == StateType.COMPLETED, f"{finished.state_name}: {logs}\n{worker.log_tail()}"
    assert finished.state_name in ("Completed", "NeedsAttention"), finished.state_name  # it synced: not Skipped
    engine = create_store_engine(f"sqlite:///{connection}")
    with session_scope(engine) as session:
        recorded = session.exec(select(SyncRun).where(SyncRun.flow_run_id == str(finished.id))).all()
    engine.dispose()
    assert [run.procedure for run in recorded] == ["incremental-sync"]

    # `tandem runs` tells a run that needs attention from a clean one (prefect flow-run ls shows both COMPLETED).
    with client() as prefect:
        full = prefect.read_deployment_by_name(f"full-sync/{CONNECTION}-full-sync")
        marked = prefect.create_flow_run_from_deployment(full.id, state=Completed(
            name="NeedsAttention", message="1 records failed (contact): see the run's artifacts"))
    listed = tandem_cli(server, "runs", "--connection", CONNECTION, "--json")
    assert listed.returncode == 0, listed.stderr
    by_id = {row["run_id"]: row for row in json.loads(listed.stdout)}
    assert (by_id[str(marked.id)]["state"], by_id[str(marked.id)]["needs_attention"]) == ("NeedsAttention", True)
    assert by_id[str(marked.id)]["deployment"] == f"{CONNECTION}-full-sync"
    assert by_id[str(finished.id)]["needs_attention"] is (finished.state_name != "Completed")
    assert main(["runs", "--connection", CONNECTION]) == 0
    table = capsys.readouterr().out
    assert "! NeedsAttention" in table and "need attention (!): tandem failures --connection operator" in table
    assert main(["runs", "--connection", "ghost"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "tandem runs: connection 'ghost' has no deployments on this Prefect server: tandem deploy --connection ghost"]

    # `tandem schedule` shows the server's real next run of that deployment.
    shown = tandem_cli(server, "schedule", "--json")
    assert shown.returncode == 0, shown.stderr
    view = json.loads(shown.stdout)
    rows = {row["deployment"]: row for row in view["deployments"]}
    assert view["source"] == server.api_url and name in rows, shown.stdout
    assert (rows[name]["connection"], rows[name]["how_often"]) == (CONNECTION, "every 5 minutes")
    assert rows[name]["next_run_at"] is not None and rows[name]["warning"] is None, rows[name]


def test_the_schedule_view_reads_the_prefect_server(
    server: PrefectServer, deployed: str, connection: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    upcoming = (datetime.now(UTC) + timedelta(minutes=3)).replace(microsecond=0)
    chosen = {"connection": connection_ref()}
    with client() as prefect:  # what a worker leaves behind (a finished run) and a run scheduled by hand
        deployment = prefect.read_deployment_by_name("incremental-sync/incremental-erp-to-crm")
        prefect.create_flow_run_from_deployment(deployment.id, parameters=chosen, state=Completed())
        prefect.create_flow_run_from_deployment(
            deployment.id, parameters=chosen, state=Scheduled(scheduled_time=upcoming)
        )
    rows, origin = schedule()
    assert origin == server.api_url
    by_name = {row.deployment: row for row in rows}
    # prefect.yaml's own deployments (`prefect deploy --all`): the templates, paused, no connection chosen.
    erp_to_crm = by_name["incremental-sync/incremental-erp-to-crm"]
    assert (erp_to_crm.how_often, erp_to_crm.direction, erp_to_crm.last_run_state, erp_to_crm.connection) == (
        "every 5 minutes (paused)", "ERP → Salesforce", "Completed", None)
    assert erp_to_crm.next_run_at == upcoming and erp_to_crm.last_run_at is not None and erp_to_crm.warning is None
    assert by_name["incremental-sync/incremental-crm-to-erp"].how_often == "every 30 minutes (paused)"
    assert by_name["deletion-sweep/deletion-sweep-daily"].how_often == "daily at 02:00 UTC (paused)"
    assert by_name["full-sync/full-sync"].how_often == "on demand"

    capsys.readouterr()
    assert main(["schedule", "--json"]) == 0  # the command in its own process: the shipped-schedule test
    shown = json.loads(capsys.readouterr().out)
    assert shown["source"] == server.api_url
    last_states = {d["deployment"]: d["last_run_state"] for d in shown["deployments"]}
    assert last_states["incremental-sync/incremental-erp-to-crm"] == "Completed"
