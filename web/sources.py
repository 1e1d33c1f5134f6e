"""Where the views' data comes from: the connection's block (cards, failing records) and the Prefect server or
``prefect.yaml`` (the schedule)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import Engine

from blocks.connection import SyncConnection
from tandem.erp.adapter import ErpAdapter
from tandem.errors import CommandError
from tandem.mapping import MappingError, MappingSet
from tandem.status.cards import CardSource
from tandem.status.failures import FailureSource
from tandem.status.history import retry_deployment
from tandem.status.review import Review, ReviewSource
from tandem.status.schedule import ScheduleRow, schedule_rows, schedule_warning
from tandem.status.tasks_due import TaskList, TaskListError, TaskReader, local_today, tasks_due
from tandem.store import StoreUnavailableError
from tandem.store.tables import Side

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


def card_source(
    connection: str, block: SyncConnection | None = None, *, store_must_exist: bool = False
) -> CardSource:
    """The card source of the Tandem Sync Connection block called ``connection`` (loaded unless given).

    ``store_must_exist`` for a command that reads the store once (``tandem card``): a missing SQLite file is an
    error instead of a new empty store (the web app's store is created when first asked, as a run would).

    Raises:
        CommandError: no such block, no Prefect server, no state store, or the connection's mapping set is
            invalid.
    """
    block = block or load_connection(connection)
    return CardSource(
        connection=connection, store=_store(block, store_must_exist), mappings=_run_mappings(connection, block),
        enabled_entities=block.enabled_entities(), crm_base=_crm_base(block), erp_base=block.erp.wsdl_url,
        id_fields={Side.CRM: block.crm_credentials.adapter_class().id_field, Side.ERP: ErpAdapter.id_field},
        crm_system=block.crm_system,
    )


def _crm_base(block: SyncConnection) -> str:
    """Where the CRM's record pages are: the Salesforce login host, or the HubSpot portal id (empty when unknown)."""
    if block.salesforce is not None:
        return block.salesforce.login_host
    return str(block.hubspot.portal_id or "") if block.hubspot is not None else ""


def failure_source(
    connection: str, block: SyncConnection | None = None, *, store_must_exist: bool = False
) -> FailureSource:
    """The failing-records source of the Tandem Sync Connection block called ``connection`` (loaded unless given);
    ``store_must_exist`` as for :func:`card_source`.

    Raises:
        CommandError: no such block, no Prefect server, no state store, or the connection's mapping set is
            invalid.
    """
    block = block or load_connection(connection)
    mappings = _run_mappings(connection, block)
    return FailureSource(
        connection=connection, store=_store(block, store_must_exist), entities=list(mappings.entities),
        objects={name: (e.crm_object, e.erp_type) for name, e in mappings.entities.items()},
    )


def review_source(connection: str, block: SyncConnection | None = None) -> ReviewSource:
    """The full-sync review source of the Tandem Sync Connection block called ``connection`` (loaded unless given).

    Raises:
        CommandError: no such block, no Prefect server, or the connection's mapping set is invalid.
    """
    block = block or load_connection(connection)
    mappings = _run_mappings(connection, block)
    return ReviewSource(connection=connection, store=block.store.get_engine(), mappings=mappings,
                        enabled_entities=block.enabled_entities())


def _store(block: SyncConnection, must_exist: bool) -> Engine:
    """The connection's state store (``must_exist``: one a run created, else a :class:`CommandError` saying so)."""
    if not must_exist:
        return block.store.get_engine()
    try:
        return block.store.get_existing_engine()
    except StoreUnavailableError as exc:
        raise CommandError(str(exc)) from None


def _run_mappings(connection: str, block: SyncConnection) -> MappingSet:
    """The mapping set a run of ``connection`` uses, or a :class:`CommandError` saying why it is invalid."""
    try:
        return block.mapping_set_for_run()
    except MappingError as exc:
        raise CommandError(f"the mapping set of connection {connection!r} is invalid: {exc}") from None


def review_with_reasons(source: ReviewSource, *, run_id: int | None = None, procedure: str) -> Review:
    """The review, with the failed jobs' reasons from the run's published counts table when the server has it.

    The state store records that a job failed, not why; the run's ``<procedure>-counts`` artifact (published when
    the run ends) has each job's reason. Without a server, or before the run ended, the review says where to look.
    """
    review = source.review(run_id=run_id, procedure=procedure)
    failed = any(row.job.status.value == "failed" for row in review.entities)
    if review.run is None or review.run.flow_run_id is None or not failed:
        return review
    try:
        reasons = asyncio.run(asyncio.wait_for(
            _job_reasons(review.run.flow_run_id, review.run.procedure), SERVER_TIMEOUT_SECONDS))
    except (_NoServerError, OSError, TimeoutError, httpx.HTTPError, ValueError):  # the review says where to look
        return review
    return source.review(run_id=review.run.id, procedure=procedure, reasons=reasons) if reasons else review


async def _job_reasons(flow_run_id: str, procedure: str) -> dict[str, str]:
    """Each job's reason, by entity, from the flow run's ``<procedure>-counts`` table artifact."""
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        raise _NoServerError("PREFECT_API_URL is not set")
    async with get_client() as client:
        artifacts = await client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=[f"{procedure}-counts"]),
            flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(flow_run_id)]),
        ))
    reasons: dict[str, str] = {}
    for artifact in artifacts:
        rows = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, dict) and row.get("reason"):
                reasons[str(row.get("entity"))] = str(row["reason"])
    return reasons


def task_list(
    connection: str, *, today: date | None = None, owner: str | None = None, block: SyncConnection | None = None,
    reader: TaskReader | None = None,
) -> TaskList:
    """The synced reminder tasks of ``connection`` due today and tomorrow (read from its Salesforce org).

    Raises:
        CommandError: no such block or server, the connection syncs no tasks, or ``owner`` is no user.
    """
    block = block or load_connection(connection)
    try:
        reader = reader or block.require_salesforce("the tasks-due list").get_client()
        return tasks_due(reader, card_source(connection, block), today=today or local_today(), owner=owner)
    except TaskListError as exc:
        raise CommandError(str(exc)) from None


class RetryUnavailableError(RuntimeError):
    """The retry cannot be started here: no Prefect server, or no retry deployment for the connection on it."""


def request_retry(connection: str, entity: str, record_id: str) -> tuple[str, str]:
    """Start a run of the connection's ``retry-records`` deployment for one record; its flow run id and state.

    The run is created at once (scheduled now) and a worker of the deployment's pool runs it; its outcome is on
    the flow run's page and, once it ran, on the record's card and history.

    Raises:
        RetryUnavailableError: no server answers, or ``tandem deploy`` has not created the deployment there.
    """
    from prefect.deployments.flow_runs import arun_deployment
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL

    name = retry_deployment(connection)
    if not PREFECT_API_URL.value():
        raise RetryUnavailableError(f"no Prefect server is set (PREFECT_API_URL) to run {name} on")
    parameters = {"entity": entity, "record_ids": [record_id]}
    try:
        flow_run = asyncio.run(asyncio.wait_for(
            arun_deployment(name, parameters=parameters, timeout=0, as_subflow=False),
            SERVER_TIMEOUT_SECONDS + 25,
        ))
    except ObjectNotFound:
        raise RetryUnavailableError(
            f"the Prefect server has no deployment {name}: create it with tandem deploy --connection {connection}"
        ) from None
    except (OSError, TimeoutError, httpx.HTTPError) as exc:
        raise RetryUnavailableError(f"the Prefect server did not answer ({type(exc).__name__})") from None
    return str(flow_run.id), str(flow_run.state_name or "Scheduled")


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
