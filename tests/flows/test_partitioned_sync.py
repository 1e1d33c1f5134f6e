"""Partitioned entity jobs (tandem/sync/partitions.py), in this process: the same final state as one unsplit job.

The partitions run here, at the same time in threads, through the same :func:`run_part` a ``sync-partition`` flow
run calls on a worker (tests/deployments/test_partitioned_workers.py runs them on two workers of a real server);
the parent takes the connection's lock as a flow run does. Both emulators start from their demo data each time.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine
from sqlmodel import select

from blocks.connection import SyncConnection
from tandem.adapter import RecordAdapter
from tandem.mapping import Direction, MappingSet
from tandem.store import list_watermarks, session_scope
from tandem.store.locks import connection_lock
from tandem.store.tables import Binding, JobState, SyncJob
from tandem.sync.context import SyncContext
from tandem.sync.jobs import run_entity_job
from tandem.sync.partitions import (
    PartitionError,
    PartitionSpec,
    PartOutcome,
    run_part,
    run_partitioned_job,
)
from tasks.partition import partition_context
from tasks.setup import begin_run, open_connection
from tests.flows.conftest import save_connection
from tests.support.emulator import RunningEmulator

#: In dependency order; the payment terms are too few to split (they run unsplit, in the parent).
ENTITIES = ["payment_term", "customer", "contact"]
HOLDER = "parent-flow-run"


def read_all(adapter: RecordAdapter, entity: str, fields: list[str]) -> pd.DataFrame:
    """Every record of ``entity`` with ``fields``."""
    pages = list(adapter.read_changed_since(entity, None, fields=fields, page_size=1000))
    return pd.concat(pages, ignore_index=True) if pages else pd.DataFrame(columns=["id", *fields])


def system_state(mappings: MappingSet, crm: RecordAdapter, erp: RecordAdapter, entities: list[str]) -> dict[str, Any]:
    """The mapped fields of every record of ``entities`` on both sides, without record ids (a record created by a
    sync gets whichever id its turn gives it): each record by its link key, a reference by the referenced record's
    link key."""
    frames: dict[tuple[str, str], pd.DataFrame] = {}
    links: dict[tuple[str, str], dict[str, Any]] = {}
    for name in entities:
        entity = mappings.entity(name)
        for side, adapter, obj, key in (("crm", crm, entity.crm_object, entity.crm_key),
                                        ("erp", erp, entity.erp_type, "externalId")):
            fields = [f.crm if side == "crm" else f.erp for f in entity.fields]
            frame = read_all(adapter, obj, list(dict.fromkeys([key, *fields])))
            frames[(name, side)] = frame
            # A CRM record never sent to the ERP has no link key yet: its id stands for it (seeded ids are fixed).
            links[(name, side)] = dict(zip(frame["id"], frame[key].fillna(frame["id"]), strict=True))
    state: dict[str, Any] = {}
    for (name, side), frame in frames.items():
        entity = mappings.entity(name)
        key = entity.crm_key if side == "crm" else "externalId"
        rows = []
        for record in frame.astype(object).where(frame.notna(), None).to_dict("records"):
            row = {"link": record[key] or record["id"]}
            for f in entity.fields:
                column = f.crm if side == "crm" else f.erp
                value = record.get(column)
                if f.reference in entities and value is not None:
                    value = links[(str(f.reference), side)].get(str(value), f"unknown {value}")
                row[column] = value
            rows.append(row)
        state[f"{name} {side}"] = sorted(rows, key=lambda r: str(r["link"]))
    return state


def store_state(store: Engine) -> list[tuple[Any, ...]]:
    """Every binding as (entity, link, status, has a CRM id, has an ERP id)."""
    with session_scope(store, write=False) as session:
        bindings = session.exec(select(Binding)).all()
        rows = [(b.entity, b.external_id, b.status.value, b.crm_id is not None, b.erp_id is not None)
                for b in bindings]
    return sorted(rows, key=str)


def watermark_shape(context: SyncContext, source_newest: dict[tuple[str, str], datetime]) -> dict[str, str]:
    """Each watermark as the rule names it: ``run start`` (capped there) or ``newest read`` (the newest source record
    as it was before the run); anything else is its value."""
    started_at = context.started_at
    shape = {}
    with session_scope(context.store, write=False) as session:
        for mark in list_watermarks(session, context.connection_id):
            key = (mark.entity, mark.side.value)
            if mark.value == started_at:
                shape[f"{mark.entity} {mark.side.value}"] = "run start"
            elif key in source_newest and mark.value == source_newest[key]:
                shape[f"{mark.entity} {mark.side.value}"] = "newest read"
            else:
                shape[f"{mark.entity} {mark.side.value}"] = mark.value.isoformat()
    return shape


def newest_on_erp(erp: RecordAdapter, mappings: MappingSet, entities: list[str]) -> dict[tuple[str, str], datetime]:
    """The newest modification of each entity's ERP records now (a full sync's first pass reads them as they are)."""
    return {(name, "erp"): read_all(erp, mappings.entity(name).erp_type, ["externalId"])["modified_at"].max()
            .to_pydatetime() for name in entities}


@contextmanager
def parent_run(block: SyncConnection) -> Iterator[SyncContext]:
    """The connection opened and locked as a full sync flow run opens it, with its run recorded."""
    opened: SyncContext = open_connection.fn(block, name="parts", procedure="full-sync", entities=ENTITIES,
                                             dry_run=False)
    with connection_lock(opened.store, opened.connection_id, holder=HOLDER):
        yield begin_run(opened, "full-sync", ENTITIES, flow_run_id=HOLDER)


def in_threads(block: SyncConnection) -> Any:
    """A runner that runs a pass's partitions at the same time, each in its own thread with its own context (as
    each flow run on a worker builds its own)."""

    def run(specs: list[PartitionSpec]) -> list[PartOutcome]:
        with ThreadPoolExecutor(max_workers=len(specs)) as pool:
            return list(pool.map(lambda spec: run_part(partition_context(block, spec), spec), specs))

    return run


def sync_and_capture(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path, name: str, partitions: int
) -> tuple[dict[str, Any], list[tuple[Any, ...]], dict[str, str], list[int]]:
    """Sync the entities from the demo data (split into ``partitions`` or not); the systems', the bindings' and the
    watermarks' state after, and how many partitions each direction had."""
    crm, erp = fresh
    for emulator in (crm, erp):
        emulator.control("POST", "reset", json={"seed": "demo"})
    block = save_connection(name, crm, erp, tmp_path / f"{name}.sqlite3")
    counts: list[int] = []

    def counted(specs: list[PartitionSpec]) -> list[PartOutcome]:
        counts.append(len(specs))
        outcomes: list[PartOutcome] = in_threads(block)(specs)
        return outcomes

    with parent_run(block) as context:
        newest = newest_on_erp(context.erp, context.mappings, ENTITIES)
        for entity in ENTITIES:
            if partitions == 1:
                report = run_entity_job(context, entity)
            else:
                report = run_partitioned_job(context, entity, partitions=partitions, run_parts=counted, holder=HOLDER,
                                             min_records=50)
            assert report.state is JobState.SUCCEEDED and report.counts.failed == 0, report.failures[:3]
    return (system_state(context.mappings, context.crm, context.erp, ENTITIES),
            store_state(context.store), watermark_shape(context, newest), counts)


