"""Fixtures: a bare Salesforce emulator (no Tandem objects or fields) per test, and helpers to deploy to it."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from simple_salesforce import Salesforce

from tandem.salesforce.transport import build_session
from tests.support.emulator import RunningEmulator, start_emulator


def login(emulator: RunningEmulator) -> Salesforce:
    """A simple-salesforce client logged in to ``emulator`` as the integration user."""
    info = emulator.info
    session = build_session(ca_bundle=emulator.ca_cert, login_url=info["login_url"], timeout=(5, 60))
    return Salesforce(username=info["username"], password=info["password"], security_token=info["security_token"],
                      session=session)


def archive(files: dict[str, str]) -> io.BytesIO:
    """A deploy zip holding ``files`` (path -> text)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for path, text in files.items():
            zipped.writestr(path, text)
    buffer.seek(0)
    return buffer


def package_xml(types: dict[str, list[str]]) -> str:
    """A ``package.xml`` naming ``types`` (type -> members)."""
    body = "".join(
        "<types>" + "".join(f"<members>{m}</members>" for m in members) + f"<name>{name}</name></types>"
        for name, members in types.items()
    )
    return (f'<?xml version="1.0" encoding="UTF-8"?><Package xmlns="http://soap.sforce.com/2006/04/metadata">'
            f"{body}<version>59.0</version></Package>")


def metadata(root: str, body: str) -> str:
    """A metadata file whose root element is ``root``."""
    return f'<?xml version="1.0" encoding="UTF-8"?><{root} xmlns="http://soap.sforce.com/2006/04/metadata">{body}</{root}>'


def deploy(sf: Salesforce, files: dict[str, str], **options: Any) -> dict[str, Any]:
    """Deploy ``files`` with simple-salesforce and return ``checkDeployStatus``'s answer."""
    started = sf.deploy(archive(files), sandbox=options.pop("sandbox", False), **options)
    deploy_id = str(started["asyncId"])
    assert started["state"] == "Queued" and deploy_id.startswith("0Af")
    return dict(sf.checkDeployStatus(deploy_id))


@pytest.fixture
def bare(tmp_path: Path) -> Iterator[RunningEmulator]:
    """A bare org of its own (Tandem's package never deployed), stopped after the test."""
    emulator = start_emulator("salesforce", tmp_path / "crm", "--bare", "--api-limit", "1000000")
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def bare_sf(bare: RunningEmulator) -> Salesforce:
    """The integration user's client on the bare org."""
    return login(bare)
