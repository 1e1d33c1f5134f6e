"""A real local Prefect server, the ``prefect`` CLI and a worker, each in its own process (not the test harness).

Everything an operator would type runs as a subprocess of the venv's ``prefect`` command, from the
repository root, with an environment of its own: ``PREFECT_HOME`` (and so the server's SQLite
database and the profiles) in a temporary directory, ``PREFECT_API_URL`` pointing at this server
(without it the CLI would quietly start a temporary server of its own), and the port given through
``PREFECT_SERVER_API_PORT`` so that the UI talks to the same port.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import requests
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker

from tests.support.prefect_database import database_from_template

ROOT = Path(__file__).resolve().parents[2]
PREFECT = Path(sys.executable).with_name("prefect")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 60) -> str:
    """The last ``lines`` lines of a log file (for failure messages)."""
    if not path.exists():
        return f"({path} was not written)"
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:]) or f"({path} is empty)"


#: How long a stopped server or worker is given to exit before it is killed. A server exits in 1-2 s; a worker that
#: ran flow runs sometimes kept its process for the whole grace period under load (20 s, then killed, on the pytest
#: worker that was waiting for it).
STOP_SECONDS = 5.0


@dataclass
class Background:
    """A command started in its own process group, its output in a log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def running(self) -> bool:
        """Whether the process is still alive."""
        return self.popen.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        """The end of the process's output, headed by its name."""
        return f"--- last lines of the {self.name} log ({self.log_path}) ---\n{tail(self.log_path, lines)}"

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """SIGTERM to the whole process group, SIGKILL after ``timeout`` seconds."""
        stop_all([self], timeout=timeout)


