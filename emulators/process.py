"""Start an emulator in its own process on a free port and stop it afterwards (demo, tests, benchmarks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class RunningEmulator:
    """A started emulator: where it listens and how to reach its controls."""

    kind: str
    data_dir: Path
    info: dict[str, Any]
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base_url(self) -> str:
        """``scheme://host:port`` of the emulator."""
        return str(self.info["base_url"])

    @property
    def ca_cert(self) -> str | None:
        """The CA file to trust, for an HTTPS emulator."""
        return self.info.get("ca_cert")

    def session(self) -> requests.Session:
        """A plain ``requests`` session that trusts the emulator's CA (and ignores the environment's)."""
        session = requests.Session()
        session.trust_env = False
        session.verify = self.ca_cert or True
        return session

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call ``/__emulator/{path}`` and return its JSON."""
        with self.session() as session:
            response = session.request(method, f"{self.base_url}/__emulator/{path}", timeout=120, **kwargs)
            response.raise_for_status()
            return response.json()

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 10 s)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_emulator(
    kind: str, data_dir: Path, *args: str, port: int = 0, timeout: float = 120.0
) -> RunningEmulator:
    """Start ``tandem emulate KIND`` with ``data_dir`` and wait until it listens.

    Args:
        kind: ``salesforce`` or ``erp``.
        data_dir: the emulator's data directory (its ready file ``server.json`` is read from there).
        *args: further command-line options (``--seed demo``, ``--fault ...``).
        port: the port; 0 picks a free one.
        timeout: seconds to wait for the ready file.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    ready = data_dir / "server.json"
    ready.unlink(missing_ok=True)
    log_path = data_dir / "emulator.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "ops.cli", "emulate", kind, "--host", "127.0.0.1", "--port", str(port),
             "--data-dir", str(data_dir), *args],
            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the {kind} emulator exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
        if ready.exists():
            try:
                info = json.loads(ready.read_text())
            except json.JSONDecodeError:
                time.sleep(0.05)
                continue
            return RunningEmulator(kind, data_dir, info, process, log_path)
        time.sleep(0.05)
    process.kill()
    raise TimeoutError(f"the {kind} emulator did not start within {timeout} s:\n{log_path.read_text()[-4000:]}")


@contextmanager
def running_emulator(kind: str, data_dir: Path, *args: str) -> Iterator[RunningEmulator]:
    """Context manager around :func:`start_emulator` that always stops the process."""
    emulator = start_emulator(kind, data_dir, *args)
    try:
        yield emulator
    finally:
        emulator.stop()
