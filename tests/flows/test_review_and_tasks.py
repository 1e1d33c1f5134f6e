"""The full-sync review, the task list and the card's links to a record's sync status, on real runs against both
emulators: JSON through a real uvicorn server, the pages in headless Chromium with screenshots, the command line,
and the retry action starting a run of the connection's retry-records deployment."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import requests
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL

from blocks.connection import ConnectionOptions, SyncConnection
from flows.full_sync import full_sync
from flows.incremental_sync import incremental_sync
from flows.initial_import import initial_import
from flows.orchestration import JobsFailedError
from flows.parameters import EntityName
from flows.retry_records import retry_records
from ops.cli import main
from tandem.mapping import Direction
from tandem.status.cards import CardStatus
from tandem.status.review import JobStatus
from tandem.status.tasks_due import local_today
from tests.flows.clients import erp_client, erp_write, salesforce, sf_task
from tests.flows.conftest import TASK, save_connection
from tests.support.chromium import dump_dom, screenshot
from tests.support.emulator import RunningEmulator
from tests.support.png import pixels
from tests.support.prefect_server import ROOT
from tests.support.web import serving
from web.html import COLOURS, JOB_COLOURS

CORE = ["currency", "salesperson", "payment_term", "customer", "contact"]
LIVE_RUN = (
    "from flows.full_sync import full_sync; from flows.parameters import EntityName; "
    f"full_sync(connection='review', entities=[EntityName(e) for e in {CORE!r}])"
)


def names(*entities: str) -> list[EntityName]:
    return [EntityName(e) for e in entities]


def rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def http() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "ops.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.fixture
def review(fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Connection ``review``: a first full sync whose ERP reads are refused (as a wrong token secret is), then one
    that succeeds with an ERP contact failing (a bad email); ``tandem serve``'s app on a free port."""
    crm, erp = fresh
    store = tmp_path / "state.sqlite3"
    options = ConnectionOptions(entities=CORE)
    save_connection("review", crm, erp, store, options=options)
    with serving("review") as url:
        before = http().get(f"{url}/review?format=json", timeout=30).json()
        # The jobs' reads (search, getAll) refused; the pairing record is read with getList, so the run starts.
        erp.control("POST", "faults", json={"pattern": "search|getAll", "kind": "soap_fault",
                                            "code": "INVALID_LOGIN_ATTEMPT", "probability": 1.0})
        try:
            with pytest.raises(JobsFailedError):
                full_sync(connection="review", entities=names(*CORE))
        finally:
            erp.control("DELETE", "faults")
        [bad] = erp_write(erp_client(erp), "contact", [
            {"externalId": "REVIEW-BAD-1", "lastName": "Broken", "email": "not-an-email-address"},
        ])
        initial_import(connection="review", entities=names("currency"))
        full_sync(connection="review", entities=names(*CORE))
        yield {"url": url, "before": before, "bad_contact": bad, "crm": crm, "erp": erp}


