"""The emulator's data: CRM records, custom property definitions and associations, kept in memory and written
through to SQLite in the data directory (so a restart keeps them)."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from emulators.common.clock import EmulatorClock
from emulators.hubspot.errors import InputError, property_errors
from emulators.hubspot.schema import (
    ASSOCIATION_TYPES,
    OBJECT_TYPES,
    ObjectType,
    PropertySpec,
)
from emulators.hubspot.values import BadValue, iso, normalize, parse_moment

FIRST_ID = 1_000_001
SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    object_type TEXT NOT NULL, id TEXT NOT NULL, properties TEXT NOT NULL, created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL, archived_at TEXT, PRIMARY KEY (object_type, id));
CREATE TABLE IF NOT EXISTS properties (object_type TEXT NOT NULL, name TEXT NOT NULL, definition TEXT NOT NULL,
    PRIMARY KEY (object_type, name));
CREATE TABLE IF NOT EXISTS associations (from_type TEXT NOT NULL, from_id TEXT NOT NULL, to_type TEXT NOT NULL,
    to_id TEXT NOT NULL, type_id INTEGER NOT NULL, PRIMARY KEY (from_type, from_id, to_type, to_id, type_id));
"""


@dataclass
class Record:
    """One CRM object: every property value as text, including ``hs_object_id`` and the two dates."""

    object_type: str
    id: str
    properties: dict[str, str]
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None = None

    @property
    def archived(self) -> bool:
        """Whether the record is in the recycle bin."""
        return self.archived_at is not None

    def to_json(self, names: list[str]) -> dict[str, Any]:
        """The record as HubSpot returns it, with the properties ``names`` (``null`` where empty)."""
        data: dict[str, Any] = {
            "id": self.id, "properties": {n: (self.properties.get(n) or None) for n in names},
            "createdAt": iso(self.created_at), "updatedAt": iso(self.updated_at), "archived": self.archived,
        }
        if self.archived_at is not None:
            data["archivedAt"] = iso(self.archived_at)
        return data


@dataclass
class Association:
    """One direction of an association: ``from`` record → ``to`` record with a type id."""

    from_type: str
    from_id: str
    to_type: str
    to_id: str
    type_id: int


