"""Prefect block describing one sync connection: which Salesforce org pairs with which ERP account."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self, cast

from prefect.blocks.core import Block
from pydantic import BaseModel, ConfigDict, Field, model_validator

from blocks.erp import ErpCredentials
from blocks.hubspot import HubSpotCredentials
from blocks.salesforce import SalesforceCredentials
from blocks.schema_cache import CachedJsonSchema
from blocks.store import StateStore
from tandem.erp.adapter import ErpAdapter
from tandem.errors import CommandError
from tandem.mapping import (
    MAPPINGS_DIR,
    Direction,
    EntityMapping,
    Filter,
    MappingError,
    MappingSet,
    load_mapping_set,
    parse_mapping_set,
)
from tandem.sync.conflicts import ConflictPolicy

#: The credentials blocks a connection's CRM side can be.
CrmCredentials = SalesforceCredentials | HubSpotCredentials


class ConnectionOptions(BaseModel):
    """The sync options of a connection (saved with it, re-applied after a sandbox refresh)."""

    model_config = ConfigDict(extra="forbid")

    entities: list[str] | None = Field(
        default=None, description="The entities to sync; empty syncs every entity of the mapping set."
    )
    directions: dict[str, Direction] = Field(
        default_factory=dict, description="Per entity, a direction that replaces the mapping's (to_crm, to_erp, both)."
    )
    exclusions: dict[str, list[Filter]] = Field(
        default_factory=dict,
        description="Per entity, conditions that keep records out of every flow (added to the mapping's filters).",
    )
    conflict_policy: ConflictPolicy = Field(
        default=ConflictPolicy.HOLD,
        description=(
            "Whose change stands when a record changed in both systems since its last sync: crm_wins, erp_wins, "
            "latest (the later change) or hold (neither; a person settles it with the resolve-conflicts flow)."
        ),
    )
    conflict_policies: dict[str, ConflictPolicy] = Field(
        default_factory=dict, description="Per entity, a conflict policy that replaces the connection's."
    )
    activity_subject_template: str = Field(
        default="{{activity_subject}}",
        description=(
            "The Salesforce task Subject rendered from the ERP title; an ERP title change updates the Subject "
            "only when the template contains {{activity_subject}}."
        ),
    )


class SyncConnection(CachedJsonSchema, Block):
    """One connection between a Salesforce org and an ERP account, with its mappings and options.

    Production pairs with production and sandbox with sandbox; each CRM org pairs with one ERP
    account. Both rules are checked before a flow writes anything.

    Example:
        Load a connection and the mapping set it syncs:
        ```python
        from blocks.connection import SyncConnection

        connection = SyncConnection.load("BLOCK_NAME")
        mappings = connection.mapping_set()
        ```
    """

    _block_type_name = "Tandem Sync Connection"
    _block_type_slug = "tandem-sync-connection"
    _documentation_url = "https://docs.prefect.io/v3/develop/blocks"  # type: ignore[assignment]

    salesforce: SalesforceCredentials | None = Field(
        default=None, description="The Salesforce org's credentials block (the CRM side; or hubspot)."
    )
    hubspot: HubSpotCredentials | None = Field(
        default=None, description="The HubSpot portal's credentials block (the CRM side, instead of salesforce)."
    )
    erp: ErpCredentials = Field(description="The ERP account's credentials block.")
    store: StateStore = Field(default_factory=StateStore, description="The state store block.")
    environment: Literal["production", "sandbox"] = Field(
        default="production", description="Production pairs with production, sandbox with sandbox."
    )
    mapping_set: str = Field(
        default="default",
        description="The mapping file: a name under mappings/ (without .yaml) or a path to a YAML file.",
    )
    options: ConnectionOptions = Field(default_factory=ConnectionOptions, description="The sync options.")
    lock_lease_seconds: int = Field(
        default=60, ge=2,
        description=(
            "How long the connection's lock outlives a run that died (runs of one connection never interleave)."
        ),
    )

    @model_validator(mode="after")
    def _check_environment(self) -> Self:
        if (self.salesforce is None) == (self.hubspot is None):
            raise ValueError("a connection has one CRM: give either salesforce or hubspot credentials")
        sides = {self.crm_system: self.crm_credentials.is_sandbox, "ERP": self.erp.is_sandbox}
        wrong = [name for name, sandbox in sides.items() if sandbox != (self.environment == "sandbox")]
        if wrong:
            kinds = ", ".join(f"{n} is {'a sandbox' if sides[n] else 'production'}" for n in sides)
            raise ValueError(
                f"a {self.environment} connection needs {self.environment} on both sides, but {kinds}; "
                "pair production with production and sandbox with sandbox"
            )
        return self

    @property
    def crm_credentials(self) -> CrmCredentials:
        """The CRM side's credentials block (Salesforce or HubSpot)."""
        credentials = self.salesforce or self.hubspot
        if credentials is None:
            raise ValueError("a connection has one CRM: give either salesforce or hubspot credentials")
        return credentials

    def require_salesforce(self, feature: str) -> SalesforceCredentials:
        """The Salesforce credentials, for a ``feature`` only Salesforce has.

        Raises:
            CommandError: the connection's CRM is HubSpot.
        """
        if self.salesforce is None:
            raise CommandError(f"{feature} works with a Salesforce org; this connection's CRM is {self.crm_system}")
        return self.salesforce

    @property
    def crm_system(self) -> str:
        """The CRM's name for messages: ``Salesforce`` or ``HubSpot``."""
        return "HubSpot" if self.hubspot is not None else "Salesforce"

    @classmethod
    def load_named(cls, name: str) -> SyncConnection:
        """Load the saved connection block called ``name`` (synchronously)."""
        return cast(SyncConnection, cls.load(name))

    def mapping_path(self) -> Path:
        """The mapping file this connection uses."""
        named = MAPPINGS_DIR / f"{self.mapping_set}.yaml"
        return named if named.exists() or "/" not in self.mapping_set else Path(self.mapping_set)

    def mapping_set_for_run(self) -> MappingSet:
        """The mapping set with this connection's options applied (directions, exclusions), validated again."""
        mappings = load_mapping_set(self.mapping_path())
        options = self.options
        for name in [*options.directions, *options.exclusions, *options.conflict_policies, *(options.entities or [])]:
            mappings.entity(name)
        always = {"crm": {self.crm_credentials.adapter_class().id_field},
                  "erp": {ErpAdapter.id_field, str(ErpAdapter.link_field)}}
        for name, conditions in self.options.exclusions.items():
            _check_exclusions(mappings.entity(name), conditions, str(mappings.source), always)
        data: dict[str, Any] = {"name": mappings.name, "entities": {}}
        for name, entity in mappings.entities.items():
            spec = entity.model_dump(exclude={"name"})
            if name in self.options.directions:
                spec["direction"] = self.options.directions[name]
            spec["filters"] = [*spec["filters"], *(f.model_dump() for f in self.options.exclusions.get(name, []))]
            data["entities"][name] = spec
        return parse_mapping_set(data, f"{mappings.source} (with the options of this connection)")

    def enabled_entities(self) -> list[str]:
        """The entities this connection syncs."""
        mappings = load_mapping_set(self.mapping_path())
        return list(self.options.entities) if self.options.entities else list(mappings.entities)


