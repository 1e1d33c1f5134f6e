"""Alerts for a connection's runs: Prefect automations that notify through a Prefect notification block.

``tandem alerts install --connection acme --notify slack-webhook/ops`` creates, on the Prefect server in
``PREFECT_API_URL``, one automation per alert, each sending a notification through the block
``slack-webhook/ops`` (any block with Prefect's ``notify`` capability: ``custom-webhook``, ``slack-webhook``,
``ms-teams-webhook``, ``sendgrid-email`` ...):

- ``tandem acme: run failed``: a run of the connection ends in a FAILED-type state;
- ``tandem acme: run crashed``: a run ends CRASHED (its process or infrastructure died);
- ``tandem acme: run needs attention``: a run ends in the COMPLETED-type state ``NeedsAttention`` (failed
  records or held conflicts);
- ``tandem acme: <deployment> overdue``, one per scheduled deployment: a scheduled run went Late and no run
  of the deployment started within two of its intervals.

The definitions are the YAML templates in ``automations/`` at the repository root; this module fills in
their ``${...}`` placeholders (connection, block id, deployment id and window) and creates the automations,
replacing those of the same name, so installing again never duplicates them. A connection's runs are
recognised by the tag ``connection:NAME`` that its deployments carry (``tandem deploy``) and their runs
inherit; the overdue windows come from the schedules of those deployments as the server has them.

Why the overdue alert is built this way (rather than the alternatives Prefect offers):

- The anchor is Prefect's own ``Late`` marking (the server's late-runs service, on by default): it only
  ever concerns runs that were due and did not start, so paused deployments, inactive schedules and
  on-demand deployments never alert, and nothing needs to know the schedule's phase.
- A *proactive* trigger (``after: Late``, ``expect:`` any started or finished state, ``within:`` two
  intervals) fires on the *absence* of a start, which is exactly "has not started within two intervals".
  Its window is per deployment (``for_each`` the related deployment): the first Late run opens it, later
  Late runs of the same deployment do not extend it, and any run of the deployment that starts closes it.
  So a worker that stays down is reported once per two intervals per deployment rather than once per
  missed run, and a Late run that the server deletes later (re-deploying deletes a deployment's scheduled
  runs) does not alert as long as runs start again.
- A proactive trigger *without* ``after`` ("expect a start within two intervals") keeps a window open all
  the time, so it alerts for paused deployments and inactive schedules (the two-way sync ships paused). A
  reactive trigger on Late with a threshold (N Late events within a window) fires on runs that are merely
  a little late and that a worker then does start, and cannot express "not started at all".
- Limits (from Prefect 3.8.8's source; the event-ordering hold was seen while writing the test):

  - the alert needs the server's late-runs and triggers services (both on by default in ``prefect server
    start``);
  - the scheduler inserts its runs without a ``Scheduled`` event, and a Late event names the run's previous
    state as the event it follows when that state is less than 5 minutes old; Prefect's event ordering then
    holds the Late event for up to 15 minutes waiting for it. In steady state the scheduler creates runs
    hours ahead, so this only concerns the first run or two after a deploy or a resume (the next Late run
    opens the window on time);
  - with Tandem's scheduled templates (``collision_strategy: CANCEL_NEW``) a run that hangs makes Prefect
    cancel the new scheduled runs instead of marking them Late: a hung run is not reported as overdue;
  - pausing a deployment while its runs are Late deletes them, and that is reported once.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import re
import string
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ops.prefect_api import require_server
from tandem.errors import CommandError

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.objects import BlockDocument
    from prefect.client.schemas.responses import DeploymentResponse
    from prefect.events.schemas.automations import Automation, AutomationCore

#: The automation templates (YAML), at the repository root.
AUTOMATIONS_DIR = Path(__file__).resolve().parents[1] / "automations"
#: Templates installed once per connection.
CONNECTION_TEMPLATES = ("run-failed.yaml", "run-crashed.yaml", "run-needs-attention.yaml")
#: Template installed once per scheduled deployment of the connection.
OVERDUE_TEMPLATE = "schedule-overdue.yaml"
#: A run is overdue when none started within this many of its deployment's intervals.
OVERDUE_INTERVALS = 2
#: Prefect refuses a proactive trigger whose window is shorter than this.
MIN_PROACTIVE_WINDOW = timedelta(seconds=10)
#: Fire times looked at to find a cron or RRule schedule's largest gap (a weekday cron's weekend, say).
FIRE_TIMES_SAMPLED = 15
#: Connection names are Tandem Sync Connection block names.
CONNECTION_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
BLOCK_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
_PLACEHOLDER_ONLY = re.compile(r"\$\{(\w+)\}")


@dataclass(frozen=True)
class ScheduledDeployment:
    """A deployment of the connection with a schedule, as the overdue template needs it."""

    id: str
    name: str
    schedule: str
    interval: timedelta


@dataclass(frozen=True)
class Change:
    """What ``install`` or ``uninstall`` did to one automation (``created``, ``replaced``, ``removed``)."""

    action: str
    name: str


def automation_prefix(connection: str) -> str:
    """The name prefix of every automation of ``connection`` (``tandem acme:``)."""
    return f"tandem {connection}:"


def check_connection_name(connection: str) -> str:
    """``connection``, once it is a valid Tandem Sync Connection block name.

    Raises:
        CommandError: it is not (block names are lowercase letters, digits and dashes).
    """
    if not CONNECTION_NAME.fullmatch(connection):
        raise CommandError(
            f"{connection!r} is not a connection name: Tandem Sync Connection block names are lowercase "
            "letters, digits and dashes"
        )
    return connection


def parse_block_spec(spec: str) -> tuple[str, str]:
    """Split ``--notify`` (``TYPE_SLUG/NAME``, as ``prefect block ls`` shows blocks) into slug and name.

    Raises:
        CommandError: the value does not have that shape.
    """
    slug, slash, name = spec.partition("/")
    if not slash or not BLOCK_NAME.fullmatch(slug) or not BLOCK_NAME.fullmatch(name):
        raise CommandError(
            f"--notify {spec!r}: expected a notification block as TYPE/NAME, e.g. custom-webhook/ops or "
            f"slack-webhook/ops (`prefect block ls` lists the blocks); types: {', '.join(notification_block_types())}"
        )
    return slug, name


def notification_block_types() -> list[str]:
    """The slugs of the notification block types Prefect ships (``custom-webhook``, ``slack-webhook`` ...)."""
    from prefect.blocks import notifications
    from prefect.blocks.abstract import NotificationBlock

    slugs = [
        value.get_block_type_slug()
        for value in vars(notifications).values()
        if isinstance(value, type) and issubclass(value, NotificationBlock) and "_block_type_name" in vars(value)
    ]
    return sorted(slugs)


def load_template(filename: str, directory: Path = AUTOMATIONS_DIR) -> dict[str, Any]:
    """One automation template of ``directory`` as data, placeholders still in."""
    data = yaml.safe_load((directory / filename).read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{directory / filename} does not hold one automation (a mapping)")
    return data


def fill(template: Any, values: Mapping[str, object]) -> Any:
    """``template`` with its ``${name}`` placeholders replaced by ``values``.

    A string that is only a placeholder takes the value as it is (a number stays a number); inside a longer
    string the value is written as text. Jinja's ``{{ ... }}`` is left alone for the Prefect server.

    Raises:
        KeyError: a placeholder has no value.
    """
    if isinstance(template, dict):
        return {key: fill(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [fill(item, values) for item in template]
    if isinstance(template, str):
        whole = _PLACEHOLDER_ONLY.fullmatch(template)
        if whole:
            return values[whole.group(1)]
        return string.Template(template).substitute(values)
    return template


def duration_text(span: timedelta) -> str:
    """``10 seconds``, ``10 minutes``, ``1 hour``, ``2 days`` (whole units only, else seconds)."""
    seconds = int(span.total_seconds())
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}" + ("" if count == 1 else "s")
    return f"{seconds} second" + ("" if seconds == 1 else "s")


def overdue_window(interval: timedelta) -> timedelta:
    """How long after a run went Late the deployment counts as overdue: two intervals, at least 10 s."""
    return max(OVERDUE_INTERVALS * interval, MIN_PROACTIVE_WINDOW)


def build_automations(
    connection: str, notify_block_id: str, scheduled: Sequence[ScheduledDeployment], directory: Path = AUTOMATIONS_DIR
) -> list[AutomationCore]:
    """The connection's automations, from the templates, validated as Prefect automations.

    Args:
        connection: the connection's name (its deployments carry the tag ``connection:NAME``).
        notify_block_id: the id of the notification block every alert sends through.
        scheduled: the connection's deployments that have a schedule (one overdue alert each).
        directory: where the templates are.
    """
    from prefect.events.schemas.automations import AutomationCore

    common = {"connection": connection, "notify_block_id": notify_block_id}
    filled = [fill(load_template(name, directory), common) for name in CONNECTION_TEMPLATES]
    overdue = load_template(OVERDUE_TEMPLATE, directory)
    for deployment in scheduled:
        window = overdue_window(deployment.interval)
        filled.append(fill(overdue, {
            **common, "deployment_id": deployment.id, "deployment_name": deployment.name,
            "schedule": deployment.schedule, "within_seconds": int(window.total_seconds()),
            "window": duration_text(window),
        }))
    return [AutomationCore.model_validate(data) for data in filled]


async def schedule_interval(schedule: Any, now: datetime | None = None) -> timedelta:
    """The longest time between two consecutive fire times of a Prefect schedule (client schema).

    An interval schedule's interval; for a cron or RRule schedule, the largest gap among its next fire times,
    computed the way the server's scheduler computes them (time zone and daylight saving included).
    """
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule, RRuleSchedule
    from prefect.server.schemas import schedules as server_schedules

    if isinstance(schedule, IntervalSchedule):
        return schedule.interval
    model: Any
    if isinstance(schedule, CronSchedule):
        model = server_schedules.CronSchedule.model_validate(schedule.model_dump())
    elif isinstance(schedule, RRuleSchedule):
        model = server_schedules.RRuleSchedule.model_validate(schedule.model_dump())
    else:
        raise ValueError(f"unsupported schedule type {type(schedule).__name__}")
    dates = await model.get_dates(n=FIRE_TIMES_SAMPLED, start=now or datetime.now(UTC))
    gaps = [later - earlier for earlier, later in itertools.pairwise(dates)]
    if not gaps:
        raise ValueError(f"the schedule {schedule!r} fires less than twice")
    return max(gaps)


def schedule_text(schedule: Any) -> str:
    """A schedule in words: ``every 5 minutes``, ``cron 0 2 * * * (UTC)``, ``rrule FREQ=...``."""
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule, RRuleSchedule

    if isinstance(schedule, IntervalSchedule):
        return f"every {duration_text(schedule.interval)}"
    if isinstance(schedule, CronSchedule):
        return f"cron {schedule.cron} ({schedule.timezone or 'UTC'})"
    if isinstance(schedule, RRuleSchedule):
        return f"rrule {schedule.rrule}"
    return type(schedule).__name__


async def scheduled_deployment(deployment: DeploymentResponse) -> ScheduledDeployment | None:
    """The deployment as the overdue alert needs it, or ``None`` when it has no schedule.

    Active schedules count when there are any, else all of them (a deployment shipped paused, such as the
    two-way incremental sync, gets its alert ready for when it is resumed). With several schedules the
    longest interval is used, so the alert never fires while runs are merely on time for one of them.
    """
    entries = [entry for entry in deployment.schedules if entry.active] or list(deployment.schedules)
    if not entries:
        return None
    timed = [(await schedule_interval(entry.schedule), entry.schedule) for entry in entries]
    interval, schedule = max(timed, key=lambda pair: pair[0])
    return ScheduledDeployment(id=str(deployment.id), name=deployment.name, schedule=schedule_text(schedule),
                               interval=interval)


async def connection_deployments(client: PrefectClient, connection: str) -> list[DeploymentResponse]:
    """The deployments on the server tagged ``connection:NAME``, by name."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags

    deployments = await client.read_deployments(
        deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[f"connection:{connection}"]))
    )
    return sorted(deployments, key=lambda deployment: deployment.name)


