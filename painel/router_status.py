"""Router status for the operator: each router instance's liveness, calls/s, fallbacks, errors.

Every ``painel router`` serves Prometheus metrics (``--metrics``, default
127.0.0.1:9184/metrics). ``router_status_urls`` lists them (one per FreeSWITCH node);
``poll`` reads each, and ``StatusBoard`` keeps the previous reading per URL so that calls
per second is the rate between two readings, as a dashboard would compute it.
Parsing is pure (``parse_metrics``); only ``fetch`` does I/O.
"""
from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from prometheus_client.parser import text_string_to_metric_families

#: how long a metrics endpoint may take before the router counts as not answering
TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class Snapshot:
    """One reading of a router's metrics."""

    calls: float  # calls decided since start (all rules and outcomes)
    fallbacks: dict[str, float]
    errors: dict[str, float]
    last_errors: dict[str, datetime]
    active: float
    cache_age: float | None
    started: datetime | None
    outcomes: dict[str, float] = field(default_factory=dict)


def parse_metrics(text: str) -> Snapshot:
    """The router's figures from its Prometheus text exposition."""
    calls = 0.0
    outcomes: dict[str, float] = {}
    fallbacks: dict[str, float] = {}
    errors: dict[str, float] = {}
    last: dict[str, datetime] = {}
    active, cache_age, started = 0.0, None, None
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, sample.value
            if name == "painel_router_calls_total":
                calls += value
                outcomes[labels.get("outcome", "")] = outcomes.get(labels.get("outcome", ""), 0.0) + value
            elif name == "painel_router_fallbacks_total":
                fallbacks[labels.get("reason", "")] = value
            elif name == "painel_router_errors_total":
                errors[labels.get("kind", "")] = value
            elif name == "painel_router_last_error_timestamp_seconds" and value > 0:
                last[labels.get("kind", "")] = datetime.fromtimestamp(value, timezone.utc)
            elif name == "painel_router_active_calls":
                active = value
            elif name == "painel_router_cache_age_seconds":
                cache_age = value if value >= 0 else None
            elif name == "painel_router_start_time_seconds" and value > 0:
                started = datetime.fromtimestamp(value, timezone.utc)
    return Snapshot(calls, fallbacks, errors, last, active, cache_age, started, outcomes)


def fetch(url: str, timeout: float = TIMEOUT_SECONDS) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - operator-configured URL
        return response.read().decode("utf-8", "replace")


@dataclass(frozen=True)
class RouterStatus:
    url: str
    alive: bool
    error: str | None = None  # why it did not answer (pt-BR)
    snapshot: Snapshot | None = None
    calls_per_second: float | None = None  # None until two readings exist

    @property
    def fallback_total(self) -> float:
        return sum(self.snapshot.fallbacks.values()) if self.snapshot else 0.0

    @property
    def error_total(self) -> float:
        return sum(self.snapshot.errors.values()) if self.snapshot else 0.0


class StatusBoard:
    """The last reading per router, to turn counters into rates. Thread-safe."""

    def __init__(self, fetcher: Callable[[str], str] = fetch, clock: Callable[[], float] = time.monotonic) -> None:
        self.fetcher, self.clock = fetcher, clock
        self._previous: dict[str, tuple[float, Snapshot]] = {}
        self._lock = threading.Lock()

    def poll(self, urls: Sequence[str]) -> list[RouterStatus]:
        return [self.poll_one(url) for url in urls]

    def poll_one(self, url: str) -> RouterStatus:
        try:
            snapshot = parse_metrics(self.fetcher(url))
        except (OSError, ValueError) as exc:
            return RouterStatus(url, alive=False, error=f"não respondeu: {exc}")
        now = self.clock()
        with self._lock:
            previous = self._previous.get(url)
            self._previous[url] = (now, snapshot)
        rate = None
        if previous is not None and now > previous[0]:
            delta = snapshot.calls - previous[1].calls
            # a restarted router starts its counters from zero: no rate across the restart
            rate = delta / (now - previous[0]) if delta >= 0 else None
        return RouterStatus(url, alive=True, snapshot=snapshot, calls_per_second=rate)
