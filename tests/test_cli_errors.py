"""A user's mistakes on the command line get one line, a hint and exit code 2, never a traceback, and fast.

Each case runs the real ``tandem`` command in a subprocess, in an empty directory with an empty home and no
``PREFECT_*`` variable, so neither the developer's Prefect profile nor a demo run in the checkout changes
what it sees.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulators.common.errors import ListenError
from emulators.common.server import bind_socket
from ops.prefect_home import DEMO_PREFECT_HOME, NO_PREFECT, use_demo_home_when_unset
from tandem.errors import CommandError
from tests.support.prefect_server import free_port

ROOT = Path(__file__).resolve().parents[1]
#: A mistake is reported before any server starts: well under Prefect's temporary server's 15 to 30 s.
FAST_SECONDS = 10.0


def tandem(*args: str, cwd: Path, **prefect: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run ``tandem ARGS`` with a clean Prefect environment (only the ``PREFECT_*`` settings given); return the
    result and its wall time."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(HOME=str(cwd), PYTHONPATH=str(ROOT), **prefect)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "ops.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)
    return done, time.monotonic() - started


def assert_one_line_error(done: subprocess.CompletedProcess[str], prefix: str, *hints: str) -> None:
    """Exit code 2, nothing on stdout, exactly one line on stderr that starts with ``prefix`` and holds the hints."""
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(prefix), done.stderr
    for hint in hints:
        assert hint in done.stderr, done.stderr


@pytest.fixture
def listening() -> Iterator[int]:
    """A port something already listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_port_out_of_range_is_one_line(tmp_path: Path) -> None:
    done, took = tandem("emulate", "salesforce", "--port", "99999", "--data-dir", str(tmp_path / "sf"), cwd=tmp_path)
    assert_one_line_error(done, "tandem emulate: --port 99999 is not a port", "0 to pick a free one")
    assert took < FAST_SECONDS


@pytest.mark.parametrize("kind", ["salesforce", "erp"])
def test_a_busy_port_is_one_line(kind: str, listening: int, tmp_path: Path) -> None:
    done, took = tandem("emulate", kind, "--port", str(listening), "--data-dir", str(tmp_path / kind), cwd=tmp_path)
    assert_one_line_error(done, f"tandem emulate: 127.0.0.1:{listening} is already in use", "another --port")
    assert took < FAST_SECONDS
    assert not (tmp_path / kind / "server.json").exists()  # no ready file claims it listens


def test_an_address_this_machine_does_not_have_is_one_line(tmp_path: Path) -> None:
    done, _ = tandem("emulate", "salesforce", "--host", "192.0.2.1", "--port", "0", "--data-dir", str(tmp_path),
                     cwd=tmp_path)
    assert_one_line_error(done, "tandem emulate: cannot listen on '192.0.2.1'", "127.0.0.1")


@pytest.mark.parametrize("port", ["99999", "busy"])
def test_serve_refuses_a_bad_or_busy_port_before_it_reads_a_block(port: str, listening: int, tmp_path: Path) -> None:
    chosen = str(listening) if port == "busy" else port
    # A server is set (nothing answers there): the port is checked first, so no block is looked for.
    done, took = tandem("serve", "--port", chosen, cwd=tmp_path, PREFECT_API_URL="http://127.0.0.1:9/api")
    expected = f"127.0.0.1:{listening} is already in use" if port == "busy" else "--port 99999 is not a port"
    assert_one_line_error(done, f"tandem serve: {expected}", "0 ")
    assert took < FAST_SECONDS


def test_bind_socket_raises_listen_error_and_closes_nothing_it_should_keep(listening: int) -> None:
    with pytest.raises(ListenError, match="already in use"):
        bind_socket("127.0.0.1", listening)
    with pytest.raises(ListenError, match="-1 is not a port"):
        bind_socket("127.0.0.1", -1)
    sock = bind_socket("127.0.0.1", 0)  # port 0 still picks a free one
    try:
        assert sock.getsockname()[1] > 0
    finally:
        sock.close()


#: The commands that read a connection's block, each as a user would type it.
BLOCK_READERS = [
    ("card", "crm", "Contact", "0035g0000000001AAA"),
    ("failures",),
    ("serve", "--port", "0"),
    ("check", "--connection", "acme"),
]