async def notification_block(client: PrefectClient, spec: str, api_url: str) -> BlockDocument:
    """The notification block named by ``--notify`` (``TYPE_SLUG/NAME``), read without its secrets.

    Raises:
        CommandError: there is no such block, or it cannot send notifications.
    """
    from prefect.exceptions import ObjectNotFound

    slug, name = parse_block_spec(spec)
    try:
        block = await client.read_block_document_by_name(name, block_type_slug=slug, include_secrets=False)
    except ObjectNotFound:
        raise CommandError(
            f"no notification block {spec} on {api_url}: create it first, in the UI (`prefect block create {slug}` "
            f"prints the form's address) or from Python (e.g. CustomWebhookNotificationBlock(name=..., url=...)"
            f".save({name!r}) or SlackWebhook(url=...).save({name!r}) from prefect.blocks.notifications); "
            f"`prefect block ls` lists the blocks; notification types: {', '.join(notification_block_types())}"
        ) from None
    capabilities = block.block_schema.capabilities if block.block_schema else []
    if "notify" not in capabilities:
        raise CommandError(
            f"the block {spec} cannot send notifications: use one of the types "
            f"{', '.join(notification_block_types())}"
        )
    return block


async def installed(client: PrefectClient, connection: str) -> list[Automation]:
    """The connection's automations on the server: tagged ``tandem`` and ``connection:NAME``, named ``tandem NAME:``."""
    from prefect.events.filters import AutomationFilter, AutomationFilterTags

    automations = await client.read_automations(
        automations=AutomationFilter(tags=AutomationFilterTags(all_=["tandem", f"connection:{connection}"]))
    )
    prefix = automation_prefix(connection)
    return sorted((a for a in automations if a.name.startswith(prefix)), key=lambda a: a.name)


