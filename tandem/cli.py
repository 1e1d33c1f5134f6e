"""The ``tandem`` command line."""

from __future__ import annotations

import argparse
import importlib
import sys

EMULATORS = {
    "salesforce": "emulators.salesforce.cli",
    "erp": "emulators.erp.cli",
}


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level argument parser with one sub-command per verb."""
    parser = argparse.ArgumentParser(prog="tandem", description="Keep Salesforce and the ERP in step.")
    verbs = parser.add_subparsers(dest="command", required=True)

    emulate = verbs.add_parser("emulate", help="run a local emulator of Salesforce or the ERP")
    kinds = emulate.add_subparsers(dest="emulator", required=True)
    for name, module_name in EMULATORS.items():
        module = importlib.import_module(module_name)
        sub = kinds.add_parser(name, help=module.__doc__.strip().splitlines()[0] if module.__doc__ else None)
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``tandem`` command line and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
