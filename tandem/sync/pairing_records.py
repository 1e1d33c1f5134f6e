"""The pairing records Tandem keeps in both systems: their object / record type, fields, and flat rows.

Each system holds one record saying which partner it is paired with:

* Salesforce: a ``Tandem_Pairing__c`` record (a custom object of the package in ``salesforce/``) keyed by
  ``Org_Id__c``, the org it was written in, naming the ERP account, the environment, the connection and when;
* the ERP: a ``customrecord_tandem_pairing`` custom record keyed by its ``externalId``
  (``tandem-pairing-<account>``: the account it was written in), naming the Salesforce org.

Each record carries the id of the system it was written in, so a copy a sandbox refresh brings from
production (a record keyed by another org or account) is told apart from the system's own record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

#: The Salesforce object of the pairing record, its upsert key and its fields.
CRM_PAIRING_OBJECT = "Tandem_Pairing__c"
CRM_PAIRING_KEY = "Org_Id__c"
CRM_PAIRING_FIELDS = ("Name", "Org_Id__c", "ERP_Account_Id__c", "Environment__c", "Paired_At__c")
#: The ERP custom record type of the pairing record and its custom fields (``emulators/erp/custom_records.py``).
ERP_PAIRING_TYPE = "customrecord_tandem_pairing"
ERP_PAIRING_KEY = "externalId"
ERP_ORG = "custrecord_tandem_crm_org_id"
ERP_ENVIRONMENT = "custrecord_tandem_crm_environment"
ERP_CONNECTION = "custrecord_tandem_connection"
ERP_PAIRED_AT = "custrecord_tandem_claimed_at"
ERP_PAIRING_FIELDS = ("externalId", "name", ERP_ORG, ERP_ENVIRONMENT, ERP_CONNECTION, ERP_PAIRED_AT)
#: What the systems answer for an object or record type they do not have.
UNKNOWN_TYPE_CODES = frozenset({"INVALID_TYPE", "NOT_FOUND", "INVALID_RCRD_TYPE", "UNKNOWN_RECORD_TYPE"})
NAME_LENGTH = 80


@dataclass(frozen=True)
class PairingRecord:
    """One system's pairing record.

    Attributes:
        side: ``crm`` or ``erp``: the system holding it.
        id: its id there (to delete it).
        owner: the org id (CRM) or account id (ERP) it was written in: its key.
        crm_org_id: the paired Salesforce org.
        erp_account: the paired ERP account.
        environment: ``production`` or ``sandbox``.
        connection: the name of the connection that recorded it.
        paired_at: when it was recorded.
    """

    side: str
    id: str
    owner: str
    crm_org_id: str
    erp_account: str
    environment: str
    connection: str
    paired_at: datetime | None

    def provenance(self) -> str:
        """Who recorded it and when: ``recorded by connection 'acme' on 2026-12-06 02:55 UTC``."""
        when = f" on {self.paired_at:%Y-%m-%d %H:%M} UTC" if self.paired_at else ""
        return f"recorded by connection {self.connection!r}{when}"


def erp_key(erp_account: str) -> str:
    """The ``externalId`` of the pairing record written in ERP account ``erp_account``."""
    return f"tandem-pairing-{erp_account}"


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value).strip()


def _moment(value: Any) -> datetime | None:
    if _text(value) == "":
        return None
    moment = pd.Timestamp(value)
    return (moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")).to_pydatetime()


def crm_records(frame: pd.DataFrame) -> list[PairingRecord]:
    """The ``Tandem_Pairing__c`` rows of a read as records."""
    return [
        PairingRecord("crm", _text(row["id"]), _text(row["Org_Id__c"]), _text(row["Org_Id__c"]),
                      _text(row["ERP_Account_Id__c"]), _text(row["Environment__c"]), _text(row["Name"]),
                      _moment(row["Paired_At__c"]))
        for row in frame.to_dict("records")
    ]


def erp_records(frame: pd.DataFrame) -> list[PairingRecord]:
    """The ``customrecord_tandem_pairing`` rows of a read as records (the owner: the account its key names)."""
    prefix = erp_key("")
    return [
        PairingRecord("erp", _text(row["id"]), _text(row["externalId"]).removeprefix(prefix), _text(row[ERP_ORG]),
                      _text(row["externalId"]).removeprefix(prefix), _text(row[ERP_ENVIRONMENT]),
                      _text(row[ERP_CONNECTION]), _moment(row[ERP_PAIRED_AT]))
        for row in frame.to_dict("records")
    ]


def crm_row(*, connection: str, crm_org_id: str, erp_account: str, environment: str,
            paired_at: datetime) -> dict[str, Any]:
    """The ``Tandem_Pairing__c`` record to upsert by ``Org_Id__c``."""
    return {"Name": connection[:NAME_LENGTH], "Org_Id__c": crm_org_id, "ERP_Account_Id__c": erp_account,
            "Environment__c": environment, "Paired_At__c": paired_at.strftime("%Y-%m-%dT%H:%M:%S.000+0000")}


def erp_row(*, connection: str, crm_org_id: str, erp_account: str, environment: str,
            paired_at: datetime) -> dict[str, Any]:
    """The ``customrecord_tandem_pairing`` record to upsert by ``externalId``."""
    return {"externalId": erp_key(erp_account), "name": f"Salesforce org {crm_org_id}"[:NAME_LENGTH],
            ERP_ORG: crm_org_id, ERP_ENVIRONMENT: environment, ERP_CONNECTION: connection, ERP_PAIRED_AT: paired_at}
