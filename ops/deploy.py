"""Deploy Tandem's deployments for one connection: ``tandem deploy --connection NAME``.

``prefect.yaml`` holds one template per procedure, with every schedule paused and no connection chosen.
For a connection this module makes a copy of it in which each deployment is named ``NAME-<template>``,
tagged ``connection:NAME``, has the connection's block filled in (``{"$ref": {"block_document_id": ...}}``,
what the UI's block selector stores) and the schedules its template marks ``tandem: {schedules_active:
true}`` switched on, anchored at the deploy time plus ``start_in``; then it creates each deployment through
the Prefect client, as ``prefect deploy`` would (flow, run-form schema from the flow, pull steps,
concurrency, schedules). Not through ``prefect deploy`` itself: it replaces every block reference in a
deployment's configuration with the block's data, which would copy the connection's settings into the
deployment's parameters instead of referring to the block. Running it again updates the same
deployments (the server's create is an upsert that replaces their schedules).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from copy import deepcopy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from ops.prefect_api import require_server
from tandem.deploy import PROJECT_ROOT
from tandem.errors import CommandError

#: The block type of connections.
CONNECTION_BLOCK_TYPE = "tandem-sync-connection"
#: The tag every deployment of a connection carries (alerts and views find them by it).
CONNECTION_TAG = "connection:{name}"


def connection_tag(connection: str) -> str:
    """The tag of the deployments (and so of the flow runs) of ``connection``."""
    return CONNECTION_TAG.format(name=connection)


def deployment_name(connection: str, template: str) -> str:
    """The name of a connection's deployment made from ``template`` (``acme-incremental-erp-to-crm``)."""
    return f"{connection}-{template}"


