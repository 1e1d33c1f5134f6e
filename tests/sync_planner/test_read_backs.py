"""The run's record of what its read-backs saw (:mod:`tandem.sync.read_backs`): a record is known only with the
stamp the read-back saw, the latest read-back (or forgetting) of a record wins, and whole-second stamps leave out
the read-back's newest second (an edit in that second after the read-back would keep the stamp)."""

from __future__ import annotations

import pandas as pd

from tandem.store.tables import Side
from tandem.sync.read_backs import ReadBacks


def _stamps(*texts: str | None) -> pd.Series:
    return pd.to_datetime(pd.Series(list(texts), dtype=object), utc=True)


def _known(read_backs: ReadBacks, ids: list[str], stamps: pd.Series, side: Side = Side.CRM) -> list[bool]:
    return read_backs.unchanged("customer", side, pd.Series(ids), stamps).tolist()


def test_a_record_is_known_only_with_the_stamp_its_read_back_saw() -> None:
    read_backs = ReadBacks()
    stamps = _stamps("2026-12-06T10:00:00.120Z", "2026-12-06T10:00:00.450Z", "2026-12-06T10:00:01.000Z")
    read_backs.add("customer", Side.CRM, ["A", "B", "C"], stamps)
    assert read_backs.count("customer", Side.CRM) == 3
    later = _stamps("2026-12-06T10:00:01.000Z", "2026-12-06T10:00:02.300Z", "2026-12-06T10:00:00.120Z", None)
    # C as read back, B edited since (another stamp), X never read back, A without a stamp.
    assert _known(read_backs, ["C", "B", "X", "A"], later) == [True, False, False, False]
    assert _known(read_backs, ["A", "B"], stamps[:2]) == [True, True]
    # Another side (or entity) knows nothing.
    assert _known(read_backs, ["A"], stamps[:1], side=Side.ERP) == [False]


def test_the_latest_read_back_or_forgetting_of_a_record_wins() -> None:
    read_backs = ReadBacks()
    first, second = _stamps("2026-12-06T10:00:00.100Z"), _stamps("2026-12-06T10:00:05.200Z")
    read_backs.add("customer", Side.CRM, ["A"], first)
    assert _known(read_backs, ["A"], first) == [True]
    read_backs.add("customer", Side.CRM, ["A"], second)
    assert _known(read_backs, ["A"], first) == [False]
    assert _known(read_backs, ["A"], second) == [True]
    read_backs.forget("customer", Side.CRM, ["A"])  # its binding was written again otherwise
    assert _known(read_backs, ["A"], second) == [False]
    assert read_backs.count("customer", Side.CRM) == 0


def test_whole_second_stamps_leave_out_the_read_backs_newest_second() -> None:
    read_backs = ReadBacks()
    read_backs.add("customer", Side.CRM, ["B"], _stamps("2026-12-06T09:59:00.300Z"))
    stamps = _stamps("2026-12-06T10:00:00Z", "2026-12-06T10:00:01Z", "2026-12-06T10:00:01Z")
    read_backs.add("customer", Side.CRM, ["A", "B", "C"], stamps)
    # B and C were stamped in the newest second the read-back saw: an edit later in that second keeps the stamp
    # (and B's earlier read-back no longer holds).
    assert _known(read_backs, ["A", "B", "C"], stamps) == [True, False, False]
    assert _known(read_backs, ["B"], _stamps("2026-12-06T09:59:00.300Z")) == [False]


def test_a_read_back_without_stamps_keeps_nothing() -> None:
    read_backs = ReadBacks()
    read_backs.add("customer", Side.CRM, ["A"], _stamps(None))
    assert _known(read_backs, ["A"], _stamps(None)) == [False]
    assert read_backs.count("customer", Side.CRM) == 0
