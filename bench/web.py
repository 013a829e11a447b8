"""Portal benchmark: `painel web` on demo data scaled to a million CDR rows, 20 concurrent clients.

From the issue: "Against the portal on demo data scaled to 1,000,000 calls: the Faturas
page and a call-list page at p95 100 ms or less with 20 concurrent clients, no errors;
report requests/s."

The database is built by ``bench.scale`` (the demo operator, 1,000 more customers,
about 2,000 circuits, 12 months of rated CDR rows to today, the past months closed) or
reused with ``--reuse``. The real server runs as a subprocess (``python -m painel web``,
gunicorn, ``--workers`` processes x ``--threads``). Each client signs in as the demo subscriber 8011441 through the
login form (its own session cookie and keep-alive connection) and then, in a closed
loop for ``--seconds``, fetches the Faturas page ``/`` and both call lists of its
circuit for the current month (``/circuitos/<id>/ligacoes/efetuadas?mes=…`` and
``recebidas``; 50 calls a page out of a few thousand). Clients run as threads spread
over ``--procs`` processes, so the client's own GIL does not queue requests. A response
is an error unless it is 200 and holds the page's marker. Printed per page: requests,
errors, p50/p95/p99/max latency, requests/s; the server's peak RSS; whether p95 <= 100 ms
with no errors holds. Figures only: nothing here asserts a time.

    python bench/web.py                          # build bench/out/web.db (1,000,000 rows), 20 clients, 20 s
    python bench/web.py --reuse                  # the same database again (built once, ~2 min)
    python bench/web.py --reuse --clients 40 --seconds 30 --workers 3 --threads 16
    python bench/web.py --engine postgresql      # database painel_bench_web on PAINEL_TEST_PG_URL's server
"""
from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out"
PG_NAME = "painel_bench_web"
CIRCUIT = "8011441"
_CSRF = re.compile(rb'name="csrf_token"[^>]*value="([^"]+)"')
#: what each page must contain to count as served (a login form or an error page does not)
MARKERS = {"faturas": b'id="fatura-em-aberto"', "efetuadas": b'id="total-ligacoes"',
           "recebidas": b'id="total-ligacoes"'}


# ------------------------------------------------------------------ the database


def database(args: argparse.Namespace) -> str:
    """The scaled database's URL: built now, or reused."""
    from bench import scale
    from bench.common import PG_ADMIN_URL, fresh_pg, fresh_sqlite

    if args.engine == "sqlite":
        path = Path(args.db).resolve()
        url = f"sqlite:///{path}"
        if args.reuse:
            if not path.exists():
                sys.exit(f"--reuse: {path} não existe (rode sem --reuse para criá-lo)")
            return url
        fresh_sqlite(str(path))
    else:
        from sqlalchemy.engine import make_url

        url = make_url(PG_ADMIN_URL).set(database=PG_NAME).render_as_string(hide_password=False)
        if args.reuse:
            return url
        url = fresh_pg(PG_NAME)
    t = time.perf_counter()
    scale.build(url, rows=args.calls, customers=args.customers, months=args.months, heavy=args.heavy)
    print(f"banco criado em {time.perf_counter() - t:.0f} s: {url}", flush=True)
    return url


def page_targets(url: str, month: str | None) -> tuple[dict[str, str], dict]:
    """The three paths of the circuit, and what the database holds for them."""
    import sqlalchemy as sa

    from bench.scale import describe
    from painel.db import create_engine

    info = describe(url)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            cid, zone = conn.execute(sa.text("SELECT id, timezone FROM circuits WHERE number = :n"),
                                     {"n": CIRCUIT}).one()
            month = month or datetime.now(ZoneInfo(zone)).strftime("%Y-%m")
            info["month"] = month
            info["circuit_calls"] = conn.execute(sa.text(
                "SELECT direction, count(*) FROM cdrs WHERE circuit_id = :c AND role = 'call' AND bill_month = :m "
                "GROUP BY direction"), {"c": cid, "m": month}).all()
    finally:
        engine.dispose()
    paths = {"faturas": "/",
             "efetuadas": f"/circuitos/{cid}/ligacoes/efetuadas?mes={month}",
             "recebidas": f"/circuitos/{cid}/ligacoes/recebidas?mes={month}"}
    return paths, info


