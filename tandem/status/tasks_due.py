"""The task list (the Sales Connect command centre): the synced reminder tasks due today and tomorrow, by due
date, with their sync status.

Salesforce is authoritative for the list: the tasks, their due dates (``ActivityDate``, a date without a time),
subjects, statuses and owners are read live through the Salesforce adapter (one query on ``ActivityDate``), as
the command centre shows what Salesforce holds. The state store is authoritative for the sync status: each task's
binding gives its card (up to date, not synced with the error, excluded ...). A task is *synced* — listed — when
it has a binding in a task entity or its link key (``ERP_Id__c``) is set; Salesforce tasks that never took part
in the sync are left out. The ERP is not called: its ``dueDate`` is a dateTime whose calendar date Tandem takes
as written, so it would answer the same list, less directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote

import pandas as pd

from tandem.mapping import EntityMapping
from tandem.status.cards import CardSource, CardStatus, SyncCard
from tandem.status.links import record_url
from tandem.store.tables import Side

#: Where ``tandem serve`` lists the tasks due.
TASKS_DUE_PATH = "/tasks/due"
#: The Salesforce object of reminder tasks.
TASK_OBJECT = "Task"
#: The task fields the list shows (``Owner.*`` through the owner relationship).
TASK_FIELDS = ("Subject", "Status", "Priority", "ActivityDate", "OwnerId", "Owner.Name", "Owner.Username")
#: Higher priorities first within a day.
PRIORITY_ORDER = {"High": 0, "Normal": 1, "Low": 2}


class TaskListError(ValueError):
    """The list cannot be made: no task entity in the mapping set, or an unknown owner."""


class TaskReader(Protocol):
    """What the list reads Salesforce through (:class:`tandem.salesforce.adapter.SalesforceAdapter`)."""

    def read_by_keys(self, entity: str, key_field: str, keys: Sequence[str], *, fields: Sequence[str]) -> pd.DataFrame:
        """The ``entity`` records whose ``key_field`` is one of ``keys``."""
        ...


@dataclass(frozen=True)
class DueTask:
    """One synced reminder task due on the list's days.

    Attributes:
        id: the Salesforce task id.
        subject: its subject.
        due: its due date.
        status: its Salesforce status (Not Started, Completed ...).
        priority: its priority.
        owner_id: its owner's user id.
        owner: its owner's name.
        url: where it opens in Salesforce.
        erp_id: its ERP partner's id (from its binding), else its link key.
        card: its sync status card (the task entity's).
        card_path: its card page on ``tandem serve``.
    """

    id: str
    subject: str
    due: date
    status: str
    priority: str
    owner_id: str | None
    owner: str | None
    url: str
    erp_id: str | None
    card: SyncCard
    card_path: str

    def as_dict(self) -> dict[str, Any]:
        """The task as JSON-ready data (its card under ``sync``)."""
        return {
            "id": self.id, "subject": self.subject, "due": self.due.isoformat(), "status": self.status,
            "priority": self.priority, "owner_id": self.owner_id, "owner": self.owner, "url": self.url,
            "erp_id": self.erp_id, "sync_status": self.card.status.value, "sync_detail": self.card.detail,
            "last_synced": self.card.last_updated.isoformat() if self.card.last_updated else None,
            "card_path": self.card_path,
        }


@dataclass(frozen=True)
class TaskList:
    """The tasks due on ``days`` (today and tomorrow), by due date."""

    connection: str
    days: tuple[date, date]
    owner: str | None
    tasks: list[DueTask]

    def on(self, day: date) -> list[DueTask]:
        """The tasks due on ``day``."""
        return [task for task in self.tasks if task.due == day]

    def as_dict(self) -> dict[str, Any]:
        """The list as JSON-ready data."""
        return {"connection": self.connection, "today": self.days[0].isoformat(),
                "tomorrow": self.days[1].isoformat(), "owner": self.owner,
                "tasks": [task.as_dict() for task in self.tasks]}


def parse_day(text: str) -> date:
    """An ISO date (``2026-12-05``).

    Raises:
        ValueError: it is not one.
    """
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO date (2026-12-05)") from None


def _task_entity(cards: CardSource) -> EntityMapping:
    found = cards.entities_of(Side.CRM, TASK_OBJECT)
    if not found:
        raise TaskListError(f"no entity of connection {cards.connection!r} syncs Salesforce tasks")
    return found[0]


def _owner_id(reader: TaskReader, owner: str) -> str:
    """The user id of ``owner`` (a Salesforce user id or username)."""
    key = "Id" if owner.startswith("005") and len(owner) in (15, 18) else "Username"
    users = reader.read_by_keys("User", key, [owner], fields=["Username"])
    if users.empty:
        raise TaskListError(f"no Salesforce user with the {key.lower()} {owner!r}")
    return str(users["id"].iloc[0])


def _text(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def tasks_due(reader: TaskReader, cards: CardSource, *, today: date, owner: str | None = None) -> TaskList:
    """The synced reminder tasks due ``today`` and the day after, by due date, then priority, then subject.

    Args:
        reader: the Salesforce adapter.
        cards: the connection's card source (its mapping set names the task entity; its store the bindings).
        today: the first day of the list.
        owner: only the tasks of this Salesforce user (an id or a username).

    Raises:
        TaskListError: the connection syncs no tasks, or ``owner`` is no Salesforce user.
    """
    entity = _task_entity(cards)
    days = (today, today + timedelta(days=1))
    owner_id = _owner_id(reader, owner) if owner else None
    # ActivityDate is a date: format_soql writes date keys as SOQL date literals (2026-12-05, unquoted).
    keys: list[Any] = list(days)
    frame = reader.read_by_keys(TASK_OBJECT, "ActivityDate", keys, fields=[*TASK_FIELDS, entity.crm_key])
    found = []
    for record in frame.to_dict("records"):
        if owner_id is not None and record.get("OwnerId") != owner_id:
            continue
        task_id = str(record["id"])
        [card] = [c for c in cards.cards(Side.CRM, TASK_OBJECT, task_id) if c.entity == entity.name]
        link = _text(record.get(entity.crm_key))
        if link is None and card.status in (CardStatus.SYNC_NOT_FOUND, CardStatus.SYNC_DISABLED):
            continue  # no link key and no binding: it never took part in the sync
        found.append(DueTask(
            id=task_id, subject=_text(record.get("Subject")) or "", due=parse_day(str(record["ActivityDate"])),
            status=_text(record.get("Status")) or "", priority=_text(record.get("Priority")) or "",
            owner_id=_text(record.get("OwnerId")), owner=_text(record.get("Owner.Name")),
            url=record_url(Side.CRM, TASK_OBJECT, task_id, crm_base=cards.crm_base, erp_base=cards.erp_base) or "",
            erp_id=card.synced_with.id if card.synced_with else link, card=card,
            card_path=f"/cards/crm/{TASK_OBJECT}/{quote(task_id, safe='')}/html",
        ))
    found.sort(key=lambda t: (t.due, PRIORITY_ORDER.get(t.priority, 9), t.subject.casefold(), t.id))
    return TaskList(connection=cards.connection, days=days, owner=owner, tasks=found)


def local_today() -> date:
    """Today on this machine's clock (the list's default first day)."""
    return datetime.now().astimezone().date()


def format_list(listing: TaskList) -> str:
    """The list as text: a heading per day, one aligned line per task (due, priority, status, sync status)."""
    lines = []
    for day, word in zip(listing.days, ("today", "tomorrow"), strict=True):
        tasks = listing.on(day)
        lines.append(f"due {word} ({day.isoformat()}): {len(tasks)} task{'' if len(tasks) == 1 else 's'}")
        rows = [(t.id, t.subject, t.priority, t.status, t.owner or t.owner_id or "-", t.card.status.value,
                 t.erp_id or "-") for t in tasks]
        if rows:
            header = ("task", "subject", "priority", "status", "owner", "sync status", "erp id")
            widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
            for row in [header, *rows]:
                lines.append("  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)
