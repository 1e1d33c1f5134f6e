"""Command-line options every emulator takes."""

from __future__ import annotations

import argparse
from pathlib import Path

from emulators.common.faults import parse_fault_flag


def add_common_arguments(parser: argparse.ArgumentParser, *, default_port: int, default_data_dir: str) -> None:
    """Add ``--host --port --data-dir --seed --reset --fault --log-level`` to ``parser``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=default_port, help=f"port to listen on; 0 picks a free one (default {default_port})"
    )
    parser.add_argument(
        "--data-dir", type=Path, default=Path(default_data_dir),
        help=f"where records persist (default {default_data_dir})",
    )
    parser.add_argument(
        "--seed", choices=["demo", "none"], default="none",
        help="data set to load when the store is empty (default none)",
    )
    parser.add_argument("--reset", action="store_true", help="wipe the stored records before starting")
    parser.add_argument(
        "--fault", action="append", default=[], type=_fault, metavar="PATTERN=KIND[,option=value]",
        help=(
            "inject a fault from the start, e.g. 'query=http_503,count=2' or "
            "'upsertList=latency,probability=0.1,latency_ms=300'; repeatable"
        ),
    )
    parser.add_argument("--log-level", default="warning", help="server log level (default warning)")


def _fault(text: str) -> dict[str, object]:
    try:
        return parse_fault_flag(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
