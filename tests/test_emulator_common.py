"""The base both emulators share: fault rules, the clock, TLS files and the control middleware."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from emulators.common.clock import EmulatorClock
from emulators.common.control import EmulatorControls, EmulatorMiddleware
from emulators.common.faults import FaultInjector, FaultKind, FaultRule, parse_fault_flag
from emulators.common.server import bind_socket, serve
from emulators.common.tls import ensure_certificates


def test_fault_flag_parses_kind_and_options() -> None:
    assert parse_fault_flag("query=http_503,count=2") == {"pattern": "query", "kind": "http_503", "count": 2}
    assert parse_fault_flag("POST /x=latency,probability=0.5,latency_ms=300") == {
        "pattern": "POST /x", "kind": "latency", "probability": 0.5, "latency_ms": 300,
    }
    with pytest.raises(ValueError, match="PATTERN=KIND"):
        parse_fault_flag("nokind")
    with pytest.raises(ValueError, match="not key=value"):
        parse_fault_flag("q=reset,count")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"pattern": "x", "kind": "explode", "count": 1}, "unknown fault kind"),
        ({"pattern": "x", "kind": "reset"}, "exactly one of"),
        ({"pattern": "x", "kind": "reset", "count": 1, "probability": 0.5}, "exactly one of"),
        ({"pattern": "(", "kind": "reset", "count": 1}, "not a regular expression"),
        ({"pattern": "x", "kind": "latency", "count": 1}, "latency_ms"),
        ({"pattern": "x", "kind": "reset", "count": 1, "colour": "red"}, "unknown fault option"),
    ],
)
def test_bad_fault_rules_are_refused_with_a_reason(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaultInjector().add_from_json(data)


def test_counted_rule_fires_exactly_n_times_and_only_on_matches() -> None:
    injector = FaultInjector()
    injector.add(FaultRule(pattern=r"^POST .* upsertList$", kind=FaultKind.HTTP_503, count=2))
    assert injector.pick("POST /services/x search") == []
    fired = [bool(injector.pick("POST /services/x upsertList")) for _ in range(4)]
    assert fired == [True, True, False, False]
    assert injector.rules() == []


def test_probability_rule_fires_at_about_its_rate_and_latency_comes_first() -> None:
    injector = FaultInjector(seed=7)
    injector.add(FaultRule(pattern="q", kind=FaultKind.HTTP_500, probability=0.25))
    injector.add(FaultRule(pattern="q", kind=FaultKind.LATENCY, probability=1.0, latency_ms=5))
    picks = [injector.pick("GET /q query") for _ in range(2000)]
    assert all(p[0].kind is FaultKind.LATENCY for p in picks)
    rate = sum(len(p) == 2 for p in picks) / len(picks)
    assert 0.2 < rate < 0.3


def test_clock_set_and_advance_move_time_but_keep_it_flowing() -> None:
    clock = EmulatorClock()
    target = datetime(2024, 1, 1, tzinfo=UTC)
    assert abs(clock.set(target) - target) < timedelta(seconds=1)
    assert abs(clock.advance(86400) - (target + timedelta(days=1))) < timedelta(seconds=1)
    assert clock.now() >= target + timedelta(days=1)
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.set(datetime(2024, 1, 1))
    clock.reset()
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=1)


def test_certificates_are_made_once_and_verify_for_localhost(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path)
    first = files.server_cert.read_bytes()
    assert ensure_certificates(tmp_path).server_cert.read_bytes() == first
    context = ssl.create_default_context(cafile=str(files.ca_cert))
    context.load_cert_chain(files.server_cert, files.server_key)  # key matches the certificate
    assert oct(files.server_key.stat().st_mode & 0o777) == "0o600"


@pytest.fixture(scope="module")
def toy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, list[int]]]:
    """A tiny app behind the real middleware and server, over TLS: a write endpoint that counts."""
    writes: list[int] = []

    async def write(request: Request) -> JSONResponse:
        writes.append(1)
        return JSONResponse({"writes": len(writes)})

    resets: list[str | None] = []
    controls = EmulatorControls(
        reset=lambda seed: resets.append(seed) or {"reset": True, "seed": seed},
        seed=lambda name: {"seeded": name},
        info=lambda: {"kind": "toy"},
    )
    app = EmulatorMiddleware(
        Starlette(routes=[Route("/write", write, methods=["POST"])]), controls, classify=lambda scope: "write"
    )
    directory = tmp_path_factory.mktemp("toy")
    tls = ensure_certificates(directory / "tls")
    sock = bind_socket("127.0.0.1", 0)
    thread = threading.Thread(
        target=serve, args=(app, sock), kwargs={"tls": tls, "ready_file": directory / "server.json", "info": {}},
        daemon=True,
    )
    thread.start()
    yield f"https://127.0.0.1:{sock.getsockname()[1]}", str(tls.ca_cert), writes


def _session(ca: str) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = ca
    return session


def test_middleware_counts_injects_and_drops(toy_server: tuple[str, str, list[int]]) -> None:
    base, ca, writes = toy_server
    with _session(ca) as http:
        assert http.get(f"{base}/__emulator/health", timeout=10).json() == {"status": "ok", "kind": "toy"}
        http.delete(f"{base}/__emulator/counters", timeout=10)
        before = len(writes)

        assert http.post(f"{base}/write", timeout=10).status_code == 200

        http.post(f"{base}/__emulator/faults", json={"pattern": "write", "kind": "http_503", "count": 1}, timeout=10)
        assert http.post(f"{base}/write", timeout=10).status_code == 503
        assert len(writes) == before + 1  # the 503 never reached the app

        http.post(f"{base}/__emulator/faults", json={"pattern": "write", "kind": "reset", "count": 1}, timeout=10)
        with pytest.raises(requests.ConnectionError):
            http.post(f"{base}/write", timeout=10)
        assert len(writes) == before + 1  # reset before the app ran

        http.post(
            f"{base}/__emulator/faults", json={"pattern": "write", "kind": "commit_then_drop", "count": 1}, timeout=10
        )
        with pytest.raises(requests.ConnectionError):
            http.post(f"{base}/write", timeout=10)
        assert len(writes) == before + 2  # the write happened, the answer was lost

        http.post(
            f"{base}/__emulator/faults", json={"pattern": "write", "kind": "latency", "count": 1, "latency_ms": 1500},
            timeout=10,
        )
        with pytest.raises(requests.Timeout):
            http.post(f"{base}/write", timeout=0.5)

        counters = http.get(f"{base}/__emulator/counters", timeout=10).json()
        assert counters["by_endpoint"] == {"write": 5}
        assert http.get(f"{base}/__emulator/faults", timeout=10).json() == {"faults": []}


def test_control_routes_validate_and_delegate(toy_server: tuple[str, str, list[int]]) -> None:
    base, ca, _ = toy_server
    with _session(ca) as http:
        assert http.post(f"{base}/__emulator/reset", json={"seed": "demo"}, timeout=10).json() == {
            "reset": True, "seed": "demo",
        }
        assert http.post(f"{base}/__emulator/seed", json={"seed": "demo"}, timeout=10).json() == {"seeded": "demo"}
        assert http.post(f"{base}/__emulator/seed", json={}, timeout=10).status_code == 400
        moved = http.post(f"{base}/__emulator/clock", json={"set": "2030-05-01T00:00:00Z"}, timeout=10).json()
        assert moved["now"].startswith("2030-05-01T00:00")
        advanced = http.post(f"{base}/__emulator/clock", json={"advance_seconds": 3600}, timeout=10).json()
        assert advanced["now"].startswith("2030-05-01T01:00")
        assert http.post(f"{base}/__emulator/clock", json={"bogus": 1}, timeout=10).status_code == 400
        assert http.post(f"{base}/__emulator/clock", data="{not json", timeout=10).status_code == 400
        bad = http.post(f"{base}/__emulator/faults", json={"pattern": "x", "kind": "nope", "count": 1}, timeout=10)
        assert bad.status_code == 400 and "unknown fault kind" in bad.json()["error"]
