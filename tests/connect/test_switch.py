"""``tandem connection enable|disable``: disabling leaves records alone and makes scheduled runs skip; enabling
runs the initial import rules again; ``--entity`` switches one entity."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from blocks.connection import ConnectionOptions, SyncConnection
from flows.incremental_sync import incremental_sync
from flows.initial_import import initial_import
from flows.parameters import EntityName
from ops.cli import main
from tandem.store import create_store_engine, get_connection, session_scope
from tandem.store.tables import Binding, Connection
from tests.flows.clients import salesforce
from tests.flows.conftest import save_connection
from tests.support.emulator import RunningEmulator

ENTITIES = ["payment_term", "task"]


def state(store: Path) -> tuple[Connection, list[tuple[str, str | None, str | None]]]:
    """The connection's row and its bindings (entity, CRM id, ERP id)."""
    with session_scope(create_store_engine(f"sqlite:///{store}"), write=False) as session:
        row = get_connection(session, "switch")
        bindings = [(b.entity, b.crm_id, b.erp_id) for b in session.exec(select(Binding)).all()]
    return row, sorted(bindings, key=str)


def test_disable_skips_scheduled_runs_and_enable_imports_again(
    crm: RunningEmulator, erp: RunningEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "state.sqlite3"
    save_connection("switch", crm, erp, store, options=ConnectionOptions(entities=ENTITIES))
    initial_import(connection="switch", entities=[EntityName("task")])
    first, bindings = state(store)
    assert first.enabled and first.sync_enabled_at is not None

    capsys.readouterr()
    assert main(["connection", "disable", "switch"]) == 0
    assert capsys.readouterr().out.strip() == (
        "switch: sync disabled; scheduled runs skip it, records stay as they are")
    row, after = state(store)
    assert not row.enabled and row.sync_enabled_at == first.sync_enabled_at and after == bindings
    skipped = incremental_sync(connection="switch", return_state=True)
    assert skipped.name == "Skipped"
    assert main(["connection", "disable", "switch"]) == 0
    assert "was disabled already" in capsys.readouterr().out

    # A Salesforce task changed while sync was off comes in when it is enabled again.
    sf = salesforce(crm)
    task_id = sf.Task.create({"Subject": "Follow up while the switch was off"})["id"]
    assert main(["connection", "enable", "switch"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("switch: sync enabled; initial import: ") and out.endswith("ERP records created from "
                                                                                     "now on go out")
    row, after = state(store)
    assert row.enabled and row.sync_enabled_at is not None and first.sync_enabled_at is not None
    assert row.sync_enabled_at > first.sync_enabled_at
    assert any(crm_id == task_id and erp_id for entity, crm_id, erp_id in after if entity == "task")
    assert main(["connection", "enable", "switch"]) == 0
    assert capsys.readouterr().out.strip() == "switch: sync was enabled already; nothing done"


def test_one_entity_is_switched_through_the_connection_entity_list(
    crm: RunningEmulator, erp: RunningEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    save_connection("switch", crm, erp, tmp_path / "state.sqlite3", options=ConnectionOptions(entities=ENTITIES))
    initial_import(connection="switch", entities=[EntityName("task")])

    capsys.readouterr()
    assert main(["connection", "disable", "switch", "--entity", "task"]) == 0
    assert capsys.readouterr().out.strip() == "switch: task disabled; its records stay as they are"
    assert SyncConnection.load_named("switch").options.entities == ["payment_term"]
    assert main(["connection", "disable", "switch", "--entity", "payment_term"]) == 2
    assert "is the last entity of connection 'switch'" in capsys.readouterr().err

    assert main(["connection", "enable", "switch", "--entity", "task"]) == 0
    assert capsys.readouterr().out.startswith("switch: task enabled; initial import: ")
    assert SyncConnection.load_named("switch").options.entities == ENTITIES

    assert main(["connection", "disable", "switch", "--entity", "widget"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tandem connection: no entity 'widget' in connection 'switch'")


def test_an_unknown_connection_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["connection", "enable", "no-such-connection"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no Tandem Sync Connection block named 'no-such-connection'" in err[0]
