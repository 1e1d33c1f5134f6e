"""Questions with defaults for ``tandem connect``: asked at a terminal, or answered by flags (``--no-input``).

Every question has a key; its flag is ``--`` plus the key with dashes (``salesforce_username`` ->
``--salesforce-username``). A flag's value is checked like a typed answer. At a terminal a bad answer is
explained and asked again; without one (``--no-input``) it is one :class:`~tandem.errors.CommandError`.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import ValidationError

from tandem.errors import CommandError

T = TypeVar("T")

#: Shown in place of a saved secret's value; an empty answer keeps the secret.
SAVED = "saved, Enter keeps it"
YES = frozenset({"y", "yes", "true", "1", "on"})
NO = frozenset({"n", "no", "false", "0", "off"})


def flag(key: str) -> str:
    """The command-line flag that answers question ``key``."""
    return "--" + key.replace("_", "-")


def reason(exc: Exception) -> str:
    """A refusal's reason in one line (a pydantic error's message without its frame)."""
    if isinstance(exc, ValidationError):
        messages = [str(error["msg"]).removeprefix("Value error, ") for error in exc.errors()]
        return "; ".join(messages)
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


@dataclass
class Prompter:
    """Asks the wizard's questions: ``answers`` (from flags) first, then the terminal unless ``interactive`` is off.

    Attributes:
        interactive: ask at the terminal; off, an unanswered question takes its default or is an error.
        answers: question key -> the value given on the command line.
        out: where lines go.
        read: reads a visible answer (``input``).
        read_secret: reads a hidden answer (``getpass``).
    """

    interactive: bool
    answers: Mapping[str, str | None] = field(default_factory=dict)
    out: Callable[[str], None] = print
    read: Callable[[str], str] = input
    read_secret: Callable[[str], str] = getpass.getpass
    used: set[str] = field(default_factory=set)
    #: The last accepted answer per question (not secrets): the default when a refused step is asked again.
    last: dict[str, str] = field(default_factory=dict)

    def say(self, line: str) -> None:
        """Print one line."""
        self.out(line)

    def ask(self, key: str, label: str, default: str | None = None, *, check: Callable[[str], T] | None = None,
            secret: bool = False, optional: bool = False, has_saved: bool = False,
            show_default: bool = True) -> T | str | None:
        """Ask question ``key`` and return its checked answer.

        Args:
            key: the question's key (its flag is :func:`flag` of it).
            label: the question.
            default: the answer an empty reply (or ``--no-input``) takes.
            check: turns the text into the value, raising ``ValueError`` with the reason for a bad one.
            secret: hide what is typed; ``default`` is never shown.
            optional: an empty answer (with no default) is ``None`` rather than asked again.
            has_saved: for a secret, a saved value exists: an empty answer returns ``None`` (keep it).
            show_default: show ``default`` after the question (off when the label shows it).
        """
        given = self.answers.get(key) if key not in self.used else None
        self.used.add(key)
        if not secret and key in self.last:
            default = self.last[key]
        while True:
            if given is not None:
                text, given = given, None
            elif not self.interactive:
                if default is not None or optional or has_saved:
                    text = default or ""
                else:
                    raise CommandError(f"{flag(key)} is needed ({label.lower()}) when there is no terminal to ask")
            else:
                text = self._read(label, default if show_default else None, secret=secret, has_saved=has_saved)
            text = text.strip()
            if not text:
                if default is not None and not secret:
                    text = default
                elif optional or has_saved:
                    return None
                else:
                    self._refuse(key, "an answer is needed")
                    continue
            try:
                value = check(text) if check is not None else text
            except ValueError as exc:
                self._refuse(key, reason(exc))
                continue
            if not secret:
                self.last[key] = text
            return value

    def confirm(self, key: str, label: str, default: bool) -> bool:
        """Ask a yes/no question (its flag is ``--key`` / ``--no-key``)."""
        value = self.ask(key, label + (" [Y/n]" if default else " [y/N]"), "yes" if default else "no",
                         check=yes_or_no, show_default=False)
        return bool(value)

    def _read(self, label: str, default: str | None, *, secret: bool, has_saved: bool) -> str:
        if secret:
            hint = f" [{SAVED}]" if has_saved else ""
            return self.read_secret(f"{label}{hint}: ")
        hint = f" [{default}]" if default else ""
        return self.read(f"{label}{hint}: ")

    def _refuse(self, key: str, why: str) -> None:
        if not self.interactive:
            raise CommandError(f"{flag(key)}: {why}")
        self.out(f"  ! {why}; try again")


def yes_or_no(text: str) -> bool:
    """``yes``/``no`` (and y, n, true, false ...) as a bool."""
    if text.lower() in YES:
        return True
    if text.lower() in NO:
        return False
    raise ValueError(f"answer yes or no, not {text!r}")


def choice(options: tuple[str, ...]) -> Callable[[str], str]:
    """A check accepting one of ``options``."""

    def check(text: str) -> str:
        if text not in options:
            raise ValueError(f"{text!r} is not one of {', '.join(options)}")
        return text

    return check