async def apply(client: PrefectClient, connection: str, wanted: Sequence[AutomationCore]) -> list[Change]:
    """Make the connection's automations on the server exactly ``wanted``.

    An automation of the same name is replaced in place (it keeps its id); extra copies of a name and the
    connection's automations that are no longer wanted (a deployment gone) are deleted.
    """
    existing: dict[str, list[Automation]] = {}
    for present in await installed(client, connection):
        existing.setdefault(present.name, []).append(present)
    changes: list[Change] = []
    for automation in wanted:
        same_name = existing.pop(automation.name, [])
        if same_name:
            await client.update_automation(same_name[0].id, automation)
            for duplicate in same_name[1:]:
                await client.delete_automation(duplicate.id)
            changes.append(Change("replaced", automation.name))
        else:
            await client.create_automation(automation)
            changes.append(Change("created", automation.name))
    for name, stale in sorted(existing.items()):
        for present in stale:
            await client.delete_automation(present.id)
        changes.append(Change("removed", name))
    return changes


@dataclass(frozen=True)
class InstallResult:
    """What ``install`` did: the block used, the changes, and the deployments without an overdue alert."""

    block: str
    changes: list[Change]
    unscheduled: list[str]


async def install(connection: str, notify: str, api_url: str) -> InstallResult:
    """Create or replace the connection's alerts on the Prefect server, all notifying through ``notify``.

    Args:
        connection: the connection's name; its deployments carry the tag ``connection:NAME``.
        notify: the notification block, ``TYPE_SLUG/NAME`` (``custom-webhook/ops``).
        api_url: the server's API address (for messages).

    Raises:
        CommandError: no such block, or no deployment of the connection on the server.
    """
    from prefect.client.orchestration import get_client

    check_connection_name(connection)
    parse_block_spec(notify)
    async with get_client() as client:
        block = await notification_block(client, notify, api_url)
        deployments = await connection_deployments(client, connection)
        if not deployments:
            raise CommandError(
                f"no deployments of connection {connection!r} on {api_url} (none tagged connection:{connection}): "
                f"deploy it first with `tandem deploy --connection {connection}`"
            )
        scheduled: list[ScheduledDeployment] = []
        unscheduled: list[str] = []
        for deployment in deployments:
            entry = await scheduled_deployment(deployment)
            if entry:
                scheduled.append(entry)
            else:
                unscheduled.append(deployment.name)
        wanted = build_automations(connection, str(block.id), scheduled)
        changes = await apply(client, connection, wanted)
    return InstallResult(block=notify, changes=changes, unscheduled=unscheduled)


