"""A parameter marked ``untraversed`` reaches the task as the object itself, and Prefect does not walk it."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NONE

from tasks.parameters import untraversed


class CountingDict(dict[str, Any]):
    """A dict that counts how often its items are listed (Prefect's parameter walk lists them)."""

    listed = 0

    def items(self) -> Any:
        CountingDict.listed += 1
        return super().items()


@task(cache_policy=NONE)
def identity_of(value: dict[str, Any]) -> int:
    return id(value)


@flow
def hand_over(whole: bool) -> tuple[bool, int]:
    """Pass a new counting dict to a task; whether the task got that very object, and how often it was listed."""
    value = CountingDict(records=[{"Name": "Acme"}] * 3)
    CountingDict.listed = 0
    received = identity_of(untraversed(value) if whole else value)
    return received == id(value), CountingDict.listed


def test_an_untraversed_parameter_is_handed_over_as_is() -> None:
    assert hand_over(whole=True) == (True, 0)


def test_without_the_mark_prefect_walks_the_parameter() -> None:
    """The control: the counter does see Prefect's walk, so the test above would catch one."""
    _, listed = hand_over(whole=False)
    assert listed > 0
