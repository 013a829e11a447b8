"""Every admin page and action with each kind of user: admin, support, subscriber, anonymous.

admin reads and changes everything; support reads everything and changes only web
passwords (403 otherwise); subscribers and anonymous visitors are sent to the admin
sign-in page and change nothing. Checked on the server: the requests are made directly,
whatever the pages show.
"""
from __future__ import annotations

import pytest

ROLES = ("admin", "support", "subscriber", "anonymous")
ACTION_NAMES = ("cliente-novo", "cliente-editar", "cliente-desativar", "circuito-novo", "circuito-editar",
                "circuito-regras", "circuito-gestao-web", "circuito-senha-web", "circuito-desativar", "sair",
                "numero-atribuir", "numero-mover", "numero-liberar", "numeros-importar", "plano-versao",
                "planos-importar", "fatura-pdf", "fatura-pagamento", "quarentena-reprocessar",
                "quarentena-reprocessar-um", "mensagens-aviso", "mensagem-responder")


def pages(web) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    cid = web.circuit_id()
    kid = web.customer_of().id
    return [
        ("/admin/", "read"), ("/admin/clientes", "read"), ("/admin/clientes?q=psicomed&situacao=todos", "read"),
        ("/admin/clientes/novo", "write"), (f"/admin/clientes/{kid}", "read"), ("/admin/circuitos", "read"),
        ("/admin/circuitos/novo", "write"), (f"/admin/circuitos/{cid}", "read"),
        (f"/admin/circuitos/{cid}?numero=08007271234", "read"), ("/admin/auditoria", "read"),
        ("/admin/auditoria?tipo=admin&de=2020-01-01", "read"),
        ("/admin/numeros", "read"), ("/admin/numeros?q=8011441&situacao=atribuidos", "read"),
        ("/admin/numeros/importar", "write"),
        ("/admin/planos", "read"), (f"/admin/planos/{web.plan_id()}", "read"),
        ("/admin/planos/simular", "read"),
        ("/admin/planos/simular?circuito=8011441&numero=3222-1234&duracao=60&data=2026-11-25&hora=15:00", "read"),
        ("/admin/faturas", "read"), ("/admin/faturas?mes=2026-10&estado=a-pagar&circuito=8011441", "read"),
        (f"/admin/faturas/{web.invoice_id()}", "read"),
        ("/admin/quarentena", "read"), ("/admin/quarentena?motivo=unknown_circuit&situacao=todos", "read"),
        ("/admin/mensagens", "read"), ("/admin/mensagens?pendentes=1", "read"),
        (f"/admin/mensagens/{web.request_id()}", "read"),
        ("/admin/roteadores", "read"),
    ]


@pytest.mark.parametrize("role", ROLES)
def test_every_page_with_every_role(web, admin_db, role):  # type: ignore[no-untyped-def]
    client = web.client(role)
    for path, permission in pages(web):
        response = client.get(path)
        if role in ("subscriber", "anonymous"):
            assert response.status_code == 302, (path, response.status_code)
            assert response.headers["Location"].startswith("/admin/entrar?next=/admin/"), path
        elif role == "support" and permission == "write":
            assert response.status_code == 403, path
        else:
            assert response.status_code == 200, (path, response.status_code)
            html = response.get_data(as_text=True)
            assert 'style="' not in html and "<script" not in html, path
            assert '<html lang="pt-BR">' in html


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", ACTION_NAMES)
def test_every_action_with_every_role(web, admin_db, actions, role, name):  # type: ignore[no-untyped-def]
    action = next(a for a in actions if a.name == name)
    client = web.client(role)
    before = {e.id for e in web.audit()}
    response = web.post(client, action.path, action.data)
    new = [e for e in web.audit() if e.id not in before]
    allowed = role == "admin" or (role == "support" and action.permission in ("read", "web_password"))
    if allowed:
        assert response.status_code == action.success, (response.status_code, response.get_data(as_text=True)[:800])
        changes = [e for e in new if e.action == action.event]
        assert changes, f"{name} wrote no {action.event} event"
        expected_actor = "admin" if role == "admin" else "suporte"
        assert all((e.actor_kind, e.actor, e.address) == ("admin", expected_actor, "127.0.0.1") for e in changes)
    elif role == "support":
        assert response.status_code == 403
        assert "Acesso negado" in response.get_data(as_text=True)
        assert new == []  # nothing changed, nothing recorded
    else:
        assert response.status_code == 302
        assert response.headers["Location"] == "/admin/entrar"
        assert new == []


