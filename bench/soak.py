"""Soak: the whole system under steady load for minutes, on one machine (issue 7).

``painel run --no-demo`` (the supervisor, with the router, the CDR receiver and the portal
as its children, exactly as ``painel run`` starts them) on a fresh database holding the demo
operator (SQLite by default; ``--engine postgresql`` creates a fresh database on
``PAINEL_TEST_PG_URL``'s server). Against it, all at once for ``--minutes``:

* calls: ``--calls-per-second`` received calls, open loop, through the router over the real
  outbound Event Socket (the FreeSWITCH simulator of ``painel.simulate`` on the demo's DIDs,
  callers, blacklists, collect calls and follow-me). Latency is the simulator's: from its
  TCP connection to the router's variables applied;
* CDRs: the legs of those calls, each POSTed to ``painel cdr serve`` as mod_json_cdr does
  (one POST per leg, a new connection each, as the call ends): CDRs at the call rate;
* portal: ``--users`` subscribers (the demo's circuits in turn), each signing in through the
  form and then looping over Faturas and both call lists of the current month, with about
  ``--think`` seconds between pages.

The load runs in processes of its own (``--call-procs`` simulated FreeSWITCHes sharing the
call rate; ``--cdr-procs`` CDR senders; the users), so the generator's own interpreter lock
does not add to what is measured; still, on a small machine it competes with the servers for
the cores: the achieved rates and the simulators' event-loop lag are printed (a lagging
simulator answers the router late, and that shows as router latency). The simulators run at
the router's priority (``--router-nice``, -5 as in the systemd unit, when allowed), as a real
FreeSWITCH runs above everything else; the CDR receiver and the portal keep ``painel run``'s
lower priorities (``--equal-priority``: everything at nice 0, to compare).

Printed: per minute, the count, errors and p50/p95/p99 of each of them (router decision,
CDR POST, portal page); the errors per component (the target is none), with the router's
own error and fallback counters, the supervisor's restarts and the CDRs accepted against
the rows stored; how many calls were decided within FreeSWITCH's 1 s; and the RSS of each
server process every 10 s, with the first and last minute's mean, the slope over the first
half (warm-up) and over the second half (steady state), and a verdict on the steady state
(``--tracemalloc``: what grew, by allocation site). Figures only: nothing here asserts a time.

    python bench/soak.py                          # 10 min, 200 calls/s, 20 users, SQLite
    python bench/soak.py --minutes 1              # a short run to check the set-up
    python bench/soak.py --engine postgresql
    python bench/soak.py --nice-load 10           # the CDR senders and the users yield the CPU to the servers
    python bench/soak.py --users 0 --cdr-procs 0  # the router alone under the same call rate
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import os
import queue
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out"
PG_NAME = "painel_bench_soak"
RSS_EVERY = 10.0
#: FreeSWITCH's wait for the router (``painel router --call-timeout``): a later decision is lost
CALL_DEADLINE = 1.0
PAGES = ("faturas", "efetuadas", "recebidas")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def quiet_logging() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # every failed call is counted and reported; one log line each would flood the terminal under overload
    for name in ("painel.simulate", "painel.simulator"):
        logging.getLogger(name).setLevel(logging.ERROR)


def set_nice(nice: int) -> None:
    """This process's niceness, as far as it is allowed (below the current one needs root or CAP_SYS_NICE)."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, max(-20, min(19, nice)))
    except OSError:
        pass


def wait_go(ready, go, start_at) -> float:  # type: ignore[no-untyped-def]
    """Tell the main process this load process is ready, wait for the start; the start in time.monotonic()."""
    ready.put(os.getpid())
    go.wait()
    return time.monotonic() + (start_at.value - time.time())


# ------------------------------------------------------------------ load: calls through the router