def stop_all(processes: list[Background], timeout: float = STOP_SECONDS) -> None:
    """Stop several background commands together: SIGTERM to each process group at once, then SIGKILL to those
    still running ``timeout`` seconds later (one grace period for all, not one each), and to every process they
    started (a worker's flow runs run in process groups of their own)."""
    started = [pid for process in processes for pid in descendants(process.popen.pid)]
    for process in processes:
        if process.popen.poll() is None:
            _signal_group(process.popen.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(process.popen.pid, signal.SIGKILL)
            process.popen.wait(timeout=10)
        # Whatever the leader left behind in its group goes too.
        _signal_group(process.popen.pid, signal.SIGKILL)
    for pid, started_at in started:
        if _start_time(pid) == started_at:  # the same process, not a later one given its number
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def descendants(pid: int) -> list[tuple[int, str]]:
    """The processes ``pid`` started, and theirs, each with its start time (from ``/proc``; none without it)."""
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        fields = process_stat(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append((int(entry.name), fields[19]))
    found, pending = [], list(children.get(pid, []))
    while pending:
        child = pending.pop()
        found.append(child)
        pending.extend(children.get(child[0], []))
    return found


def _start_time(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks after boot), or None when there is no such process."""
    fields = process_stat(pid)
    return fields[19] if fields is not None else None


def process_stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command's name (state, parent, ...), or None: no such process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return fields if len(fields) > 19 else None


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pgid, sig)


@dataclass
class PrefectServer:
    """A started Prefect server (``prefect server start``, or the harness's) and the environment that points the CLI
    and clients at it."""

    home: Path
    port: int
    process: Background

    @property
    def url(self) -> str:
        """The server's base URL (the UI)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """What ``PREFECT_API_URL`` must be set to."""
        return f"{self.url}/api"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of an operator's shell: this server, this home, nothing else of Prefect's."""
        return server_env(self.home, self.port, **extra)

    def cli(self, *args: str, timeout: float = 120.0) -> str:
        """Run ``prefect ARGS`` from the repository root and return its output; fail with the output."""
        command = [str(PREFECT), *args]
        try:
            done = subprocess.run(
                command, cwd=ROOT, env=self.env(), capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(
                f"`prefect {' '.join(args)}` did not finish in {timeout:.0f} s\n{exc.output!s}"
                f"\n{self.process.log_tail()}"
            ) from exc
        output = done.stdout + done.stderr
        if done.returncode != 0:
            raise AssertionError(f"`prefect {' '.join(args)}` exited with {done.returncode}:\n{output}")
        return output

    def start(self, name: str, *args: str, log_dir: Path, **extra_env: str) -> Background:
        """Start ``prefect ARGS`` in the background from the repository root (a worker)."""
        return start_background(name, [str(PREFECT), *args], log_dir / f"{name}.log", self.env(**extra_env))


def server_env(home: Path, port: int, **extra: str) -> dict[str, str]:
    """The inherited environment without any ``PREFECT_*`` setting, then this server's settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_API_URL=f"http://127.0.0.1:{port}/api",
        PREFECT_SERVER_API_HOST="127.0.0.1",
        PREFECT_SERVER_API_PORT=str(port),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        # The scheduler runs as on any server (prefect.yaml's templates are all paused, so deploying them starts
        # nothing), looping every 2 s instead of 60 so that a connection's schedule fires within the test.
        PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="2",
        DO_NOT_TRACK="1",
    )
    env.update(extra)
    return env


def start_background(name: str, command: list[str], log_path: Path, env: dict[str, str]) -> Background:
    """Start ``command`` in a new session (its own process group) with its output in ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return Background(name=name, popen=popen, log_path=log_path)


def wait_until_healthy(server: PrefectServer, timeout: float) -> None:
    """Poll ``/api/health`` until it answers ``true``; fail with the server's log when it does not."""
    session = requests.Session()
    session.trust_env = False
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if not server.process.running():
            raise AssertionError(
                f"the {server.process.name} exited with {server.process.popen.returncode} before it was healthy\n"
                f"{server.process.log_tail()}"
            )
        try:
            response = session.get(f"{server.api_url}/health", timeout=2)
            if response.status_code == 200 and response.json() is True:
                return
            last = f"HTTP {response.status_code}"
        except requests.RequestException as exc:
            last = type(exc).__name__
        time.sleep(0.5)
    raise AssertionError(
        f"the Prefect server on port {server.port} was not healthy after {timeout:.0f} s ({last})\n"
        f"{server.process.log_tail()}"
    )


@contextmanager
def prefect_server(
    directory: Path, shared_dir: Path, timeout: float = 120.0, **extra_env: str
) -> Iterator[PrefectServer]:
    """``prefect server start`` on a free port with its own home and database under ``directory``.

    The database (``PREFECT_HOME``'s ``prefect.db``, Prefect's default) starts as a copy of the run's migrated
    template in ``shared_dir`` (tests/support/prefect_database.py), so that the server's migrations find nothing to
    do. ``extra_env`` are settings of the server process only (``PREFECT_SERVER_SERVICES_...``: which services
    run and how often they loop), on top of :func:`server_env`'s.
    """
    home = directory / "prefect-home"
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    with started_server(
        "server", [str(PREFECT), "server", "start"], server_env(home, port, **extra_env), home=home, port=port,
        database=home / "prefect.db", shared_dir=shared_dir, log_path=directory / "server.log", timeout=timeout,
    ) as server:
        yield server


@contextmanager
def started_server(
    name: str, command: list[str], env: dict[str, str], *, home: Path, port: int, database: Path, shared_dir: Path,
    log_path: Path, timeout: float,
) -> Iterator[PrefectServer]:
    """Run ``command`` (a Prefect server listening on ``port``, on the SQLite file ``database``) in the background
    for the ``with`` block, once ``/api/health`` answers; its database starts as a copy of the run's migrated
    template in ``shared_dir`` (tests/support/prefect_database.py), so that its migrations find nothing to do."""
    with ExitStack() as stack:
        with database_from_template(shared_dir, database):
            process = start_background(name, command, log_path, env)
            stack.callback(process.stop)
            server = PrefectServer(home=home, port=port, process=process)
            wait_until_healthy(server, timeout)
        yield server


#: How long a server is given to take what this process still has queued for it.
DRAIN_SECONDS = 60.0


def send_what_is_queued() -> None:
    """Send the events and log lines this process queued for its Prefect server while it still runs (a flow run in
    this process, a block saved), and stop their workers. Left queued for a stopped server, they would hang this
    process where it drains them, when it exits (or at the next server's end)."""
    for worker in (EventsWorker, APILogWorker):
        worker.drain_all(timeout=DRAIN_SECONDS, at_exit=False)
