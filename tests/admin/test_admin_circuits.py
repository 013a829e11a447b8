"""Circuitos: create, edit, outbound dialing rules with the tester (the portal's and the
router's engine), Gestão Web flags reaching the portal and the router at once, the
one-time web password, deactivation."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash

from painel.demo import DEMO_PASSWORD
from painel.dialing import RULE_MESSAGE
from painel.models import GESTAO_WEB_FLAGS, Circuit, Did
from painel.routing import load_did_rules, rules_version

OWN = "8011441"
OWN_DID = "5598987654321"  # its first DID, with siga-me to 0218632221234 (LDN)


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)


def version(engine) -> int:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return rules_version(s)


def router_rules(engine, did: str = OWN_DID):  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return load_did_rules(s)[did]


def circuit_form(web, **changes: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    c = web.circuit()
    values = {"numero": c.number, "nome": c.name, "cliente_id": str(c.customer_id), "ddd": c.home_ddd,
              "fuso": c.timezone, "plano_id": str(c.rate_plan_id)}
    return {**values, **changes}


# ---------------------------------------------------------------- create and edit

def test_create_circuit(web, admin_db):  # type: ignore[no-untyped-def]
    before = version(admin_db)
    customer = web.customer_of("8012442")
    client = web.client("admin")
    page = client.get(f"/admin/circuitos/novo?cliente={customer.id}")
    assert f'<option value="{customer.id}" selected>' in text(page)
    response = web.post(client, "/admin/circuitos/novo", circuit_form(
        web, numero="8019001", nome="PSICOMED FILIAL", cliente_id=str(customer.id), ddd="86",
        fuso="America/Fortaleza"))
    assert response.status_code == 302
    circuit = web.circuit("8019001")
    assert response.headers["Location"] == f"/admin/circuitos/{circuit.id}"
    assert (circuit.customer_id, circuit.home_ddd, circuit.timezone, circuit.active) == \
           (customer.id, "86", "America/Fortaleza", True)
    assert circuit.web_password_hash is None and not any(getattr(circuit, f"flag_{f}") for f in GESTAO_WEB_FLAGS)
    assert json.loads(circuit.outbound_rules) == ["local", "ldn", "movel", "especial", "gratuita"]
    event, _, after = web.last_event("circuit.create")
    assert event.target_id == "8019001" and after["home_ddd"] == "86"
    assert version(admin_db) > before
    assert "todas as opções da Gestão Web desligadas" in text(client.get(response.headers["Location"]))


@pytest.mark.parametrize("changes, field, message", [
    ({"numero": "8011880"}, "numero", "Já existe um circuito 8011880."),
    ({"numero": "80-11"}, "numero", "de 3 a 20 dígitos"),
    ({"ddd": "20"}, "ddd", "DDD inválido"),
    ({"fuso": "Europe/Lisbon"}, "fuso", "Escolha um fuso horário da lista."),
    ({"plano_id": "999999"}, "plano_id", "Escolha um plano de tarifas ativo."),
    ({"cliente_id": ""}, "cliente_id", "Escolha o cliente do circuito."),
    ({"cliente_id": "999999"}, "cliente_id", "Cliente não encontrado."),
])
def test_create_circuit_refusals(web, admin_db, changes, field, message):  # type: ignore[no-untyped-def]
    response = web.post(web.client("admin"), "/admin/circuitos/novo", circuit_form(web, **{"numero": "8019002", **changes}))
    assert response.status_code == 400
    html = text(response)
    assert message in html and f'id="circuito-{field}-erro"' in html
    assert web.audit("circuit.create") == []


def test_edit_circuit_records_before_and_after_under_the_old_number(web, admin_db):  # type: ignore[no-untyped-def]
    before = version(admin_db)
    cid = web.circuit_id()
    response = web.post(web.client("admin"), f"/admin/circuitos/{cid}/editar",
                        circuit_form(web, numero="8011442", ddd="99", fuso="America/Sao_Paulo"))
    assert response.status_code == 302
    event, old, new = web.last_event("circuit.update")
    assert event.target_id == OWN
    assert old == {"number": OWN, "home_ddd": "98", "timezone": "America/Fortaleza"}
    assert new == {"number": "8011442", "home_ddd": "99", "timezone": "America/Sao_Paulo"}
    assert version(admin_db) > before
    assert router_rules(admin_db).circuit == "8011442"  # the router names the circuit by its new number


def test_edit_circuit_error_keeps_what_was_typed(web, admin_db):  # type: ignore[no-untyped-def]
    response = web.post(web.client("admin"), f"/admin/circuitos/{web.circuit_id()}/editar",
                        circuit_form(web, nome="Nome digitado", ddd="10"))
    assert response.status_code == 400
    html = text(response)
    assert 'value="Nome digitado"' in html and "DDD inválido" in html
    assert web.audit("circuit.update") == []


def test_search_circuits(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("support")
    html = text(client.get("/admin/circuitos", query_string={"q": "psicomed"}))
    assert "8012442" in html and OWN not in html
    html = text(client.get("/admin/circuitos", query_string={"q": "80114"}))
    assert OWN in html and "8012442" not in html


# ---------------------------------------------------------------- outbound dialing rules

def test_save_outbound_rules(web, admin_db):  # type: ignore[no-untyped-def]
    before = version(admin_db)
    cid = web.circuit_id()
    client = web.client("admin")
    response = web.post(client, f"/admin/circuitos/{cid}/regras",
                        [("permissoes", "movel"), ("permissoes", "local"), ("permissoes", "ldn"),
                         ("padroes", "^5511\r\npadrao:^0300\n\n^5511")])
    assert response.status_code == 302 and response.headers["Location"].endswith("#regras")
    assert json.loads(web.circuit().outbound_rules) == ["local", "ldn", "movel", "padrao:^5511", "padrao:^0300"]
    _, old, new = web.last_event("circuit.outbound_rules")
    assert old == {"outbound_rules": ["local", "ldn", "movel", "ldi", "especial", "gratuita"]}
    assert new == {"outbound_rules": ["local", "ldn", "movel", "padrao:^5511", "padrao:^0300"]}
    assert version(admin_db) > before
    assert router_rules(admin_db).outbound_rules == ("local", "ldn", "movel", "padrao:^5511", "padrao:^0300")
    html = text(client.get(f"/admin/circuitos/{cid}"))
    assert 'id="regra-ldi" name="permissoes" value="ldi">' in html  # unchecked
    assert 'id="regra-local" name="permissoes" value="local" checked>' in html
    assert "^5511\n^0300</textarea>" in html


@pytest.mark.parametrize("data, message", [
    ([("permissoes", "tudo")], "Permissão desconhecida: tudo."),
    ([("padroes", "abc")], "Padrão inválido: abc."),
    ([("padroes", "^(55")], "Padrão inválido: ^(55 (missing ), unterminated subpattern)"),
    ([("padroes", "^" + "1" * 100)], "no máximo 100 caracteres"),
    ([("padroes", "\n".join(f"^{n}" for n in range(10, 31)))], "No máximo 20 padrões extras."),
])
def test_outbound_rule_refusals(web, admin_db, data, message):  # type: ignore[no-untyped-def]
    response = web.post(web.client("admin"), f"/admin/circuitos/{web.circuit_id()}/regras", data)
    assert response.status_code == 400
    assert message in text(response)
    assert web.audit("circuit.outbound_rules") == []


def test_rules_that_refuse_an_existing_follow_me_are_flagged(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("admin")
    response = web.post(client, f"/admin/circuitos/{web.circuit_id()}/regras",
                        [("permissoes", "local"), ("permissoes", "movel")])
    page = text(client.get(response.headers["Location"]))
    assert "Atenção: o siga-me de (98) 98765-4321 (destino 0218632221234) não segue estas regras" in page
    assert "chamadas de longa distância nacional (LDN) não são permitidas" in page


@pytest.mark.parametrize("rules, number, verdict, details", [
    (None, "3222-1234", "Permitido", ["(98) 3222-1234", "Local fixo", "pela regra <strong>Local fixo</strong>"]),
    (None, "0218632221234", "Permitido", ["LDN fixo", "Longa distância nacional (LDN)"]),
    (None, "98987654321", "Permitido", ["Móvel local (VC1)", "Móvel (VC1, VC2, VC3)"]),
    (None, "00 21 1 212 555 1234", "Permitido", ["Internacional (LDI)"]),
    (None, "190", "Permitido", ["Gratuita"]),
    ([("permissoes", "local"), ("padroes", "^5511")], "011987654321", "Permitido",
     ["Móvel LDN (VC3)", "pela regra <strong>padrão extra ^5511</strong>"]),
    ([("permissoes", "local")], "08007271234", "Não permitido",
     [f"{RULE_MESSAGE}: chamadas gratuitas não são permitidas."]),
    ([("permissoes", "local")], "0218632221234", "Não permitido", ["chamadas de longa distância nacional (LDN)"]),
    (None, "9090 3222 1234", "Não permitido", ["chamadas a cobrar não podem ser destino de siga-me"]),
    (None, "12ab", "Não permitido", [RULE_MESSAGE]),
])
def test_the_tester_says_whether_and_by_which_rule(web, admin_db, rules, number, verdict, details):  # type: ignore[no-untyped-def]
    client = web.client("support")  # a GET: support may test too
    cid = web.circuit_id()
    if rules is not None:
        assert web.post(web.client("admin"), f"/admin/circuitos/{cid}/regras", rules).status_code == 302
    response = client.get(f"/admin/circuitos/{cid}", query_string={"numero": number})
    assert response.status_code == 200
    result = re.search(r'class="aviso [^"]* resultado-teste".*?</div>', text(response), re.S).group(0)
    assert f"<strong>{verdict}</strong>" in result
    for detail in details:
        assert detail in result, result


def test_the_tester_and_the_portal_use_one_engine(web, admin_db):  # type: ignore[no-untyped-def]
    """What the tester refuses, the portal's siga-me refuses with the same words."""
    admin = web.client("admin")
    cid = web.circuit_id()
    web.post(admin, f"/admin/circuitos/{cid}/regras", [("permissoes", "local"), ("permissoes", "movel")])
    tester = text(admin.get(f"/admin/circuitos/{cid}", query_string={"numero": "0218632221234"}))
    assert "chamadas de longa distância nacional (LDN) não são permitidas" in tester
    subscriber = web.client("subscriber")
    with Session(admin_db) as s:
        did_id = s.scalar(select(Did.id).where(Did.e164 == "+" + OWN_DID))
    page = subscriber.get("/numeros")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', text(page)).group(1)
    response = subscriber.post(f"/numeros/{did_id}/siga-me", data={
        "ativo": "1", "destino": "0218632221234", "modo": "always", "tempo": "20", "csrf_token": token})
    assert response.status_code == 400
    assert "chamadas de longa distância nacional (LDN) não são permitidas" in text(response)
    assert "Regras de saída deste circuito: Local fixo; Móvel (VC1, VC2, VC3)." in text(response)


