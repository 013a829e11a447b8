"""Clientes: list and search, create, edit, deactivate (and reactivate) customers.

Reading is open to every staff role; changes need ``write`` (the admin role). The
rules live in ``painel.customers``: CPF/CNPJ check digits, unique document, audit
events with before and after, circuits deactivated with their customer.
"""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from painel.customers import FieldErrors, clean_customer, create_customer, search_circuits, search_customers, \
    set_customer_active, update_customer
from painel.documents import format_document
from painel.models import Customer
from webui.access import client_address
from webui.admin import admin
from webui.admin.access import actor, requires
from webui.db import db

PAGE_SIZE = 50
SITUATIONS = {"ativos": True, "inativos": False, "todos": None}


def page_number() -> int:
    raw = request.args.get("pagina", "1")
    return int(raw) if raw.isdigit() and int(raw) >= 1 else 1


def situation() -> tuple[str, bool | None]:
    raw = request.args.get("situacao", "ativos")
    raw = raw if raw in SITUATIONS else "ativos"
    return raw, SITUATIONS[raw]


def get_customer(customer_id: int) -> Customer:
    customer = db().get(Customer, customer_id)
    if customer is None:
        abort(404)
    return customer


def _form_values(customer: Customer | None = None) -> dict[str, str]:
    if request.method == "POST":
        return {key: (request.form.get(key) or "").strip() for key in ("nome", "documento", "email")}
    if customer is None:
        return {"nome": "", "documento": "", "email": ""}
    return {"nome": customer.name, "documento": format_document(customer.document or ""),
            "email": customer.email or ""}


@admin.route("/clientes")
@requires("read")
def clientes():  # type: ignore[no-untyped-def]
    text = (request.args.get("q") or "").strip()[:100]
    label, active = situation()
    page = page_number()
    rows, total = search_customers(db(), text, active=active, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    return render_template("admin/clientes.html", rows=rows, total=total, page=page, pages=pages, q=text,
                           situacao=label, format_document=format_document)


@admin.route("/clientes/novo", methods=["GET", "POST"])
@requires("write")
def cliente_novo():  # type: ignore[no-untyped-def]
    values = _form_values()
    if request.method == "POST":
        session = db()
        try:
            cleaned = clean_customer(session, name=values["nome"], document=values["documento"],
                                     email=values["email"])
        except FieldErrors as exc:
            return render_template("admin/cliente_novo.html", values=values, errors=exc.errors), 400
        customer = create_customer(session, cleaned, actor=actor(), address=client_address())
        session.commit()
        flash(f"Cliente {customer.name} criado. Agora crie os circuitos dele.", "success")
        return redirect(url_for("admin.cliente", customer_id=customer.id))
    return render_template("admin/cliente_novo.html", values=values, errors={})


def _render(customer: Customer, values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
            status: int = 200):  # type: ignore[no-untyped-def]
    circuits, _total = search_circuits(db(), customer_id=customer.id, limit=1000)
    return render_template("admin/cliente.html", customer=customer, circuits=[c for c, _ in circuits],
                           document=format_document(customer.document or ""),
                           values=values or _form_values(customer), errors=errors or {}), status


@admin.route("/clientes/<int:customer_id>")
@requires("read")
def cliente(customer_id: int):  # type: ignore[no-untyped-def]
    return _render(get_customer(customer_id))


@admin.route("/clientes/<int:customer_id>/editar", methods=["POST"])
@requires("write")
def cliente_editar(customer_id: int):  # type: ignore[no-untyped-def]
    customer = get_customer(customer_id)
    values = _form_values(customer)
    session = db()
    try:
        cleaned = clean_customer(session, name=values["nome"], document=values["documento"], email=values["email"],
                                 current=customer)
    except FieldErrors as exc:
        return _render(customer, values, exc.errors, status=400)
    changed = update_customer(session, customer, cleaned, actor=actor(), address=client_address())
    session.commit()
    flash("Cliente atualizado." if changed else "Nada mudou nos dados do cliente.", "success" if changed else "info")
    return redirect(url_for("admin.cliente", customer_id=customer.id))


@admin.route("/clientes/<int:customer_id>/situacao", methods=["POST"])
@requires("write")
def cliente_situacao(customer_id: int):  # type: ignore[no-untyped-def]
    customer = get_customer(customer_id)
    wanted = request.form.get("ativo")
    if wanted not in ("0", "1"):
        abort(400)
    active = wanted == "1"
    session = db()
    if customer.active == active:
        flash("Nada mudou: o cliente já estava " + ("ativo." if active else "desativado."), "info")
    else:
        stopped = set_customer_active(session, customer, active, actor=actor(), address=client_address())
        session.commit()
        if active:
            flash("Cliente reativado. Os circuitos dele continuam desativados: reative cada um na página do "
                  "circuito.", "success")
        else:
            flash("Cliente desativado" + (f", com os circuitos {', '.join(stopped)}." if stopped else "."), "success")
    return redirect(url_for("admin.cliente", customer_id=customer.id))


def customer_choices() -> list[Customer]:
    """Customers for a circuit's "Cliente" select: active ones, by name."""
    return list(db().scalars(select(Customer).where(Customer.active.is_(True)).order_by(Customer.name)))
