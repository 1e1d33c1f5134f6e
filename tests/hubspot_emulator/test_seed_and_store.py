"""The demo seed against the ERP emulator's demo, and the store's persistence: in process, no server."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from emulators.common.clock import EmulatorClock
from emulators.erp.seed import demo_rows
from emulators.hubspot.schema import OBJECT_TYPES
from emulators.hubspot.seed import load_demo
from emulators.hubspot.store import HubSpotStore

NOON = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _store(path: Path) -> HubSpotStore:
    clock = EmulatorClock()
    clock.set(NOON)
    return HubSpotStore(path, clock)


def test_the_demo_matches_part_of_the_erp_demo(tmp_path: Path) -> None:
    store = _store(tmp_path / "hubspot.sqlite3")
    counts = load_demo(store, store.clock.now())
    assert counts == {"contacts": 127, "companies": 60, "deals": 12, "products": 26, "line_items": 0, "tasks": 60}
    erp = dict(demo_rows(NOON))
    erp_names = {v["companyName"] for _, v in erp["customer"]}
    names = [r.properties["name"] for r in store.live(OBJECT_TYPES["companies"])]
    assert sum(n in erp_names for n in names) == 40 and len(set(names)) == 60
    erp_emails = {str(v["email"]).lower() for _, v in erp["contact"]}
    emails = [r.properties["email"] for r in store.live(OBJECT_TYPES["contacts"])]
    assert 70 < sum(e in erp_emails for e in emails) < 127
    erp_items = {str(v["itemId"]) for _, v in erp["inventoryItem"] + erp["serviceSaleItem"]}
    skus = [r.properties["hs_sku"] for r in store.live(OBJECT_TYPES["products"])]
    assert sum(s in erp_items for s in skus) == 20
    assert all(not r.properties.get("erp_id") for t in OBJECT_TYPES.values() for r in store.live(t))
    assert all(r.updated_at < NOON and r.created_at <= r.updated_at for r in store.live(OBJECT_TYPES["contacts"]))
    assert [len(store.archived(OBJECT_TYPES[t])) for t in ("companies", "contacts")] == [2, 1]


def test_the_demo_is_deterministic_and_the_store_survives_a_restart(tmp_path: Path) -> None:
    first, second = _store(tmp_path / "a.sqlite3"), _store(tmp_path / "b.sqlite3")
    load_demo(first, NOON)
    load_demo(second, NOON)
    tasks = OBJECT_TYPES["tasks"]
    assert [r.properties for r in first.live(tasks)] == [r.properties for r in second.live(tasks)]
    first.close()
    reopened = _store(tmp_path / "a.sqlite3")
    assert [r.properties for r in reopened.live(tasks)] == [r.properties for r in second.live(tasks)]
    company = OBJECT_TYPES["companies"]
    assert reopened.associations(OBJECT_TYPES["contacts"], "1000061", company) == {"1000001": [1, 279]}
    assert reopened.properties(company)["erp_id"].has_unique_value
    made = reopened.create_many(company, [reopened.check_values(company, {"name": "After restart"}, creating=True)])
    assert int(made[0].id) > max(int(r.id) for r in second.live(OBJECT_TYPES["deals"]))
