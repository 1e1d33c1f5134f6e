"""The README's demo command, run as an operator runs it: twice, the second time nothing moves; then the README's
`tandem card` example and `tandem serve` from the same directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from tandem.mapping import MAPPINGS_DIR, load_mapping_set
from tests.support.prefect_server import free_port, tail

README = Path(__file__).resolve().parents[1] / "README.md"


def clean_env() -> dict[str, str]:
    """This environment without a ``PREFECT_*`` setting: as on a machine where only the demo ran."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}


def tandem(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``tandem ARGS`` run in ``cwd`` as an operator runs it."""
    return subprocess.run([sys.executable, "-m", "ops.cli", *args], cwd=cwd, env=clean_env(), capture_output=True,
                          text=True, timeout=300, check=False)


def run_demo(cwd: Path) -> subprocess.CompletedProcess[str]:
    return tandem(cwd, "demo")


def test_the_demo_chooses_prefects_home_and_timeouts_before_prefect_reads_its_settings(tmp_path: Path) -> None:
    """Prefect reads its settings once, when it is first imported: the demo's own (its home under .tandem/demo, a
    temporary server given 120 s to start) hold only if importing the demo's module does not import Prefect."""
    env = clean_env()
    directory = tmp_path / ".tandem" / "demo"  # a first run: not there yet
    probe = (
        "from pathlib import Path\n"
        "import flows.demo\n"
        f"flows.demo._prepare_environment(Path({str(directory)!r}))\n"
        "from prefect.settings import PREFECT_HOME, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS as STARTUP\n"
        "print(PREFECT_HOME.value(), STARTUP.value())\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=Path(__file__).resolve().parents[1], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(directory / "prefect"), "120"]
    assert "Failed to create the Prefect home" not in done.stderr, done.stderr  # Prefect makes only its last part


def test_demo_syncs_then_finds_everything_in_step_and_the_readmes_card_and_serve_answer(tmp_path: Path) -> None:
    first = run_demo(tmp_path)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "Full sync (every entity, in dependency order):" in first.stdout
    moved = int(first.stdout.split(" records moved")[0].rsplit("\n", 1)[-1])
    assert moved > 3000
    entities = len(load_mapping_set(MAPPINGS_DIR / "default.yaml").entities)
    assert first.stdout.count(" succeeded ") == 2 * entities  # every entity, in both tables

    second = run_demo(tmp_path)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "\n0 records moved" in second.stdout
    assert (tmp_path / ".tandem" / "demo" / "state.sqlite3").exists()

    # The README's next step, as printed there, from the same directory with no Prefect server set.
    [example] = [line for line in README.read_text().splitlines() if line.startswith("$ .venv/bin/tandem card ")]
    card = tandem(tmp_path, *example.split()[2:])
    assert card.returncode == 0, card.stderr[-3000:]
    assert card.stdout.startswith("contact: up to date\n  synced with:  contact "), card.stdout
    home = tmp_path / ".tandem" / "demo" / "prefect"
    assert card.stderr == f"tandem card: reading the demo's blocks from {home} (set PREFECT_API_URL for your server)\n"

    # And `tandem serve`: the same card over HTTP.
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen([sys.executable, "-m", "ops.cli", "serve", "--port", str(port)], cwd=tmp_path,
                                  env=clean_env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        served = card_over_http(f"http://127.0.0.1:{port}/cards/crm/Contact/{example.split()[-1]}", server, log)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    assert [(c["entity"], c["status"]) for c in served] == [("contact", "up to date")], served


def card_over_http(url: str, server: subprocess.Popen[bytes], log: Path) -> list[dict[str, Any]]:
    """The JSON ``url`` answers once ``tandem serve`` listens (it starts the demo's Prefect server first)."""
    session = requests.Session()
    session.trust_env = False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert server.poll() is None, tail(log)
        try:
            answer = session.get(url, timeout=30)
        except requests.ConnectionError:
            time.sleep(0.25)
            continue
        assert answer.status_code == 200, answer.text
        return list(answer.json())
    raise AssertionError(f"tandem serve did not answer within 120 s:\n{tail(log)}")
