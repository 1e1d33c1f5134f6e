"""Sync status cards on real records: every status produced through the flows and the emulators, several
cards for one record, the command line, the JSON API and the HTML card in headless Chromium."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from prefect.settings import PREFECT_API_URL

from blocks.connection import ConnectionOptions
from flows.deletion_sweep import deletion_sweep
from flows.full_sync import full_sync
from flows.initial_import import initial_import
from flows.orchestration import JobsFailedError
from flows.parameters import EntityName
from ops.cli import main
from tandem.mapping import MAPPINGS_DIR, Filter
from tandem.status.cards import CardStatus, SyncCard
from tandem.store import create_store_engine, get_connection, session_scope, update_connection
from tandem.store.tables import Side
from tests.flows.clients import erp_client, erp_write, salesforce
from tests.flows.conftest import save_connection
from tests.support.chromium import dump_dom, screenshot
from tests.support.emulator import RunningEmulator
from tests.support.png import pixels
from tests.support.prefect_server import ROOT
from tests.support.web import serving
from web.html import COLOURS
from web.sources import card_source

CORE = ["currency", "salesperson", "payment_term", "customer", "contact"]


def names(*entities: str) -> list[EntityName]:
    return [EntityName(e) for e in entities]


@pytest.fixture
def connection(fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path) -> dict[str, Any]:
    """Connection ``cards`` after a full sync, with a VIP account excluded by id and an entity left disabled.

    Its mapping set is the shipped one plus ``customer_contact`` (ERP customers as Salesforce contacts),
    which is not enabled, so a Salesforce contact has two cards; customers are restored when deleted.
    """
    crm, erp = fresh
    sf = salesforce(crm)
    vip = str(sf.Account.create({"Name": "VIP Holdings"})["id"])
    spec = yaml.safe_load((MAPPINGS_DIR / "default.yaml").read_text())
    spec["entities"]["customer"]["deletion"] = "restore"
    spec["entities"]["customer_contact"] = {
        "crm_object": "Contact", "erp_type": "customer", "direction": "to_crm",
        "fields": [{"crm": "LastName", "erp": "companyName"}],
    }
    mapping = tmp_path / "cards.yaml"
    mapping.write_text(yaml.safe_dump(spec, sort_keys=False))
    store_path = tmp_path / "state.sqlite3"
    options = ConnectionOptions(
        entities=[*CORE, "task"],
        exclusions={"customer": [Filter(side="crm", field="Id", op="not in", value=[vip], name="VIP accounts")]},
    )
    save_connection("cards", crm, erp, store_path, mapping_set=str(mapping), options=options)
    [bad] = erp_write(erp_client(erp), "contact", [
        {"externalId": "CARD-BAD-1", "lastName": "Broken", "email": "not-an-email-address"},
    ])
    initial_import(connection="cards", entities=names("currency"))
    full_sync(connection="cards", entities=names(*CORE))
    return {"crm": crm, "erp": erp, "store": store_path, "vip": vip, "bad_contact": bad}


def one(cards: list[SyncCard], entity: str) -> SyncCard:
    [card] = [c for c in cards if c.entity == entity]
    return card


def test_every_status_on_real_records(connection: dict[str, Any]) -> None:
    crm = connection["crm"]
    sf = salesforce(crm)
    source = card_source("cards")

    [account] = sf.query("SELECT Id, ERP_Id__c FROM Account WHERE ERP_Id__c != null LIMIT 1")["records"]
    synced = one(source.cards(Side.CRM, "Account", account["Id"]), "customer")
    assert synced.status is CardStatus.UP_TO_DATE and synced.last_updated is not None
    assert synced.synced_with is not None and synced.synced_with.object == "customer"
    assert synced.synced_with.url.endswith(f"/app/common/entity/custjob.nl?id={synced.synced_with.id}")
    back = one(source.cards(Side.ERP, "customer", synced.synced_with.id), "customer")
    assert back.status is CardStatus.UP_TO_DATE and back.synced_with is not None
    assert back.synced_with.id == account["Id"]
    assert back.synced_with.url.endswith(f"/lightning/r/Account/{account['Id']}/view")

    newcomer = str(sf.Account.create({"Name": "Created after the sync"})["id"])
    assert one(source.cards(Side.CRM, "Account", newcomer), "customer").status is CardStatus.SYNC_NOT_FOUND

    failed = one(source.cards(Side.ERP, "contact", connection["bad_contact"]), "contact")
    assert failed.status is CardStatus.NOT_SYNCED and failed.error_code == "INVALID_EMAIL_ADDRESS"
    assert "not-an-email-address" not in str(failed.error_message)  # no field values

    excluded = one(source.cards(Side.CRM, "Account", connection["vip"]), "customer")
    assert (excluded.status, excluded.rule) == (CardStatus.EXCLUDED, "VIP accounts")

    [contact] = sf.query("SELECT Id FROM Contact WHERE ERP_Id__c != null LIMIT 1")["records"]
    both = source.cards(Side.CRM, "Contact", contact["Id"])  # one record, two syncs
    assert {c.entity: c.status for c in both} == {
        "contact": CardStatus.UP_TO_DATE, "customer_contact": CardStatus.SYNC_DISABLED,
    }
    [task] = sf.query("SELECT Id FROM Task LIMIT 1")["records"]
    assert one(source.cards(Side.CRM, "Task", task["Id"]), "task").status is CardStatus.SYNC_NOT_FOUND

    # Unknown: a customer deleted in Salesforce whose restore (policy restore) could not finish: writing it
    # again was refused (the run's own reads, the pairing records' among them, were answered). The next sweep
    # finishes it.
    gone = account["Id"]
    erp_id = str(synced.synced_with.id)
    sf.Account.delete(gone)
    crm.control("POST", "faults", json={"pattern": r"collections\.(create|upsert|update)", "kind": "http_500",
                                        "code": "UNKNOWN_EXCEPTION", "probability": 1.0})
    try:
        with pytest.raises(JobsFailedError):
            deletion_sweep(connection="cards", entities=names("customer"))
    finally:
        crm.control("DELETE", "faults")
    unknown = one(source.cards(Side.ERP, "customer", erp_id), "customer")
    assert unknown.status is CardStatus.UNKNOWN and unknown.synced_with is None
    resumed = deletion_sweep(connection="cards", entities=names("customer"))
    assert resumed[0]["inserted"] == 1, resumed
    restored = one(source.cards(Side.ERP, "customer", erp_id), "customer")
    assert restored.status is CardStatus.UP_TO_DATE and restored.synced_with is not None
    assert restored.synced_with.id != gone

    engine = create_store_engine(f"sqlite:///{connection['store']}")
    with session_scope(engine) as session:
        update_connection(session, get_connection(session, "cards").id or 0, enabled=False)
    assert one(source.cards(Side.CRM, "Account", newcomer), "customer").status is CardStatus.SYNC_DISABLED


@pytest.fixture
def served() -> Iterator[str]:
    """``tandem serve``'s app for connection ``cards`` on a free port; its base URL."""
    with serving("cards") as url:
        yield url