async def uninstall(connection: str) -> list[Change]:
    """Delete the connection's alerts from the Prefect server."""
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        return await apply(client, check_connection_name(connection), [])


async def describe_installed(connection: str) -> list[dict[str, str]]:
    """The connection's alerts on the server: name, state, trigger in words and the block it notifies."""
    from prefect.client.orchestration import get_client
    from prefect.events.actions import SendNotification
    from prefect.events.schemas.automations import EventTrigger

    rows: list[dict[str, str]] = []
    blocks: dict[str, str] = {}
    async with get_client() as client:
        for automation in await installed(client, check_connection_name(connection)):
            notifies = []
            for action in automation.actions:
                if isinstance(action, SendNotification):
                    key = str(action.block_document_id)
                    if key not in blocks:
                        try:
                            document = await client.read_block_document(action.block_document_id,
                                                                        include_secrets=False)
                            slug = document.block_type.slug if document.block_type else "?"
                            blocks[key] = f"{slug}/{document.name}"
                        except Exception:  # deleted since: say so rather than fail the listing
                            blocks[key] = f"missing block {key}"
                    notifies.append(blocks[key])
            trigger = automation.trigger
            when = (
                f"{trigger.posture.value.lower()}: {', '.join(sorted(trigger.after or trigger.expect))}"
                + (f" within {duration_text(trigger.within)}" if trigger.within else "")
                if isinstance(trigger, EventTrigger) else trigger.type
            )
            rows.append({"name": automation.name, "state": "enabled" if automation.enabled else "paused",
                         "trigger": when, "notifies": ", ".join(notifies) or "-"})
    return rows


