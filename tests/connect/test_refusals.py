"""Wrong credentials, a production/sandbox mix and an org paired already are refused at the step where they are
entered, in one line, with nothing saved."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from blocks.connection import SyncConnection
from ops.cli import main
from tandem.store import create_connection, create_schema, create_store_engine, list_connections, session_scope
from tests.connect.conftest import erp_flags, salesforce_flags
from tests.support.emulator import RunningEmulator, start_emulator


@pytest.fixture(scope="module")
def sandbox_erp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """An ERP sandbox account (1234567_SB1)."""
    emulator = start_emulator("erp", tmp_path_factory.mktemp("erp-sb"), "--account", "1234567_SB1")
    yield emulator
    emulator.stop()


def refused(name: str, store: Path, flags: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the wizard unattended, expect exit 2 with one line, nothing saved; return the line."""
    capsys.readouterr()
    argv = ["connect", "--no-input", "--name", name, "--store-url", f"sqlite:///{store}", *flags,
            "--no-initial-import", "--no-full-sync", "--no-deployments"]
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith("; nothing was saved"), captured.err
    assert "saved connection" not in captured.out
    with pytest.raises(ValueError, match="Unable to find block document"):
        SyncConnection.load(name)
    return lines[0]


def connections(store: Path) -> list[str]:
    """The names of the connections in the state store at ``store``."""
    with session_scope(create_store_engine(f"sqlite:///{store}"), write=False) as session:
        return [c.name for c in list_connections(session)]


def test_a_wrong_password_is_refused_at_the_salesforce_step(
    crm: RunningEmulator, erp: RunningEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "state.sqlite3"
    line = refused("wrong-password", store, [*salesforce_flags(crm, **{"salesforce-password": "not-it"}),
                                              *erp_flags(erp)], capsys)
    assert line.startswith("tandem connect: Salesforce: ")
    assert "[crm] INVALID_LOGIN: Salesforce refused the login" in line
    assert "not-it" not in line
    assert connections(store) == []


def test_a_wrong_token_secret_is_refused_at_the_erp_step(
    crm: RunningEmulator, erp: RunningEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "state.sqlite3"
    line = refused("wrong-token", store, [*salesforce_flags(crm), *erp_flags(erp, **{"erp-token-secret": "x" * 20})],
                   capsys)
    assert line.startswith("tandem connect: ERP: ")
    assert connections(store) == []


def test_a_production_org_with_a_sandbox_account_is_refused_at_the_erp_step(
    crm: RunningEmulator, sandbox_erp: RunningEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "state.sqlite3"
    line = refused("connect-mixed", store, [*salesforce_flags(crm), *erp_flags(sandbox_erp)], capsys)
    assert line == (
        f"tandem connect: ERP: [tandem] PAIRING_REFUSED: Salesforce org {crm.info['org_id']} is production and ERP "
        "account 1234567_SB1 is sandbox, but the connection is production: pair production with production and "
        "sandbox with sandbox; nothing was saved"
    )
    assert connections(store) == []


def test_an_org_paired_already_is_refused_at_the_salesforce_step(
    crm: RunningEmulator, erp: RunningEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "state.sqlite3"
    engine = create_store_engine(f"sqlite:///{store}")
    create_schema(engine)
    with session_scope(engine) as session:
        create_connection(session, name="first", crm_org_id=crm.info["org_id"], erp_account_id="7654321")
    line = refused("connect-second", store, [*salesforce_flags(crm), *erp_flags(erp)], capsys)
    assert line == (
        f"tandem connect: Salesforce: [tandem] PAIRING_REFUSED: Salesforce org {crm.info['org_id']} is paired "
        "already with ERP account 7654321 by connection 'first': one ERP company per CRM org; nothing was saved"
    )
    assert connections(store) == ["first"]


def test_an_unknown_entity_is_refused_with_the_choices(
    crm: RunningEmulator, erp: RunningEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = refused("unknown-entity", tmp_path / "state.sqlite3",
                   [*salesforce_flags(crm), *erp_flags(erp), "--entities", "customer,widget"], capsys)
    assert line.startswith("tandem connect: --entities: no entity widget in 'default'; choose from currency, ")
