"""``tandem alerts``: automations that notify when a connection's runs fail, crash, need attention or are overdue.

One real ``prefect server start`` for the module, with the services automations need (triggers and actions,
late runs) and their loops shortened through Prefect's own settings; a local webhook receiver
(``http.server`` on 127.0.0.1, recording the POST bodies) behind a ``CustomWebhookNotificationBlock``. The
connection's deployments are made through the client, tagged as ``tandem deploy`` tags them, and the alerts are
installed by the real ``tandem alerts install`` command. Flow runs are driven through the client (Pending →
Running → a final state); the server emits the state events, its triggers service evaluates the automations
and its actions service posts to the receiver. No worker runs: the overdue alert is what "no worker" looks like.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.objects import State
from prefect.client.schemas.responses import SetStateStatus
from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule
from prefect.events.schemas.automations import EventTrigger
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.states import Completed, Crashed, Failed, Pending, Running, Scheduled

from ops.alerts import automation_prefix, install, schedule_interval
from ops.cli import main
from tests.support.prefect_database import run_directory
from tests.support.prefect_server import ROOT, PrefectServer, free_port, prefect_server, server_env

SERVER_STARTUP_SECONDS = 120.0
TANDEM = ROOT / ".venv" / "bin" / "tandem"
#: The server's services that automations need, on, with short loops (Prefect's own settings).
SERVICES = {
    "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "true",  # the triggers and the actions services
    "PREFECT_SERVER_EVENTS_PROACTIVE_GRANULARITY": "PT1S",  # proactive triggers evaluated every second
    "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED": "true",
    "PREFECT_SERVER_SERVICES_LATE_RUNS_LOOP_SECONDS": "1",
    "PREFECT_SERVER_SERVICES_LATE_RUNS_AFTER_SECONDS": "1",  # Late 1 s after the scheduled time (default 15)
    # Off: the test creates the scheduled runs itself. A run the scheduler creates emits no event for its
    # Scheduled state, so when it goes Late within 5 minutes of being created (every run of a 5 s schedule) its
    # Late event "follows" an event that never comes and Prefect's event ordering holds it for 15 minutes; and
    # its runs every 5 s would keep the SQLite database busy. Runs created through the API emit their event.
    "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
}
CONNECTION = "acme"
#: Another connection whose name starts like the first: its runs must not reach acme's alerts.
OTHER_CONNECTION = "acme-eu"
#: The overdue deployment's interval: short, so that two intervals (Prefect's 10 s minimum) keep the test brief.
OVERDUE_INTERVAL = timedelta(seconds=5)
NOTIFY_SECONDS = 20.0
OVERDUE_SECONDS = 45.0


# --- the webhook receiver -------------------------------------------------------------------------------------

@dataclass
class Notification:
    """One POST the receiver got: the webhook block's JSON (subject, body) and when it arrived."""

    subject: str
    body: str
    received: datetime

    def mentions(self, text: str) -> bool:
        """Whether the subject or the body contains ``text``."""
        return text in self.subject or text in self.body


