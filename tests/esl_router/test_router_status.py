"""The admin's router status: a router's own metrics, read back; rates from two readings; a dead router."""
from __future__ import annotations

import socket
from datetime import datetime, timezone

from prometheus_client import generate_latest

from esl_router.server import RouterMetrics
from painel.router_status import StatusBoard, parse_metrics


def exposition(metrics: RouterMetrics) -> str:
    return generate_latest(metrics.registry).decode()


def test_the_router_metrics_read_back() -> None:
    m = RouterMetrics()
    for _ in range(7):
        m.calls.labels("circuit", "bridge").inc()
    m.calls.labels("blacklist", "reject").inc(2)
    m.fallbacks.labels("overload").inc(3)
    m.error("timeout")
    m.active.set(4)
    m.cache_age.set(1.5)
    snap = parse_metrics(exposition(m))
    assert snap.calls == 9 and snap.outcomes == {"bridge": 7, "reject": 2}
    assert snap.fallbacks == {"overload": 3} and snap.errors == {"timeout": 1}
    assert set(snap.last_errors) == {"timeout"}
    assert abs((datetime.now(timezone.utc) - snap.last_errors["timeout"]).total_seconds()) < 60
    assert (snap.active, snap.cache_age) == (4, 1.5) and snap.started is not None


def test_calls_per_second_between_two_readings_and_across_a_restart() -> None:
    m = RouterMetrics()
    clock = [100.0]
    board = StatusBoard(fetcher=lambda url: exposition(m), clock=lambda: clock[0])
    first = board.poll_one("http://r1/metrics")
    assert first.alive and first.calls_per_second is None  # one reading: no rate yet
    m.calls.labels("circuit", "bridge").inc(50)
    clock[0] += 10
    assert board.poll_one("http://r1/metrics").calls_per_second == 5.0
    m2 = RouterMetrics()  # the router restarted: counters from zero
    board.fetcher = lambda url: exposition(m2)
    clock[0] += 10
    assert board.poll_one("http://r1/metrics").calls_per_second is None


def test_a_router_that_does_not_answer() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    status = StatusBoard().poll([f"http://127.0.0.1:{port}/metrics"])[0]
    assert not status.alive and status.error.startswith("não respondeu")
    assert status.fallback_total == 0 and status.error_total == 0
