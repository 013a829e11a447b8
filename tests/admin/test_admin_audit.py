"""Auditoria: every admin change is recorded with before/after, and the page finds events by
who, what, which circuit or customer, and when, a page at a time."""
from __future__ import annotations

import json
import re
import time
from datetime import datetime, timezone

import pytest
from sqlalchemy.orm import Session

from painel import totp
from painel.admins import enable_totp, get_admin
from painel.audit import record
from painel.models import AuditEvent
from painel.routing import acb_set, did_by_number

OWN = "8011441"


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)


def rows(response) -> list[str]:  # type: ignore[no-untyped-def]
    html = text(response)
    if "<tbody>" not in html:
        return []
    body = html.split("<tbody>")[1].split("</tbody>")[0]
    return re.findall(r"<tr>(.*?)</tr>", body, re.S)


def add_events(engine, *events: dict) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        for values in events:
            at = values.pop("at", None)
            event = record(s, **values)
            if at is not None:
                event.at = at
        s.commit()


# ---------------------------------------------------------------- every admin POST is audited

def test_every_admin_post_action_writes_an_audit_event(web, admin_db, actions):  # type: ignore[no-untyped-def]
    """Goes through every POST the admin blueprint has; a new one without a case here fails."""
    posted = {rule.endpoint for rule in web.app.url_map.iter_rules()
              if rule.endpoint.startswith("admin.") and "POST" in (rule.methods or ())}
    covered = {"admin.login", "admin.codigo", "admin.cliente_novo", "admin.cliente_editar", "admin.cliente_situacao",
               "admin.circuito_novo", "admin.circuito_editar", "admin.circuito_regras", "admin.circuito_gestao_web",
               "admin.circuito_senha_web", "admin.circuito_situacao", "admin.logout",
               "admin.numero_atribuir", "admin.numero_mover", "admin.numero_liberar", "admin.numeros_importar",
               "admin.plano_versao", "admin.planos_importar", "admin.fatura_gerar_pdf", "admin.fatura_pagamento",
               "admin.quarentena_reprocessar", "admin.quarentena_reprocessar_um", "admin.mensagens_aviso",
               "admin.mensagem_responder"}
    assert posted == covered, posted ^ covered

    # sign-in, with the second factor (admin.login, then admin.codigo)
    with Session(admin_db) as s:
        secret = re.search(r"secret=([A-Z2-7]+)", enable_totp(s, get_admin(s, "admin"), actor=("cli", "cli"))).group(1)
        s.commit()
    client = web.app.test_client()
    environ = {"REMOTE_ADDR": "203.0.113.50"}
    assert web.admin_login(client, address="203.0.113.50").status_code == 302
    page = client.get("/admin/entrar/codigo", environ_base=environ)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', text(page)).group(1)
    response = client.post("/admin/entrar/codigo", data={"codigo": totp.code_at(secret, time.time()),
                                                         "csrf_token": token}, environ_base=environ)
    assert response.status_code == 302
    event, _, after = web.last_event("admin.login")
    assert (event.actor, event.address, after) == ("admin", "203.0.113.50", {"totp": True})

    for action in actions:  # every change, then sign-out
        before_ids = {e.id for e in web.audit()}
        response = web.post(client, action.path, action.data, environ_base=environ)
        assert response.status_code == action.success, (action.name, text(response)[:500])
        new = [e for e in web.audit() if e.id not in before_ids and e.action == action.event]
        assert new, f"{action.name}: no {action.event} event"
        for e in new:
            assert (e.actor_kind, e.actor, e.address) == ("admin", "admin", "203.0.113.50"), action.name
            assert e.target_kind and e.target_id, action.name
            if action.event == "admin.logout":
                continue  # not a change: who and when is all there is
            assert e.after is not None, action.name
            if action.event.endswith((".update", ".flags", ".outbound_rules", ".deactivate", ".web_password",
                                      ".move", ".release", ".version", ".payment", ".quarantine_retry")):
                assert e.before is not None, f"{action.name}: no 'before'"
                before, after = json.loads(e.before), json.loads(e.after)
                assert before != after, action.name


def test_subscriber_changes_are_audited_too(web, admin_db):  # type: ignore[no-untyped-def]
    subscriber = web.client("subscriber")
    page = subscriber.get("/blacklist")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', text(page)).group(1)
    subscriber.post("/blacklist/adicionar", data={"numero": "11966665555", "csrf_token": token})
    html = text(web.client("support").get("/admin/auditoria", query_string={"tipo": "subscriber"}))
    assert "Número bloqueado" in html and "Entrada no painel do assinante" in html
    assert "Assinante" in html


# ---------------------------------------------------------------- the page

def test_page_shows_who_what_before_after_when_where(web, admin_db):  # type: ignore[no-untyped-def]
    add_events(admin_db, dict(actor_kind="admin", actor="maria", action="circuit.flags", target_kind="circuit",
                              target_id=OWN, before={"acb": True}, after={"acb": False}, address="198.51.100.7",
                              at=datetime(2026, 11, 20, 15, 0, 5, tzinfo=timezone.utc)))
    response = web.client("admin").get("/admin/auditoria", query_string={"ator": "maria"})
    (row,) = rows(response)
    assert "20/11/2026 12:00:05" in row  # America/Sao_Paulo, the operator's clock
    assert "maria" in row and "Equipe (admin)" in row and "Gestão Web alterada" in row
    assert '<span class="etiqueta">Circuito</span> <a href="/admin/circuitos/' in row and ">8011441</a>" in row
    assert "198.51.100.7" in row
    assert '<span class="campo-nome">acb</span>: <del>sim</del> → <ins>não</ins>' in row


