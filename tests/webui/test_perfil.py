"""The Perfil page: contact data, and changing the web password (ends every other session)."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from painel.demo import DEMO_PASSWORD
from painel.models import AuditEvent, Circuit
from webui import create_app
from webui.portal.perfil import password_problems

OWN = "8011441"
NEW_PASSWORD = "Nova-senha-2026"


@pytest.fixture
def portal_db(demo_db):  # type: ignore[no-untyped-def]
    """The demo operator without traffic: this page needs circuits and customers, not CDRs."""
    return demo_db


def circuit(engine, number: str = OWN) -> Circuit:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return s.scalar(select(Circuit).where(Circuit.number == number))


def set_circuit(engine, number: str, **values) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        s.execute(update(Circuit).where(Circuit.number == number).values(**values))
        s.commit()


def audit(engine, action: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def post(client, csrf, path: str, **fields):  # type: ignore[no-untyped-def]
    page = client.get("/perfil")
    assert page.status_code == 200
    return client.post(path, data={"csrf_token": csrf(page.data), **fields})


def change_password(client, csrf, current: str = DEMO_PASSWORD, new: str = NEW_PASSWORD,  # type: ignore[no-untyped-def]
                    confirmation: str | None = None):
    return post(client, csrf, "/perfil/senha", senha_atual=current, nova_senha=new,
                confirmacao=new if confirmation is None else confirmation)


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)


# ---------------------------------------------------------------- page

def test_page_shows_customer_and_contact(signed_in, portal_db):  # type: ignore[no-untyped-def]
    set_circuit(portal_db, OWN, contact_email="marcos@example.com.br", contact_phone="+5598987651111")
    page = signed_in.get("/perfil")
    html = text(page)
    assert page.status_code == 200
    assert "RESIDÊNCIA DO SR MARCOS ALBUQUERQUE" in html
    assert "<dt>CPF</dt><dd>529.982.247-25</dd>" in html  # formatted, read-only (no input for it)
    assert 'value="marcos@example.com.br"' in html and 'value="(98) 98765-1111"' in html
    assert "alterada aqui, após o login" in html
    for field in ("perfil-email", "perfil-telefone", "perfil-senha-atual", "perfil-nova-senha", "perfil-confirmacao"):
        assert f'<label for="{field}">' in html
    assert 'name="document"' not in html and 'name="nome"' not in html
    assert 'style="' not in html and "<script" not in html


# ---------------------------------------------------------------- contact

def test_update_contact(signed_in, csrf, portal_db):  # type: ignore[no-untyped-def]
    response = post(signed_in, csrf, "/perfil/contato", email=" marcos@example.com.br ", telefone="98 98765-1111")
    assert response.status_code == 302 and response.headers["Location"] == "/perfil"
    saved = circuit(portal_db)
    assert saved.contact_email == "marcos@example.com.br" and saved.contact_phone == "+5598987651111"
    event = audit(portal_db, "profile.contact")[-1]
    assert event.actor_kind == "subscriber" and event.actor == OWN and event.address == "127.0.0.1"
    assert json.loads(event.before) == {"email": None, "phone": None}
    assert json.loads(event.after) == {"email": "marcos@example.com.br", "phone": "+5598987651111"}
    html = text(signed_in.get("/perfil"))
    assert "Dados de contato atualizados." in html and 'value="(98) 98765-1111"' in html
    # unchanged: nothing written
    post(signed_in, csrf, "/perfil/contato", email="marcos@example.com.br", telefone="(98) 98765-1111")
    assert len(audit(portal_db, "profile.contact")) == 1
    assert "Nada mudou nos dados de contato." in text(signed_in.get("/perfil"))
    # cleared
    post(signed_in, csrf, "/perfil/contato", email="", telefone="")
    saved = circuit(portal_db)
    assert saved.contact_email is None and saved.contact_phone is None
    assert len(audit(portal_db, "profile.contact")) == 2


def test_landline_of_another_area_code(signed_in, csrf, portal_db):  # type: ignore[no-untyped-def]
    assert post(signed_in, csrf, "/perfil/contato", email="", telefone="(11) 3222-1100").status_code == 302
    assert circuit(portal_db).contact_phone == "+551132221100"


@pytest.mark.parametrize("fields, message", [
    ({"email": "marcos", "telefone": ""}, "E-mail inválido: use o formato nome@exemplo.com.br."),
    ({"email": "marcos@example", "telefone": ""}, "E-mail inválido"),
    ({"email": "a b@example.com", "telefone": ""}, "E-mail inválido"),
    ({"email": "a" * 195 + "@x.com", "telefone": ""}, "E-mail inválido"),
    ({"email": "", "telefone": "123"}, "Telefone inválido:"),
    ({"email": "", "telefone": "190"}, "Telefone inválido: informe um telefone fixo ou celular com DDD."),
    ({"email": "", "telefone": "0800 727 1234"}, "Telefone inválido: informe um telefone fixo ou celular com DDD."),
    ({"email": "", "telefone": "9" * 33}, "O telefone pode ter no máximo 32 caracteres."),
])
def test_contact_validation_in_portuguese(signed_in, csrf, portal_db, fields, message):  # type: ignore[no-untyped-def]
    response = post(signed_in, csrf, "/perfil/contato", **fields)
    assert response.status_code == 400
    html = text(response)
    assert message in html and 'role="alert"' in html
    for value in fields.values():
        assert f'value="{value}"' in html  # what was typed is kept
    saved = circuit(portal_db)
    assert saved.contact_email is None and saved.contact_phone is None
    assert audit(portal_db, "profile.contact") == []


# ---------------------------------------------------------------- password

@pytest.mark.parametrize("password, problem", [
    ("curta1", "pelo menos 10 caracteres"),
    ("somenteletras", "letras e números"),
    ("1234567890123", "letras e números"),
    ("abc8011441xyz", "não pode conter o número do circuito"),
    ("Boa-senha-123", None),
])
def test_password_problems(password, problem):  # type: ignore[no-untyped-def]
    problems = password_problems(password, OWN)
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems)


def test_change_password_ends_every_other_session(app, login, csrf, portal_db):  # type: ignore[no-untyped-def]
    mine, other = app.test_client(), app.test_client()
    assert login(mine).status_code == 302 and login(other).status_code == 302
    assert other.get("/perfil").status_code == 200
    response = change_password(mine, csrf)
    assert response.status_code == 302 and response.headers["Location"] == "/perfil"
    stored = circuit(portal_db).web_password_hash
    assert check_password_hash(stored, NEW_PASSWORD) and not check_password_hash(stored, DEMO_PASSWORD)
    # this session stays signed in...
    page = mine.get("/perfil")
    assert page.status_code == 200 and "Senha alterada." in text(page)
    # ...every other one is over
    gone = other.get("/perfil")
    assert gone.status_code == 302 and "/entrar" in gone.headers["Location"]
    event = audit(portal_db, "profile.password")[-1]
    assert event.actor == OWN and event.address == "127.0.0.1"
    assert NEW_PASSWORD not in (event.after or "") and DEMO_PASSWORD not in (event.after or "")
    # the new password signs in, the old one does not
    assert login(app.test_client(), OWN, DEMO_PASSWORD).status_code == 401
    assert login(app.test_client(), OWN, NEW_PASSWORD).status_code == 302


def test_wrong_current_password(signed_in, csrf, portal_db):  # type: ignore[no-untyped-def]
    before = circuit(portal_db).web_password_hash
    response = change_password(signed_in, csrf, current="senha-errada-1")
    assert response.status_code == 400
    assert "A senha atual não confere." in text(response)
    assert circuit(portal_db).web_password_hash == before
    event = audit(portal_db, "profile.password_failed")[-1]
    assert event.actor == OWN and event.address == "127.0.0.1"
    assert audit(portal_db, "profile.password") == []
    assert signed_in.get("/perfil").status_code == 200  # still signed in


@pytest.mark.parametrize("current, new, confirmation, message", [
    ("", NEW_PASSWORD, None, "Informe a senha atual."),
    (DEMO_PASSWORD, "", "", "Informe a nova senha."),
    (DEMO_PASSWORD, "curta1", None, "A nova senha precisa ter pelo menos 10 caracteres."),
    (DEMO_PASSWORD, "somente-letras", None, "A nova senha precisa ter letras e números."),
    (DEMO_PASSWORD, "senha8011441a", None, "A nova senha não pode conter o número do circuito."),
    (DEMO_PASSWORD, NEW_PASSWORD, "Nova-senha-2025", "A confirmação não confere com a nova senha."),
])
def test_password_validation_in_portuguese(signed_in, csrf, portal_db, current, new, confirmation, message):  # type: ignore[no-untyped-def]
    before = circuit(portal_db).web_password_hash
    response = change_password(signed_in, csrf, current=current, new=new, confirmation=confirmation)
    assert response.status_code == 400
    assert message in text(response) and 'role="alert"' in text(response)
    assert circuit(portal_db).web_password_hash == before
    assert audit(portal_db, "profile.password") == []


def test_new_password_must_differ_from_the_current(app, login, csrf, portal_db):  # type: ignore[no-untyped-def]
    set_circuit(portal_db, OWN, web_password_hash=generate_password_hash("Atual-senha-99"))
    client = app.test_client()
    assert login(client, OWN, "Atual-senha-99").status_code == 302
    response = change_password(client, csrf, current="Atual-senha-99", new="Atual-senha-99")
    assert response.status_code == 400
    assert "A nova senha precisa ser diferente da atual." in text(response)
    assert check_password_hash(circuit(portal_db).web_password_hash, "Atual-senha-99")


def test_password_attempts_are_rate_limited(settings, portal_db, login, csrf):  # type: ignore[no-untyped-def]
    app = create_app(settings.replace(secret_key="test-key", web_login_limit_account="3/minute",
                                      web_login_limit_address="1000/minute"), portal_db, testing=True)
    client = app.test_client()
    assert login(client).status_code == 302
    for _ in range(3):
        assert change_password(client, csrf, current="senha-errada-1").status_code == 400
    response = change_password(client, csrf)  # even the right password waits now
    assert response.status_code == 429
    assert "Muitas tentativas" in text(response)
    assert check_password_hash(circuit(portal_db).web_password_hash, DEMO_PASSWORD)
    assert len(audit(portal_db, "profile.password_failed")) == 3
    event = audit(portal_db, "profile.password_limited")[-1]
    assert event.actor == OWN and event.address == "127.0.0.1"


def test_successful_changes_do_not_count_against_the_limit(settings, portal_db, login, csrf):  # type: ignore[no-untyped-def]
    app = create_app(settings.replace(secret_key="test-key", web_login_limit_account="2/minute",
                                      web_login_limit_address="1000/minute"), portal_db, testing=True)
    client = app.test_client()
    assert login(client).status_code == 302
    passwords = [DEMO_PASSWORD, "Primeira-troca-1", "Segunda-troca-2", "Terceira-troca-3"]
    for current, new in zip(passwords, passwords[1:]):
        assert change_password(client, csrf, current=current, new=new).status_code == 302
    assert check_password_hash(circuit(portal_db).web_password_hash, "Terceira-troca-3")


# ---------------------------------------------------------------- flag

def test_flag_off_hides_page(signed_in, csrf, portal_db):  # type: ignore[no-untyped-def]
    page = signed_in.get("/perfil")
    csrf_token = csrf(page.data)
    assert 'href="/perfil"' in text(page)
    set_circuit(portal_db, OWN, flag_perfil=False)
    assert 'href="/perfil"' not in text(signed_in.get("/tabela"))
    assert signed_in.get("/perfil").status_code == 404
    assert signed_in.post("/perfil/contato", data={"csrf_token": csrf_token, "email": "x@example.com",
                                                    "telefone": ""}).status_code == 404
    assert signed_in.post("/perfil/senha", data={"csrf_token": csrf_token, "senha_atual": DEMO_PASSWORD,
                                                  "nova_senha": NEW_PASSWORD,
                                                  "confirmacao": NEW_PASSWORD}).status_code == 404
    saved = circuit(portal_db)
    assert saved.contact_email is None and check_password_hash(saved.web_password_hash, DEMO_PASSWORD)
