"""The shared protocol suite's cases: one per system adapter, each built against its emulator.

A case is an :class:`AdapterCase`: an adapter logged in to a freshly reset emulator, an entity of that system with
a text field and a clearable field, and the field holding the link key. :data:`CASES` is the registry the suite is
parametrised over: a system joins the suite with one entry (a function that takes pytest's ``request`` and returns
its case, getting its emulator from a session fixture).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from tandem.adapter import RecordAdapter
from tests.erp_adapter.conftest import credentials_for
from tests.hubspot_adapter.conftest import create_link_properties
from tests.hubspot_adapter.conftest import credentials as hubspot_credentials
from tests.salesforce_adapter.conftest import credentials as salesforce_credentials
from tests.support.emulator import RunningEmulator, running_emulator, start_emulator


@dataclass
class AdapterCase:
    """One system under the protocol suite.

    Attributes:
        adapter: the adapter, logged in to an emulator reset to no records.
        emulator: that emulator (for its clock).
        entity: the object or record type the suite writes.
        link_field: the field holding the link key (the adapter's ``link_field``, or the mapping's key).
        text_field: a required text field (a match key: read by keys ignoring case).
        clearable_field: an optional text field an update may clear.
        values: the record's other required values.
    """

    adapter: RecordAdapter
    emulator: RunningEmulator
    entity: str
    link_field: str
    text_field: str
    clearable_field: str
    values: dict[str, Any]

    def record(self, key: str, text: str, clearable: str | None = None) -> dict[str, Any]:
        """A record to upsert by its link key."""
        return {self.link_field: key, self.text_field: text, self.clearable_field: clearable, **self.values}

    def now(self) -> datetime:
        """The emulator's clock."""
        return datetime.fromisoformat(self.emulator.control("GET", "clock")["now"].replace("Z", "+00:00"))

    def advance(self, seconds: float) -> None:
        """Move the emulator's clock on."""
        self.emulator.control("POST", "clock", json={"advance_seconds": seconds})


@pytest.fixture(scope="session")
def salesforce_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """A Salesforce emulator for the session (an empty org)."""
    emulator = start_emulator(
        "salesforce", tmp_path_factory.mktemp("protocol-sf"), "--seed", "none", "--api-limit", "1000000"
    )
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def erp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """An ERP emulator for the session (no records)."""
    with running_emulator("erp", tmp_path_factory.mktemp("protocol-erp"), "--seed", "none", "--tls") as emulator:
        yield emulator


def salesforce_case(request: pytest.FixtureRequest) -> AdapterCase:
    """Salesforce accounts, linked by the mapping's external-id field ``ERP_Id__c``."""
    emulator: RunningEmulator = request.getfixturevalue("salesforce_server")
    emulator.control("POST", "reset", json={})
    emulator.control("POST", "clock", json={"reset": True})
    adapter = salesforce_credentials(emulator).get_client()
    return AdapterCase(adapter, emulator, "Account", "ERP_Id__c", "Name", "Phone", {})


def erp_case(request: pytest.FixtureRequest) -> AdapterCase:
    """NetSuite customers, linked by ``externalId``."""
    emulator: RunningEmulator = request.getfixturevalue("erp_server")
    emulator.control("POST", "reset", json={"seed": "none"})
    emulator.control("POST", "clock", json={"reset": True})
    adapter = credentials_for(emulator).get_client()
    request.addfinalizer(adapter.close)
    return AdapterCase(adapter, emulator, "customer", str(adapter.link_field), "companyName", "phone", {})


@pytest.fixture(scope="session")
def hubspot_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """A HubSpot emulator for the session (an empty portal; no search rate limit to wait out)."""
    with running_emulator("hubspot", tmp_path_factory.mktemp("protocol-hubspot"), "--seed", "none",
                          "--search-rate-limit", "0") as emulator:
        yield emulator


def hubspot_case(request: pytest.FixtureRequest) -> AdapterCase:
    """HubSpot companies, linked by the mapping's unique property ``erp_id`` (created as a user would)."""
    emulator: RunningEmulator = request.getfixturevalue("hubspot_server")
    emulator.control("POST", "reset", json={})
    emulator.control("POST", "clock", json={"reset": True})
    create_link_properties(emulator)
    return AdapterCase(hubspot_credentials(emulator).get_client(), emulator, "companies", "erp_id", "name", "phone", {})


#: The systems the suite runs over: a name and the function that builds the case.
CASES: dict[str, Callable[[pytest.FixtureRequest], AdapterCase]] = {
    "salesforce": salesforce_case,
    "netsuite": erp_case,
    "hubspot": hubspot_case,
}


@pytest.fixture(params=list(CASES))
def case(request: pytest.FixtureRequest) -> AdapterCase:
    """Each registered system in turn."""
    return CASES[request.param](request)
