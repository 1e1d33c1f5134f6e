"""Tandem's blocks without a server: Prefect's standard checks, validation messages, secret hygiene, options."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from prefect.blocks.core import Block
from prefect.testing.standard_test_suites import BlockStandardTestSuite
from pydantic import SecretStr, ValidationError

from blocks.connection import ConnectionOptions, SyncConnection
from blocks.salesforce import SalesforceCredentials
from blocks.store import StateStore
from tandem.mapping import Direction, Filter, MappingError
from tests.blocks.conftest import DB_PASSWORD, SF_SECRETS, all_secrets, erp, salesforce


class TestSalesforceCredentialsStandard(BlockStandardTestSuite):
    @pytest.fixture
    def block(self) -> type[Block]:
        return SalesforceCredentials


class TestStateStoreStandard(BlockStandardTestSuite):
    @pytest.fixture
    def block(self) -> type[Block]:
        return StateStore


class TestSyncConnectionStandard(BlockStandardTestSuite):
    @pytest.fixture
    def block(self) -> type[Block]:
        return SyncConnection


def connection(**overrides: Any) -> SyncConnection:
    """A production connection with a PostgreSQL store whose URL carries a password."""
    values: dict[str, Any] = {
        "salesforce": salesforce(), "erp": erp(),
        "store": StateStore(url=SecretStr(f"postgresql+psycopg://tandem:{DB_PASSWORD}@db:5432/tandem")),
        **overrides,
    }
    return SyncConnection(**values)


# --- validation messages -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"login_host": "ftp://example.com"}, "must be login, test or a full URL"),
        ({"login_host": "production"}, "must be login, test or a full URL"),
        ({"password": None, "security_token": None}, "give both username and password"),
        ({"username": None, "security_token": None}, "give both username and password"),
        ({"client_id": SecretStr(SF_SECRETS["client_id"])}, "give both client_id and client_secret"),
        (
            {"username": None, "password": None, "security_token": None},
            "give username and password, or client_id and client_secret",
        ),
        (
            {"username": None, "password": None, "security_token": None,
             "client_id": SecretStr(SF_SECRETS["client_id"]), "client_secret": SecretStr(SF_SECRETS["client_secret"])},
            "set my_domain",
        ),
        (
            {"client_id": SecretStr(SF_SECRETS["client_id"]), "client_secret": SecretStr(SF_SECRETS["client_secret"])},
            "security_token is for the SOAP login",
        ),
        ({"connect_timeout": 0}, "connect_timeout must be more than 0"),
        ({"read_timeout": -1}, "read_timeout must be more than 0"),
        ({"bulk_timeout": 0}, "bulk_timeout must be more than 0"),
        ({"page_size": 100}, "page_size must be between 200 and 2000"),
        ({"page_size": 5000}, "page_size must be between 200 and 2000"),
        ({"bulk_threshold": 0}, "bulk_threshold must be at least 1"),
    ],
)
def test_salesforce_validation_messages(overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        salesforce(**overrides)
    assert fragment in str(caught.value)
    assert not any(secret in str(caught.value) for secret in all_secrets())


def test_salesforce_valid_combinations() -> None:
    assert salesforce().is_sandbox is False
    assert salesforce(login_host="test").is_sandbox is True
    assert salesforce(sandbox=True).is_sandbox is True
    oauth = salesforce(
        security_token=None, client_id=SecretStr(SF_SECRETS["client_id"]),
        client_secret=SecretStr(SF_SECRETS["client_secret"]),
    )
    assert oauth.username == "integration@example.com"
    grant = salesforce(
        username=None, password=None, security_token=None, my_domain="acme.my",
        client_id=SecretStr(SF_SECRETS["client_id"]), client_secret=SecretStr(SF_SECRETS["client_secret"]),
    )
    assert grant.my_domain == "acme.my"
    assert salesforce().bulk_threshold == 10_000


def test_secrets_passed_as_plain_strings_stay_out_of_validation_errors() -> None:
    with pytest.raises(ValidationError) as caught:
        SalesforceCredentials(
            login_host="https://127.0.0.1:9", username="u", password=SF_SECRETS["password"],  # type: ignore[arg-type]
            page_size=1,
        )
    assert SF_SECRETS["password"] not in str(caught.value)
    with pytest.raises(ValidationError) as store_error:
        StateStore(url=f"mysql://tandem:{DB_PASSWORD}@db/tandem")  # type: ignore[arg-type]
    assert "not mysql" in str(store_error.value)
    assert DB_PASSWORD not in str(store_error.value)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("not a url", "is not a database URL"),
        (f"mysql+pymysql://tandem:{DB_PASSWORD}@db/tandem", "runs on SQLite or PostgreSQL, not mysql"),
    ],
)
def test_state_store_validation_messages(url: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        StateStore(url=SecretStr(url))
    assert fragment in str(caught.value)
    assert DB_PASSWORD not in str(caught.value)


def test_state_store_accepts_sqlite_and_postgresql() -> None:
    assert StateStore().url.get_secret_value().startswith("sqlite:///")
    assert StateStore(url=SecretStr(f"postgresql+psycopg://tandem:{DB_PASSWORD}@db:5432/tandem"))


def test_state_store_opens_a_sqlite_file(tmp_path: Any) -> None:
    engine = StateStore(url=SecretStr(f"sqlite:///{tmp_path / 'state.sqlite3'}")).get_engine()
    try:
        assert (tmp_path / "state.sqlite3").is_file()
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("environment", "sf_overrides", "erp_overrides", "fragment"),
    [
        ("production", {"login_host": "test"}, {}, "Salesforce is a sandbox, ERP is production"),
        ("production", {}, {"account_id": "1234567_SB1"}, "Salesforce is production, ERP is a sandbox"),
        ("sandbox", {}, {}, "a sandbox connection needs sandbox on both sides"),
        ("sandbox", {"sandbox": True}, {}, "ERP is production"),
    ],
)
def test_connection_pairs_production_with_production(
    environment: str, sf_overrides: dict[str, Any], erp_overrides: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        connection(environment=environment, salesforce=salesforce(**sf_overrides), erp=erp(**erp_overrides))
    assert fragment in str(caught.value)
    assert "pair production with production and sandbox with sandbox" in str(caught.value)
    assert not any(secret in str(caught.value) for secret in all_secrets())


def test_sandbox_connection_with_sandboxes_on_both_sides() -> None:
    block = connection(
        environment="sandbox", salesforce=salesforce(login_host="test"), erp=erp(account_id="1234567_SB1")
    )
    assert block.environment == "sandbox"


def test_connection_options_reject_unknown_settings() -> None:
    with pytest.raises(ValidationError, match="extra"):
        ConnectionOptions(direction={"customer": "to_crm"})  # type: ignore[call-arg]


# --- secrets ---------------------------------------------------------------------------------------------------


def test_secrets_never_render() -> None:
    block = connection(
        salesforce=salesforce(
            security_token=None, client_id=SecretStr(SF_SECRETS["client_id"]),
            client_secret=SecretStr(SF_SECRETS["client_secret"]),
        )
    )
    texts = [repr(block), str(block), block.model_dump_json(), str(block.model_dump())]
    texts += [repr(block.salesforce), str(block.salesforce), block.salesforce.model_dump_json()]
    texts += [repr(block.store), str(block.store), block.store.model_dump_json()]
    for text in texts:
        for secret in all_secrets():
            assert secret not in text


def test_logging_blocks_shows_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    block = connection()
    log = logging.getLogger("tandem.test")
    log.info("connection %s / %r / %s", block, block, block.model_dump())
    log.info("salesforce %s / %r", block.salesforce, block.salesforce)

    assert "connection" in caplog.text
    assert not any(secret in caplog.text for secret in all_secrets())


def test_secrets_are_kept_for_get_client() -> None:
    block = salesforce()
    assert block.password is not None and block.password.get_secret_value() == SF_SECRETS["password"]


def test_missing_ca_bundle_is_reported_before_connecting(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="is not a file"):
        salesforce(ca_bundle_path=str(tmp_path / "missing.pem")).get_client()


# --- options applied to the mapping set -----------------------------------------------------------------------


def test_mapping_set_for_run_without_options_is_the_mapping_set() -> None:
    block = connection()
    mappings = block.mapping_set_for_run()
    assert list(mappings.entities) == block.enabled_entities()
    assert mappings.entity("customer").direction == "both"


def test_direction_override_applies_to_that_entity_only() -> None:
    block = connection(options=ConnectionOptions(directions={"customer": Direction.TO_CRM}))
    mappings = block.mapping_set_for_run()
    assert mappings.entity("customer").direction == "to_crm"
    assert mappings.entity("contact").direction == connection().mapping_set_for_run().entity("contact").direction


def test_exclusions_are_added_to_the_entity_filters() -> None:
    exclusion = Filter(side="crm", field="Name", op="!=", value="Internal")
    block = connection(options=ConnectionOptions(exclusions={"customer": [exclusion]}))
    filters = block.mapping_set_for_run().entity("customer").filters
    assert filters[-1] == exclusion


def test_exclusion_on_a_field_the_mapping_lacks_fails_clearly() -> None:
    block = connection(
        options=ConnectionOptions(exclusions={"customer": [Filter(side="crm", field="No_Such__c", value="x")]})
    )
    with pytest.raises(MappingError) as caught:
        block.mapping_set_for_run()
    message = str(caught.value)
    assert "'customer'" in message and "'No_Such__c'" in message and "CRM field" in message
    assert "Name" in message  # the fields it could use


def test_exclusion_on_an_erp_field() -> None:
    ok = connection(options=ConnectionOptions(exclusions={"customer": [Filter(side="erp", field="companyName",
                                                                                value="Internal")]}))
    assert ok.mapping_set_for_run().entity("customer").filters[-1].field == "companyName"
    bad = connection(options=ConnectionOptions(exclusions={"customer": [Filter(side="erp", field="Name", value="x")]}))
    with pytest.raises(MappingError, match="ERP field 'Name'"):
        bad.mapping_set_for_run()


@pytest.mark.parametrize(
    "options",
    [
        ConnectionOptions(directions={"nope": Direction.BOTH}),
        ConnectionOptions(exclusions={"nope": []}),
        ConnectionOptions(entities=["customer", "nope"]),
    ],
)
def test_options_naming_an_unknown_entity_fail(options: ConnectionOptions) -> None:
    with pytest.raises(MappingError, match="unknown entity 'nope'; known: currency"):
        connection(options=options).mapping_set_for_run()


def test_enabled_entities() -> None:
    assert connection(options=ConnectionOptions(entities=["customer", "contact"])).enabled_entities() == [
        "customer", "contact"
    ]
    assert "customer" in connection().enabled_entities()


def test_mapping_set_by_path(tmp_path: Any) -> None:
    from tandem.mapping import MAPPINGS_DIR

    copy = tmp_path / "custom.yaml"
    copy.write_text((MAPPINGS_DIR / "default.yaml").read_text())
    block = connection(mapping_set=str(copy))
    assert block.mapping_path() == copy
    assert str(copy) in str(block.mapping_set_for_run().source)
