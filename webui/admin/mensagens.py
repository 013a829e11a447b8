"""Mensagens: notices to some or all circuits, and the subscribers' requests with their answers.

``painel.messages`` does the work (validation, one message per circuit, audit events):
a notice reaches the portal of circuits with the Mensagem flag; an answer reaches the
requesting circuit under the Resposta flag. Requests are listed unanswered first.
Reading is open to every staff role; posting and answering need ``write``.
"""
from __future__ import annotations

import re

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from painel.errors import PainelError
from painel.fmt import data_hora_br
from painel.messages import BODY_MAX, SUBJECT_MAX, answer, post_notice, requests
from painel.models import Circuit, Message
from webui.access import client_address
from webui.admin import admin
from webui.admin.access import actor, requires
from webui.admin.util import error_text, operator_zone
from webui.db import db

LIST_LIMIT = 200
CIRCUITS_TEXT_MAX = 5000


def _when(message: Message) -> str:
    return data_hora_br(message.created_at.astimezone(operator_zone())) if message.created_at else ""


def _notice_defaults() -> dict[str, str]:
    return {"destino": "todos", "circuitos": "", "assunto": "", "mensagem": ""}


def _render(*, values: dict[str, str] | None = None, errors: dict[str, str] | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    session = db()
    pending_only = request.args.get("pendentes") == "1"
    found = requests(session, unanswered_only=pending_only, limit=LIST_LIMIT)
    found.sort(key=lambda r: r.answers > 0)  # unanswered first; newest first within each (a stable sort)
    rows = [{"request": r, "when": _when(r.message)} for r in found]
    active = session.scalar(select(func.count()).select_from(Circuit).where(Circuit.active.is_(True))) or 0
    return render_template("admin/mensagens.html", rows=rows, values=values or _notice_defaults(),
                           errors=errors or {}, pending_only=pending_only, active=active,
                           unanswered=sum(1 for r in found if r.answers == 0), limit=LIST_LIMIT,
                           subject_max=SUBJECT_MAX, body_max=BODY_MAX), status


@admin.route("/mensagens")
@requires("read")
def mensagens():  # type: ignore[no-untyped-def]
    return _render()


@admin.route("/mensagens/aviso", methods=["POST"])
@requires("write")
def mensagens_aviso():  # type: ignore[no-untyped-def]
    values = {"destino": request.form.get("destino") or "",
              "circuitos": (request.form.get("circuitos") or "")[:CIRCUITS_TEXT_MAX],
              "assunto": (request.form.get("assunto") or "")[:SUBJECT_MAX + 50],
              "mensagem": (request.form.get("mensagem") or "")[:BODY_MAX + 100]}
    errors: dict[str, str] = {}
    numbers: list[str] | None = None
    if values["destino"] == "circuitos":
        numbers = [n for n in re.split(r"[\s,;]+", values["circuitos"]) if n]
        if not numbers:
            errors["circuitos"] = "Informe os números dos circuitos (separados por vírgula, espaço ou linha)."
    elif values["destino"] != "todos":
        errors["destino"] = "Escolha para quem vai o aviso."
    if not values["assunto"].strip():
        errors["assunto"] = "Informe o assunto."
    if not values["mensagem"].strip():
        errors["mensagem"] = "Escreva a mensagem."
    if errors:
        return _render(values=values, errors=errors, status=400)
    session = db()
    try:
        sent = post_notice(session, numbers, values["assunto"], values["mensagem"], actor=actor(),
                           address=client_address())
    except PainelError as exc:
        session.rollback()
        text = error_text(exc)
        key = ("circuitos" if "circuito" in exc.message else "assunto" if "assunto" in exc.message
               else "mensagem")
        return _render(values=values, errors={key: text}, status=400)
    session.commit()
    flash(f"Aviso “{values['assunto'].strip()}” enviado a {len(sent)} circuito(s). Aparece no painel dos que têm "
          "a opção Mensagem habilitada.", "success")
    return redirect(url_for("admin.mensagens"))


def get_request(message_id: int) -> Message:
    message = db().get(Message, message_id)
    if message is None or message.direction != "to_operator":
        abort(404)
    return message


def _render_request(message: Message, *, value: str = "", error: str | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    session = db()
    circuit = session.get(Circuit, message.circuit_id)
    replies = list(session.scalars(select(Message).where(Message.reply_to_id == message.id)
                                   .order_by(Message.created_at, Message.id)))
    return render_template("admin/mensagem.html", message=message, circuit=circuit, when=_when(message),
                           replies=[{"message": r, "when": _when(r),
                                     "read": data_hora_br(r.read_at.astimezone(operator_zone())) if r.read_at else ""}
                                    for r in replies],
                           value=value, error=error, body_max=BODY_MAX), status


@admin.route("/mensagens/<int:message_id>")
@requires("read")
def mensagem(message_id: int):  # type: ignore[no-untyped-def]
    return _render_request(get_request(message_id))


@admin.route("/mensagens/<int:message_id>/responder", methods=["POST"])
@requires("write")
def mensagem_responder(message_id: int):  # type: ignore[no-untyped-def]
    message = get_request(message_id)
    body = (request.form.get("resposta") or "")[:BODY_MAX + 100]
    if not body.strip():
        return _render_request(message, value=body, error="Escreva a resposta.", status=400)
    session = db()
    try:
        answer(session, message.id, body, actor=actor(), address=client_address())
    except PainelError as exc:
        session.rollback()
        return _render_request(get_request(message_id), value=body, error=error_text(exc), status=400)
    session.commit()
    flash("Resposta enviada. O assinante a vê no painel se o circuito tiver a opção Resposta habilitada.", "success")
    return redirect(url_for("admin.mensagem", message_id=message.id))