def calls_worker(router: tuple[str, int], settings_kw: dict, targets: list, rate: float, seconds: float,
                 cdr_queue, senders: int, nice: int, k: int, procs: int, out, ready, go,
                 start_at) -> None:  # type: ignore[no-untyped-def]
    """Open-loop calls, the ``k``-th of ``procs`` interleaved shares of ``rate``; each call's legs go to the
    CDR senders; samples (t, latency s, outcome) to ``out``.

    This process plays FreeSWITCH, which runs above everything else on a real host (real-time
    scheduling in its Debian unit): it takes the router's niceness when it may (``nice``), and
    measures its own event loop's lag, since a late simulator looks like a late router.
    """
    quiet_logging()
    set_nice(nice)
    from painel.settings import load_settings
    from painel.simulate import Driver

    settings = load_settings(environ={}, overrides=settings_kw)
    driver = Driver(None, settings, router, "", seed=7 + k)  # type: ignore[arg-type]  # no database: targets given
    driver.sim.timeout = 10.0
    rng = random.Random(11 + k)
    samples: list[tuple[float, float | None, str]] = []
    problems: list[str] = []
    peak = [0]
    lags: list[float] = []

    async def lag_probe(until: float) -> None:
        """How late the loop wakes a 50 ms sleep: the simulator's own delay in every reply it sends."""
        while time.monotonic() < until:
            before = time.monotonic()
            await asyncio.sleep(0.05)
            lags.append(time.monotonic() - before - 0.05)

    async def one(t: float) -> None:
        try:
            placed = await driver.random_call(rng.choice(targets), inbound_only=True)
        except Exception as exc:  # the simulator itself failed: counted, the run goes on
            samples.append((t, None, "erro"))
            if len(problems) < 5:
                problems.append(f"{type(exc).__name__}: {exc}")
            return
        r = placed.result
        assert r is not None
        if r.refused or r.error or r.latency is None:
            outcome = "erro"
            if len(problems) < 5:
                problems.append("conexão recusada" if r.refused else r.error
                                or "sem decisão: o roteador desistiu da chamada (o dialplan seguiu o padrão)")
        elif placed.rule == "fallback":  # the router let the call go with the dialplan's defaults
            outcome = "fallback"
        else:
            outcome = "ok"
        samples.append((t, r.latency, outcome))
        if placed.call is not None and senders:
            cdr_queue.put(placed.call)

    async def main(t0: float) -> None:
        probe = asyncio.ensure_future(lag_probe(t0 + seconds))
        tasks: set[asyncio.Task[None]] = set()
        n = int(rate * seconds)
        for i in range(k, n, procs):  # this process's share: every procs-th call
            due = t0 + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.ensure_future(one(due - t0))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            peak[0] = max(peak[0], len(tasks))
        if tasks:
            await asyncio.wait(tasks, timeout=30)
        probe.cancel()

    t0 = wait_go(ready, go, start_at)
    asyncio.run(main(t0))
    out.put(("calls", {"samples": samples, "problems": problems, "peak_open": peak[0], "lags": sorted(lags),
                       "nice": os.getpriority(os.PRIO_PROCESS, 0)}))


# ------------------------------------------------------------------ load: CDRs, as mod_json_cdr posts them


def cdr_worker(cdr_url: str, settings_kw: dict, threads: int, cdr_queue, deadline: float, nice: int, out, ready,
               go, start_at) -> None:  # type: ignore[no-untyped-def]
    """``threads`` senders: each takes a call, renders its legs' documents and POSTs them in hangup order."""
    quiet_logging()
    from cdr_ingest.synth import json_cdr
    from painel.settings import load_settings
    from painel.simulate import Driver

    settings = load_settings(environ={}, overrides=settings_kw)
    os.nice(nice)
    driver = Driver(None, settings, ("127.0.0.1", 1), cdr_url)  # type: ignore[arg-type]
    lock = threading.Lock()
    samples: list[tuple[float, float, str]] = []
    results: dict[str, int] = {}
    problems: list[str] = []
    left = [0]
    t0 = wait_go(ready, go, start_at)
    stop_at = t0 + deadline

    def send() -> None:
        while True:
            call = cdr_queue.get()
            if call is None:
                return
            if time.monotonic() > stop_at:  # past the run's end and its grace: what is left is not sent
                with lock:
                    left[0] += len(call.legs)
                continue
            for leg in call.hangup_order():
                doc = json_cdr(leg, switch_tz=settings.switch_timezone)
                started = time.monotonic()
                try:
                    status, body = driver.post_document(leg.uuid, doc)
                    result = json.loads(body).get("resultado", "?") if 200 <= status < 300 else f"HTTP {status}"
                except Exception as exc:  # refused, reset, timeout
                    status, result = 0, f"{type(exc).__name__}: {exc}"
                elapsed = time.monotonic() - started
                outcome = "ok" if 200 <= status < 300 else "erro"
                with lock:
                    samples.append((started - t0, elapsed, outcome))
                    results[result] = results.get(result, 0) + 1
                    if outcome != "ok" and len(problems) < 5:
                        problems.append(result)

    senders = [threading.Thread(target=send, daemon=True) for _ in range(threads)]
    for s in senders:
        s.start()
    for s in senders:
        s.join()
    out.put(("cdr", {"samples": samples, "results": results, "problems": problems, "not_sent": left[0]}))


# ------------------------------------------------------------------ load: subscribers in the portal


