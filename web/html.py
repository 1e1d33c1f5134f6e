"""The small HTML card shown beside a record, and the failing-records page (self-contained: inline CSS, no script)."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from tandem.status.cards import CardStatus, SyncCard
from tandem.status.failures import FAILURES_PATH, FailingRecord, FailureList, FailureSource
from tandem.status.history import HistoryEntry, history_path, retry_command, retry_path
from tandem.status.review import EntityReview, JobStatus, LastCounts, Review
from tandem.status.tasks_due import DueTask, TaskList

#: The status colours (background of the status badge).
COLOURS = {
    CardStatus.UP_TO_DATE: "#1e8e3e",
    CardStatus.SYNC_NOT_FOUND: "#5f6368",
    CardStatus.SYNC_DISABLED: "#9aa0a6",
    CardStatus.NOT_SYNCED: "#d93025",
    CardStatus.UNKNOWN: "#f9ab00",
    CardStatus.EXCLUDED: "#1a73e8",
}
STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:8px;background:#fff;color:#202124}
.card{border:1px solid #dadce0;border-radius:8px;padding:12px 14px;margin-bottom:8px;max-width:420px}
.head{display:flex;justify-content:space-between;align-items:center;margin-bottom:6px}
.entity{font-weight:600}.status{color:#fff;border-radius:12px;padding:2px 10px;font-size:12px}
dl{margin:0;display:grid;grid-template-columns:auto 1fr;gap:2px 10px}dt{color:#5f6368}dd{margin:0}
form.retry{display:inline;margin-left:8px}form.retry button{font:inherit;font-size:12px;padding:0 8px}
"""


def _card_html(card: SyncCard, *, links: bool = True) -> str:
    colour = COLOURS[card.status]
    partner = "—"
    if card.synced_with is not None:
        p = card.synced_with
        label = escape(f"{p.object} {p.id} ({p.side.upper()})")
        partner = (f'<a class="partner" href="{escape(p.url)}" target="_blank" rel="noopener">{label}</a>'
                   if p.url else label)
    updated = card.last_updated.strftime("%Y-%m-%d %H:%M UTC") if card.last_updated else "never"
    failures = _failures_row(card) if links else ""
    return (
        f'<div class="card" data-entity="{escape(card.entity)}" data-status="{escape(card.status.value)}">'
        f'<div class="head"><span class="entity">{escape(card.entity)}</span>'
        f'<span class="status" style="background:{colour}">{escape(card.status.value)}</span></div>'
        f"<dl><dt>synced with</dt><dd>{partner}</dd>"
        f"<dt>status</dt><dd class=\"detail\">{escape(card.detail)}</dd>"
        f"<dt>last updated</dt><dd class=\"updated\">{escape(updated)}</dd>{failures}</dl></div>"
    )


def _failures_row(card: SyncCard) -> str:
    """A *not synced* card's links: the record's failure history, a retry of it, and its entity's failing records."""
    if card.failures_url is None:
        return ""
    label = escape(f"every failing {card.entity} record")
    history = escape(history_path(card.entity, card.side, card.record_id))
    return (
        f'<dt>sync status</dt><dd><a class="history" href="{history}" target="_blank" rel="noopener">failure '
        f'history of this record</a><form class="retry" method="post" target="_blank" '
        f'action="{escape(retry_path(card.entity, card.side, card.record_id))}"><button>Retry now</button></form></dd>'
        f'<dt>failing</dt><dd><a class="failures" href="{escape(card.failures_url)}" target="_blank" '
        f'rel="noopener">{label}</a></dd>'
    )


def cards_page(side: str, record_type: str, record_id: str, cards: list[SyncCard]) -> str:
    """A page with the record's cards, for an iframe beside the record."""
    title = escape(f"Tandem sync: {record_type} {record_id}")
    body = "".join(_card_html(card) for card in cards) or '<div class="card">This record type is not synced.</div>'
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{STYLE}</style></head><body data-side=\"{escape(side)}\">{body}</body></html>"
    )


FAILURES_STYLE = """
h1{font-size:16px;margin:0 0 8px}form{margin:0 0 10px;display:flex;gap:8px;align-items:center;flex-wrap:wrap}
input,select,button{font:inherit}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #dadce0;vertical-align:top}
th{color:#5f6368;font-weight:500}
td.when{white-space:nowrap}.note{color:#5f6368;margin:8px 0}.error{color:#d93025}
"""


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "—"


