"""What the compatibility runs rely on, checked without the client venvs: the login-host mapping reaches
the emulator over verified TLS, the emulator answers what the clients read (the ``limits`` keys, every
describe key, compound address fields through REST but not Bulk), and the dlt source is dlt's, unmodified."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.compat.harness import COMPAT_DIR, LOGIN_HOSTS, ReferenceReader, client_env
from tests.support.emulator import RunningEmulator

PROBE = """
import sys, requests
response = requests.post(f"https://{sys.argv[1]}/services/oauth2/token", data={"grant_type": "refresh_token",
                         "client_id": "3MVG9NotAnApp", "refresh_token": "x"}, timeout=30)
print(response.status_code, response.json()["error"])
"""


@pytest.mark.parametrize("host", LOGIN_HOSTS)
def test_login_hosts_resolve_to_the_emulator_with_verified_tls(compat_emulator: RunningEmulator, tmp_path: Path,
                                                               host: str) -> None:
    env = client_env(compat_emulator, tmp_path)
    completed = subprocess.run([sys.executable, "-c", PROBE, host], env=env, capture_output=True, text=True,
                               timeout=60, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.split() == ["400", "invalid_client_id"]


@pytest.mark.parametrize(("hosts", "resolver"), [("", "socket"), ("login.salesforce.com=127.0.0.1:1", "sitecustomize")])
def test_resolution_changes_only_when_hosts_are_mapped(compat_emulator: RunningEmulator, tmp_path: Path, hosts: str,
                                                       resolver: str) -> None:
    env = {**client_env(compat_emulator, tmp_path), "TANDEM_COMPAT_HOSTS": hosts}
    probe = "import socket; print(socket.getaddrinfo.__module__)"
    completed = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60,
                               check=False)
    assert completed.stdout.strip() == resolver


@pytest.mark.parametrize(("version", "key"), [("61.0", "DailyBulkApiBatches"), ("45.0", "DailyBulkApiRequests")])
def test_limits_name_the_bulk_batch_allocation(reference: ReferenceReader, version: str, key: str) -> None:
    response = reference.session.get(f"{reference.emulator.base_url}/services/data/v{version}/limits", timeout=30)
    body = response.json()
    assert body[key]["Max"] >= body[key]["Remaining"] > 0  # tap-salesforce's BULK mode reads it first


def test_describe_has_every_documented_object_key(reference: ReferenceReader) -> None:
    body = reference.get("sobjects/Contact/describe").json()
    for key in ("defaultImplementation", "extendedBy", "extendsInterfaces", "implementedBy", "implementsInterfaces",
                "sobjectDescribeOption", "actionOverrides", "childRelationships", "namedLayoutInfos",
                "supportedScopes", "networkScopeFieldName"):
        assert key in body, key
    assert body["sobjectDescribeOption"] == "FULL"
    compound = {f["name"]: f["compoundFieldName"] for f in body["fields"]}
    assert compound["MailingCity"] == "MailingAddress"
    assert compound["FirstName"] == "Name"
    assert compound["Email"] is None


def test_compound_address_fields_are_described_and_selectable_through_rest(reference: ReferenceReader) -> None:
    fields = reference.get("sobjects/Account/describe").json()["fields"]
    names = [f["name"] for f in fields]
    assert names.index("BillingAddress") == names.index("BillingCountry") + 1  # right after its last component
    billing = fields[names.index("BillingAddress")]
    assert (billing["type"], billing["soapType"], billing["compoundFieldName"]) == ("address", "urn:address", None)
    assert (billing["createable"], billing["updateable"], billing["sortable"]) == (False, False, False)
    record = reference.query("SELECT Id, BillingCity, BillingAddress, Owner.Name FROM Account "
                             "WHERE BillingCity != null LIMIT 1")[0]
    address = record["BillingAddress"]
    assert list(address) == ["city", "country", "geocodeAccuracy", "latitude", "longitude", "postalCode", "state",
                             "street"]
    assert address["city"] == record["BillingCity"]
    assert address["latitude"] is None  # the org has no BillingLatitude: the key is there, empty
    filtered = reference.get("query", q="SELECT Id FROM Account WHERE BillingAddress != null")
    assert filtered.status_code == 400
    assert filtered.json()[0]["errorCode"] == "MALFORMED_QUERY"


def test_compound_address_fields_are_refused_by_bulk_queries(reference: ReferenceReader) -> None:
    response = reference.session.post(
        f"{reference.emulator.base_url}/services/data/v61.0/jobs/query",
        json={"operation": "query", "query": "SELECT Id, BillingAddress FROM Account"}, timeout=30)
    assert response.status_code == 400
    # airbyte-source-salesforce matches this text exactly to fall back to REST
    assert response.json() == [{"errorCode": "INVALID_FIELD",
                                "message": "Selecting compound data not supported in Bulk Query"}]


def test_dlt_source_is_exactly_what_dlt_init_copied() -> None:
    """``compat/dlt/salesforce`` is verified-sources' code, unmodified (git blob hashes as dlt init recorded)."""
    record = yaml.safe_load((COMPAT_DIR / "dlt" / "salesforce.sources.yaml").read_text())["sources"]["salesforce"]
    for name, entry in record["files"].items():
        content = (COMPAT_DIR / "dlt" / name).read_bytes()
        blob = hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()
        assert blob == entry["git_sha"], f"{name} differs from verified-sources at {record['last_commit_sha']}"
    copied = {str(p.relative_to(COMPAT_DIR / "dlt")) for p in (COMPAT_DIR / "dlt" / "salesforce").rglob("*")
              if p.is_file() and "__pycache__" not in p.parts}
    assert copied == set(record["files"])