def test_the_card_over_json_in_a_browser_and_on_the_command_line(
    connection: dict[str, Any], served: str, tmp_path: Path
) -> None:
    sf = salesforce(connection["crm"])
    [contact] = sf.query("SELECT Id FROM Contact WHERE ERP_Id__c != null LIMIT 1")["records"]
    session = requests.Session()
    session.trust_env = False
    answer = session.get(f"{served}/cards/crm/Contact/{contact['Id']}", timeout=30)
    assert answer.status_code == 200
    cards = {c["entity"]: c for c in answer.json()}
    assert {name: c["status"] for name, c in cards.items()} == {
        "contact": "up to date", "customer_contact": "sync disabled",
    }
    assert session.get(f"{served}/cards/crm/Opportunity/006000000000001", timeout=30).status_code == 404

    page = f"{served}/cards/crm/Contact/{contact['Id']}/html"
    dom = dump_dom(page)
    assert 'data-status="up to date"' in dom and 'data-status="sync disabled"' in dom
    assert f'href="{cards["contact"]["synced_with"]["url"]}"' in dom.replace("&amp;", "&")
    shot = screenshot(page, tmp_path / "card.png")
    width, height, colours = pixels(shot)
    assert (width, height) == (480, 360)
    for status in (CardStatus.UP_TO_DATE, CardStatus.SYNC_DISABLED):  # both badges are painted in their colours
        colour = COLOURS[status]
        assert tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5)) in colours, status

    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "PYTHONPATH": str(ROOT)}
    printed = subprocess.run(
        [sys.executable, "-m", "ops.cli", "card", "crm", "Contact", contact["Id"], "--connection", "cards",
         "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True,
    )
    assert {c["entity"]: c["status"] for c in json.loads(printed.stdout)} == {
        "contact": "up to date", "customer_contact": "sync disabled",
    }


def test_the_command_line_reads_no_store_that_is_not_there(
    crm: RunningEmulator, erp: RunningEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A connection whose store is not where its url says (no run yet, or another directory): one line saying
    where it looked, instead of a new empty store whose every record reads as never synced."""
    missing = tmp_path / "elsewhere" / "state.sqlite3"
    save_connection("nowhere", crm, erp, missing)
    for argv in (["card", "crm", "Contact", "003000000000001", "--connection", "nowhere"],
                 ["failures", "--connection", "nowhere"]):
        assert main(argv) == 2
        error = capsys.readouterr().err
        assert error == f"tandem {argv[0]}: no state store at {missing}: a run of the connection creates it, so " \
                        "run its initial import first\n"
    assert not missing.parent.exists()
