"""``tandem serve``: the sync status cards as JSON and as HTML, and the schedule view, over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse

from tandem.status.cards import CardSource
from tandem.store.tables import Side
from web.html import cards_page
from web.sources import card_source, schedule


def create_app(connection: str) -> FastAPI:
    """The web app for one connection (its block is loaded once, on the first card asked for).

    Args:
        connection: the Tandem Sync Connection block whose records the cards describe.
    """
    app = FastAPI(title="Tandem", description="Sync status cards and the sync schedule.")
    loaded: Callable[[], CardSource] = lru_cache(maxsize=1)(lambda: card_source(connection))

    def cards(side: Side, record_type: str, record_id: str) -> list[Any]:
        found = loaded().cards(side, record_type, record_id)
        if not found:
            raise HTTPException(
                404, f"no entity of connection {connection!r} syncs the {side.value} type {record_type!r}"
            )
        return found

    @app.get("/cards/{side}/{record_type}/{record_id}")
    def card_json(side: Side, record_type: str, record_id: str) -> list[dict[str, Any]]:
        """The record's cards, one per entity it syncs through."""
        return [card.as_dict() for card in cards(side, record_type, record_id)]

    @app.get("/cards/{side}/{record_type}/{record_id}/html", response_class=HTMLResponse)
    def card_html(side: Side, record_type: str, record_id: str) -> str:
        """The record's cards as a small HTML page, to embed beside the record."""
        return cards_page(side.value, record_type, record_id, cards(side, record_type, record_id))

    @app.get("/schedule")
    def schedule_json() -> dict[str, Any]:
        """One row per deployment: what it syncs, how often, its last and next runs."""
        found, origin = schedule()
        return {"source": origin, "deployments": [row.as_dict() for row in found]}

    return app
