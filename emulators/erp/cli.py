"""Run a local SuiteTalk-style SOAP ERP (``tandem emulate erp``)."""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path
from typing import Any

from emulators.common.cli import add_common_arguments
from emulators.common.clock import EmulatorClock
from emulators.common.control import EmulatorControls
from emulators.common.server import bind_socket, serve
from emulators.common.tls import ensure_certificates
from emulators.erp.app import build_app
from emulators.erp.jobs import JobRunner
from emulators.erp.namespaces import ENDPOINT_PATH, WSDL_PATH
from emulators.erp.seed import DemoReset, load_demo
from emulators.erp.service import ErpService, Limits
from emulators.erp.store import ErpStore

ACCOUNT_PATTERN = re.compile(r"^[0-9]+(_(SB[0-9]+|RP))?$")
DATABASE_NAME = "erp.sqlite3"


def _account(text: str) -> str:
    if not ACCOUNT_PATTERN.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an account id (1234567, or 1234567_SB1 for a sandbox)")
    return text


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ERP emulator's options (the common ones plus account, concurrency, TLS)."""
    add_common_arguments(parser, default_port=8080, default_data_dir=".tandem/erp")
    parser.add_argument("--account", type=_account, default="1234567",
                        help="account id; a _SB<n> suffix makes it a sandbox (default 1234567)")
    parser.add_argument("--max-concurrency", type=_positive, default=5,
                        help="concurrent SOAP requests allowed before WS_REQUEST_BLOCKED (default 5)")
    parser.add_argument("--get-deleted-page-size", type=_positive, default=1000,
                        help="records per getDeleted page (default 1000, as SuiteTalk)")
    parser.add_argument("--max-request-mb", type=_positive, default=100,
                        help="requests above this size get EXCEEDED_MAX_REQUEST_SIZE (SuiteTalk: 100)")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a private CA kept in the data dir")


def is_sandbox(account: str) -> bool:
    """True for a sandbox account id (``_SB<n>`` suffix)."""
    return "_SB" in account


def run(args: argparse.Namespace) -> int:
    """Start the emulator and serve until interrupted; return the exit code."""
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    data_dir: Path = args.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    store = ErpStore(data_dir / DATABASE_NAME)
    if args.reset:
        store.wipe()
    clock = EmulatorClock()
    service = ErpService(store, args.account, clock, Limits(get_deleted_page=args.get_deleted_page_size))

    def seed(name: str) -> dict[str, Any]:
        if name != "demo":
            raise ValueError(f"unknown data set {name!r}; the ERP emulator has 'demo'")
        return {"seeded": name, "counts": load_demo(store, clock.now())}

    demo = DemoReset()

    def reset(name: str | None) -> dict[str, Any]:
        if name and name not in ("none", "demo"):
            raise ValueError(f"unknown data set {name!r}; the ERP emulator has 'demo'")
        service.searches.clear()
        if name == "demo":
            return {"seeded": name, "counts": demo.reset(store, clock.now())}
        store.wipe()
        return {"reset": True, "counts": store.counts()}

    if args.seed == "demo" and not store.counts():
        load_demo(store, clock.now())

    sock = bind_socket(args.host, args.port)
    port = sock.getsockname()[1]
    tls = ensure_certificates(data_dir / "tls") if args.tls else None
    scheme = "https" if tls else "http"
    host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host  # noqa: S104
    base_url = f"{scheme}://{host}:{port}"
    credentials = store.demo_credentials()
    info: dict[str, Any] = {
        "kind": "erp",
        "base_url": base_url,
        "wsdl_url": base_url + WSDL_PATH,
        "endpoint": base_url + ENDPOINT_PATH,
        "account": args.account,
        "is_sandbox": is_sandbox(args.account),
        "consumer_key": credentials.consumer_key,
        "consumer_secret": credentials.consumer_secret,
        "token_id": credentials.token_id,
        "token_secret": credentials.token_secret,
        "ca_cert": str(tls.ca_cert) if tls else None,
        "port": port,
        "max_concurrency": args.max_concurrency,
    }
    def snapshot(path: str) -> dict[str, Any]:
        return store.snapshot(Path(path))

    def refresh(source: str, record_types: list[str] | None) -> dict[str, Any]:
        if not is_sandbox(args.account):
            raise ValueError(f"account {args.account} is production: only a sandbox (_SB<n>) can be refreshed")
        where = Path(source)
        copied = store.refresh_from(where / DATABASE_NAME if where.is_dir() else where, record_types)
        return {"account": args.account, "copied": copied}

    controls = EmulatorControls(
        reset=reset, seed=seed, clock=clock,
        info=lambda: {"kind": "erp", "account": args.account, "counts": store.counts()},
        snapshot=snapshot, refresh=refresh,
    )
    for rule in args.fault:
        controls.faults.add_from_json(rule)
    app = build_app(service, controls, info["endpoint"], args.max_concurrency, args.max_request_mb * 1024 * 1024)
    runner = JobRunner(service)
    runner.start()
    print(f"ERP emulator for account {args.account} ({'sandbox' if info['is_sandbox'] else 'production'})",
          flush=True)
    for key in ("base_url", "wsdl_url", "endpoint", "account", "is_sandbox", "consumer_key", "consumer_secret",
                "token_id", "token_secret", "ca_cert"):
        print(f"  {key}: {info[key]}", flush=True)
    try:
        serve(app, sock, tls=tls, ready_file=data_dir / "server.json", info=info, log_level=args.log_level)
    finally:
        runner.stop()
    return 0
