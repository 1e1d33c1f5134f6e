"""Field digests: equal for equal content, field by field comparable, merged for pending fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from tandem.store.digests import ABSENT, DigestMaker, is_field_digest
from tandem.store.hashing import content_hash

NAMES = ("Name", "Phone", "Status", "Amount")


def test_equal_content_digests_alike_whatever_its_types() -> None:
    maker = DigestMaker(NAMES)
    a = maker.digest({"Name": "Ada", "Phone": None, "Status": "Open", "Amount": 1})
    b = maker.digest({"Name": "Ada", "Phone": float("nan"), "Status": "Open", "Amount": Decimal("1.00")})
    assert a == b
    assert is_field_digest(a)
    assert not is_field_digest(content_hash({"Name": "Ada"}))
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert maker.digest({"Name": when}) == maker.digest({"Name": when.astimezone(timezone(timedelta(hours=2)))})


def test_changed_fields_names_each_changed_field_and_a_cleared_one() -> None:
    maker = DigestMaker(NAMES)
    before = maker.digest({"Name": "Ada", "Phone": "1", "Status": "Open", "Amount": 5})
    after = maker.digest({"Name": "Ada", "Phone": None, "Status": "Closed", "Amount": 5})
    assert maker.changed_fields(before, after) == {"Phone", "Status"}
    assert maker.changed_fields(before, before) == frozenset()
    # A value left out (not synced) is not the same as a cleared one.
    left_out = maker.digest({"Name": "Ada", "Status": "Closed", "Amount": 5})
    assert ABSENT in left_out
    assert maker.changed_fields(after, left_out) == {"Phone"}
    # Strings stay distinct from numbers; a text digests alike in whichever field it is.
    assert maker.changed_fields(maker.digest({"Name": "1"}), maker.digest({"Name": 1})) == {"Name"}
    assert maker.digest({"Name": "Open"})[5:13] == maker.digest({"Status": "Open"})[21:29]


def test_a_digest_of_another_mapping_or_an_older_store_names_no_fields() -> None:
    maker = DigestMaker(NAMES)
    other = DigestMaker(("Name", "Phone"))
    current = maker.digest({"Name": "Ada"})
    assert maker.changed_fields(other.digest({"Name": "Ada"}), current) is None
    assert maker.changed_fields(content_hash({"Name": "Ada"}), current) is None
    assert maker.changed_fields(None, current) is None


def test_merge_keeps_the_pending_fields_as_stored() -> None:
    maker = DigestMaker(NAMES)
    stored = maker.digest({"Name": "Ada", "Phone": "1", "Status": "Open", "Amount": 5})
    fresh = maker.digest({"Name": "Eve", "Phone": "2", "Status": "Open", "Amount": 5})
    merged = maker.merge(fresh, stored, {"Phone"})
    assert maker.changed_fields(stored, merged) == {"Name"}
    assert maker.changed_fields(merged, fresh) == {"Phone"}
    assert maker.merge(fresh, stored, set()) == fresh
    assert maker.merge(fresh, content_hash({"Name": "Ada"}), {"Phone"}) is None
