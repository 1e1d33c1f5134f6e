"""The flow tests' fixtures: both emulators with their demo data, Prefect's test harness (one per worker)."""

from __future__ import annotations

from tests.flows.conftest import crm, erp, fresh, prefect_server

__all__ = ["crm", "erp", "fresh", "prefect_server"]
