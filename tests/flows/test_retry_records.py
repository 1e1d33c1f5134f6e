"""Failed records across runs and retrying them, on real records through the flows and both emulators: the
listing (engine, command line, ``/failures`` as JSON and HTML, the card's link), then the retry-records flow
by id and for every failing record of an entity, its dry run, and ids that do not fail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

from blocks.connection import ConnectionOptions
from flows.full_sync import full_sync
from flows.initial_import import initial_import
from flows.parameters import EntityName
from flows.retry_records import retry_records
from ops.cli import main
from tandem.status.cards import CardStatus
from tandem.status.failures import FailingRecord
from tandem.store import (
    BindingStatus,
    create_store_engine,
    get_connection,
    latest_run,
    list_bindings,
    require_id,
    session_scope,
)
from tandem.store.tables import RunState, Side
from tasks.retry_records import OUTCOMES_KEY
from tests.flows.clients import erp_client, erp_write, salesforce
from tests.flows.conftest import save_connection
from tests.support.chromium import dump_dom, screenshot
from tests.support.emulator import RunningEmulator
from tests.support.png import pixels
from tests.support.web import serving
from web.html import COLOURS
from web.sources import card_source, failure_source

CORE = ["currency", "salesperson", "payment_term", "customer", "contact"]
BAD_EMAIL = "not-an-email-address"


def names(*entities: str) -> list[EntityName]:
    return [EntityName(e) for e in entities]


@pytest.fixture(scope="module")
def world(crm: RunningEmulator, erp: RunningEmulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
    dict[str, Any]
]:
    """Connection ``retry`` after a full sync in which three ERP contacts failed (an e-mail Salesforce refuses)."""
    for emulator in (crm, erp):
        emulator.control("POST", "reset", json={"seed": "demo"})
        emulator.control("POST", "clock", json={"reset": True})
    store_path: Path = tmp_path_factory.mktemp("retry") / "state.sqlite3"
    save_connection("retry", crm, erp, store_path, options=ConnectionOptions(entities=CORE))
    bad = erp_write(erp_client(erp), "contact", [
        {"externalId": f"RETRY-BAD-{n}", "lastName": f"Broken {n}", "email": BAD_EMAIL} for n in (1, 2, 3)
    ])
    initial_import(connection="retry", entities=names("currency"))
    full_sync(connection="retry", entities=names(*CORE))
    engine = create_store_engine(f"sqlite:///{store_path}")
    with session_scope(engine, write=False) as session:
        cid = require_id(get_connection(session, "retry"))
        [synced] = list_bindings(session, cid, "contact", status=BindingStatus.SYNCED, limit=1)
    yield {"crm": crm, "erp": erp, "engine": engine, "cid": cid, "bad": bad, "synced_erp_id": synced.erp_id}
    engine.dispose()


def failing_contacts() -> dict[str, FailingRecord]:
    return {r.record_id: r for r in failure_source("retry").failures(entity="contact").records}


def fix(erp: RunningEmulator, *numbers: int) -> None:
    """The ERP user corrects the contacts' e-mail addresses."""
    erp_write(erp_client(erp), "contact", [
        {"externalId": f"RETRY-BAD-{n}", "email": f"contact{n}@example.com"} for n in numbers
    ])


def outcomes(rows: list[dict[str, object]]) -> dict[str, tuple[object, object]]:
    return {str(row["record id"]): (row["outcome"], row["error code"]) for row in rows}


@pytest.fixture(scope="module")
def served(world: dict[str, Any]) -> Iterator[str]:
    """``tandem serve``'s app for connection ``retry`` on a free port; its base URL."""
    with serving("retry") as url:
        yield url


