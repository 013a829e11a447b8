"""Demo data scaled up: the demo operator plus many customers, and about a million CDR rows.

What the portal benchmark (``bench/web.py``) reads. The database holds:

* the demo operator (``painel.demo.ensure_operator``: its customers, circuits, DIDs,
  blacklists, the PADRAO plan; every demo circuit signs in with ``painel-demo``);
* ``customers`` extra customers with 1 to 4 circuits each (two DIDs per circuit), so the
  tables are big while each subscriber sees its own, realistic volume;
* ``--months`` months of already-rated ``cdrs`` rows ending with the current month (to
  "now"): received, outbound, follow-me and collect calls, unanswered attempts and the
  linked b-legs, written with the ingester's bulk paths (SQLite ``INSERT OR IGNORE``
  executemany, PostgreSQL ``COPY``), the row generator of ``bench.billing``. The demo's
  circuit 8011441 gets ``--heavy`` rows a month (a few thousand calls), the other demo
  circuits a tenth of that, the extra circuits share the rest;
* every past month closed (``billing.close.close_month``, one invoice per circuit), and
  the demo customers' invoices paid except those of the last closed month.

    python -m bench.scale --out bench/out/web.db                    # SQLite, 1,000,000 rows
    python -m bench.scale --engine postgresql --rows 200000
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time as dtime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bench.common import DDDS  # noqa: E402

UTC = timezone.utc
ZONE = ZoneInfo("America/Sao_Paulo")
#: the demo circuit that gets a few thousand calls a month
HEAVY_CIRCUIT = "8011441"
#: extra circuits are numbered from here (the demo uses 801xxxx, bench.common 81xxxxx)
FIRST_EXTRA = 8_200_000
CHUNK = 50_000


@dataclass
class ScaleInfo:
    url: str
    rows: int = 0
    calls: int = 0
    customers: int = 0
    circuits: int = 0
    months: list[str] = field(default_factory=list)
    current_month: str = ""
    invoices: int = 0
    load_seconds: float = 0.0
    close_seconds: float = 0.0
    built_at: str = ""


def month_list(now: datetime, count: int) -> list[str]:
    """``count`` months ending with the current one (in America/Sao_Paulo), oldest first."""
    local = now.astimezone(ZONE)
    y, m = local.year, local.month
    out = []
    for _ in range(count):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return out[::-1]


def _first_of_next(month: str) -> date:
    y, m = (int(x) for x in month.split("-"))
    return date(y + (m == 12), m % 12 + 1, 1)


def add_customers(engine: Engine, customers: int, *, seed: int = 5) -> int:
    """``customers`` customers with 1-4 circuits each (two DIDs per circuit); returns the circuits."""
    import random

    from werkzeug.security import generate_password_hash

    from painel.demo import DEMO_PASSWORD
    from painel.models import Circuit, Customer, Did, RatePlan
    from painel.models import utcnow

    rng = random.Random(seed)
    password_hash = generate_password_hash(DEMO_PASSWORD)
    now = utcnow()
    with engine.begin() as conn:
        plan_id = conn.execute(sa.select(RatePlan.id).where(RatePlan.code == "PADRAO")).scalar_one()
        first_id = (conn.execute(sa.select(sa.func.max(Customer.id))).scalar() or 0) + 1
        conn.execute(sa.insert(Customer), [
            {"id": first_id + i, "name": f"CLIENTE BENCH {i:05d} LTDA", "document": None,
             "email": f"cliente{i:05d}@bench.example.com.br", "active": True, "created_at": now}
            for i in range(customers)])
        rows = []
        n = 0
        for i in range(customers):
            for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
                ddd = DDDS[n % len(DDDS)]
                rows.append({"number": str(FIRST_EXTRA + n), "customer_id": first_id + i,
                             "name": f"LINHA {n:05d}", "home_ddd": ddd, "timezone": "America/Sao_Paulo",
                             "rate_plan_id": plan_id, "web_password_hash": password_hash,
                             "outbound_rules": json.dumps(["local", "ldn", "movel", "ldi", "especial", "gratuita"]),
                             "flag_web": True, "flag_faturas": True, "flag_grafico": True,
                             "active": True, "created_at": now, "updated_at": now})
                n += 1
        conn.execute(sa.insert(Circuit), rows)
        ids = conn.execute(sa.select(Circuit.id, Circuit.number, Circuit.home_ddd)
                           .where(Circuit.number >= str(FIRST_EXTRA))).all()
        conn.execute(sa.insert(Did), [
            {"e164": f"+55{ddd}{k}{int(number) - FIRST_EXTRA:07d}", "raw": f"55{ddd}{k}{int(number) - FIRST_EXTRA:07d}",
             "circuit_id": cid, "created_at": now, "updated_at": now}
            for cid, number, ddd in ids for k in (5, 6)])
    return n


def _circuit_rows(engine: Engine) -> dict[str, tuple[int, str, str, list[str]]]:
    """number -> (id, number, home_ddd, dids without '+') of every active circuit."""
    from painel.models import Circuit, Did

    with engine.connect() as conn:
        dids: dict[int, list[str]] = {}
        for cid, e164 in conn.execute(sa.select(Did.circuit_id, Did.e164)):
            dids.setdefault(cid, []).append(e164.lstrip("+"))
        return {number: (cid, number, ddd, dids.get(cid) or [f"55{ddd}32220000"])
                for cid, number, ddd in conn.execute(
                    sa.select(Circuit.id, Circuit.number, Circuit.home_ddd).where(Circuit.active.is_(True))
                    .order_by(Circuit.id))}


def load_month(engine: Engine, month: str, groups: list[tuple[list, int]], now: datetime, seed: int) -> tuple[int, int]:
    """Write each group's rows of ``month`` (circuits, rows); calls past ``now`` are left out.

    Returns (rows, calls) stored.
    """
    from bench.billing import _plan_rules, cdr_rows, close_moment
    from cdr_ingest.store import insert_cdrs

    sqlite = engine.dialect.name == "sqlite"
    rules = _plan_rules(engine, month)
    loaded_at = min(close_moment(month) - timedelta(days=4), now)
    limit = now.strftime("%Y-%m-%d %H:%M:%S") if sqlite else now.astimezone(UTC).replace(tzinfo=None)
    start_col = 15
    rows = calls = 0
    for g, (circuits, n) in enumerate(groups):
        if not circuits or n <= 0:
            continue
        generator = cdr_rows(n, circuits, month, rules, sqlite=sqlite, loaded_at=loaded_at, seed=seed * 100 + g)
        while True:
            batch = [r for _, r in zip(range(CHUNK), generator)]
            if not batch:
                break
            batch = [r for r in batch if r[start_col] <= limit]
            calls += sum(1 for r in batch if r[2] == "call" and r[0] == r[3])
            with engine.begin() as conn:
                stored = insert_cdrs(conn, batch)
            if stored != len(batch):
                raise RuntimeError(f"{len(batch) - stored} uuids repetidos nas linhas geradas de {month}")
            rows += stored
    return rows, calls


def close_past(engine: Engine, months: list[str], progress: bool = True) -> int:
    """Close every month but the last (the current one); returns how many invoices were closed."""
    from billing.close import close_month

    invoices = 0
    for month in months[:-1]:
        t = time.perf_counter()
        moment = datetime.combine(_first_of_next(month), dtime(7), tzinfo=UTC)
        result = close_month(engine, month, now=moment, actor="bench")
        if result.failed:
            raise RuntimeError(f"fechamento de {month} falhou: {dict(list(result.failures.items())[:3])}")
        invoices += result.closed + result.empty
        if engine.dialect.name == "postgresql":
            # a month apart, autovacuum would have analysed the new invoices long before the next close
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("ANALYZE invoices, invoice_lines, audit_events, cdrs"))
        if progress:
            print(f"  fechado {month}: {result.summary()} em {time.perf_counter() - t:.1f} s", flush=True)
    return invoices


def pay_demo(engine: Engine, months: list[str], now: datetime) -> int:
    """Pay the demo customers' invoices of the closed months, except the last closed one."""
    from billing.payments import apply_payment
    from painel.demo import DEMO_CUSTOMERS
    from painel.models import Circuit, Invoice

    numbers = [dc.number for _, _, _, circuits in DEMO_CUSTOMERS for dc in circuits]
    closed = months[:-1]
    if len(closed) < 2:
        return 0
    with Session(engine) as session:
        invoices = session.execute(
            sa.select(Invoice.id, Invoice.total, Invoice.due_on).join(Circuit, Circuit.id == Invoice.circuit_id)
            .where(Circuit.number.in_(numbers), Invoice.month.in_(closed[:-1]), Invoice.state == "closed",
                   Invoice.total > 0)).all()
    paid = 0
    for invoice_id, total, due_on in invoices:
        paid_on = min((due_on or now.date()) - timedelta(days=2), now.date())
        result = apply_payment(engine, invoice_id, Decimal(total), paid_on, f"BENCH-{invoice_id}", actor="bench",
                               now=min(now, datetime.combine(paid_on, dtime(15), tzinfo=UTC)))
        paid += result.status == "applied"
    return paid