@dataclass
class Receiver:
    """A webhook endpoint on 127.0.0.1 that records what it is sent."""

    url: str = ""
    notifications: list[Notification] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def record(self, payload: dict[str, Any]) -> None:
        """Keep one notification and wake the waiters."""
        with self.arrived:
            self.notifications.append(Notification(
                subject=str(payload.get("subject", "")), body=str(payload.get("body", "")), received=datetime.now(UTC),
            ))
            self.arrived.notify_all()

    def matching(self, predicate: Callable[[Notification], bool]) -> list[Notification]:
        """The notifications so far that satisfy ``predicate``."""
        with self.arrived:
            return [n for n in self.notifications if predicate(n)]

    def wait_for(self, predicate: Callable[[Notification], bool], timeout: float, what: str,
                 server: PrefectServer) -> Notification:
        """The first notification that satisfies ``predicate``, waiting at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                found = [n for n in self.notifications if predicate(n)]
                if found:
                    return found[0]
                left = deadline - time.monotonic()
                if left <= 0:
                    got = "\n".join(f"  - {n.subject}" for n in self.notifications) or "  (none)"
                    raise AssertionError(
                        f"no notification for {what} within {timeout:.0f} s; the receiver got:\n{got}\n"
                        f"{server.process.log_tail(40)}"
                    )
                self.arrived.wait(left)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """A local webhook receiver (one thread), its address in ``url``."""
    received = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            received.record(json.loads(self.rfile.read(length) or b"{}"))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    received.url = f"http://127.0.0.1:{httpd.server_address[1]}/hook"
    thread = threading.Thread(target=httpd.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield received
    finally:
        httpd.shutdown()
        httpd.server_close()


# --- the server, the deployments, the block, the installed alerts -----------------------------------------------

@pytest.fixture(scope="module")
def alerts_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """``prefect server start`` with the automation services on and short loops; this process's client uses it."""
    with (
        prefect_server(
            tmp_path_factory.mktemp("prefect-alerts"), run_directory(tmp_path_factory), timeout=SERVER_STARTUP_SECONDS,
            **SERVICES,
        ) as running,
        temporary_settings(updates={PREFECT_API_URL: running.api_url}),
    ):
        yield running


@pytest.fixture(scope="module")
def client(alerts_server: PrefectServer) -> Iterator[SyncPrefectClient]:
    """A client of the module's server."""
    with get_client(sync_client=True) as prefect:
        yield prefect


@dataclass(frozen=True)
class Deployments:
    """The module's deployments, by role."""

    full_sync: UUID  # acme, on demand
    incremental: UUID  # acme, every OVERDUE_INTERVAL: its scheduled run never starts
    started: UUID  # acme, every OVERDUE_INTERVAL: its scheduled run starts late, within the window
    other: UUID  # acme-eu, on demand


def make_deployment(client: SyncPrefectClient, connection: str, template: str, entrypoint: str,
                    schedules: list[DeploymentScheduleCreate] | None = None) -> UUID:
    """A deployment named and tagged as ``tandem deploy`` makes them (``NAME-<template>``, ``connection:NAME``)."""
    flow_id = client.create_flow_from_name(entrypoint.rpartition(":")[2].replace("_", "-"))
    return client.create_deployment(
        flow_id=flow_id, name=f"{connection}-{template}", entrypoint=entrypoint,
        tags=["tandem", f"connection:{connection}"], schedules=schedules or [],
    )


@pytest.fixture(scope="module")
def deployments(client: SyncPrefectClient) -> Deployments:
    """Three deployments of ``acme`` (two scheduled) and one of ``acme-eu``; no work pool, no worker."""
    def every() -> list[DeploymentScheduleCreate]:
        return [DeploymentScheduleCreate(schedule=IntervalSchedule(interval=OVERDUE_INTERVAL), active=True)]

    incremental = "flows/incremental_sync.py:incremental_sync"
    return Deployments(
        full_sync=make_deployment(client, CONNECTION, "full-sync", "flows/full_sync.py:full_sync"),
        incremental=make_deployment(client, CONNECTION, "incremental-erp-to-crm", incremental, schedules=every()),
        started=make_deployment(client, CONNECTION, "incremental-crm-to-erp", incremental, schedules=every()),
        other=make_deployment(client, OTHER_CONNECTION, "full-sync", "flows/full_sync.py:full_sync"),
    )


@pytest.fixture(scope="module")
def webhook_block(receiver: Receiver, alerts_server: PrefectServer) -> str:
    """A Custom Webhook notification block ``custom-webhook/ops`` posting subject and body to the receiver."""
    CustomWebhookNotificationBlock(  # type: ignore[call-arg]  # headers and cookies default to None
        name="tandem alerts test", url=receiver.url, json_data={"subject": "{{subject}}", "body": "{{body}}"},
    ).save("ops", overwrite=True)
    return "custom-webhook/ops"


