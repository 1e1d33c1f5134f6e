"""The org's records in SQLite, and the batch operations every write route (and Bulk API 2.0) uses.

One connection in WAL mode, guarded by a lock; writes of a batch run in one transaction with
``executemany``. Records live in one table per sObject (see ``storage_format``); a deleted record
stays with ``IsDeleted = 1`` (the recycle bin), so ``queryAll`` and ``getDeleted`` still see it.
Emptying the recycle bin (or a hard delete) sets ``IsDeleted = 2``: the record is gone for
``queryAll`` but its deletion stays in the delete log ``getDeleted`` reads, as in Salesforce. A
deletion older than 15 days is purged the same way, by age (``queryAll`` and ``getDeleted`` both
leave it out).

The batch operations (:meth:`RecordStore.insert`, :meth:`RecordStore.update`,
:meth:`RecordStore.upsert`, :meth:`RecordStore.delete`) take a list of records and return one
:class:`WriteResult` per record, in order, with Salesforce's per-record errors; with
``all_or_none`` nothing is written when any record fails, and the others report
``ALL_OR_NONE_OPERATION_ROLLED_BACK``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from emulators.common.clock import EmulatorClock
from emulators.salesforce import storage_format as fmt
from emulators.salesforce.errors import ROLLED_BACK_MESSAGE, RecordError, SalesforceError
from emulators.salesforce.ids import make_id, normalize_id, sequence_of
from emulators.salesforce.schema import TEXT_TYPES, FieldDef, ObjectDef, Schema
from emulators.salesforce.validation import (
    apply_defaults,
    apply_derivations,
    check_values,
    missing_required,
    parse_fields,
)

SQLITE_VARIABLES = 900
MAX_REPLICATION_IDS = 600_000
UPDATED_WINDOW = timedelta(days=30)
DELETED_WINDOW = timedelta(days=15)
IN_RECYCLE_BIN = 1
RECYCLE_BIN_EMPTIED = 2
ORG_SEQUENCE = 1
INTEGRATION_USER_SEQUENCE = 1


@dataclass
class WriteResult:
    """The outcome of writing one record: its id, whether it was created, and its errors."""

    id: str | None
    created: bool = False
    errors: list[RecordError] = field(default_factory=list)

    @property
    def success(self) -> bool:
        """True when the record was written."""
        return not self.errors

    def to_json(self, *, with_created: bool = False) -> dict[str, Any]:
        """The Collections result: ``{"id", "success", "errors"[, "created"]}``."""
        data: dict[str, Any] = {
            "id": self.id if self.success else None,
            "success": self.success,
            "errors": [e.to_collection_json() for e in self.errors],
        }
        if with_created:
            data["created"] = self.created if self.success else False
        return data


class Atomic:
    """The handle of an :meth:`RecordStore.atomic` block."""

    def __init__(self) -> None:
        self.rolled_back = False

    def rollback(self) -> None:
        """Undo the block's writes when it ends."""
        self.rolled_back = True