# ------------------------------------------------------------------ the server


class Server:
    def __init__(self, url: str, port: int, workers: int, threads: int) -> None:
        self.port = port
        var_dir = OUT / "web-var"
        var_dir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAINEL_")}
        env.update({"PAINEL_DATABASE_URL": url, "PAINEL_VAR_DIR": str(var_dir), "PAINEL_SECRET_KEY": "bench-web",
                    "PAINEL_WEB_LOGIN_LIMIT_ADDRESS": "100000/minute",
                    "PAINEL_WEB_LOGIN_LIMIT_ACCOUNT": "100000/minute", "PAINEL_LOG_LEVEL": "WARNING"})
        self.log = open(OUT / "web-server.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "painel", "web", "--listen", f"127.0.0.1:{port}", "--workers", str(workers),
             "--threads", str(threads)],
            env=env, cwd=var_dir, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"painel web saiu ({self.proc.returncode}); veja {OUT / 'web-server.log'}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/entrar")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("painel web não respondeu em 60 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class RssSampler(threading.Thread):
    """Peak resident memory of a process (and its children), sampled every 0.1 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kib = 0
        self.stop_event = threading.Event()

    def run(self) -> None:
        from bench.common import _tree_rss_kib

        while not self.stop_event.wait(0.1):
            self.peak_kib = max(self.peak_kib, _tree_rss_kib(self.pid))


# ------------------------------------------------------------------ the clients


class Client:
    """One browser-like client: keep-alive connection, the session cookie, signed in through the form."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes, http.client.HTTPResponse]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        h = {"Accept": "text/html", **(headers or {})}
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            self.conn.request(method, path, body=body, headers=h)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            raise
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        if response.will_close:
            self.conn.close()
            self.conn = None
        return response.status, data, response

    def sign_in(self, number: str, password: str) -> None:
        status, page, _ = self.request("GET", "/entrar")
        token = _CSRF.search(page)
        if status != 200 or token is None:
            raise RuntimeError(f"GET /entrar: {status}")
        body = urllib.parse.urlencode({"usuario": number, "senha": password,
                                       "csrf_token": token.group(1).decode()}).encode()
        status, _, response = self.request("POST", "/entrar", body,
                                           {"Content-Type": "application/x-www-form-urlencoded"})
        if status != 302 or "/entrar" in (response.headers.get("Location") or ""):
            raise RuntimeError(f"login de {number} falhou: {status}")


def run_clients(port: int, paths: dict[str, str], clients: int, first: int, start_at: float, warmup: float,
                seconds: float, think: float, password: str, queue) -> None:  # type: ignore[no-untyped-def]
    """In a worker process: ``clients`` threads; puts {page: (latencies, errors, samples)} on ``queue``."""
    import gc

    gc.disable()  # a collector pause in the client would show up as server latency
    names = list(paths)
    measured_from, until = start_at + warmup, start_at + warmup + seconds
    results: list[dict] = []
    lock = threading.Lock()
    ready = threading.Barrier(clients + 1)

    def work(index: int) -> None:
        mine = {n: ([], 0, []) for n in names}
        client = Client(port)
        try:
            client.sign_in(CIRCUIT, password)
        except Exception as exc:  # reported as an error of every page
            for n in names:
                mine[n][2].append(f"login: {exc}")
            ready.wait()
            with lock:
                results.append({n: (v[0], 1, v[2]) for n, v in mine.items()})
            return
        ready.wait()
        time.sleep(max(0.0, start_at - time.time()))
        i = index
        while True:
            name = names[i % len(names)]
            i += 1
            t0 = time.time()
            if t0 >= until:
                break
            try:
                status, body, _ = client.request("GET", paths[name])
                ok = status == 200 and MARKERS[name] in body
                problem = None if ok else f"HTTP {status}"
            except Exception as exc:  # a refused or dropped connection
                ok, problem = False, f"{type(exc).__name__}: {exc}"
            t1 = time.time()
            if t0 >= measured_from and t1 <= until:
                lat, errors, samples = mine[name]
                if ok:
                    lat.append(t1 - t0)
                else:
                    mine[name] = (lat, errors + 1, (samples + [problem])[:5])
            if think:
                time.sleep(think)
        with lock:
            results.append(mine)

    threads = [threading.Thread(target=work, args=(first + k,)) for k in range(clients)]
    for t in threads:
        t.start()
    ready.wait()
    for t in threads:
        t.join()
    merged = {n: ([], 0, []) for n in names}
    for r in results:
        for n, (lat, errors, samples) in r.items():
            m = merged[n]
            merged[n] = (m[0] + lat, m[1] + errors, (m[2] + samples)[:5])
    queue.put(merged)


def load(port: int, paths: dict[str, str], clients: int, procs: int, warmup: float, seconds: float,
         think: float = 0.0) -> dict:
    """``clients`` clients over ``procs`` processes; the merged per-page results."""
    from painel.demo import DEMO_PASSWORD

    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = max(1, min(procs, clients))
    # every client signs in first; the clock starts for all at once
    start_at = time.time() + 2.0 + clients * 0.15
    workers, first = [], 0
    for p in range(procs):
        n = clients // procs + (p < clients % procs)
        workers.append(ctx.Process(target=run_clients, args=(port, paths, n, first, start_at, warmup, seconds,
                                                             think, DEMO_PASSWORD, queue)))
        first += n
    for w in workers:
        w.start()
    merged = {n: ([], 0, []) for n in paths}
    for _ in workers:
        part = queue.get()
        for n, (lat, errors, samples) in part.items():
            m = merged[n]
            merged[n] = (m[0] + lat, m[1] + errors, (m[2] + samples)[:5])
    for w in workers:
        w.join()
    return merged


# ------------------------------------------------------------------ report


def quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))] * 1000


