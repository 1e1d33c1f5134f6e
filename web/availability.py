"""``tandem serve``'s item availability: one item's stock per location read live from the ERP, as JSON and as a
small self-contained HTML fragment (inline CSS, no script) to embed on an order line page."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from blocks.connection import SyncConnection
from tandem.errors import SyncError
from tandem.status.availability import AVAILABILITY_PATH, Availability, AvailabilityLookup, UnknownItemError
from tandem.store.tables import Side

#: The badge colours: in stock, none available at a location.
IN_STOCK = "#1e8e3e"
NONE_AVAILABLE = "#d93025"
STYLE = """
body{font:13px/1.4 system-ui,sans-serif;margin:6px;background:#fff;color:#202124}
.availability{border:1px solid #dadce0;border-radius:8px;padding:10px 12px;max-width:460px}
.head{display:flex;justify-content:space-between;align-items:baseline;margin-bottom:6px}
.item{font-weight:600}.total{color:#fff;border-radius:12px;padding:2px 10px;font-size:12px}
table{border-collapse:collapse;width:100%}th,td{text-align:right;padding:2px 6px;border-bottom:1px solid #eee}
th:first-child,td:first-child{text-align:left}th{color:#5f6368;font-weight:500}
td.available{color:#fff;font-weight:600}.read{color:#5f6368;font-size:11px;margin-top:4px}
"""


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def availability_fragment(found: Availability) -> str:
    """The item's stock per location as an HTML page small enough for an iframe beside an order line."""
    stock = found.stock
    total = stock.total("quantityAvailable")
    rows = []
    for line in stock.locations:
        available = line.quantities.get("quantityAvailable") or 0.0
        colour = IN_STOCK if available > 0 else NONE_AVAILABLE
        rows.append(
            f'<tr data-location="{escape(line.location_id)}"><td>{escape(line.location_name or line.location_id)}</td>'
            f'<td class="available" style="background:{colour}">{_number(available)}</td>'
            f"<td>{_number(line.quantities.get('quantityOnHand'))}</td>"
            f"<td>{_number(line.quantities.get('quantityCommitted'))}</td>"
            f"<td>{_number(line.quantities.get('quantityOnOrder'))}</td></tr>"
        )
    body = "".join(rows) or '<tr><td colspan="5">No location holds this item.</td></tr>'
    label = escape(" ".join(p for p in (stock.item_id, stock.display_name) if p) or stock.internal_id)
    badge = IN_STOCK if total > 0 else NONE_AVAILABLE
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Availability: {label}</title>'
        f"<style>{STYLE}</style></head><body>"
        f'<div class="availability" data-item="{escape(stock.internal_id)}" data-total="{total:g}">'
        f'<div class="head"><span class="item">{label}</span>'
        f'<span class="total" style="background:{badge}">{_number(total)} available</span></div>'
        "<table><thead><tr><th>Location</th><th>Available</th><th>On hand</th><th>Committed</th><th>On order</th>"
        f"</tr></thead><tbody>{body}</tbody></table>"
        f'<div class="read">Read from the ERP at {escape(found.read_at.strftime("%Y-%m-%d %H:%M:%S UTC"))}</div>'
        "</div></body></html>"
    )


def add_availability_routes(
    app: FastAPI, connection: str, block: Callable[[], SyncConnection], wants_json: Callable[..., bool]
) -> None:
    """Add ``GET /availability/{crm|erp}/{id}`` to ``app``: the item's stock per location, read live from the ERP.

    Args:
        app: the web app.
        connection: the connection's name.
        block: loads the connection's block (once).
        wants_json: whether a request asks for JSON (``?format=json`` or its ``Accept`` header).
    """
    lookups: dict[str, AvailabilityLookup] = {}

    def lookup() -> AvailabilityLookup:
        if "found" not in lookups:
            loaded = block()
            reader = loaded.erp.get_client().stock
            lookups["found"] = AvailabilityLookup(connection, loaded.store.get_engine(), loaded.mapping_set_for_run(),
                                                  reader)
        return lookups["found"]

    @app.get(
        AVAILABILITY_PATH + "/{side}/{record_id}",
        response_model=None,
        responses={200: {"content": {"application/json": {}, "text/html": {}}},
                   404: {"description": "an unknown or uncoupled product, or no such inventory item"},
                   502: {"description": "the ERP did not answer"}},
    )
    def availability(
        request: Request, side: Side, record_id: str,
        output: str | None = Query(None, alias="format", pattern="^(json|html)$", description="json or html."),
    ) -> Response:
        """The item's quantity available (on hand, committed, on order) per location and in total, read now from the
        ERP: by Salesforce product id (``crm``) or ERP inventory item internal id (``erp``).

        JSON when ``format=json`` or the ``Accept`` header asks for JSON, else an HTML fragment for an iframe.
        """
        try:
            found = lookup().read(side, record_id)
        except UnknownItemError as exc:
            raise HTTPException(404, str(exc)) from None
        except SyncError as exc:
            raise HTTPException(502, f"the ERP did not answer the availability read: {exc.code}") from None
        if wants_json(request, output):
            data: dict[str, Any] = found.as_dict()
            return JSONResponse(data)
        return HTMLResponse(availability_fragment(found))