def tandem(
    server_or_env: PrefectServer | dict[str, str], *args: str, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run ``.venv/bin/tandem ARGS`` as an operator would, against the given server (or environment)."""
    env = server_or_env.env() if isinstance(server_or_env, PrefectServer) else server_or_env
    return subprocess.run([str(TANDEM), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def tandem_here(capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess[str]:
    """``tandem ARGS`` through the command line's entry point in this process (its client uses the module's
    server): each command runs once in its own process above, its other answers come from here."""
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["tandem", *args], code, out, err)


@pytest.fixture(scope="module")
def installed(alerts_server: PrefectServer, deployments: Deployments, webhook_block: str) -> str:
    """``tandem alerts install --connection acme --notify custom-webhook/ops``, run for real; its output."""
    done = tandem(alerts_server, "alerts", "install", "--connection", CONNECTION, "--notify", webhook_block)
    assert done.returncode == 0, f"tandem alerts install exited with {done.returncode}:\n{done.stdout}{done.stderr}"
    time.sleep(1.0)  # the triggers service loads a new automation right after its commit; give it a moment
    return done.stdout


def run_to(client: SyncPrefectClient, deployment_id: UUID, final: State) -> UUID:
    """A flow run of the deployment driven Pending → Running → ``final``, as a worker and the engine would."""
    run = client.create_flow_run_from_deployment(deployment_id)
    for state in (Pending(), Running(), final):
        result = client.set_flow_run_state(run.id, state)
        assert result.status == SetStateStatus.ACCEPT, f"{state.name} was not accepted: {result.details}"
    return run.id


def about(run_id: UUID, word: str) -> Callable[[Notification], bool]:
    """Matches the notification about this run whose subject says ``word``."""
    return lambda n: str(run_id) in n.body and word in n.subject


# --- the command ---------------------------------------------------------------------------------------------

def test_install_creates_the_alerts_and_installing_again_replaces_them(
    alerts_server: PrefectServer, client: SyncPrefectClient, installed: str, webhook_block: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    prefix = automation_prefix(CONNECTION)
    expected = {f"{prefix} run failed", f"{prefix} run crashed", f"{prefix} run needs attention",
                f"{prefix} acme-incremental-erp-to-crm overdue", f"{prefix} acme-incremental-crm-to-erp overdue"}
    assert all(f"created   {name}" in installed for name in expected), installed
    assert "no overdue alert for the unscheduled deployments: acme-full-sync" in installed

    again = tandem_here(capsys, "alerts", "install", "--connection", CONNECTION, "--notify", webhook_block)
    assert again.returncode == 0, again.stderr
    assert all(f"replaced  {name}" in again.stdout for name in expected), again.stdout
    names = [a.name for a in client.read_automations() if a.name.startswith(prefix)]
    assert sorted(names) == sorted(expected), "installing again must replace, not duplicate"
    windows = [a.trigger.within for a in client.read_automations()
               if a.name.endswith("overdue") and isinstance(a.trigger, EventTrigger)]
    assert windows == [2 * OVERDUE_INTERVAL] * 2  # two intervals of the deployments' schedule on the server

    listed = tandem(alerts_server, "alerts", "list", "--connection", CONNECTION)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 5 and all("-> custom-webhook/ops" in line for line in lines), listed.stdout
    assert any("proactive: prefect.flow-run.Late within 10 seconds" in line for line in lines), listed.stdout


# --- the alerts ----------------------------------------------------------------------------------------------

def test_a_failed_run_notifies(alerts_server: PrefectServer, client: SyncPrefectClient, deployments: Deployments,
                               installed: str, receiver: Receiver) -> None:
    run_id = run_to(client, deployments.full_sync, Failed(message="2 of 5 entity jobs did not succeed: customer"))
    got = receiver.wait_for(about(run_id, "failed"), NOTIFY_SECONDS, "the failed run", alerts_server)
    assert got.subject.startswith("Tandem acme: run ") and "acme-full-sync" in got.subject
    assert "State: Failed" in got.body and "2 of 5 entity jobs did not succeed: customer" in got.body


def test_a_run_with_failed_records_or_held_conflicts_notifies(
    alerts_server: PrefectServer, client: SyncPrefectClient, deployments: Deployments, installed: str,
    receiver: Receiver,
) -> None:
    final: State = Completed(name="NeedsAttention", message="3 records failed, 1 conflict held")
    run_id = run_to(client, deployments.full_sync, final)
    got = receiver.wait_for(about(run_id, "needs attention"), NOTIFY_SECONDS, "the NeedsAttention run", alerts_server)
    assert "State: NeedsAttention" in got.body and "3 records failed, 1 conflict held" in got.body


def test_a_crashed_run_notifies(alerts_server: PrefectServer, client: SyncPrefectClient, deployments: Deployments,
                                installed: str, receiver: Receiver) -> None:
    run_id = run_to(client, deployments.full_sync, Crashed(message="Flow run process exited with code -9."))
    got = receiver.wait_for(about(run_id, "crashed"), NOTIFY_SECONDS, "the crashed run", alerts_server)
    assert "State: Crashed" in got.body and "exited with code -9" in got.body


def test_a_clean_run_and_another_connections_run_send_nothing(
    alerts_server: PrefectServer, client: SyncPrefectClient, deployments: Deployments, installed: str,
    receiver: Receiver,
) -> None:
    clean = run_to(client, deployments.full_sync, Completed())
    other = run_to(client, deployments.other, Failed(message="acme-eu failed"))
    # A failure of acme after both: once its alert has arrived, the two runs' events have been evaluated too.
    control = run_to(client, deployments.full_sync, Failed(message="control"))
    receiver.wait_for(about(control, "failed"), NOTIFY_SECONDS, "the control run", alerts_server)
    time.sleep(2.0)  # and a little more, in case the triggers service took them out of order
    assert not receiver.matching(lambda n: n.mentions(str(clean))), "a clean Completed run notified"
    assert not receiver.matching(lambda n: n.mentions(str(other)) or n.mentions("acme-eu")), \
        "a run of connection acme-eu reached acme's alerts"


def scheduled_run(client: SyncPrefectClient, deployment_id: UUID) -> tuple[UUID, datetime]:
    """A run of the deployment scheduled for now, as the scheduler makes them; its id and due time."""
    due = datetime.now(UTC)
    run = client.create_flow_run_from_deployment(deployment_id, state=Scheduled(scheduled_time=due))
    return run.id, due


def wait_until_late(client: SyncPrefectClient, run_id: UUID, server: PrefectServer, timeout: float = 15.0) -> datetime:
    """When the server's late-runs service marked the run Late (polled, bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.read_flow_run(run_id).state
        if state and state.name == "Late":
            return state.timestamp
        time.sleep(0.25)
    raise AssertionError(f"flow run {run_id} was not marked Late within {timeout:.0f} s\n{server.process.log_tail(40)}")