def report(title: str, merged: dict, seconds: float, target_ms: float) -> dict[str, bool]:
    print(f"\n{title}", flush=True)
    print(f"{'página':<12} {'requisições':>11} {'erros':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
          f"{'máx ms':>8} {'req/s':>8}")
    verdict = {}
    all_lat: list[float] = []
    all_err = 0
    for name, (lat, errors, samples) in merged.items():
        lat = sorted(lat)
        all_lat += lat
        all_err += errors
        p95 = quantile(lat, 0.95)
        print(f"{name:<12} {len(lat) + errors:>11,} {errors:>6} {quantile(lat, 0.5):>8.1f} {p95:>8.1f} "
              f"{quantile(lat, 0.99):>8.1f} {(lat[-1] * 1000 if lat else float('nan')):>8.1f} "
              f"{(len(lat) + errors) / seconds:>8.1f}")
        for sample in samples:
            print(f"    erro: {sample}")
        verdict[name] = bool(lat) and errors == 0 and p95 <= target_ms
    all_lat.sort()
    print(f"{'total':<12} {len(all_lat) + all_err:>11,} {all_err:>6} {quantile(all_lat, 0.5):>8.1f} "
          f"{quantile(all_lat, 0.95):>8.1f} {quantile(all_lat, 0.99):>8.1f} "
          f"{(all_lat[-1] * 1000 if all_lat else float('nan')):>8.1f} {(len(all_lat) + all_err) / seconds:>8.1f}",
          flush=True)
    return verdict


