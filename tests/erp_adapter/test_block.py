"""The ErpCredentials block: Prefect's standard block checks, validation messages, secret hygiene."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prefect.testing.standard_test_suites import BlockStandardTestSuite
from pydantic import ValidationError

from blocks.erp import ErpCredentials

SECRETS = {
    "consumer_key": "ck-0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    "consumer_secret": "cs-9a8b7c6d5e4f30211203f4e5d6c7b8a9",
    "token_id": "tk-1234abcd5678ef901234abcd5678ef90",
    "token_secret": "ts-abcdef0123456789abcdef0123456789",
}


def make(**overrides: object) -> ErpCredentials:
    values: dict[str, object] = {
        "account_id": "1234567_SB1",
        "wsdl_url": "https://127.0.0.1:9/wsdl/netsuite.wsdl",
        **SECRETS,
        **overrides,
    }
    return ErpCredentials(**values)  # type: ignore[arg-type]


class TestErpCredentialsStandard(BlockStandardTestSuite):
    @pytest.fixture
    def block(self) -> type[ErpCredentials]:
        return ErpCredentials


def test_secrets_never_render() -> None:
    credentials = make()
    rendered = [repr(credentials), str(credentials), credentials.model_dump_json(), str(credentials.model_dump())]
    for text in rendered:
        for secret in SECRETS.values():
            assert secret not in text


@pytest.mark.parametrize("account", ["1234567", "1234567_SB1", "1234567_SB12", "1234567_RP"])
def test_valid_account_ids(account: str) -> None:
    assert make(account_id=account).account_id == account


@pytest.mark.parametrize("account", ["", "123", "1234567-sb1", "1234567_sb1", "acme", "1234567_SB"])
def test_invalid_account_ids(account: str) -> None:
    with pytest.raises(ValidationError, match="is not an account id"):
        make(account_id=account)


def test_is_sandbox() -> None:
    assert make(account_id="1234567_SB1").is_sandbox
    assert not make(account_id="1234567").is_sandbox


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"account_id": "1234567-sb1"}, "_SB1"),
        ({"connect_timeout": 0}, "connect_timeout must be more than 0"),
        ({"operation_timeout": -1}, "operation_timeout must be more than 0"),
        ({"endpoint_url": "ftp://x"}, "endpoint_url must be a full http(s) URL"),
        ({"wsdl_url": "gopher://x/w.wsdl"}, "wsdl_url must be an http(s) URL"),
        ({"max_attempts": 0}, "max_attempts must be at least 1"),
    ],
)
def test_actionable_validation_messages(overrides: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        make(**overrides)
    assert fragment in str(caught.value)
    for secret in SECRETS.values():
        assert secret not in str(caught.value)


def test_missing_ca_bundle_is_reported_before_connecting(tmp_path: Path) -> None:
    credentials = make(ca_bundle_path=str(tmp_path / "missing.pem"))
    with pytest.raises(ValueError, match="is not a file"):
        credentials.get_client()


def test_logging_the_block_shows_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    credentials = make()
    log = logging.getLogger("tandem.test")
    log.info("credentials %s / %r / %s", credentials, credentials, credentials.model_dump())

    assert "credentials" in caplog.text
    assert not any(secret in caplog.text for secret in SECRETS.values())