def test_the_review_shows_each_job_in_dependency_order_with_reasons_counts_and_mappings(
    review: dict[str, Any], tmp_path: Path
) -> None:
    url, session = review["url"], http()
    assert review["before"]["run"] is None
    assert {row["job"]["status"] for row in review["before"]["entities"]} == {JobStatus.NEVER_RUN.value}

    latest = session.get(f"{url}/review", headers={"Accept": "application/json"}, timeout=30).json()
    assert latest["run"]["state"] == "succeeded" and not latest["running"]
    rows = {row["entity"]: row for row in latest["entities"]}
    order = [row["entity"] for row in latest["entities"]]
    assert order.index("currency") < order.index("customer") < order.index("contact") < order.index("task")
    assert all(rows[e]["job"]["status"] == "succeeded" for e in CORE)
    assert rows["contact"]["job"]["error_codes"] == {"INVALID_EMAIL_ADDRESS": 1}
    assert rows["contact"]["last"]["counts"]["failed"] == 1
    currency = rows["currency"]["last"]
    assert currency["run_id"] == latest["run"]["id"] and sum(currency["counts"].values()) > 0
    assert rows["task"]["job"]["status"] == "not in this run" and not rows["task"]["enabled"]
    fields = {(f["crm"], f["erp"]): f for f in rows["customer"]["mapping"]["fields"]}
    assert rows["customer"]["mapping"]["crm_object"] == "Account" and fields
    assert any(f["value_map"] for f in rows["task"]["mapping"]["fields"])

    first_id = latest["run"]["id"] - 2  # the refused full sync, then the initial import, then this one
    first = session.get(f"{url}/review?run={first_id}&format=json", timeout=30).json()
    assert (first["run"]["procedure"], first["run"]["state"]) == ("full-sync", "failed")
    jobs = {row["entity"]: row["job"] for row in first["entities"]}
    assert jobs["currency"]["status"] == "failed"
    assert "INVALID_LOGIN_ATTEMPT" in jobs["currency"]["reason"], jobs  # from the run's published counts table
    assert jobs["customer"]["status"] == "skipped"
    assert jobs["customer"]["blocked_by"] == ["currency", "payment_term", "salesperson"]
    assert (jobs["contact"]["status"], jobs["contact"]["blocked_by"]) == ("skipped", ["customer"])
    assert session.get(f"{url}/review?run=999&format=json", timeout=30).status_code == 404

    dom = dump_dom(f"{url}/review?run={first_id}")
    assert 'data-entity="customer" data-status="skipped"' in dom and "Account ↔ customer" in dom
    assert "currency, payment_term, salesperson did not succeed" in dom and 'http-equiv="refresh"' not in dom
    shot = screenshot(f"{url}/review?run={first_id}", tmp_path / "review.png", width=1280, height=640)
    width, height, colours = pixels(shot)
    assert (width, height) == (1280, 640)
    for status in (JobStatus.FAILED, JobStatus.SKIPPED):
        assert rgb(JOB_COLOURS[status]) in colours, status
    green = screenshot(f"{url}/review", tmp_path / "review-latest.png", width=1280, height=640)
    assert rgb(JOB_COLOURS[JobStatus.SUCCEEDED]) in pixels(green)[2]


    # While a full sync runs (in its own process, every Salesforce call slowed down): running and waiting jobs,
    # and a page that reloads itself; once it ended, a still page.
    review["crm"].control("POST", "faults", json={"pattern": ".*", "kind": "latency", "latency_ms": 300,
                                                  "probability": 1.0})
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-c", LIVE_RUN], cwd=ROOT, env=env, start_new_session=True)
    seen: set[tuple[str, str]] = set()
    try:
        deadline = time.monotonic() + 180
        while process.poll() is None and time.monotonic() < deadline:
            now = session.get(f"{url}/review?format=json", timeout=30).json()
            if now["running"] and now["run"]["id"] > latest["run"]["id"]:
                seen |= {(row["entity"], row["job"]["status"]) for row in now["entities"]}
            page = session.get(f"{url}/review", timeout=30).text
            if 'data-running="true"' in page:  # one answer: a running run's page reloads itself
                assert 'http-equiv="refresh"' in page
                seen.add(("http-equiv", "refresh"))
            time.sleep(0.2)
        assert process.wait(timeout=180) == 0
    finally:
        review["crm"].control("DELETE", "faults")
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert {("customer", "running"), ("contact", "waiting"), ("http-equiv", "refresh")} <= seen, seen
    ended = session.get(f"{url}/review?format=json", timeout=30).json()
    assert not ended["running"] and ended["run"]["id"] > latest["run"]["id"]
    assert 'http-equiv="refresh"' not in session.get(f"{url}/review", timeout=30).text


