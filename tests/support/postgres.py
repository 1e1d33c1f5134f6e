"""A real, throw-away PostgreSQL server for tests.

:func:`postgres_server` installs Debian's ``postgresql`` package when no server binaries are found
(``apt-get``; needs root), creates a cluster in a temporary directory (as the ``postgres`` OS user
when running as root, since ``initdb`` refuses root), starts it on a free localhost port with
trust authentication, creates a database, yields its ``postgresql+psycopg://`` URL, and stops and
removes the cluster afterwards.

Set ``TANDEM_TEST_POSTGRES_URL`` to use an existing server instead (a CI service container).

Every failure raises :class:`PostgresUnavailableError` with what went wrong and the server log's
tail, so a test session fails loudly instead of skipping PostgreSQL.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

#: Use this server URL instead of starting one.
URL_ENVIRONMENT_VARIABLE = "TANDEM_TEST_POSTGRES_URL"
_APT_TIMEOUT_S = 900
_COMMAND_TIMEOUT_S = 120
_START_ATTEMPTS = 3
_DATABASE = "tandem_test"
_SERVER_SETTINGS = (
    "-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off "
    "-c max_connections=50 -c shared_buffers=32MB"
)


class PostgresUnavailableError(RuntimeError):
    """PostgreSQL could not be installed, initialised or started."""


@dataclass(frozen=True)
class PostgresServer:
    """A running server.

    Attributes:
        url: SQLAlchemy URL of the test database (``postgresql+psycopg://...``).
        port: the TCP port on 127.0.0.1.
        data_dir: the cluster's directory (``None`` for an external server).
    """

    url: str
    port: int
    data_dir: Path | None


def find_bin_dir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` that has ``initdb`` and ``pg_ctl``, if any."""
    candidates = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    usable = [c for c in candidates if (c / "pg_ctl").exists()]
    if not usable:
        return None
    return max(usable, key=lambda c: [int(part) for part in c.parent.name.split(".") if part.isdigit()])


def install_postgres() -> Path:
    """Install Debian's ``postgresql`` package (tolerating it being installed already).

    Raises:
        PostgresUnavailableError: not root, no apt-get, or the installation failed.
    """
    existing = find_bin_dir()
    if existing is not None:
        return existing
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise PostgresUnavailableError(
            "PostgreSQL server binaries are missing (/usr/lib/postgresql/*/bin) and cannot be installed here "
            "(installing needs root and apt-get): install the 'postgresql' package or set "
            f"{URL_ENVIRONMENT_VARIABLE}"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"]):
        try:
            completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=_APT_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise PostgresUnavailableError(f"{' '.join(command)} timed out after {_APT_TIMEOUT_S} s") from exc
        if completed.returncode != 0:
            raise PostgresUnavailableError(
                f"{' '.join(command)} failed ({completed.returncode}): {completed.stderr[-2000:]}"
            )
    installed = find_bin_dir()
    if installed is None:
        raise PostgresUnavailableError("the postgresql package installed, but no initdb/pg_ctl was found")
    return installed


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Cluster:
    """Runs the server's commands as the right OS user."""

    def __init__(self, bin_dir: Path, root: Path) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.data_dir = root / "data"
        self.log_file = root / "server.log"
        self.user: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError as exc:
                raise PostgresUnavailableError(
                    "running as root, but there is no 'postgres' OS user to run the server as"
                ) from exc
            self.user = "postgres"
            shutil.chown(root, user="postgres", group=pwd.getpwnam("postgres").pw_gid)

    def run(self, tool: str, *args: str, timeout: float = _COMMAND_TIMEOUT_S) -> None:
        command = [str(self.bin_dir / tool), *args]
        try:
            completed = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout, user=self.user, cwd=self.root
            )
        except subprocess.TimeoutExpired as exc:
            raise PostgresUnavailableError(f"{tool} timed out after {timeout} s{self.log_tail()}") from exc
        except OSError as exc:
            raise PostgresUnavailableError(f"cannot run {tool}: {exc}") from exc
        if completed.returncode != 0:
            raise PostgresUnavailableError(
                f"{tool} failed ({completed.returncode}): {(completed.stderr or completed.stdout)[-2000:]}"
                f"{self.log_tail()}"
            )

    def log_tail(self) -> str:
        try:
            return "\nserver log:\n" + self.log_file.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def init(self) -> None:
        self.run("initdb", "-D", str(self.data_dir), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale")

    def start(self, port: int) -> None:
        options = f"-p {port} -k {self.root} {_SERVER_SETTINGS}"
        self.run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-o", options, "-w", "-t", "60", "start")

    def stop(self) -> None:
        self.run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "30", "stop")


def _wait_for_connection(dsn: str, deadline_s: float = 30.0) -> None:
    started = time.monotonic()
    while True:
        try:
            with psycopg.connect(dsn, connect_timeout=5):
                return
        except psycopg.OperationalError as exc:
            if time.monotonic() - started > deadline_s:
                raise PostgresUnavailableError(f"the server does not accept connections: {exc}") from exc
            time.sleep(0.2)


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A running PostgreSQL server with an empty test database, stopped and removed afterwards.

    Raises:
        PostgresUnavailableError: the server could not be installed, initialised or started.
    """
    external = os.environ.get(URL_ENVIRONMENT_VARIABLE)
    if external:
        yield PostgresServer(url=external, port=make_url(external).port or 5432, data_dir=None)
        return
    bin_dir = install_postgres()
    root = Path(tempfile.mkdtemp(prefix="tandem-pg-"))
    cluster: _Cluster | None = None
    started = False
    try:
        cluster = _Cluster(bin_dir, root)
        cluster.init()
        port = 0
        for attempt in range(_START_ATTEMPTS):
            port = _free_port()
            try:
                cluster.start(port)
                started = True
                break
            except PostgresUnavailableError:
                if attempt == _START_ATTEMPTS - 1:
                    raise
        admin_dsn = f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
        _wait_for_connection(admin_dsn)
        with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=10) as admin:
            admin.execute(f"CREATE DATABASE {_DATABASE}")
        yield PostgresServer(
            url=f"postgresql+psycopg://postgres@127.0.0.1:{port}/{_DATABASE}", port=port, data_dir=cluster.data_dir
        )
    finally:
        if cluster is not None and started:
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
