"""Sales orders as NetSuite completes them: lines priced from the items' pricing matrices, a document number, a
starting status and the total.

A line (``SalesOrderItem``) sent without a ``rate`` is priced by the ERP, as NetSuite prices it: the line's price
level (``price``), else the customer's (``priceLevel``), else *Base Price*; in the order's currency, else the
customer's. The rate is the matrix's price for that level and currency at the line's quantity (the highest
quantity break at or below it); a level without its own price in the matrix is calculated from the Base Price
with the level's markup/discount (``discountpct``), as NetSuite calculates such levels. ``amount`` is rate x
quantity, rounded to cents; the order's ``total`` is the sum of its lines (no tax, shipping or discounts: the
emulator's simplification). A new order without a ``tranId`` gets the next number after the highest ``SO<n>``
(NetSuite's auto-numbering), and without an ``orderStatus`` starts as ``_pendingApproval`` (NetSuite's default
sales order status preference).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from typing import Any

import orjson
from lxml import etree

from emulators.erp.schema import ITEM_TYPES
from emulators.erp.soapfaults import ClientFault

#: Resolves a RecordRef among record types (``ErpStore.resolve_ref``).
Resolver = Callable[[sqlite3.Connection, dict[str, str], tuple[str, ...]], dict[str, str] | None]
Error = tuple[str, str]

BASE_PRICE = "Base Price"
FIRST_STATUS = "_pendingApproval"
NUMBER_PREFIX = "SO"
_LINE_REFS = ("item", "price")
_LINE_TEXTS = ("description", "rate")
_LINE_NUMBERS = ("quantity", "amount")
_NUMBERED = re.compile(rf"{NUMBER_PREFIX}(\d+)")


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _ref(element: etree._Element) -> dict[str, str]:
    return {k: v for k in ("internalId", "externalId", "type") if (v := element.get(k)) is not None}


def _double(text: str | None, what: str) -> float:
    try:
        return float((text or "").strip())
    except ValueError:
        raise ClientFault(f"{what}: {text!r} is not a valid double.") from None


def parse_item_list(element: etree._Element, what: str) -> dict[str, Any]:
    """A sales order's ``itemList``: ``{"replaceAll": bool, "items": [{item, quantity, price, rate, ...}]}``.

    ``replaceAll`` defaults to true, as for every SuiteTalk list.

    Raises:
        ClientFault: for an element a line does not have or a number that is not one.
    """
    lines: list[dict[str, Any]] = []
    for item in element:
        if not isinstance(item.tag, str):
            continue
        if _local(item) != "item":
            raise ClientFault(f"{what} has no element {_local(item)!r}.")
        line: dict[str, Any] = {}
        for part in item:
            if not isinstance(part.tag, str):
                continue
            name = _local(part)
            if name in _LINE_REFS:
                line[name] = _ref(part)
            elif name in _LINE_NUMBERS:
                line[name] = _double(part.text, f"{what}.item.{name}")
            elif name in _LINE_TEXTS:
                line[name] = (part.text or "").strip()
            elif name == "line":
                try:
                    line[name] = int((part.text or "").strip())
                except ValueError:
                    raise ClientFault(f"{what}.item.line: {part.text!r} is not a valid integer.") from None
            else:
                raise ClientFault(f"{what}.item has no element {name!r}.")
        lines.append(line)
    return {"replaceAll": element.get("replaceAll", "true") in ("true", "1"), "items": lines}


def _stored(conn: sqlite3.Connection, internal_id: str) -> dict[str, Any]:
    row = conn.execute("SELECT fields FROM records WHERE internal_id = ?", (int(internal_id),)).fetchone()
    return orjson.loads(row[0]) if row else {}


def _base_level(conn: sqlite3.Connection) -> dict[str, str] | None:
    row = conn.execute(
        "SELECT internal_id, external_id FROM records WHERE type = 'priceLevel' AND name = ?", (BASE_PRICE,)
    ).fetchone()
    if row is None:
        return None
    ref = {"internalId": str(row[0]), "type": "priceLevel", "name": BASE_PRICE}
    if row[1] is not None:
        ref["externalId"] = row[1]
    return ref


def _matrix_price(matrix: list[dict[str, Any]], currency_id: str, level_id: str, quantity: float) -> float | None:
    """The price of one (currency, price level) line of a pricing matrix at ``quantity``, if it has one."""
    for row in matrix:
        if row["currency"]["internalId"] == currency_id and row["priceLevel"]["internalId"] == level_id:
            breaks = sorted(((p.get("quantity") or 0.0, p["value"]) for p in row.get("prices", [])
                             if p.get("value") is not None), key=lambda qp: qp[0])
            applicable = [value for at, value in breaks if at <= quantity] or [v for _, v in breaks[:1]]
            return float(applicable[-1]) if applicable else None
    return None


def _rate(
    conn: sqlite3.Connection, item: dict[str, Any], level: dict[str, str], currency: dict[str, str], quantity: float,
) -> float | Error:
    """The ERP's rate of one line (see the module docstring)."""
    matrix = item.get("pricingMatrix") or []
    price = _matrix_price(matrix, currency["internalId"], level["internalId"], quantity)
    if price is not None:
        return price
    base = _base_level(conn)
    base_price = _matrix_price(matrix, currency["internalId"], base["internalId"], quantity) if base else None
    if base_price is not None:
        markup = float(_stored(conn, level["internalId"]).get("discountpct") or 0.0)
        return round(base_price * (1 + markup / 100), 2)
    level_name, currency_name = level.get("name", level["internalId"]), currency.get("name", currency["internalId"])
    return ("USER_ERROR", f"The item {item.get('itemId', '')} has no price for the price level {level_name} in "
                          f"{currency_name}.")


