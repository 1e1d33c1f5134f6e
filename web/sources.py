"""Where the views' data comes from: the connection's block (cards, failing records) and the Prefect server or
``prefect.yaml`` (the schedule)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from blocks.connection import SyncConnection
from tandem.errors import CommandError
from tandem.mapping import MappingError
from tandem.status.cards import CardSource
from tandem.status.failures import FailureSource
from tandem.status.schedule import ScheduleRow, schedule_rows, schedule_warning

PROJECT_ROOT = Path(__file__).resolve().parents[1]
#: How long the schedule view waits for the Prefect server before it falls back to ``prefect.yaml``.
SERVER_TIMEOUT_SECONDS = 5.0


def load_connection(name: str) -> SyncConnection:
    """The saved Tandem Sync Connection block called ``name``.

    Raises:
        CommandError: no such block on the Prefect server in force, or no server answers.
    """
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL

    where = PREFECT_API_URL.value() or "a temporary Prefect server (PREFECT_API_URL is not set)"
    try:
        return SyncConnection.load_named(name)
    except ValueError as exc:
        if not isinstance(exc.__cause__, ObjectNotFound):
            raise
        raise CommandError(
            f"no Tandem Sync Connection block named {name!r} on {where}: save it first, or name another with "
            "--connection (prefect block ls lists the saved blocks)"
        ) from None
    except (httpx.HTTPError, OSError) as exc:
        raise CommandError(
            f"the Prefect server at {where} does not answer ({type(exc).__name__}): start it or set PREFECT_API_URL"
        ) from None


def card_source(connection: str, block: SyncConnection | None = None) -> CardSource:
    """The card source of the Tandem Sync Connection block called ``connection`` (loaded unless given)."""
    block = block or load_connection(connection)
    return CardSource(
        connection=connection, store=block.store.get_engine(), mappings=block.mapping_set_for_run(),
        enabled_entities=block.enabled_entities(), crm_base=block.salesforce.login_host, erp_base=block.erp.wsdl_url,
    )


def failure_source(connection: str, block: SyncConnection | None = None) -> FailureSource:
    """The failing-records source of the Tandem Sync Connection block called ``connection`` (loaded unless given).

    Raises:
        CommandError: no such block, no Prefect server, or the connection's mapping set is invalid.
    """
    block = block or load_connection(connection)
    try:
        mappings = block.mapping_set_for_run()
    except MappingError as exc:
        raise CommandError(f"the mapping set of connection {connection!r} is invalid: {exc}") from None
    return FailureSource(
        connection=connection, store=block.store.get_engine(), entities=list(mappings.entities),
        objects={name: (e.crm_object, e.erp_type) for name, e in mappings.entities.items()},
    )


def shipped_deployments(project_root: Path = PROJECT_ROOT) -> list[dict[str, Any]]:
    """The deployments of ``prefect.yaml``."""
    data = yaml.safe_load((project_root / "prefect.yaml").read_text())
    return list(data.get("deployments") or [])


def schedule(project_root: Path = PROJECT_ROOT) -> tuple[list[ScheduleRow], str]:
    """The schedule rows and where they came from.

    From the Prefect server when one answers at ``PREFECT_API_URL``: its Tandem deployments, their real
    last and next runs, and warnings for schedules that are on without an upcoming run or whose run is
    overdue. Otherwise from ``prefect.yaml``, with next runs computed from the schedules, and the origin
    says that no server answered.
    """
    now = datetime.now(UTC)
    try:
        return asyncio.run(asyncio.wait_for(_from_server(now), SERVER_TIMEOUT_SECONDS + 25))
    except (_NoServerError, OSError, TimeoutError, httpx.HTTPError) as exc:  # the file is the source
        rows = schedule_rows(shipped_deployments(project_root), now)
        return rows, f"prefect.yaml ({exc}: next runs computed from the schedules, not the server's)"


class _NoServerError(RuntimeError):
    """No Prefect server to ask: no address set, or its health check fails."""


def _schedule_spec(schedule: Any) -> dict[str, Any]:
    """A server deployment schedule in prefect.yaml's shape."""
    inner = schedule.schedule
    spec: dict[str, Any] = {"active": bool(schedule.active)}
    if getattr(inner, "interval", None) is not None:
        anchor = datetime.fromtimestamp(inner.anchor_date.timestamp(), tz=UTC)  # a plain datetime, not pendulum's
        spec.update(interval=inner.interval.total_seconds(), anchor_date=anchor)
    elif getattr(inner, "cron", None) is not None:
        spec.update(cron=inner.cron, timezone=inner.timezone or "UTC")
    return spec


async def _from_server(now: datetime) -> tuple[list[ScheduleRow], str]:
    """The server's Tandem deployments (tag ``tandem``) as rows, with their last and next runs."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        DeploymentFilterTags,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise _NoServerError("PREFECT_API_URL is not set")
    async with get_client() as client:
        try:
            unhealthy = await asyncio.wait_for(client.api_healthcheck(), SERVER_TIMEOUT_SECONDS)
        except TimeoutError:
            unhealthy = TimeoutError()
        if unhealthy is not None:  # the health check returns its failure rather than raising it
            raise _NoServerError(f"no Prefect server answered at {url}")
        deployments = await client.read_deployments(
            deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=["tandem"]))
        )
        names: dict[str, str] = {}
        rows: list[ScheduleRow] = []
        for deployment in sorted(deployments, key=lambda d: (d.entrypoint or "", d.name)):
            spec = {
                "entrypoint": deployment.entrypoint or deployment.name, "name": deployment.name,
                "parameters": deployment.parameters, "schedules": [_schedule_spec(s) for s in deployment.schedules],
            }
            [row] = schedule_rows([spec], now)
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
            active = row.active and not deployment.paused
            last = finished[0] if finished else None
            following = upcoming[0] if upcoming else None
            next_at = following.expected_start_time if following else None
            how_often = row.how_often if active or not spec["schedules"] else _paused(row.how_often)
            rows.append(replace(
                row, active=active, how_often=how_often, last_run_state=last.state_name if last else None,
                last_run_at=(last.start_time or last.expected_start_time) if last else None, next_run_at=next_at,
                connection=await _connection_name(client, deployment.parameters, names),
                warning=schedule_warning(active, next_at, following.state_name if following else None, now,
                                         deployment.work_pool_name),
            ))
    return rows, str(url)


async def _connection_name(client: Any, parameters: dict[str, Any], names: dict[str, str]) -> str | None:
    """The name of the connection block a deployment's parameters refer to (``None`` when none is set)."""
    reference = parameters.get("connection")
    if isinstance(reference, str):
        return reference
    block_id = reference.get("$ref", {}).get("block_document_id") if isinstance(reference, dict) else None
    if not block_id:
        return None
    if block_id not in names:
        try:
            names[block_id] = (await client.read_block_document(block_id)).name or block_id
        except Exception:  # deleted since: show the id
            names[block_id] = block_id
    return names[block_id]


def _paused(how_often: str) -> str:
    return how_often if how_often.endswith("(paused)") else f"{how_often} (paused)"