@dataclass
class _Plan:
    """One record's pending write: a create (no ``row``) or an update of ``row``."""

    index: int
    values: dict[str, Any]
    row: dict[str, Any] | None = None
    error: RecordError | None = None
    merged: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Table:
    """Prepared names and converters for one object's table."""

    obj: ObjectDef
    name: str
    fields: tuple[FieldDef, ...]
    columns: tuple[str, ...]
    to_db: tuple[Callable[[Any], Any], ...]
    from_db: tuple[Callable[[Any], Any], ...]
    position: dict[str, int]

    def column(self, field_name: str) -> str:
        """The quoted column of ``field_name``."""
        return self.columns[self.position[field_name]]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _chunks(items: list[Any], size: int = SQLITE_VARIABLES) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class RecordStore:
    """The emulated org's records.

    Args:
        db_path: the SQLite file (created if missing).
        schema: the objects.
        clock: the emulator clock; every timestamp and window comes from it.
        is_sandbox: ``Organization.IsSandbox``.
        instance_name: ``Organization.InstanceName``.
    """

    def __init__(
        self, db_path: Path, schema: Schema, clock: EmulatorClock, *, is_sandbox: bool = False,
        instance_name: str = "EMU1",
    ) -> None:
        self.schema = schema
        self.clock = clock
        self.is_sandbox = is_sandbox
        self.instance_name = instance_name
        self.lock = threading.RLock()
        self.conn = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-200000", "temp_store=MEMORY"):
            self.conn.execute(f"PRAGMA {pragma}")
        self.tables = {name: self._prepare(obj) for name, obj in schema.objects.items()}
        self._org_id = make_id(schema.objects["Organization"].key_prefix, ORG_SEQUENCE)
        self._last_stamp = datetime.min.replace(tzinfo=clock.now().tzinfo)
        self._sequences: dict[str, int] = {}
        self._savepoints = 0
        self._metadata_stamps: dict[str, datetime] = {}
        with self.lock:
            self._create_tables()
            self._load_org_id()
            self._ensure_base_records()

    # -- set-up --------------------------------------------------------------------------

    def _prepare(self, obj: ObjectDef) -> _Table:
        fields = tuple(obj.fields.values())
        return _Table(
            obj=obj,
            name=_quote(fmt.table_name(obj.name)),
            fields=fields,
            columns=tuple(_quote(fmt.column_name(f.name)) for f in fields),
            to_db=tuple(_to_db(f) for f in fields),
            from_db=tuple(_converter(fmt.from_storage, f) for f in fields),
            position={f.name: i for i, f in enumerate(fields)},
        )

    def _create_tables(self) -> None:
        for obj in self.schema.objects.values():
            for statement in fmt.create_table_statements(obj):
                self.conn.execute(statement)
            self._relax_unique_indexes(obj)
        self._sequences = {
            name: int(self.conn.execute(f"SELECT COALESCE(MAX(rowid), 0) FROM {t.name}").fetchone()[0])
            for name, t in self.tables.items()
        }

    def _relax_unique_indexes(self, obj: ObjectDef) -> None:
        """Turn the storage layout's UNIQUE indexes into plain ones (once, while a table is new).

        Salesforce checks uniqueness among live records only (a deleted record in the recycle bin
        does not block its value), and a non-unique external id may repeat; this store checks
        uniqueness itself (see ``_check_unique``), so the index (still ``COLLATE NOCASE``, as the
        SOQL engine compares text) only speeds up lookups.
        """
        table = fmt.table_name(obj.name)
        for f in obj.fields.values():
            if not _case_insensitive(f):
                continue
            index = f"ix_{table}_{f.name}"
            row = self.conn.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?",
                                    (index,)).fetchone()
            if row is not None and "UNIQUE" in row[0].upper():
                self.conn.execute(f"DROP INDEX {_quote(index)}")
                column = _quote(fmt.column_name(f.name))
                self.conn.execute(f"CREATE INDEX {_quote(index)} ON {_quote(table)} ({column} COLLATE NOCASE)")

    def _ensure_base_records(self) -> None:
        """The organization row and the integration user exist in every org, seeded or not."""
        org = self.tables["Organization"]
        org_id = self.org_id
        stamp = fmt.format_datetime(self._stamp())
        if self.conn.execute(f"SELECT 1 FROM {org.name} WHERE rowid = ?", (ORG_SEQUENCE,)).fetchone() is None:
            self._insert_raw("Organization", [{
                "Name": "Tandem Demo Org", "IsSandbox": self.is_sandbox,
                "OrganizationType": "Developer Edition", "InstanceName": self.instance_name,
                "DefaultLocaleSidKey": "en_US", "LanguageLocaleKey": "en_US", "TimeZoneSidKey": "Etc/UTC",
            }], user_id=self.integration_user_id, stamp=stamp)
        else:
            self.conn.execute(
                f"UPDATE {org.name} SET {org.column('IsSandbox')} = ? WHERE {org.column('Id')} = ?",
                (org.to_db[org.position["IsSandbox"]](self.is_sandbox), org_id),
            )
        users = self.tables["User"]
        if self.conn.execute(f"SELECT 1 FROM {users.name} WHERE rowid = ?", (INTEGRATION_USER_SEQUENCE,)).fetchone() \
                is None:
            self._insert_raw("User", [{
                "Username": "integration@tandem.example", "FirstName": "Integration", "LastName": "User",
                "Name": "Integration User", "Alias": "integ", "Email": "integration@tandem.example",
                "IsActive": True, "Title": "Integration User", "Department": "IT",
            }], user_id=self.integration_user_id, stamp=stamp)

    def _load_org_id(self) -> None:
        """The org id kept in the database (a refreshed sandbox has a new one), else the first org's."""
        org = self.tables["Organization"]
        row = self.conn.execute(
            f"SELECT {org.column('Id')} FROM {org.name} WHERE rowid = ?", (ORG_SEQUENCE,)
        ).fetchone()
        self._org_id = row[0] if row else make_id(org.obj.key_prefix, ORG_SEQUENCE)

    @property
    def org_id(self) -> str:
        """The organization's id (``00D...``); a sandbox refresh gives the org a new one."""
        return self._org_id

    def metadata_modified(self, obj_name: str | None = None) -> datetime:
        """When the metadata of ``obj_name`` (``None``: of any object) last changed.

        The schema is fixed when the emulator starts, so this is the org's creation time unless
        :meth:`touch_metadata` recorded a later change (describe's ``Last-Modified`` and its
        ``If-Modified-Since`` answer come from it).
        """
        org = self.tables["Organization"]
        with self.lock:
            row = self.conn.execute(f"SELECT {org.column('CreatedDate')} FROM {org.name} WHERE rowid = ?",
                                    (ORG_SEQUENCE,)).fetchone()
        created = fmt.parse_datetime(row[0]) if row and row[0] else self.clock.now()
        stamps = [s for name, s in self._metadata_stamps.items() if obj_name is None or name == obj_name]
        return max([created, *stamps])

    def touch_metadata(self, obj_name: str) -> None:
        """Record that the metadata of ``obj_name`` changed now (a deploy of a field or an object)."""
        self._metadata_stamps[obj_name] = self.clock.now()

    def apply_schema(self, schema: Schema) -> None:
        """Switch to ``schema`` (a Metadata API deploy added or changed objects and fields): create the new
        tables and columns, keep every record, and note which objects' metadata changed now."""
        with self.lock:
            for obj in schema.objects.values():
                table = _quote(fmt.table_name(obj.name))
                columns = {row[1] for row in self.conn.execute(f"PRAGMA table_info({table})")}
                for f in obj.fields.values():
                    if columns and fmt.column_name(f.name) not in columns:
                        self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {fmt.quoted_column(f.name)} "
                                          f"{fmt.SQL_TYPES[f.type]}")
                for statement in fmt.create_table_statements(obj):
                    self.conn.execute(statement)
                self._relax_unique_indexes(obj)
                if obj != self.schema.objects.get(obj.name):
                    self.touch_metadata(obj.name)
                self._sequences.setdefault(obj.name, 0)
            self.tables = {name: self._prepare(obj) for name, obj in schema.objects.items()}
            self.schema = schema

    @property
    def integration_user_id(self) -> str:
        """The id of the user every demo login is."""
        return make_id(self.schema.objects["User"].key_prefix, INTEGRATION_USER_SEQUENCE)

    def close(self) -> None:
        """Close the database."""
        with self.lock:
            self.conn.close()

    def reset(self) -> None:
        """Drop every record (and the tables) and recreate the empty org."""
        with self.lock:
            self._metadata_stamps.clear()
            for table in self.tables.values():
                self.conn.execute(f"DROP TABLE IF EXISTS {table.name}")
            self._create_tables()
            self._load_org_id()
            self._ensure_base_records()

    def copy_rows(self) -> OrgCopy:
        """Every record as it is now, kept in memory for :meth:`restore`; call it right after a reset and a seed.

        The copy notes the system timestamps given out since the reset (the organization's creation onwards), so
        that a restore can give them out again at its own time.
        """
        with self.lock:
            org = self.tables["Organization"]
            first = str(self.conn.execute(f"SELECT {org.column('CreatedDate')} FROM {org.name} WHERE rowid = ?",
                                          (ORG_SEQUENCE,)).fetchone()[0])
            last = fmt.format_datetime(self._last_stamp)
            rows: dict[str, list[tuple[Any, ...]]] = {}
            stamps: set[str] = set()
            for name, table in self.tables.items():
                rows[name] = self.conn.execute(
                    f"SELECT rowid, {', '.join(table.columns)} FROM {table.name} ORDER BY rowid").fetchall()
                for position in _datetime_positions(table):
                    stamps.update(v for row in rows[name] if (v := row[position]) is not None and first <= v <= last)
        return OrgCopy(schema=self.schema, rows=rows, stamps=tuple(sorted(stamps)))

    def restore(self, copy: OrgCopy) -> None:
        """Reset the org, then put back the records of ``copy`` as the reset and seed it was taken after would leave
        them now: the same ids and values, and the same timestamps given out again, in order, from now on (as by a
        seed that takes no time).

        Raises:
            ValueError: the copy was taken with other objects or fields (a deploy changed the schema since).
        """
        if copy.schema != self.schema:
            raise ValueError("the copy was taken with other objects or fields")
        with self.lock:
            self.reset()  # gives out the first timestamp (the organization's), as before the copy was taken
            again: dict[str, str] = {}
            for stamp in copy.stamps:  # the first is the organization's: the one the reset just gave out
                again[stamp] = fmt.format_datetime(self._last_stamp if not again else self._stamp())
            with self._transaction():
                for name, table in self.tables.items():
                    self.conn.execute(f"DELETE FROM {table.name}")
                    rows = copy.rows.get(name) or []
                    positions = _datetime_positions(table)
                    if positions:
                        rows = [_restamped(row, positions, again) for row in rows]
                    marks = ",".join("?" * (len(table.columns) + 1))
                    self.conn.executemany(
                        f"INSERT INTO {table.name} (rowid, {', '.join(table.columns)}) VALUES ({marks})", rows)
                self._sequences = {
                    name: int(self.conn.execute(f"SELECT COALESCE(MAX(rowid), 0) FROM {t.name}").fetchone()[0])
                    for name, t in self.tables.items()
                }

    def snapshot(self, path: Path) -> dict[str, Any]:
        """Write a consistent copy of the org's database to ``path`` (a source for :meth:`refresh_from`)."""
        with self.lock:
            target = sqlite3.connect(str(path))
            try:
                self.conn.backup(target)
            finally:
                target.close()
        return {"path": str(path), "org_id": self.org_id, "counts": self.counts()}

    def refresh_from(self, source: Path, objects: list[str] | None = None) -> dict[str, Any]:
        """A sandbox refresh: this org's records replaced by the source org's, and a new org id.

        Args:
            source: the source org's database (a :meth:`snapshot`, or another emulator's live file).
            objects: the objects whose records are copied (``None``: all, a Full Copy sandbox); the others
                end up empty. Users are always copied; the recycle bin is not.

        Returns:
            The new and previous org ids, the source's, and the records copied per object.

        Raises:
            ValueError: this org is not a sandbox, the source is not a database, or an object is unknown.
        """
        if not self.is_sandbox:
            raise ValueError(f"org {self.org_id} is a production org: only a sandbox can be refreshed")
        unknown = sorted(set(objects or []) - set(self.tables))
        if unknown:
            raise ValueError(f"unknown objects: {', '.join(unknown)}")
        copy = _read_database(source)
        org = self.tables["Organization"]
        try:
            row = copy.execute(f"SELECT {org.column('Id')} FROM {org.name} WHERE rowid = ?", (ORG_SEQUENCE,)).fetchone()
            if row is None:
                raise ValueError(f"{source} holds no Salesforce org")
            source_org_id = str(row[0])
            wanted = set(self.tables) if objects is None else {*objects, "User", "Organization"}
            copied: dict[str, int] = {}
            with self.lock, self._transaction():
                for name, table in self.tables.items():
                    self.conn.execute(f"DELETE FROM {table.name}")
                    if name not in wanted:
                        continue
                    columns = ", ".join(table.columns)
                    rows = copy.execute(
                        f"SELECT rowid, {columns} FROM {table.name} WHERE {table.column('IsDeleted')} = 0"
                    ).fetchall()
                    marks = ",".join("?" * (len(table.columns) + 1))
                    self.conn.executemany(f"INSERT INTO {table.name} (rowid, {columns}) VALUES ({marks})", rows)
                    if rows and name != "Organization":
                        copied[name] = len(rows)
                previous = self.org_id
                number = max(sequence_of(previous), sequence_of(source_org_id)) + 1
                self._org_id = make_id(org.obj.key_prefix, number)
                self.conn.execute(
                    f"UPDATE {org.name} SET {org.column('Id')} = ?, {org.column('IsSandbox')} = ? WHERE rowid = ?",
                    (self._org_id, org.to_db[org.position["IsSandbox"]](True), ORG_SEQUENCE),
                )
                self._sequences = {
                    name: int(self.conn.execute(f"SELECT COALESCE(MAX(rowid), 0) FROM {t.name}").fetchone()[0])
                    for name, t in self.tables.items()
                }
        finally:
            copy.close()
        return {"org_id": self.org_id, "previous_org_id": previous, "source_org_id": source_org_id, "copied": copied}

    # -- helpers ------------------------------------------------------------------------

    def table(self, obj_name: str) -> _Table:
        """The prepared table of ``obj_name`` (exact name)."""
        return self.tables[obj_name]

    def _stamp(self) -> datetime:
        """A timestamp from the clock, at millisecond precision, later than every earlier one
        (unless the clock was moved back by more than a second, which the stamps then follow)."""
        now = self.clock.now()
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        if now <= self._last_stamp < now + timedelta(seconds=1):
            now = self._last_stamp + timedelta(milliseconds=1)
        self._last_stamp = now
        return now

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """A transaction, or a savepoint inside an :meth:`atomic` block."""
        if self.conn.in_transaction:
            self.conn.execute("SAVEPOINT batch")
            try:
                yield
            except BaseException:
                self.conn.execute("ROLLBACK TO batch")
                self.conn.execute("RELEASE batch")
                raise
            self.conn.execute("RELEASE batch")
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    @contextmanager
    def atomic(self) -> Iterator[Atomic]:
        """Run several batch operations as one transaction (composite and collections ``allOrNone``).

        Call ``rollback()`` on the yielded handle to undo everything done inside the block; an
        exception undoes it too. Holds the store's lock for the whole block.
        """
        with self.lock:
            handle = Atomic()
            nested = self.conn.in_transaction
            self._savepoints += 1
            name = f"atomic{self._savepoints}"
            self.conn.execute(f"SAVEPOINT {name}" if nested else "BEGIN IMMEDIATE")
            undo, done = (f"ROLLBACK TO {name}", f"RELEASE {name}") if nested else ("ROLLBACK", "COMMIT")
            try:
                yield handle
            except BaseException:
                self.conn.execute(undo)
                if nested:
                    self.conn.execute(done)
                raise
            if handle.rolled_back:
                self.conn.execute(undo)
                if nested:
                    self.conn.execute(done)
            else:
                self.conn.execute(done)

    def _row_dict(self, table: _Table, row: tuple[Any, ...]) -> dict[str, Any]:
        return {f.name: conv(v) for f, conv, v in zip(table.fields, table.from_db, row, strict=True)}

    def _select_by(self, table: _Table, field_name: str, values: list[Any], *, live_only: bool = True
                   ) -> list[tuple[int, dict[str, Any]]]:
        """``(rowid, record)`` of the rows whose ``field_name`` is in ``values``."""
        found: list[tuple[int, dict[str, Any]]] = []
        f = table.obj.fields[field_name]
        column = table.column(field_name) + (" COLLATE NOCASE" if _case_insensitive(f) else "")
        live = f" AND {table.column('IsDeleted')} = 0" if live_only else ""
        for chunk in _chunks(list(dict.fromkeys(values))):
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT rowid, {', '.join(table.columns)} FROM {table.name} WHERE {column} IN ({marks}){live}"
            for row in self.conn.execute(sql, chunk):
                found.append((row[0], self._row_dict(table, row[1:])))
        return found

    # -- reads --------------------------------------------------------------------------

    def record_json(self, table: _Table, record: dict[str, Any], fields: list[str] | None, api_version: str
                    ) -> dict[str, Any]:
        """A record as the REST API shows it: ``attributes`` then the fields, in describe order."""
        data: dict[str, Any] = {
            "attributes": {
                "type": table.obj.name,
                "url": f"/services/data/v{api_version}/sobjects/{table.obj.name}/{record['Id']}",
            }
        }
        names = [table.obj.fields[f].name for f in fields] if fields else list(table.obj.fields)
        for name in names:
            data[name] = record.get(name)
        return data

    def resolve_fields(self, obj: ObjectDef, names: str | None) -> list[str] | None:
        """Field names from a ``fields=`` parameter, checked against the object.

        Raises:
            SalesforceError: ``INVALID_FIELD`` naming the unknown field.
        """
        if not names:
            return None
        resolved = []
        for name in (n.strip() for n in names.split(",") if n.strip()):
            f = obj.field(name)
            if f is None:
                raise SalesforceError(400, "INVALID_FIELD", f"No such column '{name}' on entity '{obj.name}'. If you "
                                      "are attempting to use a custom field, be sure to append the '__c' after the "
                                      "custom field name. Please reference your WSDL or the describe call for the "
                                      "appropriate names.")
            resolved.append(f.name)
        return resolved

    def get(self, obj_name: str, record_id: str) -> tuple[dict[str, Any] | None, bool]:
        """Return ``(record, is_deleted)`` for an 18-character id, or ``(None, False)``."""
        table = self.tables[obj_name]
        with self.lock:
            rows = self._select_by(table, "Id", [record_id], live_only=False)
        if not rows:
            return None, False
        record = rows[0][1]
        return record, bool(record["IsDeleted"])

    def get_many(self, obj_name: str, record_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Live records by 18-character id."""
        table = self.tables[obj_name]
        with self.lock:
            return {r["Id"]: r for _, r in self._select_by(table, "Id", record_ids)}

    def find_by_external_id(self, obj_name: str, field_name: str, value: Any) -> list[dict[str, Any]]:
        """Live records whose ``field_name`` equals ``value``."""
        table = self.tables[obj_name]
        stored = table.to_db[table.position[field_name]](value)
        with self.lock:
            return [r for _, r in self._select_by(table, field_name, [stored])]

    def user(self, user_id: str) -> dict[str, Any] | None:
        """The user record with ``user_id``."""
        return self.get_many("User", [user_id]).get(user_id)

    def counts(self) -> dict[str, int]:
        """Live records per object."""
        with self.lock:
            return {
                name: int(self.conn.execute(
                    f"SELECT COUNT(*) FROM {t.name} WHERE {t.column('IsDeleted')} = 0").fetchone()[0])
                for name, t in self.tables.items()
            }

    # -- batch writes -------------------------------------------------------------------

    def insert(self, obj_name: str, records: list[dict[str, Any]], *, user_id: str, all_or_none: bool = False
               ) -> list[WriteResult]:
        """Create ``records`` (JSON field maps) of ``obj_name``; one result per record, in order.

        Raises:
            SalesforceError: a request-level problem (unknown field, a value of the wrong JSON type).
        """
        obj = self.tables[obj_name].obj
        plans = []
        for index, record in enumerate(records):
            values = parse_fields(obj, record, allow_id=True)
            plan = _Plan(index, values)
            if "Id" in values:
                plan.error = RecordError("INVALID_FIELD_FOR_INSERT_UPDATE",
                                         "Record ID: cannot specify Id in an insert call", ["Id"])
            plans.append(plan)
        with self.lock:
            return self._apply(obj_name, plans, user_id=user_id, all_or_none=all_or_none)

    def update(self, obj_name: str, records: list[dict[str, Any]], *, user_id: str, all_or_none: bool = False
               ) -> list[WriteResult]:
        """Update ``records``, each carrying its ``Id``; one result per record, in order.

        Raises:
            SalesforceError: a request-level problem (unknown field, a value of the wrong JSON type).
        """
        table = self.tables[obj_name]
        plans = []
        for index, record in enumerate(records):
            values = parse_fields(table.obj, record, allow_id=True)
            plans.append(_Plan(index, values))
        with self.lock:
            ids: list[str] = []
            for plan in plans:
                raw = plan.values.pop("Id", None)
                record_id = normalize_id(raw) if isinstance(raw, str) else None
                if raw is None:
                    plan.error = RecordError("MISSING_ARGUMENT", "Id not specified in an update call", [])
                elif record_id is None or record_id[:3] != table.obj.key_prefix:
                    plan.error = RecordError("MALFORMED_ID", f"{table.obj.label} ID: id value of incorrect type: "
                                             f"{raw}", ["Id"])
                else:
                    plan.values["Id"] = record_id
                    ids.append(record_id)
            rows = {r["Id"]: r for _, r in self._select_by(table, "Id", ids, live_only=False)}
            for plan in plans:
                if plan.error:
                    continue
                row = rows.get(plan.values.pop("Id"))
                if row is None:
                    plan.error = RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
                elif row["IsDeleted"]:
                    plan.error = RecordError("ENTITY_IS_DELETED", "entity is deleted", [])
                else:
                    plan.row = row
            return self._apply(obj_name, plans, user_id=user_id, all_or_none=all_or_none)

    def upsert(self, obj_name: str, external_field: str, records: list[dict[str, Any]], *, user_id: str,
               all_or_none: bool = False) -> list[WriteResult]:
        """Create or update ``records`` matched on ``external_field``; results say ``created`` or not.

        A record matching several live records fails with ``DUPLICATE_EXTERNAL_ID``; two records of
        the batch with the same key both fail with ``DUPLICATE_EXTERNAL_ID``.

        Raises:
            SalesforceError: a request-level problem (unknown field, a value of the wrong JSON type,
                a field that is not an external id).
        """
        table = self.tables[obj_name]
        key_field = self.external_id_field(table.obj, external_field)
        plans = []
        for index, record in enumerate(records):
            values = parse_fields(table.obj, record, allow_id=True)
            plan = _Plan(index, values)
            if "Id" in values and key_field.name != "Id":
                plan.error = RecordError("INVALID_FIELD", "Id cannot be specified with an external id field", ["Id"])
            elif values.get(key_field.name) in (None, ""):
                plan.error = RecordError("MISSING_ARGUMENT", f"{key_field.name} not specified", [key_field.name])
            plans.append(plan)
        keys: dict[Any, list[_Plan]] = {}
        for plan in plans:
            if plan.error is None:
                keys.setdefault(_fold(plan.values[key_field.name]), []).append(plan)
        for same in keys.values():
            if len(same) > 1:
                for plan in same:
                    plan.error = RecordError("DUPLICATE_EXTERNAL_ID", "Duplicate external id specified: "
                                             f"{plan.values[key_field.name]}", [key_field.name])
        with self.lock:
            position = table.position[key_field.name]
            to_db = table.to_db[position]
            lookup = [to_db(k) for k, same in keys.items() if len(same) == 1]
            matches: dict[Any, list[dict[str, Any]]] = {}
            for _, row in self._select_by(table, key_field.name, lookup):
                matches.setdefault(_fold(row[key_field.name]), []).append(row)
            for plan in plans:
                if plan.error is not None:
                    continue
                found = matches.get(_fold(plan.values[key_field.name]), [])
                if len(found) > 1:
                    plan.error = RecordError(
                        "DUPLICATE_EXTERNAL_ID",
                        f"{key_field.name}: more than one record found for external id field: "
                        f"[{', '.join(r['Id'] for r in found)}]", [key_field.name],
                    )
                elif found:
                    plan.row = found[0]
            return self._apply(obj_name, plans, user_id=user_id, all_or_none=all_or_none,
                               skip_unique=key_field.name)

    def external_id_field(self, obj: ObjectDef, name: str) -> FieldDef:
        """The external-id field called ``name`` (``Id`` is accepted too).

        Raises:
            SalesforceError: ``NOT_FOUND`` as Salesforce answers for a field that is not an external id.
        """
        f = obj.field(name)
        if f is None or not (f.external_id or f.name == "Id"):
            raise SalesforceError(404, "NOT_FOUND",
                                  f"Provided external ID field does not exist or is not accessible: {name}")
        return f

    def delete(self, record_ids: list[str], *, user_id: str, all_or_none: bool = False) -> list[WriteResult]:
        """Delete records (of any objects) by id; they stay in the recycle bin with ``IsDeleted = 1``."""
        results = [WriteResult(id=None) for _ in record_ids]
        targets: dict[str, list[tuple[int, str]]] = {}
        for index, raw in enumerate(record_ids):
            record_id = normalize_id(raw)
            obj = self.schema.object_for_id(record_id) if record_id else None
            if record_id is None or obj is None:
                results[index].errors.append(RecordError("MALFORMED_ID", f"malformed id {raw}", []))
            elif not obj.deletable:
                results[index].errors.append(
                    RecordError("INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id", []))
            else:
                results[index].id = record_id
                targets.setdefault(obj.name, []).append((index, record_id))
        with self.lock:
            rowids: dict[str, list[int]] = {}
            deleted_ids: dict[str, list[str]] = {}
            for obj_name, wanted in targets.items():
                table = self.tables[obj_name]
                rows = {r["Id"]: (rowid, r) for rowid, r in
                        self._select_by(table, "Id", [i for _, i in wanted], live_only=False)}
                for index, record_id in wanted:
                    found = rows.get(record_id)
                    if found is None:
                        results[index].errors.append(
                            RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", []))
                    elif found[1]["IsDeleted"] or found[0] in rowids.get(obj_name, []):
                        results[index].errors.append(RecordError("ENTITY_IS_DELETED", "entity is deleted", []))
                    else:
                        rowids.setdefault(obj_name, []).append(found[0])
                        deleted_ids.setdefault(obj_name, []).append(record_id)
            if _rolled_back(results, all_or_none):
                return results
            self._cascade(deleted_ids, rowids)
            stamp = fmt.format_datetime(self._stamp())
            with self._transaction():
                for obj_name, ids in rowids.items():
                    table = self.tables[obj_name]
                    sql = (f"UPDATE {table.name} SET {table.column('IsDeleted')} = 1, "
                           f"{table.column('SystemModstamp')} = ?, {table.column('LastModifiedDate')} = ?, "
                           f"{table.column('LastModifiedById')} = ? WHERE rowid = ?")
                    self.conn.executemany(sql, [(stamp, stamp, user_id, rowid) for rowid in ids])
        return results

    def empty_recycle_bin(self, record_ids: list[str] | None = None, objects: list[str] | None = None) -> int:
        """Empty the recycle bin: of ``record_ids``, of every deleted record of ``objects``, or (both
        ``None``) of everything. Return how many records were purged.

        Purged records are gone for ``queryAll`` and every read; their deletions stay in the delete
        log (``getDeleted``), as Salesforce keeps them.

        Raises:
            ValueError: an unknown object.
        """
        unknown = sorted(set(objects or []) - set(self.tables))
        if unknown:
            raise ValueError(f"unknown objects: {', '.join(unknown)}")
        wanted: dict[str, list[str] | None] = {}
        if record_ids is not None:
            for raw in record_ids:
                record_id = normalize_id(raw)
                obj = self.schema.object_for_id(record_id) if record_id else None
                if record_id is not None and obj is not None:
                    listed = wanted.setdefault(obj.name, [])
                    assert listed is not None
                    listed.append(record_id)
        else:
            wanted = dict.fromkeys(objects or list(self.tables))
        purged = 0
        with self.lock, self._transaction():
            for obj_name, ids in wanted.items():
                table = self.tables[obj_name]
                deleted_col = table.column("IsDeleted")
                sql = f"UPDATE {table.name} SET {deleted_col} = {RECYCLE_BIN_EMPTIED} WHERE {deleted_col} = " \
                      f"{IN_RECYCLE_BIN}"
                if ids is None:
                    purged += self.conn.execute(sql).rowcount
                    continue
                for chunk in _chunks(ids):
                    marks = ",".join("?" * len(chunk))
                    purged += self.conn.execute(f"{sql} AND {table.column('Id')} IN ({marks})", chunk).rowcount
        return purged

    def _cascade(self, parents: dict[str, list[str]], rowids: dict[str, list[int]]) -> None:
        """Add to ``rowids`` the live children that a delete of ``parents`` takes with it
        (reference fields marked ``cascadeDelete``, as Salesforce deletes an account's contacts)."""
        while parents:
            children: dict[str, list[str]] = {}
            for child in self.schema.objects.values():
                table = self.tables[child.name]
                for f in child.fields.values():
                    if not f.cascade_delete:
                        continue
                    ids = [i for target in f.reference_to for i in parents.get(target, [])]
                    if not ids:
                        continue
                    seen = set(rowids.get(child.name, []))
                    for rowid, row in self._select_by(table, f.name, ids):
                        if rowid not in seen:
                            seen.add(rowid)
                            rowids.setdefault(child.name, []).append(rowid)
                            children.setdefault(child.name, []).append(row["Id"])
            parents = children

    # -- the shared write path ------------------------------------------------------------

    def _apply(self, obj_name: str, plans: list[_Plan], *, user_id: str, all_or_none: bool,
               skip_unique: str | None = None) -> list[WriteResult]:
        table = self.tables[obj_name]
        obj = table.obj
        results = [WriteResult(id=None) for _ in plans]
        for plan in plans:
            if plan.error is None and not (obj.createable if plan.row is None else obj.updateable):
                operation = "insert" if plan.row is None else "update"
                plan.error = RecordError("INVALID_TYPE_FOR_OPERATION",
                                         f"entity type {obj.name} does not support {operation}", [])
        for plan in plans:
            if plan.error is not None:
                continue
            creating = plan.row is None
            plan.error = check_values(obj, plan.values, creating=creating)
            if plan.error is not None:
                continue
            if creating:
                plan.merged = dict(plan.values)
                apply_defaults(obj, plan.merged)
            else:
                assert plan.row is not None
                plan.merged = {**plan.row, **plan.values}
            apply_derivations(obj, plan.merged)
            plan.error = missing_required(obj, plan.merged)
        self._check_references(obj, plans)
        self._check_unique(table, plans, skip=skip_unique)
        for plan in plans:
            if plan.error is not None:
                results[plan.index].errors.append(plan.error)
        if _rolled_back(results, all_or_none):
            return results
        stamp = fmt.format_datetime(self._stamp())
        creates = [p for p in plans if p.error is None and p.row is None]
        updates = [p for p in plans if p.error is None and p.row is not None]
        with self._transaction():
            for plan, record_id in zip(creates, self._insert_rows(table, [p.merged for p in creates], user_id, stamp),
                                       strict=True):
                results[plan.index].id = record_id
                results[plan.index].created = True
            self._update_rows(table, updates, user_id, stamp)
        for plan in updates:
            assert plan.row is not None
            results[plan.index].id = plan.row["Id"]
        return results

    def _check_references(self, obj: ObjectDef, plans: list[_Plan]) -> None:
        wanted: dict[str, set[str]] = {}
        for plan in plans:
            if plan.error is not None:
                continue
            for name, value in plan.values.items():
                f = obj.fields[name]
                if f.type != "reference" or value is None:
                    continue
                record_id = normalize_id(value)
                target = self.schema.object_for_id(record_id) if record_id else None
                if record_id is None:
                    plan.error = RecordError("MALFORMED_ID", f"{f.label}: id value of incorrect type: {value}", [name])
                    break
                if target is None or target.name not in f.reference_to:
                    plan.error = RecordError("FIELD_INTEGRITY_EXCEPTION",
                                             f"{f.label}: id value of incorrect type: {value}", [name])
                    break
                plan.values[name] = plan.merged[name] = record_id
                wanted.setdefault(target.name, set()).add(record_id)
        status: dict[str, bool] = {}
        for target_name, ids in wanted.items():
            for _, row in self._select_by(self.tables[target_name], "Id", list(ids), live_only=False):
                status[row["Id"]] = bool(row["IsDeleted"])
        for plan in plans:
            if plan.error is not None:
                continue
            for name, value in plan.values.items():
                if obj.fields[name].type != "reference" or value is None:
                    continue
                if value not in status:
                    plan.error = RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
                    break
                if status[value]:
                    plan.error = RecordError("ENTITY_IS_DELETED", "entity is deleted", [])
                    break

    def _check_unique(self, table: _Table, plans: list[_Plan], *, skip: str | None) -> None:
        for f in table.obj.fields.values():
            if not f.unique or f.name == skip:
                continue
            claims: dict[Any, _Plan] = {}
            for plan in plans:
                value = _fold(plan.values.get(f.name))
                if plan.error is not None or value is None:
                    continue
                if value in claims:
                    plan.error = RecordError("DUPLICATE_VALUE", f"duplicate value found: {f.name} duplicates value "
                                             "on record with id: " + (claims[value].merged.get("Id") or ""), [])
                    continue
                claims[value] = plan
            if not claims:
                continue
            to_db = table.to_db[table.position[f.name]]
            for _, row in self._select_by(table, f.name, [to_db(v) for v in claims]):
                owner = claims.get(_fold(row[f.name]))
                if owner is not None and owner.error is None and (owner.row is None or owner.row["Id"] != row["Id"]):
                    owner.error = RecordError(
                        "DUPLICATE_VALUE", f"duplicate value found: {f.name} duplicates value on record with id: "
                        f"{row['Id']}", [])

    def _next_ids(self, obj_name: str, count: int) -> list[tuple[int, str]]:
        prefix = self.tables[obj_name].obj.key_prefix
        start = self._sequences[obj_name] + 1
        self._sequences[obj_name] += count
        return [(seq, make_id(prefix, seq)) for seq in range(start, start + count)]

    def _insert_rows(self, table: _Table, records: list[dict[str, Any]], user_id: str, stamp: str) -> list[str]:
        if not records:
            return []
        allocated = self._next_ids(table.obj.name, len(records))
        system = {"IsDeleted": False, "CreatedDate": stamp, "LastModifiedDate": stamp, "SystemModstamp": stamp,
                  "CreatedById": user_id, "LastModifiedById": user_id}
        rows = []
        for (seq, record_id), record in zip(allocated, records, strict=True):
            full = {**record, **system, "Id": record_id}
            rows.append((seq, *(conv(full.get(f.name)) for f, conv in zip(table.fields, table.to_db, strict=True))))
        marks = ",".join("?" * (len(table.columns) + 1))
        self.conn.executemany(f"INSERT INTO {table.name} (rowid, {', '.join(table.columns)}) VALUES ({marks})", rows)
        return [record_id for _, record_id in allocated]

    def _update_rows(self, table: _Table, plans: list[_Plan], user_id: str, stamp: str) -> None:
        derived = [f.name for f in table.obj.fields.values() if f.derived]
        position = table.position
        groups: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        for plan in plans:
            assert plan.row is not None
            names = tuple(dict.fromkeys([*plan.values, *derived]))
            params = [table.to_db[position[n]](plan.merged.get(n)) for n in names]
            groups.setdefault(names, []).append((*params, stamp, stamp, user_id, plan.row["Id"]))
        for names, rows in groups.items():
            sets = ", ".join(f"{table.column(n)} = ?" for n in names)
            sql = (f"UPDATE {table.name} SET {sets}{', ' if sets else ''}{table.column('LastModifiedDate')} = ?, "
                   f"{table.column('SystemModstamp')} = ?, {table.column('LastModifiedById')} = ? "
                   f"WHERE {table.column('Id')} = ?")
            self.conn.executemany(sql, rows)

    def _insert_raw(self, obj_name: str, records: list[dict[str, Any]], *, user_id: str, stamp: str) -> list[str]:
        table = self.tables[obj_name]
        with self._transaction():
            return self._insert_rows(table, records, user_id, stamp)

    def bulk_load(self, obj_name: str, records: Iterable[dict[str, Any]], *, chunk_size: int = 20_000) -> int:
        """Load trusted records fast, without validation (benchmarks, large seeds); return how many.

        Each record is a map of field name to Python value (``True``, ``12.5``, ``"2024-01-31"``);
        ids, system timestamps and derived fields are filled in.
        """
        table = self.tables[obj_name]
        obj = table.obj
        total = 0
        batch: list[dict[str, Any]] = []
        with self.lock:
            stamp = fmt.format_datetime(self._stamp())
            for record in records:
                record = dict(record)
                apply_defaults(obj, record)
                apply_derivations(obj, record)
                batch.append(record)
                if len(batch) >= chunk_size:
                    self._insert_raw(obj_name, batch, user_id=self.integration_user_id, stamp=stamp)
                    total += len(batch)
                    batch = []
            if batch:
                self._insert_raw(obj_name, batch, user_id=self.integration_user_id, stamp=stamp)
                total += len(batch)
        return total

    # -- replication windows ---------------------------------------------------------------

    def updated(self, obj_name: str, start: datetime, end: datetime) -> dict[str, Any]:
        """``sobjects/X/updated``: ids of live records changed in ``[start, end)`` (minute precision)."""
        start, end = _replication_window(self.clock.now(), start, end, UPDATED_WINDOW)
        table = self.tables[obj_name]
        sql = (f"SELECT {table.column('Id')} FROM {table.name} WHERE {table.column('SystemModstamp')} >= ? AND "
               f"{table.column('SystemModstamp')} < ? AND {table.column('IsDeleted')} = 0 "
               f"ORDER BY {table.column('SystemModstamp')} LIMIT {MAX_REPLICATION_IDS + 1}")
        with self.lock:
            ids = [r[0] for r in self.conn.execute(sql, (fmt.format_datetime(start), fmt.format_datetime(end)))]
        _check_id_limit(len(ids))
        return {"ids": ids, "latestDateCovered": fmt.format_datetime(end)}

    def deleted(self, obj_name: str, start: datetime, end: datetime) -> dict[str, Any]:
        """``sobjects/X/deleted``: records deleted in ``[start, end)``, within the 15-day recycle bin.

        Deletions older than 15 days are gone (purged); ``earliestDateAvailable`` is then the time of
        the last purged deletion, so a caller whose start is earlier knows it missed some.
        """
        now = self.clock.now()
        start, end = _replication_window(now, start, end, UPDATED_WINDOW)
        table = self.tables[obj_name]
        horizon = fmt.format_datetime(now - DELETED_WINDOW)
        stamp_col, deleted_col = table.column("SystemModstamp"), table.column("IsDeleted")
        with self.lock:
            rows = self.conn.execute(
                f"SELECT {table.column('Id')}, {stamp_col} FROM {table.name} WHERE {deleted_col} >= 1 AND "
                f"{stamp_col} >= ? AND {stamp_col} < ? AND {stamp_col} >= ? ORDER BY {stamp_col} "
                f"LIMIT {MAX_REPLICATION_IDS + 1}",
                (fmt.format_datetime(start), fmt.format_datetime(end), horizon),
            ).fetchall()
            purged = self.conn.execute(
                f"SELECT MAX({stamp_col}) FROM {table.name} WHERE {deleted_col} >= 1 AND {stamp_col} < ?", (horizon,)
            ).fetchone()[0]
            if purged is None:
                purged = self.conn.execute(
                    f"SELECT {table.column('CreatedDate')} FROM {self.tables['Organization'].name} WHERE rowid = ?",
                    (ORG_SEQUENCE,),
                ).fetchone()[0]
        _check_id_limit(len(rows))
        return {
            "deletedRecords": [{"id": r[0], "deletedDate": r[1]} for r in rows],
            "earliestDateAvailable": _minute_floor_text(purged),
            "latestDateCovered": fmt.format_datetime(end),
        }


@dataclass(frozen=True)
class OrgCopy:
    """An org's records in memory (:meth:`RecordStore.copy_rows`), to put back with :meth:`RecordStore.restore`."""

    schema: Schema
    #: Per object, its rows as stored: the rowid, then the columns.
    rows: dict[str, list[tuple[Any, ...]]]
    #: The system timestamps given out between the reset and the copy, in order.
    stamps: tuple[str, ...]


def _datetime_positions(table: _Table) -> list[int]:
    """Where a stored row (rowid first) of ``table`` holds its datetime fields."""
    return [i + 1 for i, f in enumerate(table.fields) if f.type == "datetime"]


def _restamped(row: tuple[Any, ...], positions: list[int], again: dict[str, str]) -> tuple[Any, ...]:
    values = list(row)
    for position in positions:
        value = values[position]
        if value in again:
            values[position] = again[value]
    return tuple(values)


def _read_database(source: Path) -> sqlite3.Connection:
    """An in-memory copy of the SQLite database ``source`` (consistent even while another process writes it)."""
    if not source.is_file():
        raise ValueError(f"{source} is not a snapshot or an emulator database")
    reader = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    copy = sqlite3.connect(":memory:", check_same_thread=False)
    try:
        reader.backup(copy)
    except sqlite3.DatabaseError as exc:
        copy.close()
        raise ValueError(f"{source} is not a snapshot or an emulator database: {exc}") from exc
    finally:
        reader.close()
    return copy


def _case_insensitive(f: FieldDef) -> bool:
    """Unique and external-id text fields match case-insensitively (Salesforce's default for them)."""
    return (f.unique or f.external_id) and f.name != "Id" and f.type in TEXT_TYPES


def _fold(value: Any) -> Any:
    """The comparison key of a unique value (case-insensitive text, as SQLite's NOCASE for ASCII)."""
    return value.lower() if isinstance(value, str) else value


def _to_db(f: FieldDef) -> Callable[[Any], Any]:
    """The storage converter of ``f``, with shortcuts for values already in stored form
    (validated text, and datetimes this store formatted itself)."""
    if f.type in TEXT_TYPES:
        return lambda value: value if value is None or isinstance(value, str) else fmt.to_storage(f, value)
    if f.type == "boolean":
        return lambda value: None if value is None else (1 if value else 0)
    if f.type == "datetime":
        return lambda value: (
            value if value is None or (isinstance(value, str) and len(value) == 28 and value.endswith("+0000"))
            else fmt.to_storage(f, value)
        )
    return _converter(fmt.to_storage, f)


def _converter(function: Callable[[FieldDef, Any], Any], f: FieldDef) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        return None if value is None else function(f, value)

    return convert


def _rolled_back(results: list[WriteResult], all_or_none: bool) -> bool:
    """With ``all_or_none`` and a failure: mark the others rolled back and return True."""
    if not all_or_none or all(r.success for r in results):
        return False
    for result in results:
        if result.success:
            result.errors.append(RecordError("ALL_OR_NONE_OPERATION_ROLLED_BACK", ROLLED_BACK_MESSAGE, []))
    return True


def _minute_floor(when: datetime) -> datetime:
    return when.replace(second=0, microsecond=0)


def _minute_floor_text(text: str) -> str:
    return fmt.format_datetime(_minute_floor(fmt.parse_datetime(text)))


def _replication_window(now: datetime, start: datetime, end: datetime, reach: timedelta) -> tuple[datetime, datetime]:
    """Salesforce's rules for getUpdated/getDeleted: minute precision, start more than a minute before
    end, start within ``reach`` of now, end no later than now."""
    start, end = _minute_floor(start), _minute_floor(min(end, now))
    if end - start < timedelta(minutes=1):
        raise SalesforceError(400, "INVALID_REPLICATION_DATE",
                              "startDate must chronologically precede endDate by more than one minute")
    if start < now - reach:
        raise SalesforceError(400, "INVALID_REPLICATION_DATE",
                              f"startDate cannot be more than {reach.days} days ago")
    return start, end


def _check_id_limit(count: int) -> None:
    if count > MAX_REPLICATION_IDS:
        raise SalesforceError(400, "EXCEEDED_ID_LIMIT",
                              f"The number of IDs returned exceeds the limit of {MAX_REPLICATION_IDS:,}")
