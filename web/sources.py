"""Where the views' data comes from: the connection's block (cards) and the Prefect server or
``prefect.yaml`` (the schedule)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from blocks.connection import SyncConnection
from tandem.status.cards import CardSource
from tandem.status.schedule import ScheduleRow, schedule_rows

PROJECT_ROOT = Path(__file__).resolve().parents[1]
#: How long the schedule view waits for the Prefect server before it falls back to ``prefect.yaml``.
SERVER_TIMEOUT_SECONDS = 5.0


def card_source(connection: str) -> CardSource:
    """The card source of the Tandem Sync Connection block called ``connection``."""
    block = SyncConnection.load_named(connection)
    return CardSource(
        connection=connection, store=block.store.get_engine(), mappings=block.mapping_set_for_run(),
        enabled_entities=block.enabled_entities(), crm_base=block.salesforce.login_host, erp_base=block.erp.wsdl_url,
    )


def shipped_deployments(project_root: Path = PROJECT_ROOT) -> list[dict[str, Any]]:
    """The deployments of ``prefect.yaml``."""
    data = yaml.safe_load((project_root / "prefect.yaml").read_text())
    return list(data.get("deployments") or [])


def schedule(project_root: Path = PROJECT_ROOT) -> tuple[list[ScheduleRow], str]:
    """The schedule rows and where they came from (the server's address, or ``prefect.yaml``)."""
    now = datetime.now(UTC)
    rows = schedule_rows(shipped_deployments(project_root), now)
    try:
        return asyncio.run(asyncio.wait_for(_from_server(rows, now), SERVER_TIMEOUT_SECONDS + 25))
    except Exception:  # no server, or it does not answer: the file is the source
        return rows, "prefect.yaml"


async def _from_server(rows: list[ScheduleRow], now: datetime) -> tuple[list[ScheduleRow], str]:
    """Complete the rows with the server's deployments: their schedules' state, last and next runs."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise RuntimeError("PREFECT_API_URL is not set")
    async with get_client() as client:
        unhealthy = await asyncio.wait_for(client.api_healthcheck(), SERVER_TIMEOUT_SECONDS)
        if unhealthy is not None:  # the health check returns its failure rather than raising it
            raise unhealthy
        completed: list[ScheduleRow] = []
        for row in rows:
            try:
                deployment = await client.read_deployment_by_name(row.deployment)
            except Exception:  # not deployed on this server: keep the file's row
                completed.append(row)
                continue
            of_deployment = DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id]))
            finished = await client.read_flow_runs(
                deployment_filter=of_deployment, sort=FlowRunSort.START_TIME_DESC, limit=1,
                flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(
                    not_any_=[StateType.SCHEDULED, StateType.PENDING]))),
            )
            upcoming = await client.read_flow_runs(
                deployment_filter=of_deployment, sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=1,
                flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(
                    any_=[StateType.SCHEDULED]))),
            )
            active = any(s.active for s in deployment.schedules) and not deployment.paused
            last = finished[0] if finished else None
            next_at = upcoming[0].expected_start_time if upcoming else (row.next_run_at if active else None)
            completed.append(ScheduleRow(
                deployment=row.deployment, syncs=row.syncs, direction=row.direction,
                how_often=row.how_often if active or row.how_often == "on demand" else _paused(row.how_often),
                active=active, last_run_state=last.state_name if last else None,
                last_run_at=(last.start_time or last.expected_start_time) if last else None, next_run_at=next_at,
            ))
    return completed, str(url)


def _paused(how_often: str) -> str:
    return how_often if how_often.endswith("(paused)") else f"{how_often} (paused)"