def analyze(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))


def build(url: str, *, rows: int = 1_000_000, customers: int = 1_000, months: int = 12, heavy: int = 4_000,
          now: datetime | None = None, progress: bool = True) -> ScaleInfo:
    """Fill the (empty, migrated) database at ``url``; returns what was written."""
    from painel.db import create_engine
    from painel.demo import DEMO_CUSTOMERS, ensure_operator

    now = (now or datetime.now(UTC)).astimezone(UTC)
    info = ScaleInfo(url=url, built_at=now.isoformat(timespec="seconds"))
    engine = create_engine(url)
    try:
        t = time.perf_counter()
        with Session(engine) as session:
            ensure_operator(session)
            session.commit()
        extra = add_customers(engine, customers)
        by_number = _circuit_rows(engine)
        demo_numbers = [dc.number for _, _, _, cs in DEMO_CUSTOMERS for dc in cs]
        heavy_circuit = [by_number[HEAVY_CIRCUIT]]
        light_demo = [by_number[n] for n in demo_numbers if n != HEAVY_CIRCUIT]
        extras = [c for n, c in by_number.items() if n not in demo_numbers]
        info.customers = len(DEMO_CUSTOMERS) + customers
        info.circuits = len(by_number)
        info.months = month_list(now, months)
        info.current_month = info.months[-1]
        # the current month counts for the share of it that has passed
        local = now.astimezone(ZONE)
        first = datetime(local.year, local.month, 1, tzinfo=ZONE)
        days = (_first_of_next(info.current_month) - first.date()).days
        elapsed = max(0.05, (local - first).total_seconds() / (days * 86_400))
        per_month = rows / (months - 1 + elapsed)
        if progress:
            print(f"escala: {info.customers:,} clientes, {info.circuits:,} circuitos ({extra:,} extras), "
                  f"{months} meses ({info.months[0]} a {info.current_month}), ~{rows:,} linhas de CDR", flush=True)
        for i, month in enumerate(info.months):
            tm = time.perf_counter()
            budget = int(per_month)  # a full month; the current one is cut at "now"
            groups = [(heavy_circuit, heavy), (light_demo, heavy // 10 * len(light_demo)),
                      (extras, max(0, budget - heavy - heavy // 10 * len(light_demo)))]
            stored, calls = load_month(engine, month, groups, now, seed=i + 1)
            info.rows += stored
            info.calls += calls
            if progress:
                print(f"  {month}: {stored:,} linhas ({calls:,} chamadas) em {time.perf_counter() - tm:.1f} s",
                      flush=True)
        analyze(engine)
        info.load_seconds = time.perf_counter() - t
        t = time.perf_counter()
        info.invoices = close_past(engine, info.months, progress)
        paid = pay_demo(engine, info.months, now)
        analyze(engine)
        info.close_seconds = time.perf_counter() - t
        if progress:
            print(f"carga: {info.rows:,} linhas de CDR ({info.calls:,} chamadas) em {info.load_seconds:.0f} s "
                  f"= {info.rows / info.load_seconds:,.0f} linhas/s; {info.invoices:,} faturas fechadas, "
                  f"{paid} pagas, em {info.close_seconds:.0f} s", flush=True)
    finally:
        engine.dispose()
    return info


def describe(url: str) -> dict:
    """What a scaled database holds (for --reuse): rows, calls, months, the heavy circuit's volume."""
    from painel.db import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            q = lambda sql, **p: conn.execute(sa.text(sql), p).scalar()  # noqa: E731
            out = {
                "rows": q("SELECT count(*) FROM cdrs"),
                "circuits": q("SELECT count(*) FROM circuits"),
                "customers": q("SELECT count(*) FROM customers"),
                "invoices": q("SELECT count(*) FROM invoices"),
                "last_month": q("SELECT max(bill_month) FROM cdrs WHERE role = 'call'"),
            }
            out["heavy_calls_last_month"] = q(
                "SELECT count(*) FROM cdrs c JOIN circuits k ON k.id = c.circuit_id WHERE k.number = :n "
                "AND c.role = 'call' AND c.bill_month = :m", n=HEAVY_CIRCUIT, m=out["last_month"])
        return out
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    from bench.common import fresh_pg, fresh_sqlite

    ap = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "web.db"),
                    help="SQLite file (replaced); for postgresql, the database name is painel_bench_web")
    ap.add_argument("--rows", type=int, default=1_000_000, help="CDR rows in all (default 1000000)")
    ap.add_argument("--customers", type=int, default=1_000, help="extra customers (default 1000)")
    ap.add_argument("--months", type=int, default=12, help="months of traffic to the current one (default 12)")
    ap.add_argument("--heavy", type=int, default=4_000,
                    help=f"CDR rows a month of circuit {HEAVY_CIRCUIT} (default 4000)")
    args = ap.parse_args(argv)
    url = fresh_sqlite(args.out) if args.engine == "sqlite" else fresh_pg("painel_bench_web")
    info = build(url, rows=args.rows, customers=args.customers, months=args.months, heavy=args.heavy)
    print(json.dumps(asdict(info), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
