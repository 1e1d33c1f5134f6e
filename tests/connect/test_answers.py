"""The wizard's questions per Salesforce login method, answered by flags (no login made here)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from blocks.salesforce import SalesforceCredentials
from ops.connect import salesforce_answers
from ops.prompts import Prompter
from tandem.errors import CommandError


def test_the_jwt_flow_asks_for_the_consumer_key_and_the_private_key_file(tmp_path: Path) -> None:
    key = tmp_path / "jwt.key"
    key.write_text("not read until the login")
    answers = {"salesforce_login": "jwt", "salesforce_login_host": "test", "salesforce_username": "int@acme.uat",
               "salesforce_client_id": "3MVG9-key", "salesforce_private_key_path": str(key)}
    credentials = salesforce_answers(Prompter(interactive=False, answers=answers), None)
    assert credentials.uses_jwt and credentials.is_sandbox
    assert credentials.private_key_path == str(key) and credentials.password is None
    assert credentials.client_id is not None and credentials.client_id.get_secret_value() == "3MVG9-key"


def test_client_credentials_need_my_domain() -> None:
    answers = {"salesforce_login": "client-credentials", "salesforce_client_id": "id", "salesforce_client_secret": "s"}
    with pytest.raises(CommandError, match=r"^--salesforce-my-domain is needed"):
        salesforce_answers(Prompter(interactive=False, answers=answers), None)
    answers["salesforce_my_domain"] = "acme.my"
    credentials = salesforce_answers(Prompter(interactive=False, answers=answers), None)
    assert credentials.username is None and credentials.my_domain == "acme.my"


def test_a_saved_connection_offers_its_settings_and_keeps_its_secrets() -> None:
    saved = SalesforceCredentials(login_host="login", username="int@acme.com", password=SecretStr("kept"),
                                  security_token=SecretStr("tok"))
    asked: list[str] = []

    def read(prompt: str) -> str:
        asked.append(prompt)
        return ""

    prompter = Prompter(interactive=True, read=read, read_secret=read, out=lambda line: None)
    credentials = salesforce_answers(prompter, saved)
    assert credentials.username == "int@acme.com"
    assert credentials.password is not None and credentials.password.get_secret_value() == "kept"
    assert credentials.security_token is not None and credentials.security_token.get_secret_value() == "tok"
    assert "Integration user's username [int@acme.com]: " in asked
    assert "Integration user's password [saved, Enter keeps it]: " in asked
    assert all("kept" not in prompt for prompt in asked)
