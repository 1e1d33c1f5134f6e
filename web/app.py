"""``tandem serve``: the sync status cards, the failing records and a record's failure history (with its retry),
the full-sync review, the tasks due and an item's availability, as JSON and as HTML, and the schedule view, over
HTTP."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from blocks.connection import SyncConnection
from tandem.errors import CommandError
from tandem.mapping import MappingError
from tandem.status.cards import CardSource, SyncCard
from tandem.status.failures import DEFAULT_LIMIT, FAILURES_PATH, MAX_LIMIT, FailureList, UnknownEntityError, parse_since
from tandem.status.history import history_path, record_history, retry_command, retry_deployment, retry_path
from tandem.status.review import FULL_SYNC, REVIEW_PATH
from tandem.status.tasks_due import TASKS_DUE_PATH, parse_day
from tandem.store.tables import Side
from web.availability import add_availability_routes
from web.html import cards_page, failures_page, history_page, review_page, tasks_page
from web.sources import (
    RetryUnavailableError,
    card_source,
    failure_source,
    load_connection,
    request_retry,
    review_source,
    review_with_reasons,
    schedule,
    task_list,
)


def wants_json(request: Request, output: str | None) -> bool:
    """Whether to answer JSON: ``?format=json``, or an ``Accept`` header that asks for JSON and not for HTML."""
    if output is not None:
        return output == "json"
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _with_links(card: SyncCard) -> dict[str, Any]:
    """A card as JSON; a *not synced* one with its record's failure history and retry paths."""
    data = card.as_dict()
    if card.failures_url is not None:
        data["history_url"] = history_path(card.entity, card.side, card.record_id)
        data["retry_url"] = retry_path(card.entity, card.side, card.record_id)
    return data


