"""``tandem serve``'s web app on a free local port, in a thread, for browser and HTTP tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from web.app import create_app

#: How long the server may take to start.
START_SECONDS = 30.0


@contextmanager
def serving(connection: str) -> Iterator[str]:
    """Serve ``create_app(connection)`` on 127.0.0.1 (a free port) while the block runs; yield its base URL."""
    server = uvicorn.Server(uvicorn.Config(create_app(connection), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_SECONDS
    while not server.started:
        assert time.monotonic() < deadline, f"the web app of connection {connection!r} did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
