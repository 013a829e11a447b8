"""The running month's invoice as a preview PDF (``billing.pdf.load_open_document``).

Its printed total must be exactly what the portal's "Fatura em Aberto" shows for the
circuit (``billing.close.open_invoice_total``): the calls not yet invoiced, the plan's
monthly fee, and late calls of closed months as adjustment lines.
"""
from __future__ import annotations

import io
import uuid
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from billing.close import close_month, open_invoice_total
from billing.pdf import Operator, load_open_document, render_pdf
from painel.demo import run_demo
from painel.errors import NotFound, ValidationError
from painel.fmt import brl
from painel.models import BILLED_DIRECTIONS, Cdr, Circuit, Invoice

NOW = datetime(2026, 11, 20, 15, tzinfo=timezone.utc)  # 12:00 in America/Fortaleza
MONTH = "2026-11"
OPERATOR = Operator("Operadora Teste", "", "Rua A, 1", "suporte@example.com.br")


@pytest.fixture
def billed_db(demo_db, settings):  # type: ignore[no-untyped-def]
    """The demo's traffic to NOW with October closed (November is the open month)."""
    run_demo(settings, demo_db, now=NOW, calls_per_day=1.0)
    close_month(demo_db, "2026-10", now=NOW)
    return demo_db


def pdf_text(data: bytes) -> str:
    """The PDF's text with whitespace collapsed (table cells come out on lines of their own)."""
    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages).split())


def circuit_id(session: Session, number: str) -> int:
    found = session.scalar(select(Circuit.id).where(Circuit.number == number))
    assert found is not None
    return found


def money(text_amount: str) -> Decimal:
    """``R$ 1.234,56`` -> Decimal('1234.56')."""
    return Decimal(text_amount.replace("R$", "").replace(".", "").replace(",", ".").strip())


def test_open_document_total_and_calls_equal_the_running_invoice(billed_db) -> None:  # type: ignore[no-untyped-def]
    with Session(billed_db) as s:
        circuits = s.execute(select(Circuit.id, Circuit.number).order_by(Circuit.number)).all()
        assert len(circuits) == 6
        for cid, number in circuits:
            doc = load_open_document(s, cid, MONTH, OPERATOR, NOW)
            expected = open_invoice_total(s, cid, MONTH)
            assert doc.total == brl(expected), number
            assert sum((money(line.amount) for line in doc.lines), Decimal("0")) == expected
            assert expected > 0  # the monthly fee at least
            assert any(line.description == "Mensalidade do plano" and line.amount == "R$ 37,50" for line in doc.lines)
            # itemized: the circuit's answered billed calls of November, on no invoice yet
            answered = s.scalar(select(func.count()).select_from(Cdr).where(
                Cdr.circuit_id == cid, Cdr.role == "call", Cdr.direction.in_(BILLED_DIRECTIONS),
                Cdr.bill_month == MONTH, Cdr.invoice_id.is_(None), Cdr.billsec > 0))
            assert doc.calls_count == answered
            whens = [datetime.strptime(c.when, "%d/%m/%Y %H:%M") for c in doc.calls]
            assert whens == sorted(whens)
            assert sum((money(c.amount) for c in doc.calls), Decimal("0")) == expected - Decimal("37.50")
            assert doc.preview and doc.state == "open" and not doc.paid
            assert doc.status == "Em aberto (mês em curso)"
            assert doc.as_of == "20/11/2026 12:00"
            assert doc.period == "01/11/2026 a 20/11/2026"
            assert doc.month_label == "11/2026" and doc.circuit_number == number
            assert doc.issued == "" and doc.due == ""
        # the demo's first circuit, printed
        cid = circuit_id(s, "8011441")
        doc = load_open_document(s, cid, MONTH, OPERATOR, NOW)
        printed = pdf_text(render_pdf(doc))
    assert "FATURA EM ABERTO" in printed
    assert f"Total parcial da fatura {doc.total}" in printed
    assert "valores parciais até 20/11/2026 12:00" in printed
    assert "Em aberto (mês em curso)" in printed
    assert "8011441 - SaperxTeste" in printed


def test_late_call_and_open_invoice_row_are_on_the_preview(billed_db) -> None:  # type: ignore[no-untyped-def]
    with Session(billed_db) as s:
        cid = circuit_id(s, "8011441")
        before = open_invoice_total(s, cid, MONTH)
        # a call of October (already closed) arriving now: it lands on November as an adjustment
        uid = str(uuid.uuid4())
        s.add(Cdr(uuid=uid, call_uuid=uid, role="call", circuit_id=cid, direction="outbound", category="ldn_fixo",
                  number_e164="+551133334444", destination_raw="01133334444",
                  start_utc=datetime(2026, 10, 31, 20, tzinfo=timezone.utc), billsec=95, billable_seconds=96,
                  amount=Decimal("0.40"), bill_month="2026-10", source="json", raw="{}"))
        # and a running Invoice row for November holding one of its calls
        invoice = Invoice(circuit_id=cid, month=MONTH, state="open")
        s.add(invoice)
        s.flush()
        first = s.scalar(select(Cdr).where(Cdr.circuit_id == cid, Cdr.bill_month == MONTH, Cdr.role == "call",
                                           Cdr.direction == "outbound", Cdr.billsec > 0).order_by(Cdr.id).limit(1))
        assert first is not None
        first.invoice_id = invoice.id
        s.commit()
        expected = open_invoice_total(s, cid, MONTH)
        assert expected == before + Decimal("0.40")
        doc = load_open_document(s, cid, MONTH, OPERATOR, NOW)
    assert doc.total == brl(expected)
    assert doc.invoice_id == invoice.id
    adjustments = [line for line in doc.lines if line.description.startswith("Ajuste: chamadas de 10/2026")]
    assert len(adjustments) == 1 and adjustments[0].amount == "R$ 0,40" and adjustments[0].calls == "1"
    late = [c for c in doc.calls if c.kind.endswith("(aj.)")]
    assert len(late) == 1 and late[0].when == "31/10/2026 17:00" and late[0].amount == "R$ 0,40"
    printed = pdf_text(render_pdf(doc))
    assert f"Total parcial da fatura {brl(expected)}" in printed
    assert "Ajuste: chamadas de 10/2026" in printed


def test_open_document_refuses_what_is_not_a_running_month(billed_db) -> None:  # type: ignore[no-untyped-def]
    with Session(billed_db) as s:
        cid = circuit_id(s, "8011441")
        with pytest.raises(ValidationError, match="já foi fechada"):
            load_open_document(s, cid, "2026-10", OPERATOR, NOW)
        with pytest.raises(ValidationError, match="mês inválido"):
            load_open_document(s, cid, "2026-13", OPERATOR, NOW)
        with pytest.raises(ValidationError, match="fuso"):
            load_open_document(s, cid, MONTH, OPERATOR, NOW.replace(tzinfo=None))
        missing = (s.scalar(select(func.max(Circuit.id))) or 0) + 1
        with pytest.raises(NotFound):
            load_open_document(s, missing, MONTH, OPERATOR, NOW)
        # nothing was written: the preview is never stored
        assert s.execute(text("SELECT count(*) FROM invoices WHERE month = :m"), {"m": MONTH}).scalar() == 0
