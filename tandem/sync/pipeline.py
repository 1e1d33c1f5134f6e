"""Write one batch of planned pages while the next is planned.

A pass spends its time in two places that need not wait for each other: planning a page (reading the source
and the store, mapping, hashing: the flow's CPU) and writing a batch to the target and recording it (mostly
waiting on the target system). :class:`WritePipeline` runs the writes on one background thread, batch after
batch in the order they were planned, so the target works while the next batch is planned.

Batches are recorded in order, each page in its own transaction with its watermark, exactly as when the pass
writes page by page: a crash leaves at most the batch in flight and the one being planned unrecorded, and the
next run settles their records by their link keys without writing them again.

A batch gathers pages until it holds ``gather`` source records (one page when ``gather`` is 0): a target with a
bulk interface (Salesforce's Bulk API 2.0) writes a large batch in one job instead of a call per 200 records.

What the pipeline cannot know, the pass tells it: a page is planned only once no batch being gathered or in
flight holds one of its source records (:meth:`WritePipeline.holds`), and a planned page that writes a target
some earlier unrecorded page writes too is planned again after that page is recorded.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType
from typing import Generic, TypeVar

R = TypeVar("R")
T = TypeVar("T")


@dataclass
class Planned(Generic[R]):
    """A page whose plan is made, waiting to be written and recorded.

    Attributes:
        work: what the pass needs to write and record the page.
        rows: how many source records the page holds (what ``gather`` counts).
        keys: the page's source ids and the targets its writes touch (target ids and link keys): two pages
            holding a key in common are never in flight together.
    """

    work: R
    rows: int
    keys: frozenset[str] = field(default_factory=frozenset)


class WritePipeline(Generic[R, T]):
    """Batches of planned pages written and recorded on one background thread, in order.

    Args:
        finish: writes and records one batch (a list of pages' work, in read order); its return value is
            collected by :meth:`drain`.
        gather: the source records a batch gathers before it is written (0: every page is a batch).
    """

    def __init__(self, finish: Callable[[list[R]], T], *, gather: int = 0) -> None:
        self._finish = finish
        self.gather = gather
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tandem-write")
        self._open: list[Planned[R]] = []
        self._open_keys: set[str] = set()
        self._flight: Future[T] | None = None
        self._flight_keys: frozenset[str] = frozenset()
        self._done: list[T] = []

    def holds(self, keys: Iterable[str]) -> bool:
        """Whether a page gathered or in flight holds any of ``keys`` (source ids, touched targets)."""
        return any(key in self._open_keys or key in self._flight_keys for key in keys)

    def add(self, page: Planned[R]) -> None:
        """Gather a planned page; hand the batch to the writer once it holds ``gather`` source records."""
        self._open.append(page)
        self._open_keys |= page.keys
        if sum(p.rows for p in self._open) >= self.gather:
            self._submit()

    def drain(self) -> list[T]:
        """Write the gathered pages, wait for every batch, and return the batches' results in order (each
        result once).

        Raises:
            Exception: whatever writing or recording a batch raised.
        """
        self._submit()
        self._wait()
        done, self._done = self._done, []
        return done

    def _submit(self) -> None:
        self._wait()
        if not self._open:
            return
        batch, keys = [p.work for p in self._open], frozenset(self._open_keys)
        self._open, self._open_keys = [], set()
        # In the caller's context: the writer's log lines belong to the same run as the pass's.
        context = contextvars.copy_context()
        self._flight, self._flight_keys = self._executor.submit(context.run, self._finish, batch), keys

    def _wait(self) -> None:
        if self._flight is not None:
            flight, self._flight = self._flight, None
            self._flight_keys = frozenset()
            self._done.append(flight.result())

    def __enter__(self) -> WritePipeline[R, T]:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        # On an error the gathered pages are dropped unwritten (the next run reads them again); the batch in
        # flight is let finish, so what it wrote is also recorded.
        self._executor.shutdown(wait=True)
