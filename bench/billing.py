"""Month-close benchmark: 10,000 circuits, 1,000,000 rated CDRs of one month, one close.

From the issue: "With 10,000 circuits and 1,000,000 rated CDRs in one month: the close
takes at most 60 s on SQLite (and report PostgreSQL); peak memory under 1 GB."

For each engine, in a child process of its own (so the peak memory is that engine's):
a fresh database, the bench operator (``bench.common``: one plan, circuits spread over
DDDs), then CDR rows written straight into ``cdrs`` with the ingester's bulk paths
(SQLite ``INSERT OR IGNORE`` executemany, PostgreSQL ``COPY``), already rated: outbound
calls of every category with their amounts, received calls at zero cost, follow-me
(forwarded) and collect calls, unanswered attempts (billsec 0) and the b-legs
(role=linked). The load is timed and printed but is not the figure. Then
``billing.close.close_month`` is timed, and a cheap check after it proves every billed
call of the month is on an invoice and the invoices add up. Figures only: nothing
here asserts a time.

    python -m bench.billing                                  # 10,000 circuits, 1,000,000 CDRs, both engines
    python -m bench.billing --engines sqlite --cdrs 200000 --circuits 2000
    python -m bench.billing --engines postgresql --keep      # keep the database for a look afterwards

Later sections (PDF rendering) run after ``time_close`` on the same database: see
``run_engine``.
"""
from __future__ import annotations

import argparse
import gc
import math
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from bench.common import (  # noqa: E402
    MemorySampler,
    _tree_rss_kib,
    bench_circuits,
    drop_pg,
    fresh_pg,
    fresh_sqlite,
    load_operator,
)

OUT = ROOT / "bench" / "out"
UTC = timezone.utc
BILLED = ("outbound", "forwarded", "collect")

#: (kind, outcome, weight in calls): the shape of ``cdr_ingest.synth``'s bench mix
CALL_MIX = (
    ("inbound", "answered", 36), ("inbound", "no_answer", 6), ("inbound", "busy", 2),
    ("outbound", "answered", 32), ("outbound", "no_answer", 7), ("outbound", "busy", 3),
    ("blacklisted", "rejected", 3), ("collect", "rejected", 2), ("collect", "answered", 2),
    ("forwarded", "answered", 4), ("fallback", "answered", 1),
)
#: rating categories of outbound (and forwarded, collect) calls with their weights
CATEGORY_MIX = (
    ("local_fixo", 35), ("movel_vc1", 30), ("ldn_fixo", 12), ("movel_vc2", 6), ("movel_vc3", 4),
    ("gratuita", 3), ("especial", 3), ("ldi", 2),
)
#: area codes of the other party (the called number, or the caller of received calls)
DDD_POOL = ("98", "86", "85", "11", "21", "31", "61", "71", "81", "99", "41", "51", "62", "27")
HANGUP = {"answered": "NORMAL_CLEARING", "no_answer": "NO_ANSWER", "busy": "USER_BUSY",
          "rejected": "CALL_REJECTED"}
#: the static part of a mod_cdr_csv line (the raw column is ~700 bytes, as ingested rows are)
RAW_TAIL = ",".join(f'"{v}"' for v in (
    "default", "sofia/internal/8011441@10.0.0.10", "sofia/gateway/operadora", "bridge",
    "operadora/0218632221234", "painel_outbound", "PCMA", "PCMA", "10.0.0.10", "8011441",
    "8011441", "XML", "FreeSWITCH-mod_sofia/1.10.12-release~64bit", "sip:8011441@10.0.0.10:5060",
    "SIP/2.0 200 OK", "RTP/AVP", "0", "0", "1", "0", "0", "0", "false", "8011441", "recv_only", "",
    "send_recv", "ok", "normal", "UDP", "v=0 o=FreeSWITCH 1700000000 1700000001 IN IP4 10.0.0.1 s=FreeSWITCH "
    "c=IN IP4 10.0.0.1 t=0 0 m=audio 16384 RTP/AVP 8 101 a=rtpmap:8 PCMA/8000 a=rtpmap:101 "
    "telephone-event/8000 a=fmtp:101 0-16 a=ptime:20",
))


