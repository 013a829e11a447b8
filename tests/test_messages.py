"""The operator's side of Mensagem / Resposta: notices, requests, answers (both engines)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from painel.errors import NotFound, ValidationError
from painel.messages import answer, post_notice, requests
from painel.models import AuditEvent, Circuit, Message

ACTOR = ("admin", "ana")


def test_notice_to_some_or_all_active_circuits(demo_db) -> None:  # type: ignore[no-untyped-def]
    with Session(demo_db) as s:
        some = post_notice(s, ["8011441", "8011880"], "Manutenção", "Sábado, 2h às 4h.", actor=ACTOR)
        assert {m.circuit_id for m in some} == set(s.scalars(select(Circuit.id).where(
            Circuit.number.in_(["8011441", "8011880"]))))
        active = s.scalar(select(func.count()).select_from(Circuit).where(Circuit.active.is_(True)))
        assert len(post_notice(s, None, "Novo horário", "Atendimento até 20h.", actor=ACTOR)) == active
        assert all(m.direction == "to_subscriber" and m.reply_to_id is None and m.author == "ana" for m in some)
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "message.notice")) == 2
        with pytest.raises(NotFound, match="0000000"):
            post_notice(s, ["8011441", "0000000"], "x", "y", actor=ACTOR)
        for subject, body, words in (("", "y", "assunto"), ("x", " ", "escreva"), ("x" * 201, "y", "200"),
                                     ("x", "y" * 5001, "5000")):
            with pytest.raises(ValidationError, match=words):
                post_notice(s, ["8011441"], subject, body, actor=ACTOR)


def test_requests_and_answers(demo_db) -> None:  # type: ignore[no-untyped-def]
    with Session(demo_db) as s:
        cid = s.scalar(select(Circuit.id).where(Circuit.number == "8011441"))
        asked = Message(circuit_id=cid, direction="to_operator", subject="Segunda via", body="Preciso da fatura.",
                        author="8011441")
        s.add(asked)
        s.flush()
        assert [r.message.id for r in requests(s, unanswered_only=True)] == [asked.id]
        reply = answer(s, asked.id, "Está no portal, em Faturas.", actor=ACTOR, address="10.0.0.8")
        assert (reply.circuit_id, reply.reply_to_id, reply.subject) == (cid, asked.id, "Re: Segunda via")
        assert requests(s, unanswered_only=True) == []
        assert [(r.circuit_number, r.answers) for r in requests(s)] == [("8011441", 1)]
        with pytest.raises(NotFound):
            answer(s, reply.id, "answering a notice is not a thing", actor=ACTOR)
        with pytest.raises(NotFound):
            answer(s, 987654, "nope", actor=ACTOR)
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "message.answer"))
        assert event.target_id == str(asked.id) and event.address == "10.0.0.8"
