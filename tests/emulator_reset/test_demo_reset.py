"""A reset to the demo data restores a copy of the first seed: the result must be exactly what seeding again at that
moment gives (same records, ids, values and timestamps, the same next ids), whatever the tests did in between.

Both emulators' stores run in process here, on frozen clocks, so that a fresh seed and a restore at the same moment
can be compared row for row.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from emulators.common.clock import EmulatorClock
from emulators.erp.requests_xml import ParsedRecord
from emulators.erp.schema import record_specs
from emulators.erp.seed import DemoReset as ErpDemoReset
from emulators.erp.seed import load_demo as load_erp_demo
from emulators.erp.store import ErpStore
from emulators.salesforce.schema import FieldDef, ObjectDef, Schema, load_schema
from emulators.salesforce.seed import DemoReset as OrgDemoReset
from emulators.salesforce.seed import load_demo as load_org_demo
from emulators.salesforce.store import RecordStore

SEEDED = datetime(2026, 3, 4, 10, 15, 30, 123000, tzinfo=UTC)
LATER = SEEDED + timedelta(hours=3, seconds=7, milliseconds=5)  # the same day
NEXT_DAY = SEEDED + timedelta(days=1)


class FrozenClock(EmulatorClock):
    """A clock that reads ``at`` until moved: a seed and a restore then give out the same timestamps."""

    def __init__(self, at: datetime) -> None:
        super().__init__()
        self.at = at

    def now(self) -> datetime:
        """The frozen moment."""
        return self.at


@pytest.fixture(scope="module")
def schema() -> Schema:
    """The Salesforce emulator's schema."""
    return load_schema()


def org_rows(store: RecordStore) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored row of every object, rowid first."""
    return {name: store.conn.execute(f"SELECT rowid, * FROM {table.name} ORDER BY rowid").fetchall()
            for name, table in store.tables.items()}


def seeded_org(path: Path, schema: Schema, at: datetime) -> RecordStore:
    """An org reset and seeded at ``at`` the normal way (created an hour earlier)."""
    clock = FrozenClock(at - timedelta(hours=1))
    store = RecordStore(path, schema, clock)
    clock.at = at
    store.reset()
    load_org_demo(store)
    return store


def dirty_org(store: RecordStore) -> None:
    """What a test does to the org: creates, updates and deletes records."""
    user = store.integration_user_id
    [account] = store.conn.execute(f"SELECT Id FROM {store.table('Account').name} LIMIT 1").fetchall()
    store.update("Account", [{"Id": account[0], "Name": "Renamed by a test"}], user_id=user)
    created = store.insert("Account", [{"Name": f"New {n}"} for n in range(3)], user_id=user)
    store.delete([created[0].id or "", account[0]], user_id=user)


def test_a_restored_org_is_the_org_a_seed_at_that_moment_gives(tmp_path: Path, schema: Schema) -> None:
    clock = FrozenClock(SEEDED)
    store = RecordStore(tmp_path / "restored.sqlite3", schema, clock)
    demo = OrgDemoReset()
    first = demo.reset(store)  # seeds, keeps a copy
    dirty_org(store)
    clock.at = LATER
    again = demo.reset(store)  # restores the copy
    assert demo.restored == 1
    fresh = seeded_org(tmp_path / "fresh.sqlite3", schema, LATER)

    assert again == first == fresh.counts()
    restored_rows, fresh_rows = org_rows(store), org_rows(fresh)
    assert restored_rows == fresh_rows
    accounts = restored_rows["Account"]
    assert "Renamed by a test" not in {row[2] for row in accounts}
    assert store.org_id == fresh.org_id
    # Later writes get the same ids and timestamps in both.
    user = store.integration_user_id
    made = [s.insert("Account", [{"Name": "After"}], user_id=user)[0].id for s in (store, fresh)]
    assert made[0] == made[1]
    assert org_rows(store)["Account"][-1] == org_rows(fresh)["Account"][-1]


def test_an_org_reset_on_another_day_or_schema_is_seeded_again(tmp_path: Path, schema: Schema) -> None:
    clock = FrozenClock(SEEDED)
    store = RecordStore(tmp_path / "org.sqlite3", schema, clock)
    demo = OrgDemoReset()
    demo.reset(store)
    clock.at = NEXT_DAY  # the demo's dates count from the day: the copy no longer serves
    demo.reset(store)
    assert demo.restored == 0
    assert org_rows(store) == org_rows(seeded_org(tmp_path / "next-day.sqlite3", schema, NEXT_DAY))

    account = schema.objects["Account"]
    extra = FieldDef(name="Extra__c", type="string", label="Extra", length=20, custom=True)
    other = Schema(objects={**schema.objects, "Account": ObjectDef(  # a deploy added a field
        name=account.name, label=account.label, label_plural=account.label_plural, key_prefix=account.key_prefix,
        fields={**account.fields, extra.name: extra})})
    store.apply_schema(other)
    clock.at = NEXT_DAY + timedelta(hours=2)
    demo.reset(store)
    assert demo.restored == 0
    assert org_rows(store) == org_rows(seeded_org(tmp_path / "other.sqlite3", other, clock.at))


def account_rows(store: ErpStore) -> dict[str, list[tuple[Any, ...]]]:
    """The account's records, deletions, jobs and id sequence."""
    with sqlite3.connect(store.path) as conn:
        return {table: conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
                for table in ("records", "deleted", "jobs", "sqlite_sequence")}


def customer(external_id: str, name: str) -> ParsedRecord:
    """A customer record as a write request carries it."""
    return ParsedRecord(record_specs()["customer"], external_id, {"companyName": name})


def test_a_restored_account_is_the_account_a_seed_at_that_moment_gives(tmp_path: Path) -> None:
    store = ErpStore(tmp_path / "restored" / "erp.sqlite3")
    demo = ErpDemoReset()
    first = demo.reset(store, SEEDED)
    now_ms = int(LATER.timestamp() * 1000)
    store.write([customer("CUST-0001", "Renamed by a test"), customer("NEW-1", "New")], mode="upsert", now_ms=now_ms)
    store.delete([{"type": "customer", "externalId": "CUST-0002"}], now_ms=now_ms)
    again = demo.reset(store, LATER)
    assert demo.restored == 1
    fresh = ErpStore(tmp_path / "fresh" / "erp.sqlite3")
    load_erp_demo(fresh, LATER)

    assert again == first == fresh.counts()
    restored_rows, fresh_rows = account_rows(store), account_rows(fresh)
    assert restored_rows == fresh_rows
    assert not restored_rows["deleted"] and "Renamed by a test" not in str(restored_rows["records"])
    # The seed's moment appears in the records (created, modified, stock changes) as LATER's, never SEEDED's.
    seeded_ms = str(int(SEEDED.timestamp() * 1000))
    assert seeded_ms not in str(restored_rows["records"]) and str(now_ms) in str(restored_rows["records"])
    made = [s.write([customer("AFTER-1", "After")], mode="upsert", now_ms=now_ms)[0] for s in (store, fresh)]
    assert made[0] == made[1]


def test_an_account_reset_on_another_day_is_seeded_again(tmp_path: Path) -> None:
    store = ErpStore(tmp_path / "account" / "erp.sqlite3")
    demo = ErpDemoReset()
    demo.reset(store, SEEDED)
    demo.reset(store, NEXT_DAY)
    assert demo.restored == 0
    fresh = ErpStore(tmp_path / "fresh" / "erp.sqlite3")
    load_erp_demo(fresh, NEXT_DAY)
    assert account_rows(store) == account_rows(fresh)
