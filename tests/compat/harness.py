"""Run Salesforce clients no one here wrote against the emulator, each from its own venv under ``.compat/``.

``make compat`` builds one venv per client (``.compat/<client>/``, from ``compat/<client>/requirements.txt``).
The clients run unmodified as subprocesses; two things point them at the emulator, as a real org's DNS
and CA would:

* ``login.salesforce.com`` and ``test.salesforce.com`` resolve to the emulator
  (``compat/hostmap/sitecustomize.py`` on ``PYTHONPATH``, driven by ``TANDEM_COMPAT_HOSTS``), and the
  emulator's certificate is issued for those names by its own CA;
* that CA is trusted through ``REQUESTS_CA_BUNDLE`` and ``SSL_CERT_FILE``.

After the login the clients follow the ``instance_url`` the emulator hands out, as with a real org.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import requests

from emulators.common.tls import ensure_certificates
from tests.support.emulator import RunningEmulator, start_emulator

ROOT = Path(__file__).resolve().parents[2]
COMPAT_DIR = ROOT / "compat"
VENVS_DIR = ROOT / ".compat"
HOSTMAP_DIR = COMPAT_DIR / "hostmap"
LOGIN_HOSTS = ("login.salesforce.com", "test.salesforce.com")
#: The emulator's API version for its own reference queries.
API_VERSION = "59.0"
#: Seconds a client run may take before the test fails (they take 1 to 20 s on 2 cores).
CLIENT_TIMEOUT = 300
#: Environment variables a client run keeps from the test's environment; proxies and the like are dropped.
KEPT_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR")


def client_dir(client: str) -> Path:
    """The venv of ``client`` (``.compat/<client>``)."""
    return VENVS_DIR / client


def client_bin(client: str) -> Path:
    """The ``bin`` folder of ``client``'s venv."""
    return client_dir(client) / "bin"


def needs_client(client: str) -> pytest.MarkDecorator:
    """Skip the tests of a module when ``make compat`` has not built ``client``'s venv (checked at collection,
    so no emulator starts for nothing)."""
    venv = client_dir(client)
    return pytest.mark.skipif(not (venv / ".installed").exists(),
                              reason=f"the {client} client venv ({venv.relative_to(ROOT)}) is not built: "
                                     "run `make compat`")


def start_compat_emulator(data_dir: Path) -> RunningEmulator:
    """Start the Salesforce emulator with the demo org, its certificate also valid for Salesforce's login hosts."""
    ensure_certificates(data_dir / "tls", ("127.0.0.1", "localhost", "::1", *LOGIN_HOSTS))
    return start_emulator("salesforce", data_dir, "--seed", "demo", "--api-limit", "10000000")


def client_env(emulator: RunningEmulator, home: Path, **extra: str) -> dict[str, str]:
    """The environment of a client run: login hosts mapped to the emulator, its CA trusted, nothing else."""
    port = emulator.info["port"]
    env = {name: os.environ[name] for name in KEPT_ENV if name in os.environ}
    env.update({
        "HOME": str(home),
        "PYTHONPATH": str(HOSTMAP_DIR),
        "PYTHONDONTWRITEBYTECODE": "1",
        "TANDEM_COMPAT_HOSTS": ",".join(f"{host}=127.0.0.1:{port}" for host in LOGIN_HOSTS),
        "REQUESTS_CA_BUNDLE": str(emulator.ca_cert),
        "SSL_CERT_FILE": str(emulator.ca_cert),
        "NO_PROXY": "*",
    })
    env.update(extra)
    return env


