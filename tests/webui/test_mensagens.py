"""The Mensagens page: notices, replies and requests behind the Mensagem and Resposta flags."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from painel.models import AuditEvent, Circuit, Message

OWN = "8011441"
SIBLING = "8011927"
OTHER = "8011880"
T0 = datetime(2026, 11, 10, 12, tzinfo=timezone.utc)


@pytest.fixture
def portal_db(demo_db):  # type: ignore[no-untyped-def]
    """The demo operator without traffic: this page needs circuits and messages, not CDRs."""
    return demo_db


@dataclass
class Box:
    notice: int
    request: int
    reply: int
    sibling_notice: int
    sibling_reply: int
    foreign_notice: int
    foreign_request: int


def circuit_id(engine, number: str) -> int:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return s.scalar(select(Circuit.id).where(Circuit.number == number))


@pytest.fixture
def box(portal_db) -> Box:  # type: ignore[no-untyped-def]
    own, sibling, other = (circuit_id(portal_db, n) for n in (OWN, SIBLING, OTHER))
    with Session(portal_db) as s:
        def add(circuit: int, direction: str, subject: str, body: str, minutes: int, reply_to: int | None = None,
                author: str = "operadora") -> int:
            m = Message(circuit_id=circuit, direction=direction, subject=subject, body=body, author=author,
                        reply_to_id=reply_to, created_at=T0 + timedelta(minutes=minutes))
            s.add(m)
            s.flush()
            return m.id

        notice = add(own, "to_subscriber", "Manutenção programada", "Haverá manutenção\nno sábado às 2h.", 0)
        request = add(own, "to_operator", "Segunda via da fatura", "Preciso da segunda via de outubro.", 10,
                      author=OWN)
        reply = add(own, "to_subscriber", "Re: Segunda via da fatura", "Enviamos a segunda via por e-mail.", 20,
                    reply_to=request)
        sibling_request = add(sibling, "to_operator", "Troca de plano", "Quero mudar de plano.", 30, author=SIBLING)
        sibling_notice = add(sibling, "to_subscriber", "Aviso ao sindicato", "Novo horário de atendimento.", 40)
        sibling_reply = add(sibling, "to_subscriber", "Re: Troca de plano", "Plano alterado.", 50,
                            reply_to=sibling_request)
        foreign_notice = add(other, "to_subscriber", "Aviso da HK", "Somente para a HK.", 60)
        foreign_request = add(other, "to_operator", "Pedido da HK", "Pedido privado.", 70, author=OTHER)
        s.commit()
    return Box(notice, request, reply, sibling_notice, sibling_reply, foreign_notice, foreign_request)


def message(engine, message_id: int) -> Message:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return s.get(Message, message_id)


def audit(engine, action: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def set_circuit(engine, number: str, **values) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        s.execute(update(Circuit).where(Circuit.number == number).values(**values))
        s.commit()


def requests_of(engine, number: str) -> list[Message]:  # type: ignore[no-untyped-def]
    cid = circuit_id(engine, number)
    with Session(engine) as s:
        return list(s.scalars(select(Message).where(Message.circuit_id == cid, Message.direction == "to_operator")
                              .order_by(Message.id)))


def send(client, csrf, **fields):  # type: ignore[no-untyped-def]
    page = client.get("/perfil")
    return client.post("/mensagens/enviar", data={"csrf_token": csrf(page.data), **fields})


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)


# ---------------------------------------------------------------- list

def test_list_shows_the_customers_messages(signed_in, box):  # type: ignore[no-untyped-def]
    page = signed_in.get("/mensagens")
    html = text(page)
    assert page.status_code == 200
    for subject in ("Manutenção programada", "Re: Segunda via da fatura", "Aviso ao sindicato", "Re: Troca de plano",
                    "Segunda via da fatura", "Troca de plano"):
        assert subject in html
    assert "Aviso da HK" not in html and "Pedido da HK" not in html
    assert "não lida" in html and "respondida" in html
    assert "10/11/2026 09:00:00" in html  # the notice's time in the circuit's zone (UTC-3)
    inbox, requests = html.split("Suas solicitações", 1)
    assert "Manutenção programada" in inbox and "Segunda via da fatura</a>" in requests
    assert html.index("Re: Troca de plano") < html.index("Manutenção programada")  # newest first
    assert '<label for="mensagem-assunto">' in html and '<label for="mensagem-texto">' in html
    assert 'style="' not in html and "<script" not in html


def test_open_notice_marks_it_read_once(signed_in, box, portal_db):  # type: ignore[no-untyped-def]
    assert message(portal_db, box.notice).read_at is None
    page = signed_in.get(f"/mensagens/{box.notice}")
    html = text(page)
    assert page.status_code == 200
    assert "Manutenção programada" in html and "Haverá manutenção\nno sábado às 2h." in html
    assert message(portal_db, box.notice).read_at is not None
    events = audit(portal_db, "message.read")
    assert len(events) == 1 and events[0].target_id == str(box.notice)
    assert events[0].actor_kind == "subscriber" and events[0].actor == OWN and events[0].address == "127.0.0.1"
    signed_in.get(f"/mensagens/{box.notice}")
    assert len(audit(portal_db, "message.read")) == 1  # already read: no new change


def test_open_request_shows_and_reads_its_replies(signed_in, box, portal_db):  # type: ignore[no-untyped-def]
    html = text(signed_in.get(f"/mensagens/{box.request}"))
    assert "Preciso da segunda via de outubro." in html
    assert "Respostas da operadora" in html and "Enviamos a segunda via por e-mail." in html
    assert message(portal_db, box.reply).read_at is not None
    assert message(portal_db, box.request).read_at is None  # the subscriber's own request is not "read"
    assert [e.target_id for e in audit(portal_db, "message.read")] == [str(box.reply)]


def test_open_reply_shows_the_original_request(signed_in, box):  # type: ignore[no-untyped-def]
    html = text(signed_in.get(f"/mensagens/{box.reply}"))
    assert "Enviamos a segunda via por e-mail." in html
    assert "Em resposta à sua solicitação: Segunda via da fatura" in html
    assert "Preciso da segunda via de outubro." in html


@pytest.mark.parametrize("which", ["foreign_notice", "foreign_request", "missing"])
def test_another_customers_message_is_404(signed_in, box, portal_db, which):  # type: ignore[no-untyped-def]
    message_id = 999999 if which == "missing" else getattr(box, which)
    assert signed_in.get(f"/mensagens/{message_id}").status_code == 404
    if which == "foreign_notice":
        assert message(portal_db, message_id).read_at is None
    assert audit(portal_db, "message.read") == []


def test_subject_and_body_are_escaped(signed_in, box, portal_db):  # type: ignore[no-untyped-def]
    with Session(portal_db) as s:
        m = s.get(Message, box.notice)
        m.subject, m.body = "<b>Promoção</b>", "<script>alert(1)</script>"
        s.commit()
    assert "&lt;b&gt;Promoção&lt;/b&gt;" in text(signed_in.get("/mensagens"))
    html = text(signed_in.get(f"/mensagens/{box.notice}"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html


# ---------------------------------------------------------------- send

def test_send_request(signed_in, csrf, box, portal_db):  # type: ignore[no-untyped-def]
    response = send(signed_in, csrf, assunto="  Mudança de endereço  ", texto="Mudamos para a Rua B, 20.")
    assert response.status_code == 302 and response.headers["Location"] == "/mensagens"
    sent = requests_of(portal_db, OWN)[-1]
    assert sent.subject == "Mudança de endereço" and sent.body == "Mudamos para a Rua B, 20."
    assert sent.direction == "to_operator" and sent.author == OWN and sent.reply_to_id is None
    event = audit(portal_db, "message.send")[-1]
    assert event.actor_kind == "subscriber" and event.actor == OWN and event.address == "127.0.0.1"
    assert event.target_id == str(sent.id) and json.loads(event.after)["subject"] == "Mudança de endereço"
    html = text(signed_in.get("/mensagens"))
    assert "Solicitação enviada à operadora. A resposta aparecerá nesta página." in html
    assert "Mudança de endereço" in html and "aguardando resposta" in html


@pytest.mark.parametrize("fields, message_text", [
    ({"assunto": "", "texto": "Olá"}, "Informe o assunto."),
    ({"assunto": "   ", "texto": "Olá"}, "Informe o assunto."),
    ({"assunto": "a" * 201, "texto": "Olá"}, "O assunto pode ter no máximo 200 caracteres (tem 201)."),
    ({"assunto": "Oi", "texto": ""}, "Escreva a mensagem."),
    ({"assunto": "Oi", "texto": "x" * 5001}, "A mensagem pode ter no máximo 5000 caracteres (tem 5001)."),
])
def test_send_validation_in_portuguese(signed_in, csrf, box, portal_db, fields, message_text):  # type: ignore[no-untyped-def]
    before = len(requests_of(portal_db, OWN))
    response = send(signed_in, csrf, **fields)
    assert response.status_code == 400
    html = text(response)
    assert message_text in html and 'role="alert"' in html
    if fields["texto"] and len(fields["texto"]) < 10:
        assert f'>{fields["texto"]}</textarea>' in html  # kept
    assert len(requests_of(portal_db, OWN)) == before
    assert audit(portal_db, "message.send") == []


def test_send_needs_csrf(signed_in, box, portal_db):  # type: ignore[no-untyped-def]
    before = len(requests_of(portal_db, OWN))
    assert signed_in.post("/mensagens/enviar", data={"assunto": "Oi", "texto": "Olá"}).status_code == 400
    assert len(requests_of(portal_db, OWN)) == before


# ---------------------------------------------------------------- flags

def test_resposta_off_hides_replies(signed_in, box, portal_db):  # type: ignore[no-untyped-def]
    set_circuit(portal_db, OWN, flag_resposta=False)
    html = text(signed_in.get("/mensagens"))
    assert "Manutenção programada" in html and "Segunda via da fatura" in html
    assert "Re: Segunda via da fatura" not in html and "Re: Troca de plano" not in html
    assert "respondida" not in html and "aguardando resposta" not in html
    assert signed_in.get(f"/mensagens/{box.reply}").status_code == 404
    request_page = text(signed_in.get(f"/mensagens/{box.request}"))
    assert "Enviamos a segunda via por e-mail." not in request_page
    assert message(portal_db, box.reply).read_at is None


def test_mensagem_off_leaves_only_replies(signed_in, csrf, box, portal_db):  # type: ignore[no-untyped-def]
    csrf_token = csrf(signed_in.get("/perfil").data)
    set_circuit(portal_db, OWN, flag_mensagem=False)
    page = signed_in.get("/mensagens")
    html = text(page)
    assert page.status_code == 200 and 'href="/mensagens"' in html
    assert "Re: Segunda via da fatura" in html
    assert "Manutenção programada" not in html and "Suas solicitações" not in html
    assert 'action="/mensagens/enviar"' not in html
    assert signed_in.get(f"/mensagens/{box.notice}").status_code == 404
    assert signed_in.get(f"/mensagens/{box.request}").status_code == 404
    assert signed_in.get(f"/mensagens/{box.reply}").status_code == 200
    before = len(requests_of(portal_db, OWN))
    response = signed_in.post("/mensagens/enviar", data={"csrf_token": csrf_token, "assunto": "Oi", "texto": "Olá"})
    assert response.status_code == 404
    assert len(requests_of(portal_db, OWN)) == before


def test_sibling_flags_apply_to_its_messages(signed_in, box, portal_db):  # type: ignore[no-untyped-def]
    set_circuit(portal_db, SIBLING, flag_mensagem=False, flag_resposta=False)
    html = text(signed_in.get("/mensagens"))
    assert "Aviso ao sindicato" not in html and "Re: Troca de plano" not in html
    assert signed_in.get(f"/mensagens/{box.sibling_notice}").status_code == 404
    assert signed_in.get(f"/mensagens/{box.sibling_reply}").status_code == 404
    assert "Manutenção programada" in html


def test_both_flags_off_hide_the_page(signed_in, csrf, box, portal_db):  # type: ignore[no-untyped-def]
    csrf_token = csrf(signed_in.get("/perfil").data)
    set_circuit(portal_db, OWN, flag_mensagem=False, flag_resposta=False)
    assert 'href="/mensagens"' not in text(signed_in.get("/perfil"))
    assert signed_in.get("/mensagens").status_code == 404
    assert signed_in.get(f"/mensagens/{box.notice}").status_code == 404
    assert signed_in.get(f"/mensagens/{box.reply}").status_code == 404
    response = signed_in.post("/mensagens/enviar", data={"csrf_token": csrf_token, "assunto": "Oi", "texto": "Olá"})
    assert response.status_code == 404
    assert message(portal_db, box.notice).read_at is None
