"""A tool the tests need but this machine cannot provide (Chromium, PostgreSQL without root or apt-get).

On a developer's machine such a test is skipped with the reason, so ``make test`` tells a newcomer what is
missing instead of failing; CI (``.ci/run`` sets ``TANDEM_TEST_REQUIRE_ALL=1``) fails instead, so a machine
that lost a tool never passes by skipping.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

#: Set to ``1`` to make a missing tool fail the test instead of skipping it.
REQUIRE_ALL = "TANDEM_TEST_REQUIRE_ALL"


def tool_missing(reason: str) -> NoReturn:
    """Skip the running test with ``reason`` (fail it when :data:`REQUIRE_ALL` is set)."""
    if os.environ.get(REQUIRE_ALL) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ALL}=1)", pytrace=False)
    pytest.skip(reason)
