"""Whose change stands in a conflict, per policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tandem.sync.conflicts import HELD, ConflictPolicy, settle

EARLY = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
LATE = EARLY + timedelta(seconds=1)


@pytest.mark.parametrize(
    ("policy", "crm_at", "erp_at", "stands"),
    [
        (ConflictPolicy.CRM_WINS, EARLY, LATE, "crm"),
        (ConflictPolicy.ERP_WINS, LATE, EARLY, "erp"),
        (ConflictPolicy.HOLD, LATE, EARLY, HELD),
        (ConflictPolicy.LATEST, LATE, EARLY, "crm"),
        (ConflictPolicy.LATEST, EARLY, LATE, "erp"),
        (ConflictPolicy.LATEST, EARLY, EARLY, "erp"),  # a tie: the ERP is the system of record
        (ConflictPolicy.LATEST, EARLY, None, "crm"),  # an unknown time never wins
        (ConflictPolicy.LATEST, None, EARLY, "erp"),
    ],
)
def test_settle(policy: ConflictPolicy, crm_at: datetime | None, erp_at: datetime | None, stands: str) -> None:
    assert settle(policy, crm_at, erp_at) == stands
