"""The pairing rules, checked before anything is written: production pairs with production and
sandbox with sandbox, and one ERP company serves one CRM org.

One ERP company per CRM org holds across state stores because the pairing is recorded in the systems
themselves (:mod:`tandem.sync.pairing_records`): a run reads both records before it writes anything and
refuses a pair either system's record contradicts; the first run of a pair records it in both; releasing
it (:func:`release_pairing`, ``tandem pairing release``) deletes both records, and the sandbox refresh moves
it to the refreshed org (:func:`move_pairing`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import select

from tandem.adapter import RecordAdapter, WriteResult
from tandem.errors import FatalSyncError, SyncError
from tandem.store import ConnectionPairingError, create_connection, session_scope
from tandem.store.tables import Connection, Environment
from tandem.sync.pairing_records import (
    CRM_PAIRING_FIELDS,
    CRM_PAIRING_KEY,
    CRM_PAIRING_OBJECT,
    ERP_PAIRING_FIELDS,
    ERP_PAIRING_KEY,
    ERP_PAIRING_TYPE,
    UNKNOWN_TYPE_CODES,
    PairingRecord,
    crm_records,
    crm_row,
    erp_key,
    erp_records,
    erp_row,
)

log = logging.getLogger(__name__)


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


# -- the pairing recorded in both systems ------------------------------------------------------------------------

#: The error code of a run refused because a system lacks the pairing record's object or record type.
PAIRING_METADATA_MISSING = "PAIRING_METADATA_MISSING"


@dataclass(frozen=True)
class SideRecords:
    """What one system holds: its own pairing record (keyed by its own org or account id) and copies of other
    systems' records (a sandbox refresh copies production's)."""

    side: str
    own: PairingRecord | None
    copies: tuple[PairingRecord, ...]


def _missing_type(side: str, exc: SyncError) -> FatalSyncError:
    if side == "crm":
        fields = ", ".join(CRM_PAIRING_FIELDS)
        message = (f"the Salesforce org has no {CRM_PAIRING_OBJECT} object ({fields}), where Tandem records which "
                   "ERP account the org is paired with; nothing was written. Deploy salesforce/ (tandem check "
                   "--connection NAME --deploy, or sf project deploy start) and assign the Tandem_Integration "
                   "permission set")
    else:
        message = (f"the ERP account has no custom record type {ERP_PAIRING_TYPE} ({', '.join(ERP_PAIRING_FIELDS[2:])}"
                   "), where Tandem records which Salesforce org the account is paired with; nothing was written. "
                   "Create it (Customization > Lists, Records & Fields > Record Types) and give the integration "
                   "role access to it")
    return FatalSyncError(f"{message} ({exc.code})", code=PAIRING_METADATA_MISSING, system=side)


def read_side(adapter: RecordAdapter, side: str, owner: str) -> SideRecords:
    """Read the pairing records of ``adapter``'s system (one read), split into its own and copies.

    The org's records are all read (a query): a refreshed sandbox holds copies of its source's, which the
    sandbox refresh and ``tandem pairing release`` delete. The ERP account's own record is read by its key
    (``getList``): a copy keyed by another account pairs nothing and is left alone.

    Args:
        adapter: the system's adapter.
        side: ``crm`` or ``erp``.
        owner: the system's own id: the org id (CRM) or the account id (ERP).

    Raises:
        FatalSyncError: ``PAIRING_METADATA_MISSING``, when the system lacks the pairing's object or record type.
    """
    try:
        if side == "crm":
            pages = adapter.read_changed_since(CRM_PAIRING_OBJECT, None, fields=list(CRM_PAIRING_FIELDS),
                                               page_size=200)
            records = [r for page in pages for r in crm_records(page)]
        else:
            frame = adapter.read_by_keys(ERP_PAIRING_TYPE, ERP_PAIRING_KEY, [erp_key(owner)],
                                         fields=list(ERP_PAIRING_FIELDS))
            records = erp_records(frame)
    except SyncError as exc:
        if exc.code in UNKNOWN_TYPE_CODES:
            raise _missing_type(side, exc) from None
        raise
    own = [r for r in records if r.owner == owner]
    return SideRecords(side, own[0] if own else None, tuple(r for r in records if r.owner != owner))


def check_crm_side(records: SideRecords, *, name: str, crm_org_id: str, erp_account: str) -> None:
    """Refuse when the org's own pairing record names another ERP account.

    Raises:
        PairingError: naming the org, the account it is paired with and the one refused.
    """
    own = records.own
    if own is not None and own.erp_account != erp_account:
        raise PairingError(
            f"Salesforce org {crm_org_id} is paired with ERP account {own.erp_account} ({own.provenance()}), so "
            f"connection {name!r} may not pair it with ERP account {erp_account}: one ERP company per CRM org. "
            f"Nothing was written. If that pairing is no longer used, release it first: tandem pairing release "
            f"--connection {own.connection}"
        )


def check_erp_side(records: SideRecords, *, name: str, crm_org_id: str, erp_account: str,
                   also: frozenset[str] = frozenset()) -> None:
    """Refuse when the account's own pairing record names another Salesforce org (one of ``also`` is accepted).

    Raises:
        PairingError: naming the account, the org it is paired with and the one refused.
    """
    own = records.own
    if own is not None and own.crm_org_id != crm_org_id and own.crm_org_id not in also:
        raise PairingError(
            f"ERP account {erp_account} is paired with Salesforce org {own.crm_org_id} ({own.provenance()}), so "
            f"connection {name!r} may not pair it with Salesforce org {crm_org_id}: one CRM org per ERP company. "
            f"Nothing was written. If that pairing is no longer used, release it first: tandem pairing release "
            f"--connection {own.connection}"
        )


def record_pairing(crm: RecordAdapter | None, erp: RecordAdapter, crm_side: SideRecords, erp_side: SideRecords, *,
                   name: str, environment: str, crm_org_id: str, erp_account: str,
                   now: datetime) -> list[str]:
    """Write the pairing record each system lacks (or holds naming another partner); idempotent (upserts by key).

    ``crm`` is ``None`` for a CRM that holds no pairing record (a HubSpot portal): only the ERP's is written.

    Returns:
        The sides written (``crm``, ``erp``): empty when both held the pairing already.
    """
    written: list[str] = []
    if crm is not None and (crm_side.own is None or crm_side.own.erp_account != erp_account):
        row = crm_row(connection=name, crm_org_id=crm_org_id, erp_account=erp_account, environment=environment,
                      paired_at=now)
        _require_ok(crm.upsert_batch(CRM_PAIRING_OBJECT, CRM_PAIRING_KEY, [row]), "crm")
        written.append("crm")
    if erp_side.own is None or erp_side.own.crm_org_id != crm_org_id:
        row = erp_row(connection=name, crm_org_id=crm_org_id, erp_account=erp_account, environment=environment,
                      paired_at=now)
        _require_ok(erp.upsert_batch(ERP_PAIRING_TYPE, ERP_PAIRING_KEY, [row]), "erp")
        written.append("erp")
    for side in written:
        log.info("recorded the pairing of Salesforce org %s and ERP account %s in the %s", crm_org_id, erp_account,
                 side)
    return written


def _require_ok(results: list[WriteResult], side: str) -> None:
    failed = [r for r in results if not r.ok]
    if failed:
        raise FatalSyncError(f"a pairing record could not be written or deleted: {failed[0].error_message}",
                             code=str(failed[0].error_code), system=side)


def delete_records(crm: RecordAdapter, erp: RecordAdapter, records: list[PairingRecord]) -> None:
    """Delete these pairing records (already gone counts as done).

    Raises:
        FatalSyncError: a record could not be deleted.
    """
    for side, adapter, entity in (("crm", crm, CRM_PAIRING_OBJECT), ("erp", erp, ERP_PAIRING_TYPE)):
        ids = [r.id for r in records if r.side == side]
        if ids:
            _require_ok(adapter.delete_batch(entity, ids), side)


def release_pairing(crm: RecordAdapter, erp: RecordAdapter, *, crm_org_id: str, erp_account: str,
                    dry_run: bool = False) -> list[PairingRecord]:
    """Release the pairing of ``crm_org_id`` and ``erp_account``: delete both systems' pairing records (and the
    copies of other orgs' records a Salesforce sandbox refresh left in the org), so either may then be paired anew.

    Args:
        crm: the org's adapter.
        erp: the account's adapter.
        crm_org_id: the org the CRM credentials reach.
        erp_account: the ERP account.
        dry_run: find the records, delete nothing.

    Returns:
        The records deleted (or, in a dry run, that would be).

    Raises:
        PairingError: either system is paired with another partner (that pairing is not this connection's to
            release); nothing is deleted.
    """
    crm_side, erp_side = read_side(crm, "crm", crm_org_id), read_side(erp, "erp", erp_account)
    if crm_side.own is not None and crm_side.own.erp_account != erp_account:
        raise _not_this_pair(f"Salesforce org {crm_org_id}", "ERP account", crm_side.own.erp_account, erp_account,
                             crm_side.own)
    if erp_side.own is not None and erp_side.own.crm_org_id != crm_org_id:
        raise _not_this_pair(f"ERP account {erp_account}", "Salesforce org", erp_side.own.crm_org_id, crm_org_id,
                             erp_side.own)
    records = [r for side in (crm_side, erp_side) for r in ([side.own] if side.own else []) + list(side.copies)]
    if not dry_run:
        delete_records(crm, erp, records)
        log.info("released the pairing of Salesforce org %s and ERP account %s (%d records deleted)", crm_org_id,
                 erp_account, len(records))
    return records


def _not_this_pair(system: str, partner: str, found: str, wanted: str, record: PairingRecord) -> PairingError:
    return PairingError(
        f"{system} is paired with {partner} {found} ({record.provenance()}), not with this connection's {partner} "
        f"{wanted}: release it through a connection of that pair. Nothing was deleted."
    )


def move_pairing(crm: RecordAdapter, erp: RecordAdapter, *, previous_org_id: str, name: str, environment: str,
                 crm_org_id: str, erp_account: str, now: datetime,
                 dry_run: bool = False) -> tuple[list[PairingRecord], list[str]]:
    """After a sandbox refresh: release the pairing of the org the sandbox was (``previous_org_id``) and record the
    refreshed org's (a new org id). Idempotent: run again, it finds the new pairing recorded and changes nothing.

    Released: the ERP account's record naming the previous org, and the copies of its source org's pairing records
    the refresh brought into the sandbox.

    Returns:
        The records released and the sides recorded (in a dry run: that would be).

    Raises:
        PairingError: the refreshed org is paired with another ERP account, or the ERP account with an org that
            is neither the previous nor the refreshed one.
    """
    crm_side, erp_side = read_side(crm, "crm", crm_org_id), read_side(erp, "erp", erp_account)
    check_crm_side(crm_side, name=name, crm_org_id=crm_org_id, erp_account=erp_account)
    check_erp_side(erp_side, name=name, crm_org_id=crm_org_id, erp_account=erp_account,
                   also=frozenset({previous_org_id}))
    stale = erp_side.own if erp_side.own is not None and erp_side.own.crm_org_id != crm_org_id else None
    released = [*crm_side.copies, *([stale] if stale else [])]
    erp_after = SideRecords("erp", None if stale else erp_side.own, erp_side.copies)
    if dry_run:
        would = [s for s, missing in (("crm", crm_side.own is None), ("erp", erp_after.own is None)) if missing]
        return released, would
    delete_records(crm, erp, released)
    written = record_pairing(crm, erp, crm_side, erp_after, name=name, environment=environment,
                             crm_org_id=crm_org_id, erp_account=erp_account, now=now)
    return released, written
