"""Faturas: invoices by month and state, one invoice as the subscriber sees it, its PDF (downloaded
or rendered again), and registering a payment.

An invoice's page shows what its PDF prints (``billing.pdf.load_document``: lines, total,
payment status, itemized calls), its payments and balance. Payments go through
``billing.payments`` (``parse_amount`` / ``parse_date`` for what was typed, ``apply_payment``
to store it, audited, idempotent by bank reference), with that module's messages. Reading
and downloading are open to every staff role; rendering again and payments need ``write``.
"""
from __future__ import annotations

import io
import re

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from sqlalchemy import func, or_, select

from billing.close import CLOSED_STATES
from billing.payments import (
    MAX_REFERENCE, invoice_balance, invoice_balances, list_payments, parse_amount, parse_date, state_label,
)
from billing.payments import apply_payment
from billing.pdf import Operator, ensure_pdf, load_document, load_open_document, render_pdf
from painel.audit import record
from painel.customers import like_pattern
from painel.errors import PainelError, ValidationError
from painel.fmt import brl, data_br, data_hora_br, mes_ref
from painel.models import Circuit, Customer, Invoice
from webui.access import client_address
from webui.admin import admin
from webui.admin.access import actor, requires
from webui.admin.clientes import page_number
from webui.admin.util import error_text, now_utc, operator_zone, sentence
from webui.db import db, engine, settings

PAGE_SIZE = 50
#: ?estado= -> the invoice states it lists
STATES = {"todas": None, "a-pagar": ("closed",), "pagas": ("paid",), "abertas": ("open",)}
STATE_CHOICES = (("todas", "Todas"), ("a-pagar", "Fechadas, a pagar"), ("pagas", "Pagas"),
                 ("abertas", "Em aberto (mês em curso)"))
#: the itemized calls shown on the page (the PDF has them all)
CALLS_SHOWN = 100


def get_invoice(invoice_id: int) -> Invoice:
    invoice = db().get(Invoice, invoice_id)
    if invoice is None:
        abort(404)
    return invoice


def parse_month(raw: str) -> str | None:
    """``2026-10`` (as <input type=month> sends it) or ``10/2026``; None when neither."""
    if re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", raw):
        return raw
    match = re.fullmatch(r"(0?[1-9]|1[0-2])/(\d{4})", raw)
    if match:
        return f"{match.group(2)}-{int(match.group(1)):02d}"
    return None


