"""The README's demo command, run as an operator runs it: twice, the second time nothing moves."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tandem.mapping import MAPPINGS_DIR, load_mapping_set


def run_demo(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return subprocess.run(
        [sys.executable, "-m", "ops.cli", "demo"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
        check=False,
    )


def test_the_demo_chooses_prefects_home_and_timeouts_before_prefect_reads_its_settings(tmp_path: Path) -> None:
    """Prefect reads its settings once, when it is first imported: the demo's own (its home under .tandem/demo, a
    temporary server given 120 s to start) hold only if importing the demo's module does not import Prefect."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    probe = (
        "from pathlib import Path\n"
        "import flows.demo\n"
        f"flows.demo._prepare_environment(Path({str(tmp_path)!r}))\n"
        "from prefect.settings import PREFECT_HOME, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS as STARTUP\n"
        "print(PREFECT_HOME.value(), STARTUP.value())\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=Path(__file__).resolve().parents[1], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(tmp_path / "prefect"), "120"]


def test_demo_syncs_then_finds_everything_in_step(tmp_path: Path) -> None:
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