def create_app(connection: str) -> FastAPI:
    """The web app for one connection (its block is loaded once, on the first card or listing asked for).

    Args:
        connection: the Tandem Sync Connection block whose records the cards and listings describe.
    """
    app = FastAPI(title="Tandem", description="Sync status cards, failing records and their retry, the full-sync "
                  "review, the tasks due and the sync schedule.")
    block: Callable[[], SyncConnection] = lru_cache(maxsize=1)(lambda: load_connection(connection))
    loaded: Callable[[], CardSource] = lru_cache(maxsize=1)(lambda: card_source(connection, block()))
    failing = lru_cache(maxsize=1)(lambda: failure_source(connection, block()))
    reviewed = lru_cache(maxsize=1)(lambda: review_source(connection, block()))
    salesforce = lru_cache(maxsize=1)(lambda: block().require_salesforce("the tasks-due list").get_client())

    def cards(side: Side, record_type: str, record_id: str) -> list[Any]:
        found = loaded().cards(side, record_type, record_id)
        if not found:
            raise HTTPException(
                404, f"no entity of connection {connection!r} syncs the {side.value} type {record_type!r}"
            )
        return found

    @app.get("/cards/{side}/{record_type}/{record_id}")
    def card_json(side: Side, record_type: str, record_id: str) -> list[dict[str, Any]]:
        """The record's cards, one per entity it syncs through (a *not synced* card has a ``failures_url``, and
        its record's failure history and retry action as ``history_url`` and ``retry_url``)."""
        return [_with_links(card) for card in cards(side, record_type, record_id)]

    def record_type_of(entity: str, side: Side) -> str:
        try:
            mapped = loaded().mappings.entity(entity)
        except MappingError:
            raise HTTPException(404, f"no entity {entity!r} in the mapping set of connection {connection!r}") from None
        return mapped.crm_object if side is Side.CRM else mapped.erp_type

    @app.get(
        FAILURES_PATH + "/{entity}/{side}/{record_id}",
        response_model=None,
        responses={200: {"content": {"application/json": {}, "text/html": {}}}, 404: {"description": "no entity"}},
    )
    def record_status(
        request: Request, entity: str, side: Side, record_id: str,
        retry: str | None = Query(None, description="The flow run of a retry just requested (shown as a notice)."),
        output: str | None = Query(None, alias="format", pattern="^(json|html)$", description="json or html."),
    ) -> Response:
        """A record's sync status: its card, its failures in the connection's runs (newest first) and the retry
        action (``POST .../retry``)."""
        record_type = record_type_of(entity, side)
        source = loaded()
        found = [c for c in source.cards(side, record_type, record_id) if c.entity == entity]
        history = record_history(source.store, connection, entity, side, record_id)
        if wants_json(request, output):
            return JSONResponse({
                "connection": connection, "entity": entity, "side": side.value, "record_id": record_id,
                "cards": [_with_links(c) for c in found], "history": [e.as_dict() for e in history],
                "retry_url": retry_path(entity, side, record_id),
                "retry_command": retry_command(connection, entity, record_id),
            })
        notice = f"Retry requested: flow run {retry} (its outcome shows here once a worker has run it)." if retry \
            else None
        return HTMLResponse(history_page(connection, entity, side.value, record_id, found, history, notice=notice))

    @app.post(
        FAILURES_PATH + "/{entity}/{side}/{record_id}/retry",
        response_model=None,
        responses={202: {"description": "the retry run was created"}, 303: {"description": "to the history page"},
                   503: {"description": "no server or no retry deployment"}},
    )
    def retry_record(
        request: Request, entity: str, side: Side, record_id: str,
        output: str | None = Query(None, alias="format", pattern="^(json|html)$", description="json or html."),
    ) -> Response:
        """Retry the record now: a run of the connection's ``retry-records`` deployment for it.

        JSON (``202`` with the flow run) when asked for, else a redirect to the record's history page; ``503``
        with the command line to run instead when no server or deployment is there.
        """
        record_type_of(entity, side)
        as_json = wants_json(request, output)
        try:
            flow_run_id, state = request_retry(connection, entity, record_id)
        except RetryUnavailableError as exc:
            command = retry_command(connection, entity, record_id)
            if as_json:
                return JSONResponse({"detail": str(exc), "retry_command": command}, status_code=503)
            source = loaded()
            page = history_page(
                connection, entity, side.value, record_id,
                [c for c in source.cards(side, record_type_of(entity, side), record_id) if c.entity == entity],
                record_history(source.store, connection, entity, side, record_id),
                error=f"The retry could not start: {exc}. Run instead: {command}",
            )
            return HTMLResponse(page, status_code=503)
        if as_json:
            return JSONResponse({"flow_run_id": flow_run_id, "state": state, "deployment": retry_deployment(connection),
                                 "history_url": history_path(entity, side, record_id)}, status_code=202)
        target = history_path(entity, side, record_id) + "?" + urlencode({"retry": flow_run_id})
        return RedirectResponse(target, status_code=303)

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

    @app.get(
        REVIEW_PATH,
        response_model=None,
        responses={200: {"content": {"application/json": {}, "text/html": {}}}, 404: {"description": "no such run"}},
    )
    def review(
        request: Request,
        run: int | None = Query(None, description="Show this state store run (default: the latest full sync)."),
        procedure: str = Query(FULL_SYNC, description="Show the latest run of this procedure."),
        output: str | None = Query(None, alias="format", pattern="^(json|html)$", description="json or html."),
    ) -> Response:
        """The full-synchronization review: every entity in dependency order with its job's state in the run
        (waiting, running with records written so far, succeeded, failed with the reason, skipped with the
        dependencies that did not succeed), its last counts and its integration table mapping.

        JSON when ``format=json`` or the ``Accept`` header asks for JSON, else an HTML page that reloads itself
        while the run runs.
        """
        try:
            found = review_with_reasons(reviewed(), run_id=run, procedure=procedure)
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from None
        if wants_json(request, output):
            return JSONResponse(found.as_dict())
        return HTMLResponse(review_page(found))

    @app.get(
        TASKS_DUE_PATH,
        response_model=None,
        responses={200: {"content": {"application/json": {}, "text/html": {}}}, 400: {"description": "a bad filter"}},
    )
    def tasks_due(
        request: Request,
        owner: str | None = Query(None, description="Only this Salesforce user's tasks (a user id or username)."),
        today: str | None = Query(None, description="The list's first day (ISO date; default: today here)."),
        output: str | None = Query(None, alias="format", pattern="^(json|html)$", description="json or html."),
    ) -> Response:
        """The synced reminder tasks due today and tomorrow, by due date, each with its sync status (read live
        from Salesforce; the status from the state store).

        JSON when ``format=json`` or the ``Accept`` header asks for JSON, else an HTML page.
        """
        try:
            day = parse_day(today) if today else None
            listing = task_list(connection, today=day, owner=owner or None, block=block(), reader=salesforce())
        except (ValueError, CommandError) as exc:
            raise HTTPException(400, str(exc)) from None
        if wants_json(request, output):
            return JSONResponse(listing.as_dict())
        return HTMLResponse(tasks_page(listing))

    @app.get("/schedule")
    def schedule_json() -> dict[str, Any]:
        """One row per deployment: what it syncs, how often, its last and next runs."""
        found, origin = schedule()
        return {"source": origin, "deployments": [row.as_dict() for row in found]}

    add_availability_routes(app, connection, block, wants_json)
    return app