# ---------------------------------------------------------------- Gestão Web

def test_gestao_web_page_matches_the_seed(web, admin_db):  # type: ignore[no-untyped-def]
    html = text(web.client("support").get(f"/admin/circuitos/{web.circuit_id()}"))
    section = html.split('id="gestao-web"')[1].split("</section>")[0]
    for label in ("Web", "Faturas", "Gráfico", "Blacklist", "Siga-me", "ACB", "Perfil", "Tabela", "Mensagem",
                  "Resposta"):
        assert f">Habilitar {label}</label>" in section
    for flag in GESTAO_WEB_FLAGS:  # each with its one-line help, tied to the checkbox
        assert f'aria-describedby="flag-{flag}-ajuda"' in section
        assert re.search(rf'<p class="dica ajuda" id="flag-{flag}-ajuda">[^<]{{20,}}</p>', section)
    assert "Circuito (usuário do painel)</dt><dd>8011441" in section
    assert "Senha Web</dt><dd>definida" in section
    assert "pbkdf2" not in html and "scrypt" not in html  # never a stored password, not even its hash


def test_flags_reach_the_portal_at_once(web, admin_db):  # type: ignore[no-untyped-def]
    subscriber = web.client("subscriber")
    assert subscriber.get("/blacklist").status_code == 200
    assert subscriber.get("/tabela").status_code == 200
    flags = {f"flag_{f}": "1" for f in GESTAO_WEB_FLAGS if f not in ("blacklist", "tabela")}
    response = web.post(web.client("admin"), f"/admin/circuitos/{web.circuit_id()}/gestao-web", flags)
    assert response.status_code == 302 and response.headers["Location"].endswith("#gestao-web")
    assert subscriber.get("/blacklist").status_code == 404  # the very next request
    assert subscriber.get("/tabela").status_code == 404
    assert subscriber.get("/perfil").status_code == 200
    _event, old, new = web.last_event("circuit.flags")
    assert old == {"blacklist": True, "tabela": True} and new == {"blacklist": False, "tabela": False}


