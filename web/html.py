"""The small HTML card shown beside a record (self-contained: inline CSS, no script)."""

from __future__ import annotations

from html import escape

from tandem.status.cards import CardStatus, SyncCard

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
        f"<dt>last updated</dt><dd class=\"updated\">{escape(updated)}</dd></dl></div>"
    )


def cards_page(side: str, record_type: str, record_id: str, cards: list[SyncCard]) -> str:
    """A page with the record's cards, for an iframe beside the record."""
    title = escape(f"Tandem sync: {record_type} {record_id}")
    body = "".join(_card_html(card) for card in cards) or '<div class="card">This record type is not synced.</div>'
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{STYLE}</style></head><body data-side=\"{escape(side)}\">{body}</body></html>"
    )
