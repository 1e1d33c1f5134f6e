"""The pairing rules, checked before anything is written: production pairs with production and
sandbox with sandbox, and one ERP company serves one CRM org."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import select

from tandem.errors import FatalSyncError
from tandem.store import ConnectionPairingError, create_connection, session_scope
from tandem.store.tables import Connection, Environment


class PairingError(FatalSyncError):
    """The two systems may not be paired; the message names both."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="PAIRING_REFUSED", system="tandem")


def _kind(sandbox: bool) -> str:
    return "sandbox" if sandbox else "production"


def check_environments(environment: str, *, crm_org_id: str, crm_is_sandbox: bool, erp_account: str,
                       erp_is_sandbox: bool) -> None:
    """Refuse production↔sandbox pairings, naming both systems and what each is."""
    if crm_is_sandbox != erp_is_sandbox or _kind(crm_is_sandbox) != environment:
        raise PairingError(
            f"Salesforce org {crm_org_id} is {_kind(crm_is_sandbox)} and ERP account {erp_account} is "
            f"{_kind(erp_is_sandbox)}, but the connection is {environment}: pair production with production "
            "and sandbox with sandbox"
        )


def register_connection(store: Engine, *, name: str, environment: str, crm_org_id: str, erp_account: str) -> Connection:
    """Find the connection in the state store, or create it; enforce one ERP company per CRM org.

    Raises:
        PairingError: another active connection pairs this CRM org with another ERP account, or the
            stored CRM org id differs (a refreshed sandbox: run the sandbox refresh procedure).
    """
    with session_scope(store) as session:
        existing = session.exec(select(Connection).where(Connection.name == name)).first()
        if existing is None:
            try:
                # Sync is enabled (and its time recorded) by the initial import, not by registering.
                return create_connection(
                    session, name=name, crm_org_id=crm_org_id, erp_account_id=erp_account,
                    environment=Environment(environment), enabled=False,
                )
            except ConnectionPairingError as exc:
                raise PairingError(str(exc)) from None
        if existing.erp_account_id != erp_account:
            raise PairingError(
                f"connection {name!r} pairs Salesforce org {existing.crm_org_id} with ERP account "
                f"{existing.erp_account_id}, not {erp_account}: one ERP company per CRM org"
            )
        if existing.crm_org_id != crm_org_id:
            raise PairingError(
                f"connection {name!r} was set up with Salesforce org {existing.crm_org_id}, but the credentials "
                f"now reach org {crm_org_id}; after a sandbox refresh run the sandbox-refresh flow"
            )
        return existing
