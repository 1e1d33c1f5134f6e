"""Conflict policies: what happens to a record changed on both sides since its last sync."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import pandas as pd

from tandem.store.tables import Side


class ConflictPolicy(StrEnum):
    """Whose change stands when a record changed on both sides since its last sync.

    ``crm_wins`` and ``erp_wins`` keep that system's values and overwrite the other's; ``latest`` keeps the
    values changed last (the ERP's on a tie: it is the system of record); ``hold`` writes neither and marks
    the record for a person, who settles it with the resolve-conflicts flow.
    """

    CRM_WINS = "crm_wins"
    ERP_WINS = "erp_wins"
    LATEST = "latest"
    HOLD = "hold"


#: The outcome of a held conflict (neither side's values are written).
HELD = "held"


def settle(policy: ConflictPolicy, crm_modified_at: datetime | None, erp_modified_at: datetime | None) -> str:
    """Whose values stand: ``crm``, ``erp`` or :data:`HELD`.

    Args:
        policy: the entity's policy.
        crm_modified_at: when the CRM record was last modified.
        erp_modified_at: when the ERP record was last modified.
    """
    if policy is ConflictPolicy.CRM_WINS:
        return Side.CRM.value
    if policy is ConflictPolicy.ERP_WINS:
        return Side.ERP.value
    if policy is ConflictPolicy.HOLD:
        return HELD
    crm_time, erp_time = pd.Timestamp(crm_modified_at), pd.Timestamp(erp_modified_at)
    if pd.isna(erp_time) or (not pd.isna(crm_time) and crm_time > erp_time):
        return Side.CRM.value
    return Side.ERP.value
