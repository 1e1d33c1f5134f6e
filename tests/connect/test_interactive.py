"""``tandem connect`` at a terminal (a pseudo-terminal): it asks each question, refuses a bad answer and asks
again, hides secrets, and saves the connection."""

from __future__ import annotations

import os
from pathlib import Path

from prefect.settings import PREFECT_API_URL

from blocks.connection import SyncConnection
from tests.connect.terminal import ROOT, Terminal
from tests.support.emulator import RunningEmulator


def test_connect_asks_at_a_terminal_and_validates_each_answer(
    crm: RunningEmulator, erp: RunningEmulator, tmp_path: Path
) -> None:
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "PYTHONPATH": str(ROOT),
           "TERM": "dumb", "COLUMNS": "200"}
    sf, ns = crm.info, erp.info
    term = Terminal(["connect"], env)
    term.answer("Connection name: ", "desk")
    term.answer("State store database URL", f"sqlite:///{tmp_path / 'state.sqlite3'}")
    term.answer("Salesforce login method (password, client-credentials, jwt) [password]: ", "pasword")
    term.answer("! 'pasword' is not one of password, client-credentials, jwt; try again", "")
    term.answer("Login host (login, test, or a URL such as https://host:8443) [login]: ", "127.0.0.1:1")
    term.answer("! '127.0.0.1:1' is not login, test or a full URL", sf["login_url"])
    term.answer("CA bundle file for Salesforce's certificate (empty: the system's): ", crm.ca_cert)
    term.answer("Is the org a sandbox? [y/N]: ", "maybe")
    term.answer("! answer yes or no, not 'maybe'; try again", "n")
    term.answer("Integration user's username: ", sf["username"])
    term.answer("Integration user's password: ", "wrong-password")
    term.answer("Security token (empty: none): ", sf["security_token"])
    # The login is refused: the step is asked again, the answers given so far as its defaults.
    term.expect("! Salesforce: [crm] INVALID_LOGIN")
    term.answer("Salesforce login method (password, client-credentials, jwt) [password]: ", "")
    term.answer(f"[{sf['login_url']}]: ", "")
    term.answer(f"[{crm.ca_cert}]: ", "")
    term.answer("Is the org a sandbox? [y/N]: ", "")
    term.answer(f"Integration user's username [{sf['username']}]: ", "")
    term.answer("Integration user's password: ", sf["password"])
    term.answer("Security token (empty: none): ", sf["security_token"])
    term.expect(f"Salesforce: org {sf['org_id']} (production), integration user {sf['username']}")
    term.answer("ERP account id (1234567, or 1234567_SB1 for a sandbox): ", "1234567-sb1")
    term.answer("! '1234567-sb1' is not an account id", ns["account"])
    for prompt, value in (("consumer key: ", ns["consumer_key"]), ("consumer secret: ", ns["consumer_secret"]),
                          ("Access token id: ", ns["token_id"]), ("Access token secret: ", ns["token_secret"]),
                          ("WSDL URL (or file): ", ns["wsdl_url"]), ("SOAP endpoint URL (empty: the WSDL's): ", ""),
                          ("CA bundle file for the ERP's certificate (empty: the system's): ", "")):
        term.answer(prompt, value)
    term.expect(f"ERP: account {ns['account']} (production)")
    term.answer("Entities to sync (comma-separated, or all) [all]: ", "task,widget")
    term.answer("! no entity widget in 'default'", "task")
    term.answer("Directions to change (entity=to_crm|to_erp|both, comma-separated, or none) [none]: ", "task=sideways")
    term.answer("! 'task=sideways': the direction is one of", "")
    term.answer("empty skips): ", "")
    term.expect("check: the org has every object, field and permission the 1 entities need")
    term.expect("saved connection 'desk'")
    term.answer("Run the initial import now? [Y/n]: ", "n")
    term.answer("Run a full sync now? [y/N]: ", "")
    term.answer("Create the deployments (the schedules) on the Prefect server? [Y/n]: ", "no")
    assert term.wait() == 0
    for secret in (sf["password"], ns["token_secret"], ns["consumer_secret"]):
        assert secret not in term.seen  # typed without echo, never printed

    block = SyncConnection.load_named("desk")
    assert block.options.entities == ["task"] and block.options.directions == {}
    assert block.salesforce.password is not None and block.salesforce.password.get_secret_value() == sf["password"]
    assert block.erp.account_id == ns["account"]