@dataclass
class LoadInfo:
    rows: int = 0
    calls: int = 0
    billed: int = 0
    billed_cents: int = 0
    seconds: float = 0.0
    operator_seconds: float = 0.0


def month_bounds(month: str, zone: str) -> tuple[datetime, datetime]:
    """The month's first and last instant (UTC) in ``zone``."""
    year, mon = (int(x) for x in month.split("-"))
    tz = ZoneInfo(zone)
    start = datetime(year, mon, 1, tzinfo=tz)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def close_moment(month: str) -> datetime:
    """``now`` for the close: the 5th of the next month, 12:00 UTC (the month is over everywhere)."""
    year, mon = (int(x) for x in month.split("-"))
    return datetime(year + (mon == 12), mon % 12 + 1, 5, 12, tzinfo=UTC)


def _rss_mib() -> float:
    return _tree_rss_kib(os.getpid()) / 1024


def _plan_rules(engine: Engine, month: str):  # type: ignore[no-untyped-def]
    """The bench plan's version valid on the month's first day (for rating and the expected fee)."""
    from sqlalchemy.orm import Session, selectinload

    from painel.catalog import version_rules
    from painel.models import RatePlan, RatePlanVersion
    from painel.rating import select_version

    with Session(engine) as session:
        plan = session.scalar(sa.select(RatePlan).where(RatePlan.code == "PADRAO").options(
            selectinload(RatePlan.versions).selectinload(RatePlanVersion.tariffs)))
        assert plan is not None
        versions = [version_rules(v, plan.code, frozenset()) for v in plan.versions]
    year, mon = (int(x) for x in month.split("-"))
    return select_version(versions, date(year, mon, 1))


