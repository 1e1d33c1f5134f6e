"""The full-synchronization review: a connection's entities in dependency order, each with its job's state in
a run (the latest full sync unless told), its last counts and its integration table mapping — what Business
Central's *full synchronization review* and *integration table mappings* windows show.

Everything comes from the state store (``sync_runs``, ``sync_jobs``, ``record_errors``, ``bindings``) and the
connection's mapping set; no system is called. A job's counts are stored when it ends, so a *running* job's
progress is the number of its entity's records written, coupled or failed since the job started (bindings
touched since then): records found unchanged are not in it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from tandem.mapping import Direction, EntityMapping, MappingSet, referenced_entities
from tandem.store.runs import JobCounts
from tandem.store.tables import Binding, Connection, JobState, RecordError, RunState, SyncJob, SyncRun

_BINDINGS: sa.Table = Binding.__table__  # type: ignore[attr-defined]
_CONNECTIONS: sa.Table = Connection.__table__  # type: ignore[attr-defined]
_ERRORS: sa.Table = RecordError.__table__  # type: ignore[attr-defined]
_JOBS: sa.Table = SyncJob.__table__  # type: ignore[attr-defined]
_RUNS: sa.Table = SyncRun.__table__  # type: ignore[attr-defined]

#: Where ``tandem serve`` shows the review.
REVIEW_PATH = "/review"
#: The procedure the review shows unless told otherwise.
FULL_SYNC = "full-sync"
#: How each way reads.
DIRECTION_WORDS = {Direction.TO_CRM: "ERP → Salesforce", Direction.TO_ERP: "Salesforce → ERP",
                   Direction.BOTH: "both ways"}


class JobStatus(StrEnum):
    """An entity's job in the run shown, as the review names it."""

    WAITING = "waiting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    NOT_IN_RUN = "not in this run"
    NEVER_RUN = "no run yet"


@dataclass(frozen=True)
class RunSummary:
    """The run the review shows.

    Attributes:
        id: the state store's run id.
        procedure: ``full-sync`` ...
        state: ``running``, ``succeeded``, ``failed``, ``cancelled`` or ``crashed``.
        started_at: when it started.
        finished_at: when it ended (``None`` while it runs).
        flow_run_id: its Prefect flow run.
        message: why it ended so, when that needs saying.
    """

    id: int
    procedure: str
    state: str
    started_at: datetime
    finished_at: datetime | None
    flow_run_id: str | None
    message: str | None

    def as_dict(self) -> dict[str, Any]:
        """The run as JSON-ready data."""
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat()
        data["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        return data


@dataclass(frozen=True)
class JobView:
    """One entity's job in the run shown.

    Attributes:
        status: see :class:`JobStatus`.
        detail: the state in a sentence (records done, the reason, the blocking dependencies).
        records_done: a running job's records written, coupled or failed so far.
        counts: a finished job's counts (``inserted``, ``modified``, ... ``coupled``).
        started_at: when it started.
        finished_at: when it ended.
        reason: why it failed or was skipped.
        blocked_by: a skipped job's dependencies that did not succeed.
        error_codes: its record errors by code (records that failed without failing the job).
    """

    status: JobStatus
    detail: str
    records_done: int | None = None
    counts: dict[str, int] | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    reason: str | None = None
    blocked_by: list[str] = field(default_factory=list)
    error_codes: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The job as JSON-ready data."""
        data = asdict(self)
        data["status"] = self.status.value
        data["started_at"] = self.started_at.isoformat() if self.started_at else None
        data["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        return data


@dataclass(frozen=True)
class LastCounts:
    """The counts of an entity's latest finished job of the procedure (this run's, once it has ended)."""

    run_id: int
    state: str
    finished_at: datetime | None
    counts: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        """The counts as JSON-ready data."""
        data = asdict(self)
        data["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        return data


@dataclass(frozen=True)
class EntityReview:
    """One row of the review: an entity, its job, its last counts and its mapping.

    Attributes:
        entity: the entity.
        level: its place in the dependency order (1 runs first; entities of one level run side by side).
        enabled: whether the connection syncs it.
        job: its job in the run shown.
        last: its latest finished job's counts, if any.
        mapping: the integration table mapping (see :func:`mapping_view`).
    """

    entity: str
    level: int
    enabled: bool
    job: JobView
    last: LastCounts | None
    mapping: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """The row as JSON-ready data."""
        return {"entity": self.entity, "level": self.level, "enabled": self.enabled, "job": self.job.as_dict(),
                "last": self.last.as_dict() if self.last else None, "mapping": self.mapping}


@dataclass(frozen=True)
class Review:
    """The review of a connection: the run shown (``None`` before any) and one row per entity, in order."""

    connection: str
    procedure: str
    run: RunSummary | None
    entities: list[EntityReview]

    @property
    def running(self) -> bool:
        """Whether the run shown is still running (the page refreshes itself then)."""
        return self.run is not None and self.run.state == RunState.RUNNING.value

    def as_dict(self) -> dict[str, Any]:
        """The review as JSON-ready data."""
        return {"connection": self.connection, "procedure": self.procedure, "running": self.running,
                "run": self.run.as_dict() if self.run else None,
                "entities": [row.as_dict() for row in self.entities]}


def mapping_view(entity: EntityMapping) -> dict[str, Any]:
    """An entity's integration table mapping as data: objects, direction, keys, fields, value maps, filters."""
    fields = []
    for f in entity.fields:
        direction = entity.field_direction(f)
        fields.append({
            "crm": f.crm, "erp": f.erp, "direction": direction.value, "type": f.type,
            "only_on_create": f.only_on_create, "template": f.template, "reference": referenced_entities(f),
            "value_map": [{"crm": p.crm, "erp": p.erp, "direction": (p.direction or direction).value}
                          for p in f.values or []],
            "not_synced": {"crm": list(f.not_synced.crm), "erp": list(f.not_synced.erp)},
        })
    return {
        "crm_object": entity.crm_object, "erp_type": entity.erp_type, "direction": entity.direction.value,
        "crm_key": entity.crm_key, "depends_on": sorted(entity.dependencies()),
        "match_keys": [[{"crm": k.crm, "erp": k.erp} for k in group] for group in entity.match_keys],
        "filters": [f.describe() for f in entity.filters], "deletion": entity.deletion.value,
        "only_new_to_crm": entity.only_new_to_crm, "create_missing": entity.create_missing,
        "transactional": entity.transactional, "fields": fields,
    }


