"""Per-record sync status cards (the HubSpot ↔ NetSuite sync card): for a record of either system, one
card per entity it can sync through, with its partner, its status and when it last synced.

A card is answered from the state store alone (one indexed query for all of a record's entities) and
the connection's configuration; no system is called.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from tandem.mapping import EntityMapping, MappingSet
from tandem.status.failures import failures_path
from tandem.status.links import record_url
from tandem.store.bindings import UNLINKED
from tandem.store.tables import Binding, BindingStatus, Connection, Side

_BINDINGS: sa.Table = Binding.__table__  # type: ignore[attr-defined]
_CONNECTIONS: sa.Table = Connection.__table__  # type: ignore[attr-defined]


class CardStatus(StrEnum):
    """Exactly one per card."""

    UP_TO_DATE = "up to date"
    SYNC_NOT_FOUND = "sync not found"
    SYNC_DISABLED = "sync disabled"
    NOT_SYNCED = "not synced"
    UNKNOWN = "unknown"
    EXCLUDED = "excluded"


@dataclass(frozen=True)
class Partner:
    """The record on the other side, and where it opens."""

    side: str
    object: str
    id: str
    url: str | None


@dataclass(frozen=True)
class SyncCard:
    """One sync a record takes part in.

    Attributes:
        connection: the connection's name.
        entity: the mapped entity.
        side: the record's system (``crm`` or ``erp``).
        object: the record's object or record type.
        record_id: the record's id.
        status: see :class:`CardStatus`.
        detail: the status in a sentence.
        synced_with: the partner record, when coupled.
        last_updated: when the record last synced.
        error_code: the error's code (*not synced*).
        error_message: the error's message, without field values (*not synced*).
        rule: the exclusion rule (*excluded*).
        failures_url: where ``tandem serve`` lists the entity's failing records (*not synced*).
    """

    connection: str
    entity: str
    side: str
    object: str
    record_id: str
    status: CardStatus
    detail: str
    synced_with: Partner | None = None
    last_updated: datetime | None = None
    error_code: str | None = None
    error_message: str | None = None
    rule: str | None = None
    failures_url: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The card as JSON-ready data."""
        data = asdict(self)
        data["status"] = self.status.value
        data["last_updated"] = self.last_updated.isoformat() if self.last_updated else None
        return data


