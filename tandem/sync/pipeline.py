"""Write one batch of planned pages while the next is planned.

A pass spends its time in two places that need not wait for each other: planning a page (reading the source
and the store, mapping, hashing: the flow's CPU) and writing a batch to the target and recording it (mostly
waiting on the target system). :class:`WritePipeline` runs the writes on one background thread, batch after
batch in the order they were planned, so the target works while the next batch is planned.

A pass whose batches are recorded in a second step (``then``: a two-way entity reads its written records back
before recording them) runs that step on a second thread, batch after batch in the same order: a batch is read
back and recorded while the next one is written. At most two batches are then in flight.

Batches are recorded in order, each page in its own transaction with its watermark, exactly as when the pass
writes page by page: a crash leaves at most the batches in flight (one, or two with ``then``) and the one being
planned unrecorded, and the next run settles their records by their link keys without writing them again. A batch
is never recorded after an earlier one failed to be.

A batch gathers pages until it holds ``gather`` source records (one page when ``gather`` is 0): a target with a
bulk interface (Salesforce's Bulk API 2.0) writes a large batch in one job instead of a call per 200 records.

What the pipeline cannot know, the pass tells it: a page is planned only once no batch being gathered or in
flight holds one of its source records (:meth:`WritePipeline.holds`), and a planned page that writes a target
some earlier unrecorded page writes too is planned again after that page is recorded.
"""

from __future__ import annotations

import contextvars
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Generic, TypeVar

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
    """Batches of planned pages written and recorded on background threads, in order.

    Args:
        finish: writes (and, without ``then``, records) one batch (a list of pages' work, in read order); without
            ``then`` its return value is collected by :meth:`drain`.
        gather: the source records a batch gathers before it is written (0: every page is a batch).
        then: records a batch written by ``finish`` (given what ``finish`` returned), on a second thread, while the
            next batch is written; its return value is collected by :meth:`drain`.
    """

    def __init__(
        self, finish: Callable[[list[R]], Any], *, gather: int = 0, then: Callable[[Any], T] | None = None
    ) -> None:
        self._finish = finish
        self._then = then
        self.gather = gather
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tandem-write")
        self._recorder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tandem-record") if then else None
        self._open: list[Planned[R]] = []
        self._open_keys: set[str] = set()
        #: The batches written or being recorded, oldest first: what each will give, and its keys.
        self._flights: deque[tuple[Future[T], frozenset[str]]] = deque()
        self._done: list[T] = []

    def holds(self, keys: Iterable[str]) -> bool:
        """Whether a page gathered or in flight holds any of ``keys`` (source ids, touched targets)."""
        held = [self._open_keys, *(flight_keys for _, flight_keys in self._flights)]
        return any(key in some for key in keys for some in held)

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
        self._wait(0)
        done, self._done = self._done, []
        return done

    def _submit(self) -> None:
        # One batch in flight at a time, or (with a second step) one written while the one before is recorded.
        self._wait(0 if self._recorder is None else 1)
        if not self._open:
            return
        batch, keys = [p.work for p in self._open], frozenset(self._open_keys)
        self._open, self._open_keys = [], set()
        # In the caller's context: the writer's log lines belong to the same run as the pass's.
        written = self._executor.submit(contextvars.copy_context().run, self._finish, batch)
        if self._recorder is None:
            self._flights.append((written, keys))
            return
        before = self._flights[-1][0] if self._flights else None
        recorded = self._recorder.submit(contextvars.copy_context().run, self._record, written, before)
        self._flights.append((recorded, keys))

    def _record(self, written: Future[Any], before: Future[T] | None) -> T:
        """The second step of a batch, once it is written: never after an earlier batch failed to be recorded."""
        if before is not None and before.exception() is not None:
            raise RuntimeError("not recorded: an earlier batch failed") from before.exception()
        assert self._then is not None
        return self._then(written.result())

    def _wait(self, keep: int) -> None:
        """Wait until at most ``keep`` batches are in flight (the oldest first), collecting their results."""
        while len(self._flights) > keep:
            flight, _ = self._flights.popleft()
            self._done.append(flight.result())

    def __enter__(self) -> WritePipeline[R, T]:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        # On an error the gathered pages are dropped unwritten (the next run reads them again); the batches in
        # flight are let finish, so what they wrote is also recorded (unless an earlier batch failed to be).
        self._executor.shutdown(wait=True)
        if self._recorder is not None:
            self._recorder.shutdown(wait=True)
