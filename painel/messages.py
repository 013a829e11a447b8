"""Mensagem / Resposta from the operator's side: post notices, list and answer requests.

A notice goes to every named circuit as its own message (each circuit reads and marks
its copy); an answer is a message to the requesting circuit with ``reply_to_id`` set,
which the portal shows under the Resposta flag. Every action is audited.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from painel.audit import record
from painel.errors import NotFound, ValidationError
from painel.models import Circuit, Message

SUBJECT_MAX = 200
BODY_MAX = 5000

Actor = tuple[str, str]


def _check(subject: str, body: str) -> tuple[str, str]:
    subject, body = subject.strip(), body.strip()
    if not subject:
        raise ValidationError("informe o assunto")
    if len(subject) > SUBJECT_MAX:
        raise ValidationError(f"o assunto pode ter no máximo {SUBJECT_MAX} caracteres (tem {len(subject)})")
    if not body:
        raise ValidationError("escreva a mensagem")
    if len(body) > BODY_MAX:
        raise ValidationError(f"a mensagem pode ter no máximo {BODY_MAX} caracteres (tem {len(body)})")
    return subject, body


def post_notice(session: Session, circuit_numbers: Sequence[str] | None, subject: str, body: str, *,
                actor: Actor, address: str | None = None) -> list[Message]:
    """A notice to the named circuits, or to every active circuit when ``circuit_numbers`` is None."""
    subject, body = _check(subject, body)
    query = select(Circuit).where(Circuit.active.is_(True)).order_by(Circuit.number)
    if circuit_numbers is not None:
        wanted = sorted({n.strip() for n in circuit_numbers if n.strip()})
        if not wanted:
            raise ValidationError("informe ao menos um circuito")
        circuits = list(session.scalars(select(Circuit).where(Circuit.number.in_(wanted))))
        unknown = sorted(set(wanted) - {c.number for c in circuits})
        if unknown:
            raise NotFound(f"circuito(s) desconhecido(s): {', '.join(unknown)}")
    else:
        circuits = list(session.scalars(query))
    messages = [Message(circuit_id=c.id, direction="to_subscriber", subject=subject, body=body, author=actor[1])
                for c in circuits]
    session.add_all(messages)
    session.flush()
    record(session, actor_kind=actor[0], actor=actor[1], action="message.notice", target_kind="circuits",
           target_id="todos" if circuit_numbers is None else ",".join(c.number for c in circuits)[:200],
           after={"subject": subject, "chars": len(body), "circuits": len(circuits)}, address=address)
    return messages


@dataclass(frozen=True)
class Request:
    message: Message
    circuit_number: str
    answers: int


def requests(session: Session, *, unanswered_only: bool = False, limit: int = 200) -> list[Request]:
    """Subscribers' requests, newest first, with how many answers each has."""
    reply = aliased(Message)
    rows = session.execute(
        select(Message, Circuit.number).join(Circuit, Circuit.id == Message.circuit_id)
        .where(Message.direction == "to_operator").order_by(Message.created_at.desc(), Message.id.desc())
        .limit(limit)).all()
    counts: dict[int, int] = {}
    ids = [m.id for m, _ in rows]
    if ids:
        for (reply_to,) in session.execute(select(reply.reply_to_id).where(reply.reply_to_id.in_(ids))):
            counts[reply_to] = counts.get(reply_to, 0) + 1
    out = [Request(m, number, counts.get(m.id, 0)) for m, number in rows]
    return [r for r in out if r.answers == 0] if unanswered_only else out


def answer(session: Session, request_id: int, body: str, *, actor: Actor, address: str | None = None) -> Message:
    """Reply to a subscriber's request (shown to the circuit under the Resposta flag)."""
    original = session.get(Message, request_id)
    if original is None or original.direction != "to_operator":
        raise NotFound(f"solicitação desconhecida: {request_id}")
    subject = original.subject if original.subject.lower().startswith("re:") else f"Re: {original.subject}"
    subject, body = _check(subject[:SUBJECT_MAX], body)
    reply = Message(circuit_id=original.circuit_id, direction="to_subscriber", reply_to_id=original.id,
                    subject=subject, body=body, author=actor[1])
    session.add(reply)
    session.flush()
    record(session, actor_kind=actor[0], actor=actor[1], action="message.answer", target_kind="message",
           target_id=original.id, after={"reply": reply.id, "chars": len(body)}, address=address)
    return reply
