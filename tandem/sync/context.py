"""What one sync run works with: the connection, both adapters, the mappings and the state store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import pandas as pd
from sqlalchemy import Engine

from tandem.adapter import RecordAdapter
from tandem.mapping import Direction, EntityMapping, MappingSet
from tandem.store.tables import Side
from tandem.sync.conflicts import ConflictPolicy
from tandem.sync.read_backs import ReadBacks

#: Kept for :mod:`tandem.sync.refresh` until it names :class:`RecordAdapter`: both sides implement the one protocol.
CrmAdapter = RecordAdapter


class PageListener(Protocol):
    """Told after each page a pass has synced (a run's progress display)."""

    def __call__(self, entity: str, direction: Direction, records: int, total: int | None) -> None:
        """``records`` more records of ``entity`` went ``direction``; ``total``: the read's size, when known."""
        ...


@dataclass
class SyncContext:
    """Everything a sync pass needs; built once per flow run.

    Attributes:
        connection_id: the connection's id in the state store.
        store: the state store's engine.
        crm: the adapter of the CRM position (the state store's ``crm_id`` side).
        erp: the adapter of the ERP position (the ``erp_id`` side).
        mappings: the connection's mapping set.
        started_at: when the run started; no watermark moves past it.
        run_id: the sync run in the state store (``None`` in a dry run).
        page_size: records per read page.
        dry_run: report what would change, write nothing.
        sync_enabled_at: when sync was enabled (the only-new-records rule).
        templates: per entity, text templates by target field (the activity subject template).
        conflict_policies: per entity, whose change stands when a record changed on both sides.
        default_conflict_policy: the policy of entities without their own.
        on_page: told after each page read from a source and synced (progress), when set.
        read_backs: the records this run's passes wrote and read back, as they saw them (so the opposite pass
            recognises them unchanged without mapping them again; :mod:`tandem.sync.read_backs`).
    """

    connection_id: int
    store: Engine
    crm: RecordAdapter
    erp: RecordAdapter
    mappings: MappingSet
    started_at: datetime
    run_id: int | None = None
    page_size: int = 2000
    dry_run: bool = False
    sync_enabled_at: datetime | None = None
    templates: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    conflict_policies: Mapping[str, ConflictPolicy] = field(default_factory=dict)
    default_conflict_policy: ConflictPolicy = ConflictPolicy.HOLD
    on_page: PageListener | None = None
    read_backs: ReadBacks = field(default_factory=ReadBacks)

    def conflict_policy(self, entity: str) -> ConflictPolicy:
        """The conflict policy of ``entity``."""
        return self.conflict_policies.get(entity, self.default_conflict_policy)

    def adapter(self, side: Side) -> RecordAdapter:
        """The adapter of ``side``'s system."""
        return self.crm if side is Side.CRM else self.erp


@dataclass(frozen=True)
class Route:
    """One direction of one entity: where records come from and where they go."""

    entity: EntityMapping
    direction: Direction
    source_side: Side
    target_side: Side
    source_object: str
    target_object: str

    @classmethod
    def of(cls, entity: EntityMapping, direction: Direction) -> Route:
        """The route of ``entity`` towards ``direction`` (``TO_CRM`` or ``TO_ERP``)."""
        if direction is Direction.TO_CRM:
            return cls(entity, direction, Side.ERP, Side.CRM, entity.erp_type, entity.crm_object)
        if direction is Direction.TO_ERP:
            return cls(entity, direction, Side.CRM, Side.ERP, entity.crm_object, entity.erp_type)
        raise ValueError("a route goes one way: Direction.TO_CRM or Direction.TO_ERP")

    def object_on(self, side: Side) -> str:
        """This route's object (record type) on ``side``."""
        return self.source_object if side is self.source_side else self.target_object

    def read_by_ids(self, context: SyncContext, side: Side, ids: Sequence[str], fields: Sequence[str]) -> pd.DataFrame:
        """Read records of this route's object on ``side`` by their ids (missing ones are absent)."""
        return context.adapter(side).read_by_ids(self.object_on(side), ids, fields=fields)

    def source_adapter(self, context: SyncContext) -> RecordAdapter:
        """The adapter records are read from."""
        return context.adapter(self.source_side)

    def target_adapter(self, context: SyncContext) -> RecordAdapter:
        """The adapter records are written to."""
        return context.adapter(self.target_side)

    def source_field(self, crm_field: str, erp_field: str) -> str:
        """Of a field pair, the name on the source side."""
        return erp_field if self.source_side is Side.ERP else crm_field

    def target_field(self, crm_field: str, erp_field: str) -> str:
        """Of a field pair, the name on the target side."""
        return crm_field if self.target_side is Side.CRM else erp_field

    def link_field(self, context: SyncContext, side: Side) -> str:
        """The field of ``side``'s records that holds the link key: the one the system reserves (the adapter's
        ``link_field``), else the one the mapping names for that position (``crm_key``).

        Raises:
            ValueError: neither the system nor the mapping names one.
        """
        reserved = context.adapter(side).link_field
        if reserved is not None:
            return reserved
        if side is Side.CRM:
            return self.entity.crm_key
        raise ValueError(
            f"{self.entity.name}: {context.adapter(side).system} reserves no link field and the mapping names none"
        )

    def source_link_field(self, context: SyncContext) -> str:
        """The source column holding the link key."""
        return self.link_field(context, self.source_side)

    def target_link_field(self, context: SyncContext) -> str:
        """The target column holding the link key."""
        return self.link_field(context, self.target_side)

    def created_field(self, context: SyncContext) -> str:
        """The source column with each record's creation time."""
        return self.source_adapter(context).created_field

    @property
    def source_mints_link(self) -> bool:
        """Whether a source record without a link lends its own id as the link (and gets the link written back
        into its link field once its partner exists).

        The link key is the ERP-position record's external key: a CRM-position record that never had a partner
        has none, so its id becomes it; an ERP-position record holds its own or has none.
        """
        return self.source_side is Side.CRM