def _known_fields(entity: EntityMapping, side: str, always: dict[str, set[str]]) -> set[str]:
    """The fields of ``entity`` the mapping knows on ``side``: ``always`` (ids, link key), mapped fields, keys and
    its own filters."""
    known = set(always[side])
    if side == "crm":
        known.add(entity.crm_key)
        known.update(f.crm for f in entity.fields)
        known.update(key.crm for group in entity.match_keys for key in group)
    else:
        known.update(f.erp for f in entity.fields)
        known.update(key.erp for group in entity.match_keys for key in group)
    known.update(c.field for c in entity.filters if c.side == side)
    return known


def _check_exclusions(
    entity: EntityMapping, conditions: list[Filter], source: str, always: dict[str, set[str]]
) -> None:
    """Raise a :class:`MappingError` naming an exclusion whose field the entity's mapping does not have."""
    for condition in conditions:
        known = _known_fields(entity, condition.side, always)
        if condition.field in known or condition.field.split(".")[0] in known:
            continue
        system = "CRM" if condition.side == "crm" else "ERP"
        listed = ", ".join(sorted(known))
        raise MappingError(
            f"{source}: the connection's exclusion on entity {entity.name!r} names the {system} field "
            f"{condition.field!r}, which its mapping does not have; use one of: {listed}"
        )