def _priced_line(
    conn: sqlite3.Connection, resolve: Resolver, sent: dict[str, Any], level: dict[str, str] | None,
    currency: dict[str, str] | None,
) -> dict[str, Any] | Error:
    item_ref = sent.get("item")
    item = resolve(conn, item_ref, ITEM_TYPES) if item_ref else None
    if item is None:
        key = (item_ref or {}).get("internalId") or (item_ref or {}).get("externalId") or "(none)"
        return ("INVALID_KEY_OR_REF", f"Invalid item reference key {key}.")
    line: dict[str, Any] = {**sent, "item": item, "quantity": float(sent.get("quantity", 1.0))}
    if sent.get("price"):
        found = resolve(conn, sent["price"], ("priceLevel",))
        if found is None:
            key = sent["price"].get("internalId") or sent["price"].get("externalId") or "(none)"
            return ("INVALID_KEY_OR_REF", f"Invalid price reference key {key}.")
        level = found
    if sent.get("rate") not in (None, ""):
        try:
            rate = float(str(sent["rate"]).rstrip("%"))
        except ValueError:
            return ("INVALID_FLD_VALUE", "Invalid rate: it must be a number.")
    else:
        if level is None or currency is None:
            return ("USER_ERROR", "The line cannot be priced: the order has no price level or currency.")
        priced = _rate(conn, _stored(conn, item["internalId"]), level, currency, line["quantity"])
        if isinstance(priced, tuple):
            return priced
        rate = priced
        line["price"] = level
    line["rate"] = repr(rate)
    if "amount" not in sent:
        line["amount"] = round(rate * line["quantity"], 2)
    return line


def _next_number(conn: sqlite3.Connection) -> str:
    highest = 0
    for (name,) in conn.execute("SELECT name FROM records WHERE type = 'salesOrder' AND name LIKE ?",
                                (f"{NUMBER_PREFIX}%",)):
        match = _NUMBERED.fullmatch(str(name))
        if match:
            highest = max(highest, int(match.group(1)))
    return f"{NUMBER_PREFIX}{highest + 1}"


def complete_sales_order(
    conn: sqlite3.Connection, resolve: Resolver, fields: dict[str, Any], sent: dict[str, Any],
    previous: dict[str, Any],
) -> Error | None:
    """Price the sent lines, number a new order, set its first status and its total (in ``fields``).

    Args:
        conn: the write transaction.
        resolve: finds a RecordRef's record.
        fields: the order's fields after the write (references resolved); completed in place.
        sent: the fields the request sent (``itemList`` as :func:`parse_item_list` reads it).
        previous: the order's fields before the write (empty for a new order).

    Returns:
        The ``(code, message)`` of the first line that cannot be written, else ``None``.
    """
    customer = _stored(conn, fields["entity"]["internalId"]) if fields.get("entity") else {}
    if not fields.get("currency") and customer.get("currency"):
        fields["currency"] = customer["currency"]
    if "itemList" in sent:
        level = customer.get("priceLevel") or _base_level(conn)
        kept: dict[int, dict[str, Any]] = {}
        if not sent["itemList"]["replaceAll"]:
            kept = {line["line"]: line for line in previous.get("itemList") or []}
        for sent_line in sent["itemList"]["items"]:
            priced = _priced_line(conn, resolve, sent_line, level, fields.get("currency"))
            if isinstance(priced, tuple):
                return priced
            number = int(sent_line.get("line") or max(kept, default=0) + 1)
            kept[number] = {**priced, "line": number}
        fields["itemList"] = [kept[n] for n in sorted(kept)]
        fields["total"] = round(sum(line["amount"] for line in fields["itemList"]), 2)
    if not previous:
        fields.setdefault("orderStatus", FIRST_STATUS)
        if not fields.get("tranId"):
            fields["tranId"] = _next_number(conn)
    return None
