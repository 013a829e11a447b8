"""Invoice lines and totals: pure, table-driven."""
from __future__ import annotations

from decimal import Decimal

import pytest

from billing.invoice import Call, LateCall, Line, invoice_lines, invoice_total

D = Decimal


@pytest.mark.parametrize(("calls", "fee", "adjustments", "expected"), [
    pytest.param([], D("0"), [], [], id="nothing"),
    pytest.param([], D("37.50"), [], [("monthly_fee", None, "Mensalidade do plano", 0, 0, "37.50", None)],
                 id="fee-only"),
    pytest.param([], None, [], [], id="no-plan"),
    pytest.param(
        [("local_fixo", 42, D("0.07")), ("local_fixo", 30, D("0.05")), ("movel_vc1", 60, D("0.45"))],
        D("37.50"), [],
        [("category", "local_fixo", "Local fixo", 2, 72, "0.12", None),
         ("category", "movel_vc1", "Móvel local (VC1)", 1, 60, "0.45", None),
         ("monthly_fee", None, "Mensalidade do plano", 0, 0, "37.50", None)],
        id="two-categories-and-fee"),
    pytest.param(
        # categories print in the invoice's order, whatever the calls' order
        [("ldi", 36, D("1.00")), ("gratuita", 0, D("0")), ("ldn_fixo", 42, D("0.18")),
         ("especial", 30, D("0.15"))],
        D("0"), [],
        [("category", "ldn_fixo", "LDN fixo", 1, 42, "0.18", None),
         ("category", "ldi", "Internacional (LDI)", 1, 36, "1.00", None),
         ("category", "especial", "Especial", 1, 30, "0.15", None),
         ("category", "gratuita", "Gratuita", 1, 0, "0", None)],
        id="category-order-no-fee"),
    pytest.param(
        [("local_fixo", 30, D("0.05"))], D("37.50"),
        [("2025-08", "ldn_fixo", 42, D("0.18")), ("2025-07", "local_fixo", 30, D("0.05")),
         ("2025-08", "movel_vc2", 60, D("0.75"))],
        [("category", "local_fixo", "Local fixo", 1, 30, "0.05", None),
         ("monthly_fee", None, "Mensalidade do plano", 0, 0, "37.50", None),
         ("adjustment", None, "Ajuste: chamadas de 07/2025 recebidas após o fechamento", 1, 30, "0.05", "2025-07"),
         ("adjustment", None, "Ajuste: chamadas de 08/2025 recebidas após o fechamento", 2, 102, "0.93", "2025-08")],
        id="adjustments-one-line-per-month"),
    pytest.param([(None, 30, D("0.10"))], None, [],
                 [("category", None, "Outras chamadas", 1, 30, "0.10", None)], id="uncategorized"),
])
def test_invoice_lines(calls, fee, adjustments, expected):  # type: ignore[no-untyped-def]
    lines = invoice_lines(calls, fee, adjustments)
    got = [(l.kind, l.category, l.description, l.calls, l.billable_seconds, l.amount, l.ref_month) for l in lines]
    assert got == [(k, c, d, n, s, D(a), r) for k, c, d, n, s, a, r in expected]
    assert invoice_total(lines) == sum((D(e[5]) for e in expected), D("0"))


def test_total_is_exact_sum_of_lines_and_of_calls() -> None:
    # a thousand calls of R$ 0,01..R$ 0,99: no float drift, no re-rounding
    calls = [Call("local_fixo" if i % 2 else "movel_vc1", 30 + i % 7, D(i % 99 + 1) / 100) for i in range(1000)]
    late = [LateCall("2026-08", "ldn_fixo", 42, D("0.18")) for _ in range(3)]
    lines = invoice_lines(calls, D("37.50"), late)
    total = invoice_total(lines)
    assert total == sum((c.amount for c in calls), D("0")) + D("37.50") + D("0.54")
    assert total == sum((l.amount for l in lines), D("0"))
    assert all(isinstance(l.amount, Decimal) for l in lines)
    assert sum(l.calls for l in lines if l.kind == "category") == 1000


def test_dataclasses_and_tuples_are_equivalent() -> None:
    as_tuples = invoice_lines([("local_fixo", 30, D("0.05"))], D("10"), [("2026-08", "ldi", 36, D("1.00"))])
    as_objects = invoice_lines([Call("local_fixo", 30, D("0.05"))], D("10"), [LateCall("2026-08", "ldi", 36, D("1.00"))])
    assert as_tuples == as_objects


def test_billable_minutes() -> None:
    assert Line("category", "Local fixo", D("0"), billable_seconds=90).billable_minutes == D("1.50")
    assert Line("category", "Local fixo", D("0"), billable_seconds=42).billable_minutes == D("0.70")


def test_float_money_is_refused() -> None:
    from painel.errors import ValidationError

    with pytest.raises(ValidationError):
        invoice_lines([("local_fixo", 30, 0.05)], D("0"), [])
