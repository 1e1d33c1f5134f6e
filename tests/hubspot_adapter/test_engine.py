"""The sync engine runs the HubSpot <-> NetSuite mapping set with HubSpot on the CRM side, unchanged: entity passes
straight on the engine (no flow), against the HubSpot emulator and the ERP emulator's demo data."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from tandem.hubspot.adapter import HubSpotAdapter
from tandem.mapping import MAPPINGS_DIR, Direction, load_mapping_set
from tandem.store import create_connection, create_schema, create_store_engine, require_id, session_scope
from tandem.sync.context import Route, SyncContext
from tandem.sync.entity_pass import EntityPass
from tests.flows.conftest import erp_block
from tests.hubspot_adapter.conftest import LINK
from tests.support.emulator import RunningEmulator, start_emulator


@pytest.fixture(scope="module")
def erp_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """The ERP emulator with its demo data (read only here: the passes below write to HubSpot, and back one
    record each)."""
    emulator = start_emulator("erp", tmp_path_factory.mktemp("hubspot-engine-erp"), "--seed", "demo")
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def context(adapter: HubSpotAdapter, erp_emulator: RunningEmulator, tmp_path: Path) -> Iterator[SyncContext]:
    store = create_store_engine(f"sqlite:///{tmp_path / 'state.sqlite3'}")
    create_schema(store)
    with session_scope(store) as session:
        connection_id = require_id(create_connection(session, name="hubspot", crm_org_id="24681357",
                                                     erp_account_id="1"))
    yield SyncContext(connection_id=connection_id, store=store, crm=adapter, erp=erp_block(erp_emulator).get_client(),
                      mappings=load_mapping_set(MAPPINGS_DIR / "hubspot.yaml"), started_at=datetime.now(UTC),
                      page_size=200)
    store.dispose()


def test_customers_and_contacts_reach_hubspot_and_changes_there_come_back(context: SyncContext) -> None:
    hubspot = context.crm
    assert isinstance(hubspot, HubSpotAdapter)
    customers = EntityPass(context, Route.of(context.mappings.entities["customer"], Direction.TO_CRM)).run(None)
    contacts = EntityPass(context, Route.of(context.mappings.entities["contact"], Direction.TO_CRM)).run(None)
    assert customers.counts.failed == contacts.counts.failed == 0
    assert customers.counts.inserted == hubspot.count("companies") > 0
    assert contacts.counts.inserted == hubspot.count("contacts") > 0

    # Every contact is associated with the company its NetSuite contact names (the reference through bindings).
    frame = pd.concat(hubspot.read_changed_since("contacts", None, fields=["association:companies", LINK]))
    assert frame["association:companies"].notna().all() and frame[LINK].notna().all()

    # A company renamed in HubSpot and a contact created there travel to the ERP (incremental, since a watermark).
    since = datetime.now(UTC)
    company = next(hubspot.read_changed_since("companies", None, fields=["name"], page_size=1)).iloc[0]
    assert hubspot.update_batch("companies", [{"id": company["id"], "name": "Renamed in HubSpot"}])[0].ok
    made = hubspot.upsert_batch("contacts", "email", [
        {"email": "nia.newman@hubspot.example", "lastname": "Newman", "association:companies": company["id"]}])
    assert made[0].ok and made[0].created
    later = SyncContext(connection_id=context.connection_id, store=context.store, crm=hubspot, erp=context.erp,
                        mappings=context.mappings, started_at=datetime.now(UTC), page_size=200)
    back = [EntityPass(later, Route.of(later.mappings.entities[name], Direction.TO_ERP)).run(since).counts
            for name in ("customer", "contact")]
    assert (back[0].modified, back[0].failed) == (1, 0)
    assert (back[1].inserted, back[1].failed) == (1, 0)
    linked = hubspot.read_by_ids("contacts", [made[0].id or ""], fields=[LINK])
    assert linked[LINK].notna().all()  # coupled: the new contact now holds its link key
