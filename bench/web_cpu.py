"""Portal CPU cost per page: the app in-process, Flask's test client, no server, no load.

``bench/web.py`` measures latency under load, which on a shared two-core machine moves
with whatever else runs. The figure that decides how many pages a worker serves is the
CPU a request costs, and ``time.process_time`` measures it almost regardless of noise.
This script builds (or reuses, ``--reuse``) the same scaled database as ``bench/web.py``,
creates the app with ``webui.create_app``, signs a client in as the demo subscriber
8011441 through the real login form (CSRF token included), then fetches each page
``--requests`` times after ``--warmup`` unmeasured ones and prints, per page, the CPU ms
per request (the lowest mean of ``--rounds`` rounds, since other work on a shared
machine only ever adds to it; this process: Flask, SQLAlchemy, Jinja, the database driver, SQLite's own
work, and the test client's few tenths of a millisecond) and the wall p50/p95.

    python bench/web_cpu.py --reuse                          # bench/out/web.db, 500 requests a page
    python bench/web_cpu.py --reuse --save before.json       # keep the figures...
    python bench/web_cpu.py --reuse --compare before.json    # ...and print a before/after table
    python bench/web_cpu.py --reuse --profile                # plus cProfile's top entries
    python bench/web_cpu.py --reuse --against /tmp/painel-antes   # this tree and another one, round by round
    python bench/web_cpu.py --engine postgresql --reuse      # painel_bench_web on PAINEL_TEST_PG_URL's server

On a shared machine even CPU time moves by tens of percent from one minute to the next.
``--against DIR`` runs the code of another tree (an unchanged copy, say) in a second
process, signed in the same way, and alternates rounds of requests between the two, so
both see the same conditions; it prints the lowest and the median round of each.

A response counts only when it is 200 and holds the page's marker (``bench.web.MARKERS``).
Figures only: nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.web import CIRCUIT, MARKERS, OUT, _CSRF, add_database_arguments, database, page_targets  # noqa: E402


def make_app(url: str):  # type: ignore[no-untyped-def]
    from painel.settings import Settings
    from webui import create_app

    var_dir = OUT / "web-var"
    var_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(database_url=url, var_dir=str(var_dir), secret_key="bench-web",
                        web_login_limit_address="100000/minute", web_login_limit_account="100000/minute",
                        log_level="WARNING")
    return create_app(settings)


def sign_in(client) -> None:  # type: ignore[no-untyped-def]
    from painel.demo import DEMO_PASSWORD

    page = client.get("/entrar")
    token = _CSRF.search(page.data)
    if page.status_code != 200 or token is None:
        raise RuntimeError(f"GET /entrar: {page.status_code}")
    response = client.post("/entrar", data={"usuario": CIRCUIT, "senha": DEMO_PASSWORD,
                                            "csrf_token": token.group(1).decode()})
    if response.status_code != 302 or "/entrar" in response.headers.get("Location", ""):
        raise RuntimeError(f"login de {CIRCUIT} falhou: {response.status_code}")


def measure(client, path: str, marker: bytes, requests: int, warmup: int,  # type: ignore[no-untyped-def]
            rounds: int = 1) -> dict | None:
    """CPU ms per request: the lowest mean of ``rounds`` rounds (other work on the machine only
    ever adds to a round's CPU time: caches, frequency), and the wall times of every request."""
    for _ in range(warmup):
        client.get(path)
    if not requests:
        return None
    walls: list[float] = []
    errors = 0
    per_round = max(1, requests // rounds)
    cpu_means = []
    for _ in range(rounds):
        cpu0 = time.process_time()
        for _ in range(per_round):
            t0 = time.perf_counter()
            response = client.get(path)
            walls.append(time.perf_counter() - t0)
            if response.status_code != 200 or marker not in response.data:
                errors += 1
        cpu_means.append((time.process_time() - cpu0) / per_round)
    walls.sort()
    return {"cpu_ms": min(cpu_means) * 1000, "cpu_ms_mean": statistics.mean(cpu_means) * 1000,
            "p50_ms": statistics.median(walls) * 1000,
            "p95_ms": walls[min(len(walls) - 1, int(0.95 * len(walls)))] * 1000, "errors": errors,
            "requests": per_round * rounds}


def serve(url: str, month: str | None, pages: list[str], warmup: int) -> int:
    """``--serve``: measure on request, one line in ("page requests"), one JSON line out."""
    paths, _ = page_targets(url, month)
    client = make_app(url).test_client()
    sign_in(client)
    for name in pages:
        measure(client, paths[name], MARKERS[name], 0, warmup)
    print("pronto", flush=True)
    for line in sys.stdin:
        name, count = line.split()
        print(json.dumps(measure(client, paths[name], MARKERS[name], int(count), 0)), flush=True)
    return 0


def against(other: str, url: str, month: str | None, pages: list[str], requests: int, rounds: int,
            warmup: int) -> dict[str, dict[str, list[float]]]:
    """Rounds of each page alternated between this tree and ``other``: CPU ms of every round."""
    import subprocess

    other_root = str(Path(other).resolve())
    # the other tree's packages first (webui, billing, painel, bench.web), this script itself
    code = ("import runpy, sys; sys.path[:0] = sys.argv[1:3]; del sys.argv[:3]; "
            "runpy.run_path(sys.argv[0], run_name='__main__')")
    argv = [sys.executable, "-c", code, other_root, str(ROOT), str(Path(__file__).resolve()),
            "--serve", url, "--pages", ",".join(pages), "--warmup", str(warmup)] + (["--month", month] if month else [])
    child = subprocess.Popen(argv, cwd=other_root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        if (child.stdout.readline() or "").strip() != "pronto":  # type: ignore[union-attr]
            raise RuntimeError(f"--against {other}: o processo de comparação não iniciou")
        paths, _ = page_targets(url, month)
        client = make_app(url).test_client()
        sign_in(client)
        for name in pages:
            measure(client, paths[name], MARKERS[name], 0, warmup)
        per_round = max(1, requests // rounds)
        out: dict[str, dict[str, list[float]]] = {"este": {p: [] for p in pages}, "outro": {p: [] for p in pages}}
        for r in range(rounds):
            for name in pages:
                for side in (("este", "outro") if r % 2 == 0 else ("outro", "este")):
                    if side == "este":
                        result = measure(client, paths[name], MARKERS[name], per_round, 0)
                    else:
                        child.stdin.write(f"{name} {per_round}\n")  # type: ignore[union-attr]
                        child.stdin.flush()  # type: ignore[union-attr]
                        result = json.loads(child.stdout.readline())  # type: ignore[union-attr]
                    if result["errors"]:
                        raise RuntimeError(f"{side}: {result['errors']} respostas erradas em {name}")
                    out[side][name].append(result["cpu_ms"])
        return out
    finally:
        if child.stdin:
            child.stdin.close()
        child.wait(timeout=60)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python bench/web_cpu.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_database_arguments(ap)
    ap.add_argument("--pages", default="faturas,efetuadas,recebidas",
                    help="pages to measure (default faturas,efetuadas,recebidas)")
    ap.add_argument("--requests", type=int, default=500, help="measured requests per page (default 500)")
    ap.add_argument("--rounds", type=int, default=5,
                    help="rounds the requests are split into; CPU ms is the lowest round's mean (default 5)")
    ap.add_argument("--warmup", type=int, default=30, help="unmeasured requests per page first (default 30)")
    ap.add_argument("--profile", action="store_true", help="also profile the measured requests (cProfile)")
    ap.add_argument("--top", type=int, default=35, help="cProfile entries to print (default 35)")
    ap.add_argument("--save", metavar="JSON", help="write the figures to this file")
    ap.add_argument("--compare", metavar="JSON", help="print a before/after table against a file of --save")
    ap.add_argument("--against", metavar="DIR",
                    help="another tree of the project (e.g. an unchanged copy): rounds alternated with it")
    ap.add_argument("--serve", metavar="URL", help=argparse.SUPPRESS)  # the other side of --against
    args = ap.parse_args(argv)
    chosen = [p.strip() for p in args.pages.split(",") if p.strip()]
    if args.serve:
        return serve(args.serve, args.month, chosen, args.warmup)

    OUT.mkdir(parents=True, exist_ok=True)
    url = database(args)
    paths, info = page_targets(url, args.month)
    if not chosen or set(chosen) - set(paths):
        ap.error(f"--pages: use some of {', '.join(paths)}")
    print(f"banco ({args.engine}): {info['rows']:,} linhas de CDR; circuito {CIRCUIT} em {info['month']}: "
          + ", ".join(f"{d} {n:,}" for d, n in sorted(info["circuit_calls"])), flush=True)

    if args.against:
        rounds = against(args.against, url, args.month, chosen, args.requests, args.rounds, args.warmup)
        print(f"\n{args.rounds} rodadas de {max(1, args.requests // args.rounds)} requisições por página, alternadas "
              f"entre esta árvore e {args.against} (CPU ms por requisição):")
        print(f"{'página':<12} {'outro mín':>10} {'este mín':>10} {'outro med':>10} {'este med':>10} {'variação':>9}")
        for name in chosen:
            a, b = rounds["outro"][name], rounds["este"][name]
            print(f"{name:<12} {min(a):>10.2f} {min(b):>10.2f} {statistics.median(a):>10.2f} "
                  f"{statistics.median(b):>10.2f} {(statistics.median(b) / statistics.median(a) - 1) * 100:>+8.0f}%")
        if args.save:
            Path(args.save).write_text(json.dumps(rounds, indent=2))
        return 0

    app = make_app(url)
    client = app.test_client()
    sign_in(client)

    results: dict[str, dict] = {}
    profiler = None
    for name in chosen:
        if args.profile:
            import cProfile

            # warm up outside the profiler, then profile the measured requests only
            measure(client, paths[name], MARKERS[name], 0, args.warmup)
            profiler = profiler or cProfile.Profile()
            profiler.enable()
            results[name] = measure(client, paths[name], MARKERS[name], args.requests, 0)
            profiler.disable()
        else:
            gc.collect()
            results[name] = measure(client, paths[name], MARKERS[name], args.requests, args.warmup, args.rounds)

    before = json.loads(Path(args.compare).read_text()) if args.compare else {}
    note = " (com cProfile: os tempos incluem o custo do profiler)" if args.profile else ""
    print(f"\n{args.requests} requisições por página, após {args.warmup} de aquecimento{note}:")
    if before:
        print(f"{'página':<12} {'CPU ms antes':>13} {'CPU ms agora':>13} {'variação':>9} {'p50 antes':>10} "
              f"{'p50 agora':>10} {'erros':>6}")
        for name, r in results.items():
            b = before.get(name)
            if b is None:
                continue
            print(f"{name:<12} {b['cpu_ms']:>13.2f} {r['cpu_ms']:>13.2f} "
                  f"{(r['cpu_ms'] / b['cpu_ms'] - 1) * 100:>+8.0f}% {b['p50_ms']:>10.2f} {r['p50_ms']:>10.2f} "
                  f"{r['errors']:>6}")
    else:
        print(f"{'página':<12} {'CPU ms/req':>11} {'(média)':>8} {'p50 ms':>8} {'p95 ms':>8} {'erros':>6}")
        for name, r in results.items():
            print(f"{name:<12} {r['cpu_ms']:>11.2f} {r.get('cpu_ms_mean', r['cpu_ms']):>8.2f} {r['p50_ms']:>8.2f} "
                  f"{r['p95_ms']:>8.2f} {r['errors']:>6}")
    mean = sum(r["cpu_ms"] for r in results.values()) / len(results)
    print(f"média de CPU por requisição: {mean:.2f} ms (≈ {1000 / mean:.0f} req/s por núcleo)")
    if args.save:
        Path(args.save).write_text(json.dumps(results, indent=2))
        print(f"figuras em {args.save}")
    if profiler is not None:
        import pstats

        print()
        stats = pstats.Stats(profiler).strip_dirs()
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)
    return 1 if any(r["errors"] for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
