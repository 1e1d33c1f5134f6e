"""A block class's JSON schema, generated once per process.

Prefect regenerates a block's whole JSON schema for every field it serialises (``Block._field_has_secrets``
calls ``model_json_schema()`` per field), so saving the connection block, with its three nested blocks, built
the schema dozens of times: about 1 to 2 s of CPU per save. A block class's schema cannot change while the process
runs, so :class:`CachedJsonSchema` generates it once per set of arguments and hands out copies (Prefect's callers
modify the dictionary they get). A copy is unpickled from bytes kept with the schema: a fraction of a ``deepcopy``'s
cost, which mattered too (a connection save asks for the schema some 250 times).
"""

from __future__ import annotations

import pickle
from typing import Any


class CachedJsonSchema:
    """Mixin for a Prefect block (listed before ``Block``): ``model_json_schema`` is computed once per class."""

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The block's JSON schema as Prefect builds it, from the class's cache (a copy the caller may change).

        Takes pydantic's arguments (``by_alias``, ``ref_template``, ``schema_generator``, ``mode`` ...); each
        combination is generated once.
        """
        return pickle.loads(_schema_of(cls, args, tuple(sorted(kwargs.items()))))  # noqa: S301 (our own bytes)


#: Each block class's schemas (pickled), by the arguments they were generated with.
_SCHEMAS: dict[tuple[type, tuple[Any, ...], tuple[tuple[str, Any], ...]], bytes] = {}


def _schema_of(
    cls: type[CachedJsonSchema], args: tuple[Any, ...], kwargs: tuple[tuple[str, Any], ...]
) -> bytes:
    """``cls``'s schema, pickled, generated on first use by the next ``model_json_schema`` in its MRO (Prefect's
    ``Block``)."""
    key = (cls, args, kwargs)
    if key not in _SCHEMAS:
        parent: Any = super(CachedJsonSchema, cls)
        _SCHEMAS[key] = pickle.dumps(parent.model_json_schema(*args, **dict(kwargs)), pickle.HIGHEST_PROTOCOL)
    return _SCHEMAS[key]