def _failure_row(record: FailingRecord, card_path: str | None) -> str:
    side = record.side.value if record.side is not None else "both"
    record_cell = escape(record.record_id)
    if card_path is not None:
        record_cell = f'<a class="record" href="{escape(card_path)}">{record_cell}</a>'
    if record.side is not None:
        history = escape(history_path(record.entity, record.side, record.record_id))
        record_cell += f' <a class="history note" href="{history}">history</a>'
    run = f"{record.procedure} #{record.run_id}" if record.run_id is not None else "—"
    colour = COLOURS[CardStatus.NOT_SYNCED]
    return (
        f'<tr data-entity="{escape(record.entity)}" data-side="{escape(side)}" '
        f'data-record-id="{escape(record.record_id)}">'
        f"<td>{escape(record.entity)}</td><td>{escape(side.upper())}</td><td>{record_cell}</td>"
        f"<td>{escape(record.partner_id or '—')}</td>"
        f'<td><span class="status code" style="background:{colour}">{escape(record.error_code or "failed")}</span> '
        f'<span class="message">{escape(record.error_message or "")}</span></td>'
        f'<td class="when">{escape(_when(record.failing_since))}</td>'
        f'<td class="when">{escape(_when(record.last_attempt_at))}</td>'
        f'<td class="when" title="{escape(record.flow_run_id or "")}">{escape(run)}</td></tr>'
    )


def failures_page(
    source: FailureSource, listing: FailureList, *, entity: str | None, since: str | None, error: str | None = None
) -> str:
    """The page listing a connection's failing records, with a form to narrow it by entity and time."""
    title = escape(f"Tandem: failing records of {source.connection}")
    options = "".join(
        f'<option value="{escape(name)}"{" selected" if name == entity else ""}>{escape(name)}</option>'
        for name in source.entities
    )
    form = (
        f'<form method="get" action="{FAILURES_PATH}"><label>entity <select name="entity"><option value="">every '
        f"entity</option>{options}</select></label><label>failed since <input name=\"since\" "
        f'value="{escape(since or "")}" placeholder="2026-12-01T08:00"></label><button>Show</button></form>'
    )
    if error is not None:
        body = f'<p class="note error">{escape(error)}</p>'
    elif not listing.records:
        body = '<p class="note">No record is failing.</p>'
    else:
        header = "".join(f"<th>{name}</th>" for name in (
            "entity", "side", "record", "partner", "error", "failing since", "last attempt", "run"))
        rows = "".join(_failure_row(r, source.card_path(r)) for r in listing.records)
        more = (f'<p class="note">The {len(listing.records)} latest failures are shown; more records fail: narrow '
                "the list.</p>") if listing.truncated else ""
        body = f'<table class="failures"><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>{more}'
    count = f"{len(listing.records)}{'+' if listing.truncated else ''}"
    heading = f"Failing records of {escape(source.connection)} ({count})"
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{STYLE}{FAILURES_STYLE}</style></head><body><h1>{heading}</h1>{form}{body}</body></html>"
    )


#: The review's job colours (background of the state badge).
JOB_COLOURS = {
    JobStatus.WAITING: "#5f6368",
    JobStatus.RUNNING: "#1a73e8",
    JobStatus.SUCCEEDED: "#1e8e3e",
    JobStatus.FAILED: "#d93025",
    JobStatus.SKIPPED: "#f9ab00",
    JobStatus.NOT_IN_RUN: "#9aa0a6",
    JobStatus.NEVER_RUN: "#9aa0a6",
}
#: Seconds between reloads of the review while its run runs.
REVIEW_REFRESH_SECONDS = 5
REVIEW_STYLE = """
h1{font-size:16px;margin:0 0 4px}h2{font-size:14px;margin:14px 0 4px}.run{color:#5f6368;margin:0 0 10px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #dadce0;
vertical-align:top}th{color:#5f6368;font-weight:500}td.num{text-align:right;white-space:nowrap}
.status{white-space:nowrap}tr.disabled td{color:#9aa0a6}details{margin:2px 0}summary{cursor:pointer;color:#1a73e8}
table.fields{margin:4px 0 8px;font-size:13px}table.fields td,table.fields th{padding:2px 6px}
.note{color:#5f6368}code{font-size:12px}
"""
_ARROWS = {"to_crm": "←", "to_erp": "→", "both": "↔"}


def _counts_cell(last: LastCounts | None) -> str:
    if last is None:
        return '<td class="note">—</td>'
    shown = ", ".join(f"{value:,} {name}" for name, value in last.counts.items() if value) or (
        "nothing to do" if last.state == "succeeded" else "failed before any count")
    return (f'<td class="last" title="run {last.run_id}, {escape(last.state)}">{escape(shown)}'
            f'<div class="note">run #{last.run_id}, {escape(_when(last.finished_at))}</div></td>')


def _value_map(field: dict[str, Any]) -> str:
    shown = "; ".join(f"{p['crm']} {_ARROWS[p['direction']]} {p['erp']}" for p in field["value_map"])
    extra = [f"{side} values not synced: {', '.join(values)}" for side, values in field["not_synced"].items() if values]
    return escape("; ".join([part for part in (shown, *extra) if part]) or "—")