@pytest.mark.parametrize("args", BLOCK_READERS)
def test_without_a_prefect_server_or_a_demo_the_block_readers_say_what_to_do_at_once(
    args: tuple[str, ...], tmp_path: Path
) -> None:
    done, took = tandem(*args, cwd=tmp_path)
    assert_one_line_error(done, f"tandem {args[0]}: no Prefect server set and no demo run in this directory",
                          "make demo", "PREFECT_API_URL")
    assert took < FAST_SECONDS  # no temporary Prefect server is started to find out


@pytest.mark.parametrize("verb", BLOCK_READERS)
def test_a_prefect_server_that_does_not_answer_is_one_line_at_once(verb: tuple[str, ...], tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/api"
    done, took = tandem(*verb, cwd=tmp_path, PREFECT_API_URL=url)
    assert_one_line_error(done, f"tandem {verb[0]}: the Prefect server at {url} does not answer", "PREFECT_API_URL")
    assert took < FAST_SECONDS


def verbs() -> list[str]:
    """Every ``tandem`` verb, as the parser has them."""
    from ops.cli import build_parser

    return list(next(a for a in build_parser([])._actions if isinstance(a, argparse._SubParsersAction)).choices)


@pytest.mark.parametrize("verb", verbs())
def test_every_verb_has_a_description_and_an_example(verb: str, tmp_path: Path) -> None:
    done, _ = tandem(verb, "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    usage, _, rest = done.stdout.partition("\n\n")
    description = rest.split("\n\n")[0]
    assert usage.startswith(f"usage: tandem {verb}"), done.stdout
    assert not description.startswith(("positional arguments", "options")) and len(description) > 40, done.stdout
    example = done.stdout.partition("example:\n  ")[2]
    assert f"tandem {verb}" in example.split("\n\n")[0], done.stdout  # an example that runs this verb


@pytest.fixture
def unloaded_prefect(monkeypatch: pytest.MonkeyPatch) -> None:
    """Act as a fresh process: Prefect's settings not imported yet (other tests of the session imported them)."""
    monkeypatch.delitem(sys.modules, "prefect.settings", raising=False)


def make_demo_home(directory: Path) -> Path:
    home = directory / DEMO_PREFECT_HOME
    home.mkdir(parents=True)
    (home / "prefect.db").write_bytes(b"")
    return home


@pytest.mark.usefixtures("unloaded_prefect")
def test_the_demo_home_is_used_when_nothing_else_is_chosen(tmp_path: Path) -> None:
    home = make_demo_home(tmp_path)
    environ = {"HOME": str(tmp_path)}
    assert use_demo_home_when_unset(environ, (tmp_path,)) == home.resolve()
    assert environ["PREFECT_HOME"] == str(home.resolve())
    assert environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] == "120"


@pytest.mark.usefixtures("unloaded_prefect")
@pytest.mark.parametrize("chosen", [{"PREFECT_API_URL": "http://127.0.0.1:4200/api"}, {"PREFECT_HOME": "/srv/p"}])
def test_a_server_or_home_the_user_chose_stands(chosen: dict[str, str], tmp_path: Path) -> None:
    make_demo_home(tmp_path)
    environ = {"HOME": str(tmp_path), **chosen}
    assert use_demo_home_when_unset(environ, (tmp_path,)) is None
    assert environ == {"HOME": str(tmp_path), **chosen}


@pytest.mark.usefixtures("unloaded_prefect")
def test_the_active_profiles_server_stands(tmp_path: Path) -> None:
    make_demo_home(tmp_path)
    profiles = tmp_path / "profiles.toml"
    profiles.write_text('active = "ops"\n[profiles.ops]\nPREFECT_API_URL = "http://prefect.internal:4200/api"\n'
                        '[profiles.local]\n')
    environ = {"PREFECT_PROFILES_PATH": str(profiles)}
    assert use_demo_home_when_unset(environ, (tmp_path,)) is None
    environ["PREFECT_PROFILE"] = "local"  # a profile without a server: the demo's home again
    assert use_demo_home_when_unset(environ, (tmp_path,)) is not None


@pytest.mark.usefixtures("unloaded_prefect")
def test_no_server_no_home_no_demo_is_a_command_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError) as raised:
        use_demo_home_when_unset({"HOME": str(tmp_path)}, (tmp_path,))
    assert str(raised.value) == NO_PREFECT


def test_settings_already_in_force_stand(tmp_path: Path) -> None:
    import prefect.settings  # noqa: F401 - a program (or a test harness) that imported Prefect before the CLI

    make_demo_home(tmp_path)
    environ = {"HOME": str(tmp_path)}
    assert use_demo_home_when_unset(environ, (tmp_path,)) is None and "PREFECT_HOME" not in environ
