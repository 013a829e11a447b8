"""Perfil: the signed-in circuit's contact data, and changing its web password.

The FAQ: "utilize a opção de alteração de senha disponível após o login". A new
password ends every other session of the circuit (the session stamp in
``webui.access`` follows the hash) while this one stays signed in. Failed attempts
(wrong current password) are audited and rate-limited per circuit like logins.
"""
from __future__ import annotations

import re

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user
from werkzeug.security import check_password_hash, generate_password_hash

from painel.audit import record
from painel.documents import format_document
from painel.errors import InvalidNumber
from painel.numbering import NumberKind, normalize
from webui.access import Subscriber, actor, client_address, customer, feature
from webui.db import db, settings
from webui.extensions import limiter
from webui.portal import portal
from webui.portal.numeros import format_phone

FLAG = "perfil"
EMAIL_MAX = 200
PHONE_MAX = 32
PASSWORD_MIN = 10
PASSWORD_MAX = 200
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")


def password_problems(new: str, circuit_number: str) -> list[str]:
    """Why ``new`` is too weak for a web password (pt-BR), or nothing."""
    problems = []
    if len(new) < PASSWORD_MIN:
        problems.append(f"A nova senha precisa ter pelo menos {PASSWORD_MIN} caracteres.")
    if len(new) > PASSWORD_MAX:
        problems.append(f"A nova senha pode ter no máximo {PASSWORD_MAX} caracteres.")
    if not (any(ch.isalpha() for ch in new) and any(ch.isdigit() for ch in new)):
        problems.append("A nova senha precisa ter letras e números.")
    if circuit_number and circuit_number in new:
        problems.append("A nova senha não pode conter o número do circuito.")
    return problems


def _render(contact: dict[str, str] | None = None, errors: dict[str, str] | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    circuit = current_user.circuit
    owner = customer()
    if contact is None:
        contact = {"email": circuit.contact_email or "",
                   "telefone": format_phone(circuit.contact_phone) if circuit.contact_phone else ""}
    return render_template(
        "portal/perfil.html", circuit=circuit, owner=owner,
        document=format_document(owner.document) if owner.document else "",
        document_label="CNPJ" if owner.document and len(owner.document) == 14 else "CPF",
        contact=contact, errors=errors or {}, password_min=PASSWORD_MIN,
    ), status


@portal.route("/perfil")
@login_required
@feature(FLAG)
def perfil():  # type: ignore[no-untyped-def]
    return _render()


@portal.route("/perfil/contato", methods=["POST"])
@login_required
@feature(FLAG)
def perfil_contato():  # type: ignore[no-untyped-def]
    circuit = current_user.circuit
    email = (request.form.get("email") or "").strip()
    phone_raw = (request.form.get("telefone") or "").strip()
    errors: dict[str, str] = {}
    if email and (len(email) > EMAIL_MAX or not _EMAIL.match(email)):
        errors["email"] = "E-mail inválido: use o formato nome@exemplo.com.br."
    phone = None
    if phone_raw:
        if len(phone_raw) > PHONE_MAX:
            errors["telefone"] = f"O telefone pode ter no máximo {PHONE_MAX} caracteres."
        else:
            try:
                info = normalize(phone_raw, circuit.home_ddd)
            except InvalidNumber as exc:
                errors["telefone"] = f"Telefone inválido: {exc.why}."
            else:
                if info.collect or info.kind not in (NumberKind.FIXED, NumberKind.MOBILE, NumberKind.INTERNATIONAL):
                    errors["telefone"] = "Telefone inválido: informe um telefone fixo ou celular com DDD."
                else:
                    phone = info.e164
    if errors:
        return _render({"email": email, "telefone": phone_raw}, errors, status=400)
    before = {"email": circuit.contact_email, "phone": circuit.contact_phone}
    after = {"email": email or None, "phone": phone}
    if before == after:
        flash("Nada mudou nos dados de contato.", "info")
        return redirect(url_for("portal.perfil"))
    session = db()
    circuit.contact_email, circuit.contact_phone = after["email"], after["phone"]
    record(session, actor_kind=actor()[0], actor=actor()[1], action="profile.contact", target_kind="circuit",
           target_id=circuit.number, before=before, after=after, address=client_address())
    session.commit()
    flash("Dados de contato atualizados.", "success")
    return redirect(url_for("portal.perfil"))


def _password_limit() -> str:
    return settings().web_login_limit_account


def _password_key() -> str:
    return f"senha:{current_user.circuit_id}"


def _password_breach(limit) -> None:  # type: ignore[no-untyped-def]
    session = db()
    record(session, actor_kind=actor()[0], actor=actor()[1], action="profile.password_limited",
           target_kind="circuit", target_id=current_user.number, after={"reason": str(limit.limit)},
           address=client_address())
    session.commit()


@portal.route("/perfil/senha", methods=["POST"])
@login_required
@feature(FLAG)
@limiter.limit(_password_limit, key_func=_password_key, methods=["POST"], on_breach=_password_breach,
               deduct_when=lambda response: response.status_code == 400)
def perfil_senha():  # type: ignore[no-untyped-def]
    session = db()
    circuit = current_user.circuit
    current = request.form.get("senha_atual") or ""
    new = request.form.get("nova_senha") or ""
    confirmation = request.form.get("confirmacao") or ""
    errors: dict[str, str] = {}
    if not current:
        errors["senha_atual"] = "Informe a senha atual."
    elif not circuit.web_password_hash or not check_password_hash(circuit.web_password_hash, current):
        errors["senha_atual"] = "A senha atual não confere."
        record(session, actor_kind=actor()[0], actor=actor()[1], action="profile.password_failed",
               target_kind="circuit", target_id=circuit.number, after={"reason": "senha atual incorreta"},
               address=client_address())
        session.commit()
    if not new:
        errors["nova_senha"] = "Informe a nova senha."
    else:
        problems = password_problems(new, circuit.number)
        if not problems and current and new == current:
            problems.append("A nova senha precisa ser diferente da atual.")
        if problems:
            errors["nova_senha"] = " ".join(problems)
    if new and confirmation != new:
        errors["confirmacao"] = "A confirmação não confere com a nova senha."
    if errors:
        return _render(errors=errors, status=400)
    circuit.web_password_hash = generate_password_hash(new)
    record(session, actor_kind=actor()[0], actor=actor()[1], action="profile.password", target_kind="circuit",
           target_id=circuit.number, after={"other_sessions": "encerradas"}, address=client_address())
    session.commit()
    login_user(Subscriber(circuit))  # this session carries the new stamp; every other one ends
    flash("Senha alterada. As outras sessões deste circuito foram encerradas.", "success")
    return redirect(url_for("portal.perfil"))
