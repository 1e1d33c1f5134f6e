"""The write pipeline: batches written in order on one thread, while the caller plans the next."""

from __future__ import annotations

import contextvars
import threading

import pytest

from tandem.sync.pipeline import Planned, WritePipeline

RUN = contextvars.ContextVar("RUN", default="none")


def test_batches_are_gathered_up_to_the_gather_size_and_written_in_order() -> None:
    written: list[list[str]] = []
    threads: set[str] = set()

    def finish(batch: list[str]) -> int:
        threads.add(threading.current_thread().name)
        written.append(batch)
        return len(batch)

    with WritePipeline[str, int](finish, gather=250) as pipeline:
        for n in range(7):
            pipeline.add(Planned(f"page {n}", rows=100, keys=frozenset({f"id {n}"})))
        assert pipeline.drain() == [3, 3, 1]
    assert written == [["page 0", "page 1", "page 2"], ["page 3", "page 4", "page 5"], ["page 6"]]
    assert threads and all(name.startswith("tandem-write") for name in threads)


def test_without_gathering_every_page_is_a_batch() -> None:
    with WritePipeline[int, int](sum) as pipeline:
        for n in range(3):
            pipeline.add(Planned(n, rows=1000))
        assert pipeline.drain() == [0, 1, 2]


def test_the_keys_of_pages_gathered_or_in_flight_are_held_until_drained() -> None:
    release = threading.Event()

    def finish(batch: list[str]) -> None:
        release.wait(5)

    with WritePipeline[str, None](finish, gather=2) as pipeline:
        pipeline.add(Planned("a", rows=1, keys=frozenset({"1", "target 9"})))
        assert pipeline.holds({"target 9"}) and not pipeline.holds({"2"})
        pipeline.add(Planned("b", rows=1, keys=frozenset({"2"})))  # the batch is full: in flight
        assert pipeline.holds({"1"}) and pipeline.holds({"2"})
        release.set()
        pipeline.drain()
        assert not pipeline.holds({"1", "2", "target 9"})


def test_an_error_in_a_batch_reaches_the_caller() -> None:
    def finish(batch: list[str]) -> None:
        raise RuntimeError(f"the target refused {batch}")

    with WritePipeline[str, None](finish) as pipeline, pytest.raises(RuntimeError, match="refused"):
        pipeline.add(Planned("a", rows=1))
        pipeline.drain()


def test_the_writer_runs_in_the_callers_context() -> None:
    seen: list[str] = []
    RUN.set("flow run 7")
    with WritePipeline[str, None](lambda batch: seen.append(RUN.get())) as pipeline:
        pipeline.add(Planned("a", rows=1))
        pipeline.drain()
    assert seen == ["flow run 7"]
