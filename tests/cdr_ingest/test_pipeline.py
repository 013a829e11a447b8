"""The ingestion pipeline: nothing lost, nothing twice, every record in exactly one place."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid as uuidlib
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cdr_ingest.pipeline import Ingester
from cdr_ingest.quarantine import retry
from painel.demo import ensure_operator
from painel.models import Base, Cdr, Circuit, Customer, Did, IngestedFile, QuarantinedCdr

ROOT = Path(__file__).resolve().parents[2]
FS = ROOT / "tests" / "data" / "third_party" / "freeswitch"
LAB = FS / "lab_1.10.12"


def scaled_lab_csv(path: Path, copies: int, *, extra: list[str] = ()) -> int:  # type: ignore[assignment]
    """Master_painel.csv repeated with fresh uuids (links kept), plus ``extra`` lines."""
    lines = (LAB / "cdr_csv" / "Master_painel.csv").read_text().splitlines()
    ns = uuidlib.UUID("6f1c2d3e-0000-4000-8000-000000000000")
    out = []
    for i in range(copies):
        for line in lines:
            fields = line[1:-1].split('","')
            for col in (10, 11, 19, 20):
                if fields[col]:
                    fields[col] = str(uuidlib.uuid5(ns, f"{i}:{fields[col]}"))
            out.append('"' + '","'.join(fields) + '"')
        if extra and i % 50 == 0:
            out.extend(extra)
    path.write_text("\n".join(out) + "\n")
    return len(out)


def snapshot(engine) -> tuple[list, list]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        cdrs = conn.execute(sa.text(
            "SELECT uuid, leg, role, call_uuid, circuit_id, direction, category, billable_seconds, amount, "
            "bill_month FROM cdrs ORDER BY uuid")).all()
        quarantine = conn.execute(sa.text(
            "SELECT fingerprint, reason, raw FROM cdr_quarantine ORDER BY fingerprint")).all()
    return [tuple(r) for r in cdrs], [tuple(r) for r in quarantine]


BAD_LINES = [
    '"only","three","fields"',
    # a call of a circuit that does not exist (painel_circuit 8099999)
    '"x","8099999","32221234","painel_outbound","2026-11-28 01:38:00","2026-11-28 01:38:03",'
    '"2026-11-28 01:38:34","34","31","NORMAL_CLEARING","0d6f1f1e-0000-4000-8000-00000000beef","","",'
    '"PCMU","PCMU","8099999","","outbound","","0d6f1f1e-0000-4000-8000-00000000beef","","31",'
    '"1795829880","1795829883","1795829914"',
    # billsec is not a number
    '"x","8011441","32221234","painel_outbound","2026-11-28 01:38:00","","2026-11-28 01:38:34","34",'
    '"abc","NORMAL_CLEARING","0d6f1f1e-0000-4000-8000-00000000cafe","","","PCMU","PCMU","8011441","",'
    '"outbound","","0d6f1f1e-0000-4000-8000-00000000cafe","","abc","1795829880","0","1795829914"',
]


def test_every_record_lands_in_exactly_one_place(demo_db, settings, tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "Master.csv"
    n = scaled_lab_csv(path, 100, extra=BAD_LINES)
    stats = Ingester(demo_db, settings).ingest_paths([path])
    assert stats.total == n
    assert stats.rated == 2400 and stats.duplicate == 0
    assert stats.quarantined == 3 * 2  # the extra lines, twice (copies 0 and 50)
    with Session(demo_db) as session:
        reasons = dict(session.execute(select(QuarantinedCdr.reason, func.count()).group_by(QuarantinedCdr.reason)).all())
        # identical raw lines are one quarantine entry (fingerprint), not two
        assert reasons == {"malformed": 2, "unknown_circuit": 1}
        assert session.scalar(select(func.count()).select_from(Cdr)) == 2400
        assert all(q.raw for q in session.scalars(select(QuarantinedCdr)))
        state = session.scalars(select(IngestedFile)).one()
        assert state.completed_at is not None and state.lines_done == n


def test_same_file_twice_adds_nothing_and_says_so(demo_db, settings, tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "Master.csv"
    n = scaled_lab_csv(path, 10)
    Ingester(demo_db, settings).ingest_paths([path])
    before = snapshot(demo_db)
    again = Ingester(demo_db, settings).ingest_paths([path])
    assert (again.rated, again.duplicate, again.skipped_files) == (0, n, 1)
    forced = Ingester(demo_db, settings).ingest_paths([path], force=True)
    assert (forced.rated, forced.duplicate, forced.quarantined) == (0, n, 0)
    # the same legs under another file name are duplicates too
    copy = tmp_path / "Master.csv.1"
    copy.write_text(path.read_text() + "")
    renamed = Ingester(demo_db, settings).ingest_paths([copy])
    assert renamed.rated == 0 and renamed.duplicate + renamed.skipped_files * 0 == n
    assert snapshot(demo_db) == before


def test_quarantine_retry_after_the_circuit_exists(demo_db, settings, tmp_path):  # type: ignore[no-untyped-def]
    """The CGRateS lab CDRs (extensions 1001-1003) wait in quarantine until the operator
    maps them: here extensions 1002/1003 become DIDs of a test circuit, so they rate."""
    files = sorted((FS / "json_cdr").glob("*.json"))
    assert len(files) == 5
    stats = Ingester(demo_db, settings).ingest_paths(files)
    assert (stats.rated, stats.quarantined) == (0, 5)
    with Session(demo_db) as session:
        assert {q.reason for q in session.scalars(select(QuarantinedCdr))} == {"unknown_circuit"}
        customer = Customer(name="LABORATÓRIO CGRATES")
        session.add(customer)
        session.flush()
        circuit = Circuit(number="8090001", customer_id=customer.id, name="lab", home_ddd="11",
                          timezone="America/Sao_Paulo")
        session.add(circuit)
        session.flush()
        for ext in ("1002", "1003"):
            session.add(Did(e164=f"+{ext}", raw=ext, circuit_id=circuit.id))
        session.commit()
    result = retry(demo_db, settings)
    assert (result.resolved, result.still) == (5, 0)
    with Session(demo_db) as session:
        rows = session.scalars(select(Cdr)).all()
        assert len(rows) == 5
        # 1001 is the caller (a SIP user, not a circuit's DID): the calls are received by the
        # DIDs' circuit, at zero cost; the billsec the switch reported is kept
        assert {r.direction for r in rows} == {"inbound"}
        assert sorted(r.billsec for r in rows) == [15, 21, 21, 66, 68]
        assert all(q.resolved_at is not None for q in session.scalars(select(QuarantinedCdr)))
    again = retry(demo_db, settings)
    assert (again.resolved, again.still) == (0, 0)


def test_fsdocs_csv_lines_quarantined_with_reason(demo_db, settings):  # type: ignore[no-untyped-def]
    stats = Ingester(demo_db, settings).ingest_paths([FS / "cdr_csv" / "fsdocs_Master.csv"])
    assert (stats.rated, stats.quarantined) == (0, 5)
    with Session(demo_db) as session:
        qs = session.scalars(select(QuarantinedCdr)).all()
        assert {q.reason for q in qs} == {"unknown_circuit"}
        assert all(q.template == "example" for q in qs)
        assert all("9007" in q.detail or "9008" in q.detail for q in qs)


def _painel(url: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    full_env = {**os.environ, "PAINEL_DATABASE_URL": url, **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "painel", "cdr", "ingest", "--no-progress", *args],
                            env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigkill_in_the_middle_then_rerun_equals_uninterrupted(demo_db, db_url, tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "Master.csv"
    scaled_lab_csv(path, 1000, extra=BAD_LINES)  # 24,060 lines
    env = {"PAINEL_INGEST_BATCH_SIZE": "500"}
    # the uninterrupted run, then a clean slate
    proc = _painel(db_url, str(path), env=env)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert out.strip().splitlines()[-1] == "rated=24000 duplicate=0 quarantined=60"
    expected = snapshot(demo_db)
    with demo_db.begin() as conn:
        for table in ("cdrs", "cdr_quarantine", "ingested_files"):
            conn.execute(sa.text(f"DELETE FROM {table}"))
    # killed once some batches are committed, but well before the end
    proc = _painel(db_url, str(path), env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with demo_db.connect() as conn:
            done = conn.execute(sa.text("SELECT COUNT(*) FROM cdrs")).scalar()
        if done >= 3000:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    with demo_db.connect() as conn:
        partial = conn.execute(sa.text("SELECT COUNT(*) FROM cdrs")).scalar()
    assert 0 < partial < 24000, partial
    proc = _painel(db_url, str(path), env=env)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    last = out.strip().splitlines()[-1]
    rated = int(last.split()[0].split("=")[1])
    assert rated == 24000 - partial
    assert snapshot(demo_db) == expected
    with Session(demo_db) as session:
        total = sum(session.scalars(select(Cdr.amount)))
    # run B's billed calls: collect 0,27 + forwarded 0,15 + outbound 0,06 + 0,43 + 0,40 + 0,85
    assert total == Decimal("2.16") * 1000


def test_unreadable_input_exit_code(db_url, tmp_path):  # type: ignore[no-untyped-def]
    proc = _painel(db_url, str(tmp_path / "missing.csv"))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 4
    assert "arquivo não encontrado" in err


def test_database_failure_exit_code(demo_db, db_url, tmp_path):  # type: ignore[no-untyped-def]
    """A database that fails mid-ingest (here: the cdrs table is gone) is exit code 3."""
    path = tmp_path / "Master.csv"
    scaled_lab_csv(path, 2)
    with demo_db.begin() as conn:
        conn.execute(sa.text("ALTER TABLE cdrs RENAME TO cdrs_gone"))
    try:
        proc = _painel(db_url, str(path))
        out, err = proc.communicate(timeout=60)
    finally:  # the PostgreSQL database is shared by the session's tests
        with demo_db.begin() as conn:
            conn.execute(sa.text("ALTER TABLE cdrs_gone RENAME TO cdrs"))
    assert proc.returncode == 3, err
    assert "falha no banco de dados" in err


def test_postgresql_copy_yields_to_a_concurrent_writer(pg_database, tmp_path):  # type: ignore[no-untyped-def]
    """Two ingesters store the same legs at once: the direct COPY of the second meets the
    first's rows on the unique key, falls back to ON CONFLICT DO NOTHING, and stores nothing twice."""
    import threading

    from cdr_ingest import store
    from cdr_ingest.pipeline import prepare
    from painel.db import create_engine
    from painel.settings import load_settings

    engine = create_engine(pg_database)
    with engine.begin() as conn:  # the session's PostgreSQL database, emptied as db_url does
        names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    with Session(engine) as session:
        ensure_operator(session)
        session.commit()
    ingester = Ingester(engine, load_settings(environ={}, overrides={"database_url": pg_database}))
    items = [ingester.json_item(p.read_text(), str(p)) for p in sorted((LAB / "json_cdr").glob("*.json"))]
    rows = prepare(items, ingester.catalog, sqlite=False).rows
    result: dict[str, int] = {}
    first = engine.connect()
    first.begin()
    assert store.insert_cdrs(first, list(rows)) == 48  # not committed yet

    def second() -> None:
        with engine.begin() as conn:
            result["second"] = store.insert_cdrs(conn, list(rows))

    t = threading.Thread(target=second)
    t.start()
    time.sleep(0.5)  # the second COPY is now waiting on the first's uncommitted keys
    first.commit()
    first.close()
    t.join(timeout=30)
    assert result == {"second": 0}
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM cdrs")).scalar() == 48
    engine.dispose()


