"""The router as a real process, driven through the FreeSWITCH simulator over TCP.

Every rule, the faults of the issue (database-independent fallback, bad channel data,
hangup during the decision, router down, over capacity, SIGTERM drain), changes reaching
the next call within 2 s, and the billing attribution of collect and forwarded calls.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fs_sim import FreeSwitchSim, SimCall  # noqa: E402

from painel.demo import ensure_operator  # noqa: E402
from painel.models import BlacklistEntry  # noqa: E402
from painel.routing import (  # noqa: E402
    acb_set, blacklist_add, circuit_by_number, did_by_number, followme_off, followme_set,
)

DID = "5598987654321"  # ACB on
DID2 = "559832221100"  # ACB off
CIRCUIT_LEG = "sofia/internal/8011441@127.0.0.1:5090"
DEFAULTS = {"painel_did": DID, "painel_circuit": "8011441", "painel_direction": "inbound",
            "painel_action": "bridge", "painel_bridge": CIRCUIT_LEG, "painel_rule": "fallback"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RouterProcess:
    def __init__(self, db_url: str, *args: str) -> None:
        self.port, self.metrics_port = free_port(), free_port()
        env = {**os.environ, "PAINEL_DATABASE_URL": db_url,
               "PAINEL_ROUTER_CIRCUIT_DIAL_STRING": "sofia/internal/{circuit}@127.0.0.1:5090"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "painel", "router", "--listen", f"127.0.0.1:{self.port}",
             "--metrics", f"127.0.0.1:{self.metrics_port}", "--refresh", "0.5", *args],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                self.metrics()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(self.proc.stdout.read())  # type: ignore[union-attr]
                time.sleep(0.05)
        raise RuntimeError("router did not start")

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2) as r:
            return r.read().decode()

    def sim(self, **kw) -> FreeSwitchSim:  # type: ignore[no-untyped-def]
        return FreeSwitchSim("127.0.0.1", self.port, **kw)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=20)
        return self.proc.stdout.read()  # type: ignore[union-attr]


@pytest.fixture
def demo(engine):  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        ensure_operator(s)
        followme_off(s, did_by_number(s, DID))
        s.commit()
    return engine


@pytest.fixture
def router(demo, db_url) -> Iterator[RouterProcess]:  # type: ignore[no-untyped-def]
    r = RouterProcess(db_url)
    yield r
    r.stop()


def call(r: RouterProcess, caller: str, did: str = DID, **kw):  # type: ignore[no-untyped-def]
    result = r.sim().run_dialplan(SimCall(did=did, caller=caller, defaults={**DEFAULTS, "painel_did": did}, **kw))
    assert result.error is None, result.error
    return result


def test_every_rule_through_the_wire(router, demo):  # type: ignore[no-untyped-def]
    v = call(router, "5586999990000").variables
    assert (v["painel_rule"], v["painel_action"], v["painel_bridge"]) == ("default", "bridge", CIRCUIT_LEG)
    v = call(router, "5511988887777").variables
    assert (v["painel_rule"], v["painel_action"], v["painel_hangup_cause"]) == ("blacklist", "reject", "CALL_REJECTED")
    assert v["painel_bridge"] == CIRCUIT_LEG  # the default stays: nothing empty was sent
    collect = {"sip_h_X-Siemens-Call-Type": "collect call"}
    v = call(router, "5598981110002", variables=collect).variables
    assert (v["painel_rule"], v["painel_direction"], v["painel_action"]) == ("default", "collect", "bridge")
    v = call(router, "5598981110001", did=DID2, variables=collect).variables
    assert (v["painel_rule"], v["painel_action"], v["painel_hangup_cause"]) == ("collect", "reject", "CALL_REJECTED")
    v = call(router, "5586999990000", did="5598900000000").variables
    assert (v["painel_rule"], v["painel_hangup_cause"]) == ("unallocated", "UNALLOCATED_NUMBER")
    # one multiset per call, with the ~ delimiter
    result = call(router, "5586999990000")
    assert len(result.multisets) == 1 and result.multisets[0].startswith("^^~")
    assert result.closed_by_router
    # the blacklist hit was counted
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with Session(demo) as s:
            hits = s.scalar(select(BlacklistEntry.hits).where(BlacklistEntry.number == "5511988887777"))
        if hits:
            break
        time.sleep(0.1)
    assert hits == 1
    metrics = router.metrics()
    assert 'painel_router_calls_total{outcome="ok",rule="blacklist"} 1.0' in metrics


@pytest.mark.parametrize("mode, check", [
    ("always", lambda v: v["painel_bridge"].endswith("}sofia/gateway/carrier/981234567")),
    ("no_answer", lambda v: v["painel_bridge"].startswith(f"[leg_timeout=15]{CIRCUIT_LEG}|[painel_direction=forwarded")),
    ("unavailable", lambda v: v["painel_bridge"] == CIRCUIT_LEG and "USER_BUSY" in v["painel_forward_on"]),
])
def test_follow_me_modes(router, demo, mode, check):  # type: ignore[no-untyped-def]
    with Session(demo) as s:
        followme_set(s, did_by_number(s, DID2), "981234567", mode, 15)
        s.commit()
    deadline = time.monotonic() + 2.5
    while True:
        v = call(router, "5521977776666", did=DID2).variables
        if v["painel_rule"] == "follow_me" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert (v["painel_rule"], v["painel_action"]) == ("follow_me", "forward")
    assert check(v)


def test_a_change_reaches_the_next_call_within_2_seconds(router, demo):  # type: ignore[no-untyped-def]
    assert call(router, "5586999990001").variables["painel_rule"] == "default"
    with Session(demo) as s:
        blacklist_add(s, circuit_by_number(s, "8011441"), "86 99999-0001")
        acb_set(s, did_by_number(s, DID), False)
        s.commit()
    changed = time.monotonic()
    while call(router, "5586999990001").variables["painel_rule"] != "blacklist":
        assert time.monotonic() - changed < 2.0, "the blacklist change took more than 2 s"
        time.sleep(0.05)
    v = call(router, "5598981110002", variables={"sip_h_X-Siemens-Call-Type": "collect call"}).variables
    assert v["painel_rule"] == "collect"
    assert time.monotonic() - changed < 2.5


@pytest.mark.parametrize("garbage", ["no_destination", "huge_headers", "bad_encoding", "raw_bytes",
                                     "header_injection", "close_after_connect", "close_on_connect"])
def test_hostile_channel_data_never_breaks_the_router(router, garbage):  # type: ignore[no-untyped-def]
    result = router.sim().run_dialplan(SimCall(did=DID, caller="5586999990000", defaults=DEFAULTS, garbage=garbage))
    # whatever happened, the channel still has a route: the defaults or a real decision
    assert result.variables["painel_action"] in ("bridge", "reject")
    assert result.variables.get("painel_bridge") == CIRCUIT_LEG
    # and the router still serves the next call
    assert call(router, "5586999990000").variables["painel_rule"] == "default"


@pytest.mark.parametrize("moment", ["connect", "myevents", "sendmsg", 0.0])
def test_caller_hangs_up_during_the_decision(router, moment):  # type: ignore[no-untyped-def]
    router.sim().run_dialplan(SimCall(did=DID, caller="5586999990000", defaults=DEFAULTS, hangup_after=moment))
    assert call(router, "5586999990000").variables["painel_rule"] == "default"
    assert "Traceback" not in router.metrics()


def test_router_down_calls_still_reach_the_circuit(demo):  # type: ignore[no-untyped-def]
    result = FreeSwitchSim("127.0.0.1", free_port()).run_dialplan(
        SimCall(did=DID, caller="5598981110007", defaults=DEFAULTS))
    assert result.refused
    assert result.variables == {**result.variables, **DEFAULTS}
    assert any("Connection refused" in line for line in result.log)


def test_over_capacity_answers_the_fallback_fast(demo, db_url):  # type: ignore[no-untyped-def]
    import asyncio

    r = RouterProcess(db_url, "--max-calls", "2")
    try:
        sim = r.sim(execute_delay=0.8)

        async def burst() -> list:
            return await asyncio.gather(*[sim.run_dialplan_async(
                SimCall(did=DID, caller="5511988887777", defaults=DEFAULTS)) for _ in range(6)])

        t = time.monotonic()
        results = asyncio.run(burst())
        decided = [x for x in results if x.multisets]
        refused_fast = [x for x in results if not x.multisets]
        assert len(decided) == 2 and len(refused_fast) == 4
        # the extra calls were let go at once and keep the dialplan's defaults
        assert all(x.variables["painel_rule"] == "fallback" for x in refused_fast)
        assert time.monotonic() - t < 3
        assert 'painel_router_fallbacks_total{reason="overload"} 4.0' in r.metrics()
    finally:
        r.stop()


def test_sigterm_drains_calls_in_progress(demo, db_url):  # type: ignore[no-untyped-def]
    import asyncio
    import threading

    r = RouterProcess(db_url)
    sim = r.sim(execute_delay=0.7)
    box: dict = {}
    t = threading.Thread(target=lambda: box.setdefault(
        "r", sim.run_dialplan(SimCall(did=DID, caller="5511988887777", defaults=DEFAULTS))))
    t.start()
    time.sleep(0.3)  # the call is in progress
    r.proc.send_signal(signal.SIGTERM)
    t.join(timeout=10)
    assert box["r"].variables["painel_rule"] == "blacklist"  # finished, not cut
    assert r.proc.wait(timeout=10) == 0
    log = r.stop()
    assert "todas as chamadas concluídas" in log
    after = asyncio.run(FreeSwitchSim("127.0.0.1", r.port).run_dialplan_async(
        SimCall(did=DID, caller="5586999990000", defaults=DEFAULTS)))
    assert after.refused  # no new calls once draining


def test_collect_and_forward_attribution_reach_billing(router, demo, settings):  # type: ignore[no-untyped-def]
    """The variables the router set are what the CDRs carry; the ingester bills from them."""
    from cdr_ingest.pipeline import Ingester
    from cdr_ingest.synth import json_cdr, scenario_call
    from painel.models import Cdr

    with Session(demo) as s:
        followme_set(s, did_by_number(s, DID2), "0218632221234", "always")
        s.commit()
    time.sleep(1.2)
    collect = call(router, "5598981110002", variables={"sip_h_X-Siemens-Call-Type": "collect call"}).variables
    forward = call(router, "5521977776666", did=DID2).variables
    assert forward["painel_rule"] == "follow_me"
    start = int(time.time()) - 3600
    c = scenario_call("collect_accepted", circuit="8011441", did=DID, other="5598981110002", start_epoch=start,
                      talk_seconds=40, uuid_seed="e2e-collect")
    c.a.painel = {k: v for k, v in collect.items() if k.startswith("painel_") and v}
    f = scenario_call("forwarded", circuit="8011441", did=DID2, other="0218632221234", start_epoch=start,
                      talk_seconds=31, uuid_seed="e2e-forward")
    f.a.painel = {k: v for k, v in forward.items() if k.startswith("painel_") and v}
    # the forwarded leg gets its variables from the {...} of the dial string the router chose
    leg_vars = forward["painel_bridge"][1:forward["painel_bridge"].index("}")].split(",")
    f.b.painel = {k: v for k, v in (x.split("=", 1) for x in leg_vars) if k.startswith("painel_")}
    docs = [json_cdr(leg) for leg in (c.a, c.b, f.a, f.b) if leg is not None]
    ing = Ingester(demo, settings)
    stats = ing.ingest_items([ing.json_item(d, "e2e") for d in docs])
    assert stats.quarantined == 0
    with Session(demo) as s:
        rows = {r.uuid: r for r in s.scalars(select(Cdr))}
    assert rows[c.a.uuid].direction == "collect" and rows[c.a.uuid].amount > 0
    assert rows[f.b.uuid].direction == "forwarded" and rows[f.b.uuid].category == "ldn_fixo"
    assert rows[f.b.uuid].amount == Decimal("0.15") or rows[f.b.uuid].amount > 0
    assert rows[f.a.uuid].amount == 0 and rows[c.b.uuid].role == "linked"


def test_encoded_newlines_cannot_forge_the_caller(router):  # type: ignore[no-untyped-def]
    """A SIP header carrying %0A must not become a header of its own (SafeEvent)."""
    result = router.sim().run_dialplan(SimCall(did=DID, caller="5511988887777", defaults=DEFAULTS,
                                               garbage="header_injection"))
    assert result.variables["painel_rule"] == "blacklist"


def test_a_reset_connection_frees_the_router_at_once(demo, db_url):  # type: ignore[no-untyped-def]
    r = RouterProcess(db_url, "--call-timeout", "5")
    try:
        for _ in range(3):
            r.sim().run_dialplan(SimCall(did=DID, caller="5586999990000", defaults=DEFAULTS,
                                         garbage="close_after_connect"))
        time.sleep(0.3)
        # the calls are not waiting out the 5 s timeout: nothing is active any more
        assert "painel_router_active_calls 0.0" in r.metrics()
    finally:
        r.stop()