def users_worker(port: int, users: list[tuple[str, dict[str, str]]], password: str, seconds: float, think: float,
                 nice: int, out, ready, go, start_at) -> None:  # type: ignore[no-untyped-def]
    """One thread per user: sign in, then Faturas and both call lists in a loop, with think time."""
    quiet_logging()
    os.nice(nice)
    from bench.web import MARKERS, Client

    lock = threading.Lock()
    samples: list[tuple[float, float, str, str]] = []
    problems: list[str] = []
    t0 = wait_go(ready, go, start_at)
    until = t0 + seconds

    def record(page: str, started: float, ok: bool, problem: str | None) -> None:
        with lock:
            samples.append((started - t0, time.monotonic() - started, page, "ok" if ok else "erro"))
            if problem and len(problems) < 5:
                problems.append(f"{page}: {problem}")

    def browse(k: int, number: str, paths: dict[str, str]) -> None:
        rng = random.Random(k)
        time.sleep(k * min(1.0, think) / max(1, len(users)))  # users arrive spread over the first second
        client = Client(port)
        signed = False
        page = 0
        while time.monotonic() < until:
            started = time.monotonic()
            if not signed:
                try:
                    client.sign_in(number, password)
                    signed = True
                    record("entrar", started, True, None)
                except Exception as exc:
                    record("entrar", started, False, f"{type(exc).__name__}: {exc}")
            else:
                name = PAGES[page % len(PAGES)]
                page += 1
                try:
                    status, body, _ = client.request("GET", paths[name])
                    ok = status == 200 and MARKERS[name] in body
                    record(name, started, ok, None if ok else f"HTTP {status}")
                    if status in (302, 401):  # the session is gone: sign in again
                        signed = False
                except Exception as exc:
                    record(name, started, False, f"{type(exc).__name__}: {exc}")
            time.sleep(think * rng.uniform(0.5, 1.5))

    threads = [threading.Thread(target=browse, args=(k, number, paths), daemon=True)
               for k, (number, paths) in enumerate(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(("users", {"samples": samples, "problems": problems}))


# ------------------------------------------------------------------ the system under test


def database(engine_name: str) -> str:
    from bench.common import fresh_pg, fresh_sqlite

    if engine_name == "postgresql":
        return fresh_pg(PG_NAME)
    OUT.mkdir(parents=True, exist_ok=True)
    return fresh_sqlite(str(OUT / "soak.db"))


def load_demo(url: str, var_dir: Path):  # type: ignore[no-untyped-def]
    """The demo operator with its months of traffic to now, the finished months billed (PDFs on demand)."""
    from painel.db import create_engine
    from painel.demo import bill_demo, run_demo
    from painel.settings import load_settings

    settings = load_settings(environ={}, overrides={"database_url": url, "var_dir": str(var_dir)})
    engine = create_engine(url)
    now = datetime.now(timezone.utc)
    run_demo(settings, engine, now=now)
    bill_demo(settings.replace(pdf_workers=1), engine, now=now, pdfs=False)
    return engine


def portal_users(engine, n: int) -> list[tuple[str, dict[str, str]]]:  # type: ignore[no-untyped-def]
    """``n`` users over the demo's circuits in turn, each with its Faturas and call-list paths."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from painel.models import Circuit

    with Session(engine) as session:
        circuits = session.execute(select(Circuit.id, Circuit.number, Circuit.timezone)
                                   .where(Circuit.active.is_(True), Circuit.flag_web.is_(True))
                                   .order_by(Circuit.number)).all()
    users = []
    for k in range(n):
        cid, number, zone = circuits[k % len(circuits)]
        month = datetime.now(ZoneInfo(zone)).strftime("%Y-%m")
        users.append((number, {"faturas": "/", "efetuadas": f"/circuitos/{cid}/ligacoes/efetuadas?mes={month}",
                               "recebidas": f"/circuitos/{cid}/ligacoes/recebidas?mes={month}"}))
    return users


def children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out += [int(x) for x in fh.read().split()]
    except OSError:
        pass
    return out


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def process_nice(pid: int) -> int | None:
    try:
        return os.getpriority(os.PRIO_PROCESS, pid)
    except OSError:
        return None


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process so far (Linux /proc), None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """Per part, the share of one core its processes used since the last reading (in %)."""

    def __init__(self) -> None:
        self.last: dict[int, float] = {}
        self.at = time.monotonic()

    def read(self, parts: dict[str, list[int]]) -> dict[str, float]:
        now = time.monotonic()
        span = max(1e-6, now - self.at)
        out: dict[str, float] = {}
        seen: dict[int, float] = {}
        for name, pids in parts.items():
            used = 0.0
            for pid in pids:
                cpu = cpu_seconds(pid)
                if cpu is None:
                    continue
                seen[pid] = cpu
                used += cpu - self.last.get(pid, cpu)
            out[name] = used / span * 100
        self.last, self.at = seen, now
        return out


def server_processes(run_pid: int) -> dict[str, list[int]]:
    """The supervisor's children by part: router, cdr, web (the gunicorn master and its workers)."""
    parts: dict[str, list[int]] = {"run": [run_pid], "router": [], "cdr": [], "web": []}
    for pid in children(run_pid):
        line = cmdline(pid)
        if " router " in line + " ":
            parts["router"].append(pid)
        elif " cdr serve" in line:
            parts["cdr"].append(pid)
        elif " web " in line + " ":
            parts["web"] += [pid, *children(pid)]
    return parts


class PainelRun:
    """``python -m painel run --no-demo`` on free ports, its output in bench/out/soak-run.log."""

    def __init__(self, url: str, var_dir: Path, web_workers: int | None, trace_dir: Path | None = None,
                 router_nice: int = 0, equal_priority: bool = False) -> None:
        self.ports = {name: free_port() for name in ("router", "metrics", "cdr", "web")}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAINEL_")}
        env.update({"PAINEL_DATABASE_URL": url, "PAINEL_VAR_DIR": str(var_dir), "PAINEL_LOG_LEVEL": "WARNING",
                    "PAINEL_SECRET_KEY": "bench-soak", "PAINEL_WEB_LOGIN_LIMIT_ADDRESS": "100000/minute",
                    "PAINEL_WEB_LOGIN_LIMIT_ACCOUNT": "100000/minute"})
        if trace_dir is not None:  # every server process traces its allocations (bench/memtrace/sitecustomize.py)
            env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT / "bench" / "memtrace"), env.get("PYTHONPATH"))))
            env["PAINEL_TRACEMALLOC_DIR"] = str(trace_dir)
        self.log_path = OUT / "soak-run.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115
        p = self.ports
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "painel", "run", "--no-demo", "--router-listen", f"127.0.0.1:{p['router']}",
             "--metrics-listen", f"127.0.0.1:{p['metrics']}", "--cdr-listen", f"127.0.0.1:{p['cdr']}",
             "--web-listen", f"127.0.0.1:{p['web']}", *(("--web-workers", str(web_workers)) if web_workers else ()),
             "--router-nice", str(router_nice),
             *(("--cdr-nice", "0", "--web-nice", "0") if equal_priority else ())],
            env=env, cwd=var_dir, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + (90 if trace_dir is None else 600)  # tracing slows every import down
        while "Painel está no ar" not in self.output():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"painel run não subiu; veja {self.log_path}")
            time.sleep(0.2)

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ports['metrics']}/metrics", timeout=5) as response:
            return response.read().decode()

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


