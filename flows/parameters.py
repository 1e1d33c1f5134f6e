"""Parameter types the Prefect UI renders as form controls.

The connection is a block selector (the saved *Tandem Sync Connection* blocks), entities a
multi-select of the mapping set's entities, booleans switches. Titles are words and descriptions
plain sentences, because the run form shows them as they are.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, Field
from pydantic.fields import FieldInfo

from blocks.connection import SyncConnection
from tandem.mapping import MAPPINGS_DIR, load_mapping_set

#: The entities of the shipped mapping set, for the UI's multi-select.
EntityName = StrEnum(  # type: ignore[misc]
    "EntityName", {name: name for name in load_mapping_set(MAPPINGS_DIR / "default.yaml").entities}
)


def _connection_block(value: Any) -> Any:
    """Accept a saved block's name where a block is expected (flows called from Python or the CLI)."""
    return SyncConnection.load_named(value) if isinstance(value, str) else value


#: A flow's connection parameter: a block selector in the run form; a block or a block's name from Python.
#: A deployment's parameters hold it as ``{"$ref": {"block_document_id": "<id>"}}``, resolved at run time.
ConnectionParameter = Annotated[SyncConnection, BeforeValidator(_connection_block)]


def form_field(title: str, default: Any = ...) -> Any:
    """A flow parameter's default with the title the run form shows (Prefect would show the parameter's name)."""
    info: FieldInfo = Field(default, json_schema_extra={"title": title})
    return info


def connection_name(block: SyncConnection) -> str:
    """The saved name of a connection block (runs, locks and artifacts are labelled with it).

    Raises:
        ValueError: the block was never saved (a connection is always a saved block).
    """
    name = block._block_document_name
    if not name:
        raise ValueError("the connection block has no name: save it first (SyncConnection.save(NAME))")
    return name


def selected_entities(chosen: list[EntityName] | None, enabled: list[str]) -> list[str]:
    """The entities to run: those chosen in the form (all enabled ones when none were chosen)."""
    if not chosen:
        return list(enabled)
    names = [str(entity.value) for entity in chosen]
    disabled = sorted(set(names) - set(enabled))
    if disabled:
        raise ValueError(f"not enabled on this connection: {', '.join(disabled)}")
    return names