def test_failing_records_on_the_command_line_over_http_and_from_the_card(
    world: dict[str, Any], served: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = world["bad"]
    failing = failing_contacts()
    assert set(bad) <= set(failing)
    first = failing[bad[0]]
    assert (first.side, first.error_code, first.crm_id, first.procedure) == (
        Side.ERP, "INVALID_EMAIL_ADDRESS", None, "full-sync",
    )
    assert first.failing_since is not None and first.failing_since <= first.last_attempt_at
    assert BAD_EMAIL not in str(first.error_message)  # never field values

    assert main(["failures", "--connection", "retry", "--entity", "contact", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert {r["record_id"] for r in printed} >= set(bad) and BAD_EMAIL not in json.dumps(printed)
    assert {r["error_code"] for r in printed if r["record_id"] in bad} == {"INVALID_EMAIL_ADDRESS"}
    assert main(["failures", "--connection", "retry", "--since", "2000-01-01"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["entity", "side", "record", "id"]
    assert any(line.split()[:3] == ["contact", "erp", bad[0]] and "INVALID_EMAIL_ADDRESS" in line for line in table)
    assert main(["failures", "--connection", "retry", "--since", "2999-01-01"]) == 0
    nothing = capsys.readouterr().out
    assert nothing.startswith("no ") and "'retry'" in nothing and bad[0] not in nothing
    for argv, message in (
        (["--entity", "lead"], "tandem failures: no entity 'lead' in the mapping set of connection 'retry'"),
        (["--since", "last week"], "tandem failures: --since: 'last week' is not an ISO date"),
        (["--connection", "nobody"], "tandem failures: no Tandem Sync Connection block named 'nobody'"),
    ):
        assert main(["failures", "--connection", "retry", *argv]) == 2, argv
        error = capsys.readouterr().err
        assert error.startswith(message) and error.count("\n") == 1, error  # one line, no traceback

    client = requests.Session()
    client.trust_env = False

    def get(path: str, **kwargs: Any) -> requests.Response:
        return client.get(f"{served}{path}", timeout=30, **kwargs)

    answer = get("/failures", params={"entity": "contact", "format": "json"})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    assert {r["record_id"]: r["side"] for r in answer.json() if r["record_id"] in bad} == dict.fromkeys(bad, "erp")
    negotiated = get("/failures", params={"entity": "contact"}, headers={"Accept": "application/json"})
    assert negotiated.json() == answer.json()
    page = get("/failures", params={"entity": "contact", "since": "2000-01-01"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f'data-record-id="{bad[0]}"' in page.text and "INVALID_EMAIL_ADDRESS" in page.text
    assert f'href="/cards/erp/contact/{bad[0]}/html"' in page.text and BAD_EMAIL not in page.text
    assert get("/failures", params={"since": "soon", "format": "json"}).status_code == 400
    refused = get("/failures", params={"entity": "lead"})
    assert refused.status_code == 400 and "no entity &#x27;lead&#x27;" in refused.text

    [card] = get(f"/cards/erp/contact/{bad[0]}").json()
    assert (card["status"], card["failures_url"]) == ("not synced", "/failures?entity=contact")
    html = get(f"/cards/erp/contact/{bad[0]}/html").text
    assert 'class="failures" href="/failures?entity=contact"' in html
    [up_to_date] = card_source("retry").cards(Side.ERP, "contact", str(world["synced_erp_id"]))
    assert up_to_date.failures_url is None


def test_the_failures_page_in_a_browser(
    world: dict[str, Any], served: str, tmp_path: Path
) -> None:
    bad = world["bad"]
    page = f"{served}/failures?entity=contact"
    dom = dump_dom(page)
    assert f'data-record-id="{bad[2]}"' in dom and 'option value="contact" selected' in dom.replace('=""', "")
    shot = screenshot(page, tmp_path / "failures.png", width=1100, height=360)
    width, height, colours = pixels(shot)
    assert (width, height) == (1100, 360)
    red = COLOURS[CardStatus.NOT_SYNCED]
    assert tuple(int(red[i : i + 2], 16) for i in (1, 3, 5)) in colours  # the error codes' badges


def test_retry_by_id_once_the_cause_is_fixed(world: dict[str, Any]) -> None:
    erp, bad = world["erp"], world["bad"]
    fix(erp, 1)
    state = retry_records(
        connection="retry", entity=EntityName("contact"),
        record_ids=[bad[0], str(world["synced_erp_id"]), "99999999"], return_state=True,
    )
    rows = state.result()
    assert outcomes(rows) == {
        bad[0]: ("synced", ""), str(world["synced_erp_id"]): ("not failing", ""), "99999999": ("not found", ""),
    }
    assert state.is_completed() and state.name == "Completed"
    assert bad[0] not in failing_contacts() and {bad[1], bad[2]} <= set(failing_contacts())
    [card] = card_source("retry").cards(Side.ERP, "contact", bad[0])
    assert card.status.value == "up to date" and card.synced_with is not None
    [created] = salesforce(world["crm"]).query(f"SELECT Id, Email FROM Contact WHERE Id = '{card.synced_with.id}'")[
        "records"]
    assert created["Email"] == "contact1@example.com"

    with session_scope(world["engine"], write=False) as session:
        run = latest_run(session, world["cid"], "retry-records")
        assert run is not None and run.state is RunState.SUCCEEDED
        assert run.flow_run_id == str(state.state_details.flow_run_id)
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=[OUTCOMES_KEY]),
            flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]),
        ))
    assert len(artifacts) == 1 and bad[0] in str(artifacts[0].data)


def test_a_dry_run_then_every_failing_record_of_the_entity(world: dict[str, Any]) -> None:
    erp, bad = world["erp"], world["bad"]
    fix(erp, 2)  # the third stays broken
    dry = outcomes(retry_records(connection="retry", entity=EntityName("contact"), dry_run=True))
    assert dry[bad[1]] == dry[bad[2]] == ("would retry", "")
    assert {bad[1], bad[2]} <= set(failing_contacts())  # nothing written

    state = retry_records(connection="retry", entity=EntityName("contact"), return_state=True)
    after = outcomes(state.result())
    assert after[bad[1]] == ("synced", "")
    assert after[bad[2]] == ("still failing", "INVALID_EMAIL_ADDRESS")
    assert state.name == "NeedsAttention"
    still = failing_contacts()
    assert bad[1] not in still and still[bad[2]].error_code == "INVALID_EMAIL_ADDRESS"
    assert still[bad[2]].procedure == "retry-records"
    assert still[bad[2]].failing_since is not None and still[bad[2]].failing_since < still[bad[2]].last_attempt_at
