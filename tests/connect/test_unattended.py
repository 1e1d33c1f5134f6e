"""``tandem connect --no-input`` from nothing against a bare org and the ERP: blocks saved, the org prepared and
checked, the initial import run; run again, it saves only what changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from simple_salesforce import format_soql

from blocks.connection import SyncConnection
from blocks.erp import ErpCredentials
from blocks.salesforce import SalesforceCredentials
from blocks.store import StateStore
from ops.cli import main
from ops.deploy import deployment_name, load_templates
from tandem.mapping import Direction
from tandem.salesforce.metadata_check import check_org, describer, package_definitions
from tandem.store import get_connection, session_scope
from tests.connect.conftest import admin_flags, erp_flags, salesforce_flags
from tests.salesforce_metadata.conftest import login
from tests.support.emulator import RunningEmulator
from tests.support.jwt_keys import make_key_pair

ENTITIES = "payment_term,customer,task"


def test_connect_from_nothing_prepares_the_org_saves_the_blocks_and_imports(
    bare: RunningEmulator, erp: RunningEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_url = f"sqlite:///{tmp_path / 'state.sqlite3'}"
    sf = login(bare)
    sf_task_subject = "Call back about the quote"
    flags = ["connect", "--no-input", "--name", "acme", "--store-url", store_url, *salesforce_flags(bare),
             *erp_flags(erp), "--entities", ENTITIES, "--directions", "customer=to_crm", *admin_flags(bare),
             "--initial-import", "--no-full-sync", "--no-deployments"]

    assert main(flags) == 0
    out = capsys.readouterr().out
    org_id = bare.info["org_id"]
    assert f"Salesforce: org {org_id} (production), integration user {bare.info['username']}" in out
    assert f"ERP: account {erp.info['account']} (production)" in out
    assert "deployed 63 of 63 components of salesforce/" in out
    assert f"assigned permission set Tandem_Integration to {bare.info['username']}" in out
    assert "check: the org has every object, field and permission the 3 entities need" in out
    assert "saved connection 'acme' with its blocks acme-salesforce, acme-erp and acme-store" in out
    assert "initial import: 3 entities, 0 records written, 0 failed" in out

    # The blocks: the connection and its three parts, each saved under its own name, secrets as SecretStr.
    block = SyncConnection.load_named("acme")
    assert block.options.entities == ["payment_term", "customer", "task"]
    assert block.options.directions == {"customer": Direction.TO_CRM}
    assert block.environment == "production" and block.salesforce.sandbox is False
    assert block.salesforce.password is not None
    assert block.salesforce.password.get_secret_value() == bare.info["password"]
    assert block.erp.token_secret.get_secret_value() == erp.info["token_secret"]
    assert SalesforceCredentials.load("acme-salesforce").username == bare.info["username"]
    assert ErpCredentials.load("acme-erp").account_id == erp.info["account"]
    assert StateStore.load("acme-store").url.get_secret_value() == store_url
    assert bare.info["password"] not in out and erp.info["token_secret"] not in out

    # The org: the package deployed, the permission set assigned (once), the check passes.
    assignments = sf.query(format_soql(
        "SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = {} AND PermissionSet.Name = {}",
        bare.info["user_id"], "Tandem_Integration"))
    assert assignments["totalSize"] == 1
    assert check_org(describer(sf), block.mapping_set_for_run(), entities=block.enabled_entities(),
                     package=package_definitions()) == []

    # The state store: the pair registered, sync enabled by the initial import.
    with session_scope(block.store.get_engine(), write=False) as session:
        row = get_connection(session, "acme")
    assert (row.crm_org_id, row.erp_account_id, row.enabled) == (org_id, erp.info["account"], True)
    assert row.sync_enabled_at is not None

    # Again with one change: only that is saved; the assignment is not repeated; the import is not re-run.
    sf.Task.create({"Subject": sf_task_subject})
    again = ["connect", "--no-input", "--name", "acme", "--entities", "payment_term,customer",
             *admin_flags(bare), "--no-initial-import", "--no-full-sync", "--no-deployments"]
    assert main(again) == 0
    out = capsys.readouterr().out
    assert f"{bare.info['username']} holds permission set Tandem_Integration already" in out
    assert "saved connection 'acme' changed: options.entities" in out
    assert SyncConnection.load_named("acme").options.entities == ["payment_term", "customer"]
    assert SyncConnection.load_named("acme").erp.token_secret.get_secret_value() == erp.info["token_secret"]

    # Once more, changing nothing, and creating the deployments on the (test harness's) Prefect server.
    assert main(["connect", "--no-input", "--name", "acme", "--no-initial-import", "--no-full-sync",
                 "--deployments"]) == 0
    out = capsys.readouterr().out
    assert "saved: nothing changed on connection 'acme'" in out
    templates = load_templates()["deployments"]
    assert f"deployments: {len(templates)} created or updated (tandem schedule lists them)" in out
    with get_client(sync_client=True) as client:
        names = {d.name for d in client.read_deployments()}
    assert {deployment_name("acme", t["name"]) for t in templates} <= names


def test_connect_with_the_jwt_bearer_flow(
    crm: RunningEmulator, erp: RunningEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = make_key_pair("tandem-connect-test")
    key_file = tmp_path / "jwt.key"
    key_file.write_text(keys.private_key_pem)
    crm.control("POST", "connected-apps", json={"certificate": keys.certificate_pem})
    try:
        flags = ["connect", "--no-input", "--name", "jwt", "--store-url", f"sqlite:///{tmp_path / 'state.sqlite3'}",
                 "--salesforce-login", "jwt", "--salesforce-login-host", crm.info["login_url"],
                 "--salesforce-ca-bundle", crm.ca_cert, "--salesforce-sandbox", "no",
                 "--salesforce-username", crm.info["username"], "--salesforce-client-id", crm.info["client_id"],
                 "--salesforce-private-key-path", str(key_file), *erp_flags(erp), "--entities", "task",
                 "--no-initial-import", "--no-full-sync", "--no-deployments"]
        assert main(flags) == 0
    finally:
        crm.control("DELETE", "connected-apps")
    out = capsys.readouterr().out
    assert f"Salesforce: org {crm.info['org_id']} (production)" in out
    saved = SyncConnection.load_named("jwt").salesforce
    assert saved.uses_jwt and saved.private_key_path == str(key_file) and saved.password is None
    assert keys.private_key_pem.splitlines()[1] not in out
