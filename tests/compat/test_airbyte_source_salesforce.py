"""airbyte-source-salesforce (``compat/airbyte``), unmodified: ``check``, ``discover`` and ``read`` of
Account, Contact and Task against the emulator, logging in with the OAuth refresh-token grant at
``login.salesforce.com``. Its reads go through Bulk API 2.0 query jobs."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.compat.harness import (
    ADDRESS_FIELDS,
    TEXT_FIELDS,
    ReferenceReader,
    assert_same_records,
    assert_same_values,
    client_bin,
    client_env,
    json_lines,
    mint_refresh_token,
    needs_client,
    run_client,
)
from tests.support.emulator import RunningEmulator

pytestmark = needs_client("airbyte")

STREAMS = ("Account", "Contact", "Task")
#: Account and Contact read incrementally (SystemModstamp windows), Task as a full refresh: both code paths.
SYNC_MODES = {"Account": "incremental", "Contact": "incremental", "Task": "full_refresh"}


class Airbyte:
    """The ``source-salesforce`` command with its config file, in a work folder."""

    def __init__(self, emulator: RunningEmulator, workdir: Path) -> None:
        self.workdir = workdir
        self.env = client_env(emulator, workdir)
        # The first window starts a day before the demo org was seeded: one slice per stream, not one a month.
        start = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        info = emulator.info
        config = {"client_id": info["client_id"], "client_secret": info["client_secret"],
                  "refresh_token": mint_refresh_token(emulator), "is_sandbox": False, "start_date": start}
        self.config = workdir / "config.json"
        self.config.write_text(json.dumps(config))

    def run(self, command: str, *args: str) -> list[dict[str, Any]]:
        """Run ``source-salesforce COMMAND --config config.json ARGS``; return its Airbyte protocol messages."""
        completed = run_client([client_bin("airbyte") / "source-salesforce", command, "--config", self.config, *args],
                               self.env, cwd=self.workdir)
        messages = list(json_lines(completed.stdout))
        failures = [m for m in messages if m.get("type") == "TRACE" and m["trace"].get("type") == "ERROR"]
        assert not failures, f"source-salesforce {command} reported errors: {failures}"
        return messages


@pytest.fixture(scope="module")
def airbyte(compat_emulator: RunningEmulator, tmp_path_factory: pytest.TempPathFactory) -> Airbyte:
    """The connector, configured for the emulator."""
    return Airbyte(compat_emulator, tmp_path_factory.mktemp("airbyte"))


@pytest.fixture(scope="module")
def catalog(airbyte: Airbyte) -> dict[str, dict[str, Any]]:
    """``discover``'s streams, by name."""
    messages = airbyte.run("discover")
    catalogs = [m["catalog"] for m in messages if m.get("type") == "CATALOG"]
    assert len(catalogs) == 1, messages[-5:]
    return {stream["name"]: stream for stream in catalogs[0]["streams"]}


def test_check_succeeds(airbyte: Airbyte) -> None:
    messages = airbyte.run("check")
    statuses = [m["connectionStatus"] for m in messages if m.get("type") == "CONNECTION_STATUS"]
    assert statuses == [{"status": "SUCCEEDED"}]


def test_discover_lists_the_objects_with_every_described_field(
    catalog: dict[str, dict[str, Any]], reference: ReferenceReader
) -> None:
    for name in STREAMS:
        stream = catalog[name]
        assert set(stream["supported_sync_modes"]) == {"full_refresh", "incremental"}
        assert stream["source_defined_primary_key"] == [["Id"]]
        assert stream["default_cursor_field"] == ["SystemModstamp"]
        assert set(stream["json_schema"]["properties"]) == set(reference.field_names(name))


def test_read_returns_every_record_the_emulator_holds(
    airbyte: Airbyte, catalog: dict[str, dict[str, Any]], reference: ReferenceReader
) -> None:
    configured = {"streams": [
        {"stream": catalog[name], "sync_mode": SYNC_MODES[name], "destination_sync_mode": "append",
         **({"cursor_field": ["SystemModstamp"]} if SYNC_MODES[name] == "incremental" else {})}
        for name in STREAMS
    ]}
    catalog_file = airbyte.workdir / "configured_catalog.json"
    catalog_file.write_text(json.dumps(configured))
    messages = airbyte.run("read", "--catalog", str(catalog_file))
    ids: dict[str, list[str]] = defaultdict(list)
    texts: dict[str, dict[str, Any]] = defaultdict(dict)
    addresses: dict[str, dict[str, Any]] = defaultdict(dict)
    for message in messages:
        if message.get("type") == "RECORD":
            stream, data = message["record"]["stream"], message["record"]["data"]
            ids[stream].append(data["Id"])
            texts[stream][data["Id"]] = data[TEXT_FIELDS[stream]]
            if stream in ADDRESS_FIELDS:
                addresses[stream][data["Id"]] = data[ADDRESS_FIELDS[stream]]
    assert_same_records(ids, reference, STREAMS)
    for name in STREAMS:
        assert_same_values(texts[name], reference, name)
    # Objects with a compound address field are read through REST (Bulk API 2.0 cannot select it), as with an org.
    for name, field in ADDRESS_FIELDS.items():
        assert_same_values(addresses[name], reference, name, field)
    states = {m["state"]["stream"]["stream_descriptor"]["name"] for m in messages
              if m.get("type") == "STATE" and m["state"].get("type") == "STREAM"}
    assert {"Account", "Contact"} <= states  # the incremental streams checkpointed their windows
