"""The ``tandem`` command line."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys

#: Verbs that load a connection's blocks: without PREFECT_API_URL they read the demo's (ops/prefect_home.py).
READS_BLOCKS = frozenset({"card", "serve", "failures", "check", "couple", "uncouple", "tasks", "pairing"})
#: Prefect's background senders warn "Still processing items: 1 items remaining..." when a command ends with an
#: event or a log line queued (a block read emits one): a progress line, not a problem; their errors still show.
QUIET_SENDERS = ("EventsWorker", "APILogWorker")
EMULATORS = {
    "salesforce": ("emulators.salesforce.cli", "a local Salesforce REST API (HTTPS) for the demo and the tests"),
    "erp": ("emulators.erp.cli", "a local SuiteTalk-style SOAP ERP for the demo and the tests"),
    "hubspot": ("emulators.hubspot.cli", "a local HubSpot CRM API v3 (HTTPS REST) for the demo and the tests"),
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    """Build the argument parser; only the emulator named in ``argv`` is imported."""
    parser = argparse.ArgumentParser(prog="tandem", description="Keep Salesforce and the ERP in step.")
    verbs = parser.add_subparsers(dest="command", required=True)

    emulate = verbs.add_parser(
        "emulate", help="run a local emulator of Salesforce or the ERP",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run a local emulator of Salesforce (HTTPS REST, Bulk API) or the ERP (SuiteTalk SOAP) until\n"
        "interrupted. It writes DATA_DIR/server.json (address, CA, demo credentials) once it listens; --port 0\n"
        "picks a free port. tandem emulate salesforce --help lists its options.\n\n"
        "example:\n  tandem emulate salesforce --seed demo --port 0 --data-dir /tmp/sf",
    )
    kinds = emulate.add_subparsers(dest="emulator", required=True)
    demo = verbs.add_parser(
        "demo", help="start both emulators and run an initial import and a full sync",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Start the Salesforce and ERP emulators with their demo data, save the Prefect blocks (connection\n"
        "demo), run the initial import and a full sync of every entity, and print what moved per entity. Its data\n"
        "and Prefect home stay under .tandem/demo: run it again and nothing moves; tandem card, serve and failures\n"
        "then read the demo's blocks from there.\n\n"
        "example:\n  tandem demo            (or: make demo)\n  tandem demo --crm hubspot",
    )
    demo.add_argument("--crm", choices=["salesforce", "hubspot"], default="salesforce",
                      help="the CRM to pair with the ERP (default salesforce; hubspot saves connection demo-hubspot)")
    demo.set_defaults(handler=_run_demo)
    card = verbs.add_parser(
        "card", help="show a record's sync status cards (one per entity it syncs through)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Show whether a Salesforce or ERP record is in step: one card per entity it syncs through, with\n"
        "its partner on the other side, its status (up to date, sync not found, sync disabled, not synced,\n"
        "unknown, excluded) and when it last synced. Reads the connection's block from PREFECT_API_URL's\n"
        "server, else from the demo's (.tandem/demo/prefect).\n\n"
        "example:\n  tandem card crm Contact 0035g0000000001AAA\n  tandem card erp customer 123 --json",
    )
    card.add_argument("side", choices=["crm", "erp"], help="the record's system")
    card.add_argument("object", help="its Salesforce object (Account) or ERP record type (customer)")
    card.add_argument("id", help="its id in that system")
    card.add_argument("--connection", default="demo", help="the Tandem Sync Connection block (default: demo)")
    card.add_argument("--json", action="store_true", help="print the cards as JSON")
    card.set_defaults(handler=_show_card)
    serve = verbs.add_parser(
        "serve", help="serve the cards (JSON and HTML) and the schedule over HTTP",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Serve a connection's sync status cards (GET /cards/{crm|erp}/{object}/{id}, and .../html to show\n"
        "beside a record), its failing records (GET /failures, a record's history and retry under it), the\n"
        "full-sync review (GET /review), the tasks due (GET /tasks/due) and the schedule view (GET /schedule) over\n"
        "HTTP; the OpenAPI page is at /docs. Reads the blocks from PREFECT_API_URL's server, else from the demo's.\n\n"
        "example:\n  tandem serve --connection demo --port 8765\n"
        "  curl http://127.0.0.1:8765/cards/crm/Contact/0035g0000000001AAA",
    )
    serve.add_argument("--connection", default="demo", help="the Tandem Sync Connection block (default: demo)")
    serve.add_argument("--host", default="127.0.0.1", help="the address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8765, help="the port (default: 8765)")
    serve.set_defaults(handler=_serve)
    schedule = verbs.add_parser(
        "schedule", help="show what syncs when: one row per deployment",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="One row per Tandem deployment on the Prefect server at PREFECT_API_URL: its connection, what it\n"
        "syncs, the direction, how often, the last run and the server's next run, with a warning line for a\n"
        "schedule with no upcoming run or an overdue run. When no server answers within 5 s, the rows come from\n"
        "prefect.yaml's templates and the first line says so.\n\n"
        "example:\n  PREFECT_API_URL=http://127.0.0.1:4200/api tandem schedule",
    )
    schedule.add_argument("--json", action="store_true", help="print the rows as JSON")
    schedule.set_defaults(handler=_show_schedule)
    deploy = verbs.add_parser(
        "deploy", help="create or update a connection's deployments (its schedules on) on the Prefect server",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Deploy Tandem's deployments (prefect.yaml's templates) for one saved connection: each named\n"
        "CONNECTION-<template>, with the connection filled in, tagged connection:CONNECTION, and the incremental\n"
        "syncs and the daily deletion sweep scheduled (the two-way sync stays paused). Running it again updates\n"
        "them. Needs PREFECT_API_URL and the connection's block saved on that server.\n\n"
        "example:\n  PREFECT_API_URL=http://127.0.0.1:4200/api tandem deploy --connection acme",
    )
    deploy.add_argument("--connection", required=True, help="the Tandem Sync Connection block to deploy for")
    deploy.add_argument("--pool", default="tandem", help="the process work pool (default: tandem; created if missing)")
    deploy.add_argument("--start-in", type=int, default=60, metavar="SECONDS",
                        help="the interval schedules first fire this long after now (default: 60)")
    deploy.add_argument("--only", action="append", default=[], metavar="TEMPLATE",
                        help="deploy only this template (repeatable), e.g. --only incremental-erp-to-crm")
    deploy.add_argument("--print", dest="print_only", action="store_true",
                        help="print the prefect.yaml it would deploy, deploy nothing")
    deploy.set_defaults(handler=_deploy)
    runs = verbs.add_parser(
        "runs", help="a connection's recent runs with their state names: which need attention",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="List a connection's latest flow runs from the Prefect server, newest first, with each state's\n"
        "name and message: Completed, NeedsAttention (records failed or conflicts held), Skipped, Failed,\n"
        "Crashed (prefect flow-run ls shows only the state type, COMPLETED for NeedsAttention too).\n\n"
        "example:\n  tandem runs --connection acme --limit 10",
    )
    runs.add_argument("--connection", required=True, help="the Tandem Sync Connection whose runs to list")
    runs.add_argument("--limit", type=int, default=20, help="list at most this many runs (default: 20)")
    runs.add_argument("--json", action="store_true", help="print the runs as a JSON list of objects")
    runs.set_defaults(handler=_show_runs)
    alerts = verbs.add_parser("alerts", help="notify through a Prefect block when a connection's runs fail, crash, "
                              "need attention or are overdue (Prefect automations)")
    if argv[:1] == ["alerts"]:  # its options, description (with an example) and handlers: ops/alerts.py
        importlib.import_module("ops.alerts").add_arguments(alerts)
    failures = verbs.add_parser(
        "failures", help="list the records failing now: entity, side, id, error (never field values)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="List every record of a connection whose latest sync attempt failed: its entity, side and id,\n"
        "the error's code and message (never field values), since when it fails, its last attempt and the run.\n\n"
        "example:\n  tandem failures --connection acme --entity contact --since 2026-12-01T08:00",
    )
    failures.add_argument("--connection", default="demo", help="the Tandem Sync Connection block (default: demo)")
    failures.add_argument("--entity", help="only this entity's records (an entity of the connection's mapping set)")
    failures.add_argument("--since", metavar="WHEN",
                          help="only records that failed at or after this ISO date or time (UTC unless it has an "
                          "offset): 2026-12-01, 2026-12-01T08:00, 2026-12-01T08:00+01:00")
    failures.add_argument("--limit", type=int, default=500, help="list at most this many (default: 500)")
    failures.add_argument("--json", action="store_true", help="print the records as a JSON list of objects")
    failures.set_defaults(handler=_show_failures)
    check = verbs.add_parser(
        "check", help="check the Salesforce org has every object, field and permission the mappings need",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Describe a connection's Salesforce org and list, one line each, what its mappings need and the\n"
        "org lacks: objects, fields, types, lengths, external ids, the integration user's access. Exits 1 when\n"
        "anything is missing. --deploy first deploys salesforce/ (objects, fields, the Tandem_Integration\n"
        "permission set) through the Metadata API. See docs/salesforce-org-setup.md.\n\n"
        "example:\n  tandem check --connection acme --deploy",
    )
    check.add_argument("--connection", required=True, help="the Tandem Sync Connection block whose org to check")
    check.add_argument("--deploy", action="store_true", help="deploy salesforce/ through the Metadata API first")
    check.set_defaults(handler=_check_org)
    coupling = importlib.import_module("ops.coupling")  # options, descriptions and handlers: ops/coupling.py
    coupling.add_couple_arguments(verbs.add_parser(
        "couple", help="couple existing records by hand, from a CSV of pairs, or by the match keys (--match)"))
    coupling.add_uncouple_arguments(verbs.add_parser(
        "uncouple", help="remove a record's coupling: neither record syncs until coupled again"))
    importlib.import_module("ops.tasks_due").add_arguments(verbs.add_parser(  # ops/tasks_due.py: options, handler
        "tasks", help="the synced reminder tasks due today and tomorrow, with their sync status (tasks due)"))
    importlib.import_module("ops.store_cli").add_arguments(verbs.add_parser(  # ops/store_cli.py: options, handlers
        "store", help="the state store's schema version: upgrade it (store upgrade) or show it (store current)"))
    importlib.import_module("ops.pairing_cli").add_arguments(verbs.add_parser(  # ops/pairing_cli.py: options, handlers
        "pairing", help="the org ↔ ERP account pairing recorded in both systems: show it, release it"))
    wizard = importlib.import_module("ops.connect_cli")  # options and handlers: ops/connect_cli.py
    connect = verbs.add_parser("connect", help="set up or change a connection step by step (assisted setup)")
    wizard.add_connect_arguments(connect)
    connect.set_defaults(handler=wizard.run_connect)
    switch = verbs.add_parser("connection", help="the sync switch: enable or disable a connection (or one entity)")
    wizard.add_connection_arguments(switch)
    switch.set_defaults(handler=wizard.run_connection)
    chosen = argv[1] if len(argv) > 1 and argv[0] == "emulate" else None
    for name, (module_name, summary) in EMULATORS.items():
        sub = kinds.add_parser(name, help=summary, description=summary)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(sub)
            sub.set_defaults(handler=module.run)
    return parser


def _choose_prefect(command: str) -> None:
    from ops.prefect_home import use_demo_home_when_unset

    home = use_demo_home_when_unset()
    if home is not None:
        print(f"tandem {command}: reading the demo's blocks from {home} (set PREFECT_API_URL for your server)",
              file=sys.stderr)


def _deploy(args: argparse.Namespace) -> int:
    from ops.deploy import main_deploy

    return main_deploy(
        args.connection, pool=args.pool, start_in_seconds=args.start_in, only=args.only, print_only=args.print_only
    )


def _show_runs(args: argparse.Namespace) -> int:
    from ops.runs import main_runs

    return main_runs(args.connection, limit=args.limit, as_json=args.json)


def _run_demo(args: argparse.Namespace) -> int:
    from flows.demo import run_demo

    return run_demo(crm=args.crm)


def _show_card(args: argparse.Namespace) -> int:
    from tandem.store.tables import Side
    from web.sources import card_source

    cards = card_source(args.connection, store_must_exist=True).cards(Side(args.side), args.object, args.id)
    if not cards:
        print(f"no entity of connection {args.connection!r} syncs the {args.side} type {args.object!r}",
              file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([card.as_dict() for card in cards], indent=2))
        return 0
    for card in cards:
        partner = card.synced_with
        print(f"{card.entity}: {card.status.value}")
        shown = "-"
        if partner is not None:
            shown = f"{partner.object} {partner.id}" + (f"  {partner.url}" if partner.url else "")
        print(f"  synced with:  {shown}")
        print(f"  status:       {card.detail}")
        print(f"  last updated: {card.last_updated.isoformat() if card.last_updated else 'never'}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from emulators.common.server import bind_socket
    from web.app import create_app
    from web.sources import load_connection

    # The port first (a bad or busy one is one line at once), then the connection: a missing block or server is
    # one line, and a temporary Prefect server starts here, not inside the first request (where it cannot).
    sock = bind_socket(args.host, args.port)
    with sock:
        load_connection(args.connection)
        config = uvicorn.Config(create_app(args.connection), host=args.host, port=sock.getsockname()[1])
        uvicorn.Server(config).run(sockets=[sock])
    return 0


def _show_failures(args: argparse.Namespace) -> int:
    from tandem.errors import CommandError
    from tandem.status.failures import UnknownEntityError, format_table, parse_since
    from web.sources import failure_source

    try:
        since = parse_since(args.since) if args.since else None
    except ValueError as exc:
        raise CommandError(f"--since: {exc}") from None
    if args.limit < 1:
        raise CommandError("--limit must be 1 or more")
    source = failure_source(args.connection, store_must_exist=True)
    try:
        found = source.failures(entity=args.entity, since=since, limit=args.limit)
    except UnknownEntityError as exc:
        raise CommandError(str(exc)) from None
    if args.json:
        print(json.dumps([record.as_dict() for record in found.records], indent=2))
        return 0
    if not found.records:
        print(f"no failing records on connection {args.connection!r}")
        return 0
    print(format_table(found.records))
    more = " (more fail: raise --limit or narrow with --entity / --since)" if found.truncated else ""
    print(f"{len(found.records)} failing records{more}")
    return 0


def _check_org(args: argparse.Namespace) -> int:
    from tandem.errors import CommandError
    from tandem.mapping import MappingError
    from tandem.salesforce.metadata_deploy import run_check
    from web.sources import load_connection

    block = load_connection(args.connection)
    try:
        mappings = block.mapping_set_for_run()
    except MappingError as exc:
        raise CommandError(f"the mapping set of connection {args.connection!r} is invalid: {exc}") from None
    return run_check(block.require_salesforce("tandem check").login, mappings, deploy=args.deploy)


def _show_schedule(args: argparse.Namespace) -> int:
    from web.sources import schedule

    rows, origin = schedule()
    if args.json:
        print(json.dumps({"source": origin, "deployments": [row.as_dict() for row in rows]}, indent=2))
        return 0
    print(f"from {origin}")
    header = ("deployment", "connection", "syncs", "direction", "how often", "last run", "next run")
    table = [header] + [
        (r.deployment, r.connection or "-", r.syncs, r.direction, r.how_often,
         f"{r.last_run_state} {r.last_run_at:%Y-%m-%d %H:%M}" if r.last_run_at else "-",
         f"{r.next_run_at:%Y-%m-%d %H:%M} UTC" if r.next_run_at else "-")
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))
    warned = [r for r in rows if r.warning]
    for r in warned:
        print(f"warning: {r.deployment}: {r.warning}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the ``tandem`` command line and return its exit code."""
    from emulators.common.errors import ListenError
    from tandem.errors import CommandError

    argv = sys.argv[1:] if argv is None else argv
    for sender in QUIET_SENDERS:
        logging.getLogger(sender).setLevel(logging.ERROR)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        if args.command in READS_BLOCKS:
            _choose_prefect(args.command)
        return int(args.handler(args) or 0)
    except (CommandError, ListenError) as exc:
        print(f"tandem {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
