"""Integration table mappings as data: which CRM object pairs with which ERP record type, field by
field, in which direction, with which value maps — loaded from ``mappings/*.yaml`` and validated.

Every problem is a :class:`MappingError` whose message names the file, the entity and the field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from enum import StrEnum
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

MAPPINGS_DIR = Path(__file__).resolve().parents[1] / "mappings"


class MappingError(ValueError):
    """A mapping file is invalid. The message says where: file, entity and field."""


class Direction(StrEnum):
    """Which way data travels."""

    TO_CRM = "to_crm"
    TO_ERP = "to_erp"
    BOTH = "both"

    def includes(self, other: Direction) -> bool:
        """True when this direction covers ``other`` (``both`` covers each way)."""
        return self is Direction.BOTH or self is other


class DeletionPolicy(StrEnum):
    """What the deletion sweep does when a coupled record is deleted on one side."""

    DELETE = "delete"
    UNLINK = "unlink"
    RESTORE = "restore"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ValuePair(_Strict):
    """One rule of a value map: a CRM value and the ERP value it stands for.

    Written in YAML as ``[crm value, erp value]`` (both ways the field travels) or
    ``[crm value, erp value, to_crm]`` / ``[..., to_erp]`` (that way only: the ERP's ``_inProgress``
    becomes Salesforce's In Progress, while In Progress set in Salesforce is not sent to the ERP).

    Attributes:
        crm: the CRM (picklist) value.
        erp: the ERP (enum) value.
        direction: the way this pair travels; ``None`` means every way the field travels.
    """

    crm: str
    erp: str
    direction: Direction | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, data: Any) -> Any:
        if isinstance(data, list | tuple):
            if len(data) not in (2, 3):
                raise ValueError("a value pair is [crm value, erp value] or [crm value, erp value, direction]")
            return dict(zip(("crm", "erp", "direction"), data, strict=False))
        return data

    def travels(self, way: Direction, field_direction: Direction) -> bool:
        """True when this pair maps values going ``way`` on a field travelling ``field_direction``."""
        return field_direction.includes(way) and (self.direction or field_direction).includes(way)


class NotSynced(_Strict):
    """Values deliberately kept from the other side, per side (the other side's field is left untouched).

    A plain YAML list is shorthand for ``{crm: [...]}`` (CRM values the ERP must not receive).

    Attributes:
        crm: CRM values that are not sent to the ERP.
        erp: ERP values that are not sent to the CRM.
    """

    crm: list[str] = Field(default_factory=list)
    erp: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, data: Any) -> Any:
        return {"crm": data} if isinstance(data, list | tuple) else data

    def side(self, side: Literal["crm", "erp"]) -> list[str]:
        """The values of ``side`` that are not synced."""
        return self.crm if side == "crm" else self.erp


class FieldMap(_Strict):
    """One field pair.

    Attributes:
        crm: the CRM field's API name.
        erp: the ERP field's name (a RecordRef's part as ``field.internalId``/``field.externalId``).
        direction: overrides the entity's direction for this field.
        values: a value map: ``[crm value, erp value]`` pairs, optionally with a third element
            ``to_crm``/``to_erp`` for a pair that travels one way only (see :class:`ValuePair`); values
            not listed are not synced (the target keeps its value and the skip is counted).
        not_synced: values of each side that are known and deliberately not sent to the other side
            (see :class:`NotSynced`); stating them lets loading check that every value has a rule.
        only_on_create: written when the target record is created, never on update.
        template: for fields travelling to the CRM, a text with ``{{erp field}}`` placeholders.
        placeholder: the name the template uses for this field's own source value (the Sales
            Connect ``{{activity_subject}}`` stands for the ERP task's title).
        reference: the entity (or entities, tried in order) whose bindings translate this field's ids
            between the systems.
        unresolved: when a reference cannot be translated: ``fail`` the record (default) or
            ``omit`` the field (the target keeps its value; counted as a value not synced).
        type: how to read and write the value: ``string``, ``number``, ``boolean``, ``date``
            (``YYYY-MM-DD``) or ``datetime`` (ISO 8601, UTC); ``None`` passes it through. Typed values are
            parsed with explicit formats and checked (see :mod:`tandem.mapper`): one that cannot be read
            or that the target cannot hold fails its record with a named error.
    """

    crm: str
    erp: str
    direction: Direction | None = None
    type: Literal["string", "number", "boolean", "date", "datetime"] | None = None
    values: list[ValuePair] | None = None
    not_synced: NotSynced = Field(default_factory=NotSynced)
    only_on_create: bool = False
    template: str | None = None
    placeholder: str | None = None
    reference: str | list[str] | None = None
    unresolved: Literal["fail", "omit"] = "fail"

    def value_map(self, way: Direction, field_direction: Direction) -> dict[str, str] | None:
        """Source value -> target value for values travelling ``way`` (``None`` without a value map).

        Args:
            way: ``Direction.TO_CRM`` (ERP values in, CRM values out) or ``Direction.TO_ERP``.
            field_direction: the way the field travels (its own direction, else its entity's).
        """
        if self.values is None:
            return None
        pairs = [p for p in self.values if p.travels(way, field_direction)]
        if way is Direction.TO_ERP:
            return {p.crm: p.erp for p in pairs}
        return {p.erp: p.crm for p in pairs}


def referenced_entities(field: FieldMap) -> list[str]:
    """The entities whose bindings translate ``field``'s ids (none for a plain field)."""
    if field.reference is None:
        return []
    return [field.reference] if isinstance(field.reference, str) else list(field.reference)


class Filter(_Strict):
    """A condition on one side's field; records that do not meet every filter are left out.

    Attributes:
        name: what the rule is called on status cards and in reports (optional).
    """

    side: Literal["crm", "erp"]
    field: str
    op: Literal["=", "!=", "in", "not in"] = "="
    value: Any
    name: str | None = None

    def describe(self) -> str:
        """The rule as people read it: its name, else ``crm Type != Partner`` (long value lists abridged)."""
        if self.name:
            return self.name
        values = self.value if isinstance(self.value, list) else [self.value]
        shown = ", ".join(str(v) for v in values[:3]) + (f" and {len(values) - 3} more" if len(values) > 3 else "")
        return f"{self.side} {self.field} {self.op} {shown}"


class MatchKey(_Strict):
    """A CRM field and an ERP field that identify the same record on both sides (for coupling)."""

    crm: str
    erp: str


class HeaderReference(_Strict):
    """A field of a record with lines whose record must be coupled before the record travels.

    Attributes:
        crm: the CRM field (an id, or a value of the referenced object's ``by`` field).
        reference: the entity whose bindings translate it.
        by: the referenced CRM object's field ``crm`` holds (``IsoCode`` for a currency code); ``None`` for an id.
        erp: the ERP field the translated id is written to (``currency.internalId``); ``None`` checks only.
    """

    crm: str
    reference: str
    by: str | None = None
    erp: str | None = None


class LineMapping(_Strict):
    """A record's lines: CRM child records written as the ERP record's line list (an order's products as a
    sales order's ``itemList``; see :mod:`tandem.sync.order_lines`).

    Attributes:
        crm_object: the CRM line object (``OrderItem``).
        parent: the line's field holding its record's id (``OrderId``).
        erp: the ERP record's line list (``itemList``).
        fields: the line's field pairs (to the ERP; ``reference`` translates ids as a record's fields do).
        references: fields of the record itself whose records must be coupled first (a price book, a
            currency), checked and translated with the lines.
    """

    crm_object: str
    parent: str
    erp: str
    fields: list[FieldMap]
    references: list[HeaderReference] = Field(default_factory=list)


class EntityMapping(_Strict):
    """One integration table mapping: a CRM object paired with an ERP record type.

    Attributes:
        crm_key: the CRM external-id field holding the ERP record's ``externalId`` (the link key).
        match_keys: groups of field pairs; records already on both sides with equal values in every
            pair of a group are coupled instead of created again (groups are tried in order).
        transactional: ERP transactions (invoices, orders, contracts) shown in the CRM; a sandbox
            refresh deletes and re-creates them.
        only_new_to_crm: only ERP records created after sync was enabled travel to the CRM.
        create_missing: create target records that have no partner; when False, records are only
            coupled (by match keys) and the others are skipped (salespeople are coupled with existing
            users, never create them).
        deletion: what the deletion sweep does when a coupled record is deleted on one side.
        lines: the record's lines, sent with it to the ERP (see :class:`LineMapping`).
        exclude_coupled_in: entities of the same ERP record type: an ERP record coupled in one of them is left
            out here (an ERP sales order created from a Salesforce order shows on that order, not again as an
            ERP sales order record).
    """

    name: str
    crm_object: str
    erp_type: str
    crm_key: str = "ERP_Id__c"
    direction: Direction
    depends_on: list[str] = Field(default_factory=list)
    match_keys: list[list[MatchKey]] = Field(default_factory=list)
    fields: list[FieldMap]
    filters: list[Filter] = Field(default_factory=list)
    transactional: bool = False
    only_new_to_crm: bool = False
    create_missing: bool = True
    deletion: DeletionPolicy = DeletionPolicy.UNLINK
    lines: LineMapping | None = None
    exclude_coupled_in: list[str] = Field(default_factory=list)

    @field_validator("fields")
    @classmethod
    def _not_empty(cls, value: list[FieldMap]) -> list[FieldMap]:
        if not value:
            raise ValueError("an entity needs at least one field")
        return value

    def field_direction(self, field: FieldMap) -> Direction:
        """The direction ``field`` travels (its own, else the entity's)."""
        return field.direction or self.direction

    def fields_towards(self, direction: Direction) -> list[FieldMap]:
        """The fields that travel ``direction`` (``Direction.TO_CRM`` or ``Direction.TO_ERP``)."""
        return [f for f in self.fields if self.field_direction(f).includes(direction)]

    def dependencies(self) -> set[str]:
        """Entities this one must follow: declared ones, those its reference fields (and its lines') point to, and
        those whose coupled records it leaves out."""
        found = set(self.depends_on) | set(self.exclude_coupled_in)
        found |= {name for f in self.fields for name in referenced_entities(f)}
        if self.lines is not None:
            found |= {name for f in self.lines.fields for name in referenced_entities(f)}
            found |= {r.reference for r in self.lines.references}
        return found


class MappingSet(_Strict):
    """All entity mappings of one file, keyed by entity name."""

    name: str
    source: str
    entities: dict[str, EntityMapping]

    def entity(self, name: str) -> EntityMapping:
        """The entity called ``name``; :class:`MappingError` if there is none."""
        try:
            return self.entities[name]
        except KeyError:
            raise MappingError(f"{self.source}: unknown entity {name!r}; known: {', '.join(self.entities)}") from None

    def _ancestors(self, name: str) -> set[str]:
        """Every entity ``name`` depends on, directly or through others (stops at cycles)."""
        found: set[str] = set()
        pending = [name]
        while pending:
            for dependency in self.entities[pending.pop()].dependencies():
                if dependency not in found and dependency in self.entities:
                    found.add(dependency)
                    pending.append(dependency)
        found.discard(name)
        return found

    def levels(self, only: Iterable[str] | None = None) -> list[list[str]]:
        """Entities in dependency order, grouped: the entities of one group may run at the same time.

        Args:
            only: restrict to these entities (their order still follows the dependencies).
        """
        wanted = set(only) if only is not None else set(self.entities)
        for name in wanted:
            self.entity(name)
        sorter: TopologicalSorter[str] = TopologicalSorter(
            {name: self._ancestors(name) & wanted for name in wanted}
        )
        sorter.prepare()
        groups: list[list[str]] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready())
            groups.append(ready)
            sorter.done(*ready)
        return groups


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """A YAML loader that refuses a key given twice in one mapping (PyYAML keeps the last silently)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise MappingError(f"line {key_node.start_mark.line + 1}: {key!r} is given twice")
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _where(source: str, data: dict[str, Any], loc: tuple[int | str, ...]) -> str:
    """Describe a pydantic error location as ``file: entity 'x', field 'y'``."""
    parts = [source]
    if len(loc) >= 2 and loc[0] == "entities":
        entity = str(loc[1])
        parts.append(f"entity {entity!r}")
        if len(loc) >= 4 and loc[2] == "fields" and isinstance(loc[3], int):
            fields = (data.get("entities") or {}).get(entity, {}).get("fields") or []
            spec = fields[loc[3]] if loc[3] < len(fields) and isinstance(fields[loc[3]], dict) else {}
            parts.append(f"field {spec.get('crm', loc[3])!r}")
            rest = loc[4:]
        else:
            rest = loc[2:]
        if rest:
            parts.append(".".join(str(p) for p in rest))
    else:
        parts.append(".".join(str(p) for p in loc))
    return ": ".join([parts[0], ", ".join(parts[1:])]) if len(parts) > 1 else parts[0]


def parse_mapping_set(data: Any, source: str) -> MappingSet:
    """Validate parsed YAML into a :class:`MappingSet`; raise :class:`MappingError` naming the place."""
    if not isinstance(data, dict) or not isinstance(data.get("entities"), dict):
        raise MappingError(f"{source}: a mapping file needs a top-level 'entities' mapping")
    entities = {
        name: {"name": name, **spec} if isinstance(spec, dict) else spec for name, spec in data["entities"].items()
    }
    payload = {"name": data.get("name", Path(source).stem), "source": source, "entities": entities}
    unknown_top = set(data) - {"name", "entities"}
    if unknown_top:
        raise MappingError(f"{source}: unknown top-level key(s) {sorted(unknown_top)}")
    try:
        mapping_set = MappingSet.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise MappingError(f"{_where(source, data, first['loc'])}: {first['msg']}") from None
    for entity in mapping_set.entities.values():
        _check_entity(mapping_set, entity)
    try:
        TopologicalSorter({name: e.dependencies() for name, e in mapping_set.entities.items()}).prepare()
    except CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        raise MappingError(f"{source}: dependency cycle: {cycle}") from None
    return mapping_set


def _check_entity(mapping_set: MappingSet, entity: EntityMapping) -> None:
    where = f"{mapping_set.source}: entity {entity.name!r}"
    for dependency in sorted(entity.dependencies()):
        if dependency not in mapping_set.entities:
            raise MappingError(f"{where}: depends on unknown entity {dependency!r}")
    seen: dict[Direction, tuple[set[str], set[str]]] = {d: (set(), set()) for d in (Direction.TO_CRM, Direction.TO_ERP)}
    for field in entity.fields:
        here = f"{where}, field {field.crm!r}"
        for way, (seen_crm, seen_erp) in seen.items():
            if not entity.field_direction(field).includes(way):
                continue
            if field.crm in seen_crm:
                raise MappingError(f"{here}: the CRM field is mapped twice")
            if field.erp in seen_erp:
                raise MappingError(f"{here}: the ERP field {field.erp!r} is mapped twice")
            seen_crm.add(field.crm)
            seen_erp.add(field.erp)
        _check_values(here, entity.field_direction(field), field)
        if field.template is not None and not entity.field_direction(field).includes(Direction.TO_CRM):
            raise MappingError(f"{here}: a template renders CRM values, so the field must travel to_crm")
    if entity.lines is not None and not entity.direction.includes(Direction.TO_ERP):
        raise MappingError(f"{where}: lines are written to the ERP, so the entity must travel to_erp")
    for other in entity.exclude_coupled_in:
        if mapping_set.entities[other].erp_type != entity.erp_type or other == entity.name:
            raise MappingError(f"{where}: exclude_coupled_in names {other!r}, not another {entity.erp_type} entity")


def _check_values(here: str, direction: Direction, field: FieldMap) -> None:
    """Check a field's value map: pairs inside the field's direction, each source value mapped once per
    way, nothing both mapped and not synced, and every value named has a rule for every way it travels."""
    not_synced = field.not_synced
    if field.values is None:
        if not_synced.crm or not_synced.erp:
            raise MappingError(f"{here}: not_synced needs a value map ('values')")
        return
    for pair in field.values:
        if pair.direction is not None and not direction.includes(pair.direction):
            raise MappingError(
                f"{here}: the pair [{pair.crm!r}, {pair.erp!r}] travels {pair.direction.value}, "
                f"but the field travels {direction.value}"
            )
    ways: list[tuple[Direction, Literal["crm", "erp"], str]] = [
        (Direction.TO_CRM, "erp", " (it must map back one way)"), (Direction.TO_ERP, "crm", ""),
    ]
    travelling: dict[Direction, set[str]] = {}
    for way, source, note in ways:
        if not direction.includes(way):
            continue
        seen = travelling[way] = set()
        for pair in field.values:
            if not pair.travels(way, direction):
                continue
            value = getattr(pair, source)
            if value in seen:
                raise MappingError(f"{here}: the value {value!r} is mapped twice{note}")
            seen.add(value)
        overlap = seen & set(not_synced.side(source))
        if overlap:
            raise MappingError(f"{here}: {sorted(overlap)} is both mapped and listed as not synced")
    for way, source, _ in ways:
        if way not in travelling:
            continue
        # A value named for one way only needs a stated rule for this way too.
        named = {getattr(p, source) for p in field.values}
        silent = sorted(named - travelling[way] - set(not_synced.side(source)))
        if silent:
            side = source.upper()
            raise MappingError(
                f"{here}: the {side} value(s) {silent} have no rule for {way.value}: map them that way or "
                f"list them under not_synced: {{{source}: [...]}}"
            )


def load_mapping_set(path: Path | str) -> MappingSet:
    """Load and validate one mapping file."""
    path = Path(path)
    source = str(path)
    try:
        data = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except MappingError as exc:
        raise MappingError(f"{source}: {exc}") from None
    except yaml.YAMLError as exc:
        raise MappingError(f"{source}: not valid YAML: {exc}") from None
    except OSError as exc:
        raise MappingError(f"{source}: cannot be read: {exc.strerror}") from None
    return parse_mapping_set(data, source)


def check_fields_exist(mapping_set: MappingSet, catalog: Mapping[tuple[str, str], AbstractSet[str]]) -> None:
    """Check every mapped field against the systems' own field lists.

    Args:
        mapping_set: the loaded mappings.
        catalog: ``{("crm", "Account"): {"Name", ...}, ("erp", "customer"): {...}}`` from each adapter's describe.

    Raises:
        MappingError: naming the file, entity and field that the system does not have.
    """
    for entity in mapping_set.entities.values():
        crm_known = catalog.get(("crm", entity.crm_object))
        erp_known = catalog.get(("erp", entity.erp_type))
        where = f"{mapping_set.source}: entity {entity.name!r}"
        if crm_known is None:
            raise MappingError(f"{where}: the CRM has no object {entity.crm_object!r}")
        if erp_known is None:
            raise MappingError(f"{where}: the ERP has no record type {entity.erp_type!r}")
        if entity.crm_key not in crm_known:
            raise MappingError(f"{where}, field {entity.crm_key!r}: unknown CRM field on {entity.crm_object}")
        for group in entity.match_keys:
            for key in group:
                if key.crm not in crm_known:
                    raise MappingError(f"{where}, match key: unknown CRM field {key.crm!r} on {entity.crm_object}")
                if key.erp not in erp_known:
                    raise MappingError(f"{where}, match key: unknown ERP field {key.erp!r} on {entity.erp_type}")
        for condition in entity.filters:
            known, name = (crm_known, entity.crm_object) if condition.side == "crm" else (erp_known, entity.erp_type)
            if condition.field.split(".")[0] not in known:
                side = condition.side.upper()
                raise MappingError(f"{where}, filter: unknown {side} field {condition.field!r} on {name}")
        for field in entity.fields:
            if field.crm.split(".")[0] not in crm_known:
                raise MappingError(f"{where}, field {field.crm!r}: unknown CRM field on {entity.crm_object}")
            if field.erp.split(".")[0] not in erp_known:
                raise MappingError(
                    f"{where}, field {field.crm!r}: unknown ERP field {field.erp!r} on {entity.erp_type}"
                )


#: Per ``(side, object or record type, field)``, the values that system declares (picklists, enums).
ValueCatalog = Mapping[tuple[str, str, str], AbstractSet[str]]


def check_value_rules(mapping_set: MappingSet, catalog: ValueCatalog) -> None:
    """Check that every value either system can hold in a value-mapped field has a stated rule.

    A value's rule is a pair that maps it (for each way the field travels from its side) or its place
    under ``not_synced``. An ERP field with declared enum values must have a value map.

    Args:
        mapping_set: the loaded mappings.
        catalog: ``{("crm", "Task", "Status"): {"Not Started", ...}, ("erp", "task", "status"): {...}}``:
            the CRM's picklist values and the ERP's enum values (from each system's describe or schema).
            A field absent from the catalog declares no values (free text, references).

    Raises:
        MappingError: naming the file, entity, field and the value without a rule (or that is unknown).
    """
    for entity in mapping_set.entities.values():
        for field in entity.fields:
            here = f"{mapping_set.source}: entity {entity.name!r}, field {field.crm!r}"
            direction = entity.field_direction(field)
            declared = {
                "crm": catalog.get(("crm", entity.crm_object, field.crm)),
                "erp": catalog.get(("erp", entity.erp_type, field.erp.split(".")[0])),
            }
            if field.values is None:
                if declared["erp"]:
                    raise MappingError(f"{here}: the ERP field {field.erp!r} is an enumeration; it needs a value map")
                continue
            sides: list[tuple[Literal["crm", "erp"], Direction, str]] = [
                ("crm", Direction.TO_ERP, f"{entity.crm_object}.{field.crm}"),
                ("erp", Direction.TO_CRM, f"{entity.erp_type}.{field.erp}"),
            ]
            for side, way, name in sides:
                known = declared[side]
                if not known:
                    continue
                mapped = {getattr(p, side) for p in field.values}
                skipped = set(field.not_synced.side(side))
                unknown = sorted((mapped | skipped) - set(known))
                if unknown:
                    raise MappingError(f"{here}: {name} has no value(s) {unknown}")
                travelling = {getattr(p, side) for p in field.values if p.travels(way, direction)}
                ruled = skipped | (travelling if direction.includes(way) else mapped)
                missing = sorted(set(known) - ruled)
                if missing:
                    raise MappingError(
                        f"{here}: the {side.upper()} value(s) {missing} of {name} have no rule: map them or "
                        f"list them under not_synced: {{{side}: [...]}}"
                    )
