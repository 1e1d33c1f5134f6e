"""The PostgreSQL test helper fails loudly, with the reason, when it cannot provide a server."""

from __future__ import annotations

import pytest

from tests.support import postgres


def test_missing_binaries_without_root_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(postgres.URL_ENVIRONMENT_VARIABLE, raising=False)
    monkeypatch.setattr(postgres, "find_bin_dir", lambda: None)
    monkeypatch.setattr(postgres.os, "geteuid", lambda: 1000)
    with pytest.raises(postgres.PostgresUnavailableError, match="cannot be installed here"), postgres.postgres_server():
        pass


def test_an_external_server_url_is_used_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(postgres.URL_ENVIRONMENT_VARIABLE, "postgresql+psycopg://ci@db:6543/tandem")
    with postgres.postgres_server() as server:
        assert (server.url, server.port, server.data_dir) == ("postgresql+psycopg://ci@db:6543/tandem", 6543, None)
