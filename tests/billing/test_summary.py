"""The customer's "Faturas" page (``billing.summary``) on SQLite and PostgreSQL.

One customer with two active circuits in different time zones, an inactive one with an
old unpaid invoice, and a neighbour whose invoices must never show up. At NOW it is
already December in São Paulo and still November in Rio Branco.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from billing.payments import register_payment
from billing.summary import (
    OPEN_LABEL, UnknownCustomer, customer_summary, history, history_years, last_invoice, open_invoices,
    unpaid_invoices,
)
from painel.errors import ValidationError
from painel.models import Cdr, Circuit, Customer, Invoice, RatePlan, RatePlanVersion

D = Decimal
NOW = datetime(2026, 12, 1, 4, 0, tzinfo=timezone.utc)  # 01:00 in São Paulo, 23:00 (30/11) in Rio Branco
FEE = D("37.50")


@dataclass
class World:
    customer: int
    neighbour: int
    sp: int  # circuit 8011441, America/Sao_Paulo, plan with a R$ 37,50 fee
    acre: int  # circuit 8010348, America/Rio_Branco, no plan (no fee)
    old: int  # circuit 8010472, inactive
    invoices: dict[str, int]  # "<circuit>:<month>" -> invoice id


def call(circuit_id: int, month: str, amount: str, *, direction: str = "outbound", invoice_id: int | None = None,
         billsec: int = 60) -> Cdr:
    year, mon = (int(x) for x in month.split("-"))
    uid = str(uuid.uuid4())
    return Cdr(uuid=uid, call_uuid=uid, role="call", circuit_id=circuit_id, direction=direction,
               category="ldn_fixo", start_utc=datetime(year, mon, 15, 15, tzinfo=timezone.utc), billsec=billsec,
               billable_seconds=billsec, amount=D(amount), bill_month=month, invoice_id=invoice_id,
               source="json", raw="{}")


@pytest.fixture
def world(engine) -> World:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        plan = RatePlan(code="PADRAO", name="Padrão")
        s.add(plan)
        s.flush()
        s.add(RatePlanVersion(plan_id=plan.id, version=1, valid_from=date(2020, 1, 1), monthly_fee=FEE))
        customer = Customer(name="RESIDÊNCIA DO SR MA")
        neighbour = Customer(name="PSICOMED LTDA")
        s.add_all([customer, neighbour])
        s.flush()
        sp = Circuit(number="8011441", name="SaperxTeste", customer_id=customer.id, home_ddd="11",
                     timezone="America/Sao_Paulo", rate_plan_id=plan.id)
        acre = Circuit(number="8010348", name="TESTE CPP", customer_id=customer.id, home_ddd="68",
                       timezone="America/Rio_Branco")
        old = Circuit(number="8010472", name="", customer_id=customer.id, home_ddd="98",
                      timezone="America/Fortaleza", rate_plan_id=plan.id, active=False)
        other = Circuit(number="8012442", name="PSICOMED", customer_id=neighbour.id, home_ddd="86",
                        timezone="America/Fortaleza", rate_plan_id=plan.id)
        s.add_all([sp, acre, old, other])
        s.flush()
        specs = [
            (sp, "2025-11", "closed", "37.50"), (sp, "2025-12", "closed", "40.12"),
            (sp, "2026-10", "closed", "52.30"), (sp, "2026-11", "closed", "41.00"),
            (acre, "2025-12", "closed", "10.05"), (acre, "2026-10", "closed", "12.34"),
            (acre, "2026-11", "open", "0.00"),  # Rio Branco's current month, a running invoice row
            (old, "2025-06", "closed", "5.00"),
            (other, "2024-03", "closed", "99.99"), (other, "2026-11", "closed", "77.77"),
        ]
        invoices: dict[str, Invoice] = {}
        for circuit, month, state, total in specs:
            inv = Invoice(circuit_id=circuit.id, month=month, state=state, total=D(total))
            s.add(inv)
            invoices[f"{circuit.number}:{month}"] = inv
        s.flush()
        s.add_all([
            # São Paulo's December so far: two calls, a received one (free) and a late October call
            call(sp.id, "2026-12", "0.05"), call(sp.id, "2026-12", "1.20"),
            call(sp.id, "2026-12", "0.00", direction="inbound"),
            call(sp.id, "2026-10", "0.30"),  # arrived after October closed: lands on the open invoice
            call(sp.id, "2026-11", "2.00", invoice_id=invoices["8011441:2026-11"].id),  # already invoiced
            # Rio Branco's November so far (linked to the open row, or not yet)
            call(acre.id, "2026-11", "0.18", invoice_id=invoices["8010348:2026-11"].id),
            call(acre.id, "2026-11", "0.43"),
            call(acre.id, "2026-11", "0.00", billsec=0),  # unanswered
            # the inactive circuit and the neighbour have traffic too, never counted here
            call(old.id, "2026-12", "9.99"), call(other.id, "2026-12", "8.88"),
        ])
        s.commit()
        ids = {key: inv.id for key, inv in invoices.items()}
        w = World(customer=customer.id, neighbour=neighbour.id, sp=sp.id, acre=acre.id, old=old.id, invoices=ids)
    # payments: São Paulo's 2025 invoices and Rio Branco's October paid; São Paulo's October partly
    for key, amount in [("8011441:2025-11", "37.50"), ("8011441:2025-12", "40.12"), ("8010348:2025-12", "10.05"),
                        ("8010348:2026-10", "12.34"), ("8011441:2026-10", "20.00")]:
        pay(engine, w.invoices[key], amount)
    return w


def pay(engine, invoice_id: int, amount: str) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        register_payment(s, invoice_id, D(amount), date(2026, 11, 5), now=NOW)
        s.commit()


def test_fatura_em_aberto_sums_each_circuits_current_month(engine, world: World) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        current = open_invoices(s, world.customer, NOW)
    assert [(o.label, o.month, o.total, o.invoice_id) for o in current] == [
        ("8010348 - TESTE CPP", "2026-11", D("0.61"), world.invoices["8010348:2026-11"]),
        ("8011441 - SaperxTeste", "2026-12", D("0.05") + D("1.20") + D("0.30") + FEE, None),
    ]
    assert [o.circuit_id for o in current] == [world.acre, world.sp]


def test_customer_summary(engine, world: World) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        summary = customer_summary(s, world.customer, NOW)
    assert summary.customer_name == "RESIDÊNCIA DO SR MA"
    assert summary.open_label == OPEN_LABEL == "Mês de Referência: Atual"
    assert summary.open_total == D("39.66")  # 0.61 (Rio Branco) + 39.05 (São Paulo)
    assert summary.open_total == sum((o.total for o in summary.open_invoices), D("0"))
    # Última Fatura: November, closed for São Paulo only (Rio Branco's November is still running)
    last = summary.last_invoice
    assert last is not None
    assert (last.month, last.label, last.total, last.paid, last.outstanding) == (
        "2026-11", "11/2026", D("41.00"), False, D("41.00"))
    assert [(i.circuit_number, i.invoice_id) for i in last.invoices] == [
        ("8011441", world.invoices["8011441:2026-11"])]
    # still owed: São Paulo October 52.30 - 20.00, November 41.00, the inactive circuit's 5.00
    assert (summary.unpaid_total, summary.unpaid_count) == (D("78.30"), 3)
    assert summary.years == (2026, 2025)


def test_ultima_fatura_once_paid(engine, world: World) -> None:  # type: ignore[no-untyped-def]
    pay(engine, world.invoices["8011441:2026-11"], "30.00")
    with Session(engine) as s:
        last = last_invoice(s, world.customer)
    assert last is not None and (last.total, last.paid, last.outstanding) == (D("41.00"), False, D("11.00"))
    pay(engine, world.invoices["8011441:2026-11"], "11.00")
    with Session(engine) as s:
        last = last_invoice(s, world.customer)
        summary = customer_summary(s, world.customer, NOW)
    assert last is not None and (last.total, last.paid, last.outstanding) == (D("41.00"), True, D("0.00"))
    assert last.invoices[0].state == "paid" and last.invoices[0].paid_amount == D("41.00")
    assert (summary.unpaid_total, summary.unpaid_count) == (D("37.30"), 2)


def test_last_invoice_spans_circuits_of_the_same_month(engine, world: World) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        s.get(Invoice, world.invoices["8011441:2026-11"]).state = "open"  # as if November were not closed
        s.commit()
        last = last_invoice(s, world.customer)
    assert last is not None
    assert (last.month, last.total, last.paid, last.outstanding) == ("2026-10", D("64.64"), False, D("32.30"))
    assert [(i.circuit_number, i.total, i.paid, i.outstanding) for i in last.invoices] == [
        ("8010348", D("12.34"), True, D("0.00")), ("8011441", D("52.30"), False, D("32.30"))]


def test_history_by_year(engine, world: World) -> None:  # type: ignore[no-untyped-def]
    inv = world.invoices
    with Session(engine) as s:
        h2026 = history(s, world.customer, 2026)
        h2025 = history(s, world.customer, 2025)
        assert history(s, world.customer, 2024) == []  # only the neighbour has 2024
        assert history_years(s, world.customer) == [2026, 2025]
        summary = customer_summary(s, world.customer, NOW)
        assert list(summary.years) == history_years(s, world.customer)
        for year in (2024, 2025, 2026):  # the page's history comes from the summary's one read
            assert summary.history(year) == history(s, world.customer, year)
        assert history_years(s, world.neighbour) == [2026, 2024]
    assert [(m.label, m.total, m.paid) for m in h2026] == [
        ("11/2026", D("41.00"), False), ("10/2026", D("64.64"), False)]
    assert [(i.invoice_id, i.label, i.total, i.state, i.paid) for i in h2026[1].invoices] == [
        (inv["8010348:2026-10"], "8010348 - TESTE CPP", D("12.34"), "paid", True),
        (inv["8011441:2026-10"], "8011441 - SaperxTeste", D("52.30"), "closed", False),
    ]
    assert [(m.label, m.total, m.paid, m.outstanding) for m in h2025] == [
        ("12/2025", D("50.17"), True, D("0.00")),
        ("11/2025", D("37.50"), True, D("0.00")),
        ("06/2025", D("5.00"), False, D("5.00")),  # the inactive circuit's last invoice stays
    ]
    assert [(i.circuit_number, i.label) for i in h2025[2].invoices] == [("8010472", "8010472")]
    # the running invoice row of Rio Branco's November is not history
    assert inv["8010348:2026-11"] not in {i.invoice_id for m in h2026 for i in m.invoices}


def test_unpaid_invoices(engine, world: World) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        s.add(Invoice(circuit_id=world.acre, month="2026-09", state="closed", total=D("0.00")))  # an empty month
        s.commit()
        unpaid = unpaid_invoices(s, world.customer)
        september = history(s, world.customer, 2026)[-1]
    assert [(i.circuit_number, i.month, i.outstanding) for i in unpaid] == [
        ("8011441", "2026-11", D("41.00")), ("8011441", "2026-10", D("32.30")), ("8010472", "2025-06", D("5.00"))]
    # nothing to pay on a closed R$ 0,00 invoice
    assert (september.month, september.total, september.paid) == ("2026-09", D("0.00"), True)


def test_a_customer_without_invoices(engine, world: World) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        lonely = Customer(name="NADIR ELZA GUIMARÃES")
        s.add(lonely)
        s.commit()
        summary = customer_summary(s, lonely.id, NOW)
    assert (summary.open_total, summary.open_invoices, summary.last_invoice) == (D("0"), (), None)
    assert (summary.unpaid_total, summary.unpaid_count, summary.years) == (D("0"), 0, ())


def test_unknown_customer_and_bad_arguments(engine, world: World) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        for fn in (lambda: customer_summary(s, 987654, NOW), lambda: history(s, 987654, 2026),
                   lambda: history_years(s, 987654), lambda: last_invoice(s, 987654)):
            with pytest.raises(UnknownCustomer, match="cliente desconhecido: 987654"):
                fn()
        with pytest.raises(ValidationError, match="fuso horário"):
            customer_summary(s, world.customer, datetime(2026, 12, 1, 4))
        with pytest.raises(ValidationError, match="ano inválido"):
            history(s, world.customer, 0)
