"""The schedule view without a Prefect server: rows from prefect.yaml, how often in words, next runs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from tandem.status.schedule import describe_schedule, next_run, schedule_rows, schedule_warning
from web.sources import schedule, shipped_deployments

NOW = datetime(2026, 11, 22, 14, 7, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        (None, "on demand"),
        ({"interval": 300}, "every 5 minutes"),
        ({"interval": 1800}, "every 30 minutes"),
        ({"interval": 3600}, "every hour"),
        ({"interval": 86400}, "every day"),
        ({"interval": 45}, "every 45 seconds"),
        ({"cron": "0 2 * * *", "timezone": "UTC"}, "daily at 02:00 UTC"),
        ({"cron": "*/10 8-18 * * 1-5"}, "cron */10 8-18 * * 1-5 (UTC)"),
    ],
)
def test_how_often_in_words(spec: dict[str, object] | None, text: str) -> None:
    assert describe_schedule(spec) == text


def test_next_runs_follow_the_schedule() -> None:
    assert next_run({"interval": 300}, NOW) == datetime(2026, 11, 22, 14, 10, tzinfo=UTC)
    assert next_run({"interval": 1800}, NOW) == datetime(2026, 11, 22, 14, 30, tzinfo=UTC)
    assert next_run({"cron": "0 2 * * *", "timezone": "UTC"}, NOW) == datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    assert next_run({"interval": 300, "active": False}, NOW) is None
    assert next_run(None, NOW) is None


@pytest.mark.parametrize("api_url", [None, "http://127.0.0.1:9/api"], ids=["no-api-url", "nothing-listening"])
def test_without_a_server_the_rows_come_from_prefect_yaml(monkeypatch: pytest.MonkeyPatch, api_url: str | None) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    # Explicit, whatever test harness this session has running.
    if api_url is None:
        settings = temporary_settings(restore_defaults={PREFECT_API_URL})
    else:
        settings = temporary_settings(updates={PREFECT_API_URL: api_url})
    with settings:
        rows, origin = schedule()
    reason = "PREFECT_API_URL is not set" if api_url is None else f"no Prefect server answered at {api_url}"
    assert origin == f"prefect.yaml ({reason}: next runs computed from the schedules, not the server's)"
    assert [row.deployment for row in rows] == [
        f"{d['entrypoint'].rpartition(':')[2].replace('_', '-')}/{d['name']}" for d in shipped_deployments()
    ]
    expected = {row.deployment: row for row in schedule_rows(shipped_deployments(), NOW)}
    # prefect.yaml's templates are paused: `tandem deploy --connection NAME` switches a connection's on.
    erp_to_crm = expected["incremental-sync/incremental-erp-to-crm"]
    assert (erp_to_crm.direction, erp_to_crm.how_often, erp_to_crm.next_run_at) == (
        "ERP → Salesforce", "every 5 minutes (paused)", None)
    assert next_run({"interval": 300}, NOW) == datetime(2026, 11, 22, 14, 10, tzinfo=UTC)
    assert expected["incremental-sync/incremental-two-way"].how_often == "every 5 minutes (paused)"
    assert all(row.last_run_state is None and row.warning is None for row in rows)


def test_a_schedule_that_is_on_without_an_upcoming_run_or_with_an_overdue_one_is_flagged() -> None:
    later = datetime(2026, 11, 22, 14, 10, tzinfo=UTC)
    assert schedule_warning(True, later, "Scheduled", NOW, "tandem") is None
    assert schedule_warning(False, None, None, NOW, "tandem") is None  # paused or on demand: nothing expected
    no_run = schedule_warning(True, None, None, NOW, "tandem")
    assert no_run is not None and "scheduler service is not running" in no_run
    overdue = schedule_warning(True, datetime(2026, 11, 22, 14, 0, tzinfo=UTC), "Late", NOW, "tandem")
    assert overdue is not None and "14:00" in overdue and "prefect worker start --pool tandem" in overdue
