"""The content hash: stable, order-independent, type-normalised."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tandem.store import content_hash, content_hashes
from tandem.store.hashing import canonical_form

RECORD = {
    "Name": "Acme GmbH",
    "AnnualRevenue": 1_250_000.5,
    "NumberOfEmployees": 42,
    "IsActive": True,
    "Rating": None,
    "LastOrder": date(2026, 11, 2),
    "Tags": ["b2b", "dach"],
    "Address": {"city": "Köln", "country": "DE"},
}


def test_the_hash_is_pinned() -> None:
    # Stored hashes must stay valid across releases: changing the canonical form is a migration.
    assert canonical_form(RECORD) == (
        '{"Address":{"city":"Köln","country":"DE"},"AnnualRevenue":1250000.5,"IsActive":true,'
        '"LastOrder":"2026-11-02","Name":"Acme GmbH","NumberOfEmployees":42,"Rating":null,"Tags":["b2b","dach"]}'
    )
    assert content_hash(RECORD) == content_hash(dict(RECORD))
    assert len(content_hash(RECORD)) == 64


def test_key_order_does_not_matter() -> None:
    reordered = dict(reversed(list(RECORD.items())))
    reordered["Address"] = {"country": "DE", "city": "Köln"}
    assert content_hash(reordered) == content_hash(RECORD)


@given(st.dictionaries(st.text(max_size=5), st.one_of(st.none(), st.booleans(), st.integers(), st.text()), max_size=8))
def test_any_permutation_hashes_alike(record: dict[str, object]) -> None:
    assert content_hash(dict(reversed(list(record.items())))) == content_hash(record)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (1, 1.0),
        (1, Decimal("1.00")),
        (0.1, Decimal("0.10")),
        (np.int64(7), 7),
        (np.float64(2.5), Decimal("2.50")),
        (np.bool_(True), True),
        (None, float("nan")),
        (None, pd.NaT),
        (None, pd.NA),
        (datetime(2026, 1, 1, 12, tzinfo=UTC), datetime(2026, 1, 1, 13, tzinfo=timezone(timedelta(hours=1)))),
        (datetime(2026, 1, 1, 12, tzinfo=UTC), pd.Timestamp("2026-01-01T12:00:00Z")),
        ("Cafe\u0301", "Café"),
        (("a", "b"), ["a", "b"]),
        ({"b", "a"}, frozenset({"a", "b"})),
    ],
)
def test_equal_content_of_different_types_hashes_alike(left: object, right: object) -> None:
    assert content_hash({"v": left}) == content_hash({"v": right})


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ({"v": "1"}, {"v": 1}),
        ({"v": None}, {}),
        ({"v": True}, {"v": 1}),
        ({"v": ["a", "b"]}, {"v": ["b", "a"]}),
        ({"v": 0.1}, {"v": 0.10000001}),
        ({"v": date(2026, 1, 1)}, {"v": datetime(2026, 1, 1, tzinfo=UTC)}),
    ],
)
def test_different_content_hashes_differently(left: dict[str, object], right: dict[str, object]) -> None:
    assert content_hash(left) != content_hash(right)


def test_other_supported_values_and_batches() -> None:
    identifier = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert canonical_form({"id": identifier, "raw": b"\x00\x01"}) == (
        '{"id":"12345678-1234-5678-1234-567812345678","raw":"AAE="}'
    )
    assert content_hashes([{"a": 1}, {"a": 1.0}]) == [content_hash({"a": 1})] * 2


def test_unknown_types_are_refused() -> None:
    with pytest.raises(TypeError, match="object"):
        content_hash({"v": object()})
