"""HubSpot ↔ NetSuite through the same flows as Salesforce: full sync, incremental sync with a deletion, the
deletion sweep, the card."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlmodel import select

from blocks.connection import SyncConnection
from blocks.hubspot import HubSpotCredentials
from blocks.store import StateStore
from flows.deletion_sweep import deletion_sweep
from flows.full_sync import full_sync
from flows.incremental_sync import incremental_sync
from flows.initial_import import initial_import
from flows.parameters import EntityName
from tandem.status.cards import CardStatus
from tandem.store import create_store_engine, session_scope
from tandem.store.tables import Binding, BindingStatus, Side
from tests.flows.conftest import erp_block
from tests.support.emulator import RunningEmulator, start_emulator
from web.sources import card_source

CONNECTION = "hubspot-flows"


@pytest.fixture(scope="module")
def hubspot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """The HubSpot emulator (demo portal; search rate limit off so the flows never wait for it)."""
    emulator = start_emulator("hubspot", tmp_path_factory.mktemp("hubspot"), "--seed", "demo",
                              "--search-rate-limit", "0")
    yield emulator
    emulator.stop()


def by_entity(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(row["entity"]): row for row in rows}


def api(hubspot: RunningEmulator, method: str, path: str, **kwargs: Any) -> Any:
    """Call the HubSpot API as a HubSpot user would."""
    with hubspot.session() as session:
        response = session.request(method, f"{hubspot.base_url}{path}", timeout=30,
                                   headers={"Authorization": f"Bearer {hubspot.info['access_token']}"}, **kwargs)
    response.raise_for_status()
    return response.json() if response.content else None


def bound(store_path: Path, entity: str) -> list[tuple[str, str]]:
    """The (HubSpot id, ERP id) pairs of ``entity``'s synced bindings."""
    with session_scope(create_store_engine(f"sqlite:///{store_path}"), write=False) as session:
        rows = session.exec(select(Binding.crm_id, Binding.erp_id).where(
            Binding.entity == entity, Binding.status == BindingStatus.SYNCED)).all()
    return [(str(crm_id), str(erp_id)) for crm_id, erp_id in rows if crm_id and erp_id]


def test_hubspot_syncs_with_the_erp_through_the_same_flows(
    hubspot: RunningEmulator, erp: RunningEmulator, tmp_path: Path
) -> None:
    hubspot.control("POST", "reset", json={"seed": "demo"})
    erp.control("POST", "reset", json={"seed": "demo"})
    erp.control("POST", "clock", json={"reset": True})
    store_path = tmp_path / "state.sqlite3"
    SyncConnection(
        hubspot=HubSpotCredentials(access_token=SecretStr(hubspot.info["access_token"]),
                                   portal_id=hubspot.info["portal_id"], base_url=hubspot.base_url,
                                   ca_bundle_path=hubspot.ca_cert),
        erp=erp_block(erp), store=StateStore(url=SecretStr(f"sqlite:///{store_path}")), mapping_set="hubspot",
    ).save(CONNECTION, overwrite=True)

    initial_import(connection=CONNECTION)  # turns sync on (the incremental sync leaves a connection off alone)
    rows = by_entity(full_sync(connection=CONNECTION))
    customer = rows["customer"]
    # The 40 HubSpot companies that are ERP customers couple by name; the other companies and customers are created.
    assert customer["coupled"] == 40 and customer["inserted"] > 0 and customer["failed"] == 0, customer
    assert rows["contact"]["coupled"] > 0 and rows["item"]["coupled"] == 15, rows
    # A second full sync finds everything in step.
    again = by_entity(full_sync(connection=CONNECTION))
    assert all(row["inserted"] == row["modified"] == 0 for row in again.values()), again

    # A company renamed in HubSpot reaches its ERP customer with the next incremental run.
    company_id, customer_id = bound(store_path, "customer")[0]
    api(hubspot, "PATCH", f"/crm/v3/objects/companies/{company_id}", json={"properties": {"name": "Renamed"}})
    # A task archived in HubSpot is deleted in the ERP by the same run (the task entity's deletion policy).
    hubspot_task, erp_task = bound(store_path, "task")[0]
    api(hubspot, "DELETE", f"/crm/v3/objects/tasks/{hubspot_task}")
    changed = by_entity(incremental_sync(connection=CONNECTION))
    assert changed["customer"]["modified"] == 1 and changed["customer"]["failed"] == 0, changed
    erp_adapter = erp_block(erp).get_client()
    renamed = erp_adapter.read_by_ids("customer", [customer_id], fields=["companyName"])
    assert renamed.iloc[0]["companyName"] == "Renamed"
    assert erp_adapter.read_by_ids("task", [erp_task], fields=["title"]).empty

    # The daily deletion sweep applies a HubSpot archive too (the safety net when no incremental run read it).
    swept_hubspot, swept_erp = bound(store_path, "task")[0]
    api(hubspot, "DELETE", f"/crm/v3/objects/tasks/{swept_hubspot}")
    [swept] = deletion_sweep(connection=CONNECTION, entities=[EntityName("task")])
    assert swept["state"] == "succeeded", swept
    assert erp_adapter.read_by_ids("task", [swept_erp], fields=["title"]).empty

    # The card of the ERP customer names its HubSpot company with the company's page in HubSpot's app.
    [card] = card_source(CONNECTION).cards(Side.ERP, "customer", customer_id)
    assert card.status is CardStatus.UP_TO_DATE, card
    assert card.synced_with is not None and card.synced_with.url == (
        f"https://app.hubspot.com/contacts/{hubspot.info['portal_id']}/record/0-2/{company_id}")
