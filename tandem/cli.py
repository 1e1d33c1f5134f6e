"""The ``tandem`` command line."""

from __future__ import annotations

import argparse
import importlib
import json
import sys

EMULATORS = {
    "salesforce": ("emulators.salesforce.cli", "a local Salesforce REST API (HTTPS) for the demo and the tests"),
    "erp": ("emulators.erp.cli", "a local SuiteTalk-style SOAP ERP for the demo and the tests"),
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    """Build the argument parser; only the emulator named in ``argv`` is imported."""
    parser = argparse.ArgumentParser(prog="tandem", description="Keep Salesforce and the ERP in step.")
    verbs = parser.add_subparsers(dest="command", required=True)

    emulate = verbs.add_parser("emulate", help="run a local emulator of Salesforce or the ERP")
    kinds = emulate.add_subparsers(dest="emulator", required=True)
    demo = verbs.add_parser("demo", help="start both emulators and run an initial import and a full sync")
    demo.set_defaults(handler=_run_demo)
    card = verbs.add_parser("card", help="show a record's sync status cards (one per entity it syncs through)")
    card.add_argument("side", choices=["crm", "erp"], help="the record's system")
    card.add_argument("object", help="its Salesforce object (Account) or ERP record type (customer)")
    card.add_argument("id", help="its id in that system")
    card.add_argument("--connection", default="demo", help="the Tandem Sync Connection block (default: demo)")
    card.add_argument("--json", action="store_true", help="print the cards as JSON")
    card.set_defaults(handler=_show_card)
    serve = verbs.add_parser("serve", help="serve the cards (JSON and HTML) and the schedule over HTTP")
    serve.add_argument("--connection", default="demo", help="the Tandem Sync Connection block (default: demo)")
    serve.add_argument("--host", default="127.0.0.1", help="the address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8765, help="the port (default: 8765)")
    serve.set_defaults(handler=_serve)
    schedule = verbs.add_parser("schedule", help="show what syncs when: one row per deployment")
    schedule.add_argument("--json", action="store_true", help="print the rows as JSON")
    schedule.set_defaults(handler=_show_schedule)
    chosen = argv[1] if len(argv) > 1 and argv[0] == "emulate" else None
    for name, (module_name, summary) in EMULATORS.items():
        sub = kinds.add_parser(name, help=summary, description=summary)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(sub)
            sub.set_defaults(handler=module.run)
    return parser


def _run_demo(args: argparse.Namespace) -> int:
    from flows.demo import run_demo

    return run_demo()


def _show_card(args: argparse.Namespace) -> int:
    from tandem.store.tables import Side
    from web.sources import card_source

    cards = card_source(args.connection).cards(Side(args.side), args.object, args.id)
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
        print(f"  synced with:  {f'{partner.object} {partner.id}  {partner.url}' if partner else '-'}")
        print(f"  status:       {card.detail}")
        print(f"  last updated: {card.last_updated.isoformat() if card.last_updated else 'never'}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from web.app import create_app

    uvicorn.run(create_app(args.connection), host=args.host, port=args.port)
    return 0


def _show_schedule(args: argparse.Namespace) -> int:
    from web.sources import schedule

    rows, origin = schedule()
    if args.json:
        print(json.dumps({"source": origin, "deployments": [row.as_dict() for row in rows]}, indent=2))
        return 0
    print(f"from {origin}")
    header = ("deployment", "syncs", "direction", "how often", "last run", "next run")
    table = [header] + [
        (r.deployment, r.syncs, r.direction, r.how_often,
         f"{r.last_run_state} {r.last_run_at:%Y-%m-%d %H:%M}" if r.last_run_at else "-",
         f"{r.next_run_at:%Y-%m-%d %H:%M} UTC" if r.next_run_at else "-")
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the ``tandem`` command line and return its exit code."""
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
