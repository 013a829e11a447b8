"""Ingest benchmark: 1,000,000 mod_cdr_csv rows, ingested, rated and committed.

Prints rows/s into SQLite and PostgreSQL, peak memory, the ratio to pandas.read_csv of
the same file (parsing alone, the floor) measured in the same run, and the time of one
`painel cdr explain` (start-up included). Figures only: nothing here asserts a time.

    python bench/ingest.py                 # 1,000,000 rows, both engines
    python bench/ingest.py --rows 200000 --engines sqlite
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import MemorySampler, bench_circuits, drop_pg, fresh_pg, fresh_sqlite, load_operator  # noqa: E402

OUT = ROOT / "bench" / "out"


def make_file(rows: int, circuits: list[dict]) -> Path:
    from cdr_ingest.synth import bench_csv_rows
    from cdr_ingest.templates import DEFAULT_CDR_CSV_CONF, load_csv_templates

    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"Master-{rows}.csv"
    if path.exists():
        return path
    fields = load_csv_templates(DEFAULT_CDR_CSV_CONF)["painel"]
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for line in bench_csv_rows(rows, circuits, fields):
            fh.write(line)
            fh.write("\n")
    tmp.rename(path)
    return path


def pandas_floor(path: Path) -> float:
    import pandas as pd

    t = time.perf_counter()
    df = pd.read_csv(path, header=None, dtype=str, keep_default_na=False)
    elapsed = time.perf_counter() - t
    assert len(df) > 0
    return elapsed


def run_one(engine_name: str, path: Path, circuits: int, workers: int) -> dict:
    """Ingest into a fresh database in a child process (so its peak memory is its own)."""
    cmd = [sys.executable, __file__, "--child", engine_name, "--file", str(path), "--circuits", str(circuits),
           "--workers", str(workers)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def child(engine_name: str, path: Path, n_circuits: int, workers: int) -> None:
    from cdr_ingest.pipeline import Ingester
    from painel.db import create_engine
    from painel.settings import load_settings

    if engine_name == "sqlite":
        url = fresh_sqlite(str(OUT / "bench.db"))
    else:
        url = fresh_pg()
    try:
        engine = create_engine(url)
        load_operator(engine, bench_circuits(n_circuits))
        settings = load_settings(environ={}, overrides={"database_url": url, "ingest_batch_size": 20000,
                                                        "ingest_workers": workers})
        ingester = Ingester(engine, settings)
        with MemorySampler() as mem:
            t = time.perf_counter()
            stats = ingester.ingest_paths([path])
            elapsed = time.perf_counter() - t
        print(json.dumps({"engine": engine_name, "seconds": elapsed, "rows": stats.total, "rated": stats.rated,
                          "duplicate": stats.duplicate, "quarantined": stats.quarantined,
                          "reasons": stats.reasons, "peak_mib": mem.peak_mib}))
        engine.dispose()
    finally:
        if engine_name == "postgresql":
            drop_pg(url)


def explain_timing(runs: int = 5) -> list[float]:
    """Wall time of `painel cdr explain` (a new process each time) against the demo-like DB."""
    from painel.db import create_engine
    from sqlalchemy.orm import Session

    from painel.demo import ensure_operator

    url = fresh_sqlite(str(OUT / "explain.db"))
    engine = create_engine(url)
    with Session(engine) as session:
        ensure_operator(session)
        session.commit()
    engine.dispose()
    painel = str(Path(sys.executable).with_name("painel"))
    env = {**os.environ, "PAINEL_DATABASE_URL": url}
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([painel, "cdr", "explain", "--circuit", "8011441", "--to", "0218632221234",
                        "--seconds", "37", "--at", "2026-10-14 10:00"], check=True, env=env,
                       capture_output=True)
        times.append(time.perf_counter() - t)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--circuits", type=int, default=2000)
    ap.add_argument("--engines", default="sqlite,postgresql")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--child")
    ap.add_argument("--file")
    args = ap.parse_args()
    if args.child:
        child(args.child, Path(args.file), args.circuits, args.workers)
        return
    circuits = bench_circuits(args.circuits)
    t = time.perf_counter()
    path = make_file(args.rows, circuits)
    print(f"file: {path.name} {path.stat().st_size / 2**20:.0f} MiB ({time.perf_counter() - t:.1f} s to prepare)")
    floor = pandas_floor(path)
    print(f"pandas.read_csv (parse only, the floor): {floor:.2f} s = {args.rows / floor:,.0f} rows/s")
    for name in args.engines.split(","):
        r = run_one(name, path, args.circuits, args.workers)
        rate = r["rows"] / r["seconds"]
        print(f"{name}: {r['rows']:,} rows in {r['seconds']:.2f} s = {rate:,.0f} CDRs/s "
              f"(rated={r['rated']} duplicate={r['duplicate']} quarantined={r['quarantined']}"
              f"{' ' + str(r['reasons']) if r['reasons'] else ''}); peak memory {r['peak_mib']:.0f} MiB "
              f"(process and workers); "
              f"ratio to pandas.read_csv {r['seconds'] / floor:.1f}x")
    times = explain_timing()
    print(f"painel cdr explain (new process, start-up included): median {statistics.median(times) * 1000:.0f} ms, "
          f"max {max(times) * 1000:.0f} ms over {len(times)} runs")


if __name__ == "__main__":
    main()
