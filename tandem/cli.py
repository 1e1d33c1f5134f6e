"""The ``tandem`` command line."""

from __future__ import annotations

import argparse
import importlib
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


def main(argv: list[str] | None = None) -> int:
    """Run the ``tandem`` command line and return its exit code."""
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
