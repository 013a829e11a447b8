"""Shared set-up for the benchmarks: a bench operator with many circuits, fresh databases."""
from __future__ import annotations

import json
import os
import uuid
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from painel.db import upgrade
from painel.demo import ensure_holidays, ensure_plan
from painel.models import Circuit, Customer, Did

DDDS = ("98", "86", "85", "11", "21", "31", "61", "71", "81", "99")
PG_ADMIN_URL = os.environ.get("PAINEL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def bench_circuits(n: int) -> list[dict]:
    """``n`` circuits spread over DDDs, two DIDs each, some with follow-me."""
    out = []
    for i in range(n):
        ddd = DDDS[i % len(DDDS)]
        number = str(8100000 + i)
        dids = [f"55{ddd}3{i:07d}"[:12], f"55{ddd}4{i:07d}"[:12]]
        follow = f"0{21}{ddd}3222{i % 10000:04d}" if i % 7 == 0 else None
        out.append({"number": number, "home_ddd": ddd, "dids": dids, "followme_destination": follow})
    return out


def load_operator(engine: sa.engine.Engine, circuits: list[dict]) -> None:
    with Session(engine) as session:
        plan = ensure_plan(session)
        ensure_holidays(session, range(2023, 2029))
        customer = Customer(name="OPERADORA BENCH", document=None)
        session.add(customer)
        session.flush()
        for c in circuits:
            circuit = Circuit(number=c["number"], customer_id=customer.id, name=f"circuito {c['number']}",
                              home_ddd=c["home_ddd"], timezone="America/Sao_Paulo", rate_plan_id=plan.id,
                              outbound_rules=json.dumps(["local", "ldn", "movel", "ldi", "especial", "gratuita"]))
            session.add(circuit)
            session.flush()
            for d in c["dids"]:
                session.add(Did(e164="+" + d, raw=d, circuit_id=circuit.id))
        session.commit()


def fresh_sqlite(path: str) -> str:
    for suffix in ("", "-wal", "-shm"):
        try:
            os.remove(path + suffix)
        except FileNotFoundError:
            pass
    url = f"sqlite:///{path}"
    upgrade(url)
    return url


def fresh_pg(name: str | None = None) -> str:
    name = name or f"painel_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    return url


def drop_pg(url: str) -> None:
    name = make_url(url).database
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n "
                             "AND pid <> pg_backend_pid()"), {"n": name})
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def _tree_rss_kib(pid: int) -> int:
    """Resident memory of a process and all its descendants (Linux /proc), in KiB."""
    total = 0
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                for child in fh.read().split():
                    total += _tree_rss_kib(int(child))
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total


class MemorySampler:
    """Samples the RSS of this process tree (workers included) and keeps the peak.

    The sum counts pages shared by forked workers once per process, so it errs high.
    """

    def __init__(self, every: float = 0.1) -> None:
        import threading

        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)

    def _run(self, every: float) -> None:
        while not self._stop.wait(every):
            self.peak_kib = max(self.peak_kib, _tree_rss_kib(os.getpid()))

    def __enter__(self) -> "MemorySampler":
        self.peak_kib = _tree_rss_kib(os.getpid())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mib(self) -> float:
        return self.peak_kib / 1024


def money(v: Decimal) -> str:
    return f"{v:.2f}"
