"""What a run's read-backs saw, so the opposite pass of the same run need not map those records again.

A pass of a two-way entity reads back every record it wrote and stores, as the target side's digest, the digest
the opposite pass computes from that record (:meth:`tandem.sync.entity_pass.EntityPass._reverse_hashes`): the
opposite pass then sees it unchanged (no echo). In the same run the opposite pass reads those records again, and
would map and digest each one only to find that digest. :class:`ReadBacks` keeps, per entity and side, the
modification stamp each record had when it was read back. A record the opposite pass reads with the same stamp
holds the same content (every edit moves the stamp), and its binding holds the digest stored from it: it is
unchanged without being mapped. The binding holds it because nothing else writes it meanwhile: a binding the run
writes again otherwise makes the record forgotten here (:meth:`ReadBacks.forget`), and no other run writes the
connection's bindings (it holds the connection's lock).

Only what a read-back proves is kept:

* records whose stored digest is the read-back's own (not one merged with the target's pending edits), whose
  binding was recorded (not a binding conflict), and whose mapping back left no field out (an unresolved
  reference or a value a value map skips could map differently later);
* when the stamps carry whole seconds only (a system whose stamps have one-second resolution), an edit made
  after the read-back in the same second would keep the stamp: the records stamped in the read-back's newest
  second (no read can prove the server's clock was past it) are left out, and are mapped as before.

It lives in the run's :class:`tandem.sync.context.SyncContext`, in memory: a process that did not write the records
(a partition run by another worker, the next run) knows nothing and maps every record, as without it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tandem.store.tables import Side

_SECOND_NS = 1_000_000_000
_MISSING = np.iinfo(np.int64).min


def stamps_ns(values: pd.Series) -> np.ndarray:
    """Modification stamps as UTC nanoseconds since the epoch (``int64``; a missing stamp is NaT's minimum)."""
    stamps = pd.to_datetime(values, utc=True, errors="coerce")
    return stamps.dt.tz_localize(None).astype("datetime64[ns]").to_numpy().view("int64")


@dataclass
class ReadBacks:
    """Per (entity, side): the stamp of each record read back after this run wrote it (see the module docstring)."""

    _added: dict[tuple[str, Side], list[pd.Series]] = field(default_factory=dict)
    _known: dict[tuple[str, Side], pd.Series] = field(default_factory=dict)
    #: Ids forgotten since they were last added (kept apart: forgetting a few never rebuilds the known stamps).
    _forgotten: dict[tuple[str, Side], set[str]] = field(default_factory=dict)
    #: A pass records its batches on one thread while it plans on another (and the opposite pass may too).
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, entity: str, side: Side, ids: Sequence[str], stamps: pd.Series) -> None:
        """Keep records of ``entity`` on ``side`` as a read-back saw them; their bindings now store the digest the
        read-back gave.

        Args:
            entity: the entity.
            side: the side the records are on (the side the pass wrote).
            ids: their ids.
            stamps: their modification stamps as the read-back returned them, aligned with ``ids``.
        """
        if not len(ids):
            return
        ns = stamps_ns(stamps)
        keep = ns != _MISSING
        if keep.any() and not (ns[keep] % _SECOND_NS).any():
            # Whole seconds only: an edit in the read-back's newest second would keep its stamp.
            newest_second = ns[keep].max() // _SECOND_NS * _SECOND_NS
            keep &= ns < newest_second
        # A record left out is kept as unknown: an earlier read-back of it no longer holds either.
        kept = pd.array(np.where(keep, ns, 0), dtype="Int64")
        kept[~keep] = pd.NA
        stamped = pd.Series(kept, index=pd.Index(list(ids), dtype=object, name="id"))
        with self._lock:
            self._added.setdefault((entity, side), []).append(stamped)
            self._forgotten.get((entity, side), set()).difference_update(ids)

    def forget(self, entity: str, side: Side, ids: Sequence[str]) -> None:
        """Forget records of ``entity`` on ``side`` whose binding this run wrote again without their read-back's
        digest (a failure, an exclusion, another write): what was kept of them no longer holds."""
        with self._lock:
            if ids and ((entity, side) in self._known or (entity, side) in self._added):
                self._forgotten.setdefault((entity, side), set()).update(ids)

    def count(self, entity: str, side: Side) -> int:
        """How many records of ``entity`` on ``side`` are known."""
        with self._lock:
            known = self._merged((entity, side))
            if known is None:
                return 0
            forgotten = known.index.isin(list(self._forgotten.get((entity, side), ())))
            return int((known.notna() & ~forgotten).sum())

    def unchanged(self, entity: str, side: Side, ids: pd.Series, stamps: pd.Series) -> np.ndarray:
        """For each record of a page (its ids and stamps): whether a read-back saw it with the same stamp.

        Returns:
            A boolean array aligned with ``ids``.
        """
        texts = ids.astype(str)
        with self._lock:
            known = self._merged((entity, side))
            if known is None or not len(ids):
                return np.zeros(len(ids), dtype=bool)
            seen = known.reindex(texts.to_numpy())  # nullable: no float round trip of the stamps
            forgotten = self._forgotten.get((entity, side))
            if forgotten:
                seen[texts.isin(forgotten).to_numpy()] = pd.NA
        return np.asarray((seen.array == pd.array(stamps_ns(stamps), dtype="Int64")).fillna(False), dtype=bool)

    def _merged(self, key: tuple[str, Side]) -> pd.Series | None:
        """The stamps kept for ``key``, one per id (the latest read-back of an id wins; call with the lock held)."""
        added = self._added.pop(key, [])
        known = self._known.get(key)
        if added:
            stamps = pd.concat([*([known] if known is not None else []), *added])
            known = self._known[key] = stamps[~stamps.index.duplicated(keep="last")]
        return known
