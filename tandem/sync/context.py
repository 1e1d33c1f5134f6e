"""What one sync run works with: the connection, both adapters, the mappings and the state store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import pandas as pd
from sqlalchemy import Engine

from tandem.adapter import RecordAdapter, WriteResult
from tandem.mapping import Direction, EntityMapping, MappingSet
from tandem.store.tables import Side
from tandem.sync.conflicts import ConflictPolicy


class CrmAdapter(RecordAdapter, Protocol):
    """The CRM adapter: the common protocol plus updates by record id (to couple matched records)."""

    def update_batch(self, entity: str, records: list[dict[str, Any]]) -> list[WriteResult]:
        """Update records by their ``Id``; one result per record."""
        ...

    def read_by_ids(self, entity: str, ids: Sequence[str], *, fields: Sequence[str]) -> pd.DataFrame:
        """The records with these ``Id``s (missing ones are absent), with ``id``, ``modified_at`` and ``fields``."""
        ...

    def key_prefix(self, entity: str) -> str:
        """The three characters every ``entity`` record id starts with."""
        ...

    def count(self, entity: str) -> int:
        """How many ``entity`` records the org holds."""
        ...


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
        crm: the Salesforce adapter.
        erp: the ERP adapter.
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
    """

    connection_id: int
    store: Engine
    crm: CrmAdapter
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

    def conflict_policy(self, entity: str) -> ConflictPolicy:
        """The conflict policy of ``entity``."""
        return self.conflict_policies.get(entity, self.default_conflict_policy)


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

    def read_by_ids(self, context: SyncContext, side: Side, ids: Sequence[str], fields: Sequence[str]) -> pd.DataFrame:
        """Read records of this route's object on ``side`` by their ids (missing ones are absent)."""
        if side is Side.CRM:
            name = self.source_object if self.source_side is Side.CRM else self.target_object
            return context.crm.read_by_ids(name, ids, fields=fields)
        name = self.source_object if self.source_side is Side.ERP else self.target_object
        return context.erp.read_by_keys(name, "internalId", ids, fields=fields)

    def source_adapter(self, context: SyncContext) -> RecordAdapter:
        """The adapter records are read from."""
        return context.erp if self.source_side is Side.ERP else context.crm

    def target_adapter(self, context: SyncContext) -> RecordAdapter:
        """The adapter records are written to."""
        return context.crm if self.target_side is Side.CRM else context.erp

    def source_field(self, crm_field: str, erp_field: str) -> str:
        """Of a field pair, the name on the source side."""
        return erp_field if self.source_side is Side.ERP else crm_field

    def target_field(self, crm_field: str, erp_field: str) -> str:
        """Of a field pair, the name on the target side."""
        return crm_field if self.target_side is Side.CRM else erp_field

    @property
    def source_link_field(self) -> str:
        """The source column holding the link key: the ERP ``externalId`` or the CRM external-id field."""
        return "externalId" if self.source_side is Side.ERP else self.entity.crm_key

    @property
    def target_link_field(self) -> str:
        """The target column holding the link key."""
        return self.entity.crm_key if self.target_side is Side.CRM else "externalId"

    @property
    def created_field(self) -> str:
        """The source column with each record's creation time."""
        return "dateCreated" if self.source_side is Side.ERP else "CreatedDate"
