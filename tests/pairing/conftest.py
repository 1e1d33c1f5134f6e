"""Pairing tests: the flow tests' emulators (demo org and account) and a second ERP account of their own.

The tests need no demo data, only systems without pairing records: instead of reloading the demo seed, each
test starts from the emulators as they are with every pairing record deleted (faults off, clocks at real time).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tandem.adapter import RecordAdapter
from tandem.sync.pairing_records import CRM_PAIRING_OBJECT, ERP_PAIRING_TYPE
from tests.flows.conftest import crm, erp, erp_block, prefect_server, salesforce_block
from tests.support.emulator import RunningEmulator, start_emulator

__all__ = ["adapter", "crm", "erp", "other_erp", "prefect_server", "systems"]

#: The second ERP account's id (the demo account is 1234567).
OTHER_ACCOUNT = "7654321"
_ADAPTERS: dict[str, RecordAdapter] = {}


def adapter(emulator: RunningEmulator) -> RecordAdapter:
    """A client of ``emulator`` (built once per emulator: building the ERP's parses its WSDL)."""
    if emulator.base_url not in _ADAPTERS:
        block = salesforce_block(emulator) if emulator.kind == "salesforce" else erp_block(emulator)
        _ADAPTERS[emulator.base_url] = block.get_client()
    return _ADAPTERS[emulator.base_url]


@pytest.fixture(scope="session")
def other_erp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """Another ERP account (production, no records), for a second pairing of the demo org."""
    emulator = start_emulator("erp", tmp_path_factory.mktemp("other-erp"), "--account", OTHER_ACCOUNT)
    yield emulator
    emulator.stop()


def _clear(emulator: RunningEmulator) -> None:
    emulator.control("DELETE", "faults")
    emulator.control("POST", "clock", json={"reset": True})
    entity = CRM_PAIRING_OBJECT if emulator.kind == "salesforce" else ERP_PAIRING_TYPE
    client = adapter(emulator)
    ids = [i for page in client.read_changed_since(entity, None, fields=[], page_size=200) for i in page["id"]]
    if ids:
        assert all(r.ok for r in client.delete_batch(entity, [str(i) for i in ids]))


@pytest.fixture
def systems(
    crm: RunningEmulator, erp: RunningEmulator, other_erp: RunningEmulator
) -> tuple[RunningEmulator, RunningEmulator, RunningEmulator]:
    """The demo org, the demo account and the other account, none holding a pairing record."""
    for emulator in (crm, erp, other_erp):
        _clear(emulator)
    return crm, erp, other_erp
