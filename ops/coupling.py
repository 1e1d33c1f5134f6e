"""``tandem couple`` and ``tandem uncouple``: couple records by hand, from a CSV of pairs or by the match keys, and
undo a coupling, from the command line (the engine: :mod:`tandem.sync.manual_coupling`).

The command opens the connection as a run does (both logins, the pairing rules, the org's metadata), holds the
connection's lock while it writes bindings, and prints ids and counts (never field values). A refused pair is
one line with its reason, and the exit code is 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from tandem.errors import CommandError

if TYPE_CHECKING:
    from tandem.mapping import EntityMapping
    from tandem.sync.context import SyncContext
    from tandem.sync.manual_coupling import CouplingResult, MatchPreview

COUPLE_DESCRIPTION = """\
Couple existing records of an entity: a Salesforce record with an ERP record, so that the next sync run
(incremental or full) writes the pair in the entity's direction instead of creating either again. Name one
pair (--crm and --erp), a CSV file of pairs (columns crm_id,erp_id), or --match for the pairs the entity's
match keys propose (with --dry-run: list them, with the match fields used, and write nothing). A record
coupled already, of another object or record type, or missing, is refused with the reason (exit 2).

example:
  tandem couple customer --connection acme --crm 001000000000001AAA --erp 118
  tandem couple contact --connection acme --csv pairs.csv
  tandem couple customer --connection acme --match --dry-run
  tandem couple customer --connection acme --match"""

UNCOUPLE_DESCRIPTION = """\
Uncouple a record of an entity from its partner: the binding is archived, neither record travels again, and
neither is coupled again by its link or match keys until you couple it (by hand, or with --match). The
Salesforce record's link field (ERP_Id__c) is cleared.

example:
  tandem uncouple customer --connection acme --crm 001000000000001AAA
  tandem uncouple customer --connection acme --erp 118"""


def add_couple_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``tandem couple``."""
    parser.description = COUPLE_DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("entity", help="the entity (customer, contact ...) of the connection's mapping set")
    parser.add_argument("--connection", default="demo", help="the Tandem Sync Connection block (default: demo)")
    parser.add_argument("--crm", metavar="ID", help="the Salesforce record id (with --erp)")
    parser.add_argument("--erp", metavar="ID", help="the ERP record's internal id (with --crm)")
    parser.add_argument("--csv", type=Path, metavar="FILE", help="a CSV file of pairs: a header crm_id,erp_id, "
                        "then one pair a line")
    parser.add_argument("--match", action="store_true", help="couple the pairs the entity's match keys propose")
    parser.add_argument("--dry-run", action="store_true", help="check (and with --match list) the pairs; write "
                        "nothing")
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")
    parser.set_defaults(handler=run_couple)