def test_the_error_card_links_to_the_records_history_and_retries_it(review: dict[str, Any], tmp_path: Path) -> None:
    url, session, bad = review["url"], http(), review["bad_contact"]
    [card] = session.get(f"{url}/cards/erp/contact/{bad}", timeout=30).json()
    assert card["status"] == CardStatus.NOT_SYNCED.value
    assert card["history_url"] == f"/failures/contact/erp/{bad}"
    assert card["retry_url"] == f"/failures/contact/erp/{bad}/retry"

    dom = dump_dom(f"{url}/cards/erp/contact/{bad}/html")
    assert f'href="/failures/contact/erp/{bad}"' in dom and f'action="/failures/contact/erp/{bad}/retry"' in dom

    status = session.get(f"{url}{card['history_url']}?format=json", timeout=30).json()
    assert [e["code"] for e in status["history"]] == ["INVALID_EMAIL_ADDRESS"]
    assert status["history"][0]["procedure"] == "full-sync"
    assert status["cards"][0]["status"] == "not synced"
    assert "not-an-email-address" not in json.dumps(status)
    listing = session.get(f"{url}/failures?entity=contact", timeout=30).text
    assert f'class="history note" href="{card["history_url"]}"' in listing
    page = dump_dom(f"{url}{card['history_url']}")
    assert "INVALID_EMAIL_ADDRESS" in page and "Retry now" in page
    shot = screenshot(f"{url}{card['history_url']}", tmp_path / "history.png", width=900, height=420)
    assert rgb(COLOURS[CardStatus.NOT_SYNCED]) in pixels(shot)[2]

    # No retry deployment yet: 503 with the command line to run instead.
    refused = session.post(f"{url}{card['retry_url']}?format=json", timeout=60)
    assert refused.status_code == 503 and "tandem deploy --connection review" in refused.json()["detail"]
    assert "retry-records/review-retry-records" in refused.json()["retry_command"]
    assert session.get(f"{url}/failures/nothing/erp/1?format=json", timeout=30).status_code == 404

    block_id = str(SyncConnection.load("review")._block_document_id)
    reference = {"$ref": {"block_document_id": block_id}}  # as tandem deploy fills it in
    deployment = retry_records.to_deployment(name="review-retry-records", parameters={"connection": reference})
    deployment_id = deployment.apply()
    started = session.post(f"{url}{card['retry_url']}?format=json", timeout=60)
    assert started.status_code == 202, started.text
    flow_run_id = started.json()["flow_run_id"]
    redirected = session.post(f"{url}{card['retry_url']}", allow_redirects=False, timeout=60)
    assert redirected.status_code == 303
    assert redirected.headers["location"].startswith(f"/failures/contact/erp/{bad}?retry=")

    async def read(run_id: str) -> Any:
        async with get_client() as client:
            return await client.read_flow_run(UUID(run_id))

    flow_run = asyncio.run(read(flow_run_id))
    assert flow_run.deployment_id == deployment_id
    assert flow_run.parameters["entity"] == "contact" and flow_run.parameters["record_ids"] == [str(bad)]


