"""Mensagens: the operator's notices and replies, and the subscriber's requests.

What a circuit sees follows its Gestão Web flags (the signed-in circuit's and the
message's circuit's alike): ``mensagem`` opens notices, the subscriber's own requests
and the form to send one; ``resposta`` opens the operator's replies (messages to the
subscriber with ``reply_to_id`` set). Opening a notice or reply marks it read; both
that and sending a request are audited.
"""
from __future__ import annotations

from datetime import datetime, timezone

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import and_, false, or_, select

from painel.audit import record
from painel.models import Circuit, Message
from webui.access import actor, client_address, customer_circuits, feature
from webui.db import db
from webui.portal import portal
from webui.portal.numeros import local_datetime

SUBJECT_MAX = 200
BODY_MAX = 5000
LIST_LIMIT = 200


def _allowed_circuits() -> tuple[list[int], list[int]]:
    """Ids of the customer's circuits whose notices/requests, and whose replies, may be shown."""
    circuits = customer_circuits()
    notices = [c.id for c in circuits if c.flag_mensagem] if current_user.has("mensagem") else []
    replies = [c.id for c in circuits if c.flag_resposta] if current_user.has("resposta") else []
    return notices, replies


def _visible(notices: list[int], replies: list[int]):  # type: ignore[no-untyped-def]
    """SQL condition: the messages this subscriber may see."""
    clauses = []
    if notices:
        clauses.append(and_(Message.circuit_id.in_(notices), or_(
            Message.direction == "to_operator",
            and_(Message.direction == "to_subscriber", Message.reply_to_id.is_(None)))))
    if replies:
        clauses.append(and_(Message.circuit_id.in_(replies), Message.direction == "to_subscriber",
                            Message.reply_to_id.is_not(None)))
    return or_(*clauses) if clauses else false()


def _require_page() -> tuple[list[int], list[int]]:
    if not (current_user.has("mensagem") or current_user.has("resposta")):
        abort(404)
    return _allowed_circuits()


def _row(message: Message, circuits: dict[int, Circuit]) -> dict:
    circuit = circuits[message.circuit_id]
    kind = ("solicitacao" if message.direction == "to_operator"
            else "resposta" if message.reply_to_id is not None else "aviso")
    return {"message": message, "kind": kind, "circuit": circuit,
            "when": local_datetime(message.created_at, circuit.timezone),
            "unread": message.direction == "to_subscriber" and message.read_at is None}


KIND_LABELS = {"aviso": "Aviso", "resposta": "Resposta", "solicitacao": "Solicitação"}


def _render(values: dict[str, str] | None = None, errors: dict[str, str] | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    notices, replies = _require_page()
    circuits = {c.id: c for c in customer_circuits()}
    messages = list(db().scalars(select(Message).where(_visible(notices, replies))
                                 .order_by(Message.created_at.desc(), Message.id.desc()).limit(LIST_LIMIT)))
    rows = [_row(m, circuits) for m in messages]
    inbox = [r for r in rows if r["kind"] != "solicitacao"]
    requests = [r for r in rows if r["kind"] == "solicitacao"]
    answered: set[int] = set()
    if replies and requests:
        answered = set(db().scalars(select(Message.reply_to_id).where(
            Message.reply_to_id.in_([r["message"].id for r in requests]), Message.direction == "to_subscriber",
            Message.circuit_id.in_(replies))))
    return render_template(
        "portal/mensagens.html", inbox=inbox, requests=requests, answered=answered, kinds=KIND_LABELS,
        may_send=current_user.has("mensagem"), show_replies=current_user.has("resposta"),
        values=values or {}, errors=errors or {}, subject_max=SUBJECT_MAX, body_max=BODY_MAX,
    ), status


@portal.route("/mensagens")
@login_required
def mensagens():  # type: ignore[no-untyped-def]
    return _render()


@portal.route("/mensagens/<int:message_id>")
@login_required
def mensagem(message_id: int):  # type: ignore[no-untyped-def]
    notices, replies = _require_page()
    session = db()
    message = session.scalar(select(Message).where(Message.id == message_id, _visible(notices, replies)))
    if message is None:
        abort(404)  # another customer's, or behind a flag that is off: as if it did not exist
    circuits = {c.id: c for c in customer_circuits()}
    thread: list[Message] = []
    if message.direction == "to_operator" and replies:
        thread = list(session.scalars(
            select(Message).where(Message.reply_to_id == message.id, Message.direction == "to_subscriber",
                                  Message.circuit_id.in_(replies)).order_by(Message.created_at, Message.id)))
    _mark_read(session, [message, *thread])
    original = None
    if message.reply_to_id is not None:
        parent = session.get(Message, message.reply_to_id)
        if parent is not None and parent.circuit_id in circuits:
            original = _row(parent, circuits)
    return render_template("portal/mensagens_ver.html", row=_row(message, circuits), original=original,
                           thread=[_row(m, circuits) for m in thread], kinds=KIND_LABELS)


def _mark_read(session, messages: list[Message]) -> None:  # type: ignore[no-untyped-def]
    """Messages to the subscriber shown on the page are read now (each change audited)."""
    now = datetime.now(timezone.utc)
    changed = False
    for message in messages:
        if message.direction == "to_subscriber" and message.read_at is None:
            message.read_at = now
            record(session, actor_kind=actor()[0], actor=actor()[1], action="message.read", target_kind="message",
                   target_id=message.id, after={"read_at": now}, address=client_address())
            changed = True
    if changed:
        session.commit()


@portal.route("/mensagens/enviar", methods=["POST"])
@login_required
@feature("mensagem")
def mensagem_enviar():  # type: ignore[no-untyped-def]
    subject = (request.form.get("assunto") or "").strip()
    body = (request.form.get("texto") or "").strip()
    errors: dict[str, str] = {}
    if not subject:
        errors["assunto"] = "Informe o assunto."
    elif len(subject) > SUBJECT_MAX:
        errors["assunto"] = f"O assunto pode ter no máximo {SUBJECT_MAX} caracteres (tem {len(subject)})."
    if not body:
        errors["texto"] = "Escreva a mensagem."
    elif len(body) > BODY_MAX:
        errors["texto"] = f"A mensagem pode ter no máximo {BODY_MAX} caracteres (tem {len(body)})."
    if errors:
        return _render({"assunto": subject, "texto": body}, errors, status=400)
    session = db()
    message = Message(circuit_id=current_user.circuit_id, direction="to_operator", subject=subject, body=body,
                      author=current_user.number)
    session.add(message)
    session.flush()
    record(session, actor_kind=actor()[0], actor=actor()[1], action="message.send", target_kind="message",
           target_id=message.id, after={"circuit": current_user.number, "subject": subject, "chars": len(body)},
           address=client_address())
    session.commit()
    flash("Solicitação enviada à operadora." + (" A resposta aparecerá nesta página."
                                                 if current_user.has("resposta") else ""), "success")
    return redirect(url_for("portal.mensagens"))
