"""The adapter reads and writes custom records (``customrecord_contract``): custom fields are flat columns named by
their script ids, list/record fields references with ``.internalId``/``.externalId``/``.name``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from tandem.erp.adapter import ErpAdapter
from tandem.errors import FatalSyncError
from tests.erp_adapter.conftest import calls
from tests.support.emulator import RunningEmulator

CONTRACT = "customrecord_contract"
FIELDS = ["name", "custrecord_contract_customer", "custrecord_contract_status", "custrecord_contract_start",
          "custrecord_contract_value", "externalId"]


def _contracts(adapter: ErpAdapter) -> None:
    assert adapter.upsert_batch("customer", "externalId", [{"externalId": "C1", "companyName": "Acme"}])[0].ok
    rows = [
        {"externalId": "K1", "name": "CTR-1", "custrecord_contract_customer.externalId": "C1",
         "custrecord_contract_status.internalId": "2", "custrecord_contract_start": "2026-03-01",
         "custrecord_contract_value": 1200.5},
        {"externalId": "K2", "name": "CTR-2", "custrecord_contract_customer.externalId": "C1",
         "custrecord_contract_value": "not a number"},
        {"externalId": "K3", "name": "CTR-3", "custrecord_contract_customer.externalId": "C1"},
    ]
    results = adapter.upsert_batch(CONTRACT, "externalId", rows)
    assert [r.ok for r in results] == [True, False, True] and results[0].created
    assert results[1].error_code == "INVALID_FIELD" and "number" in (results[1].error_message or "")


def test_custom_records_are_written_and_read_by_script_id(adapter: ErpAdapter, erp: RunningEmulator) -> None:
    _contracts(adapter)
    frame = pd.concat(list(adapter.read_changed_since(CONTRACT, None, fields=FIELDS, page_size=10)))
    first = frame.set_index("externalId").loc["K1"]
    assert first["name"] == "CTR-1" and first["custrecord_contract_customer.name"] == "Acme"
    assert first["custrecord_contract_customer.externalId"] == "C1"
    assert first["custrecord_contract_status.name"] == "Active"
    assert first["custrecord_contract_start"].startswith("2026-03-01T00:00:00")
    assert float(first["custrecord_contract_value"]) == 1200.5
    assert set(frame["externalId"]) == {"K1", "K3"} and frame["modified_at"].notna().all()
    later = datetime.now(UTC) + timedelta(days=1)
    assert sum(len(page) for page in adapter.read_changed_since(CONTRACT, later, fields=FIELDS, page_size=10)) == 0
    assert calls(erp, "get") == 1  # the type's definition is read once per adapter

    cleared = adapter.upsert_batch(CONTRACT, "externalId", [{"externalId": "K1", "custrecord_contract_value": None}])
    assert cleared[0].ok and not cleared[0].created
    by_key = adapter.read_by_keys(CONTRACT, "externalId", ["K1", "nope"], fields=FIELDS)
    assert len(by_key) == 1 and pd.isna(by_key.loc[0, "custrecord_contract_value"])
    assert by_key.loc[0, "custrecord_contract_status.name"] == "Active"  # untouched


def test_deletions_of_custom_records_are_found_with_their_type(adapter: ErpAdapter) -> None:
    _contracts(adapter)
    since = datetime.now(UTC) - timedelta(minutes=5)
    ids = list(adapter.read_by_keys(CONTRACT, "externalId", ["K3"], fields=["externalId"])["id"])
    assert all(r.ok for r in adapter.delete_batch(CONTRACT, ids))
    window = adapter.read_deleted_since(CONTRACT, since, datetime.now(UTC) + timedelta(minutes=5))
    assert [(d.id, d.external_id) for d in window.records] == [(ids[0], "K3")]
    assert adapter.read_deleted_since("customer", since, datetime.now(UTC) + timedelta(minutes=5)).records == []


def test_mapping_checks_see_the_custom_fields_and_unknown_types_fail(adapter: ErpAdapter) -> None:
    names = adapter.field_names(CONTRACT)
    assert {"name", "custrecord_contract_customer", "custrecord_contract_value", "externalId"} <= names
    assert adapter.holds_any(CONTRACT, "externalId") is False
    with pytest.raises(FatalSyncError) as caught:
        adapter.field_names("customrecord_nope")
    assert caught.value.code == "INVALID_RCRD_TYPE"
    bad = adapter.upsert_batch(CONTRACT, "externalId", [{"externalId": "K9", "custrecord_nope": "x"}])
    assert bad[0].error_code == "INVALID_FIELD"
