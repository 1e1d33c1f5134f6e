"""Load Account and Contact with dlt's verified Salesforce source into duckdb; print the loaded ids as JSON.

Runs inside the dlt client venv (``.compat/dlt``), next to the unmodified ``salesforce`` source folder
that ``dlt init salesforce duckdb`` copies (commit in ``salesforce.sources.yaml``). Credentials come
the way dlt reads them, from ``SOURCES__SALESFORCE__CREDENTIALS__*`` environment variables; the login
host is Salesforce's (``login.salesforce.com``), resolved to the emulator by the harness.

Usage: ``python load_salesforce.py WORKDIR`` — prints ``{"Account": {id: Name}, "Contact": {id: LastName},
"load": ...}`` as duckdb holds them after the load.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import dlt
import duckdb

from salesforce import salesforce_source

#: The resources loaded: object → (duckdb table, a text column to compare) (dlt names columns in snake case).
TABLES = {"Account": ("account", "name"), "Contact": ("contact", "last_name")}


def main(workdir: Path) -> None:
    """Run the pipeline in ``workdir`` and print what duckdb holds afterwards."""
    database = workdir / "salesforce.duckdb"
    pipeline = dlt.pipeline(pipeline_name="tandem_compat_salesforce", pipelines_dir=str(workdir / "pipelines"),
                            destination=dlt.destinations.duckdb(str(database)), dataset_name="salesforce_data")
    info = pipeline.run(salesforce_source().with_resources(*(table for table, _ in TABLES.values())))
    info.raise_on_failed_jobs()
    loaded: dict[str, object] = {"load": str(info)}
    with duckdb.connect(str(database), read_only=True) as connection:
        for sobject, (table, column) in TABLES.items():
            rows = connection.execute(f"SELECT id, {column} FROM salesforce_data.{table}").fetchall()
            if len({row[0] for row in rows}) != len(rows):
                raise SystemExit(f"duplicate ids in {table}")
            loaded[sobject] = {row[0]: row[1] for row in rows}
    json.dump(loaded, sys.stdout)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
