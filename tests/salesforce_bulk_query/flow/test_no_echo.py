"""A two-way full sync whose Salesforce reads go through Bulk API 2.0 query jobs settles: a second run changes
nothing (no echo of what the first run wrote)."""

from __future__ import annotations

from pathlib import Path

from flows.full_sync import full_sync
from flows.parameters import EntityName
from tests.flows.conftest import salesforce_block, save_connection
from tests.support.emulator import RunningEmulator

ENTITIES = ["currency", "salesperson", "payment_term", "customer", "contact"]
ENTITY_NAMES = [EntityName(e) for e in ENTITIES]
EXTRA = 2_100


def test_a_two_way_full_sync_reading_salesforce_in_bulk_changes_nothing_the_second_time(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path
) -> None:
    crm, erp = fresh
    # More accounts than a page (2,000): every whole read of them reads on through a query job
    block = salesforce_block(crm, bulk_read_threshold=2_000)
    sf = block.get_client().sf
    for start in range(0, EXTRA, 200):
        more = [{"attributes": {"type": "Account"}, "Name": f"Bulk read {i}", "Phone": f"+1 555 {i:04d}"}
                for i in range(start, min(start + 200, EXTRA))]
        answers = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": more}) or []
        assert all(answer["success"] for answer in answers)
    save_connection("bulk-reads", crm, erp, tmp_path / "state.sqlite3", salesforce=block)
    crm.control("DELETE", "counters")

    first = {row["entity"]: row for row in full_sync(connection="bulk-reads", entities=ENTITY_NAMES)}
    assert {row["state"] for row in first.values()} == {"succeeded"}, first
    assert all(row["failed"] == 0 for row in first.values()), first
    assert crm.control("GET", "counters")["by_endpoint"].get("bulk2.query.create", 0) >= 1

    crm.control("DELETE", "counters")
    second = {row["entity"]: row for row in full_sync(connection="bulk-reads", entities=ENTITY_NAMES)}
    for name in ENTITIES:
        row = second[name]
        assert (row["inserted"], row["modified"], row["coupled"], row["failed"]) == (0, 0, 0, 0), row
    made = crm.control("GET", "counters")["by_endpoint"]
    assert made.get("bulk2.query.create", 0) >= 1, made  # the accounts, read whole by a query job
    assert not any(name.startswith(("collections", "bulk2.ingest")) for name in made), made
