"""``tandem tasks due``: the synced reminder tasks due today and tomorrow, with their sync status."""

from __future__ import annotations

import argparse
import json

DESCRIPTION = (
    "List a connection's synced reminder tasks due today and tomorrow (the Sales Connect command centre), by due\n"
    "date, then priority: read live from Salesforce (Task.ActivityDate), each with its sync status from the\n"
    "state store (its card: up to date, not synced with the error, ...). A task is listed when it has its link\n"
    "key (ERP_Id__c) or a binding. Reads the connection's block from PREFECT_API_URL's server, else the demo's.\n\n"
    "example:\n  tandem tasks due --connection acme --owner jane@acme.example --json"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``tasks`` verb's description and sub-verbs (``due``) with their options and handler."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = (
        "The reminder tasks a connection syncs. tandem tasks due lists the synced tasks due today and tomorrow\n"
        "with their sync status (tandem tasks due --help for its options).\n\n"
        "example:\n  tandem tasks due --connection acme"
    )
    kinds = parser.add_subparsers(dest="tasks_command", required=True)
    due = kinds.add_parser("due", help="the synced reminder tasks due today and tomorrow",
                           formatter_class=argparse.RawDescriptionHelpFormatter, description=DESCRIPTION)
    due.add_argument("--connection", required=True, help="the Tandem Sync Connection block")
    due.add_argument("--owner", metavar="USER", help="only this Salesforce user's tasks (a user id or username)")
    due.add_argument("--today", metavar="DATE",
                     help="the list's first day as an ISO date (default: today on this machine's clock)")
    due.add_argument("--json", action="store_true", help="print the list as JSON")
    due.set_defaults(handler=show_tasks_due)


def show_tasks_due(args: argparse.Namespace) -> int:
    """Print the task list (a table per day, or JSON); a bad date, owner or connection is one line, exit 2."""
    from tandem.errors import CommandError
    from tandem.status.tasks_due import format_list, parse_day
    from web.sources import task_list

    try:
        today = parse_day(args.today) if args.today else None
    except ValueError as exc:
        raise CommandError(f"--today: {exc}") from None
    listing = task_list(args.connection, today=today, owner=args.owner)
    print(json.dumps(listing.as_dict(), indent=2) if args.json else format_list(listing))
    return 0
