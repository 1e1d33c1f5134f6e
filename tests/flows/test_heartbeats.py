"""A flow run ends when its flow ends (flows/heartbeats.py), and still sends Prefect's heartbeat events."""

from __future__ import annotations

import time
from uuid import UUID

from prefect import flow
from prefect.client.orchestration import get_client

import flows.orchestration  # noqa: F401 - importing it adjusts Prefect's engine
from flows.heartbeats import install

#: Prefect's own end waits for the heartbeat thread's one-second sleep: at least this long after the flow began.
PREFECT_OWN_END = 0.95


@flow
def quick() -> float:
    """Return when the flow function began (the heartbeat thread has started by then)."""
    return time.perf_counter()


def heartbeat_runs(run_ids: set[UUID], timeout: float = 30.0) -> set[UUID]:
    """Which of ``run_ids`` the server has received a ``prefect.flow-run.heartbeat`` event of (waiting for them)."""
    wanted = {f"prefect.flow-run.{run_id}": run_id for run_id in run_ids}
    query = {"filter": {"event": {"name": ["prefect.flow-run.heartbeat"]}, "resource": {"id": sorted(wanted)}},
             "limit": 50}
    seen: set[UUID] = set()
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while seen != run_ids and time.monotonic() < deadline:
            reply = client.request("POST", "/events/filter", json=query)
            seen = {wanted[event["resource"]["prefect.resource.id"]] for event in reply.json()["events"]}
            time.sleep(0.5)
    return seen


def test_a_run_ends_without_waiting_for_the_heartbeat_thread_and_still_sends_heartbeats() -> None:
    assert install()  # installed on import already: installing again changes nothing
    quick()  # the process's first run starts Prefect's events worker, which can outlast the thread's first sleep
    ends, run_ids = [], set()
    for _ in range(3):
        state = quick(return_state=True)
        ends.append(time.perf_counter() - state.result())
        assert state.state_details.flow_run_id is not None
        run_ids.add(state.state_details.flow_run_id)
    assert min(ends) < PREFECT_OWN_END * 0.8, f"flow function's start to the run's end: {ends}"
    assert heartbeat_runs(run_ids) == run_ids
