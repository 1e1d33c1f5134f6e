"""The ERP's records in SQLite (WAL): one row per record with its columns and its pre-rendered XML.

Each write re-renders the record's ``platformCore:record`` fragment, so reads only join strings.
Deleted records move to the ``deleted`` table for ``getDeleted``.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
from array import array
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from emulators.erp.criteria import INDEXED_TEXT_FIELDS, folded, uses_folded_index
from emulators.erp.custom_records import custom_lists, list_value
from emulators.erp.render import record_xml
from emulators.erp.requests_xml import ParsedRecord
from emulators.erp.sales_orders import complete_sales_order
from emulators.erp.schema import PRICING_TARGETS, FieldKind, RecordSpec, record_specs

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    internal_id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused after a delete, like SuiteTalk ids
    type TEXT NOT NULL,
    external_id TEXT,
    name TEXT,
    date_created INTEGER NOT NULL,
    last_modified INTEGER NOT NULL,
    fields TEXT NOT NULL,
    xml TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS records_type_external ON records (type, external_id);
CREATE INDEX IF NOT EXISTS records_type_modified ON records (type, last_modified, internal_id);
CREATE TABLE IF NOT EXISTS deleted (
    id INTEGER PRIMARY KEY,
    type TEXT NOT NULL,
    internal_id INTEGER NOT NULL,
    external_id TEXT,
    deleted_date INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS deleted_date ON deleted (deleted_date, id);
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    total INTEGER NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    submitted INTEGER NOT NULL,
    request BLOB NOT NULL,
    result TEXT
);
CREATE TABLE IF NOT EXISTS credentials (
    token_id TEXT PRIMARY KEY,
    consumer_key TEXT NOT NULL,
    consumer_secret TEXT NOT NULL,
    token_secret TEXT NOT NULL
);
"""

RECORD_COLUMNS = "internal_id, type, external_id, name, date_created, last_modified, fields, xml"

Errors = list[tuple[str, str]]


@dataclass
class WriteOutcome:
    """The result of writing one record: errors (empty on success) and the record's reference."""

    errors: Errors
    ref: dict[str, str]


@dataclass(frozen=True)
class Credentials:
    """One integration token: what a client signs its ``tokenPassport`` with."""

    consumer_key: str
    consumer_secret: str
    token_id: str
    token_secret: str


