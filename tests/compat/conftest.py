"""Fixtures: one demo-org emulator for the compatibility runs, and the emulator's own reference reader."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.compat.harness import ReferenceReader, start_compat_emulator
from tests.support.emulator import RunningEmulator


@pytest.fixture(scope="session")
def compat_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """The emulator with the demo org; its certificate also answers for login.salesforce.com."""
    emulator = start_compat_emulator(tmp_path_factory.mktemp("sf-compat"))
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def reference(compat_emulator: RunningEmulator) -> Iterator[ReferenceReader]:
    """The emulator's own SOQL answers, to compare the clients' output with."""
    reader = ReferenceReader(compat_emulator)
    try:
        yield reader
    finally:
        reader.close()
