"""Block JSON schemas are generated once per class, equal to Prefect's, and handed out as copies."""

from __future__ import annotations

import pytest
from prefect.blocks.core import Block

from blocks.connection import SyncConnection
from blocks.erp import ErpCredentials
from blocks.salesforce import SalesforceCredentials
from blocks.schema_cache import _SCHEMAS, CachedJsonSchema
from blocks.store import StateStore

BLOCKS = [SyncConnection, ErpCredentials, SalesforceCredentials, StateStore]


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.__name__)
def test_the_cached_schema_is_the_one_prefect_generates(block: type[Block]) -> None:
    generated = super(CachedJsonSchema, block).model_json_schema()  # type: ignore[misc]
    assert block.model_json_schema() == generated
    assert block.model_json_schema(mode="serialization") == super(CachedJsonSchema, block).model_json_schema(  # type: ignore[misc]
        mode="serialization"
    )


def test_a_caller_changing_its_schema_does_not_change_the_next_one() -> None:
    schema = SyncConnection.model_json_schema()
    secret_fields = list(schema["secret_fields"])
    schema.pop("definitions")
    schema["secret_fields"].clear()
    again = SyncConnection.model_json_schema()
    assert "definitions" in again and again["secret_fields"] == secret_fields


def test_the_schema_is_generated_once_per_class(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[type] = []
    original = Block.model_json_schema.__func__  # type: ignore[attr-defined]

    def counting(cls: type[Block], *args: object, **kwargs: object) -> dict[str, object]:
        calls.append(cls)
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(Block, "model_json_schema", classmethod(counting))
    _SCHEMAS.clear()
    for _ in range(5):
        StateStore.model_json_schema()
    assert calls == [StateStore]
    assert "url" in StateStore(url="sqlite:///x.db").model_dump()  # serialising asks for the schema per field
    assert calls == [StateStore]