# ------------------------------------------------------------------ report


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def per_minute(samples, minutes: int) -> list[tuple[int, int, list[float]]]:  # type: ignore[no-untyped-def]
    """(count, errors, sorted latencies of the successes) per minute of the run."""
    rows = [[0, 0, []] for _ in range(minutes)]
    for t, latency, outcome in samples:
        m = min(minutes - 1, max(0, int(t // 60)))
        rows[m][0] += 1
        if outcome == "ok" and latency is not None:
            rows[m][2].append(latency)
        elif outcome != "fallback":
            rows[m][1] += 1
    return [(n, e, sorted(lat)) for n, e, lat in rows]


def cell(n: int, errors: int, lat: list[float]) -> str:
    return f"{n:>7,} {errors:>5} {pct(lat, .5):>6.1f} {pct(lat, .95):>6.1f} {pct(lat, .99):>7.1f}"


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y)."""
    if len(points) < 2:
        return float("nan")
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    den = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / den if den else float("nan")


def count_http_cdrs(url: str) -> int:
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from painel.db import create_engine
    from painel.models import Cdr

    engine = create_engine(url)
    try:
        with Session(engine) as session:
            return session.scalar(select(func.count()).select_from(Cdr).where(Cdr.source_ref.like("http:%"))) or 0
    finally:
        engine.dispose()


def metric_lines(text: str, prefix: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(prefix) and not line.endswith(" 0.0")]


#: steady-state growth below this is noise (the allocator, gunicorn's workers' pages), in MiB/min ...
GROWTH_MIB_MIN = 1.0
#: ... and so is a second half that ends less than this fraction above where it began
GROWTH_FRACTION = 0.02


def memory_summary(rss: list[tuple[float, dict[str, int]]], seconds: float, names: list[str],
                   restarted: dict[str, int]) -> str:
    """Per process: first and last minute's mean RSS, the warm-up (first half) and steady-state (second
    half) least-squares slopes, and a verdict on the steady state: growth or plateau."""
    lines = ["RSS por processo: média do primeiro e do último minuto; inclinação (mínimos quadrados) na primeira "
             "metade da corrida (aquecimento) e na segunda (regime); o veredito vale para o regime"]
    half = seconds / 2
    for n in names:
        series = [(at / 60, v.get(n, 0) / 1024) for at, v in rss]
        first = [mib for m, mib in series if m < 1] or [series[0][1]]
        last = [mib for m, mib in series if m * 60 >= max(0.0, seconds - 60)] or [series[-1][1]]
        warm = [(m, mib) for m, mib in series if m * 60 <= half]
        steady = [(m, mib) for m, mib in series if m * 60 >= half]
        k_warm, k_steady = slope(warm), slope(steady)
        if len(steady) < 3:
            verdict = "amostras de menos para um veredito"
        else:
            rise = steady[-1][1] / max(1e-9, steady[0][1]) - 1
            grows = k_steady > GROWTH_MIB_MIN and statistics.fmean(mib for _, mib in steady[len(steady) // 2:]) > \
                statistics.fmean(mib for _, mib in steady[:len(steady) // 2]) * (1 + GROWTH_FRACTION / 2)
            verdict = (f"CRESCE no regime ({k_steady * 60:+.0f} MiB/h)" if grows
                       else f"estável no regime ({rise * 100:+.1f} % na segunda metade)")
            if seconds < 240:
                verdict += "; corrida curta, o regime mal começou"
        lines.append(f"  {n:<7} {statistics.fmean(first):>7.1f} -> {statistics.fmean(last):>7.1f} MiB; "
                     f"aquecimento {k_warm:+.2f} MiB/min, regime {k_steady:+.2f} MiB/min: {verdict}"
                     + (f"; {restarted[n]} processo(s) novo(s)" if restarted.get(n) else ""))
    return "\n".join(lines)


def tracemalloc_report(trace_dir: Path, seconds: float, top: int = 8) -> None:
    """Per traced process: traced bytes over time, and what grew between the middle and the end of the run."""
    import tracemalloc

    pids = sorted(int(p.stem) for p in trace_dir.glob("*.cmd"))
    print(f"\nAlocações (tracemalloc, {trace_dir}): o que cresceu da metade ao fim da corrida, por processo")
    for pid in pids:
        snaps = sorted(trace_dir.glob(f"{pid}-*.snap"))
        command = (trace_dir / f"{pid}.cmd").read_text(errors="replace")
        name = next((n for n in ("router", "cdr serve", "web", "run") if f" {n}" in f" {command} "), command[-40:])
        traced = []
        traced_path = trace_dir / f"{pid}.traced"
        if traced_path.exists():
            traced = [tuple(map(float, line.split())) for line in traced_path.read_text().splitlines() if line.strip()]
        if len(snaps) < 2 or not traced:
            continue
        half = traced[len(traced) // 2:]  # the second half of the traced time
        k = slope([(t / 60, b / 2**20) for t, b, _ in half])
        print(f"  {name} (pid {pid}): rastreado {traced[0][1] / 2**20:.1f} -> {traced[-1][1] / 2**20:.1f} MiB, "
              f"segunda metade {k:+.2f} MiB/min; RSS {traced[0][2] / 1024:.0f} -> {traced[-1][2] / 1024:.0f} MiB")
        middle = snaps[len(snaps) // 2 - (1 if len(snaps) % 2 == 0 else 0)]
        first, last = tracemalloc.Snapshot.load(str(middle)), tracemalloc.Snapshot.load(str(snaps[-1]))
        for stat in last.compare_to(first, "traceback")[:top]:
            if stat.size_diff <= 0:
                break
            frames = [f for f in stat.traceback if "tracemalloc" not in f.filename][-3:] or list(stat.traceback)[-1:]
            where = " <- ".join(f"{_short(f.filename)}:{f.lineno}" for f in reversed(frames))
            print(f"    {stat.size_diff / 1024:+9.0f} KiB {stat.count_diff:+7d} blocos  {where}")


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return os.path.relpath(filename, ROOT) if filename.startswith(str(ROOT)) else filename


# ------------------------------------------------------------------ main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--calls-per-second", type=float, default=200.0)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--think", type=float, default=1.0, help="segundos entre páginas de cada usuário (média)")
    ap.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--call-procs", type=int, default=2,
                    help="processos que fazem as chamadas (o FreeSWITCH simulado), cada um com sua parte da taxa")
    ap.add_argument("--cdr-procs", type=int, default=2, help="processos que enviam os CDRs (0: nenhum CDR)")
    ap.add_argument("--cdr-threads", type=int, default=4, help="envios simultâneos por processo")
    ap.add_argument("--nice-load", type=int, default=0,
                    help="niceness dos processos que enviam CDRs e dos usuários (o simulador de chamadas fica em 0)")
    ap.add_argument("--web-workers", type=int, default=None, help="processos do portal (padrão: o de painel run)")
    ap.add_argument("--router-nice", type=int, default=-5,
                    help="prioridade (nice) do roteador e do simulador de chamadas, como na unit painel-router "
                         "(negativa exige root; sem permissão, a do supervisor); o receptor de CDRs e o portal "
                         "ficam com as de painel run (+5 e +10)")
    ap.add_argument("--keep", action="store_true", help="não apaga o banco PostgreSQL no fim")
    ap.add_argument("--equal-priority", action="store_true",
                    help="todos com a mesma prioridade (nice 0: roteador, simulador, receptor, portal), para "
                         "comparar com as prioridades de painel run e das units")
    ap.add_argument("--tracemalloc", action="store_true",
                    help="depuração de memória: cada processo servidor rastreia suas alocações (tracemalloc, "
                         "bem mais lento) e o relatório mostra o que cresceu na segunda metade da corrida")
    args = ap.parse_args()
    if args.equal_priority:
        args.router_nice = 0
    quiet_logging()
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))

    seconds = args.minutes * 60
    minutes = max(1, int(-(-seconds // 60)))
    OUT.mkdir(parents=True, exist_ok=True)
    var_dir = OUT / "soak-var"
    shutil.rmtree(var_dir, ignore_errors=True)
    var_dir.mkdir(parents=True)
    t = time.monotonic()
    url = database(args.engine)
    engine = load_demo(url, var_dir)
    from painel.demo import DEMO_PASSWORD
    from painel.simulate import load_targets

    targets = [x for x in load_targets(engine) if x.dids]
    users = portal_users(engine, args.users)
    engine.dispose()
    print(f"banco {args.engine} com a operadora de demonstração em {time.monotonic() - t:.0f} s", flush=True)

    trace_dir = OUT / "soak-tracemalloc" if args.tracemalloc else None
    if trace_dir is not None:
        shutil.rmtree(trace_dir, ignore_errors=True)
    server = PainelRun(url, var_dir, args.web_workers, trace_dir, args.router_nice, args.equal_priority)
    ctx = multiprocessing.get_context("spawn")
    try:
        parts = server_processes(server.proc.pid)
        print("processos: " + ", ".join(f"{k} {' '.join(map(str, v))}" for k, v in parts.items()), flush=True)
        print("prioridade (nice): " + ", ".join(
            f"{k} {'/'.join(sorted({str(process_nice(pid)) for pid in v}))}" for k, v in parts.items() if v), flush=True)
        print(f"carga: {args.calls_per_second:g} chamadas/s pelo roteador (e os CDRs delas), {args.users} usuários "
              f"no portal, por {args.minutes:g} min", flush=True)
        settings_kw = {"database_url": url, "var_dir": str(var_dir)}
        cdr_queue = ctx.Queue()  # unbounded: a slow receiver must not hold the calls back
        out, ready, go = ctx.Queue(), ctx.Queue(), ctx.Event()
        start_at = ctx.Value("d", 0.0)
        p = server.ports
        grace = 60.0
        callers = [ctx.Process(target=calls_worker, args=(("127.0.0.1", p["router"]), settings_kw, targets,
                                                          args.calls_per_second, seconds, cdr_queue,
                                                          args.cdr_procs * args.cdr_threads, args.router_nice, k,
                                                          args.call_procs, out, ready, go, start_at),
                              name=f"calls{k}") for k in range(args.call_procs)]
        workers = list(callers)
        workers += [ctx.Process(target=cdr_worker, args=(f"http://127.0.0.1:{p['cdr']}/cdr", settings_kw,
                                                         args.cdr_threads, cdr_queue, seconds + grace,
                                                         args.nice_load, out, ready, go, start_at), name=f"cdr{k}") for k in range(args.cdr_procs)]
        workers.append(ctx.Process(target=users_worker, args=(p["web"], users, DEMO_PASSWORD, seconds, args.think,
                                                              args.nice_load, out, ready, go, start_at), name="users"))
        for w in workers:
            w.start()
        for _ in workers:
            ready.get(timeout=120)
        start_at.value = time.time() + 0.5
        go.set()
        t0 = time.monotonic() + 0.5

        # RSS (and CPU) every 10 s while the load runs, and the supervisor's children, to see a restart
        rss: list[tuple[float, dict[str, int]]] = []
        cpu: list[tuple[float, dict[str, float]]] = []
        meter = CpuMeter()
        load_pids = {"simulador": [w.pid for w in callers], "envio CDRs": [w.pid for w in workers[len(callers):-1]],
                     "usuários": [workers[-1].pid]}
        meter.read({**parts, **load_pids})
        load_before = os.getloadavg()
        router_cpu = [sum(cpu_seconds(pid) or 0.0 for pid in parts["router"])]
        pids_seen = {k: set(v) for k, v in parts.items()}

        def sample() -> None:
            now = time.monotonic()
            current = server_processes(server.proc.pid)
            for k, v in current.items():
                pids_seen[k] |= set(v)
            rss.append((now - t0, {k: sum(rss_kib(pid) for pid in v) for k, v in current.items()}))
            if now > t0 + 1:
                cpu.append((now - t0, meter.read({**current, **load_pids})))

        next_sample = t0
        while time.monotonic() < t0 + seconds:
            if time.monotonic() >= next_sample:
                sample()
                next_sample += RSS_EVERY
            time.sleep(min(1.0, max(0.0, min(next_sample, t0 + seconds) - time.monotonic())))
        if rss[-1][0] < seconds - 1:  # and one at the end of the load
            sample()
        load_after = os.getloadavg()
        router_cpu.append(sum(cpu_seconds(pid) or 0.0 for pid in parts["router"]))
        try:
            metrics_text = server.metrics()
        except OSError as exc:  # a router too busy to answer its own metrics is a finding, not a crash
            metrics_text = f"# métricas do roteador indisponíveis: {exc}"
        results: dict[str, list[dict]] = {}
        waiting_until = time.monotonic() + grace + 120
        while sum(len(v) for v in results.values()) < len(workers):
            try:
                kind, data = out.get(timeout=5)
            except queue.Empty:
                if time.monotonic() > waiting_until or not any(w.is_alive() for w in workers):
                    raise SystemExit("um processo de carga não entregou os resultados: "
                                     + ", ".join(f"{w.name}={w.exitcode}" for w in workers)) from None
                continue
            results.setdefault(kind, []).append(data)
            if kind == "calls" and len(results["calls"]) == len(callers):
                for w in callers:  # their CDRs are all in the queue once they have exited
                    w.join(timeout=60)
                for _ in range(args.cdr_procs * args.cdr_threads):  # one end mark per CDR sender thread
                    cdr_queue.put(None)
        for w in workers:
            w.join(timeout=30)
    finally:
        code = server.stop()
    stored = count_http_cdrs(url)
    if args.engine == "postgresql" and not args.keep:
        from bench.common import drop_pg

        drop_pg(url)

    # ---------------------------------------------------------------- the figures
    calls = {"samples": sorted((x for r in results["calls"] for x in r["samples"]), key=lambda x: x[0]),
             "problems": [x for r in results["calls"] for x in r["problems"]][:5],
             "peak_open": sum(r["peak_open"] for r in results["calls"]),
             "lags": sorted(x for r in results["calls"] for x in r["lags"]), "nice": results["calls"][0]["nice"]}
    results.setdefault("cdr", [])
    cdr_samples = [s for r in results["cdr"] for s in r["samples"]]
    cdr_results: dict[str, int] = {}
    for r in results["cdr"]:
        for k, v in r["results"].items():
            cdr_results[k] = cdr_results.get(k, 0) + v
    not_sent = sum(r["not_sent"] for r in results["cdr"])
    users_data = results["users"][0]
    pages = [(t, lat, outcome) for t, lat, _page, outcome in users_data["samples"]]

    print("\nLatência por minuto (ms): decisão do roteador (lado do simulador), POST de CDR, páginas do portal")
    print(f"{'min':>3} | {'chamadas':>7} {'erros':>5} {'p50':>6} {'p95':>6} {'p99':>7} | "
          f"{'CDRs':>7} {'erros':>5} {'p50':>6} {'p95':>6} {'p99':>7} | "
          f"{'páginas':>7} {'erros':>5} {'p50':>6} {'p95':>6} {'p99':>7}")
    for m, (c, d, w) in enumerate(zip(per_minute(calls["samples"], minutes), per_minute(cdr_samples, minutes),
                                      per_minute(pages, minutes)), start=1):
        print(f"{m:>3} | {cell(*c)} | {cell(*d)} | {cell(*w)}")

    print("\nPáginas do portal no total (ms)")
    for name in ("entrar", *PAGES):
        lat = sorted(lat for _, lat, page, outcome in users_data["samples"] if page == name and outcome == "ok")
        errors = sum(1 for _, _, page, outcome in users_data["samples"] if page == name and outcome != "ok")
        print(f"  {name:<10} {len(lat) + errors:>7,} pedidos, {errors} erros, p50 {pct(lat, .5):.1f}, "
              f"p95 {pct(lat, .95):.1f}, p99 {pct(lat, .99):.1f}")

    call_errors = sum(1 for *_, o in calls["samples"] if o == "erro")
    fallbacks = sum(1 for *_, o in calls["samples"] if o == "fallback")
    cdr_errors = sum(1 for *_, o in cdr_samples if o != "ok")
    page_errors = sum(1 for *_, o in pages if o != "ok")
    restarts = [line for line in server.output().splitlines() if "terminou" in line and "processo" in line]
    accepted = cdr_results.get("tarifado", 0)
    print("\nErros por componente (meta: nenhum)")
    print(f"  roteador:          {call_errors} erros e {fallbacks} fallbacks do roteador em {len(calls['samples']):,} "
          f"chamadas ({len(calls['samples']) / seconds:.0f}/s; até {calls['peak_open']} abertas ao mesmo tempo)")
    decided = [lat for _, lat, o in calls["samples"] if o == "ok" and lat is not None]
    in_time = sum(1 for lat in decided if lat <= CALL_DEADLINE)
    n_calls = max(1, len(calls["samples"]))
    decided.sort()
    lags = calls.get("lags") or []
    print(f"    decididas no prazo ({CALL_DEADLINE:g} s): {in_time:,} de {len(calls['samples']):,} "
          f"({in_time / n_calls * 100:.1f} %); latência das decididas p50 {pct(decided, .5):.1f} ms, "
          f"p95 {pct(decided, .95):.1f}, p99 {pct(decided, .99):.1f}, p99,9 {pct(decided, .999):.1f}, "
          f"máx {pct(decided, 1):.1f}")
    print(f"    CPU do roteador: {(router_cpu[1] - router_cpu[0]) / n_calls * 1000:.2f} ms por chamada; "
          f"atraso do laço do simulador (o FreeSWITCH de mentira, nice {calls.get('nice', '?')}): "
          f"p50 {pct(lags, .5):.1f} ms, p99 {pct(lags, .99):.1f}, máx {pct(lags, 1):.1f} "
          "(alto: parte da latência é do simulador, não do roteador)")
    for line in metric_lines(metrics_text, "painel_router_errors_total") + \
            metric_lines(metrics_text, "painel_router_fallbacks_total"):
        print(f"    métrica do roteador: {line}")
    for problem in calls["problems"]:
        print(f"    exemplo: {problem}")
    print(f"  receptor de CDRs:  {cdr_errors} erros em {len(cdr_samples):,} POSTs ({len(cdr_samples) / seconds:.0f}/s); "
          f"respostas: {', '.join(f'{k}={v:,}' for k, v in sorted(cdr_results.items())) or 'nenhuma'}; "
          f"não enviados no prazo: {not_sent}; linhas gravadas: {stored:,} de {accepted:,} tarifados"
          + ("" if stored == accepted else " (DIFERENÇA)"))
    for r in results["cdr"]:
        for problem in r["problems"]:
            print(f"    exemplo: {problem}")
    print(f"  portal:            {page_errors} erros em {len(pages):,} páginas ({len(pages) / seconds:.1f}/s)")
    for problem in users_data["problems"]:
        print(f"    exemplo: {problem}")
    print(f"  supervisor:        {len(restarts)} quedas de processos filhos; painel run terminou com código {code}")
    for line in restarts[:5]:
        print(f"    {line.strip()}")

    cpu_names = ["router", "cdr", "web", "run", "simulador", "envio CDRs", "usuários"]
    print(f"\nCPU (% de um núcleo, a cada {RSS_EVERY:g} s; a máquina tem {os.cpu_count()} núcleos; carga média "
          f"{load_before[0]:.1f} no início, {load_after[0]:.1f} no fim)")
    print(f"{'t (s)':>6} | " + " | ".join(f"{n:>10}" for n in cpu_names))
    for at, values in cpu:
        print(f"{at:>6.0f} | " + " | ".join(f"{values.get(n, 0):>10.0f}" for n in cpu_names))

    names = ["run", "router", "cdr", "web"]
    print(f"\nMemória (RSS, MiB) a cada {RSS_EVERY:g} s (web: o mestre do gunicorn e os workers somados)")
    print(f"{'t (s)':>6} | " + " | ".join(f"{n:>7}" for n in names))
    for at, values in rss:
        print(f"{at:>6.0f} | " + " | ".join(f"{values.get(n, 0) / 1024:>7.1f}" for n in names))
    print(memory_summary(rss, seconds, names, {n: len(pids_seen[n]) - len(parts[n]) for n in names}))
    if trace_dir is not None:
        tracemalloc_report(trace_dir, seconds)

if __name__ == "__main__":
    main()