def add_uncouple_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``tandem uncouple``."""
    parser.description = UNCOUPLE_DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("entity", help="the entity (customer, contact ...) of the connection's mapping set")
    parser.add_argument("--connection", default="demo", help="the Tandem Sync Connection block (default: demo)")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--crm", metavar="ID", help="the Salesforce record to uncouple")
    which.add_argument("--erp", metavar="ID", help="the ERP record (internal id) to uncouple")
    parser.add_argument("--dry-run", action="store_true", help="check the record is coupled; write nothing")
    parser.set_defaults(handler=run_uncouple)


@contextmanager
def _opened(connection: str, entity_name: str, *, dry_run: bool) -> Iterator[tuple[SyncContext, EntityMapping]]:
    """Open the connection (logins, pairing rules, the org's metadata) and hold its lock."""
    from tandem.mapping import MappingError
    from tandem.store.locks import ConnectionBusyError, connection_lock
    from tandem.sync.manual_coupling import UnknownEntityError, entity_of
    from tasks.setup import open_connection
    from web.sources import load_connection

    block = load_connection(connection)
    try:
        mappings = block.mapping_set_for_run()
    except MappingError as exc:
        raise CommandError(f"the mapping set of connection {connection!r} is invalid: {exc}") from None
    if entity_name not in mappings.entities:
        raise CommandError(f"unknown entity {entity_name!r}; the mapping set has: {', '.join(mappings.entities)}")
    if entity_name not in block.enabled_entities():
        raise CommandError(f"the entity {entity_name!r} is not enabled on connection {connection!r}")
    context = open_connection.fn(block, name=connection, procedure="couple-records", entities=[entity_name],
                                 dry_run=dry_run)
    try:
        entity = entity_of(context, entity_name)
    except UnknownEntityError as exc:
        raise CommandError(str(exc)) from None
    holder = f"tandem couple (process {os.getpid()})"
    try:
        with connection_lock(context.store, context.connection_id, holder=holder,
                             lease=timedelta(seconds=block.lock_lease_seconds)):
            yield context, entity
    except ConnectionBusyError as exc:
        raise CommandError(str(exc)) from None


def run_couple(args: argparse.Namespace) -> int:
    """``tandem couple``: one pair, a CSV of pairs, or the match keys' proposals."""
    from tandem.sync.manual_coupling import (
        CouplingResult,
        Pair,
        UnknownEntityError,
        batches,
        couple_pairs,
        propose_matches,
        read_pairs_csv,
    )

    chosen = [name for name, given in (("--crm/--erp", args.crm or args.erp), ("--csv", args.csv),
                                       ("--match", args.match)) if given]
    if len(chosen) != 1:
        raise CommandError("name one pair (--crm ID --erp ID), a CSV file (--csv FILE) or --match")
    if (args.crm or args.erp) and not (args.crm and args.erp):
        raise CommandError("a pair needs both --crm ID and --erp ID")
    pairs: list[Pair] = []
    if args.csv:
        try:
            pairs = read_pairs_csv(args.csv)
        except (OSError, ValueError) as exc:
            raise CommandError(f"--csv: {exc}") from None
        if not pairs:
            raise CommandError(f"--csv: {args.csv} holds no pair")
    elif args.crm:
        pairs = [Pair(args.crm, args.erp)]
    with _opened(args.connection, args.entity, dry_run=args.dry_run) as (context, entity):
        preview = None
        if args.match:
            try:
                preview = propose_matches(context, entity)
            except UnknownEntityError as exc:
                raise CommandError(str(exc)) from None
            pairs = [p.pair for p in preview.proposals]
        result = CouplingResult()
        for batch in batches(pairs):
            result.absorb(couple_pairs(context, entity, batch))
    return _print_couplings(args, result, preview)


def _print_couplings(args: argparse.Namespace, result: CouplingResult, preview: MatchPreview | None) -> int:
    """Print the outcome; return the exit code (2 when a pair was refused)."""
    single = bool(args.crm) and len(result.refused) == 1
    if single:
        raise CommandError(result.refused[0].reason)
    verb = "would couple" if args.dry_run else "coupled"
    if args.json:
        print(json.dumps({
            "dry_run": args.dry_run,
            "proposals": [{"crm_id": p.crm_id, "erp_id": p.erp_id, "rank": p.rank, "match_fields": list(p.fields)}
                          for p in preview.proposals] if preview else None,
            "coupled": [{"crm_id": p.crm_id, "erp_id": p.erp_id} for p in result.coupled],
            "unchanged": [{"crm_id": p.crm_id, "erp_id": p.erp_id} for p in result.unchanged],
            "refused": [{"crm_id": r.crm_id, "erp_id": r.erp_id, "reason": r.reason} for r in result.refused],
        }, indent=2))
    else:
        if preview is not None:
            rows = [("rank", "crm id", "erp id", "match fields")]
            rows += [(str(p.rank), p.crm_id, p.erp_id, ", ".join(p.fields)) for p in preview.proposals]
            widths = [max(len(row[i]) for row in rows) for i in range(3)]
            for row in rows:
                print("  ".join([*(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)), row[3]]))
            print(f"{len(preview.proposals)} pairs proposed; {preview.unmatched} records without a match, "
                  f"{preview.ambiguous} ambiguous, {preview.partner_coupled} whose partner is coupled already")
        elif not args.dry_run:
            for p in result.coupled:
                print(f"coupled {args.entity}: crm {p.crm_id} with erp {p.erp_id} (the next sync run writes it)")
        for p in result.unchanged:
            print(f"already coupled with each other: crm {p.crm_id}, erp {p.erp_id}")
        print(f"{args.entity}: {len(result.coupled)} pairs {verb}, {len(result.unchanged)} coupled already, "
              f"{len(result.refused)} refused")
    for refusal in result.refused:
        print(f"tandem couple: refused: {refusal.line()}", file=sys.stderr)
    return 2 if result.refused else 0


def run_uncouple(args: argparse.Namespace) -> int:
    """``tandem uncouple``: remove a record's coupling."""
    from tandem.store.tables import Side
    from tandem.sync.manual_coupling import uncouple

    side, record_id = (Side.CRM, args.crm) if args.crm else (Side.ERP, args.erp)
    with _opened(args.connection, args.entity, dry_run=args.dry_run) as (context, entity):
        result = uncouple(context, entity, side, [record_id])
    if result.refused:
        raise CommandError(result.refused[0].reason)
    [pair] = result.uncoupled
    verb = "would uncouple" if args.dry_run else "uncoupled"
    print(f"{verb} {args.entity}: crm {pair.crm_id} from erp {pair.erp_id} (neither syncs until coupled again)")
    return 0
