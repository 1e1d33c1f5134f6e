"""``tandem serve``: the sync status cards and the failing records as JSON and as HTML, and the schedule view,
over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from blocks.connection import SyncConnection
from tandem.status.cards import CardSource
from tandem.status.failures import DEFAULT_LIMIT, FAILURES_PATH, MAX_LIMIT, FailureList, UnknownEntityError, parse_since
from tandem.store.tables import Side
from web.html import cards_page, failures_page
from web.sources import card_source, failure_source, load_connection, schedule


def wants_json(request: Request, output: str | None) -> bool:
    """Whether to answer JSON: ``?format=json``, or an ``Accept`` header that asks for JSON and not for HTML."""
    if output is not None:
        return output == "json"
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def create_app(connection: str) -> FastAPI:
    """The web app for one connection (its block is loaded once, on the first card or listing asked for).

    Args:
        connection: the Tandem Sync Connection block whose records the cards and listings describe.
    """
    app = FastAPI(title="Tandem", description="Sync status cards, failing records and the sync schedule.")
    block: Callable[[], SyncConnection] = lru_cache(maxsize=1)(lambda: load_connection(connection))
    loaded: Callable[[], CardSource] = lru_cache(maxsize=1)(lambda: card_source(connection, block()))
    failing = lru_cache(maxsize=1)(lambda: failure_source(connection, block()))

    def cards(side: Side, record_type: str, record_id: str) -> list[Any]:
        found = loaded().cards(side, record_type, record_id)
        if not found:
            raise HTTPException(
                404, f"no entity of connection {connection!r} syncs the {side.value} type {record_type!r}"
            )
        return found

    @app.get("/cards/{side}/{record_type}/{record_id}")
    def card_json(side: Side, record_type: str, record_id: str) -> list[dict[str, Any]]:
        """The record's cards, one per entity it syncs through (a *not synced* card has a ``failures_url``)."""
        return [card.as_dict() for card in cards(side, record_type, record_id)]

    @app.get("/cards/{side}/{record_type}/{record_id}/html", response_class=HTMLResponse)
    def card_html(side: Side, record_type: str, record_id: str) -> str:
        """The record's cards as a small HTML page, to embed beside the record."""
        return cards_page(side.value, record_type, record_id, cards(side, record_type, record_id))

    @app.get(
        FAILURES_PATH,
        response_model=None,
        responses={200: {"content": {"application/json": {}, "text/html": {}}}, 400: {"description": "a bad filter"}},
    )
    def failures(
        request: Request,
        entity: str | None = Query(None, description="Only this entity's records."),
        since: str | None = Query(None, description="Only records that failed at or after this ISO date or time."),
        limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="At most this many records."),
        output: str | None = Query(None, alias="format", pattern="^(json|html)$", description="json or html."),
    ) -> Response:
        """The records failing now, newest failure first: JSON (a list of objects) or an HTML page.

        JSON when ``format=json`` or the ``Accept`` header asks for JSON, else HTML.
        """
        source = failing()
        as_json = wants_json(request, output)
        entity = entity or None
        try:
            moment = parse_since(since) if since else None
            listing = source.failures(entity=entity, since=moment, limit=limit)
        except (ValueError, UnknownEntityError) as exc:
            if as_json:
                raise HTTPException(400, str(exc)) from None
            page = failures_page(source, FailureList(), entity=entity, since=since, error=str(exc))
            return HTMLResponse(page, status_code=400)
        if as_json:
            return JSONResponse([record.as_dict() for record in listing.records])
        return HTMLResponse(failures_page(source, listing, entity=entity, since=since))

    @app.get("/schedule")
    def schedule_json() -> dict[str, Any]:
        """One row per deployment: what it syncs, how often, its last and next runs."""
        found, origin = schedule()
        return {"source": origin, "deployments": [row.as_dict() for row in found]}

    return app
