"""Reading and writing the virtual ``itemPrice`` rows through their items (see :mod:`tandem.erp.pricing`).

* By keys: the synthetic keys name their items; the items are read with ``getList`` and flattened.
* Upserts: rows are grouped by item; each item gets one ``updateList`` record whose ``pricingMatrix``
  (``replaceAll`` false) carries one ``pricing`` line per row (currency x price level, base price), so lines the
  batch does not name stay as they are. The row's result is its item's write result, keyed by the synthetic key.
* Deletes: each item's matrix is rewritten without the deleted lines (``replaceAll`` true).

References given by external id (``currency.externalId``) are resolved to internal ids with ``getList`` first,
since a matrix line is keyed by internal ids.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import pandas as pd
from lxml import etree

from tandem.adapter import WriteResult
from tandem.erp import parsing
from tandem.erp.pricing import PRICED_ITEM_TYPES, price_frame, price_key, price_rows, split_key
from tandem.erp.schema import WsdlTypes

GET_LIST_LIMIT = 1000
UPDATE_LIMIT = 100
Call = Callable[..., etree._Element]
T = TypeVar("T")


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _value(flat: Mapping[str, Any], column: str) -> str | None:
    value = flat.get(column)
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return str(value)


class PriceBook:
    """Item prices over items' pricing matrices.

    Args:
        types: the WSDL's types.
        call: runs one idempotent SuiteTalk operation and returns its response element.
    """

    def __init__(self, types: WsdlTypes, call: Call) -> None:
        self.types = types
        self.call = call

    # -- reading ---------------------------------------------------------------------------

    def _items(self, wanted: Sequence[tuple[str, str, str]]) -> dict[tuple[str, str], etree._Element]:
        """Read items by ``(item type, part, key)`` (part ``internalId`` or ``externalId``); found ones by
        ``(part, key)``, each record tagged with its item type in the ``_type`` attribute."""
        found: dict[tuple[str, str], etree._Element] = {}
        for chunk in _chunks(list(dict.fromkeys(wanted)), GET_LIST_LIMIT):
            refs = [self.types.record_ref(item_type, **{part: key}) for item_type, part, key in chunk]
            response = self.call("getList", baseRef=refs)
            for (item_type, part, key), read in zip(chunk, response.iter("{*}readResponse"), strict=False):
                record = parsing.find(read, "record")
                if record is not None and parsing.parse_status(read).ok:
                    record.set("_type", item_type)
                    found[(part, key)] = record
        return found

    def read_by_keys(self, keys: Sequence[str], fields: Sequence[str], key_field: str = "internalId") -> pd.DataFrame:
        """The price rows with these synthetic keys (their ``internalId`` and ``externalId``; unknown keys are left
        out), with the ``key_field`` column."""
        wanted = {k for k in (split_key(str(key)) for key in keys) if k is not None}
        items = self._items([(kind, "internalId", item_id) for kind, item_id, _, _ in sorted(wanted)])
        rows = [row for record in items.values() for row in price_rows([record], str(record.get("_type")))]
        keys_wanted = {price_key(*k) for k in wanted}
        column = "internalId" if key_field == "id" else key_field
        return price_frame([r for r in rows if r["id"] in keys_wanted], [column, *fields])

    # -- references ------------------------------------------------------------------------

    def _internal_ids(self, record_type: str, external_ids: set[str]) -> dict[str, str]:
        """Internal ids of ``record_type`` records by external id (unknown ones are left out)."""
        out: dict[str, str] = {}
        for chunk in _chunks(sorted(external_ids), GET_LIST_LIMIT):
            response = self.call("getList", baseRef=[self.types.record_ref(record_type, externalId=k) for k in chunk])
            for read in response.iter("{*}readResponse"):
                record = parsing.find(read, "record")
                if record is not None and record.get("externalId") and record.get("internalId"):
                    out[str(record.get("externalId"))] = str(record.get("internalId"))
        return out

    def _resolve(self, records: Sequence[Mapping[str, Any]], part: str) -> list[str | None]:
        """Each record's ``part`` (``currency``/``priceLevel``) internal id, resolving external ids."""
        external = {v for r in records if _value(r, f"{part}.internalId") is None
                    and (v := _value(r, f"{part}.externalId")) is not None}
        by_external = self._internal_ids(part, external) if external else {}
        return [_value(r, f"{part}.internalId") or by_external.get(_value(r, f"{part}.externalId") or "")
                for r in records]

    def _pricing_line(self, currency: str, level: str, price: float) -> Any:
        return self.types.get("Pricing")(
            currency=self.types.record_ref("currency", internalId=currency),
            priceLevel=self.types.record_ref("priceLevel", internalId=level),
            priceList=self.types.get("PriceList")(price=[self.types.get("Price")(value=price)]),
        )

    def _update(self, updates: list[tuple[str, str, list[Any], bool]]) -> dict[str, parsing.Status]:
        """``updateList`` items ``(type, internalId, pricing lines, replaceAll)``; the status per item id."""
        statuses: dict[str, parsing.Status] = {}
        for chunk in _chunks(updates, UPDATE_LIMIT):
            values = [self.types.get(item_type[:1].upper() + item_type[1:])(
                internalId=item_id, pricingMatrix=self.types.get("PricingMatrix")(pricing=lines, replaceAll=replace))
                for item_type, item_id, lines, replace in chunk]
            response = self.call("updateList", record=values)
            for (_, item_id, _, _), write in zip(chunk, response.iter("{*}writeResponse"), strict=False):
                statuses[item_id] = parsing.parse_status(write)
        return statuses

    # -- writing ---------------------------------------------------------------------------

    @staticmethod
    def _with_key_parts(key_field: str, flat: Mapping[str, Any]) -> dict[str, Any]:
        """``flat`` with the item, price level and currency its synthetic key names, where it does not name them
        itself (an update of a linked row may carry only its key and the changed price)."""
        parts = split_key(_value(flat, key_field) or "")
        out = dict(flat)
        if parts is not None:
            item_type, item_id, level_id, currency_id = parts
            named = {"item": {"item.type": item_type, "item.internalId": item_id},
                     "priceLevel": {"priceLevel.internalId": level_id},
                     "currency": {"currency.internalId": currency_id}}
            for base, defaults in named.items():
                if _value(flat, f"{base}.internalId") is None and _value(flat, f"{base}.externalId") is None:
                    out.update(defaults)
        return out

    def upsert(self, key_field: str, records: Sequence[Mapping[str, Any]]) -> list[WriteResult]:
        """Write price rows into their items' matrices; one result per row, in order (see the module docstring)."""
        records = [self._with_key_parts(key_field, flat) for flat in records]
        results: list[WriteResult | None] = [None] * len(records)
        wanted: list[tuple[str, str, str]] = []
        for flat in records:
            for part in ("internalId", "externalId"):
                key = _value(flat, f"item.{part}")
                if key is not None:
                    kinds = [_value(flat, "item.type")] if _value(flat, "item.type") else PRICED_ITEM_TYPES
                    wanted.extend((str(kind), part, key) for kind in kinds)
                    break
        items = self._items(wanted)
        currencies, levels = self._resolve(records, "currency"), self._resolve(records, "priceLevel")
        lines: dict[tuple[str, str], list[tuple[int, Any]]] = {}
        for index, flat in enumerate(records):
            key = _value(flat, key_field) or ""
            item = items.get(("internalId", _value(flat, "item.internalId") or ""))
            if item is None:
                item = items.get(("externalId", _value(flat, "item.externalId") or ""))
            price = _value(flat, "unitPrice")
            problem = ("item", item is None), ("currency", currencies[index] is None), \
                ("priceLevel", levels[index] is None), ("unitPrice", price is None)
            missing = [name for name, bad in problem if bad]
            if missing or item is None:
                results[index] = WriteResult(key=key, id=None, error_code="INVALID_KEY_OR_REF",
                                             error_message=f"itemPrice: no {', '.join(missing)} to write")
                continue
            target = (str(item.get("_type")), str(item.get("internalId")))
            synthetic = price_key(*target, str(levels[index]), str(currencies[index]))
            existed = any(r["id"] == synthetic for r in price_rows([item], target[0]))
            line = self._pricing_line(str(currencies[index]), str(levels[index]), float(str(price)))
            lines.setdefault(target, []).append((index, line))
            results[index] = WriteResult(key=key, id=synthetic, created=not existed)
        statuses = self._update([(t, i, [line for _, line in entries], False) for (t, i), entries in lines.items()])
        for (_, item_id), entries in lines.items():
            status = statuses.get(item_id, parsing.Status(ok=False, code="MALFORMED_RESPONSE"))
            if not status.ok:
                for index, _ in entries:
                    done = results[index]
                    results[index] = WriteResult(key=done.key if done else "", id=None, error_code=status.code,
                                                 error_message=status.message)
        return [r for r in results if r is not None]

    def delete(self, ids: Sequence[str]) -> list[WriteResult]:
        """Remove price rows (by synthetic key) from their items' matrices; a row already gone counts as deleted."""
        keys = [split_key(str(i)) for i in ids]
        items = self._items([(k[0], "internalId", k[1]) for k in keys if k is not None])
        dropped: dict[tuple[str, str], set[str]] = {}
        for key in keys:
            if key is not None and ("internalId", key[1]) in items:
                dropped.setdefault((key[0], key[1]), set()).add(price_key(*key))
        updates = []
        for (item_type, item_id), gone in dropped.items():
            rows = price_rows([items[("internalId", item_id)]], item_type)
            kept = [self._pricing_line(str(r["currency.internalId"]), str(r["priceLevel.internalId"]),
                                       float(r["unitPrice"])) for r in rows if r["id"] not in gone and r["unitPrice"]]
            updates.append((item_type, item_id, kept, True))
        statuses = self._update(updates)
        results = []
        for raw, key in zip(ids, keys, strict=True):
            status = statuses.get(key[1]) if key is not None else None
            if status is not None and not status.ok:
                results.append(WriteResult(key=str(raw), id=str(raw), error_code=status.code,
                                           error_message=status.message))
            else:
                results.append(WriteResult(key=str(raw), id=str(raw)))
        return results
