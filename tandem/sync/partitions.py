"""Partitioned entity jobs: one entity's read split into id ranges that run apart (on several workers).

The job that splits (the parent) holds the connection's lock and records the job; for each direction it asks the
source for id ranges (:mod:`tandem.id_ranges`) and hands one :class:`PartitionSpec` per range to a runner (the flow
layer starts each as its own flow run on the work pool). Each partition runs the pass over its range only
(:func:`run_part`): it checks first that the parent still holds the lock (it takes none itself), checks the lock
again after every page, and never moves the watermark. Once every partition of a direction succeeded, the parent
tries again the failed records none of them read, then moves the watermark once, to where one unsplit pass would
have left it: the newest modification read, capped at the run's start (:func:`watermark_after`). A failed partition
fails the job and leaves the watermark where it was; what the other partitions wrote stays written (every write is
idempotent) and the next run reads it again.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

from tandem.errors import FatalSyncError
from tandem.id_ranges import IdRange, RangeReader
from tandem.mapping import Direction
from tandem.store import advance_watermark, session_scope
from tandem.store.tables import ConnectionLock
from tandem.store.types import utc_now
from tandem.sync.context import Route, SyncContext
from tandem.sync.entity_pass import EntityPass, PassResult
from tandem.sync.jobs import JobReport, job_report, recorded_job
from tandem.sync.part import PassPart

#: Fewer records than this per partition are not worth a flow run of their own (by default).
MIN_PARTITION_RECORDS = 5_000

_LOCKS: sa.Table = ConnectionLock.__table__  # type: ignore[attr-defined]


class PartitionError(RuntimeError):
    """A partition cannot run (the parent's lock is gone, or the state store is out of its reach), or one failed."""


class PartitionSpec(BaseModel):
    """What one partition runs: one id range of one entity's pass, within the parent's run.

    Attributes:
        connection_id: the connection in the state store.
        entity: the entity.
        direction: the pass's direction.
        index: the partition's number (1 to ``count``).
        count: how many partitions the pass was split into.
        low: the first source id of the range (``None``: from the first).
        high: the first source id after the range (``None``: to the last).
        since: read source records changed at or after this time (``None``: all).
        started_at: when the parent run started.
        run_id: the parent's run in the state store (``None`` in a dry run).
        job_id: the parent's job (record errors are filed under it).
        dry_run: report what would change, write nothing.
        holder: the flow run id holding the connection's lock (the parent's).
        host: the machine the parent runs on (a SQLite state store is a file on that machine).
    """

    model_config = ConfigDict(frozen=True)

    connection_id: int
    entity: str
    direction: Direction
    index: int
    count: int
    low: str | None = None
    high: str | None = None
    since: datetime | None = None
    started_at: datetime
    run_id: int | None = None
    job_id: int | None = None
    dry_run: bool = False
    holder: str
    host: str

    @property
    def id_range(self) -> IdRange:
        """The source ids the partition reads."""
        return IdRange(self.low, self.high)

    @property
    def label(self) -> str:
        """``customer to_erp 2/4``: the partition in logs and flow run names."""
        return f"{self.entity} {self.direction.value} {self.index}/{self.count}"


@dataclass
class PartOutcome:
    """What one partition did (or why it failed).

    Attributes:
        index: the partition's number.
        result: what its pass did.
        newest: the newest modification it read (``None``: it read no record).
        unread_retries: the records to try again (failed before, or coupled by hand) its range did not yield.
        error: why it failed (``None`` when it succeeded).
    """

    index: int
    result: PassResult = field(default_factory=PassResult)
    newest: datetime | None = None
    unread_retries: list[str] = field(default_factory=list)
    error: str | None = None


#: Runs the partitions of one pass (each as its own flow run, or here in turn) and returns their outcomes in order.
PartRunner = Callable[[list[PartitionSpec]], list[PartOutcome]]


def require_lock(context: SyncContext, holder: str) -> None:
    """Check that ``holder`` (the parent run) holds the connection's lock now.

    Raises:
        PartitionError: the lock is free, expired or held by another run (the parent is gone).
    """
    with session_scope(context.store, write=False) as session:
        row = session.execute(
            sa.select(_LOCKS.c.holder, _LOCKS.c.expires_at).where(_LOCKS.c.connection_id == context.connection_id)
        ).first()
    if row is None or row.holder != holder or row.expires_at <= utc_now():
        owner = "nobody" if row is None or row.expires_at <= utc_now() else f"flow run {row.holder}"
        raise PartitionError(
            f"connection {context.connection_id}: its lock is held by {owner}, not by the parent run {holder}: "
            "the partition stops (a partition runs only while the run that split the job holds the lock)"
        )


def require_reachable_store(context: SyncContext, host: str) -> None:
    """Refuse a SQLite state store on another machine than the parent's: that is another file there.

    Raises:
        PartitionError: the store is SQLite and this machine is not the parent's.
    """
    here = socket.gethostname()
    if context.store.dialect.name == "sqlite" and host != here:
        raise PartitionError(
            f"the state store is a SQLite file on {host}, where the parent run is, and this partition runs on "
            f"{here}: partitions on several machines (containers, pods) need a PostgreSQL state store"
        )


@dataclass
class _LockCheck:
    """A page listener that checks after every page that the parent still holds the lock."""

    context: SyncContext
    holder: str

    def __call__(self, entity: str, direction: Direction, records: int, total: int | None) -> None:
        require_lock(self.context, self.holder)


def run_part(context: SyncContext, spec: PartitionSpec) -> PartOutcome:
    """Run one partition: the pass of ``spec``'s entity and direction over its id range, in the parent's run.

    Args:
        context: a context of the connection built where the partition runs, with the parent's run (``run_id``,
            ``started_at``, ``dry_run``).
        spec: the partition.

    Returns:
        What it did, the newest modification it read and the records to try again it did not read.

    Raises:
        PartitionError: the parent does not hold the lock (checked before and after every page), or the
            state store is a SQLite file of another machine.
    """
    require_reachable_store(context, spec.host)
    require_lock(context, spec.holder)
    route = Route.of(context.mappings.entity(spec.entity), spec.direction)
    part = PassPart(spec.id_range)
    checked = replace(context, on_page=_LockCheck(context, spec.holder))
    result = EntityPass(checked, route, job_id=spec.job_id).run(spec.since, part=part)
    return PartOutcome(spec.index, result, part.newest, sorted(part.unread_retries))


def watermark_after(newest: Sequence[datetime | None], started_at: datetime) -> datetime | None:
    """Where one unsplit pass would leave the watermark: the newest modification any partition read, capped at the
    run's start; ``None`` when no partition read a record (the watermark stays)."""
    read = [moment for moment in newest if moment is not None]
    return min(max(read), started_at) if read else None


def split_source(context: SyncContext, route: Route, partitions: int, min_records: int) -> list[IdRange]:
    """The id ranges to split ``route``'s read into (one whole range: do not split).

    Raises:
        FatalSyncError: ``PARTITIONS_UNSUPPORTED`` when the source system cannot read an id range.
    """
    if partitions < 2:
        return [IdRange()]
    source = route.source_adapter(context)
    if not isinstance(source, RangeReader):
        raise FatalSyncError(
            f"{source.system} cannot split a read by record ids (its search API caps a query's results and its rate "
            "limits leave nothing to gain): run this connection with one partition",
            code="PARTITIONS_UNSUPPORTED", system=route.source_side.value,
        )
    return source.id_ranges(route.source_object, partitions, min_records=min_records)


def run_partitioned_job(
    context: SyncContext,
    entity_name: str,
    *,
    partitions: int,
    run_parts: PartRunner,
    holder: str,
    since: datetime | None = None,
    min_records: int = MIN_PARTITION_RECORDS,
    directions: tuple[Direction, ...] = (Direction.TO_CRM, Direction.TO_ERP),
) -> JobReport:
    """Sync one entity with each direction's read split into up to ``partitions`` id ranges run by ``run_parts``.

    A direction whose source has too few records (less than ``min_records`` a partition) runs here, unsplit.

    Args:
        context: the run's context (the caller holds the connection's lock as ``holder``).
        entity_name: the entity.
        partitions: how many partitions to split each direction's read into, at most.
        run_parts: runs a direction's partitions and returns their outcomes.
        holder: the lock's holder (the parent flow run's id).
        since: read source records changed at or after this time (``None``: all).
        min_records: the fewest records a partition should have on average.
        directions: the directions this run may move records in.

    Returns:
        The job's report, its counts those of every partition.

    Raises:
        PartitionError: a partition failed (the job is recorded failed; the watermark stays).
        FatalSyncError: ``PARTITIONS_UNSUPPORTED`` when a source cannot split its read.
    """
    entity = context.mappings.entity(entity_name)
    result = PassResult()
    ran = tuple(direction for direction in directions if entity.direction.includes(direction))
    with recorded_job(context, entity_name) as job:
        for direction in ran:
            route = Route.of(entity, direction)
            ranges = split_source(context, route, partitions, min_records)
            if len(ranges) < 2:
                result.absorb(EntityPass(context, route, job_id=job.id).run(since))
                continue
            specs = [
                PartitionSpec(
                    connection_id=context.connection_id, entity=entity_name, direction=direction, index=index,
                    count=len(ranges), low=id_range.low, high=id_range.high, since=since,
                    started_at=context.started_at, run_id=context.run_id, job_id=job.id, dry_run=context.dry_run,
                    holder=holder, host=socket.gethostname(),
                )
                for index, id_range in enumerate(ranges, start=1)
            ]
            outcomes = run_parts(specs)
            failed = [f"{spec.label}: {outcome.error}" for spec, outcome in zip(specs, outcomes, strict=True)
                      if outcome.error is not None]
            if failed:
                raise PartitionError(f"{len(failed)} of {len(specs)} partitions failed: {'; '.join(failed)}")
            for outcome in outcomes:
                result.absorb(outcome.result)
            unread = set.intersection(*(set(outcome.unread_retries) for outcome in outcomes))
            if unread:
                result.absorb(EntityPass(context, route, job_id=job.id).run_ids(sorted(unread)))
            watermark = watermark_after([outcome.newest for outcome in outcomes], context.started_at)
            if watermark is not None and not context.dry_run:
                with session_scope(context.store) as session:
                    advance_watermark(session, context.connection_id, entity_name, route.source_side, watermark)
        job.counts = result.counts
    return job_report(entity_name, result, ran)
