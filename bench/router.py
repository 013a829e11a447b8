"""Router benchmark: the real `painel router` process driven by the FreeSWITCH simulator.

Open-loop load at rising call rates on loopback; latency is from the TCP connection
FreeSWITCH makes to the moment the router's variables are applied (the multiset's
CHANNEL_EXECUTE_COMPLETE). Also 2,000 calls open at once, and the ratio of the router's
p50 to a bare greenswitch handler that only sets one variable, in the same run.
Figures only; nothing here asserts a time.

    python bench/router.py                       # 100, 250, 500, 750 calls/s, 5 s each
    python bench/router.py --rates 500 --seconds 10
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import fresh_sqlite  # noqa: E402

OUT = ROOT / "bench" / "out"
DIDS = ["5598987654321", "559832221100", "558632215500", "558633047700", "558532248800"]
CALLERS = ["5586999990000", "5511988887777", "5521977776666", "5598981110002", "5585991234567"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_baseline(port: int) -> None:
    """A bare greenswitch handler: connect, myevents, one `set` (confirmed), exit."""
    import gevent
    import gevent.event
    from gevent.server import StreamServer
    from greenswitch.esl import OutboundSession

    def handle(sock, address):  # type: ignore[no-untyped-def]
        session = OutboundSession(address, sock)
        try:
            with gevent.Timeout(2):
                session.connect()
                session.send("myevents")
                done = gevent.event.AsyncResult()
                session.register_expected_event("CHANNEL_EXECUTE_COMPLETE", "current_application", "set", done)
                session.send("sendmsg\ncall-command: execute\nexecute-app-name: set\n"
                             "execute-app-arg: painel_rule=default\nevent-lock: true")
                done.get()
                session.send("exit")
        except Exception:
            pass
        finally:
            session._run = False
            gevent.killall([g for g in (session._receive_events_greenlet, session._process_events_greenlet) if g],
                           block=False)
            sock.close()

    server = StreamServer(("127.0.0.1", port), handle, backlog=4096)
    server.serve_forever()


def start(cmd: list[str], env: dict, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on {port} did not start")


async def run_rate(port: int, rate: float, seconds: float) -> dict:
    from esl_router.simulator import FreeSwitchSim, SimCall

    sim = FreeSwitchSim("127.0.0.1", port, timeout=10)
    rng = random.Random(1)
    tasks = []
    t0 = time.monotonic()
    n = int(rate * seconds)
    for i in range(n):
        due = t0 + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        call = SimCall(did=rng.choice(DIDS), caller=rng.choice(CALLERS))
        tasks.append(asyncio.ensure_future(sim.place_call_async(call)))
    results = await asyncio.gather(*tasks)
    elapsed = time.monotonic() - t0
    lat = sorted(r.latency for r in results if r.latency is not None and not r.error)
    errors = sum(1 for r in results if r.error or r.latency is None)
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")  # noqa: E731
    return {"rate": rate, "calls": n, "achieved": n / elapsed, "errors": errors,
            "p50": q(0.50), "p95": q(0.95), "p99": q(0.99), "max": lat[-1] * 1000 if lat else float("nan")}


def router_histogram(mport: int) -> dict[float, float]:
    """Cumulative counts of the router's own decision-latency histogram, by bucket bound (s)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics") as resp:
        text = resp.read().decode()
    out: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith("painel_router_decision_seconds_bucket"):
            le = line.split('le="')[1].split('"')[0]
            out[float("inf") if le == "+Inf" else float(le)] = float(line.rsplit(" ", 1)[1])
    return out


async def concurrent(port: int, n: int, hold: float) -> dict:
    from esl_router.simulator import FreeSwitchSim, SimCall

    sim = FreeSwitchSim("127.0.0.1", port, execute_delay=hold, timeout=hold + 20)
    t0 = time.monotonic()
    results = await asyncio.gather(*[sim.place_call_async(SimCall(did=DIDS[i % 5], caller=CALLERS[i % 5]))
                                     for i in range(n)])
    ok = sum(1 for r in results if r.latency is not None and not r.error)
    return {"calls": n, "ok": ok, "errors": n - ok, "seconds": time.monotonic() - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="100,250,500,750")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--concurrent", type=int, default=2000)
    ap.add_argument("--serve-baseline", type=int)
    args = ap.parse_args()
    import gc

    gc.collect()
    gc.freeze()
    # the load generator's own collector pauses would show up as router latency: the
    # simulator runs without the cyclic collector (a bounded run; its memory is reclaimed at exit)
    gc.disable()
    if args.serve_baseline:
        serve_baseline(args.serve_baseline)
        return
    from sqlalchemy.orm import Session

    from painel.db import create_engine
    from painel.demo import ensure_operator

    OUT.mkdir(parents=True, exist_ok=True)
    url = fresh_sqlite(str(OUT / "router.db"))
    engine = create_engine(url)
    with Session(engine) as session:
        ensure_operator(session)
        session.commit()
    engine.dispose()
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    env = {**os.environ, "PAINEL_DATABASE_URL": url, "PAINEL_LOG_LEVEL": os.environ.get("PAINEL_LOG_LEVEL", "INFO")}
    rport, mport, bport = free_port(), free_port(), free_port()
    router = start([sys.executable, "-m", "painel", "router", "--listen", f"127.0.0.1:{rport}", "--metrics",
                    f"127.0.0.1:{mport}", "--max-calls", "4000", "--call-timeout", "30"], env, rport)
    baseline = start([sys.executable, __file__, "--serve-baseline", str(bport)], env, bport)
    try:
        print("rate (calls/s) | achieved | errors | p50 ms | p95 ms | p99 ms | max ms | router-side: within 5 ms, 10 ms")
        p50_router = None
        for rate in [float(r) for r in args.rates.split(",")]:
            before = router_histogram(mport)
            r = asyncio.run(run_rate(rport, rate, args.seconds))
            after = router_histogram(mport)
            total = after[float("inf")] - before.get(float("inf"), 0)
            within = {b: (after[b] - before.get(b, 0)) / total * 100 for b in (0.005, 0.01)} if total else {}
            print(f"{r['rate']:>14.0f} | {r['achieved']:>8.0f} | {r['errors']:>6} | {r['p50']:>6.2f} | "
                  f"{r['p95']:>6.2f} | {r['p99']:>6.2f} | {r['max']:>6.1f} | "
                  f"{within.get(0.005, 0):.2f} %, {within.get(0.01, 0):.2f} %")
            if rate == 500:
                p50_router = r["p50"]
        b = asyncio.run(run_rate(bport, 500, args.seconds))
        print(f"bare greenswitch handler at 500 calls/s: p50 {b['p50']:.2f} ms, p99 {b['p99']:.2f} ms, "
              f"errors {b['errors']}")
        if p50_router is None:
            p50_router = asyncio.run(run_rate(rport, 500, args.seconds))["p50"]
        print(f"ratio of router p50 to the bare handler's p50 at 500 calls/s: {p50_router / b['p50']:.2f}")
        c = asyncio.run(concurrent(rport, args.concurrent, hold=3.0))
        print(f"{c['calls']} calls open at once (each held 3 s before its variables apply): "
              f"{c['ok']} ok, {c['errors']} errors, {c['seconds']:.1f} s")
        with urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics") as resp:
            fallbacks = [ln for ln in resp.read().decode().splitlines() if ln.startswith("painel_router_fallbacks_total")]
        print("router fallbacks:", fallbacks or "none")
    finally:
        for proc in (router, baseline):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