def cdr_rows(n: int, circuits: list[tuple[int, str, str, list[str]]], month: str, rules: Any, *,
             sqlite: bool, loaded_at: datetime, seed: int = 11) -> Iterator[tuple[Any, ...]]:
    """``n`` already-rated ``cdrs`` rows (CDR_COLUMNS order) of ``month``, a- and b-legs alike.

    ``circuits`` are (id, number, home_ddd, dids); every circuit is in America/Sao_Paulo.
    """
    from cdr_ingest.store import _sqlite_text
    from painel.categories import Category
    from painel.rating import rate_call

    rng = random.Random(seed)
    rand, getbits = rng.random, rng.getrandbits
    start_utc, end_utc = month_bounds(month, "America/Sao_Paulo")
    t0 = int(start_utc.timestamp())
    span = int(end_utc.timestamp()) - t0 - 4000  # the last call ends before the month does
    kinds = [(k, o) for k, o, _ in CALL_MIX]
    kind_w = [w for _, _, w in CALL_MIX]
    cats = [c for c, _ in CATEGORY_MIX]
    cat_w = [w for _, w in CATEGORY_MIX]
    kind_pool = rng.choices(kinds, kind_w, k=8192)
    cat_pool = rng.choices(cats, cat_w, k=4096)
    talks = [rng.randint(1, 10) if rng.random() < 0.06 else
             max(1, min(3600, round(math.exp(rng.gauss(math.log(60), 1.0))))) for _ in range(4096)]
    rings = [max(1, min(30, round(math.exp(rng.gauss(math.log(6), 0.5))))) for _ in range(256)]
    local = ZoneInfo("America/Sao_Paulo")
    priced: dict[tuple[str, int], tuple[int, int]] = {}

    def price(cat: str, billsec: int, start: int) -> tuple[int, int]:
        key = (cat, billsec)
        hit = priced.get(key) if rules.time_band is None else None
        if hit is None:
            rated = rate_call(billsec, Category(cat), datetime.fromtimestamp(start, local).replace(tzinfo=None),
                              rules)
            hit = (rated.billable_seconds, int(rated.amount * 100))
            if rules.time_band is None:
                priced[key] = hit
        return hit

    if sqlite:
        ts = lambda e: _sqlite_text(datetime.fromtimestamp(e, UTC))  # noqa: E731
        now = loaded_at.strftime("%Y-%m-%d %H:%M:%S")
    else:
        ts = lambda e: datetime.fromtimestamp(e, UTC).replace(tzinfo=None)  # noqa: E731
        now = loaded_at.astimezone(UTC).replace(tzinfo=None)
    version_id = rules.id
    ncirc = len(circuits)
    source_ref = f"Master-{month}.csv"

    def uuid(tag: str) -> str:
        u = f"{getbits(128):032x}"
        return f"{u[:8]}-{u[8:12]}-4{u[13:16]}-{tag}{u[17:20]}-{u[20:]}"

    def number(ddd: str, mobile: bool) -> str:
        return f"55{ddd}{9 if mobile else 3}{getbits(27) % 10**7 + 10**7:08d}"[: 13 if mobile else 12]

    emitted = 0
    while emitted < n:
        kind, outcome = kind_pool[getbits(13)]
        cid, circuit, ddd, dids = circuits[getbits(24) % ncirc]
        start = t0 + int(rand() * span)
        ring = rings[getbits(8)]
        answered = outcome == "answered"
        talk = talks[getbits(12)] if answered else 0
        answer = start + ring if answered else None
        end = start + ring + talk
        a_uuid = uuid("a")
        b_uuid = uuid("b") if outcome in ("answered", "no_answer") else None
        did = dids[getbits(4) % len(dids)]
        other = number(DDD_POOL[getbits(4) % len(DDD_POOL)], bool(getbits(1)))
        cause = HANGUP[outcome]
        s_start, s_answer, s_end = ts(start), (ts(answer) if answer else None), ts(end)
        legs: list[tuple[Any, ...]] = []
        raw = f'"{other}","{circuit}","{s_start}","{s_answer or ""}","{s_end}","{ring + talk}","{talk}","{cause}","{a_uuid}",{RAW_TAIL}'
        if kind in ("outbound", "collect"):
            cat = cat_pool[getbits(12)]
            secs, cents = price(cat, talk, start) if talk else (0, 0)
            caller, dest = (circuit, other) if kind == "outbound" else (other, did)
            legs.append((a_uuid, "a", "call", a_uuid, b_uuid, cid, None if kind == "outbound" else did, kind,
                         "collect" if kind == "collect" else None,
                         "bridge" if answered or kind == "outbound" else "reject", "painel", caller, dest, other,
                         cat, s_start, s_answer, s_end, ring + talk, talk, cause, secs, cents,
                         version_id if talk else None, "normal" if talk else None, month, "csv", source_ref, raw,
                         now, now))
        elif kind == "forwarded":
            # the received a-leg costs nothing; the follow-me b-leg is an outbound call of the circuit
            cat = cat_pool[getbits(12)]
            secs, cents = price(cat, talk, start)
            legs.append((a_uuid, "a", "call", a_uuid, b_uuid, cid, did, "inbound", "follow_me", "forward",
                         "painel", other, did, other, None, s_start, s_answer, s_end, ring + talk, talk, cause,
                         0, 0, None, None, month, "csv", source_ref, raw, now, now))
            legs.append((b_uuid, "b", "call", a_uuid, None, cid, did, "forwarded", None, None, "painel", did,
                         other, other, cat, s_start, s_answer, s_end, ring + talk, talk, cause, secs, cents,
                         version_id, "normal", month, "csv", source_ref, raw.replace(a_uuid, b_uuid), now, now))
            b_uuid = None  # the b-leg is written above, as a call
        else:  # received: inbound, blacklisted (rejected), fallback (attributed by DID)
            rule = {"blacklisted": "blacklist", "fallback": None}.get(kind, "default")
            action = "reject" if kind == "blacklisted" else "bridge"
            legs.append((a_uuid, "a", "call", a_uuid, b_uuid, cid, did, "inbound", rule, action,
                         "did" if kind == "fallback" else "painel", other, did, other, None, s_start, s_answer,
                         s_end, ring + talk, talk, cause, 0, 0, None, None, month, "csv", source_ref, raw, now,
                         now))
        if b_uuid is not None:  # the other leg of a bridge: stored, linked, never billed
            legs.append((b_uuid, "b", "linked", a_uuid, None, None, None, None, None, None, None, circuit,
                         other, None, None, s_start, s_answer, s_end, ring + talk, talk, cause, 0, 0, None, None,
                         None, "csv", source_ref, raw.replace(a_uuid, b_uuid), now, None))
        for leg in legs:
            if emitted >= n:
                break
            emitted += 1
            yield leg