def test_a_scheduled_run_that_does_not_start_within_two_intervals_is_reported_overdue(
    alerts_server: PrefectServer, client: SyncPrefectClient, deployments: Deployments, installed: str,
    receiver: Receiver,
) -> None:
    # No worker polls anything: a run of each scheduled deployment, due now; the late-runs service marks both
    # Late 1 s after. The second one then starts (a worker that picks it up late): its window closes quietly.
    stuck, due = scheduled_run(client, deployments.incremental)
    started, _ = scheduled_run(client, deployments.started)
    started_late_at = wait_until_late(client, started, alerts_server)
    start: list[State] = [Pending(), Running(), Completed()]
    for state in start:
        assert client.set_flow_run_state(started, state).status == SetStateStatus.ACCEPT
        # One at a time: on SQLite, a write of ours racing the triggers service's write of the Pending event's
        # count can make Prefect drop that event (database is locked, retried 4 times in a few ms).
        time.sleep(0.5)

    got = receiver.wait_for(lambda n: "acme-incremental-erp-to-crm overdue" in n.subject, OVERDUE_SECONDS,
                            "the deployment whose run never started", alerts_server)
    assert "no run started within 10 seconds" in got.subject, got.subject
    assert "every 5 seconds" in got.body and str(stuck) in got.body, got.body
    # Proactive: it fired only once a whole window (two intervals) had passed since the run went Late.
    assert got.received - due >= 2 * OVERDUE_INTERVAL, (due, got.received)

    window_closed = started_late_at + 2 * OVERDUE_INTERVAL + timedelta(seconds=3)
    time.sleep(max(0.0, (window_closed - datetime.now(UTC)).total_seconds()))
    assert not receiver.matching(lambda n: "acme-incremental-crm-to-erp" in n.subject), \
        "a late run that started within the window was reported overdue"


