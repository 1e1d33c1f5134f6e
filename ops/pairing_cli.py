"""``tandem pairing show`` and ``tandem pairing release``: the pairing of a Salesforce org and an ERP account that
Tandem records in both systems (one ERP company per CRM org, whichever state store a connection uses)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from tandem.errors import CommandError

if TYPE_CHECKING:
    from blocks.connection import SyncConnection
    from tandem.adapter import RecordAdapter
    from tandem.sync.pairing_records import PairingRecord

DESCRIPTION = """\
Tandem records which ERP account a Salesforce org is paired with in both systems: a Tandem_Pairing__c record in
the org and a customrecord_tandem_pairing record in the ERP account, written by the pair's first run. Every run
reads them first and refuses a connection whose org or account is paired with another partner, whatever state
store it uses. tandem pairing show prints both records; tandem pairing release deletes them, so the org and the
account may each be paired anew. The sandbox refresh moves the pairing to the refreshed org by itself.

example:
  tandem pairing show --connection acme
  tandem pairing release --connection acme --dry-run
  tandem pairing release --connection acme"""
RELEASE = """\
Delete both pairing records of the connection's Salesforce org and ERP account (and the copies of its source
org's record a Salesforce sandbox refresh left in the org), so the org and the account may each be paired
anew. Refused when the org or the account is paired with another partner (release that pairing through one of
its connections), and while the connection's sync is on: its next run would record the pairing again (tandem
connection disable NAME first).

example:
  tandem connection disable acme
  tandem pairing release --connection acme"""
SHOW = """\
Print the pairing record the connection's Salesforce org holds and the one its ERP account holds.

example:
  tandem pairing show --connection acme"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``pairing`` verb's description and sub-verbs (``show``, ``release``) with their options."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = DESCRIPTION
    verbs = parser.add_subparsers(dest="pairing_command", required=True)
    handlers: tuple[tuple[str, str, str, Callable[[argparse.Namespace], int]], ...] = (
        ("show", "print the pairing records of the connection's org and ERP account", SHOW, run_show),
        ("release", "delete both pairing records, so the org and the account may be paired anew", RELEASE,
         run_release),
    )
    for name, summary, description, handler in handlers:
        verb = verbs.add_parser(name, help=summary, description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
        verb.add_argument("--connection", metavar="NAME", required=True,
                          help="the Tandem Sync Connection block whose org and ERP account to use")
        if name == "release":
            verb.add_argument("--dry-run", action="store_true", help="say what would be deleted, delete nothing")
        verb.set_defaults(handler=handler)


def _reach(block: SyncConnection, name: str) -> tuple[RecordAdapter, RecordAdapter, str]:
    """Both systems' adapters of connection ``name`` and the org id its Salesforce credentials reach."""
    from tandem.errors import SyncError

    if block.salesforce is None:
        raise CommandError(f"connection {name!r} has no Salesforce org: Tandem records its pairings in Salesforce orgs")
    try:
        crm = block.salesforce.get_client()
        org_id, _ = crm.organization()
        return crm, block.erp.get_client(), org_id
    except SyncError as exc:
        raise CommandError(f"connection {name!r}: cannot reach the systems: {exc}") from None


def _line(record: PairingRecord) -> str:
    where = "Salesforce Tandem_Pairing__c" if record.side == "crm" else "ERP customrecord_tandem_pairing"
    return (f"{where} {record.id}: Salesforce org {record.crm_org_id} ↔ ERP account {record.erp_account}, "
            f"{record.environment or 'environment not recorded'}, {record.provenance()}")


def run_show(args: argparse.Namespace) -> int:
    """``tandem pairing show``: each system's own pairing record, and copies a sandbox refresh left."""
    from tandem.errors import SyncError
    from tandem.sync.pairing import read_side
    from web.sources import load_connection

    block = load_connection(args.connection)
    crm, erp, org_id = _reach(block, args.connection)
    try:
        sides = [read_side(crm, "crm", org_id), read_side(erp, "erp", block.erp.account_id)]
    except SyncError as exc:
        raise CommandError(f"connection {args.connection!r}: {exc}") from None
    for side, label in zip(sides, (f"Salesforce org {org_id}", f"ERP account {block.erp.account_id}"), strict=True):
        print(f"{label}: " + (_line(side.own) if side.own else "no pairing recorded"))
        for copy in side.copies:
            print(f"  copy of another system's record (a sandbox refresh brought it): {_line(copy)}")
    return 0


def _sync_is_on(block: SyncConnection, name: str) -> bool:
    """True when the connection's state store has it with sync on."""
    from tandem.store import get_connection, session_scope
    from tandem.store.exceptions import ConnectionNotFoundError

    engine = block.store.get_engine()
    try:
        with session_scope(engine, write=False) as session:
            return bool(get_connection(session, name).enabled)
    except ConnectionNotFoundError:
        return False
    finally:
        engine.dispose()


def run_release(args: argparse.Namespace) -> int:
    """``tandem pairing release``: delete both pairing records (refused while the connection's sync is on)."""
    from tandem.errors import SyncError
    from tandem.sync.pairing import release_pairing
    from web.sources import load_connection

    block = load_connection(args.connection)
    if not args.dry_run and _sync_is_on(block, args.connection):
        raise CommandError(
            f"connection {args.connection!r} has sync on: its next run would record the pairing again. Turn it off "
            f"first (tandem connection disable {args.connection}), then release"
        )
    crm, erp, org_id = _reach(block, args.connection)
    try:
        records = release_pairing(crm, erp, crm_org_id=org_id, erp_account=block.erp.account_id,
                                  dry_run=args.dry_run)
    except SyncError as exc:
        raise CommandError(f"connection {args.connection!r}: {exc}") from None
    verb = "would delete" if args.dry_run else "deleted"
    for record in records:
        print(f"{verb} {_line(record)}")
    outcome = "would be released" if args.dry_run else "released"
    print(f"the pairing of Salesforce org {org_id} and ERP account {block.erp.account_id} {outcome} "
          f"({len(records)} records)" if records else
          f"Salesforce org {org_id} and ERP account {block.erp.account_id} hold no pairing records: nothing to release")
    return 0