DESCRIPTION = textwrap.dedent("""\
    Prefect automations that notify through a Prefect notification block when a run of the connection
    fails, crashes, ends with failed records or held conflicts (NeedsAttention), or when a scheduled
    deployment stops starting its runs (overdue: no run started within two intervals, e.g. no worker).
    The definitions are automations/*.yaml; installing again replaces them (same names, no duplicates).
    Needs PREFECT_API_URL and the connection's deployments (tandem deploy --connection NAME).

    example:
      prefect block create custom-webhook      # or create the block from Python: docs/operating/alerts.md
      tandem alerts install --connection acme --notify custom-webhook/ops
      tandem alerts list --connection acme
    """)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``install``, ``list`` and ``uninstall`` to the ``tandem alerts`` parser."""
    parser.description = DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    verbs = parser.add_subparsers(dest="alerts_command", required=True, metavar="{install,list,uninstall}")
    install_parser = verbs.add_parser(
        "install", help="create or replace the connection's alerts on the Prefect server",
        description="Create or replace the four alerts of a connection (one overdue alert per scheduled "
                    "deployment).\n\nexample:\n  tandem alerts install --connection acme --notify slack-webhook/ops",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    install_parser.add_argument("--connection", required=True,
                                help="the connection's name (its deployments carry the tag connection:NAME)")
    install_parser.add_argument("--notify", required=True, metavar="TYPE/NAME",
                                help="the notification block, as `prefect block ls` names it: custom-webhook/ops, "
                                     "slack-webhook/ops, sendgrid-email/ops ...")
    install_parser.set_defaults(handler=run_install)
    list_parser = verbs.add_parser(
        "list", help="show the connection's alerts on the Prefect server",
        description="Show the connection's alerts: name, state, trigger and the block they notify.\n\n"
                    "example:\n  tandem alerts list --connection acme",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    list_parser.add_argument("--connection", required=True, help="the connection's name")
    list_parser.set_defaults(handler=run_list)
    uninstall_parser = verbs.add_parser(
        "uninstall", help="delete the connection's alerts from the Prefect server",
        description="Delete the automations named `tandem NAME: ...` of the connection.\n\n"
                    "example:\n  tandem alerts uninstall --connection acme",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    uninstall_parser.add_argument("--connection", required=True, help="the connection's name")
    uninstall_parser.set_defaults(handler=run_uninstall)


def run_install(args: argparse.Namespace) -> int:
    """``tandem alerts install``: print one line per automation created, replaced or removed."""
    check_connection_name(args.connection)
    parse_block_spec(args.notify)
    url = require_server()
    result = asyncio.run(install(args.connection, args.notify, url))
    print(f"alerts of connection {args.connection} on {url}, notifying through {result.block}:")
    for change in result.changes:
        print(f"  {change.action:<9} {change.name}")
    if result.unscheduled:
        print(f"  (no overdue alert for the unscheduled deployments: {', '.join(result.unscheduled)})")
    return 0


def run_list(args: argparse.Namespace) -> int:
    """``tandem alerts list``: one line per alert of the connection."""
    check_connection_name(args.connection)
    url = require_server()
    rows = asyncio.run(describe_installed(args.connection))
    if not rows:
        print(f"no alerts of connection {args.connection} on {url}: "
              f"tandem alerts install --connection {args.connection} --notify TYPE/NAME")
        return 0
    width = max(len(row["name"]) for row in rows)
    for row in rows:
        print(f"{row['name']:<{width}}  {row['state']:<7}  {row['trigger']}  -> {row['notifies']}")
    return 0


def run_uninstall(args: argparse.Namespace) -> int:
    """``tandem alerts uninstall``: delete the connection's alerts."""
    check_connection_name(args.connection)
    url = require_server()
    changes = asyncio.run(uninstall(args.connection))
    if not changes:
        print(f"no alerts of connection {args.connection} on {url}")
    for change in changes:
        print(f"  {change.action:<9} {change.name}")
    return 0