def load_cdrs(engine: Engine, n: int, month: str, *, chunk: int = 20_000) -> LoadInfo:
    """Write ``n`` rated CDR rows of ``month`` over the active circuits, ``chunk`` per transaction."""
    from cdr_ingest.store import insert_cdrs
    from painel.models import Circuit, Did

    info = LoadInfo()
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        dids: dict[int, list[str]] = {}
        for cid, e164 in conn.execute(sa.select(Did.circuit_id, Did.e164)):
            dids.setdefault(cid, []).append(e164.lstrip("+"))
        circuits = [(cid, number, ddd, dids.get(cid) or [f"55{ddd}32220000"])
                    for cid, number, ddd in conn.execute(
                        sa.select(Circuit.id, Circuit.number, Circuit.home_ddd).where(Circuit.active.is_(True))
                        .order_by(Circuit.id))]
    rules = _plan_rules(engine, month)
    t = time.perf_counter()
    rows = cdr_rows(n, circuits, month, rules, sqlite=sqlite, loaded_at=close_moment(month) - timedelta(days=4))
    role, direction, amount = 2, 7, 22
    while True:
        batch = [r for _, r in zip(range(chunk), rows)]
        if not batch:
            break
        for r in batch:
            if r[role] == "call" and r[direction] in BILLED:
                info.billed += 1
                info.billed_cents += r[amount]
            if r[role] == "call" and r[0] == r[3]:
                info.calls += 1
        with engine.begin() as conn:
            stored = insert_cdrs(conn, batch)
        assert stored == len(batch), f"{len(batch) - stored} duplicate uuids in the bench rows"
        info.rows += stored
    # steady state, as after a month of ingestion: statistics gathered (autovacuum would have),
    # the load's WAL checkpointed, so the close does not pay for the load's writes
    if sqlite:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE cdrs"))
            conn.execute(sa.text("CHECKPOINT"))
    info.seconds = time.perf_counter() - t
    return info


def prepare(engine_name: str, circuits: int, cdrs: int, month: str) -> tuple[str, Engine]:
    """A fresh database of ``engine_name`` with the bench operator and ``cdrs`` rated rows of ``month``.

    Prints the load figures; returns the URL and an engine on it (the caller disposes of it;
    a PostgreSQL database is dropped with ``bench.common.drop_pg``).
    """
    from painel.db import create_engine

    OUT.mkdir(parents=True, exist_ok=True)
    url = fresh_sqlite(str(OUT / "billing.db")) if engine_name == "sqlite" else fresh_pg()
    engine = create_engine(url)
    t = time.perf_counter()
    load_operator(engine, bench_circuits(circuits))
    operator_seconds = time.perf_counter() - t
    info = load_cdrs(engine, cdrs, month)
    info.operator_seconds = operator_seconds
    gc.collect()
    print(f"[{engine_name}] load (not part of the figure): {circuits:,} circuits in {operator_seconds:.1f} s; "
          f"{info.rows:,} CDR rows ({info.calls:,} calls, {info.billed:,} billed, "
          f"R$ {info.billed_cents / 100:,.2f}) of {month} in {info.seconds:.1f} s "
          f"= {info.rows / info.seconds:,.0f} rows/s", flush=True)
    return url, engine


