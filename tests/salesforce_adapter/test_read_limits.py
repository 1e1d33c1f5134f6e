"""Tandem's Salesforce reads live within Salesforce's limits (against the emulator, which enforces them):
the 16,384-byte URI and header limit, closed query cursors, and long text areas never filtered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tandem.mapping import load_mapping_set
from tandem.salesforce.adapter import MAX_QUERY_URI_BYTES, SalesforceAdapter
from tests.support.emulator import RunningEmulator

ROOT = Path(__file__).resolve().parents[2]
REFUSED = ("uri.tooLong", "headers.tooLarge")


def long_key(n: int) -> str:
    """An 80-character key."""
    return f"ERP-{n:06d}-" + "K" * 69


def write_keyed(adapter: SalesforceAdapter, keys: list[str]) -> None:
    """Accounts whose ``Name`` is each of ``keys`` (the emulator's ``ERP_Id__c`` holds 64 characters, so the
    80-character keys go in ``Name``, a 255-character text field that filters like an external id)."""
    written = adapter.upsert_batch("Account", "ERP_Id__c", [{"ERP_Id__c": f"K{n:05d}", "Name": key}
                                                            for n, key in enumerate(keys)])
    assert all(result.ok for result in written)


def counts(emulator: RunningEmulator) -> dict[str, int]:
    """The emulator's call counters by endpoint."""
    return dict(emulator.control("GET", "counters")["by_endpoint"])


def test_reading_a_thousand_80_character_keys_stays_within_the_uri_limit(
    adapter: SalesforceAdapter, emulator: RunningEmulator
) -> None:
    keys = [long_key(n) for n in range(1_000)]
    write_keyed(adapter, keys)
    emulator.control("DELETE", "counters")

    frame = adapter.read_by_keys("Account", "Name", [*keys, "NO-SUCH-KEY"], fields=["ERP_Id__c"])

    assert sorted(frame["Name"]) == sorted(keys)
    assert frame["id"].is_unique
    calls = counts(emulator)
    assert not any(calls.get(name) for name in REFUSED), calls
    # 80-character keys fit about 90 to a query within the 8,192-byte budget: a dozen queries, not 4 of 300.
    assert 1_000 // 300 < calls["query"] <= 20
    assert MAX_QUERY_URI_BYTES <= 16_384


def test_the_uri_budget_can_be_lowered(emulator: RunningEmulator, adapter: SalesforceAdapter) -> None:
    keys = [long_key(n) for n in range(200)]
    write_keyed(adapter, keys)
    small = SalesforceAdapter(adapter.sf, max_query_uri_bytes=2_000)
    emulator.control("DELETE", "counters")

    frame = small.read_by_keys("Account", "Name", keys, fields=["ERP_Id__c"])

    assert len(frame) == 200
    assert counts(emulator)["query"] >= 200 // 20  # about 20 keys of 80 characters per 2,000-byte URI


def test_a_read_by_keys_whose_cursor_was_closed_reads_the_query_again(
    emulator: RunningEmulator, adapter: SalesforceAdapter
) -> None:
    keys = [f"C{n:04d}" for n in range(300)]
    adapter.upsert_batch("Account", "ERP_Id__c", [{"ERP_Id__c": k, "Name": "Paged"} for k in keys])
    paged = SalesforceAdapter(adapter.sf, page_size=200)  # 300 matches: two pages, one cursor
    emulator.control("POST", "faults", json={"pattern": "queryMore", "kind": "http_500",
                                              "code": "INVALID_QUERY_LOCATOR", "count": 1})

    frame = paged.read_by_keys("Account", "ERP_Id__c", keys, fields=["Name"])

    assert sorted(frame["ERP_Id__c"]) == keys
    assert frame["id"].is_unique
    assert counts(emulator)["queryMore"] == 2  # the failed one, then the second page of the query read again


def test_tandems_key_fields_are_filterable_in_salesforce(adapter: SalesforceAdapter) -> None:
    """Tandem filters only on SystemModstamp and each entity's CRM key; none may be a long text area."""
    mapping = load_mapping_set(ROOT / "mappings" / "default.yaml")
    described: dict[str, dict[str, dict[str, object]]] = {}
    for entity in mapping.entities.values():
        if entity.crm_object not in described:
            answer: Any = adapter.sf.restful(f"sobjects/{entity.crm_object}/describe")
            described[entity.crm_object] = {f["name"]: f for f in answer["fields"]}
        fields = described[entity.crm_object]
        for name in (entity.crm_key, "SystemModstamp"):
            assert fields[name]["filterable"] is True, f"{entity.crm_object}.{name}"
            assert fields[name]["sortable"] is True, f"{entity.crm_object}.{name}"