def test_turning_web_off_ends_the_subscriber_session(web, admin_db):  # type: ignore[no-untyped-def]
    subscriber = web.client("subscriber")
    flags = {f"flag_{f}": "1" for f in GESTAO_WEB_FLAGS if f != "web"}
    web.post(web.client("admin"), f"/admin/circuitos/{web.circuit_id()}/gestao-web", flags)
    response = subscriber.get("/perfil")
    assert response.status_code == 302 and "/entrar" in response.headers["Location"]
    assert web.subscriber_login(web.app.test_client()).status_code == 401


def test_flags_reach_the_router(web, admin_db):  # type: ignore[no-untyped-def]
    assert {"blacklist", "sigame", "acb"} <= router_rules(admin_db).flags
    before = version(admin_db)
    flags = {f"flag_{f}": "1" for f in GESTAO_WEB_FLAGS if f not in ("blacklist", "sigame", "acb")}
    web.post(web.client("admin"), f"/admin/circuitos/{web.circuit_id()}/gestao-web", flags)
    assert version(admin_db) == before + 1  # every router reloads within its poll interval
    assert not {"blacklist", "sigame", "acb"} & router_rules(admin_db).flags


def test_saving_the_same_flags_changes_nothing(web, admin_db):  # type: ignore[no-untyped-def]
    before = version(admin_db)
    client = web.client("admin")
    response = web.post(client, f"/admin/circuitos/{web.circuit_id()}/gestao-web",
                        {f"flag_{f}": "1" for f in GESTAO_WEB_FLAGS})
    assert "Nada mudou na Gestão Web." in text(client.get(response.headers["Location"]))
    assert web.audit("circuit.flags") == [] and version(admin_db) == before