def add_database_arguments(ap: argparse.ArgumentParser) -> None:
    """The options of the scaled database (``database``) and of the lists' month, shared with bench/web_cpu.py."""
    ap.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--db", default=str(OUT / "web.db"), help="the SQLite file (default bench/out/web.db)")
    ap.add_argument("--reuse", action="store_true", help="use the database built by an earlier run")
    ap.add_argument("--calls", type=int, default=1_000_000,
                    help="CDR rows to build, calls and their linked legs (default 1000000)")
    ap.add_argument("--customers", type=int, default=1_000, help="extra customers to build (default 1000)")
    ap.add_argument("--months", type=int, default=12, help="months of traffic to build (default 12)")
    ap.add_argument("--heavy", type=int, default=4_000, help=f"CDR rows a month of {CIRCUIT} (default 4000)")
    ap.add_argument("--month", default=None, help="the call lists' month AAAA-MM (default: the current one)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python bench/web.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_database_arguments(ap)
    ap.add_argument("--clients", type=int, default=20, help="concurrent clients (default 20)")
    ap.add_argument("--procs", type=int, default=4, help="client processes the clients are spread over (default 4)")
    ap.add_argument("--seconds", type=float, default=20.0, help="measured seconds (default 20)")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds of load before measuring (default 3)")
    ap.add_argument("--workers", type=int, default=2, help="processes of painel web (default 2)")
    ap.add_argument("--threads", type=int, default=8, help="threads per process of painel web (default 8)")
    ap.add_argument("--pages", default="faturas,efetuadas,recebidas",
                    help="pages each client cycles through (default faturas,efetuadas,recebidas)")
    ap.add_argument("--think", type=float, default=0.0,
                    help="ms a client waits between requests (default 0: a closed loop, the issue's load)")
    ap.add_argument("--target-ms", type=float, default=100.0, help="the p95 target (default 100)")
    ap.add_argument("--port", type=int, default=0, help="the server's port (default: a free one)")
    args = ap.parse_args(argv)

    from bench.router import free_port

    OUT.mkdir(parents=True, exist_ok=True)
    url = database(args)
    paths, info = page_targets(url, args.month)
    chosen = [p.strip() for p in args.pages.split(",") if p.strip()]
    unknown = set(chosen) - set(paths)
    if unknown or not chosen:
        ap.error(f"--pages: use some of {', '.join(paths)}")
    paths = {name: paths[name] for name in chosen}
    calls = ", ".join(f"{d} {n:,}" for d, n in sorted(info["circuit_calls"]))
    print(f"banco ({args.engine}): {info['rows']:,} linhas de CDR, {info['customers']:,} clientes, "
          f"{info['circuits']:,} circuitos, {info['invoices']:,} faturas; circuito {CIRCUIT} em {info['month']}: "
          f"{calls}", flush=True)
    port = args.port or free_port()
    server = Server(url, port, args.workers, args.threads)
    sampler = RssSampler(server.proc.pid)
    sampler.start()
    try:
        # one client alone first: what a page costs without queueing
        single = load(port, paths, 1, 1, 1.0, 3.0)
        report("1 cliente (sem concorrência), 3 s:", single, 3.0, args.target_ms)
        merged = load(port, paths, args.clients, args.procs, args.warmup, args.seconds, args.think / 1000)
        think = f", {args.think:.0f} ms de pausa entre requisições" if args.think else ""
        verdict = report(f"{args.clients} clientes concorrentes ({args.procs} processos{think}), {args.seconds:.0f} s "
                         f"(após {args.warmup:.0f} s de aquecimento), servidor com {args.workers} processos x {args.threads} threads, "
                         f"{os.cpu_count()} CPUs:", merged, args.seconds, args.target_ms)
    finally:
        sampler.stop_event.set()
        sampler.join()
        server.stop()
    print(f"\nRSS máximo do servidor: {sampler.peak_kib / 1024:.0f} MiB", flush=True)
    for name, held in verdict.items():
        print(f"meta p95 <= {args.target_ms:.0f} ms sem erros, {name}: {'OK' if held else 'NÃO ATINGIDA'}")
    print(f"caminhos: {paths}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
