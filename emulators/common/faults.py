"""Fault injection: rules that make matching requests fail, stall, or lose their response."""

from __future__ import annotations

import itertools
import random
import re
import threading
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class FaultKind(StrEnum):
    """What an injected fault does to a matching request."""

    HTTP_500 = "http_500"
    HTTP_503 = "http_503"
    HTTP_429 = "http_429"
    SOAP_FAULT = "soap_fault"
    RESET = "reset"
    LATENCY = "latency"
    COMMIT_THEN_DROP = "commit_then_drop"


@dataclass
class FaultRule:
    """One fault rule.

    ``pattern`` is a regular expression searched in ``"METHOD /path endpoint"`` (the endpoint is
    the emulator's name for the call, such as ``query`` or ``upsertList``). The rule fires either
    with ``probability`` on every match, or on the next ``count`` matches and then retires.
    """

    pattern: str
    kind: FaultKind
    probability: float | None = None
    count: int | None = None
    latency_ms: int = 0
    code: str | None = None
    id: int = 0
    fired: int = 0
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.kind = FaultKind(self.kind)
        try:
            self._regex = re.compile(self.pattern)
        except re.error as exc:
            raise ValueError(f"fault pattern {self.pattern!r} is not a regular expression: {exc}") from exc
        if (self.probability is None) == (self.count is None):
            raise ValueError("a fault rule takes exactly one of 'probability' or 'count'")
        if self.probability is not None and not 0.0 <= self.probability <= 1.0:
            raise ValueError("'probability' must be between 0 and 1")
        if self.count is not None and self.count < 1:
            raise ValueError("'count' must be at least 1")
        if self.kind is FaultKind.LATENCY and self.latency_ms <= 0:
            raise ValueError("a latency fault needs 'latency_ms' above 0")

    def to_json(self) -> dict[str, Any]:
        """The rule as JSON for the control API."""
        data = asdict(self)
        data.pop("_regex", None)
        data["kind"] = self.kind.value
        if self.count is not None:
            data["remaining"] = self.count
        return data


class FaultInjector:
    """Holds the fault rules and decides, per request, which one fires."""

    def __init__(self, seed: int | None = None) -> None:
        self._rules: list[FaultRule] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._random = random.Random(seed)

    def add(self, rule: FaultRule) -> FaultRule:
        """Add a rule and give it an id."""
        with self._lock:
            rule.id = next(self._ids)
            self._rules.append(rule)
        return rule

    def add_from_json(self, data: dict[str, Any]) -> FaultRule:
        """Add a rule from the control API's JSON (``pattern``, ``kind``, ``probability``|``count``)."""
        allowed = {"pattern", "kind", "probability", "count", "latency_ms", "code"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault option(s): {', '.join(sorted(unknown))}")
        if "pattern" not in data or "kind" not in data:
            raise ValueError("a fault rule needs 'pattern' and 'kind'")
        try:
            kind = FaultKind(data["kind"])
        except ValueError as exc:
            kinds = ", ".join(k.value for k in FaultKind)
            raise ValueError(f"unknown fault kind {data['kind']!r}; use one of {kinds}") from exc
        return self.add(
            FaultRule(
                pattern=str(data["pattern"]),
                kind=kind,
                probability=data.get("probability"),
                count=data.get("count"),
                latency_ms=int(data.get("latency_ms", 0)),
                code=data.get("code"),
            )
        )

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[FaultRule]:
        """The active rules."""
        with self._lock:
            return list(self._rules)

    def pick(self, subject: str) -> list[FaultRule]:
        """Return the rules that fire for ``subject`` (latency rules first), consuming counted ones."""
        fired: list[FaultRule] = []
        with self._lock:
            for rule in list(self._rules):
                if not rule._regex.search(subject):
                    continue
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count <= 0:
                        self._rules.remove(rule)
                elif self._random.random() >= (rule.probability or 0.0):
                    continue
                rule.fired += 1
                fired.append(rule)
        fired.sort(key=lambda r: r.kind is not FaultKind.LATENCY)
        return fired


def parse_fault_flag(text: str) -> dict[str, Any]:
    """Parse a ``--fault`` command-line value into control-API JSON.

    The form is ``PATTERN=KIND[,probability=P][,count=N][,latency_ms=MS][,code=CODE]``, for
    example ``query=http_503,count=2`` or ``upsertList=latency,probability=0.1,latency_ms=300``.
    """
    head, _, rest = text.partition(",")
    pattern, sep, kind = head.rpartition("=")
    if not sep or not pattern:
        raise ValueError(f"--fault {text!r}: expected PATTERN=KIND[,option=value...]")
    data: dict[str, Any] = {"pattern": pattern, "kind": kind}
    for part in filter(None, rest.split(",")):
        key, eq, value = part.partition("=")
        if not eq:
            raise ValueError(f"--fault {text!r}: option {part!r} is not key=value")
        if key == "probability":
            data[key] = float(value)
        elif key in {"count", "latency_ms"}:
            data[key] = int(value)
        else:
            data[key] = value
    return data