@dataclass
class HubSpotStore:
    """Records per object type, custom properties and associations, written through to ``path``."""

    path: Path
    clock: EmulatorClock
    records: dict[str, dict[str, Record]] = field(default_factory=dict)
    custom: dict[str, dict[str, PropertySpec]] = field(default_factory=dict)
    #: (from type, from id) -> {(to type, to id): type ids}
    links: dict[tuple[str, str], dict[tuple[str, str], set[int]]] = field(default_factory=dict)
    #: (object type, unique property) -> {value (e-mails lower-cased): id} over the live records
    unique: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        # An emulator's data need not survive a power cut: no fsync per write (a reset with the demo seed in 0.1 s).
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.executescript(SCHEMA_SQL)
        self._load()

    # --- persistence -------------------------------------------------------------------------------------------

    def _load(self) -> None:
        self.records = {name: {} for name in OBJECT_TYPES}
        self.custom = {name: {} for name in OBJECT_TYPES}
        for object_type, id_, props, created, updated, archived in self.db.execute(
                "SELECT object_type, id, properties, created_at, updated_at, archived_at FROM records"):
            self.records[object_type][id_] = Record(
                object_type, id_, json.loads(props), _moment(created), _moment(updated),
                _moment(archived) if archived else None)
        for object_type, _, definition in self.db.execute("SELECT object_type, name, definition FROM properties"):
            data = json.loads(definition)
            self.custom[object_type][data["name"]] = PropertySpec.from_json(data, data["createdAt"])
        self.links = {}
        for f, i, t, j, k in self.db.execute("SELECT from_type, from_id, to_type, to_id, type_id FROM associations"):
            self.links.setdefault((f, i), {}).setdefault((t, j), set()).add(int(k))
        self.unique = {}
        for object_type in OBJECT_TYPES.values():
            for name in self.unique_properties(object_type):
                self._build_index(object_type, name)

    # --- the unique-value index ----------------------------------------------------------------------------------

    def _build_index(self, object_type: ObjectType, name: str) -> None:
        index = self.unique[(object_type.name, name)] = {}
        for record in self.records[object_type.name].values():
            held = record.properties.get(name)
            if held and not record.archived:
                index[_folded(name, held)] = record.id

    def _index(self, record: Record, *, add: bool) -> None:
        """Enter (``add``) or remove ``record``'s unique values in the index."""
        for (type_name, name), index in self.unique.items():
            held = record.properties.get(name) if type_name == record.object_type else None
            if not held:
                continue
            key = _folded(name, held)
            if add:
                index[key] = record.id
            elif index.get(key) == record.id:
                del index[key]

    def _save(self, records: list[Record]) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?, ?)",
            [(r.object_type, r.id, json.dumps(r.properties), iso(r.created_at), iso(r.updated_at),
              iso(r.archived_at) if r.archived_at else None) for r in records])

    def _next_ids(self, count: int) -> list[str]:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'next_id'").fetchone()
        first = int(row[0]) if row else FIRST_ID
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('next_id', ?)", (str(first + count),))
        return [str(first + i) for i in range(count)]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the store and write everything done inside in one SQLite transaction."""
        with self.lock:
            self.db.execute("BEGIN")
            try:
                yield
            except BaseException:
                self.db.execute("ROLLBACK")
                self._load()
                raise
            self.db.execute("COMMIT")

    def reset(self) -> None:
        """Delete every record, custom property and association."""
        with self.lock:
            self.db.executescript("DELETE FROM records; DELETE FROM properties; DELETE FROM associations; "
                                  "DELETE FROM meta;")
            self._load()

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def counts(self) -> dict[str, int]:
        """Live (not archived) records per object type."""
        with self.lock:
            return {name: sum(not r.archived for r in rows.values()) for name, rows in self.records.items()}

    # --- properties --------------------------------------------------------------------------------------------

    def properties(self, object_type: ObjectType) -> dict[str, PropertySpec]:
        """Every property of ``object_type``: HubSpot's then the custom ones."""
        return {**{p.name: p for p in object_type.properties}, **self.custom[object_type.name]}

    def add_property(self, object_type: ObjectType, spec: PropertySpec) -> None:
        """Define a custom property."""
        with self.lock:
            self.custom[object_type.name][spec.name] = spec
            if spec.has_unique_value:
                self._build_index(object_type, spec.name)
            self.db.execute("INSERT OR REPLACE INTO properties VALUES (?, ?, ?)",
                            (object_type.name, spec.name, json.dumps(spec.to_json())))

    def unique_properties(self, object_type: ObjectType) -> list[str]:
        """Properties whose values identify a record (``idProperty``): ``email`` for contacts, ``hasUniqueValue``."""
        names = ["email"] if object_type.unique_email else []
        return names + [p.name for p in self.properties(object_type).values() if p.has_unique_value]

    # --- records -----------------------------------------------------------------------------------------------

    def live(self, object_type: ObjectType) -> list[Record]:
        """The records not archived, by id."""
        with self.lock:
            return [r for r in self.records[object_type.name].values() if not r.archived]

    def archived(self, object_type: ObjectType) -> list[Record]:
        """The archived records, by id."""
        with self.lock:
            return [r for r in self.records[object_type.name].values() if r.archived]

    def get(self, object_type: ObjectType, key: str, id_property: str | None = None, *,
            archived: bool = False) -> Record | None:
        """The record whose id (or unique ``id_property``) is ``key``; archived ones only when ``archived``."""
        with self.lock:
            if id_property in (None, "hs_object_id"):
                record = self.records[object_type.name].get(str(key))
                return record if record is not None and record.archived == archived else None
            return self.find_unique(object_type, str(id_property), str(key), archived=archived)

    def find_unique(self, object_type: ObjectType, name: str, value: str, *, archived: bool = False) -> Record | None:
        """The record whose unique property ``name`` holds ``value`` (emails compare case-insensitively)."""
        wanted = _folded(name, value)
        index = self.unique.get((object_type.name, name))
        if index is not None and not archived:
            found = index.get(wanted)
            return self.records[object_type.name][found] if found else None
        for record in self.records[object_type.name].values():
            held = record.properties.get(name, "")
            if record.archived == archived and held and (held.lower() if name == "email" else held) == wanted:
                return record
        return None

    def check_values(self, object_type: ObjectType, values: dict[str, Any], *, creating: bool,
                     current: Record | None = None) -> dict[str, str]:
        """Validate and normalise ``values`` for a create (``creating``) or an update of ``current``.

        Raises:
            InputError: unknown or read-only properties, bad values, a missing required property, or a unique
                value another record holds (the error HubSpot gives for that input).
        """
        if not isinstance(values, dict):
            raise InputError("VALIDATION_ERROR", "Invalid input JSON: 'properties' must be an object")
        specs = self.properties(object_type)
        problems: list[dict[str, Any]] = []
        clean: dict[str, str] = {}
        for name, value in values.items():
            spec = specs.get(name)
            if spec is None:
                problems.append({"message": f'Property "{name}" does not exist', "error": "PROPERTY_DOESNT_EXIST",
                                 "name": name})
                continue
            if spec.read_only:
                problems.append({"message": f'Property "{name}" is read-only', "error": "READ_ONLY_VALUE",
                                 "name": name})
                continue
            try:
                clean[name] = normalize(spec, value)
            except BadValue as exc:
                problems.append({"message": exc.message, "error": exc.code, "name": name})
        if creating:
            for name in object_type.required:
                if not clean.get(name):
                    problems.append({"message": f'Property "{name}" is required', "error": "REQUIRED_PROPERTY",
                                     "name": name})
        if problems:
            raise property_errors(problems)
        if "email" in clean and object_type.unique_email:
            clean["email"] = clean["email"].lower()
        for name in self.unique_properties(object_type):
            if clean.get(name):
                holder = self.find_unique(object_type, name, clean[name])
                if holder is not None and holder is not current:
                    if name == "email":
                        raise InputError("CONFLICT", f"Contact already exists. Existing ID: {holder.id}",
                                         {"id": [holder.id]})
                    raise InputError(
                        "CONFLICT", f"A {object_type.singular} with the unique value {clean[name]!r} for property "
                        f"{name!r} already exists. Existing ID: {holder.id}", {"id": [holder.id]})
        return clean

    def create_many(self, object_type: ObjectType, inputs: list[dict[str, str]]) -> list[Record]:
        """Create records from checked values (see :meth:`check_values`)."""
        with self.lock:
            now = self.clock.now()
            records = []
            for id_, values in zip(self._next_ids(len(inputs)), inputs, strict=True):
                props = {k: v for k, v in values.items() if v != ""}
                props.update({"hs_object_id": id_, object_type.created_property: iso(now),
                              object_type.modified_property: iso(now)})
                self._completion(object_type, props, now)
                record = Record(object_type.name, id_, props, now, now)
                self.records[object_type.name][id_] = record
                self._index(record, add=True)
                records.append(record)
            self._save(records)
            return records

    def update_many(self, object_type: ObjectType, changes: list[tuple[Record, dict[str, str]]]) -> list[Record]:
        """Apply checked values to records; ``""`` clears a property."""
        with self.lock:
            now = self.clock.now()
            for record, values in changes:
                self._index(record, add=False)
                for name, value in values.items():
                    if value == "":
                        record.properties.pop(name, None)
                    else:
                        record.properties[name] = value
                record.properties[object_type.modified_property] = iso(now)
                self._completion(object_type, record.properties, now)
                record.updated_at = now
                self._index(record, add=True)
            self._save([record for record, _ in changes])
            return [record for record, _ in changes]

    @staticmethod
    def _completion(object_type: ObjectType, props: dict[str, str], now: datetime) -> None:
        """A task completed gets its completion date (HubSpot sets it; it clears when reopened)."""
        if object_type.name != "tasks":
            return
        if props.get("hs_task_status") == "COMPLETED":
            props.setdefault("hs_task_completion_date", iso(now))
        else:
            props.pop("hs_task_completion_date", None)

    def archive_many(self, object_type: ObjectType, records: list[Record], at: datetime | None = None) -> None:
        """Move records to the recycle bin (``archivedAt`` now, or ``at``); their associations are hidden with them."""
        with self.lock:
            now = at or self.clock.now()
            for record in records:
                self._index(record, add=False)
                record.archived_at = now
                record.updated_at = now
            self._save(records)

    def set_dates(self, dates: list[tuple[Record, datetime, datetime]]) -> None:
        """Backdate records: ``(record, created, last modified)`` (the demo seed)."""
        with self.lock:
            for record, created, updated in dates:
                record.created_at, record.updated_at = created, updated
                spec = OBJECT_TYPES[record.object_type]
                record.properties[spec.created_property] = iso(created)
                record.properties[spec.modified_property] = iso(updated)
                if "hs_task_completion_date" in record.properties:
                    record.properties["hs_task_completion_date"] = iso(updated)
            self._save([record for record, _, _ in dates])

    # --- associations ------------------------------------------------------------------------------------------

    def associate(self, from_type: ObjectType, from_id: str, to_type: ObjectType, to_id: str,
                  type_ids: list[int] | None = None) -> list[Association]:
        """Associate two records both ways with ``type_ids`` (the default unlabeled type when none); return the
        links made. As in HubSpot, a labeled association comes with the unlabeled one, and a new primary company
        of a contact or a deal takes the label from the previous one."""
        pair = ASSOCIATION_TYPES.get((from_type.name, to_type.name))
        if pair is None:
            raise InputError("VALIDATION_ERROR",
                             f"No association type is defined from {from_type.name} to {to_type.name}")
        reverse = ASSOCIATION_TYPES[(to_type.name, from_type.name)]
        for type_id in type_ids or []:
            if type_id is None or type_id not in pair:
                raise InputError("VALIDATION_ERROR", f"{type_id} is not a valid association type id from "
                                 f"{from_type.name} to {to_type.name}")
        made = []
        with self.lock:
            for type_id in dict.fromkeys([pair[0], *(type_ids or [])]):
                back = reverse[0] if type_id == pair[0] else (reverse[1] or reverse[0])
                if type_id == pair[1]:
                    self._move_primary(from_type.name, from_id, to_type.name, to_id)
                for link in ((from_type.name, from_id, to_type.name, to_id, type_id),
                             (to_type.name, to_id, from_type.name, from_id, back)):
                    held = self.links.setdefault(link[:2], {}).setdefault(link[2:4], set())
                    if link[4] not in held:
                        held.add(link[4])
                        self.db.execute("INSERT OR IGNORE INTO associations VALUES (?, ?, ?, ?, ?)", link)
                    made.append(Association(*link))
        return made

    def _move_primary(self, from_name: str, from_id: str, to_name: str, to_id: str) -> None:
        """Before a record gets a new primary company: drop the primary label from its other companies, and
        keep a contact's ``associatedcompanyid`` on the new one."""
        owner, owner_id, company = (from_name, from_id, to_id) if to_name == "companies" else (to_name, to_id, from_id)
        owner_label = ASSOCIATION_TYPES[(owner, "companies")][1] or 0
        company_label = ASSOCIATION_TYPES[("companies", owner)][1] or 0
        for (kind, other), types in list(self.links.get((owner, owner_id), {}).items()):
            if kind == "companies" and other != company and owner_label in types:
                self._remove_types((owner, owner_id), ("companies", other), {owner_label})
                self._remove_types(("companies", other), (owner, owner_id), {company_label})
        contact = self.records["contacts"].get(owner_id) if owner == "contacts" else None
        if contact is not None:
            contact.properties["associatedcompanyid"] = company
            self._save([contact])

    def _remove_types(self, start: tuple[str, str], end: tuple[str, str], types: set[int] | None) -> int:
        """Remove association types (all when ``None``) from ``start`` to ``end``; return how many went."""
        held = self.links.get(start, {}).get(end, set())
        gone = set(held) if types is None else held & types
        for type_id in gone:
            held.discard(type_id)
            self.db.execute("DELETE FROM associations WHERE from_type = ? AND from_id = ? AND to_type = ? "
                            "AND to_id = ? AND type_id = ?", (*start, *end, type_id))
        if not held:
            self.links.get(start, {}).pop(end, None)
        return len(gone)

    def dissociate(self, from_type: ObjectType, from_id: str, to_type: ObjectType, to_id: str,
                   type_ids: list[int] | None = None) -> int:
        """Remove the associations between two records both ways: every type, or only the labels ``type_ids``
        (their reverse types too); return how many links went."""
        pair = ASSOCIATION_TYPES.get((from_type.name, to_type.name), (0, None))
        reverse = ASSOCIATION_TYPES.get((to_type.name, from_type.name), (0, None))
        with self.lock:
            there = None if type_ids is None else set(type_ids)
            back = None if type_ids is None else {reverse[0] if t == pair[0] else reverse[1] for t in type_ids}
            gone = self._remove_types((from_type.name, from_id), (to_type.name, to_id), there)
            gone += self._remove_types((to_type.name, to_id), (from_type.name, from_id),
                                       {t for t in back if t is not None} if back is not None else None)
            if {from_type.name, to_type.name} == {"contacts", "companies"}:
                contact_id, company = (from_id, to_id) if from_type.name == "contacts" else (to_id, from_id)
                contact = self.records["contacts"].get(contact_id)
                primary = ASSOCIATION_TYPES[("contacts", "companies")][1]
                still = primary in self.links.get(("contacts", contact_id), {}).get(("companies", company), set())
                if contact is not None and contact.properties.get("associatedcompanyid") == company and not still:
                    contact.properties.pop("associatedcompanyid")
                    self._save([contact])
            return gone

    def associations(self, from_type: ObjectType, from_id: str, to_type: ObjectType) -> dict[str, list[int]]:
        """``{to_id: [type ids]}`` of a record's associations to live records of ``to_type``, by id."""
        with self.lock:
            live = self.records[to_type.name]
            found = [(to_id, sorted(types)) for (type_name, to_id), types in self.links.get((from_type.name, from_id),
                                                                                          {}).items()
                     if type_name == to_type.name and types and to_id in live and not live[to_id].archived]
            return dict(sorted(found, key=lambda item: int(item[0])))


def _folded(name: str, value: str) -> str:
    """A unique value as compared: e-mails ignoring case, other values exactly."""
    return value.lower() if name == "email" else value


def _moment(text: str) -> datetime:
    moment = parse_moment(text)
    if moment is None:
        raise ValueError(f"bad stored time {text!r}")
    return moment
