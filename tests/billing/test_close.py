"""Closing a month (``billing.close`` and ``painel bill close``) on SQLite and PostgreSQL.

The demo operator's traffic (``painel.demo.run_demo``) gives three past months,
2026-08..2026-10, and November to date; every circuit's plan has a R$ 37,50 fee.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

import billing.close as close_mod
from billing.close import close_month, open_invoice_total, previous_month
from cdr_ingest.pipeline import Ingester
from cdr_ingest.synth import json_cdr, scenario_call
from painel.cli import main
from painel.demo import run_demo
from painel.errors import LockedError, UnknownCircuit, ValidationError
from painel.locks import job_lock
from painel.models import AuditEvent, Cdr, Circuit, Invoice, InvoiceLine, QuarantinedCdr, RatePlan, RatePlanVersion

D = Decimal
NOW = datetime(2026, 11, 20, 15, tzinfo=timezone.utc)
FEE = D("37.50")
BILLED = ("outbound", "forwarded", "collect")


@pytest.fixture
def billed_db(demo_db, settings):  # type: ignore[no-untyped-def]
    run_demo(settings, demo_db, now=NOW, calls_per_day=1.0)
    return demo_db


def active_circuits(engine) -> dict[int, str]:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return dict(s.execute(select(Circuit.id, Circuit.number).where(Circuit.active.is_(True))).all())


def invoices(engine, month: str) -> dict[str, Invoice]:  # type: ignore[no-untyped-def]
    with Session(engine, expire_on_commit=False) as s:
        rows = s.scalars(select(Invoice).where(Invoice.month == month)).all()
        out = {}
        for inv in rows:
            inv.lines  # load
            out[inv.circuit.number] = inv
        return out


def month_calls(engine, circuit_id: int, month: str) -> list[Cdr]:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return list(s.scalars(select(Cdr).where(Cdr.circuit_id == circuit_id, Cdr.bill_month == month,
                                                Cdr.role == "call", Cdr.direction.in_(BILLED))))


def snapshot(engine):  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        inv = s.execute(select(Invoice.id, Invoice.circuit_id, Invoice.month, Invoice.state, Invoice.total,
                               Invoice.issued_on, Invoice.due_on).order_by(Invoice.id)).all()
        lines = s.execute(select(InvoiceLine.invoice_id, InvoiceLine.position, InvoiceLine.description,
                                 InvoiceLine.amount).order_by(InvoiceLine.id)).all()
        links = s.execute(select(Cdr.id, Cdr.invoice_id).order_by(Cdr.id)).all()
    return inv, lines, links


def ingest_late_call(engine, settings, *, start: datetime, seconds: int, seed: str) -> Cdr:  # type: ignore[no-untyped-def]
    """An outbound LDN call of 8011441 whose CDR arrives only now."""
    call = scenario_call("outbound", circuit="8011441", did=None, other="0218632221234",
                         start_epoch=int(start.timestamp()), talk_seconds=seconds, uuid_seed=seed)
    ingester = Ingester(engine, settings)
    stats = ingester.ingest_items([ingester.json_item(json_cdr(call.a), f"late-{seed}")])
    assert stats.rated == 1, stats.summary()
    with Session(engine) as s:
        return s.scalar(select(Cdr).where(Cdr.uuid == call.a.uuid))


# ------------------------------------------------------------------ closing


def test_close_september_makes_one_exact_invoice_per_active_circuit(billed_db) -> None:  # type: ignore[no-untyped-def]
    circuits = active_circuits(billed_db)
    result = close_month(billed_db, "2026-09", now=NOW)
    assert (result.closed, result.already_closed, result.failed) == (len(circuits), 0, 0)
    made = invoices(billed_db, "2026-09")
    assert set(made) == set(circuits.values())
    grand = D("0")
    for cid, number in circuits.items():
        inv = made[number]
        calls = month_calls(billed_db, cid, "2026-09")
        assert calls, f"the demo should have September calls for {number}"
        assert inv.state == "closed"
        assert inv.issued_on == date(2026, 11, 20) and inv.due_on == date(2026, 11, 30)
        assert inv.closed_at is not None
        assert inv.total == sum((l.amount for l in inv.lines), D("0"))
        assert inv.total == sum((c.amount for c in calls), D("0")) + FEE
        assert [l.position for l in inv.lines] == list(range(1, len(inv.lines) + 1))
        fee_lines = [l for l in inv.lines if l.kind == "monthly_fee"]
        assert [(l.description, l.amount) for l in fee_lines] == [("Mensalidade do plano", FEE)]
        assert not [l for l in inv.lines if l.kind == "adjustment"]
        answered = [c for c in calls if c.billsec > 0]
        assert sum(l.calls for l in inv.lines if l.kind == "category") == len(answered)
        assert {c.invoice_id for c in calls} == {inv.id}
        grand += inv.total
    assert result.total == grand
    assert result.summary() == (f"closed={len(circuits)} already_closed=0 failed=0 empty=0 total={grand:.2f}")
    # nothing outside September was touched
    with Session(billed_db) as s:
        assert s.scalar(select(func.count()).select_from(Cdr).where(
            Cdr.invoice_id.is_not(None), Cdr.bill_month != "2026-09")) == 0
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "billing.close")) == len(circuits)


def test_second_run_changes_nothing(billed_db) -> None:  # type: ignore[no-untyped-def]
    n = len(active_circuits(billed_db))
    close_month(billed_db, "2026-09", now=NOW)
    before = snapshot(billed_db)
    again = close_month(billed_db, "2026-09", now=datetime(2026, 11, 25, tzinfo=timezone.utc))
    assert (again.closed, again.already_closed, again.failed, again.total) == (0, n, 0, D("0"))
    assert again.summary().startswith(f"closed=0 already_closed={n} failed=0")
    assert snapshot(billed_db) == before


def test_late_september_call_lands_on_october_as_an_adjustment(billed_db, settings) -> None:  # type: ignore[no-untyped-def]
    close_month(billed_db, "2026-09", now=NOW)
    september = invoices(billed_db, "2026-09")["8011441"]
    late = ingest_late_call(billed_db, settings, start=datetime(2026, 9, 15, 13, tzinfo=timezone.utc),
                            seconds=37, seed="late-september")
    assert (late.bill_month, late.invoice_id, late.amount) == ("2026-09", None, D("0.18"))
    # re-closing September does not reopen it, and the call is not lost either
    assert close_month(billed_db, "2026-09", now=NOW).already_closed == len(active_circuits(billed_db))
    result = close_month(billed_db, "2026-10", now=NOW)
    assert result.failed == 0
    october = invoices(billed_db, "2026-10")["8011441"]
    adjustments = [l for l in october.lines if l.kind == "adjustment"]
    assert [(l.ref_month, l.calls, l.billable_seconds, l.amount) for l in adjustments] == [
        ("2026-09", 1, 42, D("0.18"))]
    assert adjustments[0].description == "Ajuste: chamadas de 09/2026 recebidas após o fechamento"
    assert october.lines[-1].kind == "adjustment"
    with Session(billed_db) as s:
        assert s.get(Cdr, late.id).invoice_id == october.id
    oct_calls = month_calls(billed_db, next(k for k, v in active_circuits(billed_db).items() if v == "8011441"),
                            "2026-10")
    assert october.total == sum((c.amount for c in oct_calls), D("0")) + FEE + D("0.18")
    assert october.total == sum((l.amount for l in october.lines), D("0"))
    assert invoices(billed_db, "2026-09")["8011441"].total == september.total


def test_late_call_of_an_unclosed_month_waits_for_its_own_close(billed_db, settings) -> None:  # type: ignore[no-untyped-def]
    # August is never closed here: its calls are not adjustments of October
    close_month(billed_db, "2026-10", now=NOW)
    october = invoices(billed_db, "2026-10")["8011441"]
    assert not [l for l in october.lines if l.kind == "adjustment"]
    with Session(billed_db) as s:
        assert s.scalar(select(func.count()).select_from(Cdr).where(
            Cdr.bill_month == "2026-08", Cdr.invoice_id.is_not(None))) == 0


def test_open_invoice_row_is_reused_and_closed(billed_db) -> None:  # type: ignore[no-untyped-def]
    cid = next(k for k, v in active_circuits(billed_db).items() if v == "8010348")
    with Session(billed_db) as s:
        inv = Invoice(circuit_id=cid, month="2026-09", state="open", total=D("1.00"))
        inv.lines.append(InvoiceLine(position=1, kind="category", description="velha", amount=D("1.00")))
        s.add(inv)
        s.commit()
        open_id = inv.id
    result = close_month(billed_db, "2026-09", circuit="8010348", now=NOW)
    assert (result.closed, result.failed) == (1, 0)
    inv = invoices(billed_db, "2026-09")["8010348"]
    assert inv.id == open_id and inv.state == "closed"
    assert "velha" not in [l.description for l in inv.lines]
    calls = month_calls(billed_db, cid, "2026-09")
    assert inv.total == sum((c.amount for c in calls), D("0")) + FEE
    with Session(billed_db) as s:
        assert s.scalar(select(func.count()).select_from(InvoiceLine).where(
            InvoiceLine.invoice_id == open_id)) == len(inv.lines)


def test_circuit_without_plan_gets_no_fee_and_a_warning(billed_db) -> None:  # type: ignore[no-untyped-def]
    with Session(billed_db) as s:
        s.execute(update(Circuit).where(Circuit.number == "8011959").values(rate_plan_id=None))
        s.commit()
    result = close_month(billed_db, "2026-09", circuit="8011959", now=NOW)
    assert result.failed == 0
    assert any("8011959" in w and "mensalidade" in w for w in result.warnings)
    inv = invoices(billed_db, "2026-09")["8011959"]
    assert not [l for l in inv.lines if l.kind == "monthly_fee"]


def test_circuit_with_nothing_to_charge_is_counted_empty(demo_db) -> None:  # type: ignore[no-untyped-def]
    with Session(demo_db) as s:
        s.execute(update(Circuit).where(Circuit.number == "8011959").values(rate_plan_id=None))
        s.commit()
    result = close_month(demo_db, "2026-09", circuit="8011959", now=NOW)
    assert (result.closed, result.empty, result.total) == (0, 1, D("0"))
    inv = invoices(demo_db, "2026-09")["8011959"]
    assert (inv.state, inv.total, inv.lines) == ("closed", D("0"), [])


def test_inactive_circuits_are_skipped(billed_db) -> None:  # type: ignore[no-untyped-def]
    with Session(billed_db) as s:
        s.execute(update(Circuit).where(Circuit.number == "8011880").values(active=False))
        s.commit()
    close_month(billed_db, "2026-09", now=NOW)
    assert "8011880" not in invoices(billed_db, "2026-09")


def test_each_plan_has_its_own_fee(billed_db) -> None:  # type: ignore[no-untyped-def]
    # the close reads each plan once per run: a second plan must not get the first one's fee
    with Session(billed_db) as s:
        plan = RatePlan(code="OUTRO", name="Outro plano")
        s.add(plan)
        s.flush()
        s.add(RatePlanVersion(plan_id=plan.id, version=1, valid_from=date(2026, 1, 1), monthly_fee=D("99.90")))
        s.execute(update(Circuit).where(Circuit.number == "8011441").values(rate_plan_id=plan.id))
        s.commit()
    result = close_month(billed_db, "2026-09", now=NOW)
    assert result.failed == 0
    fees = {number: [l.amount for l in inv.lines if l.kind == "monthly_fee"]
            for number, inv in invoices(billed_db, "2026-09").items()}
    assert fees.pop("8011441") == [D("99.90")]
    assert fees and set(map(tuple, fees.values())) == {(FEE,)}


def test_many_calls_are_linked_in_chunks(billed_db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(close_mod, "UPDATE_CHUNK", 3)
    circuits = active_circuits(billed_db)
    result = close_month(billed_db, "2026-09", now=NOW)
    assert result.failed == 0
    made = invoices(billed_db, "2026-09")
    for cid, number in circuits.items():
        calls = month_calls(billed_db, cid, "2026-09")
        assert len(calls) > 3
        assert {c.invoice_id for c in calls} == {made[number].id}
        assert made[number].total == sum((c.amount for c in calls), D("0")) + FEE


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize(("month", "words"), [
    ("2026-11", ["11/2026", "não terminou", "America/Fortaleza"]),  # the current month in Fortaleza
    ("2026-12", ["12/2026", "futuro"]),
    ("2026-13", ["mês inválido"]),
    ("09/2026", ["AAAA-MM"]),
])
def test_unfinished_or_bad_month_is_refused(demo_db, month: str, words: list[str]) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as err:
        close_month(demo_db, month, now=NOW)
    for word in words:
        assert word in err.value.message
    assert invoices(demo_db, month) == {}


def test_month_just_ended_in_utc_but_not_in_fortaleza(demo_db) -> None:  # type: ignore[no-untyped-def]
    just_after = datetime(2026, 11, 1, 1, 0, tzinfo=timezone.utc)  # 31/10 22:00 in Fortaleza
    with pytest.raises(ValidationError, match="não terminou"):
        close_month(demo_db, "2026-10", now=just_after)
    assert previous_month(demo_db, now=just_after) == "2026-09"
    assert previous_month(demo_db, now=NOW) == "2026-10"


def test_unknown_circuit(demo_db) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UnknownCircuit):
        close_month(demo_db, "2026-09", circuit="9999999", now=NOW)


def test_second_concurrent_run_is_locked(demo_db) -> None:  # type: ignore[no-untyped-def]
    with job_lock(demo_db, "bill-close"):
        with pytest.raises(LockedError) as err:
            close_month(demo_db, "2026-09", now=NOW)
    assert err.value.exit_code == 75
    assert invoices(demo_db, "2026-09") == {}


def test_quarantine_warns_and_strict_refuses(billed_db) -> None:  # type: ignore[no-untyped-def]
    with Session(billed_db) as s:
        s.add(QuarantinedCdr(fingerprint="f" * 64, uuid="x", reason="unknown_circuit", source="json", raw="{}"))
        s.add(QuarantinedCdr(fingerprint="e" * 64, uuid="y", reason="unknown_circuit", source="json", raw="{}",
                             resolved_at=NOW))
        s.commit()
    with pytest.raises(ValidationError, match="quarentena"):
        close_month(billed_db, "2026-09", strict=True, now=NOW)
    assert invoices(billed_db, "2026-09") == {}
    result = close_month(billed_db, "2026-09", now=NOW)
    assert result.closed == len(active_circuits(billed_db))
    assert [w for w in result.warnings if "1 CDR(s) em quarentena" in w]


# ------------------------------------------------------------------ failures


def _fail_on(monkeypatch, number: str) -> None:  # type: ignore[no-untyped-def]
    real = close_mod._close_circuit

    def flaky(session, circuit, *args, **kwargs):  # type: ignore[no-untyped-def]
        outcome = real(session, circuit, *args, **kwargs)  # everything written, then the crash
        if circuit.number == number:
            raise RuntimeError("disco cheio")
        return outcome

    monkeypatch.setattr(close_mod, "_close_circuit", flaky)


def test_failure_on_one_circuit_rolls_back_only_it_and_rerun_completes(billed_db, monkeypatch,
                                                                        caplog) -> None:  # type: ignore[no-untyped-def]
    circuits = active_circuits(billed_db)
    victim = "8010348"
    victim_id = next(k for k, v in circuits.items() if v == victim)
    _fail_on(monkeypatch, victim)
    result = close_month(billed_db, "2026-09", now=NOW)
    assert (result.closed, result.failed) == (len(circuits) - 1, 1)
    assert result.failures == {victim: "disco cheio"}
    assert any(victim in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    made = invoices(billed_db, "2026-09")
    assert victim not in made and len(made) == len(circuits) - 1
    assert {c.invoice_id for c in month_calls(billed_db, victim_id, "2026-09")} == {None}
    with Session(billed_db) as s:  # no half-made invoice: no orphan lines, no audit event
        assert s.scalar(select(func.count()).select_from(InvoiceLine).where(
            InvoiceLine.invoice_id.not_in(select(Invoice.id)))) == 0
    monkeypatch.undo()
    again = close_month(billed_db, "2026-09", now=NOW)
    assert (again.closed, again.already_closed, again.failed) == (1, len(circuits) - 1, 0)
    inv = invoices(billed_db, "2026-09")[victim]
    calls = month_calls(billed_db, victim_id, "2026-09")
    assert inv.total == sum((c.amount for c in calls), D("0")) + FEE
    assert {c.invoice_id for c in calls} == {inv.id}


# ------------------------------------------------------------------ running total


def test_open_invoice_total_of_the_current_month(billed_db, settings) -> None:  # type: ignore[no-untyped-def]
    circuits = active_circuits(billed_db)
    cid = next(k for k, v in circuits.items() if v == "8011441")
    calls = month_calls(billed_db, cid, "2026-11")
    expected = sum((c.amount for c in calls), D("0")) + FEE
    with Session(billed_db) as s:
        assert open_invoice_total(s, cid, "2026-11") == expected
    # a late call of a closed month will land on the next invoice: counted in the running total
    close_month(billed_db, "2026-10", now=NOW)
    ingest_late_call(billed_db, settings, start=datetime(2026, 10, 20, 13, tzinfo=timezone.utc), seconds=37,
                     seed="late-october")
    with Session(billed_db) as s:
        assert open_invoice_total(s, cid, "2026-11") == expected + D("0.18")
        assert open_invoice_total(s, cid, "2026-10") == invoices(billed_db, "2026-10")["8011441"].total


def test_open_lines_are_the_lines_the_close_prints(billed_db, settings) -> None:  # type: ignore[no-untyped-def]
    """The portal adds the open month up in SQL; the close adds call by call: same lines, every circuit."""
    close_month(billed_db, "2026-09", now=NOW)
    for n, day in enumerate((3, 17, 28)):  # late September calls: an adjustment line on October
        ingest_late_call(billed_db, settings, start=datetime(2026, 9, day, 13, tzinfo=timezone.utc),
                         seconds=30 + n * 41, seed=f"late-sep-{n}")
    circuits = active_circuits(billed_db)
    expected = {}
    with Session(billed_db) as s:
        for cid, number in circuits.items():
            circuit = s.get(Circuit, cid)
            fee = close_mod.plan_monthly_fee(s, circuit.rate_plan_id, "2026-10")
            expected[number] = [(ln.kind, ln.description, ln.calls, ln.billable_seconds, ln.amount, ln.ref_month)
                                for ln in close_mod.open_lines(s, cid, "2026-10", None, fee)]
    assert any(kind == "adjustment" for kind, *_ in expected["8011441"])
    close_month(billed_db, "2026-10", now=NOW)
    printed = {number: [(ln.kind, ln.description, ln.calls, ln.billable_seconds, ln.amount, ln.ref_month)
                        for ln in sorted(inv.lines, key=lambda ln: ln.position)]
               for number, inv in invoices(billed_db, "2026-10").items()}
    assert printed == expected


def test_open_sums_and_chart_counts_are_served_by_the_billed_index(engine, db_url) -> None:  # type: ignore[no-untyped-def]
    """The Fatura em Aberto and the chart read ix_cdrs_billed, never the circuit's whole history."""
    from billing.chart import counts_query
    from sqlplan import query_plan

    params = {"circuit_id": 1, "month": "2026-11"}
    for statement, args in ((close_mod._open_sums_query(False), params),
                            (close_mod._open_sums_query(True), {**params, "open_invoice_id": 7}),
                            (counts_query([1, 2, 3], "2025-12", "2026-11"), {})):
        plan = query_plan(engine, statement, args)
        if db_url.startswith("sqlite"):  # the index alone answers: the table is never read
            assert "USING COVERING INDEX ix_cdrs_billed (circuit_id=?" in plan, plan
            assert "SCAN cdrs" not in plan, plan
        else:
            assert "ix_cdrs_billed" in plan, plan
            assert "Seq Scan on cdrs" not in plan, plan


