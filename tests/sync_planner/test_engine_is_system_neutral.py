"""The engine's pass, planner, route and coupling name no system's fields, ids or methods: adapters do."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tandem.adapter import RecordAdapter
from tandem.erp.adapter import ErpAdapter
from tandem.salesforce.adapter import SalesforceAdapter

SYNC = Path(__file__).resolve().parents[2] / "tandem" / "sync"
NEUTRAL = ["entity_pass.py", "planner.py", "context.py", "coupling.py"]
#: System knowledge: field names, a Salesforce-only method, Salesforce's id pattern.
SYSTEM_WORDS = re.compile(r'"(externalId|internalId|Id|CreatedDate|dateCreated)"|key_prefix|\[A-Za-z0-9\]\{15\}')


@pytest.mark.parametrize("name", NEUTRAL)
def test_the_module_names_no_system_field_or_method(name: str) -> None:
    text = (SYNC / name).read_text()
    assert not SYSTEM_WORDS.findall(text)


def test_both_adapters_name_their_own_fields() -> None:
    adapters: list[type[RecordAdapter]] = [SalesforceAdapter, ErpAdapter]
    assert [(a.system, a.link_field, a.created_field, a.id_field) for a in adapters] == [
        ("Salesforce", None, "CreatedDate", "Id"), ("NetSuite", "externalId", "dateCreated", "internalId"),
    ]