@pytest.mark.parametrize("query, expected", [
    ({"ator": "mar"}, {"e1", "e2"}),
    ({"ator": "MARIA"}, {"e1", "e2"}),
    ({"tipo": "cli"}, {"e3", "e6"}),
    ({"tipo": "subscriber"}, {"e4", "e5"}),
    ({"acao": "circuit.flags"}, {"e1"}),
    ({"circuito": OWN}, {"e1", "e4", "e6"}),  # the circuit, its subscriber, its DIDs
    ({"circuito": "8012442"}, {"e5", "e7"}),
    ({"cliente": "psicomed"}, {"e5", "e7", "e8"}),  # the customer and its circuit
    ({"de": "2026-11-02", "ate": "2026-11-03"}, {"e2", "e3"}),
    ({"de": "03/11/2026"}, {"e3", "e4", "e5", "e6", "e7", "e8"}),
    ({"ator": "maria", "ate": "2026-11-01"}, {"e1"}),
])
def test_filters(web, admin_db, query, expected):  # type: ignore[no-untyped-def]
    psicomed = web.customer_of("8012442").id
    # event n happens on day n of November 2026 at 12:00 in São Paulo (15:00 UTC); the note names it
    specs = [
        dict(actor_kind="admin", actor="maria", action="circuit.flags", target_kind="circuit", target_id=OWN),
        dict(actor_kind="admin", actor="maria", action="customer.update", target_kind="customer", target_id="999"),
        dict(actor_kind="cli", actor="cli", action="rates.import", target_kind="rate_plans", target_id="PADRAO"),
        dict(actor_kind="subscriber", actor=OWN, action="auth.login", target_kind="circuit", target_id=OWN),
        dict(actor_kind="subscriber", actor="8012442", action="profile.contact", target_kind="circuit",
             target_id="8012442"),
        dict(actor_kind="cli", actor="cli", action="acb.on", target_kind="did", target_id="+559832221100"),
        dict(actor_kind="admin", actor="joao", action="circuit.update", target_kind="circuit", target_id="8012442"),
        dict(actor_kind="admin", actor="joao", action="customer.update", target_kind="customer",
             target_id=str(psicomed)),
    ]
    with Session(admin_db) as s:  # only these events
        s.query(AuditEvent).delete()
        s.commit()
    add_events(admin_db, *[{**spec, "after": {"note": f"e{n}"},
                            "at": datetime(2026, 11, n, 15, 0, tzinfo=timezone.utc)}
                           for n, spec in enumerate(specs, start=1)])
    response = web.client("support").get("/admin/auditoria", query_string=query)
    assert response.status_code == 200
    found = set(re.findall(r"<ins>(e\d)</ins>", text(response)))
    assert found == expected


def test_circuit_filter_finds_did_events_recorded_by_the_router_code(web, admin_db):  # type: ignore[no-untyped-def]
    with Session(admin_db) as s:
        acb_set(s, did_by_number(s, "+559832221100"), True, actor=("cli", "cli"))
        s.commit()
    html = text(web.client("admin").get("/admin/auditoria", query_string={"circuito": OWN, "acao": "acb.on"}))
    assert "ACB ligado" in html and "(98) 3222-1100" in html


@pytest.mark.parametrize("query, message", [
    ({"de": "31/02/2026"}, "Data inválida: use o formato dd/mm/aaaa."),
    ({"de": "2026-11-05", "ate": "2026-11-01"}, "A data final não pode ser anterior à inicial."),
    ({"tipo": "hacker"}, "Escolha um tipo de autor da lista."),
])
def test_bad_filters(web, admin_db, query, message):  # type: ignore[no-untyped-def]
    response = web.client("admin").get("/admin/auditoria", query_string=query)
    assert response.status_code == 400 and message in text(response)


def test_pagination_keeps_the_filters(web, admin_db):  # type: ignore[no-untyped-def]
    add_events(admin_db, *[dict(actor_kind="admin", actor="paginador", action="circuit.flags", target_kind="circuit",
                                target_id=OWN, after={"n": n},
                                at=datetime(2026, 10, 1, tzinfo=timezone.utc).replace(minute=n % 60, hour=n // 60))
                           for n in range(120)])
    client = web.client("admin")
    first = client.get("/admin/auditoria", query_string={"ator": "paginador"})
    assert len(rows(first)) == 50 and "Página 1 de 3 (120 no total)" in text(first)
    assert '<ins>119</ins>' in rows(first)[0]  # newest first
    next_link = re.search(r'href="([^"]+)" rel="next"', text(first)).group(1).replace("&amp;", "&")
    assert "ator=paginador" in next_link and "pagina=2" in next_link
    last = client.get("/admin/auditoria", query_string={"ator": "paginador", "pagina": "3"})
    assert len(rows(last)) == 20 and '<ins>0</ins>' in rows(last)[-1]
    assert 'rel="next"' not in text(last) and 'rel="prev"' in text(last)
    beyond = client.get("/admin/auditoria", query_string={"ator": "paginador", "pagina": "99"})
    assert "Página 3 de 3" in text(beyond)


def test_home_shows_the_latest_events(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("admin")
    html = text(client.get("/admin/"))
    assert "Últimos eventos" in html and "Entrada na administração" in html
    assert "Clientes" in html and "Circuitos" in html and "Auditoria" in html
