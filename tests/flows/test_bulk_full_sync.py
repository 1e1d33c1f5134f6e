"""A full sync whose Salesforce writes go through Bulk API 2.0 jobs (pages gathered into jobs) ends in the same
state as one that writes through sObject Collections: the same records with the same values on both sides, the
same bindings, the same counts and the same failures."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from sqlmodel import select

from flows.full_sync import full_sync
from flows.parameters import EntityName
from tandem.mapping import MAPPINGS_DIR, Direction, load_mapping_set
from tandem.store import create_store_engine, session_scope
from tandem.store.tables import Binding, RecordError
from tests.flows.clients import erp_client, erp_write, salesforce
from tests.flows.conftest import erp_block, salesforce_block, save_connection
from tests.support.emulator import RunningEmulator

ENTITIES = ["currency", "salesperson", "payment_term", "customer", "contact"]
#: Salesforce objects the entities write.
OBJECTS = {"customer": "Account", "contact": "Contact"}
#: ERP customers added to the demo's 300: the customer pass reads 3 pages of at most 1,000.
ADDED = 1_800
#: Salesforce keeps at most 255 characters in Account.Name: this customer fails alone, on either path.
TOO_LONG = "N" * 300


def _salesforce_state(crm: RunningEmulator) -> dict[str, list[tuple[Any, ...]]]:
    """Every Account and Contact as the mapped fields hold them, ids replaced by the record's link key."""
    sf = salesforce(crm)
    mappings = load_mapping_set(MAPPINGS_DIR / "default.yaml")
    records: dict[str, list[dict[str, Any]]] = {}
    links: dict[str, str] = {}
    for entity, sobject in OBJECTS.items():
        fields = sorted({f.crm for f in mappings.entity(entity).fields_towards(Direction.TO_CRM) if "." not in f.crm})
        rows = sf.query_all(f"SELECT Id, ERP_Id__c, {', '.join(fields)} FROM {sobject}")["records"]
        records[sobject] = [{k: v for k, v in row.items() if k != "attributes"} for row in rows]
        links.update({row["Id"]: str(row["ERP_Id__c"]) for row in rows})
    # A record created from the other side lends its own id as its link: name it by object and position instead.
    state: dict[str, list[tuple[Any, ...]]] = {}
    for sobject, rows in records.items():
        state[sobject] = sorted(
            (tuple(sorted((k, _named(v, links)) for k, v in row.items() if k != "Id")) for row in rows), key=repr
        )
    return state


def _named(value: Any, links: dict[str, str]) -> Any:
    """A field's value, a Salesforce record id replaced by ``link`` of that record (ids differ between runs)."""
    if isinstance(value, str) and value in links:
        return "link:" + ("(own id)" if links[value] == value else links[value])
    if isinstance(value, str) and links.get(value[:15]) is not None:
        return "link:" + links[value[:15]]
    return value


def _store_state(store: Path) -> tuple[Counter[tuple[str, str]], list[tuple[str, str, str]]]:
    """The bindings by entity and status, and the failed records (entity, side, code)."""
    engine = create_store_engine(f"sqlite:///{store}")
    with session_scope(engine, write=False) as session:
        bindings = Counter((b.entity, str(b.status)) for b in session.exec(select(Binding)))
        errors = sorted((e.entity, str(e.side), e.code) for e in session.exec(select(RecordError)))
    engine.dispose()
    return bindings, errors


def _run(crm: RunningEmulator, erp: RunningEmulator, store: Path, name: str, **salesforce: Any) -> dict[str, Any]:
    for emulator in (crm, erp):
        emulator.control("POST", "clock", json={"reset": True})
        emulator.control("POST", "reset", json={"seed": "demo"})
    added = [{"externalId": f"BULK-{n}", "companyName": f"Bulk customer {n}", "phone": f"+1 555 {n:04d}",
              "url": f"https://bulk{n}.example.com", "comments": f"added for the bulk test, {n}"}
             for n in range(ADDED)]
    added[7]["companyName"] = TOO_LONG
    erp_write(erp_client(erp), "customer", added)
    crm.control("DELETE", "counters")
    save_connection(name, crm, erp, store, salesforce=salesforce_block(crm, **salesforce), erp=erp_block(erp))
    rows = full_sync(connection=name, entities=[EntityName(e) for e in ENTITIES])
    counts = {row["entity"]: {k: row[k] for k in ("state", "inserted", "modified", "coupled", "unchanged", "failed")}
              for row in rows}
    return {
        "counts": counts, "calls": crm.control("GET", "counters"), "salesforce": _salesforce_state(crm),
        "store": _store_state(store),
    }


def test_a_bulk_full_sync_ends_as_the_collections_one(
    crm: RunningEmulator, erp: RunningEmulator, tmp_path: Path
) -> None:
    collections = _run(crm, erp, tmp_path / "collections.sqlite3", "by-collections")
    # Above 500 records a pass gathers pages into jobs of more than 500: the customers' first two pages of 1,000
    # are a job each, their last page of 100 goes through Collections; the 600 contacts are one job.
    bulk = _run(crm, erp, tmp_path / "bulk.sqlite3", "by-bulk", bulk_threshold=500)

    assert collections["counts"]["customer"]["inserted"] >= ADDED - 1, collections["counts"]
    assert collections["counts"]["customer"]["failed"] == 1, collections["counts"]
    assert bulk["counts"] == collections["counts"]
    assert bulk["salesforce"] == collections["salesforce"]
    assert bulk["store"] == collections["store"]
    bulk_calls, collections_calls = bulk["calls"]["by_endpoint"], collections["calls"]["by_endpoint"]
    assert bulk_calls.get("bulk2.ingest.create", 0) == 3, bulk_calls
    assert "bulk2.ingest.create" not in collections_calls, collections_calls
    # The customers' two pages of 1,000 and the contacts went through the jobs: 2 Collections upserts of 200 remain.
    assert bulk_calls.get("collections.upsert", 0) == collections_calls["collections.upsert"] - 13, (
        bulk_calls, collections_calls)