def _counts(row: Any) -> dict[str, int]:
    return {name: int(row[name]) for name in JobCounts.__dataclass_fields__}


def _describe_counts(counts: Mapping[str, int]) -> str:
    shown = [f"{value:,} {name}" for name, value in counts.items() if value]
    return ", ".join(shown) or "nothing to do"


@dataclass(frozen=True)
class ReviewSource:
    """What a review is made from: the connection's name, state store, mapping set and enabled entities."""

    connection: str
    store: Engine
    mappings: MappingSet
    enabled_entities: Sequence[str]

    def order(self) -> list[tuple[int, str]]:
        """Every entity of the mapping set with its level, in dependency order."""
        return [(number, name) for number, level in enumerate(self.mappings.levels(), start=1) for name in level]

    def review(
        self, *, run_id: int | None = None, procedure: str = FULL_SYNC, reasons: Mapping[str, str] | None = None
    ) -> Review:
        """The review of one run: ``run_id``, else the latest run of ``procedure``.

        Args:
            run_id: the state store run to show (of this connection).
            procedure: the procedure whose latest run to show, and whose last counts to give.
            reasons: why jobs failed, by entity, when known from elsewhere (the run's published report).

        Raises:
            LookupError: ``run_id`` is not a run of this connection.
        """
        with self.store.connect() as db:
            connection_id = db.execute(
                sa.select(_CONNECTIONS.c.id).where(_CONNECTIONS.c.name == self.connection)
            ).scalar_one_or_none()
            run = self._run(db, connection_id, run_id, procedure)
            if run is not None:
                procedure = str(run["procedure"])
            jobs = self._jobs(db, run["id"]) if run is not None else {}
            errors = self._error_codes(db, run["id"]) if run is not None else {}
            done = self._records_done(db, connection_id, jobs)
            last = self._last_counts(db, connection_id, procedure)
        summary = None if run is None else RunSummary(
            id=int(run["id"]), procedure=str(run["procedure"]), state=str(run["state"]),
            started_at=run["started_at"], finished_at=run["finished_at"], flow_run_id=run["flow_run_id"],
            message=run["message"],
        )
        rows = []
        for level, name in self.order():
            job = self._job_view(name, summary, jobs, errors.get(name, {}), done.get(name), reasons or {})
            rows.append(EntityReview(
                entity=name, level=level, enabled=name in self.enabled_entities, job=job, last=last.get(name),
                mapping=mapping_view(self.mappings.entity(name)),
            ))
        return Review(connection=self.connection, procedure=procedure, run=summary, entities=rows)

    def _run(self, db: sa.Connection, connection_id: int | None, run_id: int | None, procedure: str) -> Any:
        if connection_id is None:
            if run_id is not None:
                raise LookupError(f"connection {self.connection!r} has no run {run_id} (it has not run yet)")
            return None
        statement = sa.select(_RUNS).where(_RUNS.c.connection_id == connection_id)
        if run_id is not None:
            found = db.execute(statement.where(_RUNS.c.id == run_id)).mappings().first()
            if found is None:
                raise LookupError(f"connection {self.connection!r} has no run {run_id}")
            return found
        statement = statement.where(_RUNS.c.procedure == procedure)
        return db.execute(statement.order_by(_RUNS.c.started_at.desc(), _RUNS.c.id.desc()).limit(1)).mappings().first()

    @staticmethod
    def _jobs(db: sa.Connection, run_id: int) -> dict[str, Any]:
        rows = db.execute(sa.select(_JOBS).where(_JOBS.c.run_id == run_id)).mappings().all()
        return {row["entity"]: row for row in rows}

    @staticmethod
    def _error_codes(db: sa.Connection, run_id: int) -> dict[str, dict[str, int]]:
        statement = (
            sa.select(_ERRORS.c.entity, _ERRORS.c.code, sa.func.count().label("n"))
            .where(_ERRORS.c.run_id == run_id).group_by(_ERRORS.c.entity, _ERRORS.c.code)
            .order_by(_ERRORS.c.entity, sa.func.count().desc())
        )
        found: dict[str, dict[str, int]] = {}
        for entity, code, n in db.execute(statement):
            found.setdefault(entity, {})[code] = int(n)
        return found

    @staticmethod
    def _records_done(db: sa.Connection, connection_id: int | None, jobs: Mapping[str, Any]) -> dict[str, int]:
        """Per running job: its entity's bindings written since the job started."""
        done = {}
        for entity, job in jobs.items():
            if job["state"] != JobState.RUNNING.value or job["started_at"] is None or connection_id is None:
                continue
            statement = sa.select(sa.func.count()).where(
                _BINDINGS.c.connection_id == connection_id, _BINDINGS.c.entity == entity,
                _BINDINGS.c.updated_at >= job["started_at"],
            )
            done[entity] = int(db.execute(statement).scalar_one())
        return done

    @staticmethod
    def _last_counts(db: sa.Connection, connection_id: int | None, procedure: str) -> dict[str, LastCounts]:
        """Per entity, the counts of its latest finished job in a run of ``procedure`` (job ids grow with time)."""
        if connection_id is None:
            return {}
        latest = (
            sa.select(sa.func.max(_JOBS.c.id))
            .select_from(_JOBS.join(_RUNS, _RUNS.c.id == _JOBS.c.run_id))
            .where(_RUNS.c.connection_id == connection_id, _RUNS.c.procedure == procedure,
                   _JOBS.c.state.in_([JobState.SUCCEEDED.value, JobState.FAILED.value]))
            .group_by(_JOBS.c.entity)
        )
        rows = db.execute(sa.select(_JOBS).where(_JOBS.c.id.in_(latest))).mappings().all()
        return {row["entity"]: LastCounts(run_id=int(row["run_id"]), state=str(row["state"]),
                                          finished_at=row["finished_at"], counts=_counts(row)) for row in rows}

    def _job_view(
        self, name: str, run: RunSummary | None, jobs: Mapping[str, Any], errors: dict[str, int], done: int | None,
        reasons: Mapping[str, str],
    ) -> JobView:
        if run is None:
            return JobView(JobStatus.NEVER_RUN, f"no {FULL_SYNC} has run on this connection yet")
        job = jobs.get(name)
        if job is None:
            return JobView(JobStatus.NOT_IN_RUN, f"not synced by run {run.id}")
        state = JobState(job["state"])
        times = {"started_at": job["started_at"], "finished_at": job["finished_at"], "error_codes": errors}
        if state is JobState.PENDING:
            if run.state != RunState.RUNNING.value:
                return JobView(JobStatus.FAILED, f"never started: the run ended {run.state}",
                               reason=run.message or f"the run ended {run.state}", **times)
            return JobView(JobStatus.WAITING, "waiting for its turn (its dependencies run first)", **times)
        if state is JobState.RUNNING:
            if run.state != RunState.RUNNING.value:
                return JobView(JobStatus.FAILED, f"did not finish: the run ended {run.state}",
                               reason=run.message or f"the run ended {run.state}", **times)
            return JobView(JobStatus.RUNNING, f"running: {done or 0:,} records written so far", records_done=done or 0,
                           **times)
        counts = _counts(job)
        if state is JobState.SKIPPED:
            blocked = sorted(
                d for d in self.mappings.entity(name).dependencies()
                if d in jobs and jobs[d]["state"] in (JobState.FAILED.value, JobState.SKIPPED.value)
            )
            reason = job["skip_reason"] or "skipped"
            detail = f"skipped: {', '.join(blocked)} did not succeed" if blocked else reason
            return JobView(JobStatus.SKIPPED, detail, reason=reason, blocked_by=blocked, **times)
        if state is JobState.FAILED:
            reason = reasons.get(name) or run.message or (
                f"the job stopped on an error: see the log of flow run {run.flow_run_id}" if run.flow_run_id
                else "the job stopped on an error")
            return JobView(JobStatus.FAILED, f"failed: {reason}", counts=counts, reason=reason, **times)
        return JobView(JobStatus.SUCCEEDED, f"succeeded: {_describe_counts(counts)}", counts=counts, **times)
