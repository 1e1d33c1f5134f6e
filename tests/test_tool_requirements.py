"""A tool this machine cannot provide skips its tests with the reason, and fails them in CI."""

from __future__ import annotations

import pytest

from tests.support.requirements import REQUIRE_ALL, tool_missing


def test_a_missing_tool_skips_with_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REQUIRE_ALL, raising=False)
    with pytest.raises(pytest.skip.Exception, match="need Chromium"):
        tool_missing("the browser tests need Chromium")


def test_ci_fails_instead(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REQUIRE_ALL, "1")
    with pytest.raises(pytest.fail.Exception, match=f"need PostgreSQL.*{REQUIRE_ALL}=1"):
        tool_missing("the state store tests need PostgreSQL")
