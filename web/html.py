"""The small HTML card shown beside a record, and the failing-records page (self-contained: inline CSS, no script)."""

from __future__ import annotations

from datetime import datetime
from html import escape

from tandem.status.cards import CardStatus, SyncCard
from tandem.status.failures import FAILURES_PATH, FailingRecord, FailureList, FailureSource

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
"""


def _card_html(card: SyncCard) -> str:
    colour = COLOURS[card.status]
    partner = "—"
    if card.synced_with is not None:
        p = card.synced_with
        label = escape(f"{p.object} {p.id} ({p.side.upper()})")
        partner = f'<a class="partner" href="{escape(p.url)}" target="_blank" rel="noopener">{label}</a>'
    updated = card.last_updated.strftime("%Y-%m-%d %H:%M UTC") if card.last_updated else "never"
    return (
        f'<div class="card" data-entity="{escape(card.entity)}" data-status="{escape(card.status.value)}">'
        f'<div class="head"><span class="entity">{escape(card.entity)}</span>'
        f'<span class="status" style="background:{colour}">{escape(card.status.value)}</span></div>'
        f"<dl><dt>synced with</dt><dd>{partner}</dd>"
        f"<dt>status</dt><dd class=\"detail\">{escape(card.detail)}</dd>"
        f"<dt>last updated</dt><dd class=\"updated\">{escape(updated)}</dd>{_failures_row(card)}</dl></div>"
    )


def _failures_row(card: SyncCard) -> str:
    """A *not synced* card's link to every failing record of its entity."""
    if card.failures_url is None:
        return ""
    label = escape(f"every failing {card.entity} record")
    return (
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