def _mapping_details(row: EntityReview) -> str:
    m = row.mapping
    notes = [f"key {m['crm_key']}", f"deletion: {m['deletion']}"]
    if m["depends_on"]:
        notes.append(f"after {', '.join(m['depends_on'])}")
    if m["match_keys"]:
        groups = [" and ".join(f"{k['crm']} = {k['erp']}" for k in group) for group in m["match_keys"]]
        notes.append(f"matched on {' or '.join(groups)}")
    if m["filters"]:
        notes.append(f"filters: {'; '.join(m['filters'])}")
    if m["only_new_to_crm"]:
        notes.append("only records created after sync was enabled go to Salesforce")
    if not m["create_missing"]:
        notes.append("couples existing records, creates none")
    header = "".join(f"<th>{name}</th>" for name in ("Salesforce field", "", "ERP field", "type", "value map", "rule"))
    body = []
    for f in m["fields"]:
        rules = [word for word, on in (("on create only", f["only_on_create"]),
                                       (f"reference to {', '.join(f['reference'])}", f["reference"]),
                                       (f"template {f['template']}", f["template"])) if on]
        body.append(
            f'<tr><td><code>{escape(f["crm"])}</code></td><td title="{escape(f["direction"])}">'
            f'{_ARROWS[f["direction"]]}</td><td><code>{escape(f["erp"])}</code></td>'
            f'<td>{escape(f["type"] or "")}</td><td>{_value_map(f)}</td><td>{escape("; ".join(rules))}</td></tr>'
        )
    summary = escape(f"{m['crm_object']} {_ARROWS[m['direction']]} {m['erp_type']}: {len(m['fields'])} fields")
    return (f'<details class="mapping"><summary>{summary}</summary><div class="note">{escape("; ".join(notes))}'
            f'</div><table class="fields"><thead><tr>{header}</tr></thead><tbody>{"".join(body)}</tbody></table>'
            "</details>")


def _review_row(row: EntityReview) -> str:
    job = row.job
    colour = JOB_COLOURS[job.status]
    errors = ", ".join(f"{n:,} {code}" for code, n in job.error_codes.items())
    failed_records = f'<div class="note errors">records failed: {escape(errors)}</div>' if errors else ""
    enabled = "" if row.enabled else '<div class="note">not enabled on this connection</div>'
    return (
        f'<tr class="{"enabled" if row.enabled else "disabled"}" data-entity="{escape(row.entity)}" '
        f'data-status="{escape(job.status.value)}"><td class="num">{row.level}</td>'
        f'<td><b>{escape(row.entity)}</b>{enabled}</td>'
        f'<td class="status"><span class="status badge" style="background:{colour};color:#fff;border-radius:12px;'
        f'padding:2px 10px;font-size:12px">{escape(job.status.value)}</span></td>'
        f'<td class="detail">{escape(job.detail)}{failed_records}</td>{_counts_cell(row.last)}'
        f"<td>{_mapping_details(row)}</td></tr>"
    )


def review_page(review: Review) -> str:
    """The full-sync review: one row per entity in dependency order; it reloads itself while the run runs."""
    title = escape(f"Tandem: full synchronization review of {review.connection}")
    refresh = f'<meta http-equiv="refresh" content="{REVIEW_REFRESH_SECONDS}">' if review.running else ""
    run = review.run
    if run is None:
        line = f"No {escape(review.procedure)} has run on this connection yet."
    else:
        when = (f"running since {_when(run.started_at)} (this page reloads every {REVIEW_REFRESH_SECONDS} s)"
                if review.running else f"{run.state}, {_when(run.started_at)} to {_when(run.finished_at)}")
        flow = f", flow run {run.flow_run_id}" if run.flow_run_id else ""
        message = f" — {run.message}" if run.message else ""
        line = escape(f"{run.procedure} run #{run.id}{flow}: {when}{message}")
    header = "".join(f"<th>{name}</th>" for name in ("order", "entity", "state", "detail", "last counts",
                                                        "integration table mapping"))
    rows = "".join(_review_row(row) for row in review.entities)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">{refresh}<title>{title}</title>'
        f"<style>{STYLE}{REVIEW_STYLE}</style></head><body data-running=\"{str(review.running).lower()}\">"
        f"<h1>Full synchronization review: {escape(review.connection)}</h1>"
        f'<p class="run">{line}</p><table class="review"><thead><tr>{header}</tr></thead><tbody>{rows}</tbody>'
        "</table></body></html>"
    )


TASKS_STYLE = """
h1{font-size:16px;margin:0 0 8px}h2{font-size:14px;margin:14px 0 4px}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #dadce0;vertical-align:top}
th{color:#5f6368;font-weight:500}.note{color:#5f6368}td.when{white-space:nowrap}
"""


