"""Records with lines: a CRM order's products written as the ERP sales order's line list (its ``itemList``).

An entity whose mapping has ``lines`` (see :class:`tandem.mapping.LineMapping`) sends each record with its
lines, read from the CRM's line object (``OrderItem`` by ``OrderId``), one read per page. A line's references
(its product) are translated through the bindings of their entities, like a record's; the record's own
``references`` (its price book, its currency code) must be coupled too, and those with an ``erp`` field are
written translated. A record with a line or a reference that is not coupled fails alone, naming it
(``item 01t... is not coupled``); a record without lines fails too (the ERP holds no order without items).
Prices are not sent: the ERP prices the lines from its own pricing matrix.

The lines are part of the record's digest, so a changed line (a quantity, a product added) writes the record
again, its lines replacing the ERP's (the adapter's ``line_list``: SuiteTalk's ``replaceAll``); an unchanged
order is not written again, and the write is an upsert by the link key, so a retry never creates a second ERP
order.

:func:`coupled_elsewhere` is the other half: an entity of the same ERP record type that leaves out the records
coupled in another (``exclude_coupled_in``) does not show an ERP order created from a Salesforce order again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from tandem.mapper import MappedPage, Mapper, RecordFailure
from tandem.mapping import Direction, EntityMapping, HeaderReference, LineMapping, referenced_entities
from tandem.store import session_scope
from tandem.store.bindings import bindings_by_ids
from tandem.store.digests import DigestMaker
from tandem.store.tables import Side
from tandem.sync.codes import SyncCode
from tandem.sync.context import Route, SyncContext

#: The error code of a record whose line or reference is not coupled (as a record's unresolved reference).
NOT_COUPLED = SyncCode.UNRESOLVED_REFERENCE
#: The error code of a record without lines.
NO_LINES = SyncCode.NO_LINES


class OrderLines:
    """Attaches the lines (and checks the references) of one page of records travelling to the ERP.

    Args:
        context: the run's context.
        route: the route of an entity with ``lines``, towards the ERP.
    """

    def __init__(self, context: SyncContext, route: Route) -> None:
        lines = route.entity.lines
        if lines is None:
            raise ValueError(f"entity {route.entity.name!r} has no lines")
        self.context = context
        self.entity = route.entity
        self.lines: LineMapping = lines
        shape = EntityMapping(name=f"{route.entity.name}.lines", crm_object=lines.crm_object,
                              erp_type=route.entity.erp_type, direction=Direction.TO_ERP, fields=lines.fields)
        self.mapper = Mapper(shape, Direction.TO_ERP)
        self._written = [r.erp for r in lines.references if r.erp is not None]
        self._digests: DigestMaker | None = None

    @classmethod
    def of(cls, context: SyncContext, route: Route) -> OrderLines | None:
        """The lines of ``route``'s records, or ``None`` when they have none (or travel to the CRM)."""
        if route.entity.lines is None or route.direction is not Direction.TO_ERP:
            return None
        return cls(context, route)

    def header_fields(self) -> list[str]:
        """The record fields a page must carry for the references."""
        return [r.crm for r in self.lines.references]

    def attach(self, mapped: MappedPage, rows: Mapping[str, Mapping[str, Any]], names: Sequence[str]) -> MappedPage:
        """Give each mapped record its lines and translated references; fail those that cannot travel.

        Args:
            mapped: the page's records as the entity's mapper mapped them.
            rows: the page's source records by id.
            names: the fields of the mapper's digests (the lines and references are digested after them).

        Returns:
            The page with the lines attached, the hashes covering them, and the records that failed added to
            its failures.
        """
        if not mapped.source_ids:
            return mapped
        if self._digests is None:
            self._digests = DigestMaker([*names, *self._written, self.lines.erp])
        failures: dict[str, RecordFailure] = {}
        headers = self._header_values(mapped.source_ids, rows, failures)
        lines = self._lines(mapped.source_ids, failures)
        out = MappedPage(failures=list(mapped.failures), skipped_values=mapped.skipped_values)
        for source_id, record, skipped in zip(mapped.source_ids, mapped.records, mapped.skipped_fields, strict=True):
            if source_id not in failures and not lines.get(source_id):
                failures[source_id] = RecordFailure(source_id, NO_LINES, "the order has no products")
            if source_id in failures:
                out.failures.append(failures[source_id])
                continue
            full = {**record, **headers.get(source_id, {}),
                    self.lines.erp: self.context.erp.line_list(self.entity.erp_type, lines[source_id])}
            out.source_ids.append(source_id)
            out.records.append(full)
            out.skipped_fields.append(skipped)
            out.hashes.append(self._digests.digest(full))
        return out

    def _bound(self, entity: str, side: Side, ids: list[str]) -> dict[str, str]:
        """Of ``ids`` (of ``side``), those coupled in ``entity``, with their partners' ids."""
        other = Side.ERP if side is Side.CRM else Side.CRM
        with session_scope(self.context.store, write=False) as session:
            found = bindings_by_ids(session, self.context.connection_id, entity, side, ids)
        partners = {key: b.erp_id if other is Side.ERP else b.crm_id for key, b in found.items()}
        return {key: str(value) for key, value in partners.items() if value is not None}

    def _translate(self, reference: HeaderReference, values: list[str]) -> dict[str, str]:
        """The ERP ids of the records ``values`` name (ids, or values of the ``by`` field) that are coupled."""
        if reference.by is None:
            return self._bound(reference.reference, Side.CRM, values)
        crm_object = self.context.mappings.entity(reference.reference).crm_object
        frame = self.context.crm.read_by_keys(crm_object, reference.by, values, fields=[reference.by])
        by_value = {str(row[reference.by]): str(row["id"]) for row in frame.to_dict("records")}
        coupled = self._bound(reference.reference, Side.CRM, list(by_value.values()))
        return {value: coupled[crm_id] for value, crm_id in by_value.items() if crm_id in coupled}

    def _header_values(
        self, ids: list[str], rows: Mapping[str, Mapping[str, Any]], failures: dict[str, RecordFailure]
    ) -> dict[str, dict[str, str]]:
        """Per record, its references' ERP fields; a record with a reference that is not coupled fails."""
        values: dict[str, dict[str, str]] = {}
        for reference in self.lines.references:
            wanted = {i: rows[i].get(reference.crm) for i in ids}
            present = sorted({str(v) for v in wanted.values() if v is not None and v == v and str(v).strip()})
            found = self._translate(reference, present) if present else {}
            for source_id, value in wanted.items():
                text = str(value) if value is not None and value == value and str(value).strip() else None
                target = found.get(text) if text is not None else None
                if target is None and self.context.dry_run and text is not None:
                    target = f"(new {reference.reference} {text})"  # nothing was written: assume it would be
                if target is None:
                    what = f"{reference.reference} {text} is not coupled" if text else f"it has no {reference.crm}"
                    failures.setdefault(source_id, RecordFailure(source_id, NOT_COUPLED, what))
                elif reference.erp is not None:
                    values.setdefault(source_id, {})[reference.erp] = target
        return values

    def _lines(self, ids: list[str], failures: dict[str, RecordFailure]) -> dict[str, list[dict[str, Any]]]:
        """Per record, its mapped lines in the CRM's order; a record with a line that cannot travel fails."""
        parent = self.lines.parent
        wanted = [i for i in ids if i not in failures]
        if not wanted:
            return {}
        fields = list(dict.fromkeys([parent, *self.mapper.source_fields()]))
        frame = self.context.crm.read_by_keys(self.lines.crm_object, parent, wanted, fields=fields)
        if not len(frame):
            return {}
        frame = frame.sort_values("id", kind="stable").reset_index(drop=True)
        parents = dict(zip(frame["id"].astype(str), frame[parent].astype(str), strict=True))
        references = self._line_references(frame, parents, failures)
        mapped = self.mapper.map_page(frame, references=references)
        for failure in mapped.failures:
            order = parents[failure.source_id]
            failures.setdefault(order, RecordFailure(order, failure.code, f"line {failure.source_id}: "
                                                                          f"{failure.message}"))
        out: dict[str, list[dict[str, Any]]] = {}
        for line_id, line in zip(mapped.source_ids, mapped.records, strict=True):
            out.setdefault(parents[line_id], []).append(line)
        return out

    def _line_references(
        self, frame: pd.DataFrame, parents: dict[str, str], failures: dict[str, RecordFailure]
    ) -> dict[str, dict[str, str]]:
        """Per referenced entity, the lines' ids translated; a line whose record is not coupled fails its order."""
        references: dict[str, dict[str, str]] = {}
        for f in self.lines.fields:
            entities = referenced_entities(f)
            if not entities:
                continue
            ids = sorted({str(v) for v in frame[f.crm].dropna()})
            coupled: dict[str, str] = {}
            for entity in reversed(entities):
                found = self._bound(entity, Side.CRM, ids)
                references.setdefault(entity, {}).update(found)
                coupled.update(found)
            for line_id, value in zip(frame["id"].astype(str), frame[f.crm].tolist(), strict=True):
                if value is None or value != value or str(value) in coupled:
                    continue
                if self.context.dry_run:
                    references.setdefault(entities[0], {})[str(value)] = f"(new {entities[0]} {value})"
                    continue
                order = parents[line_id]
                failures.setdefault(order, RecordFailure(
                    order, NOT_COUPLED, f"line {line_id}: {entities[0]} {value} is not coupled"))
        return references


def coupled_elsewhere(context: SyncContext, route: Route, ids: Sequence[str]) -> dict[str, str]:
    """Of the source records ``ids``, those coupled in an entity ``route``'s entity leaves them out for
    (``exclude_coupled_in``), with why.

    Returns:
        By source id: the rule that leaves it out, as status cards name it.
    """
    side = route.source_side
    other = Side.ERP if side is Side.CRM else Side.CRM
    found: dict[str, str] = {}
    if not ids:
        return found
    with session_scope(context.store, write=False) as session:
        for entity in route.entity.exclude_coupled_in:
            for source_id, binding in bindings_by_ids(session, context.connection_id, entity, side, list(ids)).items():
                partner = binding.crm_id if other is Side.CRM else binding.erp_id
                if partner is not None:
                    found.setdefault(source_id, f"coupled as {entity} with {partner}: shown there, not again here")
    return found