@dataclass(frozen=True)
class CardSource:
    """What cards are made from: the connection's name, store, mapping set, enabled entities and addresses.

    ``id_fields`` names each side's record id as its system does (the adapters' ``id_field``): a filter on it is an
    id list. A filter on ``id`` is one on either side.
    """

    connection: str
    store: Engine
    mappings: MappingSet
    enabled_entities: Sequence[str]
    crm_base: str
    erp_base: str
    id_fields: Mapping[Side, str] = field(default_factory=dict)
    crm_system: str = "Salesforce"

    def entities_of(self, side: Side, record_type: str) -> list[EntityMapping]:
        """The entities whose ``side`` object or record type is ``record_type``."""
        return [
            e for e in self.mappings.entities.values()
            if (e.crm_object if side is Side.CRM else e.erp_type) == record_type
        ]

    def cards(self, side: Side, record_type: str, record_id: str) -> list[SyncCard]:
        """The record's cards, one per entity it can sync through (none when no entity maps its type)."""
        entities = self.entities_of(side, record_type)
        if not entities:
            return []
        enabled, bindings = self._lookup(side, record_id, [e.name for e in entities])
        return [self._card(e, side, record_type, record_id, enabled, bindings.get(e.name)) for e in entities]

    def _lookup(self, side: Side, record_id: str, entities: list[str]) -> tuple[bool | None, dict[str, Any]]:
        """One query: the connection's enabled flag and the record's active bindings in ``entities``."""
        id_column = _BINDINGS.c.crm_id if side is Side.CRM else _BINDINGS.c.erp_id
        joined = _CONNECTIONS.outerjoin(
            _BINDINGS,
            sa.and_(
                _BINDINGS.c.connection_id == _CONNECTIONS.c.id, _BINDINGS.c.entity.in_(entities),
                id_column == record_id, _BINDINGS.c.archived == sa.false(),
            ),
        )
        statement = sa.select(_CONNECTIONS.c.enabled, _BINDINGS).select_from(joined).where(
            _CONNECTIONS.c.name == self.connection
        )
        with self.store.connect() as connection:
            rows = connection.execute(statement).mappings().all()
        if not rows:
            return None, {}
        return bool(rows[0]["enabled"]), {row["entity"]: row for row in rows if row["entity"] is not None}

    def _card(
        self, entity: EntityMapping, side: Side, record_type: str, record_id: str, enabled: bool | None, binding: Any
    ) -> SyncCard:
        def card(status: CardStatus, detail: str, **extra: Any) -> SyncCard:
            return SyncCard(self.connection, entity.name, side.value, record_type, record_id, status, detail, **extra)

        if enabled is None:
            return card(CardStatus.SYNC_DISABLED, detail="the connection has not run yet")
        if not enabled:
            return card(CardStatus.SYNC_DISABLED,
                            detail="sync is turned off on this connection (no initial import, or a sandbox refresh)")
        if entity.name not in self.enabled_entities:
            return card(CardStatus.SYNC_DISABLED,
                            detail=f"the entity {entity.name} is not enabled on this connection")
        if binding is None:
            rule = self._id_rule(entity, side, record_id)
            if rule is not None:
                return card(CardStatus.EXCLUDED, f"excluded by the rule: {rule}", rule=rule)
            return card(CardStatus.SYNC_NOT_FOUND,
                            detail="the connection is active, but this record has not been synced")
        partner = self._partner(entity, side, binding)
        synced_at = binding["last_synced_at"]
        status = BindingStatus(binding["status"])
        if status is BindingStatus.EXCLUDED:
            rule = str(binding["error_message"] or binding["error_code"])
            if binding["error_code"] == UNLINKED:
                rule = f"deletion policy: {rule}"
            return card(CardStatus.EXCLUDED, f"excluded by the rule: {rule}", synced_with=partner,
                        last_updated=synced_at, rule=rule)
        if status is BindingStatus.FAILED:
            return card(CardStatus.NOT_SYNCED,
                            detail=f"{binding['error_code']}: {binding['error_message']}", synced_with=partner,
                            last_updated=synced_at, error_code=binding["error_code"],
                            error_message=binding["error_message"], failures_url=failures_path(entity.name))
        if status is BindingStatus.SYNCED and partner is not None:
            return card(CardStatus.UP_TO_DATE, detail="in step with its partner",
                            synced_with=partner, last_updated=synced_at)
        return card(CardStatus.UNKNOWN,
                        detail=f"coupled, but its sync state cannot be established (binding {status.value})",
                        synced_with=partner, last_updated=synced_at)

    def _partner(self, entity: EntityMapping, side: Side, binding: Any) -> Partner | None:
        other = Side.ERP if side is Side.CRM else Side.CRM
        partner_id = binding["erp_id"] if other is Side.ERP else binding["crm_id"]
        if partner_id is None:
            return None
        record_type = entity.erp_type if other is Side.ERP else entity.crm_object
        url = record_url(other, record_type, partner_id, crm_base=self.crm_base, erp_base=self.erp_base,
                         crm_system=self.crm_system)
        return Partner(side=other.value, object=record_type, id=partner_id, url=url)

    def _id_rule(self, entity: EntityMapping, side: Side, record_id: str) -> str | None:
        """The exclusion that names this record's id, if any (an id list in the connection's options)."""
        id_fields = {"id", self.id_fields.get(side, "id")}
        for condition in entity.filters:
            if condition.side != side.value or condition.field not in id_fields:
                continue
            values = {str(v) for v in (condition.value if isinstance(condition.value, list) else [condition.value])}
            listed = record_id in values
            if listed != (condition.op in {"=", "in"}):  # the record does not meet the filter: left out
                return condition.describe()
        return None