@admin.route("/faturas")
@requires("read")
def faturas():  # type: ignore[no-untyped-def]
    session = db()
    values = {key: (request.args.get(key) or "").strip()[:100] for key in ("mes", "estado", "circuito")}
    errors: dict[str, str] = {}
    query = (select(Invoice, Circuit, Customer).join(Circuit, Circuit.id == Invoice.circuit_id)
             .join(Customer, Customer.id == Circuit.customer_id))
    if values["mes"]:
        month = parse_month(values["mes"])
        if month is None:
            errors["mes"] = "Mês inválido: use mm/aaaa (ex.: 10/2026)."
        else:
            values["mes"] = month
            query = query.where(Invoice.month == month)
    state = values["estado"] or "todas"
    if state not in STATES:
        errors["estado"] = "Escolha uma situação da lista."
        state = "todas"
    values["estado"] = state
    if STATES[state]:
        query = query.where(Invoice.state.in_(STATES[state]))
    if values["circuito"]:
        text = values["circuito"]
        query = query.where(or_(Circuit.number == text, Circuit.name.ilike(like_pattern(text), escape="\\"),
                                Customer.name.ilike(like_pattern(text), escape="\\")))
    page = page_number()
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(page, pages)
    found = session.execute(query.order_by(Invoice.month.desc(), Circuit.number, Invoice.id)
                            .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    balances = invoice_balances(session, [invoice.id for invoice, _, _ in found])
    rows = [{"invoice": invoice, "circuit": circuit, "customer": customer, "month": mes_ref(invoice.month),
             "total": brl(invoice.total), "paid": brl(balances[invoice.id].paid),
             "outstanding": balances[invoice.id].outstanding, "state": state_label(invoice.state),
             "due": data_br(invoice.due_on) if invoice.due_on else ""} for invoice, circuit, customer in found]
    filters = {k: v for k, v in values.items() if v and not (k == "estado" and v == "todas")}
    return render_template("admin/faturas.html", rows=rows, values=values, errors=errors, total=total, page=page,
                           pages=pages, filters=filters, states=STATE_CHOICES, brl=brl), (400 if errors else 200)


# ---------------------------------------------------------------- one invoice

def _document(invoice: Invoice):  # type: ignore[no-untyped-def]
    operator = Operator.from_settings(settings())
    if invoice.state in CLOSED_STATES:
        return load_document(db(), invoice.id, operator)
    return load_open_document(db(), invoice.circuit_id, invoice.month, operator, now_utc())


def _render(invoice: Invoice, *, values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
            status: int = 200):  # type: ignore[no-untyped-def]
    session = db()
    doc = _document(invoice)
    circuit = session.get(Circuit, invoice.circuit_id)
    customer = session.get(Customer, circuit.customer_id) if circuit else None
    balance = invoice_balance(session, invoice.id)
    zone = operator_zone()
    payments = [{"payment": p, "amount": brl(p.amount), "paid_on": data_br(p.paid_on),
                 "registered": data_hora_br(p.created_at.astimezone(zone)) if p.created_at else ""}
                for p in list_payments(session, invoice.id)]
    default = {"valor": brl(balance.outstanding).removeprefix("R$ ") if balance.outstanding > 0 else "",
               "data": now_utc().astimezone(zone).date().isoformat(), "referencia": ""}
    return render_template(
        "admin/fatura.html", invoice=invoice, doc=doc, circuit=circuit, customer=customer, balance=balance,
        paid=brl(balance.paid), outstanding=brl(balance.outstanding), overpaid=brl(balance.overpaid),
        payments=payments, calls=doc.calls[:CALLS_SHOWN], calls_shown=CALLS_SHOWN,
        closed=invoice.state in CLOSED_STATES, state=state_label(invoice.state),
        values=values or default, errors=errors or {}, reference_max=MAX_REFERENCE,
        pdf_file=invoice.pdf_path.rsplit("/", 1)[-1] if invoice.pdf_path else None,
    ), status


@admin.route("/faturas/<int:invoice_id>")
@requires("read")
def fatura(invoice_id: int):  # type: ignore[no-untyped-def]
    return _render(get_invoice(invoice_id))


@admin.route("/faturas/<int:invoice_id>.pdf")
@requires("read")
def fatura_pdf(invoice_id: int):  # type: ignore[no-untyped-def]
    """The PDF the subscriber downloads (an open month: the preview, rendered on the fly)."""
    invoice = get_invoice(invoice_id)
    name = f"fatura-{invoice.circuit.number}-{invoice.month}.pdf"
    if invoice.state not in CLOSED_STATES:
        data = render_pdf(_document(invoice))
        return send_file(io.BytesIO(data), mimetype="application/pdf", as_attachment=True,
                         download_name=f"fatura-aberta-{invoice.circuit.number}-{invoice.month}.pdf")
    db().rollback()  # end this request's read transaction before ensure_pdf writes the path
    pdf = ensure_pdf(engine(), invoice_id, settings())
    return send_file(pdf.path, mimetype="application/pdf", as_attachment=True, download_name=name,
                     conditional=False, etag=pdf.sha256)


@admin.route("/faturas/<int:invoice_id>/gerar-pdf", methods=["POST"])
@requires("write")
def fatura_gerar_pdf(invoice_id: int):  # type: ignore[no-untyped-def]
    """Render the PDF again from the invoice's current data (after a fix, or a file lost on disk)."""
    invoice = get_invoice(invoice_id)
    if invoice.state not in CLOSED_STATES:
        flash("A fatura do mês em curso não tem PDF emitido: o PDF é gerado no fechamento do mês. "
              "O download mostra a prévia.", "error")
        return redirect(url_for("admin.fatura", invoice_id=invoice.id))
    before = {"pdf": invoice.pdf_path, "sha256": invoice.pdf_sha256}
    db().rollback()
    try:
        pdf = ensure_pdf(engine(), invoice_id, settings(), force=True)
    except PainelError as exc:
        flash(f"O PDF não pôde ser gerado: {exc.message}.", "error")
        return redirect(url_for("admin.fatura", invoice_id=invoice_id))
    session = db()
    session.expire_all()
    invoice = get_invoice(invoice_id)
    record(session, actor_kind="admin", actor=actor()[1], action="billing.pdf", target_kind="invoice",
           target_id=invoice.id, address=client_address(), before=before,
           after={"pdf": invoice.pdf_path, "sha256": pdf.sha256})
    session.commit()
    same = before["sha256"] == pdf.sha256
    flash(f"PDF da fatura {invoice.id} gerado de novo ({pdf.path.name})"
          + ("; o conteúdo é o mesmo de antes." if same else "; o conteúdo mudou desde o último."), "success")
    return redirect(url_for("admin.fatura", invoice_id=invoice.id))


@admin.route("/faturas/<int:invoice_id>/pagamento", methods=["POST"])
@requires("write")
def fatura_pagamento(invoice_id: int):  # type: ignore[no-untyped-def]
    invoice = get_invoice(invoice_id)
    values = {"valor": (request.form.get("valor") or "").strip()[:40],
              "data": (request.form.get("data") or "").strip()[:20],
              "referencia": (request.form.get("referencia") or "")[:MAX_REFERENCE + 1]}
    errors: dict[str, str] = {}
    parsed: dict = {}
    for key, parse, missing in (("valor", parse_amount, "Informe o valor pago."),
                                ("data", parse_date, "Informe a data do pagamento.")):
        if not values[key]:
            errors[key] = missing
            continue
        try:
            parsed[key] = parse(values[key])
        except ValidationError as exc:
            errors[key] = error_text(exc)
    if len(values["referencia"].strip()) > MAX_REFERENCE:
        errors["referencia"] = f"Referência com mais de {MAX_REFERENCE} caracteres."
    if not errors and invoice.state not in CLOSED_STATES:
        errors["geral"] = ("Esta fatura ainda está em aberto: o mês não foi fechado; só faturas fechadas recebem "
                           "pagamento.")
    if errors:
        return _render(invoice, values=values, errors=errors, status=400)
    db().rollback()  # apply_payment runs its own transaction (with the invoice's row lock)
    try:
        result = apply_payment(engine(), invoice.id, parsed["valor"], parsed["data"], values["referencia"] or None,
                               actor_kind="admin", actor=actor()[1], address=client_address(), now=now_utc())
    except PainelError as exc:
        return _render(get_invoice(invoice_id), values=values, errors={"geral": error_text(exc)}, status=400)
    if result.status == "duplicate":
        flash(f"{sentence(result.describe())} Nada foi gravado.", "info")
    else:
        text = sentence(result.describe())
        if result.became_paid:
            text += " A fatura está paga."
        elif result.balance.outstanding > 0:
            text += f" Ainda falta {brl(result.balance.outstanding)}."
        flash(text, "success")
    return redirect(url_for("admin.fatura", invoice_id=invoice.id, _anchor="pagamentos"))
