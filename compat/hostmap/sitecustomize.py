"""Resolve Salesforce's login hosts to the emulator, as an ``/etc/hosts`` entry would (compatibility runs only).

The clients under test hard-code ``https://login.salesforce.com`` (or ``test.salesforce.com``). The
harness puts this directory on ``PYTHONPATH`` and sets ``TANDEM_COMPAT_HOSTS`` to
``login.salesforce.com=127.0.0.1:8443,test.salesforce.com=127.0.0.1:8443``; Python imports this
module at start-up and ``socket.getaddrinfo`` then answers the emulator's address and port for those
names (port 443 only). Nothing else changes: TLS still checks the name against the emulator's
certificate (issued for those names by the harness) and the client's own code runs unmodified.
"""

from __future__ import annotations

import os
import socket
from typing import Any

_original_getaddrinfo = socket.getaddrinfo


def _mapping(spec: str) -> dict[str, tuple[str, int]]:
    hosts: dict[str, tuple[str, int]] = {}
    for entry in filter(None, (part.strip() for part in spec.split(","))):
        name, _, target = entry.partition("=")
        address, _, port = target.rpartition(":")
        hosts[name.lower()] = (address, int(port))
    return hosts


_HOSTS = _mapping(os.environ.get("TANDEM_COMPAT_HOSTS", ""))


def _getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    name = host.decode() if isinstance(host, bytes) else host
    target = _HOSTS.get(str(name).lower()) if name else None
    if target is not None and str(port) in {"443", "https"}:
        return _original_getaddrinfo(target[0], target[1], *args, **kwargs)
    return _original_getaddrinfo(host, port, *args, **kwargs)


if _HOSTS:
    socket.getaddrinfo = _getaddrinfo