@pytest.mark.parametrize("role", ("subscriber", "anonymous", "support", "admin"))
def test_posts_without_csrf_are_refused_for_everyone(web, admin_db, actions, role):  # type: ignore[no-untyped-def]
    client = web.client(role)
    before = len(web.audit())
    for action in actions:
        data = action.data if isinstance(action.data, dict) else dict(action.data)
        response = client.post(action.path, data=data)
        assert response.status_code == 400, action.name
    assert len(web.audit()) == before


def test_support_sees_read_only_pages(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("support")
    html = client.get(f"/admin/circuitos/{web.circuit_id()}").get_data(as_text=True)
    assert "Gerar nova senha" in html  # the one change support may make
    assert "Salvar Gestão Web" not in html and "Salvar regras de saída" not in html
    assert "Salvar dados do circuito" not in html and "Desativar circuito" not in html
    assert html.count("<fieldset class=\"opcoes\" disabled>") == 3
    customer = client.get(f"/admin/clientes/{web.customer_of().id}").get_data(as_text=True)
    assert "Salvar cliente" not in customer and "Desativar cliente" not in customer
    assert "Novo cliente" not in client.get("/admin/clientes").get_data(as_text=True)


def test_admin_sees_the_forms(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("admin")
    html = client.get(f"/admin/circuitos/{web.circuit_id()}").get_data(as_text=True)
    for label in ("Gerar nova senha", "Salvar Gestão Web", "Salvar regras de saída", "Salvar dados do circuito",
                  "Desativar circuito"):
        assert label in html
    assert "disabled" not in html


def test_menu_has_only_sections_that_exist(web, admin_db):  # type: ignore[no-untyped-def]
    import re

    html = web.client("admin").get("/admin/auditoria").get_data(as_text=True)
    nav = html.split('aria-label="Menu da administração"')[1].split("</nav>")[0]
    links = re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', nav)
    assert links == [("/admin/", "Início"), ("/admin/clientes", "Clientes"), ("/admin/circuitos", "Circuitos"),
                     ("/admin/numeros", "Números"), ("/admin/planos", "Planos"), ("/admin/faturas", "Faturas"),
                     ("/admin/quarentena", "Quarentena"), ("/admin/mensagens", "Mensagens"),
                     ("/admin/roteadores", "Roteadores"), ("/admin/auditoria", "Auditoria")]
    assert re.findall(r'aria-current="page">([^<]+)</a>', nav) == ["Auditoria"]
    client = web.client("admin")
    for path, _label in links:
        assert client.get(path).status_code == 200
    # every page of a section marks its menu entry
    for path, label in ((f"/admin/planos/{web.plan_id()}", "Planos"), ("/admin/planos/simular", "Planos"),
                        (f"/admin/faturas/{web.invoice_id()}", "Faturas"), ("/admin/numeros/importar", "Números"),
                        (f"/admin/mensagens/{web.request_id()}", "Mensagens")):
        html = client.get(path).get_data(as_text=True)
        nav = html.split('aria-label="Menu da administração"')[1].split("</nav>")[0]
        assert re.findall(r'aria-current="page">([^<]+)</a>', nav) == [label], path


def test_every_field_has_a_label(web, admin_db):  # type: ignore[no-untyped-def]
    """No JavaScript, no placeholder-only fields: each input, select and textarea is labelled."""
    import re

    client = web.client("admin")
    paths = [path for path, _ in pages(web)] + ["/admin/entrar"]
    anonymous = web.app.test_client()
    for path in paths:
        html = (anonymous if path == "/admin/entrar" else client).get(path).get_data(as_text=True)
        labels = set(re.findall(r'<label for="([^"]+)"', html))
        fields = re.findall(r"<(input|select|textarea)\b([^>]*)>", html)
        for tag, attributes in fields:
            kind = re.search(r'type="([^"]+)"', attributes)
            if tag == "input" and kind and kind.group(1) in ("hidden", "submit"):
                continue
            field_id = re.search(r'id="([^"]+)"', attributes)
            assert field_id and field_id.group(1) in labels, (path, tag, attributes)
