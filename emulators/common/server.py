"""Run an emulator's ASGI app under uvicorn on a socket it binds itself (so port 0 works) and
publish where it listens in a ready file."""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from emulators.common.control import TRANSPORT_KEY
from emulators.common.errors import ListenError
from emulators.common.tls import TlsFiles, ensure_certificates

MAX_PORT = 65535


@dataclass(frozen=True)
class HttpsListener:
    """Where an HTTPS emulator listens: its certificates, its bound socket and its base URL."""

    tls: TlsFiles
    sock: socket.socket
    port: int
    base_url: str


def open_https(args: argparse.Namespace, database: str) -> HttpsListener:
    """The start every HTTPS emulator shares: logging at ``--log-level``, ``--data-dir`` created (with ``--reset``,
    its SQLite ``database`` files removed), the certificates, and a socket bound on ``--host``/``--port``.

    Raises:
        ListenError: the port is not one, is taken, or the host is not this machine's.
    """
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    data_dir: Path = args.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    if args.reset:
        for suffix in ("", "-wal", "-shm"):
            (data_dir / (database + suffix)).unlink(missing_ok=True)
    tls = ensure_certificates(data_dir / "tls")
    sock = bind_socket(args.host, args.port)
    port = sock.getsockname()[1]
    host = "127.0.0.1" if args.host in {"0.0.0.0", "127.0.0.1"} else args.host  # noqa: S104 - compare only
    return HttpsListener(tls=tls, sock=sock, port=port, base_url=f"https://{host}:{port}")


class TransportExposingProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol, with the connection's transport in ``scope["extensions"]`` so the
    fault middleware can reset a connection or drop a response."""

    def on_message_begin(self) -> None:
        """Start a request and expose the transport to the app."""
        super().on_message_begin()
        self.scope["extensions"] = {TRANSPORT_KEY: self.transport}  # type: ignore[dict-item]


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind and listen on ``host:port`` (``port`` 0 picks a free one).

    Raises:
        ListenError: ``port`` is outside 0 to 65535, already in use, or ``host`` is not an address of this
            machine (the message names it and what to do).
    """
    if not 0 <= port <= MAX_PORT:
        raise ListenError(f"--port {port} is not a port: use 1 to {MAX_PORT}, or 0 to pick a free one")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ListenError(_bind_failure(host, port, exc)) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _bind_failure(host: str, port: int, exc: OSError) -> str:
    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return f"{where} is already in use: stop what listens there, or pick another --port (0 picks a free one)"
    if exc.errno == errno.EACCES:
        return f"{where}: no permission to listen on port {port}: use a port above 1023 (0 picks a free one)"
    if exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
        return f"cannot listen on {host!r}: not an address of this machine (use 127.0.0.1 or 0.0.0.0)"
    return f"cannot listen on {where}: {exc.strerror or exc}"


def write_ready_file(path: Path, info: dict[str, Any]) -> None:
    """Write ``info`` as JSON to ``path`` atomically."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info, indent=2))
    os.replace(tmp, path)


def serve(
    app: Any,
    sock: socket.socket,
    *,
    tls: TlsFiles | None,
    ready_file: Path,
    info: dict[str, Any],
    log_level: str = "warning",
) -> None:
    """Serve ``app`` on the bound ``sock`` until interrupted.

    Args:
        app: the ASGI application.
        sock: a socket from :func:`bind_socket`.
        tls: certificate files for HTTPS, or ``None`` for plain HTTP.
        ready_file: written (with ``info`` and the pid) once the socket listens; removed on exit.
        info: what clients need to know: URLs, CA path, port.
        log_level: uvicorn's log level.
    """
    config = uvicorn.Config(
        app,
        http=TransportExposingProtocol,
        ssl_certfile=str(tls.server_cert) if tls else None,
        ssl_keyfile=str(tls.server_key) if tls else None,
        log_level=log_level,
        # The emulator's CLI configures logging; uvicorn must not rewrite the process's logging
        # configuration (its dictConfig walks every logger, racing other threads creating loggers).
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_keep_alive=30,
        # A connection a fault left half-open must not hold the shutdown up.
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    write_ready_file(ready_file, {**info, "pid": os.getpid()})
    try:
        server.run(sockets=[sock])
    finally:
        ready_file.unlink(missing_ok=True)