def load_templates(project_root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """The shipped ``prefect.yaml``, parsed."""
    data: dict[str, Any] = yaml.safe_load((project_root / "prefect.yaml").read_text())
    return data


def chosen_templates(templates: dict[str, Any], only: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The deployment templates of ``templates`` named in ``only`` (all when it is empty), in the file's order.

    Raises:
        CommandError: ``only`` names a template that does not exist.
    """
    unknown = sorted(set(only) - {d["name"] for d in templates["deployments"]})
    if unknown:
        known = ", ".join(d["name"] for d in templates["deployments"])
        raise CommandError(f"no deployment template named {', '.join(unknown)} (there are: {known})")
    return [d for d in templates["deployments"] if not only or d["name"] in only]


def connection_file(
    templates: dict[str, Any], connection: str, block_document_id: str, *, now: datetime, start_in: timedelta,
    only: Sequence[str] = (),
) -> dict[str, Any]:
    """The ``prefect.yaml`` that deploys the templates for one connection.

    Args:
        templates: the shipped ``prefect.yaml``.
        connection: the connection block's name.
        block_document_id: the connection block's document id on the server.
        now: the deploy time.
        start_in: how long after ``now`` the interval schedules first fire.
        only: deploy only these templates (by name); all when empty.

    Raises:
        CommandError: ``only`` names a template that does not exist.
    """
    chosen = chosen_templates(templates, only)
    anchor = (now + start_in).astimezone(UTC).replace(microsecond=0)
    deployments = []
    for template in chosen:
        deployment = deepcopy(template)
        switch_on = bool((deployment.pop("tandem", None) or {}).get("schedules_active"))
        deployment["name"] = deployment_name(connection, template["name"])
        deployment["tags"] = [*deployment.get("tags", []), connection_tag(connection)]
        deployment["parameters"] = {
            **(deployment.get("parameters") or {}), "connection": {"$ref": {"block_document_id": block_document_id}},
        }
        schedules = []
        for schedule in deployment.get("schedules") or []:
            schedule = {**schedule, "active": switch_on}
            if "interval" in schedule:
                schedule["anchor_date"] = anchor.isoformat()
            schedules.append(schedule)
        deployment["schedules"] = schedules
        deployments.append(deployment)
    generated = {key: value for key, value in templates.items() if key not in ("definitions", "deployments")}
    generated["deployments"] = deployments
    return generated


def deploy_connection(
    connection: str, *, pool: str = "tandem", start_in: timedelta = timedelta(minutes=1), only: Sequence[str] = (),
    print_only: bool = False,
) -> list[str]:
    """Create or update the deployments of ``connection`` on the Prefect server in force.

    Args:
        connection: the Tandem Sync Connection block's name.
        pool: the process work pool the deployments go to (created when missing).
        start_in: how long after now the interval schedules first fire.
        only: deploy only these templates; all when empty.
        print_only: deploy nothing; return the connection's deployments as ``prefect.yaml`` text (one item).

    Returns:
        The deployments' full names (``flow/deployment``), or the generated file when ``print_only``.

    Raises:
        CommandError: no server, no such connection block, or an unknown template.
    """
    require_server()
    block_id = _connection_block_id(connection)
    templates = load_templates()
    entrypoints = {str(template["entrypoint"]) for template in chosen_templates(templates, only)}
    flows: dict[str, Any] = {}
    if not print_only:
        _ensure_pool(pool)
        # The flows are imported (seconds on a busy machine) before the schedules' anchor is taken, so that a short
        # ``start_in`` still lies ahead when the scheduler first sees the schedules; each flow once.
        flows = {entrypoint: _load_flow(entrypoint) for entrypoint in entrypoints}
    generated = connection_file(templates, connection, block_id, now=datetime.now(UTC), start_in=start_in, only=only)
    for deployment in generated["deployments"]:
        deployment["work_pool"] = {**deployment.get("work_pool", {}), "name": pool}
    if print_only:
        return [yaml.safe_dump(generated, sort_keys=False, allow_unicode=True)]
    pull_steps = generated.get("pull") or []
    return [_apply(d, pull_steps, flows[str(d["entrypoint"])]) for d in generated["deployments"]]


def _load_flow(entrypoint: str) -> Any:
    """The flow object of a deployment's ``path:function`` entrypoint (imports the flow's module)."""
    from prefect.flows import load_flow_from_entrypoint

    path, _, function = entrypoint.partition(":")
    return load_flow_from_entrypoint(f"{PROJECT_ROOT / path}:{function}")


def _apply(deployment: dict[str, Any], pull_steps: list[dict[str, Any]], flow: Any) -> str:
    """Create or update one deployment of ``flow`` as ``prefect deploy`` would; return its full name."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.client.schemas.objects import ConcurrencyLimitStrategy, ConcurrencyOptions
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule
    from prefect.utilities.callables import parameter_schema

    schedules = []
    for spec in deployment.get("schedules") or []:
        if "interval" in spec:
            interval = timedelta(seconds=float(spec["interval"]))
            timing: Any = IntervalSchedule(interval=interval, anchor_date=datetime.fromisoformat(spec["anchor_date"]))
        else:
            timing = CronSchedule(cron=spec["cron"], timezone=spec.get("timezone") or "UTC")
        schedules.append(DeploymentScheduleCreate(schedule=timing, active=bool(spec["active"])))
    limit = deployment.get("concurrency_limit")
    options = None
    if isinstance(limit, dict):
        options = ConcurrencyOptions(collision_strategy=ConcurrencyLimitStrategy(limit["collision_strategy"]))
        limit = limit["limit"]
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name(flow.name)
        client.create_deployment(
            flow_id=flow_id, name=deployment["name"], version=flow.version, schedules=schedules,
            concurrency_limit=limit, concurrency_options=options, parameters=deployment.get("parameters") or {},
            description=deployment.get("description"), work_pool_name=deployment["work_pool"]["name"],
            work_queue_name=deployment["work_pool"].get("work_queue_name"), tags=list(deployment.get("tags") or []),
            entrypoint=deployment["entrypoint"], pull_steps=pull_steps,
            parameter_openapi_schema=parameter_schema(flow).model_dump_for_openapi(),
            enforce_parameter_schema=bool(deployment.get("enforce_parameter_schema", True)),
        )
    return f"{flow.name}/{deployment['name']}"


def _connection_block_id(connection: str) -> str:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            document = client.read_block_document_by_name(connection, block_type_slug=CONNECTION_BLOCK_TYPE)
        except ObjectNotFound:
            raise CommandError(
                f"no Tandem Sync Connection block named {connection!r} on this Prefect server: save it first "
                "(docs/operating/deployments.md, step 4), or check the name with `prefect block ls`"
            ) from None
    return str(document.id)


def _ensure_pool(pool: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    with get_client(sync_client=True) as client:
        try:
            client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        except ObjectAlreadyExists:
            return


def main_deploy(connection: str, *, pool: str, start_in_seconds: int, only: list[str], print_only: bool) -> int:
    """The ``tandem deploy`` command: deploy, then say what was created and what to run next."""
    if start_in_seconds < 0:
        raise CommandError("--start-in must be 0 seconds or more")
    deployed = deploy_connection(
        connection, pool=pool, start_in=timedelta(seconds=start_in_seconds), only=only, print_only=print_only
    )
    if print_only:
        sys.stdout.write(deployed[0])
        return 0
    print(f"Deployed {len(deployed)} deployments of connection {connection!r} to pool {pool!r}:")
    for name in deployed:
        print(f"  {name}")
    print(f"Start a worker to run them: prefect worker start --pool {pool}   (or: make worker)")
    return 0