# ---------------------------------------------------------------- web password

@pytest.mark.parametrize("role", ["admin", "support"])
def test_new_web_password_is_shown_once_and_stored_hashed(web, admin_db, role):  # type: ignore[no-untyped-def]
    subscriber = web.client("subscriber")
    client = web.client(role)
    response = web.post(client, f"/admin/circuitos/{web.circuit_id()}/senha-web")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = text(response)
    password = re.search(r'<code class="senha-gerada">([^<]+)</code>', html).group(1)
    assert len(password) == 12 and re.search(r"[a-z]", password) and re.search(r"[0-9]", password)
    assert "mostrada só esta vez" in html
    stored = web.circuit().web_password_hash
    assert password not in stored and check_password_hash(stored, password)
    # never again: not on the circuit page, not in the audit log
    assert password not in text(client.get(f"/admin/circuitos/{web.circuit_id()}"))
    event, before, after = web.last_event("circuit.web_password")
    assert password not in (event.before or "") + (event.after or "")
    assert before == {"web_password": "definida"}
    assert after == {"web_password": "nova senha gerada", "sessions": "encerradas"}
    # the subscriber's open session ended; the new password works, the old one does not
    assert subscriber.get("/perfil").status_code == 302
    assert web.subscriber_login(web.app.test_client(), OWN, DEMO_PASSWORD).status_code == 401
    assert web.subscriber_login(web.app.test_client(), OWN, password).status_code == 302


def test_each_new_password_is_different(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("admin")
    seen = set()
    for _ in range(3):
        html = text(web.post(client, f"/admin/circuitos/{web.circuit_id()}/senha-web"))
        seen.add(re.search(r'<code class="senha-gerada">([^<]+)</code>', html).group(1))
    assert len(seen) == 3


# ---------------------------------------------------------------- deactivation

def test_deactivate_circuit(web, admin_db):  # type: ignore[no-untyped-def]
    subscriber = web.client("subscriber")
    before = version(admin_db)
    client = web.client("admin")
    response = web.post(client, f"/admin/circuitos/{web.circuit_id()}/situacao", {"ativo": "0"})
    assert "Circuito desativado" in text(client.get(response.headers["Location"]))
    assert not web.circuit().active and version(admin_db) > before
    assert router_rules(admin_db).circuit_active is False  # calls to its DIDs: unallocated
    assert subscriber.get("/perfil").status_code == 302
    assert web.last_event("circuit.deactivate")[1:] == ({"active": True}, {"active": False})
    response = web.post(client, f"/admin/circuitos/{web.circuit_id()}/situacao", {"ativo": "0"})
    assert "Nada mudou" in text(client.get(response.headers["Location"]))
    assert len(web.audit("circuit.deactivate")) == 1


def test_unknown_circuit_is_404(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("admin")
    assert client.get("/admin/circuitos/999999").status_code == 404
    assert web.post(client, "/admin/circuitos/999999/gestao-web", {}).status_code == 404
    assert web.post(client, "/admin/circuitos/999999/senha-web").status_code == 404
    with Session(admin_db) as s:
        assert s.scalar(select(Circuit).where(Circuit.id == 999999)) is None
