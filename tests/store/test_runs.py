"""Sync runs, per-entity jobs with counts, and record errors."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from tandem.store import (
    JobCounts,
    JobState,
    RecordErrorEntry,
    RunState,
    Side,
    add_job_counts,
    add_record_errors,
    finish_job,
    finish_run,
    get_run,
    latest_run,
    list_jobs,
    list_record_errors,
    require_id,
    skip_job,
    start_job,
    start_run,
)


def test_a_run_tracks_its_jobs_and_counts(session: Session, cid: int) -> None:
    run = start_run(
        session,
        cid,
        "full-sync",
        flow_run_id="0193a1b2-0000-7000-8000-000000000001",
        entities=["currency", "customer", "item"],
    )
    session.commit()
    assert [(j.entity, j.state) for j in list_jobs(session, require_id(run))] == [
        ("currency", JobState.PENDING),
        ("customer", JobState.PENDING),
        ("item", JobState.PENDING),
    ]
    job = start_job(session, require_id(run), "customer")
    assert job.state is JobState.RUNNING and job.started_at is not None
    add_job_counts(session, require_id(job), JobCounts(inserted=1_500, unchanged=300, failed=2, coupled=198))
    add_job_counts(session, require_id(job), JobCounts(inserted=10, modified=5))
    done = finish_job(session, require_id(job), counts=JobCounts(deleted=3, skipped=4))
    session.commit()
    assert JobCounts.of(done) == JobCounts(
        inserted=1_510, modified=5, deleted=3, unchanged=300, skipped=4, failed=2, coupled=198
    )
    assert done.state is JobState.SUCCEEDED and done.finished_at is not None
    assert done.finished_at >= done.started_at  # type: ignore[operator]

    skipped = skip_job(session, require_id(run), "item", "the ERP account has no items enabled")
    currency = start_job(session, require_id(run), "currency")
    finish_job(session, require_id(currency), state=JobState.FAILED)
    session.commit()
    assert skipped.skip_reason == "the ERP account has no items enabled"
    states = {j.entity: j.state for j in list_jobs(session, require_id(run))}
    assert states == {"currency": JobState.FAILED, "customer": JobState.SUCCEEDED, "item": JobState.SKIPPED}
    finished = finish_run(session, require_id(run))
    session.commit()
    assert finished.state is RunState.FAILED and finished.finished_at is not None
    loaded = get_run(session, require_id(run))
    assert loaded is not None and loaded.flow_run_id == "0193a1b2-0000-7000-8000-000000000001"


def test_a_run_succeeds_when_every_job_finished_or_was_skipped(session: Session, cid: int) -> None:
    run = start_run(session, cid, "incremental-sync", entities=["customer", "item"])
    finish_job(session, require_id(start_job(session, require_id(run), "customer")))
    skip_job(session, require_id(run), "item", "no changes since the watermark")
    extra = start_job(session, require_id(run), "contact")  # not listed up front
    finish_job(session, require_id(extra), counts=JobCounts(modified=1))
    assert finish_run(session, require_id(run)).state is RunState.SUCCEEDED
    assert [j.entity for j in list_jobs(session, require_id(run))] == ["customer", "item", "contact"]


def test_an_unfinished_job_fails_the_run(session: Session, cid: int) -> None:
    run = start_run(session, cid, "full-sync", entities=["customer"])
    assert finish_run(session, require_id(run)).state is RunState.FAILED
    with pytest.raises(ValueError, match="cannot be running"):
        finish_run(session, require_id(run), RunState.RUNNING)
    with pytest.raises(ValueError, match="skip_job"):
        finish_job(session, 1, state=JobState.SKIPPED)


def test_latest_run(session: Session, cid: int) -> None:
    first = start_run(session, cid, "full-sync")
    second = start_run(session, cid, "deletion-sweep")
    session.commit()
    assert latest_run(session, cid).id == require_id(second)  # type: ignore[union-attr]
    assert latest_run(session, cid, "full-sync").id == require_id(first)  # type: ignore[union-attr]
    assert latest_run(session, cid, "sandbox-refresh") is None


def test_record_errors_are_stored_per_run(session: Session, cid: int) -> None:
    run = start_run(session, cid, "full-sync", entities=["customer"])
    job = start_job(session, require_id(run), "customer")
    errors = [
        RecordErrorEntry("customer", Side.CRM, f"001{n:015d}", "INVALID_FIELD_FOR_INSERT_UPDATE", "field not writable")
        for n in range(2_500)
    ]
    assert add_record_errors(session, require_id(run), errors, job_id=require_id(job)) == 2_500
    add_record_errors(session, require_id(run), [RecordErrorEntry("item", Side.ERP, "77", "USER_ERROR", "x" * 5_000)])
    session.commit()
    customer_errors = list_record_errors(session, require_id(run), entity="customer", limit=5_000)
    assert len(customer_errors) == 2_500
    assert customer_errors[0].record_id == "001000000000000000" and customer_errors[0].job_id == require_id(job)
    assert customer_errors[0].side is Side.CRM
    [item_error] = list_record_errors(session, require_id(run), entity="item")
    assert (item_error.code, len(item_error.message), item_error.job_id) == ("USER_ERROR", 2_000, None)
    assert item_error.occurred_at.tzinfo is not None
