"""MkDocs hook: replace ``<!-- tandem-cli-help -->`` on a page with every ``tandem`` verb's ``--help``, taken
from the command line itself when the site is built, so the reference never falls behind the CLI."""

from __future__ import annotations

import argparse
import os
from typing import Any

MARKER = "<!-- tandem-cli-help -->"
#: Help is wrapped at this width whatever the terminal building the site.
COLUMNS = "100"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _section(words: list[str], parser: argparse.ArgumentParser, level: int) -> list[str]:
    lines = [f"{'#' * level} `tandem {' '.join(words)}`", "", "```text", parser.format_help().rstrip(), "```", ""]
    for name in _subcommands(parser):
        lines += _section([*words, name], _full_parser([*words, name]), level + 1)
    return lines


def _full_parser(words: list[str]) -> argparse.ArgumentParser:
    """The parser of ``tandem WORDS`` with its options loaded (the CLI imports a verb's options on demand)."""
    from ops.cli import build_parser

    parser = build_parser(words)
    for word in words:
        parser = _subcommands(parser)[word]
    return parser


def cli_reference() -> str:
    """Markdown: one section per verb (and sub-verb) with its help text."""
    from ops.cli import build_parser

    os.environ["COLUMNS"] = COLUMNS
    top = build_parser([])
    lines = ["```text", top.format_help().rstrip(), "```", ""]
    for verb in _subcommands(top):
        lines += _section([verb], _full_parser([verb]), 2)
    return "\n".join(lines)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Fill in the CLI reference where the page asks for it."""
    return markdown.replace(MARKER, cli_reference()) if MARKER in markdown else markdown
