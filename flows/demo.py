"""The demo: both emulators with demo data, the blocks saved, an initial import and a full sync.

Data lives under ``.tandem/demo`` (emulators, state store, Prefect's home), so a second run finds
everything in step and reports it unchanged.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulators.process import RunningEmulator

DEMO_DIR = Path(".tandem") / "demo"
CONNECTION = "demo"


def _prepare_environment(directory: Path) -> None:
    """Keep Prefect's home and its temporary server's database inside the demo directory (created here: Prefect
    makes only the last directory of its home, and on a first run it warns that it could not)."""
    os.environ.setdefault("PREFECT_HOME", str((directory / "prefect").resolve()))
    Path(os.environ["PREFECT_HOME"]).expanduser().mkdir(mode=0o700, parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    # The temporary server's telemetry cannot reach the internet from here; do not let it try.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def run_demo(directory: Path = DEMO_DIR, crm: str = "salesforce") -> int:
    """Run the demo with ``crm`` (``salesforce`` or ``hubspot``) and print a table of what moved; return the exit code.

    The HubSpot demo keeps its own ERP account (``erp-hubspot``) and state store beside the Salesforce demo's, and
    saves the connection ``demo-hubspot``: one ERP account pairs with one CRM.
    """
    directory = directory.resolve()
    _prepare_environment(directory)
    from typing import cast

    import pandas as pd
    from pydantic import SecretStr

    from blocks.connection import SyncConnection
    from blocks.erp import ErpCredentials
    from blocks.store import StateStore
    from emulators.process import start_emulator
    from flows.full_sync import full_sync
    from flows.initial_import import initial_import
    from flows.orchestration import JobsFailedError

    started = time.monotonic()
    hubspot = crm == "hubspot"
    name, suffix = (f"{CONNECTION}-hubspot", "-hubspot") if hubspot else (CONNECTION, "")
    label = "HubSpot" if hubspot else "Salesforce"
    print(f"Starting the {label} and ERP emulators (demo data) ...", flush=True)
    crm_emulator = (start_emulator("hubspot", directory / "hubspot", "--seed", "demo") if hubspot else
                    start_emulator("salesforce", directory / "salesforce", "--seed", "demo", "--api-limit", "1000000"))
    erp = start_emulator("erp", directory / f"erp{suffix}", "--seed", "demo")
    try:
        erp_info = erp.info
        width = len(label) + 1
        print(f"  {label + ':':<{width}} {crm_emulator.base_url}  (CA {crm_emulator.ca_cert})")
        print(f"  {'ERP:':<{width}} {erp_info['wsdl_url']}  (account {erp_info['account']})")
        connection = SyncConnection(
            **_crm_credentials(crm_emulator, hubspot),
            erp=ErpCredentials(
                account_id=erp_info["account"], consumer_key=SecretStr(erp_info["consumer_key"]),
                consumer_secret=SecretStr(erp_info["consumer_secret"]), token_id=SecretStr(erp_info["token_id"]),
                token_secret=SecretStr(erp_info["token_secret"]), wsdl_url=erp_info["wsdl_url"],
                ca_bundle_path=erp.ca_cert,
            ),
            store=StateStore(url=SecretStr(f"sqlite:///{directory / f'state{suffix}.sqlite3'}")),
            mapping_set="hubspot" if hubspot else "default",
        )
        connection.save(name, overwrite=True)
        print(f"Saved the blocks; connection {name!r}. Running the initial import, then a full sync ...",
              flush=True)
        # Called from Python, a flow returns its final state's data: the rows.
        imported = pd.DataFrame(cast(list[dict[str, object]], initial_import(connection=connection)))
        synced = pd.DataFrame(cast(list[dict[str, object]], full_sync(connection=connection)))
    except JobsFailedError as exc:
        print(f"\nThe demo sync did not complete: {exc}")
        print("The run's artifacts in the Prefect UI list the failed records.")
        return 1
    finally:
        crm_emulator.stop()
        erp.stop()
    columns = ["entity", "state", "inserted", "modified", "coupled", "unchanged", "skipped", "failed"]
    print(f"\nInitial import ({label} records of the last 24 hours into the ERP):")
    print(imported[columns].to_string(index=False))
    print("\nFull sync (every entity, in dependency order):")
    print(synced[[*columns, "values not synced"]].to_string(index=False))
    moved = int(imported[["inserted", "modified", "coupled"]].to_numpy().sum()
                + synced[["inserted", "modified", "coupled"]].to_numpy().sum())
    print(f"\n{moved} records moved; {time.monotonic() - started:.0f} s. "
          "Run it again: everything is in step, so nothing moves.")
    return 0


def _crm_credentials(emulator: RunningEmulator, hubspot: bool) -> dict[str, Any]:
    """The connection's CRM credentials for the started emulator: ``salesforce=`` or ``hubspot=``."""
    from pydantic import SecretStr

    info = emulator.info
    if hubspot:
        from blocks.hubspot import HubSpotCredentials

        return {"hubspot": HubSpotCredentials(
            access_token=SecretStr(info["access_token"]), portal_id=info["portal_id"], base_url=emulator.base_url,
            ca_bundle_path=emulator.ca_cert,
        )}
    from blocks.salesforce import SalesforceCredentials

    return {"salesforce": SalesforceCredentials(
        login_host=info["login_url"], username=info["username"], password=SecretStr(info["password"]),
        security_token=SecretStr(info["security_token"]), ca_bundle_path=emulator.ca_cert,
    )}