def run_client(args: Sequence[str | Path], env: dict[str, str], *, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a client command; fail the test with the tail of its output when it exits non-zero."""
    completed = subprocess.run([str(a) for a in args], env=env, cwd=cwd, capture_output=True, text=True,
                               timeout=CLIENT_TIMEOUT, check=False)
    if completed.returncode != 0:
        pytest.fail(f"{Path(str(args[0])).name} {' '.join(str(a) for a in args[1:2])} exited with "
                    f"{completed.returncode}:\n{completed.stderr[-3000:]}\n{completed.stdout[-3000:]}")
    return completed


def json_lines(text: str) -> Iterator[dict[str, Any]]:
    """The JSON objects of a line-delimited output, skipping lines that are not JSON objects."""
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(message, dict):
                yield message


def mint_refresh_token(emulator: RunningEmulator) -> str:
    """A refresh token for the integration user and the demo connected app (as the web-server flow issues)."""
    return str(emulator.control("POST", "refresh-tokens", json={})["refresh_token"])


class ReferenceReader:
    """The emulator's own answer: SOQL through its REST API, logged in with the OAuth password grant."""

    def __init__(self, emulator: RunningEmulator) -> None:
        self.emulator = emulator
        self.session = emulator.session()
        info = emulator.info
        form = {"grant_type": "password", "client_id": info["client_id"], "client_secret": info["client_secret"],
                "username": info["username"], "password": info["password"] + info["security_token"]}
        token = self.session.post(f"{emulator.base_url}/services/oauth2/token", data=form, timeout=30)
        token.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def get(self, path: str, **params: str) -> requests.Response:
        """``GET /services/data/vXX.X/{path}``."""
        return self.session.get(f"{self.emulator.base_url}/services/data/v{API_VERSION}/{path}", params=params,
                                timeout=60)

    def query(self, soql: str) -> list[dict[str, Any]]:
        """Every record ``soql`` selects (following ``nextRecordsUrl``)."""
        response = self.get("query", q=soql)
        records: list[dict[str, Any]] = []
        while True:
            response.raise_for_status()
            page = response.json()
            records.extend(page["records"])
            if page["done"]:
                return records
            response = self.session.get(f"{self.emulator.base_url}{page['nextRecordsUrl']}", timeout=60)

    def ids(self, sobject: str) -> set[str]:
        """The ids of every ``sobject`` record (``SELECT Id FROM sobject``)."""
        ids = {str(r["Id"]) for r in self.query(f"SELECT Id FROM {sobject}")}
        assert ids, f"the demo org has no {sobject} records to compare with"
        return ids

    def values(self, sobject: str, field: str) -> dict[str, Any]:
        """``field`` of every ``sobject`` record, by id."""
        return {str(r["Id"]): r[field] for r in self.query(f"SELECT Id, {field} FROM {sobject}")}

    def update(self, sobject: str, record_id: str, values: dict[str, Any]) -> None:
        """``PATCH sobjects/X/id`` (the record's SystemModstamp moves to now)."""
        response = self.session.patch(
            f"{self.emulator.base_url}/services/data/v{API_VERSION}/sobjects/{sobject}/{record_id}", json=values,
            timeout=60)
        response.raise_for_status()

    def field_names(self, sobject: str) -> list[str]:
        """The field names ``describe`` lists for ``sobject``."""
        response = self.get(f"sobjects/{sobject}/describe")
        response.raise_for_status()
        return [f["name"] for f in response.json()["fields"]]

    def bulk1_available(self) -> bool:
        """Whether the emulator serves Bulk API 1.0 (``/services/async/``): anything but 404 for a job lookup."""
        response = self.session.get(f"{self.emulator.base_url}/services/async/{API_VERSION}/job/750000000000000AAA",
                                    headers={"X-SFDC-Session": self.session.headers["Authorization"][7:]},
                                    timeout=30)
        return response.status_code != 404

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()


BULK1_MISSING = ("the emulator does not serve Bulk API 1.0 (/services/async/) yet; it is being added in "
                 "emulators/salesforce/bulk1*.py")


def assert_same_records(got: dict[str, list[str]], reference: ReferenceReader, objects: Sequence[str]) -> None:
    """Each object's ids, as a client delivered them, are exactly the emulator's (same count, no duplicates)."""
    for name in objects:
        expected = reference.ids(name)
        delivered = got.get(name, [])
        assert len(delivered) == len(expected), f"{name}: the client delivered {len(delivered)}, the emulator has " \
                                                f"{len(expected)}"
        assert set(delivered) == expected, f"{name}: the ids differ from the emulator's"


#: A text field per object whose values (accents, apostrophes, punctuation in the demo org) must survive
#: each client's path (JSON, CSV, duckdb) unchanged.
TEXT_FIELDS = {"Account": "Name", "Contact": "LastName", "Task": "Subject"}


#: A compound address field per object: REST answers it as a nested value; the Bulk APIs cannot select it.
ADDRESS_FIELDS = {"Account": "BillingAddress", "Contact": "MailingAddress"}


def assert_same_values(got: dict[str, Any], reference: ReferenceReader, sobject: str,
                       field: str | None = None) -> None:
    """A client's ``{id: value}`` of ``field`` (default ``TEXT_FIELDS[sobject]``) equals the emulator's."""
    field = field or TEXT_FIELDS[sobject]
    expected = reference.values(sobject, field)
    differing = {key: (value, expected.get(key)) for key, value in got.items() if expected.get(key) != value}
    assert not differing, f"{sobject}.{field} differs from the emulator's (client, emulator): " \
                          f"{dict(list(differing.items())[:5])}"
    assert got.keys() == expected.keys()
