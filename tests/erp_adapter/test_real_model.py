"""The adapter on NetSuite's real model: transactions and items found through their search families with the
type filter, currencies through getAll, prices as the virtual itemPrice entity over items' pricing matrices,
and cleared fields sent as nullFieldList."""

from __future__ import annotations

from typing import Any

import pandas as pd

from tandem.erp.adapter import ErpAdapter
from tests.erp_adapter.conftest import calls
from tests.support.emulator import RunningEmulator


def _read(adapter: ErpAdapter, entity: str, fields: list[str]) -> pd.DataFrame:
    pages = list(adapter.read_changed_since(entity, None, fields=fields, page_size=1000))
    return pd.concat(pages, ignore_index=True) if pages else pd.DataFrame(columns=["id", *fields])


def _company(adapter: ErpAdapter) -> None:
    currencies = [
        {"externalId": "CUR-USD", "name": "US Dollar", "symbol": "USD"},
        {"externalId": "CUR-EUR", "name": "Euro", "symbol": "EUR"},
    ]
    assert all(r.ok for r in adapter.upsert_batch("currency", "externalId", currencies))
    assert all(
        r.ok
        for r in adapter.upsert_batch(
            "priceLevel",
            "externalId",
            [{"externalId": "PL-1", "name": "Base Price"}, {"externalId": "PL-2", "name": "Wholesale"}],
        )
    )
    assert all(
        r.ok for r in adapter.upsert_batch("customer", "externalId", [{"externalId": "C1", "companyName": "Acme"}])
    )


def test_transactions_and_items_are_read_through_their_families(adapter: ErpAdapter, erp: RunningEmulator) -> None:
    _company(adapter)
    assert all(
        r.ok
        for r in adapter.upsert_batch(
            "salesOrder", "externalId", [{"externalId": "SO1", "tranId": "SO-1", "entity.externalId": "C1"}]
        )
    )
    assert all(
        r.ok
        for r in adapter.upsert_batch(
            "invoice",
            "externalId",
            [
                {"externalId": "IN1", "tranId": "IN-1", "entity.externalId": "C1"},
                {"externalId": "IN2", "tranId": "IN-2", "entity.externalId": "C1"},
            ],
        )
    )
    assert all(r.ok for r in adapter.upsert_batch("inventoryItem", "externalId", [{"externalId": "I1", "itemId": "I"}]))
    assert all(
        r.ok for r in adapter.upsert_batch("serviceSaleItem", "externalId", [{"externalId": "S1", "itemId": "S"}])
    )

    assert list(_read(adapter, "salesOrder", ["tranId"])["tranId"]) == ["SO-1"]
    assert sorted(_read(adapter, "invoice", ["tranId"])["tranId"]) == ["IN-1", "IN-2"]
    assert list(_read(adapter, "inventoryItem", ["itemId"])["itemId"]) == ["I"]
    assert list(_read(adapter, "serviceSaleItem", ["itemId"])["itemId"]) == ["S"]
    currencies = _read(adapter, "currency", ["symbol"])
    assert sorted(currencies["symbol"]) == ["EUR", "USD"] and calls(erp, "getAll") == 1