@pytest.fixture
def tasks(fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Connection ``duetasks`` with Salesforce tasks due today, tomorrow and later synced to the ERP by the initial
    import, an ERP task due tomorrow synced to Salesforce, and a Salesforce task never synced."""
    crm, erp = fresh
    sf = salesforce(crm)
    today = local_today()
    tomorrow = today + timedelta(days=1)
    users = sf.query("SELECT Id, Username FROM User ORDER BY Username")["records"]
    other = users[-1]

    def task(subject: str, due: date, **extra: Any) -> str:
        fields = {"Subject": subject, "ActivityDate": due.isoformat(), "Status": "Not Started", **extra}
        return str(sf.Task.create(fields)["id"])

    made = {
        "call": task("Call Acme", today, Priority="Normal"),
        "urgent": task("Send the quote", today, Priority="High"),
        "visit": task("Visit Globex", tomorrow, Priority="Normal", OwnerId=other["Id"]),
        "later": task("Plan next year", today + timedelta(days=3), Priority="Normal"),
    }
    save_connection("duetasks", crm, erp, tmp_path / "state.sqlite3", options=ConnectionOptions(entities=["task"]))
    [row] = initial_import(connection="duetasks", entities=TASK)
    assert row["state"] == "succeeded" and row["failed"] == 0, row
    erp_write(erp_client(erp), "task", [{"externalId": "DUE-ERP-1", "title": "Ship samples", "status": "_notStarted",
                                         "priority": "_high", "dueDate": f"{tomorrow.isoformat()}T09:00:00Z"}])
    incremental_sync(connection="duetasks", direction=Direction.TO_CRM, entities=TASK)
    made["erp"] = str(sf_task(crm, "DUE-ERP-1")["Id"])
    made["unsynced"] = task("Created after the sync", today, Priority="High")
    with serving("duetasks") as url:
        yield {"url": url, "today": today, "tomorrow": tomorrow, "made": made, "other": other}


def test_the_tasks_due_today_and_tomorrow_with_their_sync_status(
    tasks: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, made, today, tomorrow = tasks["url"], tasks["made"], tasks["today"], tasks["tomorrow"]
    listing = http().get(f"{url}/tasks/due?format=json", timeout=60).json()
    assert (listing["today"], listing["tomorrow"]) == (today.isoformat(), tomorrow.isoformat())
    listed = {t["id"]: t for t in listing["tasks"]}
    assert {made["call"], made["urgent"], made["visit"], made["erp"]} <= set(listed)
    assert made["later"] not in listed and made["unsynced"] not in listed
    assert all(t["due"] in (today.isoformat(), tomorrow.isoformat()) for t in listing["tasks"])
    dues = [t["due"] for t in listing["tasks"]]
    assert dues == sorted(dues)
    mine = [t["id"] for t in listing["tasks"] if t["id"] in made.values()]
    assert mine.index(made["urgent"]) < mine.index(made["call"])  # High before Normal on the same day
    assert mine.index(made["erp"]) < mine.index(made["visit"])
    assert listed[made["erp"]]["erp_id"] and listed[made["erp"]]["sync_status"] == "up to date"
    assert listed[made["call"]]["sync_status"] == "up to date" and listed[made["call"]]["last_synced"]
    assert listed[made["call"]]["url"].endswith(f"/lightning/r/Task/{made['call']}/view")

    theirs = http().get(f"{url}/tasks/due", params={"owner": tasks["other"]["Username"], "format": "json"},
                        timeout=60).json()
    assert made["visit"] in {t["id"] for t in theirs["tasks"]}
    assert {t["owner_id"] for t in theirs["tasks"]} == {tasks["other"]["Id"]}
    assert not {made["call"], made["urgent"]} & {t["id"] for t in theirs["tasks"]}
    assert http().get(f"{url}/tasks/due?owner=nobody@nowhere.example", timeout=60).status_code == 400
    shifted = http().get(f"{url}/tasks/due?format=json&today={tomorrow.isoformat()}", timeout=60).json()
    assert made["call"] not in {t["id"] for t in shifted["tasks"]}
    assert made["visit"] in {t["id"] for t in shifted["tasks"]}

    dom = dump_dom(f"{url}/tasks/due")
    assert f'data-day="{today.isoformat()}"' in dom and f'data-day="{tomorrow.isoformat()}"' in dom
    assert f'data-task-id="{made["urgent"]}" data-status="up to date"' in dom
    assert f'href="/cards/crm/Task/{made["urgent"]}/html"' in dom
    shot = screenshot(f"{url}/tasks/due", tmp_path / "tasks.png", width=1100, height=480)
    assert rgb(COLOURS[CardStatus.UP_TO_DATE]) in pixels(shot)[2]

    # The installed command once, in its own process; its other answers from the same entry point in this one.
    printed = cli("tasks", "due", "--connection", "duetasks", "--json")
    assert printed.returncode == 0, printed.stderr
    assert [t["id"] for t in json.loads(printed.stdout)["tasks"]] == [t["id"] for t in listing["tasks"]]
    capsys.readouterr()
    assert main(["tasks", "due", "--connection", "duetasks", "--owner", tasks["other"]["Username"]]) == 0
    out = capsys.readouterr().out
    assert "due today" in out and "Visit Globex" in out and "Call Acme" not in out
    assert main(["tasks", "due", "--connection", "duetasks", "--owner", "nobody@nowhere.example"]) == 2
    assert "tandem tasks: no Salesforce user with the username 'nobody@nowhere.example'\n" in capsys.readouterr().err
    assert main(["tasks", "due", "--connection", "duetasks", "--today", "tomorrow"]) == 2
    assert "--today" in capsys.readouterr().err
