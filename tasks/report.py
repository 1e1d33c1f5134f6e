"""What a run shows on its flow run page: progress while it runs, counts and failures at the end."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import cast
from uuid import UUID

from prefect import task
from prefect.artifacts import create_progress_artifact, create_table_artifact, update_progress_artifact
from prefect.cache_policies import NONE

from tandem.mapping import Direction
from tandem.store import session_scope
from tandem.store.runs import finish_run, skip_job
from tandem.store.tables import JobState
from tandem.sync.context import SyncContext
from tandem.sync.jobs import JobReport

#: How many failed records the failures table lists (all of them are in the state store).
FAILURES_SHOWN = 50


#: How each direction reads in the counts table and the progress line.
DIRECTION_WORDS = {Direction.TO_CRM: "ERP → Salesforce", Direction.TO_ERP: "Salesforce → ERP"}


class RunProgress:
    """The run's progress artifact: it moves with every page synced, not only when an entity finishes.

    The percentage counts finished entities plus the share of the running ones' records done (out of the
    total their source reported when the read started); the description says which entity is moving
    which way and how many records it has done. Entity jobs run two at a time, so updates hold a lock.
    A page's update is sent at most every ``min_interval`` seconds (each costs a call to the Prefect API,
    about as long as planning a page); an entity's end is always sent.
    """

    def __init__(self, procedure: str, total_entities: int, *, min_interval: float = 1.0) -> None:
        self.total_entities = max(total_entities, 1)
        self.min_interval = min_interval
        self._sent_at = -math.inf
        self.finished = 0
        self._running: dict[tuple[str, Direction], tuple[int, int | None]] = {}
        self._lock = threading.Lock()
        self.artifact_id = cast(UUID, create_progress_artifact(
            progress=0.0, key=f"{procedure}-progress",
            description=f"{procedure}: 0 of {total_entities} entities done",
        ))

    def page_done(self, entity: str, direction: Direction, records: int, total: int | None) -> None:
        """Add a synced page of ``entity`` going ``direction`` (a :class:`tandem.sync.context.PageListener`)."""
        with self._lock:
            done, known_total = self._running.get((entity, direction), (0, None))
            done += records
            known_total = total if total is not None else known_total
            self._running[(entity, direction)] = (done, known_total)
            line = f"{entity} {DIRECTION_WORDS[direction]}: {done:,}" + (
                f" of {known_total:,} records" if known_total else " records")
            if time.monotonic() - self._sent_at >= self.min_interval:
                self._update(line)

    def entities_done(self, finished: int) -> None:
        """``finished`` entities have ended (succeeded, failed or skipped)."""
        with self._lock:
            self.finished = finished
            self._running.clear()
            self._update(None)

    def _update(self, line: str | None) -> None:
        share = sum(min(done / total, 1.0) for done, total in self._running.values() if total)
        percent = 100.0 * min((self.finished + share) / self.total_entities, 1.0)
        description = f"{self.finished} of {self.total_entities} entities done" + (f"; {line}" if line else "")
        update_progress_artifact(self.artifact_id, progress=percent, description=description)
        self._sent_at = time.monotonic()


def record_skip(context: SyncContext, entity: str, reason: str) -> JobReport:
    """Mark an entity's job skipped (a dependency failed) and return its report."""
    if context.run_id is not None:
        with session_scope(context.store) as session:
            skip_job(session, context.run_id, entity, reason)
    return JobReport(entity=entity, state=JobState.SKIPPED, reason=reason)


def direction_words(directions: Sequence[Direction]) -> str:
    """Which way a job's records went, in words (``ERP → Salesforce, then Salesforce → ERP``)."""
    return ", then ".join(DIRECTION_WORDS[d] for d in directions) or "-"


def count_rows(reports: Sequence[JobReport]) -> list[dict[str, object]]:
    """One row per entity: its state, its counts, values not synced, and the reason when not succeeded."""
    rows = []
    for report in reports:
        row: dict[str, object] = {
            "entity": report.entity, "direction": direction_words(report.directions), "state": report.state.value,
            **asdict(report.counts),
        }
        row["values not synced"] = sum(report.skipped_values.values())
        row["conflicts"] = report.conflict_count
        row["conflicts held"] = report.held_count
        row.update(report.details)
        row["reason"] = report.reason or ""
        rows.append(row)
    return rows


def conflict_rows(reports: Sequence[JobReport]) -> list[dict[str, object]]:
    """One row per conflict met (the first ones of each job): both sources, the policy, the outcome."""
    rows: list[dict[str, object]] = [
        {
            "entity": c.entity, "crm record": c.crm_id,
            "crm changed at": c.crm_modified_at.isoformat() if c.crm_modified_at else "",
            "erp record": c.erp_id,
            "erp changed at": c.erp_modified_at.isoformat() if c.erp_modified_at else "",
            "policy": c.policy, "outcome": c.outcome,
        }
        for report in reports
        for c in report.conflicts
    ]
    return rows[:FAILURES_SHOWN]


@task(name="publish-report", cache_policy=NONE)
def publish_report(context: SyncContext, procedure: str, reports: list[JobReport]) -> list[dict[str, object]]:
    """Publish the per-entity counts and the first failed records (ids and codes), and finish the run."""
    rows = count_rows(reports)
    mode = "dry run: what would change" if context.dry_run else "what moved"
    create_table_artifact(rows, key=f"{procedure}-counts", description=f"{procedure}, {mode}, per entity")
    failures = [
        {"entity": f.entity, "side": f.side.value, "record id": f.record_id, "code": f.code, "message": f.message}
        for report in reports
        for f in report.failures
    ][:FAILURES_SHOWN]
    if failures:
        create_table_artifact(failures, key=f"{procedure}-failures", description="The first failed records")
    conflicts = conflict_rows(reports)
    if conflicts:
        create_table_artifact(
            conflicts, key=f"{procedure}-conflicts",
            description="Records changed in both systems since their last sync: where each value came from "
            "(system, record, when it changed; never the values) and whose values stand",
        )
    if context.run_id is not None:
        with session_scope(context.store) as session:
            finish_run(session, context.run_id)
    return rows
