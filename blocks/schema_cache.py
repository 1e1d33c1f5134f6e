"""A block class's JSON schema, generated once per process.

Prefect regenerates a block's whole JSON schema for every field it serialises (``Block._field_has_secrets``
calls ``model_json_schema()`` per field), so saving the connection block, with its three nested blocks, built
the schema dozens of times: about 1 to 2 s of CPU per save. A block class's schema cannot change while the process
runs, so :class:`CachedJsonSchema` generates it once per set of arguments and hands out copies (Prefect's callers
modify the dictionary they get).
"""

from __future__ import annotations

from copy import deepcopy
from functools import cache
from typing import Any, Literal

from pydantic.json_schema import GenerateJsonSchema

JsonSchemaMode = Literal["validation", "serialization"]


class CachedJsonSchema:
    """Mixin for a Prefect block (listed before ``Block``): ``model_json_schema`` is computed once per class."""

    @classmethod
    def model_json_schema(
        cls,
        by_alias: bool = True,
        ref_template: str = "#/definitions/{model}",
        schema_generator: type[GenerateJsonSchema] = GenerateJsonSchema,
        mode: JsonSchemaMode = "validation",
    ) -> dict[str, Any]:
        """The block's JSON schema as Prefect builds it, from the class's cache (a copy the caller may change)."""
        return deepcopy(_schema_of(cls, by_alias, ref_template, schema_generator, mode))


@cache
def _schema_of(
    cls: type[CachedJsonSchema],
    by_alias: bool,
    ref_template: str,
    schema_generator: type[GenerateJsonSchema],
    mode: JsonSchemaMode,
) -> dict[str, Any]:
    """Generate ``cls``'s schema through the next ``model_json_schema`` in its MRO (Prefect's ``Block``)."""
    parent: Any = super(CachedJsonSchema, cls)
    schema: dict[str, Any] = parent.model_json_schema(by_alias, ref_template, schema_generator, mode)
    return schema