def test_a_partitioned_job_ends_in_the_state_one_unsplit_job_leaves(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path
) -> None:
    systems, bindings, watermarks, _ = sync_and_capture(fresh, tmp_path, "whole", 1)
    split_systems, split_bindings, split_watermarks, counts = sync_and_capture(fresh, tmp_path, "split", 3)

    assert counts == [3, 3, 3, 3]  # both directions of both entities, three partitions each
    assert split_systems == systems
    assert split_bindings == bindings
    assert split_watermarks == watermarks
    assert {k: v for k, v in watermarks.items() if not k.startswith("payment_term")} == {
        "contact crm": "run start", "contact erp": "newest read",
        "customer crm": "run start", "customer erp": "newest read",
    }


def test_a_failed_partition_fails_the_job_and_leaves_the_watermark(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path
) -> None:
    crm, erp = fresh
    block = save_connection("failing", crm, erp, tmp_path / "failing.sqlite3")

    def second_loses_the_lock(specs: list[PartitionSpec]) -> list[PartOutcome]:
        # The second partition runs for a parent that no longer holds the lock (its lease ran out, another run took
        # it): it refuses to sync, as a partition whose parent died does.
        outcomes = []
        for spec in specs:
            if spec.index == 2:
                spec = spec.model_copy(update={"holder": "a-run-that-died"})
            try:
                outcomes.append(run_part(partition_context(block, spec), spec))
            except PartitionError as exc:
                outcomes.append(PartOutcome(spec.index, error=str(exc)))
        return outcomes

    with parent_run(block) as context:
        with pytest.raises(PartitionError, match=r"1 of 3 partitions failed: customer to_crm 2/3: .*not by the parent"):
            run_partitioned_job(context, "customer", partitions=3, run_parts=second_loses_the_lock, holder=HOLDER,
                                min_records=50)
        with session_scope(context.store, write=False) as session:
            assert list_watermarks(session, context.connection_id) == []
            jobs = session.exec(select(SyncJob).where(SyncJob.entity == "customer")).all()
            assert [job.state for job in jobs] == [JobState.FAILED]


def test_a_partition_refuses_to_run_without_its_parents_lock_or_with_a_sqlite_store_of_another_machine(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path
) -> None:
    crm, erp = fresh
    block = save_connection("refusing", crm, erp, tmp_path / "refusing.sqlite3")
    with parent_run(block) as context:
        spec = PartitionSpec(connection_id=context.connection_id, entity="customer", direction=Direction.TO_ERP,
                             index=1, count=2, high="5", started_at=context.started_at, run_id=context.run_id,
                             holder=HOLDER, host="another-machine")
        with pytest.raises(PartitionError, match=r"SQLite file on another-machine.*need a PostgreSQL state store"):
            run_part(partition_context(block, spec), spec)
    # The parent's lock was released when it finished: a partition started after it refuses.
    here = spec.model_copy(update={"host": socket.gethostname()})
    with pytest.raises(PartitionError, match="held by nobody, not by the parent run parent-flow-run"):
        run_part(partition_context(block, here), here)
