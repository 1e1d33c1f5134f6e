"""Flow runs end when their flow ends, not at the next whole second of Prefect's heartbeat thread.

Prefect 3.8's synchronous flow engine sends a flow-run heartbeat event (``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``,
180 s by default; zombie-run detection) from a daemon thread that sleeps in one-second steps and looks at a stop
flag after each. When the flow function returns, the engine sets the flag and *joins* that thread, so every run
waits for the step under way: up to a second, half a second on average, added to every sync (a run's wall time
is rounded up to the next whole second after it started). Prefect's asynchronous engine does not join the thread
(``join_on_exit=False``): the thread sees the flag at the end of its step and returns, sending nothing more.

:func:`install` makes the synchronous engine do the same. The heartbeats are unchanged (same thread, same events,
same interval, none after the run ends); only the wait at the end goes. It is installed when
:mod:`flows.orchestration` is imported (every flow module imports it), so every Tandem flow (deployed or called
in-process) has it.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from prefect import flow_engine

log = logging.getLogger(__name__)

#: Marks the engine's replaced heartbeat function (so that installing twice wraps once).
_INSTALLED = "_tandem_prompt_end"

HeartbeatContext = Callable[..., AbstractContextManager[None]]


def prompt_heartbeats(original: HeartbeatContext) -> HeartbeatContext:
    """Prefect's heartbeat context manager ``original``, never waiting for its thread at the end of a run."""

    def send_heartbeats(engine: Any, join_on_exit: bool = True) -> AbstractContextManager[None]:
        return original(engine, join_on_exit=False)

    setattr(send_heartbeats, _INSTALLED, True)
    send_heartbeats.__doc__ = original.__doc__
    return send_heartbeats


def install() -> bool:
    """Make Prefect's synchronous flow engine end a run without waiting for the heartbeat thread's sleep.

    Returns:
        True when the engine's heartbeat context is (now) the prompt one; False when this Prefect has no
        ``flow_engine._send_heartbeats(engine, join_on_exit)`` to adjust (nothing is changed then).
    """
    original = getattr(flow_engine, "_send_heartbeats", None)
    if original is None:
        log.debug("prefect.flow_engine has no _send_heartbeats: flow runs keep Prefect's own end")
        return False
    if getattr(original, _INSTALLED, False):
        return True
    if "join_on_exit" not in inspect.signature(original).parameters:
        log.debug("prefect.flow_engine._send_heartbeats takes no join_on_exit: flow runs keep Prefect's own end")
        return False
    flow_engine._send_heartbeats = prompt_heartbeats(original)  # type: ignore[assignment]
    return True
