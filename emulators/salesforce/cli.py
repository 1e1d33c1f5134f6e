"""``tandem emulate salesforce``: start the Salesforce emulator."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from emulators.common.cli import add_common_arguments
from emulators.common.clock import EmulatorClock
from emulators.common.control import EmulatorControls, EmulatorMiddleware
from emulators.common.faults import FaultInjector
from emulators.common.server import open_https, serve
from emulators.salesforce import bulk1_jobs
from emulators.salesforce.app import OAuthControls, RecycleBinControl, SalesforceApp, classify, fault_response
from emulators.salesforce.auth import DEMO_CREDENTIALS, ConnectedApps, RefreshTokens, SessionStore
from emulators.salesforce.bulk_jobs import registry_for
from emulators.salesforce.cursors import QueryCursors
from emulators.salesforce.limits import DEVELOPER_EDITION_DAILY_REQUESTS, ApiLimit
from emulators.salesforce.metadata_api import metadata_org
from emulators.salesforce.metadata_schema import bare_schema
from emulators.salesforce.rest import EmulatorState
from emulators.salesforce.schema import load_schema
from emulators.salesforce.seed import DemoReset, load_demo
from emulators.salesforce.store import RecordStore
from emulators.salesforce.wire import wire_app

API_VERSION = "59.0"
DEFAULT_SESSION_SECONDS = 7200
DATABASE = "salesforce.sqlite3"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the Salesforce emulator's options to ``parser``."""
    add_common_arguments(parser, default_port=8443, default_data_dir=".tandem/salesforce")
    parser.add_argument("--org-type", choices=["production", "sandbox"], default="production",
                        help="production or sandbox org (Organization.IsSandbox; default production)")
    parser.add_argument("--api-limit", type=int, default=DEVELOPER_EDITION_DAILY_REQUESTS,
                        help="daily API requests allowed, on a rolling 24 hours (default 15000, Developer Edition)")
    parser.add_argument("--session-seconds", type=int, default=DEFAULT_SESSION_SECONDS,
                        help="a session expires after this many seconds without use (default 7200)")
    parser.add_argument("--connected-app-cert", type=Path, default=None, metavar="PEM",
                        help="upload this X.509 certificate to the demo connected app, enabling the JWT bearer "
                             "flow for the integration user (also: POST /__emulator/connected-apps)")
    parser.add_argument("--bare", action="store_true",
                        help="start an org without Tandem's custom objects and fields (deploy them through the "
                             "Metadata API: tandem check --deploy); objects and fields deployed earlier come back")


def build_state(data_dir: Path, *, base_url: str, is_sandbox: bool, api_limit: int, session_seconds: int,
                clock: EmulatorClock, bare: bool = False) -> EmulatorState:
    """Open the store in ``data_dir`` and assemble the emulator's state (``bare``: without the custom objects
    and fields of ``schema.yaml``); the metadata earlier deploys added is applied again."""
    schema = bare_schema(load_schema()) if bare else load_schema()
    store = RecordStore(data_dir / DATABASE, schema, clock, is_sandbox=is_sandbox)
    metadata_org(store).metadata.restore()
    return EmulatorState(
        store=store, cursors=QueryCursors(store), sessions=SessionStore(clock, store.org_id, session_seconds),
        limit=ApiLimit(clock, api_limit), clock=clock, credentials=DEMO_CREDENTIALS, base_url=base_url,
        api_version=API_VERSION, is_sandbox=is_sandbox, session_seconds=session_seconds,
    )