def _task_row(task: DueTask) -> str:
    colour = COLOURS[task.card.status]
    return (
        f'<tr data-task-id="{escape(task.id)}" data-status="{escape(task.card.status.value)}">'
        f'<td><a class="task" href="{escape(task.url)}" target="_blank" rel="noopener">{escape(task.subject or "—")}'
        f"</a></td><td>{escape(task.priority)}</td><td>{escape(task.status)}</td>"
        f"<td>{escape(task.owner or task.owner_id or '—')}</td>"
        f'<td><a class="card-link" href="{escape(task.card_path)}"><span class="status" style="background:{colour}">'
        f'{escape(task.card.status.value)}</span></a> <span class="note">{escape(task.card.detail)}</span></td>'
        f"<td>{escape(task.erp_id or '—')}</td><td class=\"when\">{escape(_when(task.card.last_updated))}</td></tr>"
    )


def tasks_page(listing: TaskList) -> str:
    """The synced reminder tasks due today and tomorrow, a table per day, each task with its sync status."""
    title = escape(f"Tandem: tasks due on {listing.connection}")
    owner = f" of {escape(listing.owner)}" if listing.owner else ""
    header = "".join(f"<th>{name}</th>" for name in ("subject", "priority", "status", "owner", "sync status",
                                                        "ERP task", "last synced"))
    sections = []
    for day, word in zip(listing.days, ("Today", "Tomorrow"), strict=True):
        tasks = listing.on(day)
        body = (f'<table class="tasks" data-day="{day.isoformat()}"><thead><tr>{header}</tr></thead><tbody>'
                f'{"".join(_task_row(t) for t in tasks)}</tbody></table>') if tasks else \
            '<p class="note">No synced task is due.</p>'
        sections.append(f"<h2>{word}, {day:%A %d %B %Y} ({len(tasks)})</h2>{body}")
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{STYLE}{TASKS_STYLE}</style></head><body><h1>Reminder tasks due{owner}: "
        f"{escape(listing.connection)}</h1>{''.join(sections)}</body></html>"
    )


HISTORY_STYLE = """
h1{font-size:16px;margin:0 0 8px}table{border-collapse:collapse;width:100%;margin-top:8px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #dadce0;vertical-align:top}
th{color:#5f6368;font-weight:500}td.when{white-space:nowrap}.note{color:#5f6368;margin:8px 0}
.done{color:#1e8e3e}.error{color:#d93025}form.retry{display:inline}code{font-size:12px}
"""


def _history_row(entry: HistoryEntry) -> str:
    colour = COLOURS[CardStatus.NOT_SYNCED]
    run = f"{entry.procedure} #{entry.run_id} ({entry.run_state})"
    return (
        f'<tr><td class="when">{escape(_when(entry.occurred_at))}</td><td><span class="status code" '
        f'style="background:{colour}">{escape(entry.code)}</span></td><td>{escape(entry.message)}</td>'
        f'<td class="when" title="{escape(entry.flow_run_id or "")}">{escape(run)}</td></tr>'
    )


def history_page(
    connection: str, entity: str, side: str, record_id: str, cards: list[SyncCard], history: list[HistoryEntry],
    *, notice: str | None = None, error: str | None = None,
) -> str:
    """A record's sync status: its card, its failures in the connection's runs (newest first) and a retry action."""
    title = escape(f"Tandem: sync history of {entity} {record_id} ({side.upper()})")
    cards_html = "".join(_card_html(card, links=False) for card in cards)
    if history:
        header = "".join(f"<th>{name}</th>" for name in ("failed at", "error", "message", "run"))
        table = (f'<table class="history"><thead><tr>{header}</tr></thead><tbody>'
                 f'{"".join(_history_row(e) for e in history)}</tbody></table>')
    else:
        table = '<p class="note">No run recorded a failure of this record.</p>'
    failing = any(card.status is CardStatus.NOT_SYNCED for card in cards)
    retry = (
        f'<form class="retry" method="post" action="{escape(retry_path(entity, side, record_id))}"><button>Retry '
        f'now</button></form><p class="note">Retry now runs, on the Prefect server: <code>'
        f"{escape(retry_command(connection, entity, record_id))}</code></p>"
    ) if failing else '<p class="note">The record is not failing now: nothing to retry.</p>'
    notes = (f'<p class="note done">{escape(notice)}</p>' if notice else "") + (
        f'<p class="note error">{escape(error)}</p>' if error else "")
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{STYLE}{HISTORY_STYLE}</style></head><body data-side=\"{escape(side)}\">"
        f"<h1>Sync status of {escape(entity)} {escape(record_id)} ({escape(side.upper())}) on "
        f'{escape(connection)}</h1>{notes}{cards_html}<div class="actions">{retry}</div>{table}'
        f'<p class="note"><a href="{escape(FAILURES_PATH)}?entity={escape(entity)}">every failing {escape(entity)} '
        "record</a></p></body></html>"
    )
