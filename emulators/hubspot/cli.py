"""``tandem emulate hubspot``: start the HubSpot CRM API emulator."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from emulators.common.cli import add_common_arguments
from emulators.common.clock import EmulatorClock
from emulators.common.control import CONTROL_PREFIX, EmulatorControls, EmulatorMiddleware
from emulators.common.faults import FaultInjector
from emulators.common.server import open_https, serve
from emulators.hubspot.app import HubSpotApp, classify, fault_response
from emulators.hubspot.control import RateLimitControl
from emulators.hubspot.limits import DEFAULT_DAILY_MAX, DEFAULT_INTERVAL_MAX, DEFAULT_SEARCH_PER_SECOND, RateLimits
from emulators.hubspot.routes_account import ACCOUNT_TYPES
from emulators.hubspot.seed import load_demo
from emulators.hubspot.state import HubSpotState
from emulators.hubspot.store import HubSpotStore

DATABASE = "hubspot.sqlite3"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the HubSpot emulator's options to ``parser``."""
    add_common_arguments(parser, default_port=8444, default_data_dir=".tandem/hubspot")
    parser.add_argument("--rate-limit", type=int, default=DEFAULT_INTERVAL_MAX, metavar="N",
                        help=f"requests allowed per rolling 10 seconds, then 429 (default {DEFAULT_INTERVAL_MAX}, a "
                             "Professional private app; 0 turns the limit off)")
    parser.add_argument("--daily-limit", type=int, default=DEFAULT_DAILY_MAX, metavar="N",
                        help=f"requests allowed per day (default {DEFAULT_DAILY_MAX}; 0 turns it off)")
    parser.add_argument("--search-rate-limit", type=int, default=DEFAULT_SEARCH_PER_SECOND, metavar="N",
                        help=f"search requests allowed per second (default {DEFAULT_SEARCH_PER_SECOND}; 0: off)")
    parser.add_argument("--account-type", choices=ACCOUNT_TYPES, default="STANDARD",
                        help="what GET /account-info/v3/details reports (default STANDARD; SANDBOX for a sandbox)")


def _controls(state: HubSpotState, info: dict[str, Any], faults: FaultInjector) -> EmulatorControls:
    def seed(name: str) -> dict[str, Any]:
        if name == "demo":
            return {"seed": name, "counts": load_demo(state.store, state.clock.now())}
        if name == "none":
            return {"seed": name, "counts": state.store.counts()}
        raise ValueError(f"unknown data set {name!r}; use 'demo' or 'none'")

    def reset(name: str | None) -> dict[str, Any]:
        state.store.reset()
        state.limits.reset()
        if name and name != "none":
            return seed(name)
        return {"seed": None, "counts": state.store.counts()}

    return EmulatorControls(reset=reset, seed=seed, info=lambda: dict(info), clock=state.clock, faults=faults)


def run(args: argparse.Namespace) -> int:
    """Start the emulator and serve until interrupted."""
    listener = open_https(args, DATABASE)
    data_dir: Path = args.data_dir
    tls, sock, port, base_url = listener.tls, listener.sock, listener.port, listener.base_url
    clock = EmulatorClock()
    store = HubSpotStore(data_dir / DATABASE, clock)
    limits = RateLimits(clock, args.rate_limit, args.daily_limit, args.search_rate_limit)
    state = HubSpotState(store=store, clock=clock, limits=limits, account_type=args.account_type)
    if args.seed == "demo" and not any(store.counts().values()):
        load_demo(store, clock.now())
    faults = FaultInjector()
    for rule in args.fault:
        faults.add_from_json(rule)
    info: dict[str, Any] = {
        "kind": "hubspot", "base_url": base_url, "ca_cert": str(tls.ca_cert), "access_token": state.token,
        "portal_id": state.portal_id, "app_id": state.app_id, "port": port,
        "rate_limits": f"{CONTROL_PREFIX}/rate-limits",
    }
    app = RateLimitControl(EmulatorMiddleware(HubSpotApp(state), _controls(state, info, faults), classify,
                                              fault_response), limits)
    print(f"HubSpot emulator listening on {base_url}", flush=True)
    print(f"  CA certificate: {tls.ca_cert}", flush=True)
    print(f"  portal {state.portal_id}; private-app access token: {state.token}", flush=True)
    try:
        serve(app, sock, tls=tls, ready_file=data_dir / "server.json", info=info, log_level=args.log_level)
    finally:
        store.close()
    return 0