def _controls(state: EmulatorState, info: dict[str, Any], faults: FaultInjector,
              refresh_tokens: RefreshTokens | None = None) -> EmulatorControls:
    def seed(name: str) -> dict[str, Any]:
        if name == "demo":
            return {"seed": name, "counts": load_demo(state.store)}
        if name == "none":
            return {"seed": name, "counts": state.store.counts()}
        raise ValueError(f"unknown data set {name!r}; use 'demo' or 'none'")

    demo = DemoReset()

    def reset(name: str | None) -> dict[str, Any]:
        if name and name not in ("none", "demo"):
            raise ValueError(f"unknown data set {name!r}; use 'demo' or 'none'")
        counts = demo.reset(state.store) if name == "demo" else None
        if counts is None:
            state.store.reset()
        state.sessions.org_id = info["org_id"] = state.store.org_id
        state.cursors.clear()
        registry_for(state.store).clear()
        bulk1_jobs.registry_for(state.store).clear()
        state.limit.reset()
        if counts is not None:
            return {"seed": name, "counts": counts}
        return {"seed": None, "counts": state.store.counts()}

    def snapshot(path: str) -> dict[str, Any]:
        return state.store.snapshot(Path(path))

    def refresh(source: str, objects: list[str] | None) -> dict[str, Any]:
        where = Path(source)
        result = state.store.refresh_from(where / DATABASE if where.is_dir() else where, objects)
        state.sessions.clear()  # a refresh logs everyone out
        if refresh_tokens is not None:
            refresh_tokens.clear()  # and revokes the refresh tokens issued in the old org
        state.sessions.org_id = state.store.org_id
        state.cursors.clear()
        registry_for(state.store).clear()
        bulk1_jobs.registry_for(state.store).clear()
        info["org_id"] = state.store.org_id
        return result

    return EmulatorControls(reset=reset, seed=seed, info=lambda: dict(info), clock=state.clock, faults=faults,
                            snapshot=snapshot, refresh=refresh)


def run(args: argparse.Namespace) -> int:
    """Start the emulator and serve until interrupted."""
    listener = open_https(args, DATABASE)
    data_dir: Path = args.data_dir
    tls, sock, port, base_url = listener.tls, listener.sock, listener.port, listener.base_url
    clock = EmulatorClock()
    state = build_state(data_dir, base_url=base_url, is_sandbox=args.org_type == "sandbox", api_limit=args.api_limit,
                        session_seconds=args.session_seconds, clock=clock, bare=args.bare)
    if args.seed == "demo" and args.bare and "ERP_Invoice__c" not in state.store.schema.objects:
        raise SystemExit("--seed demo needs Tandem's custom objects: a --bare org has none until they are deployed")
    if args.seed == "demo" and state.store.counts()["Account"] == 0:
        load_demo(state.store)
    faults = FaultInjector()
    for rule in args.fault:
        faults.add_from_json(rule)
    creds = state.credentials
    info: dict[str, Any] = {
        "kind": "salesforce", "base_url": base_url, "ca_cert": str(tls.ca_cert), "instance_url": base_url,
        "login_url": base_url, "username": creds.username, "password": creds.password,
        "security_token": creds.security_token, "client_id": creds.client_id, "client_secret": creds.client_secret,
        "org_id": state.store.org_id, "user_id": state.store.integration_user_id, "is_sandbox": state.is_sandbox,
        "api_version": API_VERSION, "port": port,
    }
    apps, refresh_tokens = ConnectedApps(state.credentials), RefreshTokens()
    if args.connected_app_cert is not None:
        apps.register(creds.client_id, args.connected_app_cert.read_text())
    info["jwt_bearer"] = args.connected_app_cert is not None
    controls = _controls(state, info, faults, refresh_tokens)
    salesforce = SalesforceApp(state, apps, refresh_tokens)
    app = wire_app(RecycleBinControl(
        OAuthControls(EmulatorMiddleware(salesforce, controls, classify, fault_response), salesforce), state))
    print(f"Salesforce emulator listening on {base_url}", flush=True)
    print(f"  CA certificate: {tls.ca_cert}", flush=True)
    print(f"  instance URL:   {base_url}  (org {state.store.org_id}, {args.org_type})", flush=True)
    print(f"  username: {creds.username}  password: {creds.password}  security token: {creds.security_token}",
          flush=True)
    print(f"  OAuth client id: {creds.client_id}  client secret: {creds.client_secret}", flush=True)
    try:
        serve(app, sock, tls=tls, ready_file=data_dir / "server.json", info=info, log_level=args.log_level)
    finally:
        state.store.close()
    return 0
