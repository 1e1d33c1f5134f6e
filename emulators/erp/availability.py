"""``getItemAvailability``: an inventory item's stock per location, read from its ``locationsList``.

SuiteTalk answers one ``itemAvailability`` row per item and location with the item, the location, the quantities
and ``lastQtyAvailableChange``; the filter names the items (a ``RecordRefList``, required) and may ask only for
rows whose quantity available changed at or after a moment. Item types without stock (service items) have no rows.
"""

from __future__ import annotations

from typing import Any

import orjson
from lxml import etree

from emulators.erp.render import LOCATION_QUANTITIES, iso_ms, ref_xml
from emulators.erp.requests_xml import children, local, parse_datetime, parse_ref
from emulators.erp.soapfaults import ClientFault
from emulators.erp.store import ErpStore

#: The record types ``getItemAvailability`` answers for (the ones with a ``locationsList``).
STOCKED_TYPES = ("inventoryItem",)
#: Items per request, as NetSuite limits a RecordRefList of a read.
MAX_ITEMS = 1000


def _filter(body: etree._Element) -> tuple[list[dict[str, str]], int | None]:
    """The filter's item references and its ``lastQtyAvailableChange`` (milliseconds), if any.

    Raises:
        ClientFault: no filter, no items, too many items or a bad date.
    """
    found = children(body, "itemAvailabilityFilter")
    if len(found) != 1:
        raise ClientFault("getItemAvailability needs exactly one itemAvailabilityFilter.")
    refs: list[dict[str, str]] = []
    since: int | None = None
    for part in found[0]:
        if not isinstance(part.tag, str):
            continue
        if local(part) == "item":
            refs.extend(parse_ref(ref) for ref in children(part, "recordRef"))
        elif local(part) == "lastQtyAvailableChange":
            since = int(parse_datetime((part.text or "").strip(), "lastQtyAvailableChange").timestamp() * 1000)
    if not refs:
        raise ClientFault("Please enter value(s) for: itemAvailabilityFilter.item")
    if len(refs) > MAX_ITEMS:
        raise ClientFault(f"getItemAvailability takes at most {MAX_ITEMS} items; {len(refs)} were sent.")
    return refs, since


def _row(item: dict[str, str], line: dict[str, Any]) -> str:
    parts = [ref_xml("platformCore:item", item), ref_xml("platformCore:locationId", line["locationId"])]
    for name in LOCATION_QUANTITIES:
        if line.get(name) is not None:
            parts.append(f"<platformCore:{name}>{float(line[name])!r}</platformCore:{name}>")
    if line.get("lastQtyAvailableChange") is not None:
        moment = iso_ms(int(line["lastQtyAvailableChange"]))
        parts.append(f"<platformCore:lastQtyAvailableChange>{moment}</platformCore:lastQtyAvailableChange>")
    return f"<platformCore:itemAvailability>{''.join(parts)}</platformCore:itemAvailability>"


def item_availability(store: ErpStore, body: etree._Element) -> str:
    """Answer a ``getItemAvailability`` request body with its ``getItemAvailabilityResult``.

    Items that do not exist or have no stock record give no rows (as in NetSuite, the call itself succeeds).
    """
    refs, since = _filter(body)
    conn = store.reader()
    rows: list[str] = []
    for ref in refs:
        if ref.get("type", STOCKED_TYPES[0]) not in STOCKED_TYPES:
            continue
        item = store.resolve_ref(conn, ref, STOCKED_TYPES)
        if item is None:
            continue
        found = conn.execute("SELECT fields FROM records WHERE internal_id = ?", (int(item["internalId"]),)).fetchone()
        lines = (orjson.loads(found[0]).get("locationsList") or []) if found else []
        rows.extend(_row(item, line) for line in lines
                    if since is None or int(line.get("lastQtyAvailableChange") or 0) >= since)
    return ('<platformCore:getItemAvailabilityResult><platformCore:status isSuccess="true"/>'
            f"<platformCore:itemAvailabilityList>{''.join(rows)}</platformCore:itemAvailabilityList>"
            "</platformCore:getItemAvailabilityResult>")
