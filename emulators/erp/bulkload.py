"""Bulk-load synthetic records straight into an emulator data dir (no SOAP), for benchmarks.

Usage: ``python -m emulators.erp.bulkload --data-dir DIR --type customer --count 1000000``.
Run it while no emulator serves that data dir, then start the emulator on it.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from emulators.erp.cli import DATABASE_NAME
from emulators.erp.render import iso, record_xml
from emulators.erp.schema import FieldKind, RecordSpec, record_specs
from emulators.erp.store import ErpStore

CHUNK = 20_000


def _synthetic_fields(spec: RecordSpec, n: int, moment: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for field in spec.fields:
        if field.name in ("dateCreated", "lastModifiedDate") or field.kind is FieldKind.REF:
            continue
        if field.kind is FieldKind.STRING and field.name == "email":
            fields[field.name] = f"{spec.type_name.lower()}{n}@example.com"
        elif field.kind is FieldKind.STRING:
            fields[field.name] = f"{spec.type_name} {field.name} {n}"
        elif field.kind is FieldKind.LONG:
            fields[field.name] = n % 1000
        elif field.kind is FieldKind.DOUBLE:
            fields[field.name] = round((n % 100_000) / 7, 2)
        elif field.kind is FieldKind.BOOLEAN:
            fields[field.name] = n % 2 == 0
        elif field.kind is FieldKind.DATETIME:
            fields[field.name] = moment
        elif field.kind is FieldKind.ENUM:
            fields[field.name] = sorted(field.choices)[n % len(field.choices)]
    return fields


def bulk_load(data_dir: Path, record_type: str, count: int, *, prefix: str = "BULK",
              modified: datetime | None = None, fields: Callable[[int], dict[str, Any]] | None = None) -> int:
    """Insert ``count`` synthetic records of ``record_type`` into the data dir's store.

    Args:
        data_dir: the emulator's data directory.
        record_type: a record type without required references (``customer``, ``task``, ``contact`` ...).
        count: how many records.
        prefix: externalIds are ``{prefix}-{type}-{n}``.
        modified: their ``dateCreated``/``lastModifiedDate`` (default now); one millisecond apart.
        fields: the fields of record ``n`` (flat values, RecordRefs as ``{"internalId", "type", ...}``
            dicts); by default synthetic values for every field that is not a reference.

    Returns:
        The number of records inserted.

    Raises:
        ValueError: for an unknown type or one whose required fields are references.
    """
    specs = record_specs()
    if record_type not in specs:
        raise ValueError(f"unknown record type {record_type!r}; use one of {sorted(specs)}")
    spec = specs[record_type]
    if fields is None and any(spec.by_name[name].kind is FieldKind.REF for name in spec.required):
        raise ValueError(f"{record_type} requires references; bulk-load a type without required references")
    store = ErpStore(data_dir / DATABASE_NAME)
    base_ms = int((modified or datetime.now(UTC)).timestamp() * 1000)
    moment = iso(modified or datetime.now(UTC))
    with store.transaction() as conn:
        start = int(conn.execute("SELECT COALESCE(MAX(internal_id), 0) FROM records").fetchone()[0]) + 1

    def rows(offset: int, size: int) -> Iterator[tuple[Any, ...]]:
        for n in range(offset, offset + size):
            internal_id = start + n
            values = fields(n) if fields is not None else _synthetic_fields(spec, n, moment)
            external_id = f"{prefix}-{record_type}-{n}"
            stamp = base_ms + n
            name = values.get(spec.name_field) if spec.name_field else None
            label = None if name is None else str(name)
            yield (internal_id, record_type, external_id, label, stamp, stamp, orjson.dumps(values).decode(),
                   record_xml(spec, internal_id, external_id, values, stamp, stamp))

    for offset in range(0, count, CHUNK):
        with store.transaction() as conn:
            conn.executemany(
                "INSERT INTO records (internal_id, type, external_id, name, date_created, last_modified, fields, xml)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows(offset, min(CHUNK, count - offset)),
            )
    return count


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--data-dir DIR --type TYPE --count N``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--type", default="customer")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--prefix", default="BULK")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    loaded = bulk_load(args.data_dir, args.type, args.count, prefix=args.prefix)
    print(f"loaded {loaded} {args.type} records in {time.perf_counter() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
