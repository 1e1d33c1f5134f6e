"""A ``startsWith`` on a coupling field reads the store's folded text index, with the same rule as ``LIKE``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from lxml import etree

from emulators.erp.criteria import criterion_sql
from emulators.erp.requests_xml import ParsedRecord
from emulators.erp.store import ErpStore

NOW = 1_700_000_000_000
NOW_AT = datetime.fromtimestamp(NOW / 1000, UTC)


def _criterion(operator: str, value: str) -> etree._Element:
    element = etree.Element("email", operator=operator)
    etree.SubElement(element, "searchValue").text = value
    return element


def _search(store: ErpStore, operator: str, value: str) -> list[str]:
    condition, params = criterion_sql("SearchStringField", "email", _criterion(operator, value), "email", NOW_AT)
    ids = store.search_ids(("customer",), [condition], params)
    with store.reader() as conn:
        rows = conn.execute(
            f"SELECT external_id FROM records WHERE internal_id IN ({','.join('?' * len(ids))})", list(ids)
        ).fetchall()
    return sorted(row[0] for row in rows)


def test_starts_with_on_an_indexed_field_reads_the_index_and_keeps_likes_rule(tmp_path: Path) -> None:
    store = ErpStore(tmp_path / "erp.sqlite3")
    spec = store.specs["customer"]
    emails = {"a": "Ann@Example.com", "b": "ann@example.com.au", "c": "anna@example.com", "d": "TOMÁS@example.com",
              "e": "x_y%z@example.com", "f": "xayqz@example.com"}
    records = [ParsedRecord(spec, key, values={"companyName": f"Co {key}", "email": email})
               for key, email in emails.items()]
    outcomes = store.write(records, mode="add", now_ms=NOW)
    assert all(outcome is not None and not outcome.errors for outcome in outcomes)

    assert _search(store, "startsWith", "ANN@example.COM") == ["a", "b"]  # ASCII case folded, a prefix
    assert _search(store, "startsWith", "TOMÁS@") == ["d"]  # other letters as stored
    assert _search(store, "startsWith", "x_y%") == ["e"]  # wildcards are literal
    assert _search(store, "is", "anna@example.com") == ["c"]

    condition, params = criterion_sql("SearchStringField", "email", _criterion("startsWith", "ann"), "email", NOW_AT)
    with store.reader() as conn:
        plan = conn.execute(
            f"EXPLAIN QUERY PLAN SELECT internal_id FROM records WHERE +type IN ('customer') AND {condition}", params
        ).fetchall()
    assert any("records_text_email" in str(step) for step in plan), plan
