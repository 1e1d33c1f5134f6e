"""Stopping the deployment tests' background commands (tests/support/prefect_server.py) leaves nothing running:
a worker starts each flow run in a process group of its own, which a signal to the worker's group misses."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.support.prefect_server import process_stat, start_background


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped is not)."""
    fields = process_stat(pid)
    return fields is not None and fields[0] != "Z"


def test_a_stopped_command_takes_what_it_started_in_another_session_with_it(tmp_path: Path) -> None:
    log = tmp_path / "spawner.log"
    spawner = start_background("spawner", ["bash", "-c", "setsid sleep 120 & echo $!; wait"], log, dict(os.environ))
    deadline = time.monotonic() + 30
    while not log.read_text().strip() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(log.read_text().split()[0])
    while running(child) and os.getpgid(child) == spawner.popen.pid and time.monotonic() < deadline:
        time.sleep(0.05)  # `$!` is printed as soon as bash forks: `setsid` may not have run yet
    assert running(child) and os.getpgid(child) != spawner.popen.pid  # out of the spawner's process group

    spawner.stop(timeout=2)

    deadline = time.monotonic() + 10
    while running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(child)
    assert not spawner.running()
