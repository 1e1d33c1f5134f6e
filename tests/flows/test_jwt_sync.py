"""The demo connection syncs with a Salesforce block that logs in through the OAuth 2.0 JWT bearer flow."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from flows.full_sync import full_sync
from flows.parameters import EntityName
from tests.flows.conftest import salesforce_block, save_connection
from tests.support.emulator import RunningEmulator
from tests.support.jwt_keys import KeyPair, make_key_pair


@pytest.fixture
def jwt_crm(fresh: tuple[RunningEmulator, RunningEmulator]) -> Iterator[tuple[KeyPair, RunningEmulator]]:
    """Both emulators fresh, and a throwaway certificate uploaded to the CRM's demo connected app."""
    crm, erp = fresh
    keys = make_key_pair("tandem-flow-test")
    crm.control("POST", "connected-apps", json={"certificate": keys.certificate_pem})
    try:
        yield keys, erp
    finally:
        crm.control("DELETE", "connected-apps")


def test_full_sync_runs_with_a_jwt_block(crm: RunningEmulator, jwt_crm: tuple[KeyPair, RunningEmulator],
                                         tmp_path: Path) -> None:
    keys, erp = jwt_crm
    block = salesforce_block(crm, password=None, security_token=None, client_id=SecretStr(crm.info["client_id"]),
                             private_key=SecretStr(keys.private_key_pem))
    assert block.uses_jwt
    save_connection("e2e-jwt", crm, erp, tmp_path / "state.sqlite3", salesforce=block)
    entities = [EntityName("currency"), EntityName("salesperson")]
    result = full_sync(connection="e2e-jwt", entities=entities)  # type: ignore[call-overload]  # a block name
    rows = {str(r["entity"]): r for r in result}
    assert {row["state"] for row in rows.values()} == {"succeeded"}, rows
    assert all(row["failed"] == 0 for row in rows.values()), rows
    assert crm.control("GET", "counters")["by_endpoint"].get("login.soap", 0) == 0
