"""Mensagens: notices to some or all circuits (``painel.messages.post_notice``), subscribers' requests
unanswered first, and answering one; what the subscriber then sees on the portal."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from painel.models import Circuit, Message

OWN = "8011441"


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)


def subjects(html: str) -> list[str]:
    body = html.split('<table class="solicitacoes">')[1].split("</tbody>")[0] if '<table class="solicitacoes">' in html \
        else ""
    return re.findall(r'<a href="/admin/mensagens/\d+">([^<]+)</a>', body)


def notices(engine, subject: str) -> list[str]:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return sorted(s.scalars(select(Circuit.number).join(Message, Message.circuit_id == Circuit.id)
                                .where(Message.subject == subject, Message.direction == "to_subscriber")))


def test_requests_unanswered_first(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("support")
    html = text(client.get("/admin/mensagens"))
    # "Mudança de plano" is newer but answered: the unanswered one comes first
    assert subjects(html) == ["Segunda via da fatura", "Mudança de plano"]
    rows = html.split('<table class="solicitacoes">')[1]
    assert "Sem resposta" in rows.split("</tr>")[1] and "Respondida" in rows.split("</tr>")[2]
    assert "1 sem resposta" in html
    assert subjects(text(client.get("/admin/mensagens", query_string={"pendentes": "1"}))) == ["Segunda via da fatura"]
    assert "Enviar um aviso" not in html and "somente consulta" in html  # support


def test_notice_to_some_circuits_reaches_their_portal(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("admin")
    response = web.post(client, "/admin/mensagens/aviso", {
        "destino": "circuitos", "circuitos": "8011441,\n8012442  8012442", "assunto": "Manutenção programada",
        "mensagem": "Na madrugada de domingo, das 2h às 4h."})
    assert response.status_code == 302
    assert "Aviso “Manutenção programada” enviado a 2 circuito(s)." in text(client.get(response.headers["Location"]))
    assert notices(admin_db, "Manutenção programada") == [OWN, "8012442"]
    event, _, after = web.last_event("message.notice")
    assert (event.actor, event.target_id) == ("admin", "8011441,8012442")
    assert after == {"subject": "Manutenção programada", "chars": 38, "circuits": 2}
    assert "Manutenção programada" in text(web.client("subscriber").get("/mensagens"))


def test_notice_to_every_active_circuit(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("admin")
    web.post(client, f"/admin/circuitos/{web.circuit_id('8011959')}/situacao", {"ativo": "0"})
    assert "Todos os circuitos ativos (5)" in text(client.get("/admin/mensagens"))
    response = web.post(client, "/admin/mensagens/aviso", {
        "destino": "todos", "circuitos": "ignorado", "assunto": "Novo plano", "mensagem": "Conheça o plano."})
    assert response.status_code == 302
    assert notices(admin_db, "Novo plano") == ["8010348", "8011441", "8011880", "8011927", "8012442"]
    assert web.last_event("message.notice")[0].target_id == "todos"


@pytest.mark.parametrize("data, field, message", [
    ({"destino": "circuitos", "circuitos": " , "}, "circuitos", "Informe os números dos circuitos"),
    ({"destino": "circuitos", "circuitos": "8011441 8000000"}, "circuitos", "Circuito(s) desconhecido(s): 8000000."),
    ({"destino": "ninguem"}, "destino", "Escolha para quem vai o aviso."),
    ({"assunto": "  "}, "assunto", "Informe o assunto."),
    ({"assunto": "x" * 201}, "assunto", "O assunto pode ter no máximo 200 caracteres (tem 201)."),
    ({"mensagem": ""}, "mensagem", "Escreva a mensagem."),
    ({"mensagem": "y" * 5001}, "mensagem", "A mensagem pode ter no máximo 5000 caracteres (tem 5001)."),
])
def test_notice_refusals(web, admin_db, data, field, message):  # type: ignore[no-untyped-def]
    form = {"destino": "todos", "circuitos": "", "assunto": "Aviso", "mensagem": "Texto.", **data}
    response = web.post(web.client("admin"), "/admin/mensagens/aviso", form)
    assert response.status_code == 400
    html = text(response)
    assert f'id="aviso-{field}-erro"' in html and message in html
    assert web.audit("message.notice") == []
    with Session(admin_db) as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 3  # the extras' only


def test_answer_a_request(web, admin_db):  # type: ignore[no-untyped-def]
    request_id = web.request_id()
    support = text(web.client("support").get(f"/admin/mensagens/{request_id}"))
    assert "Segunda via da fatura" in support and "Preciso da segunda via de outubro." in support
    assert "Ainda sem resposta." in support and "Enviar resposta" not in support
    client = web.client("admin")
    response = web.post(client, f"/admin/mensagens/{request_id}/responder",
                        {"resposta": "A segunda via está no painel, em Faturas."})
    assert response.status_code == 302 and response.headers["Location"] == f"/admin/mensagens/{request_id}"
    page = text(client.get(response.headers["Location"]))
    assert "Resposta enviada." in page and "A segunda via está no painel, em Faturas." in page
    assert "admin, em" in page and "ainda não lida" in page
    with Session(admin_db) as s:
        reply = s.scalar(select(Message).where(Message.reply_to_id == request_id))
        assert (reply.direction, reply.subject, reply.author) == ("to_subscriber", "Re: Segunda via da fatura", "admin")
    event, _, after = web.last_event("message.answer")
    assert event.target_id == str(request_id) and after["chars"] == 41
    assert subjects(text(client.get("/admin/mensagens", query_string={"pendentes": "1"}))) == []
    # the subscriber (Resposta on) reads it on the portal
    assert "Re: Segunda via da fatura" in text(web.client("subscriber").get("/mensagens"))


def test_answer_refusals(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("admin")
    request_id = web.request_id()
    response = web.post(client, f"/admin/mensagens/{request_id}/responder", {"resposta": "   "})
    assert response.status_code == 400 and "Escreva a resposta." in text(response)
    response = web.post(client, f"/admin/mensagens/{request_id}/responder", {"resposta": "z" * 5001})
    assert response.status_code == 400 and "A mensagem pode ter no máximo 5000 caracteres (tem 5001)." in text(response)
    assert 'maxlength="5000" required>' + "z" * 5001 in text(response)  # kept to be shortened
    with Session(admin_db) as s:
        reply_id = s.scalar(select(Message.id).where(Message.reply_to_id.is_not(None)))
    # only requests can be answered: a reply (or notice) is not one
    assert client.get(f"/admin/mensagens/{reply_id}").status_code == 404
    assert web.post(client, f"/admin/mensagens/{reply_id}/responder", {"resposta": "oi"}).status_code == 404
    assert client.get("/admin/mensagens/999999").status_code == 404
    assert web.audit("message.answer") == []


def test_answer_warns_when_the_circuit_cannot_see_replies(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("admin")
    from painel.models import GESTAO_WEB_FLAGS

    web.post(client, f"/admin/circuitos/{web.circuit_id()}/gestao-web",
             {f"flag_{f}": "1" for f in GESTAO_WEB_FLAGS if f != "resposta"})
    html = text(client.get(f"/admin/mensagens/{web.request_id()}"))
    assert "A opção Resposta da Gestão Web deste circuito está desligada" in html
