"""Clients that play the users of both systems in flow tests (they talk to the emulators over the wire)."""

from __future__ import annotations

from typing import Any

from simple_salesforce import Salesforce

from tandem.erp.adapter import ErpAdapter
from tandem.salesforce.transport import build_session
from tests.flows.conftest import erp_block
from tests.support.emulator import RunningEmulator


def salesforce(crm: RunningEmulator) -> Salesforce:
    """A Salesforce user's client on the CRM emulator."""
    info = crm.info
    session = build_session(ca_bundle=crm.ca_cert, login_url=info["login_url"])
    return Salesforce(username=info["username"], password=info["password"], security_token=info["security_token"],
                      session=session)


def erp_client(erp: RunningEmulator) -> ErpAdapter:
    """An ERP user's client on the ERP emulator (writes by externalId)."""
    return erp_block(erp).get_client()


def erp_record(erp: ErpAdapter, record_type: str, external_id: str, fields: list[str]) -> dict[str, Any]:
    """One ERP record by its externalId, as a flat dict."""
    frame = erp.read_by_keys(record_type, "externalId", [external_id], fields=fields)
    assert len(frame) == 1, f"{record_type} {external_id} not found"
    return dict(frame.iloc[0].to_dict())


def erp_write(erp: ErpAdapter, record_type: str, records: list[dict[str, Any]]) -> list[str]:
    """Create or update ERP records by externalId (as an ERP user would); return their internal ids."""
    results = erp.upsert_batch(record_type, "externalId", records)
    assert all(r.ok for r in results), [r.error_message for r in results if not r.ok]
    return [str(r.id) for r in results]


def sf_task(crm: RunningEmulator, external_id: str) -> dict[str, Any]:
    """The Salesforce task whose ERP_Id__c is ``external_id`` (its status fields and dates)."""
    [task] = salesforce(crm).query(
        f"SELECT Id, Subject, Status, Priority, ActivityDate, Description FROM Task WHERE ERP_Id__c = '{external_id}'"
    )["records"]
    return dict(task)