def time_close(engine: Engine, month: str, now: datetime | None = None) -> dict[str, Any]:
    """Time ``close_month`` over every circuit; prints the figures and returns them."""
    from billing.close import close_month

    now = now or close_moment(month)
    billed_sql = ("SELECT count(*) FROM cdrs WHERE role = 'call' AND bill_month = :m "
                  "AND direction IN ('outbound', 'forwarded', 'collect')")
    with engine.connect() as conn:
        cdrs = conn.execute(sa.text("SELECT count(*) FROM cdrs")).scalar_one()
        billed = conn.execute(sa.text(billed_sql), {"m": month}).scalar_one()
    gc.collect()
    before = _rss_mib()
    with MemorySampler(every=0.05) as mem:
        t, cpu = time.perf_counter(), time.process_time()
        result = close_month(engine, month, now=now)
        seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    invoices = result.closed + result.empty
    name = engine.dialect.name
    print(f"[{name}] close {month}: {seconds:.2f} s = {invoices / seconds:,.0f} invoices/s = "
          f"{cdrs / seconds:,.0f} CDRs/s ({cdrs:,} CDR rows, {billed:,} of them billed calls); "
          f"CPU of this process {cpu:.1f} s; peak RSS {mem.peak_mib:.0f} MiB (at start {before:.0f} MiB)", flush=True)
    print(f"[{name}] {result.summary()}", flush=True)
    if result.failures:
        print(f"[{name}] failures: {dict(list(result.failures.items())[:5])}", flush=True)
    return {"seconds": seconds, "cpu_seconds": cpu, "invoices": invoices, "cdrs": cdrs, "peak_mib": mem.peak_mib,
            "start_mib": before, "result": result}


def check_close(engine: Engine, month: str, result: Any = None) -> bool:
    """Cheap checks after the close; prints them and answers whether all hold.

    Every billed call of the month is on its circuit's invoice of the month, nothing else
    is on an invoice, each invoice's total is the sum of its lines, and the invoices add
    up to the billed amounts plus one monthly fee per circuit.
    """
    t = time.perf_counter()
    rules = _plan_rules(engine, month)
    fee_cents = int(rules.monthly_fee * 100)
    billed = "role = 'call' AND direction IN ('outbound', 'forwarded', 'collect') AND bill_month = :m"
    q = {
        "circuits": "SELECT count(*) FROM circuits WHERE active",
        "with_plan": "SELECT count(*) FROM circuits WHERE active AND rate_plan_id IS NOT NULL",
        "billed": f"SELECT count(*) FROM cdrs WHERE {billed}",
        "billed_cents": f"SELECT coalesce(sum(amount), 0) FROM cdrs WHERE {billed}",
        "not_invoiced": f"SELECT count(*) FROM cdrs WHERE {billed} AND invoice_id IS NULL",
        "wrongly_invoiced": f"SELECT count(*) FROM cdrs WHERE invoice_id IS NOT NULL AND NOT ({billed})",
        "wrong_invoice": "SELECT count(*) FROM cdrs c JOIN invoices i ON i.id = c.invoice_id "
                         "WHERE i.circuit_id <> c.circuit_id OR i.month <> c.bill_month",
        "invoices": "SELECT count(*) FROM invoices WHERE month = :m AND state = 'closed'",
        "invoice_cents": "SELECT coalesce(sum(total), 0) FROM invoices WHERE month = :m",
        "line_cents": "SELECT coalesce(sum(l.amount), 0) FROM invoice_lines l JOIN invoices i "
                      "ON i.id = l.invoice_id WHERE i.month = :m",
        "unbalanced": "SELECT count(*) FROM invoices i WHERE i.month = :m AND i.total <> "
                      "(SELECT coalesce(sum(l.amount), 0) FROM invoice_lines l WHERE l.invoice_id = i.id)",
    }
    with engine.connect() as conn:
        v = {k: int(conn.execute(sa.text(sql), {"m": month}).scalar_one()) for k, sql in q.items()}
    expected = v["billed_cents"] + fee_cents * v["with_plan"]
    checks = {
        "every circuit has a closed invoice": v["invoices"] == v["circuits"],
        "every billed CDR of the month has invoice_id": v["not_invoiced"] == 0,
        "no other CDR has invoice_id": v["wrongly_invoiced"] == 0,
        "each CDR on its circuit's invoice of its month": v["wrong_invoice"] == 0,
        "each invoice total == sum of its lines": v["unbalanced"] == 0 and v["line_cents"] == v["invoice_cents"],
        "sum of totals == billed amounts + monthly fees": v["invoice_cents"] == expected,
    }
    if result is not None:
        checks["close result total == sum of totals"] = int(result.total * 100) == v["invoice_cents"]
    ok = all(checks.values())
    name = engine.dialect.name
    print(f"[{name}] check {'OK' if ok else 'FAILED'} ({time.perf_counter() - t:.1f} s): "
          f"{v['invoices']:,} invoices for {v['circuits']:,} circuits; {v['billed']:,} billed CDRs, "
          f"{v['not_invoiced']} without invoice_id; totals R$ {v['invoice_cents'] / 100:,.2f} = billed "
          f"R$ {v['billed_cents'] / 100:,.2f} + fees {v['with_plan']:,} x R$ {fee_cents / 100:.2f} "
          f"(expected R$ {expected / 100:,.2f})", flush=True)
    for label, held in checks.items():
        if not held:
            print(f"[{name}]   FAILED: {label}", flush=True)
    return ok


