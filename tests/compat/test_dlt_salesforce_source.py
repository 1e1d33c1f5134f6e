"""dlt's verified Salesforce source (``compat/dlt/salesforce``, copied unmodified by ``dlt init salesforce
duckdb``): ``salesforce_source()`` loads Account and Contact into duckdb, logging in through
simple-salesforce's SOAP login at ``login.salesforce.com``. The source describes each object (it needs
``compoundFieldName``) and reads through Bulk API 1.0 (simple-salesforce's ``sf.bulk``)."""

from __future__ import annotations

import json

import pytest

from tests.compat.harness import (
    BULK1_MISSING,
    COMPAT_DIR,
    ReferenceReader,
    assert_same_records,
    assert_same_values,
    client_bin,
    client_env,
    needs_client,
    run_client,
)
from tests.support.emulator import RunningEmulator

pytestmark = needs_client("dlt")

OBJECTS = ("Account", "Contact")


def test_salesforce_source_loads_account_and_contact_into_duckdb(
    compat_emulator: RunningEmulator, reference: ReferenceReader, tmp_path_factory: pytest.TempPathFactory
) -> None:
    if not reference.bulk1_available():
        pytest.xfail(BULK1_MISSING)
    workdir = tmp_path_factory.mktemp("dlt")
    info = compat_emulator.info
    env = client_env(compat_emulator, workdir, RUNTIME__DLTHUB_TELEMETRY="false",
                     SOURCES__SALESFORCE__CREDENTIALS__USER_NAME=info["username"],
                     SOURCES__SALESFORCE__CREDENTIALS__PASSWORD=info["password"],
                     SOURCES__SALESFORCE__CREDENTIALS__SECURITY_TOKEN=info["security_token"])
    completed = run_client([client_bin("dlt") / "python", COMPAT_DIR / "dlt" / "load_salesforce.py", workdir], env,
                           cwd=workdir)
    loaded = json.loads(completed.stdout.strip().splitlines()[-1])
    assert_same_records({name: list(loaded[name]) for name in OBJECTS}, reference, OBJECTS)
    for name in OBJECTS:
        assert_same_values(loaded[name], reference, name)