def test_uninstall_removes_the_connections_alerts(
    alerts_server: PrefectServer, client: SyncPrefectClient, installed: str, webhook_block: str
) -> None:
    prefix = automation_prefix(CONNECTION)
    try:
        done = tandem(alerts_server, "alerts", "uninstall", "--connection", CONNECTION)
        assert done.returncode == 0, done.stderr
        assert done.stdout.count("removed") == 5, done.stdout
        assert not [a for a in client.read_automations() if a.name.startswith(prefix)]
    finally:  # as it was, whatever runs next
        asyncio.run(install(CONNECTION, webhook_block, alerts_server.api_url))


# --- the command's errors: one line, exit 2, no traceback ----------------------------------------------------

def assert_one_line_error(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """``tandem alerts`` failed as a user's mistake: exit 2, a single ``tandem alerts: ...`` line."""
    assert done.returncode == 2, f"exit {done.returncode}\n{done.stdout}{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tandem alerts: "), done.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_no_prefect_server_is_one_line(tmp_path: Path) -> None:
    nobody = server_env(tmp_path / "prefect-home", free_port())
    done = tandem(nobody, "alerts", "install", "--connection", CONNECTION, "--notify", "custom-webhook/ops")
    assert_one_line_error(done, "no Prefect server answers at http://127.0.0.1:")


def test_a_connection_without_deployments_is_one_line(
    alerts_server: PrefectServer, webhook_block: str, capsys: pytest.CaptureFixture[str]
) -> None:
    done = tandem_here(capsys, "alerts", "install", "--connection", "ghost", "--notify", webhook_block)
    assert_one_line_error(done, "no deployments of connection 'ghost'", "tandem deploy --connection ghost")


def test_an_unknown_notification_block_is_one_line(
    alerts_server: PrefectServer, deployments: Deployments, capsys: pytest.CaptureFixture[str]
) -> None:
    done = tandem_here(capsys, "alerts", "install", "--connection", CONNECTION, "--notify", "custom-webhook/nope")
    assert_one_line_error(done, "no notification block custom-webhook/nope", "prefect block create custom-webhook",
                          "slack-webhook")


# --- the overdue window of a cron schedule --------------------------------------------------------------------

def test_a_cron_schedules_interval_is_its_longest_gap() -> None:
    monday = datetime(2026, 12, 7, tzinfo=UTC)
    daily = asyncio.run(schedule_interval(CronSchedule(cron="0 2 * * *", timezone="UTC"), monday))
    weekdays = asyncio.run(schedule_interval(CronSchedule(cron="0 2 * * 1-5", timezone="UTC"), monday))
    assert daily == timedelta(days=1)
    assert weekdays == timedelta(days=3)  # Friday 02:00 to Monday 02:00