def run_engine(engine_name: str, args: argparse.Namespace) -> bool:
    """prepare -> close -> check (-> later sections on the same database) -> clean up."""
    url, engine = prepare(engine_name, args.circuits, args.cdrs, args.month)
    ok = True
    try:
        if not args.skip_close:
            figures = time_close(engine, args.month)
            ok = check_close(engine, args.month, figures["result"])
            if args.pdfs:
                from bench.pdf import month_figures, single_pdf_figures
                from painel.settings import load_settings

                if args.single_pdf_runs and engine_name == args.engines.split(",")[0].strip():
                    single_pdf_figures(args.single_pdf_runs)
                out = ROOT / "bench" / "out" / f"pdf-{engine_name}"
                settings = load_settings(environ={}, overrides={"database_url": url, "var_dir": str(out),
                                                                "pdf_dir": str(out)})
                print(f"[{engine_name}] rendering every invoice PDF of {args.month}", flush=True)
                month_figures(engine, settings, args.month, args.pdf_workers)
    finally:
        engine.dispose()
        if engine_name == "postgresql" and not args.keep:
            drop_pg(url)
        elif args.keep or engine_name == "sqlite":
            print(f"[{engine_name}] database kept: {url}", flush=True)
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.billing", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--circuits", type=int, default=10_000, help="active circuits (default 10000)")
    ap.add_argument("--cdrs", type=int, default=1_000_000,
                    help="CDR rows of the month, a- and b-legs alike (default 1000000)")
    ap.add_argument("--engines", default="sqlite,postgresql",
                    help="comma-separated: sqlite, postgresql (default both)")
    ap.add_argument("--month", default="2026-10", help="the month to load and close, YYYY-MM (default 2026-10)")
    ap.add_argument("--skip-close", action="store_true", help="only build and load the databases")
    ap.add_argument("--keep", action="store_true",
                    help="keep the PostgreSQL database (the SQLite file bench/out/billing.db is always kept)")
    ap.add_argument("--in-process", action="store_true",
                    help="run the engines in this process (default: one child process per engine, so each "
                         "peak memory is its own)")
    ap.add_argument("--pdfs", action=argparse.BooleanOptionalAction, default=True,
                    help="after the close, render every invoice PDF of the month (default on; --no-pdfs skips)")
    ap.add_argument("--pdf-workers", type=int, default=os.cpu_count() or 2,
                    help="worker processes for the PDFs (default: one per core)")
    ap.add_argument("--single-pdf-runs", type=int, default=30,
                    help="renders of the one-invoice PDF figure (chart + 200 calls; 0 skips)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    from painel.periods import check_month

    check_month(args.month)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    for e in engines:
        if e not in ("sqlite", "postgresql"):
            ap.error(f"unknown engine {e!r}")
    if not args.child:
        print(f"month close bench: {args.circuits:,} circuits, {args.cdrs:,} CDR rows of {args.month}", flush=True)
    ok = True
    for name in engines:
        if args.in_process or args.child:
            ok = run_engine(name, args) and ok
        else:
            cmd = [sys.executable, "-m", "bench.billing", "--child", "--engines", name,
                   "--circuits", str(args.circuits), "--cdrs", str(args.cdrs), "--month", args.month]
            cmd += ["--skip-close"] * args.skip_close + ["--keep"] * args.keep
            cmd += ["--pdf-workers", str(args.pdf_workers), "--single-pdf-runs", str(args.single_pdf_runs)]
            cmd += [] if args.pdfs else ["--no-pdfs"]
            ok = subprocess.run(cmd, cwd=ROOT).returncode == 0 and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