class ErpStore:
    """The SQLite store. Thread-safe: one connection per thread, writes serialised by a lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.RLock()
        self.specs = record_specs()
        with self._connection() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(SCHEMA)
            for name in INDEXED_TEXT_FIELDS:
                conn.execute(f"CREATE INDEX IF NOT EXISTS records_text_{name} ON records ({folded(name)})")

    # connections -------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA cache_size=-65536")
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` … ``COMMIT``), serialised with other writers."""
        with self._write_lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def reader(self) -> sqlite3.Connection:
        """This thread's connection, for reads."""
        return self._connection()

    # credentials -------------------------------------------------------------------------

    def demo_credentials(self) -> Credentials:
        """The demo integration's token, created (random) the first time and kept afterwards."""
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT consumer_key, consumer_secret, token_id, token_secret FROM credentials ORDER BY rowid LIMIT 1"
            ).fetchone()
            if row is None:
                row = tuple(secrets.token_hex(32) for _ in range(4))
                conn.execute(
                    "INSERT INTO credentials (consumer_key, consumer_secret, token_id, token_secret) VALUES (?,?,?,?)",
                    row,
                )
        return Credentials(*row)

    def credentials(self, token_id: str) -> Credentials | None:
        """The credentials of ``token_id``, or ``None`` when the token is unknown."""
        row = self.reader().execute(
            "SELECT consumer_key, consumer_secret, token_id, token_secret FROM credentials WHERE token_id = ?",
            (token_id,),
        ).fetchone()
        return Credentials(*row) if row else None

    # wiping and counting -----------------------------------------------------------------

    def wipe(self) -> None:
        """Remove every record, deletion and job (the credentials stay)."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM records")
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone():
                conn.execute("DELETE FROM sqlite_sequence WHERE name = 'records'")  # a wiped account numbers from 1
            conn.execute("DELETE FROM deleted")
            conn.execute("DELETE FROM jobs")

    def copy_records(self) -> list[tuple[Any, ...]]:
        """Every record as stored (internal id first), kept in memory for :meth:`restore_records`."""
        return self.reader().execute(f"SELECT {RECORD_COLUMNS} FROM records ORDER BY internal_id").fetchall()

    def restore_records(self, rows: list[tuple[Any, ...]]) -> None:
        """Wipe the account (as :meth:`wipe`), then store ``rows`` (as :meth:`copy_records` gave them) with their
        internal ids; new records are numbered after the highest."""
        self.wipe()
        with self.transaction() as conn:
            conn.executemany(f"INSERT INTO records ({RECORD_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)", rows)

    def snapshot(self, path: Path) -> dict[str, Any]:
        """Write a consistent copy of the account's database to ``path`` (a source for :meth:`refresh_from`)."""
        with self._write_lock:
            target = sqlite3.connect(path)
            try:
                self._connection().backup(target)
            finally:
                target.close()
        return {"path": str(path), "counts": self.counts()}

    def refresh_from(self, source: Path, record_types: list[str] | None = None) -> dict[str, int]:
        """A sandbox refresh: the records replaced by the source account's; this account's credentials stay.

        Internal ids are copied; new records are numbered after the highest either account ever used. Deletions
        (``getDeleted``) and asynchronous jobs are not copied and are forgotten here.

        Args:
            source: the source account's database (a :meth:`snapshot`, or another emulator's live file).
            record_types: the record types copied (``None``: all); the others end up empty.

        Returns:
            The records copied per record type.

        Raises:
            ValueError: the source is not an ERP database, or a record type is unknown.
        """
        unknown = sorted(set(record_types or []) - set(self.specs))
        if unknown:
            raise ValueError(f"unknown record types: {', '.join(unknown)}")
        if not source.is_file():
            raise ValueError(f"{source} is not a snapshot or an ERP emulator database")
        reader = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        copy = sqlite3.connect(":memory:")
        try:
            reader.backup(copy)
            where, params = "", list(record_types or [])
            if record_types is not None:
                where = f" WHERE type IN ({','.join('?' * len(params))})"
            columns = "internal_id, type, external_id, name, date_created, last_modified, fields, xml"
            rows = copy.execute(f"SELECT {columns} FROM records{where}", params).fetchall()
            sequence = copy.execute("SELECT seq FROM sqlite_sequence WHERE name = 'records'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"{source} is not a snapshot or an ERP emulator database: {exc}") from exc
        finally:
            reader.close()
            copy.close()
        with self.transaction() as conn:
            conn.execute("DELETE FROM records")
            conn.execute("DELETE FROM deleted")
            conn.execute("DELETE FROM jobs")
            conn.executemany(f"INSERT INTO records ({columns}) VALUES (?,?,?,?,?,?,?,?)", rows)
            if sequence is not None:  # never reuse an id the source gave out either
                conn.execute("UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = 'records'", (sequence[0],))
        copied: dict[str, int] = {}
        for row in rows:
            copied[row[1]] = copied.get(row[1], 0) + 1
        return copied

    def counts(self) -> dict[str, int]:
        """Number of stored records per type."""
        rows = self.reader().execute("SELECT type, COUNT(*) FROM records GROUP BY type").fetchall()
        return {t: n for t, n in rows}

    # writing -----------------------------------------------------------------------------

    def write(self, records: Iterable[ParsedRecord | None], *, mode: str, now_ms: int) -> list[WriteOutcome | None]:
        """Add or upsert records in one transaction; each record succeeds or fails alone.

        Args:
            records: parsed records (``None`` entries are passed through as ``None``).
            mode: ``"add"`` (a known externalId is ``DUP_RCRD``), ``"upsert"`` (keyed on externalId) or
                ``"update"`` (keyed on internalId, else externalId; the record must exist).
            now_ms: the emulator's time, for ``dateCreated``/``lastModifiedDate``.
        """
        outcomes: list[WriteOutcome | None] = []
        with self.transaction() as conn:
            for record in records:
                outcomes.append(None if record is None else self._write_one(conn, record, mode, now_ms))
        return outcomes

    def _write_one(self, conn: sqlite3.Connection, record: ParsedRecord, mode: str, now_ms: int) -> WriteOutcome:
        spec = record.spec
        ref = {"type": spec.record_type}
        if record.external_id is not None:
            ref["externalId"] = record.external_id
        if record.error is not None:
            return WriteOutcome([record.error], ref)
        existing = None
        if mode == "update" and record.internal_id is not None:
            try:
                key = int(record.internal_id)
            except ValueError:
                key = -1
            existing = conn.execute(
                "SELECT internal_id, fields, date_created, external_id FROM records WHERE type = ? AND internal_id = ?",
                (spec.record_type, key),
            ).fetchone()
            ref["internalId"] = record.internal_id
        elif record.external_id is not None:
            existing = conn.execute(
                "SELECT internal_id, fields, date_created, external_id FROM records WHERE type = ? AND external_id = ?",
                (spec.record_type, record.external_id),
            ).fetchone()
        if mode == "update" and existing is None:
            return WriteOutcome([("RCRD_DSNT_EXIST", "That record does not exist.")], ref)
        if mode == "upsert" and record.external_id is None:
            return WriteOutcome([("USER_ERROR", "You must specify an externalId for an upsert.")], ref)
        if mode == "add" and existing is not None:
            return WriteOutcome([(
                "DUP_RCRD",
                f"This record already exists (a {spec.record_type} with externalId {record.external_id}).",
            )], ref)
        external_id = existing[3] if existing is not None else record.external_id
        if external_id is not None:
            ref["externalId"] = external_id
        fields: dict[str, Any] = orjson.loads(existing[1]) if existing else {}
        previous = dict(fields)
        fields.update(record.values)
        for name in record.nulls:
            fields.pop(name, None)
        errors = self._validate(conn, spec, fields, record.values, previous, now_ms)
        if errors:
            if existing:
                ref["internalId"] = str(existing[0])
            return WriteOutcome(errors, ref)
        label = str(fields[spec.name_field]) if spec.name_field and spec.name_field in fields else None
        if existing:
            internal_id, date_created = existing[0], existing[2]
            xml = record_xml(spec, internal_id, external_id, fields, date_created, now_ms)
            conn.execute(
                "UPDATE records SET name = ?, last_modified = ?, fields = ?, xml = ? WHERE internal_id = ?",
                (label, now_ms, orjson.dumps(fields).decode(), xml, internal_id),
            )
        else:
            cursor = conn.execute(
                "INSERT INTO records (type, external_id, name, date_created, last_modified, fields, xml)"
                " VALUES (?, ?, ?, ?, ?, ?, '')",
                (spec.record_type, record.external_id, label, now_ms, now_ms, orjson.dumps(fields).decode()),
            )
            internal_id = int(cursor.lastrowid or 0)
            xml = record_xml(spec, internal_id, record.external_id, fields, now_ms, now_ms)
            conn.execute("UPDATE records SET xml = ? WHERE internal_id = ?", (xml, internal_id))
        ref["internalId"] = str(internal_id)
        return WriteOutcome([], ref)

    def _validate(
        self, conn: sqlite3.Connection, spec: RecordSpec, fields: dict[str, Any], sent: dict[str, Any],
        previous: dict[str, Any], now_ms: int = 0,
    ) -> Errors:
        missing = [name for name in sorted(spec.required) if fields.get(name) in (None, "")]
        if missing:
            return [("USER_ERROR", f"Please enter value(s) for: {', '.join(missing)}")]
        for name, value in sent.items():
            field = spec.by_name[name]
            if field.kind is FieldKind.MATRIX:
                merged = self._pricing_matrix(conn, value, previous.get(name) or [])
                if isinstance(merged, tuple):
                    return [merged]
                fields[name] = merged
            if field.kind is FieldKind.LOCATIONS:
                stock = self._locations(conn, value, previous.get(name) or [], now_ms)
                if isinstance(stock, tuple):
                    return [stock]
                fields[name] = stock
            if field.kind is FieldKind.REF:
                if field.targets and field.targets[0] in custom_lists():
                    resolved = list_value(value, field.targets[0])
                else:
                    resolved = self.resolve_ref(conn, value, field.targets)
                if resolved is None:
                    key = value.get("internalId") or value.get("externalId") or "(none)"
                    return [("INVALID_KEY_OR_REF", f"Invalid {name} reference key {key}.")]
                fields[name] = resolved
        if spec.record_type == "salesOrder":
            error = complete_sales_order(conn, self.resolve_ref, fields, sent, previous)
            if error is not None:
                return [error]
        return []

    def _pricing_matrix(
        self, conn: sqlite3.Connection, sent: dict[str, Any], old: list[dict[str, Any]]
    ) -> list[dict[str, Any]] | tuple[str, str]:
        """Resolve a sent pricing matrix's references and merge it into ``old`` (``replaceAll`` replaces it).

        Lines are keyed by (currency, price level): a sent line replaces the stored line with the same key.

        Returns:
            The merged lines, or the ``(code, message)`` of the first reference that does not resolve.
        """
        lines: dict[tuple[str, str], dict[str, Any]] = {}
        if not sent["replaceAll"]:
            lines = {(r["currency"]["internalId"], r["priceLevel"]["internalId"]): r for r in old}
        for row in sent["pricing"]:
            resolved = dict(row)
            for part in PRICING_TARGETS:
                ref = row.get(part)
                found = self.resolve_ref(conn, ref, PRICING_TARGETS[part]) if ref else None
                if found is None:
                    key = (ref or {}).get("internalId") or (ref or {}).get("externalId") or "(none)"
                    return ("INVALID_KEY_OR_REF", f"Invalid pricing {part} reference key {key}.")
                resolved[part] = found
            lines[(resolved["currency"]["internalId"], resolved["priceLevel"]["internalId"])] = resolved
        return list(lines.values())

    def _locations(
        self, conn: sqlite3.Connection, sent: dict[str, Any], old: list[dict[str, Any]], now_ms: int
    ) -> list[dict[str, Any]] | tuple[str, str]:
        """Resolve a sent ``locationsList``'s locations and merge it into ``old`` (``replaceAll`` replaces it).

        Lines are keyed by location: a sent line updates the quantities it names on the stored line of its
        location. ``quantityAvailable`` is derived (on hand less committed, never below zero) whatever was sent,
        and ``lastQtyAvailableChange`` (milliseconds) moves when it changes.

        Returns:
            The merged lines, or the ``(code, message)`` of the first location that does not resolve.
        """
        stored = {line["locationId"]["internalId"]: line for line in old}
        lines: dict[str, dict[str, Any]] = {} if sent["replaceAll"] else dict(stored)
        for row in sent["locations"]:
            ref = row.get("locationId")
            found = self.resolve_ref(conn, ref, ("location",)) if ref else None
            if found is None:
                key = (ref or {}).get("internalId") or (ref or {}).get("externalId") or "(none)"
                return ("INVALID_KEY_OR_REF", f"Invalid locations locationId reference key {key}.")
            before = stored.get(found["internalId"], {})
            line = {**before, **{k: v for k, v in row.items() if k != "quantityAvailable"}, "locationId": found}
            on_hand, committed = line.get("quantityOnHand") or 0.0, line.get("quantityCommitted") or 0.0
            line["quantityAvailable"] = max(float(on_hand) - float(committed), 0.0)
            if line["quantityAvailable"] != before.get("quantityAvailable") or "lastQtyAvailableChange" not in line:
                line["lastQtyAvailableChange"] = now_ms
            lines[found["internalId"]] = line
        return list(lines.values())

    @staticmethod
    def resolve_ref(conn: sqlite3.Connection, ref: dict[str, str], targets: tuple[str, ...]) -> dict[str, str] | None:
        """Find the record a RecordRef points to among ``targets``; ``None`` when there is none.

        Returns:
            The full reference (``internalId``, ``externalId``, ``type``, ``name``) of the record.
        """
        wanted = ref.get("type")
        if wanted is not None and wanted not in targets:
            return None
        types = (wanted,) if wanted else targets
        marks = ",".join("?" * len(types))
        if ref.get("internalId"):
            try:
                key: int | str = int(ref["internalId"])
            except ValueError:
                return None
            row = conn.execute(
                f"SELECT internal_id, external_id, type, name FROM records WHERE internal_id = ? AND type IN ({marks})",
                (key, *types),
            ).fetchone()
        elif ref.get("externalId"):
            row = conn.execute(
                f"SELECT internal_id, external_id, type, name FROM records WHERE external_id = ? AND type IN ({marks})",
                (ref["externalId"], *types),
            ).fetchone()
        else:
            return None
        if row is None:
            return None
        resolved = {"internalId": str(row[0]), "type": row[2]}
        if row[1] is not None:
            resolved["externalId"] = row[1]
        if row[3] is not None:
            resolved["name"] = row[3]
        return resolved

    def delete(self, refs: list[dict[str, str]], *, now_ms: int) -> list[WriteOutcome]:
        """Delete the records the references name; record each deletion for ``getDeleted``."""
        outcomes: list[WriteOutcome] = []
        with self.transaction() as conn:
            for ref in refs:
                record_type = ref.get("type", "")
                found = self.resolve_ref(conn, ref, (record_type,)) if record_type in self.specs else None
                if found is None:
                    outcomes.append(WriteOutcome([("RCRD_DSNT_EXIST", "That record does not exist.")], ref))
                    continue
                conn.execute("DELETE FROM records WHERE internal_id = ?", (int(found["internalId"]),))
                conn.execute(
                    "INSERT INTO deleted (type, internal_id, external_id, deleted_date) VALUES (?, ?, ?, ?)",
                    (record_type, int(found["internalId"]), found.get("externalId"), now_ms),
                )
                found.pop("name", None)
                outcomes.append(WriteOutcome([], found))
        return outcomes

    # reading -----------------------------------------------------------------------------

    def get(self, refs: list[dict[str, str]]) -> list[str | None]:
        """The record XML of each reference, or ``None`` when it does not exist."""
        conn = self.reader()
        out: list[str | None] = []
        for ref in refs:
            record_type = ref.get("type", "")
            found = self.resolve_ref(conn, ref, (record_type,)) if record_type in self.specs else None
            if found is None:
                out.append(None)
                continue
            row = conn.execute("SELECT xml FROM records WHERE internal_id = ?", (int(found["internalId"]),)).fetchone()
            out.append(row[0] if row else None)
        return out

    def search_ids(self, record_types: tuple[str, ...], where: list[str], params: list[Any]) -> array[int]:
        """Internal ids of ``record_types`` matching the SQL conditions, by lastModifiedDate then id."""
        if not record_types:
            return array("q")
        clause = "".join(f" AND {condition}" for condition in where)
        marks = ",".join("?" * len(record_types))
        # Reading a folded text index's range beats walking the type's records in modified order (then sorted).
        type_column = "+type" if any(uses_folded_index(condition) for condition in where) else "type"
        cursor = self.reader().execute(
            f"SELECT internal_id FROM records WHERE {type_column} IN ({marks}){clause} "
            "ORDER BY last_modified, internal_id",
            (*record_types, *params),
        )
        return array("q", (row[0] for row in cursor))

    def records_xml(self, ids: list[int]) -> list[str]:
        """The XML of the records with these ids, in the order given (missing ones are skipped)."""
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self.reader().execute(f"SELECT internal_id, xml FROM records WHERE internal_id IN ({marks})", ids)
        by_id = dict(rows.fetchall())
        return [xml for i in ids if (xml := by_id.get(i)) is not None]

    def deleted(
        self, types: list[str] | None, exclude: bool, low_ms: int, high_ms: int, offset: int, limit: int
    ) -> tuple[int, list[tuple[str, int, str | None, int]]]:
        """Deletions in ``[low_ms, high_ms]`` (filtered by type), their total and one page of them."""
        where = "deleted_date BETWEEN ? AND ?"
        params: list[Any] = [low_ms, high_ms]
        if types is not None:
            where += f" AND type {'NOT ' if exclude else ''}IN ({','.join('?' * len(types))})"
            params += types
        conn = self.reader()
        total = conn.execute(f"SELECT COUNT(*) FROM deleted WHERE {where}", params).fetchone()[0]
        rows = conn.execute(
            f"SELECT type, internal_id, external_id, deleted_date FROM deleted WHERE {where}"
            " ORDER BY deleted_date, id LIMIT ? OFFSET ?",
            (*params, limit, offset),
        ).fetchall()
        return int(total), rows

    # asynchronous jobs -------------------------------------------------------------------

    def add_job(self, job_id: str, request: bytes, total: int, now_ms: int) -> None:
        """Queue an asynchronous job."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO jobs (job_id, status, total, submitted, request) VALUES (?, 'pending', ?, ?, ?)",
                (job_id, total, now_ms, request),
            )

    def job(self, job_id: str) -> tuple[str, int, int, str | None] | None:
        """``(status, total, done, result)`` of a job, or ``None`` when unknown."""
        row = self.reader().execute(
            "SELECT status, total, done, result FROM jobs WHERE job_id = ?", (job_id,)
        ).fetchone()
        return (row[0], int(row[1]), int(row[2]), row[3]) if row else None

    def next_job(self) -> tuple[str, bytes] | None:
        """The oldest job not finished yet (pending or interrupted), marked processing."""
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT job_id, request FROM jobs WHERE status IN ('pending', 'processing')"
                " ORDER BY submitted, job_id LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE jobs SET status = 'processing' WHERE job_id = ?", (row[0],))
        return row[0], bytes(row[1])

    def finish_job(self, job_id: str, status: str, done: int, result: str) -> None:
        """Store a job's outcome."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE jobs SET status = ?, done = ?, result = ? WHERE job_id = ?", (status, done, result, job_id)
            )