def test_prices_are_rows_of_the_items_pricing_matrices(adapter: ErpAdapter) -> None:
    _company(adapter)
    assert all(r.ok for r in adapter.upsert_batch("inventoryItem", "externalId", [{"externalId": "I1", "itemId": "I"}]))
    rows: list[dict[str, Any]] = [
        {
            "externalId": "P1",
            "item.externalId": "I1",
            "priceLevel.externalId": "PL-1",
            "currency.externalId": "CUR-USD",
            "unitPrice": 10.0,
        },
        {
            "externalId": "P2",
            "item.externalId": "I1",
            "priceLevel.externalId": "PL-2",
            "currency.externalId": "CUR-USD",
            "unitPrice": 9.0,
        },
    ]
    written = adapter.upsert_batch("itemPrice", "externalId", rows)
    assert all(r.ok and r.created for r in written) and len({r.id for r in written}) == 2

    fields = ["item.internalId", "priceLevel.externalId", "currency.externalId", "unitPrice"]
    prices = _read(adapter, "itemPrice", fields)
    assert sorted(zip(prices["priceLevel.externalId"], prices["unitPrice"].astype(float), strict=True)) == [
        ("PL-1", 10.0),
        ("PL-2", 9.0),
    ]
    assert set(prices["id"]) == {r.id for r in written}
    assert set(_read(adapter, "itemPrice", ["externalId"])["externalId"]) == set(prices["id"])  # the engine's link

    linked = adapter.upsert_batch("itemPrice", "externalId", [{"externalId": written[1].id, "unitPrice": 8.0}])
    assert linked[0].ok and linked[0].id == written[1].id and not linked[0].created

    again = adapter.upsert_batch("itemPrice", "externalId", [{**rows[0], "unitPrice": 12.5}])
    assert again[0].ok and not again[0].created and again[0].id == written[0].id
    by_key = adapter.read_by_keys("itemPrice", "id", [str(written[0].id)], fields=["unitPrice"])
    assert list(by_key["unitPrice"].astype(float)) == [12.5]
    by_link = adapter.read_by_keys("itemPrice", "externalId", [str(written[1].id)], fields=["unitPrice"])
    assert list(by_link["unitPrice"].astype(float)) == [8.0] and list(by_link["externalId"]) == [written[1].id]

    assert all(r.ok for r in adapter.delete_batch("itemPrice", [str(written[1].id)]))
    assert list(_read(adapter, "itemPrice", ["unitPrice"])["id"]) == [written[0].id]


def test_price_with_an_unknown_item_fails_alone(adapter: ErpAdapter) -> None:
    _company(adapter)
    [result] = adapter.upsert_batch(
        "itemPrice",
        "externalId",
        [
            {
                "externalId": "P9",
                "item.externalId": "NOPE",
                "priceLevel.externalId": "PL-1",
                "currency.externalId": "CUR-USD",
                "unitPrice": 1.0,
            }
        ],
    )
    assert not result.ok and result.error_code == "INVALID_KEY_OR_REF"


def test_none_clears_a_field_and_absent_keys_stay(adapter: ErpAdapter) -> None:
    assert all(
        r.ok
        for r in adapter.upsert_batch(
            "customer", "externalId", [{"externalId": "N1", "companyName": "Keep", "phone": "123", "url": "http://x"}]
        )
    )
    assert all(r.ok for r in adapter.upsert_batch("customer", "externalId", [{"externalId": "N1", "phone": None}]))
    [row] = adapter.read_by_keys("customer", "externalId", ["N1"], fields=["companyName", "phone", "url"]).to_dict(
        "records"
    )
    assert (row["companyName"], row["phone"], row["url"]) == ("Keep", None, "http://x")


def test_an_enum_value_outside_the_list_fails_that_record_only(adapter: ErpAdapter) -> None:
    # NetSuite (and the emulator) fault the whole request for it; the adapter refuses the record before sending.
    results = adapter.upsert_batch(
        "task",
        "externalId",
        [
            {"externalId": "T1", "title": "Bad", "status": "_whenever"},
            {"externalId": "T2", "title": "Good", "status": "_completed"},
        ],
    )
    assert [r.ok for r in results] == [False, True]
    assert results[0].error_code == "INVALID_FIELD" and "TaskStatus" in str(results[0].error_message)


def test_holds_any_tells_whether_any_record_has_an_external_id(adapter: ErpAdapter, erp: RunningEmulator) -> None:
    assert not adapter.holds_any("customer", "externalId")
    assert not adapter.holds_any("currency", "externalId") and not adapter.holds_any("itemPrice", "externalId")
    _company(adapter)
    assert adapter.holds_any("customer", "externalId") and adapter.holds_any("currency", "externalId")
    assert not adapter.holds_any("salesOrder", "externalId")  # the transaction family, filtered by type
    assert adapter.holds_any("customer", "phone")  # not searchable generically: the safe answer
