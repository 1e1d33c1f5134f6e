"""`tandem deploy`: the per-connection copy of prefect.yaml's templates, and its errors (no server needed)."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ops.deploy import connection_file, load_templates
from tandem.errors import CommandError

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 12, 5, 10, 0, 0, tzinfo=UTC)
BLOCK_ID = "6f489547-77d5-4f26-ac04-c0913c296de2"


def test_a_connections_deployments_are_named_tagged_bound_to_its_block_and_scheduled() -> None:
    generated = connection_file(load_templates(), "acme", BLOCK_ID, now=NOW, start_in=timedelta(seconds=60))
    by_name = {d["name"]: d for d in generated["deployments"]}
    assert list(by_name) == [f"acme-{d['name']}" for d in load_templates()["deployments"]]
    reference = {"$ref": {"block_document_id": BLOCK_ID}}
    for deployment in by_name.values():
        assert deployment["parameters"]["connection"] == reference
        assert deployment["tags"][0] == "tandem" and deployment["tags"][-1] == "connection:acme"
        assert "tandem" not in deployment  # Tandem's own template key does not reach Prefect
    erp_to_crm = by_name["acme-incremental-erp-to-crm"]
    assert erp_to_crm["parameters"] == {"direction": "to_crm", "connection": reference}
    # Switched on, and first firing a minute after the deploy, then every 5 minutes.
    assert erp_to_crm["schedules"] == [{"interval": 300, "active": True, "anchor_date": "2026-12-05T10:01:00+00:00"}]
    assert by_name["acme-incremental-two-way"]["schedules"][0]["active"] is False  # the pair's alternative
    assert by_name["acme-deletion-sweep-daily"]["schedules"] == [
        {"cron": "0 2 * * *", "timezone": "UTC", "active": True}]
    assert by_name["acme-full-sync"]["schedules"] == []
    assert generated["pull"] == [{"tandem.deploy.set_project_directory": {}}]


def test_only_some_templates_and_an_unknown_one() -> None:
    generated = connection_file(load_templates(), "acme", BLOCK_ID, now=NOW, start_in=timedelta(0),
                                only=["full-sync"])
    assert [d["name"] for d in generated["deployments"]] == ["acme-full-sync"]
    with pytest.raises(CommandError, match="no deployment template named nightly"):
        connection_file(load_templates(), "acme", BLOCK_ID, now=NOW, start_in=timedelta(0), only=["nightly"])


@pytest.mark.parametrize(
    ("args", "api_url", "expected"),
    [
        (["--connection", "acme"], "http://127.0.0.1:9/api",
         "no Prefect server answers at http://127.0.0.1:9/api: start one with `make serve` or set PREFECT_API_URL"),
        (["--connection", "acme", "--start-in", "-5"], "http://127.0.0.1:9/api",
         "--start-in must be 0 seconds or more"),
    ],
    ids=["no-server", "negative-start"],
)
def test_a_users_mistake_gets_one_line_and_exit_2(args: list[str], api_url: str, expected: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_API_URL"] = api_url
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "tandem"), "deploy", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [f"tandem deploy: {expected}"], done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