def test_the_billed_index_carries_every_column_the_sums_read(engine) -> None:  # type: ignore[no-untyped-def]
    """Both engines: ix_cdrs_billed holds every cdrs column the Fatura em Aberto's sums and the chart's
    counts name, in the model and in the migrated database (an index-only scan is possible)."""
    from billing.chart import counts_query
    from painel.models import BILLED_INDEX_COLUMNS, Cdr
    from sqlplan import columns_read, index_columns

    assert index_columns(engine, "cdrs", "ix_cdrs_billed") == BILLED_INDEX_COLUMNS
    for statement in (close_mod._open_sums_query(True), counts_query([1, 2], "2025-12", "2026-11")):
        read = columns_read(statement, Cdr.__table__)
        assert {"circuit_id", "bill_month", "category"} <= read
        assert read <= set(BILLED_INDEX_COLUMNS), read - set(BILLED_INDEX_COLUMNS)


# ------------------------------------------------------------------ CLI


@pytest.fixture
def runner(tmp_path, monkeypatch) -> CliRunner:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    return CliRunner(env={"PAINEL_CONFIG": None, "PAINEL_DATABASE_URL": None, "PAINEL_LOG_LEVEL": "WARNING"})


def bill(runner: CliRunner, url: str, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(main, ["--database-url", url, "bill", "close", *args])


def test_cli_close_then_again(billed_db, db_url, runner) -> None:  # type: ignore[no-untyped-def]
    n = len(active_circuits(billed_db))
    first = bill(runner, db_url, "--month", "2026-09", "--progress")
    assert first.exit_code == 0, (first.stdout, first.stderr)
    assert first.stdout.startswith(f"closed={n} already_closed=0 failed=0 empty=0 total=")
    assert "fechando 2026-09" in first.stderr
    again = bill(runner, db_url, "--month", "2026-09")
    assert again.exit_code == 0
    assert again.stdout.startswith(f"closed=0 already_closed={n} failed=0")
    one = bill(runner, db_url, "--month", "2026-08", "--circuit", "8011441", "--no-progress")
    assert one.exit_code == 0 and one.stdout.startswith("closed=1 already_closed=0")


@pytest.mark.parametrize("args", [
    ("--month", "2999-01"), ("--month", "2026-13"), (), ("--month", "2026-09", "--previous-month"),
    ("--month", "2026-09", "--circuit", "9999999"),
])
def test_cli_bad_month_or_circuit_is_exit_2(demo_db, db_url, runner, args) -> None:  # type: ignore[no-untyped-def]
    result = bill(runner, db_url, *args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("erro: ") and result.stdout == ""


def test_cli_locked_is_exit_75(demo_db, db_url, runner) -> None:  # type: ignore[no-untyped-def]
    with job_lock(demo_db, "bill-close"):
        result = bill(runner, db_url, "--previous-month")
    assert result.exit_code == 75
    assert "em andamento" in result.stderr


def test_cli_failed_circuit_is_exit_1(billed_db, db_url, runner, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _fail_on(monkeypatch, "8011927")
    result = bill(runner, db_url, "--month", "2026-09")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "failed=1" in result.stdout
    assert "8011927" in result.stderr


def test_cli_strict_with_quarantine_is_exit_2(demo_db, db_url, runner) -> None:  # type: ignore[no-untyped-def]
    with Session(demo_db) as s:
        s.add(QuarantinedCdr(fingerprint="f" * 64, uuid="x", reason="malformed", source="json", raw="{"))
        s.commit()
    result = bill(runner, db_url, "--previous-month", "--strict")
    assert result.exit_code == 2 and "quarentena" in result.stderr


def _walk(command: click.Command, path: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from _walk(sub, (*path, name))


def test_every_bill_command_is_documented(runner) -> None:  # type: ignore[no-untyped-def]
    walked = list(_walk(main.commands["bill"], ("bill",)))
    assert {" ".join(p) for p, _ in walked} >= {"bill", "bill close"}
    for path, command in walked:
        assert command.help and "Exemplo" in command.help
        result = runner.invoke(main, [*path, "--help"])
        assert result.exit_code == 0 and "Exemplo" in result.stdout
        for param in command.params:
            if isinstance(param, click.Option) and param.name != "help":
                assert param.help, f"{' '.join(path)} {param.opts[0]} sem ajuda"