def test_no_plan_and_bad_number_wait_in_quarantine_until_fixed(demo_db, settings, tmp_path):  # type: ignore[no-untyped-def]
    a_leg = LAB / "json_cdr" / "s6a_out_local_fixed_a_f68bceb4-3a5d-4631-9639-486d399b171a.cdr.json"
    with Session(demo_db) as session:
        circuit = session.scalar(select(Circuit).where(Circuit.number == "8011441"))
        circuit_id, plan_id, circuit.rate_plan_id = circuit.id, circuit.rate_plan_id, None
        session.commit()
    # an answered outbound call to a number that is no number at all
    line = (LAB / "cdr_csv" / "Master_painel.csv").read_text().splitlines()
    bad = next(ln for ln in line if '"32221234","painel_outbound"' in ln and '"8011441","","outbound"' in ln)
    bad = bad.replace('"32221234"', '"12#4"').replace("f68bceb4", "0badbad0")
    bad_file = tmp_path / "bad.csv"
    bad_file.write_text(bad + "\n")
    ing = Ingester(demo_db, settings)
    stats = ing.ingest_paths([a_leg, bad_file])
    assert (stats.rated, stats.quarantined) == (0, 2)
    with Session(demo_db) as session:
        reasons = {q.reason: q for q in session.scalars(select(QuarantinedCdr))}
        assert set(reasons) == {"no_plan", "bad_number"}
        assert "sem plano" in reasons["no_plan"].detail
        assert "12#4" in reasons["bad_number"].detail
        session.get(Circuit, circuit_id).rate_plan_id = plan_id
        session.commit()
    result = retry(demo_db, settings)
    # the plan is back: the call rates; the bad number stays where it is, with its reason
    assert (result.resolved, result.still) == (1, 1)
    with Session(demo_db) as session:
        row = session.scalar(select(Cdr).where(Cdr.uuid.like("f68bceb4%")))
        assert row.amount == Decimal("0.06")
        left = session.scalars(select(QuarantinedCdr).where(QuarantinedCdr.resolved_at.is_(None))).one()
        assert left.reason == "bad_number" and left.retries == 1
