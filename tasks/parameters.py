"""Task parameters that Prefect hands to the task as they are, without looking inside them.

Before a task runs, Prefect walks every parameter (``visit_collection``) twice: to record upstream task runs
(the UI's graph) and to resolve futures. It goes into dataclasses, pydantic models, lists and dicts item by item.
A sync context (its mapping set's models, the run's read-back records) or a batch of records holds no futures, and
walking it cost tens of milliseconds per task run. :func:`untraversed` marks such a parameter with Prefect's
``quote`` annotation: the engine skips it and removes the mark, so the task receives the object itself.
"""

from __future__ import annotations

from typing import TypeVar, cast

from prefect.utilities.annotations import quote

T = TypeVar("T")


def untraversed(value: T) -> T:
    """``value``, marked so that Prefect passes it to the task without walking it (typed as ``value`` itself)."""
    return cast(T, quote(value))
