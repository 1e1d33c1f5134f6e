"""The demo: both emulators with demo data, the blocks saved, an initial import and a full sync.

Data lives under ``.tandem/demo`` (emulators, state store, Prefect's home), so a second run finds
everything in step and reports it unchanged.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

DEMO_DIR = Path(".tandem") / "demo"
CONNECTION = "demo"


def _prepare_environment(directory: Path) -> None:
    """Keep Prefect's home and its temporary server's database inside the demo directory."""
    os.environ.setdefault("PREFECT_HOME", str((directory / "prefect").resolve()))
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    # The temporary server's telemetry cannot reach the internet from here; do not let it try.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def run_demo(directory: Path = DEMO_DIR) -> int:
    """Run the demo and print a table of what moved; return the exit code."""
    directory = directory.resolve()
    _prepare_environment(directory)
    from typing import cast

    import pandas as pd
    from pydantic import SecretStr

    from blocks.connection import SyncConnection
    from blocks.erp import ErpCredentials
    from blocks.salesforce import SalesforceCredentials
    from blocks.store import StateStore
    from emulators.process import start_emulator
    from flows.full_sync import full_sync
    from flows.initial_import import initial_import
    from flows.orchestration import JobsFailedError

    started = time.monotonic()
    print("Starting the Salesforce and ERP emulators (demo data) ...", flush=True)
    crm = start_emulator("salesforce", directory / "salesforce", "--seed", "demo", "--api-limit", "1000000")
    erp = start_emulator("erp", directory / "erp", "--seed", "demo")
    try:
        crm_info, erp_info = crm.info, erp.info
        print(f"  Salesforce: {crm_info['instance_url']}  (CA {crm.ca_cert})")
        print(f"  ERP:        {erp_info['wsdl_url']}  (account {erp_info['account']})")
        connection = SyncConnection(
            salesforce=SalesforceCredentials(
                login_host=crm_info["login_url"], username=crm_info["username"],
                password=SecretStr(crm_info["password"]), security_token=SecretStr(crm_info["security_token"]),
                ca_bundle_path=crm.ca_cert,
            ),
            erp=ErpCredentials(
                account_id=erp_info["account"], consumer_key=SecretStr(erp_info["consumer_key"]),
                consumer_secret=SecretStr(erp_info["consumer_secret"]), token_id=SecretStr(erp_info["token_id"]),
                token_secret=SecretStr(erp_info["token_secret"]), wsdl_url=erp_info["wsdl_url"],
                ca_bundle_path=erp.ca_cert,
            ),
            store=StateStore(url=SecretStr(f"sqlite:///{directory / 'state.sqlite3'}")),
        )
        connection.save(CONNECTION, overwrite=True)
        print(f"Saved the blocks; connection {CONNECTION!r}. Running the initial import, then a full sync ...",
              flush=True)
        # Called from Python, a flow returns its final state's data: the rows.
        imported = pd.DataFrame(cast(list[dict[str, object]], initial_import(connection=connection)))
        synced = pd.DataFrame(cast(list[dict[str, object]], full_sync(connection=connection)))
    except JobsFailedError as exc:
        print(f"\nThe demo sync did not complete: {exc}")
        print("The run's artifacts in the Prefect UI list the failed records.")
        return 1
    finally:
        crm.stop()
        erp.stop()
    columns = ["entity", "state", "inserted", "modified", "coupled", "unchanged", "skipped", "failed"]
    print("\nInitial import (Salesforce records of the last 24 hours into the ERP):")
    print(imported[columns].to_string(index=False))
    print("\nFull sync (every entity, in dependency order):")
    print(synced[[*columns, "values not synced"]].to_string(index=False))
    moved = int(imported[["inserted", "modified", "coupled"]].to_numpy().sum()
                + synced[["inserted", "modified", "coupled"]].to_numpy().sum())
    print(f"\n{moved} records moved; {time.monotonic() - started:.0f} s. "
          "Run it again: everything is in step, so nothing moves.")
    return 0
