"""The full-sync review from the state store alone (SQLite file and real PostgreSQL): job states of a finished and
a running run, records done while a job runs, skipped jobs and what blocked them, last counts, the mapping view,
and the HTML page (refreshing itself only while the run runs)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from tandem.mapping import MAPPINGS_DIR, Filter, load_mapping_set
from tandem.status.review import JobStatus, ReviewSource
from tandem.store import (
    BindingRecord,
    BindingStatus,
    JobCounts,
    RecordErrorEntry,
    Side,
    add_record_errors,
    finish_job,
    finish_run,
    require_id,
    skip_job,
    start_job,
    start_run,
    upsert_bindings,
)
from tandem.store.tables import JobState
from web.html import review_page

ENTITIES = ["currency", "payment_term", "salesperson", "customer", "contact", "task"]


@pytest.fixture
def source(engine: Engine) -> ReviewSource:
    mappings = load_mapping_set(MAPPINGS_DIR / "default.yaml")
    customer = mappings.entities["customer"]
    excluded = customer.model_copy(update={"filters": [Filter(side="crm", field="Type", op="!=", value="Partner")]})
    mappings = mappings.model_copy(update={"entities": {**mappings.entities, "customer": excluded}})
    return ReviewSource(connection="acme", store=engine, mappings=mappings, enabled_entities=ENTITIES)


def _finished(
    session: Session, run_id: int, entity: str, counts: JobCounts, state: JobState = JobState.SUCCEEDED
) -> None:
    job = start_job(session, run_id, entity)
    finish_job(session, require_id(job), state=state, counts=counts)


def test_a_finished_run_and_a_running_one(session: Session, cid: int, source: ReviewSource) -> None:
    assert {row.job.status for row in source.review().entities} == {JobStatus.NEVER_RUN}

    first = require_id(start_run(session, cid, "full-sync", flow_run_id="run-1", entities=ENTITIES))
    _finished(session, first, "currency", JobCounts(inserted=3))
    _finished(session, first, "payment_term", JobCounts(unchanged=2))
    _finished(session, first, "salesperson", JobCounts(coupled=4))
    customer = start_job(session, first, "customer")
    add_record_errors(session, first, [RecordErrorEntry("customer", Side.ERP, "17", "INVALID_FLD_VALUE", "x")],
                      job_id=customer.id)
    finish_job(session, require_id(customer), state=JobState.FAILED)
    skip_job(session, first, "contact", "skipped: depends on customer, which did not succeed")
    skip_job(session, first, "task", "skipped: depends on contact, customer, which did not succeed")
    finish_run(session, first)
    session.commit()

    done = source.review(reasons={"customer": "FatalSyncError: WS_REQUEST_BLOCKED"})
    assert done.run is not None and (done.run.id, done.run.state, done.running) == (first, "failed", False)
    rows = {row.entity: row for row in done.entities}
    order = [row.entity for row in done.entities]
    assert order.index("currency") < order.index("customer") < order.index("contact") < order.index("task")
    assert (rows["currency"].level, rows["customer"].level, rows["task"].level) == (1, 2, 4)
    assert rows["currency"].job.status is JobStatus.SUCCEEDED and rows["currency"].job.counts is not None
    assert rows["currency"].job.counts["inserted"] == 3 and rows["currency"].job.detail == "succeeded: 3 inserted"
    failed = rows["customer"].job
    assert (failed.status, failed.reason) == (JobStatus.FAILED, "FatalSyncError: WS_REQUEST_BLOCKED")
    assert failed.error_codes == {"INVALID_FLD_VALUE": 1}
    assert rows["contact"].job.status is JobStatus.SKIPPED and rows["contact"].job.blocked_by == ["customer"]
    assert rows["task"].job.blocked_by == ["contact", "customer"]
    assert rows["item"].job.status is JobStatus.NOT_IN_RUN and not rows["item"].enabled
    without = {row.entity: row for row in source.review().entities}["customer"].job
    assert without.reason == "the job stopped on an error: see the log of flow run run-1"

    mapping = rows["customer"].mapping
    assert (mapping["crm_object"], mapping["erp_type"], mapping["direction"]) == ("Account", "customer", "both")
    assert mapping["depends_on"] == ["currency", "payment_term", "salesperson"]
    assert mapping["filters"] == ["crm Type != Partner"]
    task_fields = {(f["crm"], f["direction"]): f for f in rows["task"].mapping["fields"]}
    status = task_fields[("Status", "both")]
    assert {"crm": "In Progress", "erp": "_inProgress", "direction": "to_crm"} in status["value_map"]
    assert status["not_synced"]["crm"] == ["In Progress", "Waiting on someone else", "Deferred"]

    second = require_id(start_run(session, cid, "full-sync", flow_run_id="run-2", entities=ENTITIES))
    _finished(session, second, "currency", JobCounts(unchanged=3))
    start_job(session, second, "salesperson")
    session.commit()
    written = [BindingRecord(crm_id=f"005{n:012d}", erp_id=str(n), status=BindingStatus.SYNCED) for n in range(5)]
    upsert_bindings(session, cid, "salesperson", written, key=Side.CRM)
    session.commit()

    running = source.review()
    assert running.run is not None and running.run.id == second and running.running
    now = {row.entity: row for row in running.entities}
    assert now["salesperson"].job.status is JobStatus.RUNNING and now["salesperson"].job.records_done == 5
    assert now["customer"].job.status is JobStatus.WAITING
    assert now["currency"].last is not None and now["currency"].last.run_id == second
    assert now["customer"].last is not None and (now["customer"].last.run_id, now["customer"].last.state) == (
        first, "failed")
    assert now["salesperson"].last is not None and now["salesperson"].last.counts["coupled"] == 4
    assert source.review(run_id=first).run.id == first  # type: ignore[union-attr]
    with pytest.raises(LookupError, match="no run 999"):
        source.review(run_id=999)

    page = review_page(running)
    assert 'http-equiv="refresh"' in page and 'data-status="running"' in page and "5 records written" in page
    assert 'data-status="waiting"' in page and "Type != Partner" in page
    assert 'http-equiv="refresh"' not in review_page(done)
    assert 'data-status="skipped"' in review_page(done)
