"""Signing in and out: generic failures, audit, rate limits, CSRF, cookies, headers, timeouts, redirects."""
from __future__ import annotations

import json
import re
import time

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from painel.demo import DEMO_PASSWORD
from painel.models import AuditEvent, Circuit
from webui import create_app

OWN = "8011441"
GENERIC = "Usuário ou senha inválidos."
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@pytest.fixture
def portal_db(demo_db):  # type: ignore[no-untyped-def]
    """The demo operator without traffic: signing in needs circuits, not CDRs."""
    return demo_db


def make_app(settings, engine, **overrides):  # type: ignore[no-untyped-def]
    values = {"secret_key": "test-key", "web_login_limit_account": "1000/minute",
              "web_login_limit_address": "1000/minute", **overrides}
    return create_app(settings.replace(**values), engine, testing=True)


def attempt(client, usuario: str, senha: str, address: str = "127.0.0.1", next_: str | None = None):  # type: ignore[no-untyped-def]
    environ = {"REMOTE_ADDR": address}
    page = client.get("/entrar", environ_base=environ)
    token = _CSRF.search(page.get_data(as_text=True)).group(1)
    url = "/entrar" if next_ is None else f"/entrar?next={next_}"
    return client.post(url, data={"usuario": usuario, "senha": senha, "csrf_token": token}, environ_base=environ)


def audit(engine, action: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def set_circuit(engine, number: str, **values) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        s.execute(update(Circuit).where(Circuit.number == number).values(**values))
        s.commit()


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)


def session_cookie(response) -> str:  # type: ignore[no-untyped-def]
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("painel_sessao=")]
    assert cookies, "the response sets the session cookie"
    return cookies[-1]


# ---------------------------------------------------------------- sign in

def test_login_page(client, portal_db):  # type: ignore[no-untyped-def]
    page = client.get("/entrar")
    html = text(page)
    assert page.status_code == 200
    assert '<label for="usuario">' in html and '<label for="senha">' in html
    assert 'name="csrf_token"' in html
    assert 'style="' not in html and "<script" not in html


def test_success_is_audited_with_the_address(client, portal_db):  # type: ignore[no-untyped-def]
    response = attempt(client, OWN, DEMO_PASSWORD, address="203.0.113.7")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    event = audit(portal_db, "auth.login")[-1]
    assert event.actor_kind == "subscriber" and event.actor == OWN and event.address == "203.0.113.7"
    assert event.target_id == OWN


@pytest.mark.parametrize("proxies, seen", [(0, "127.0.0.1"), (1, "198.51.100.23")])
def test_the_address_behind_a_trusted_proxy(settings, portal_db, proxies, seen):  # type: ignore[no-untyped-def]
    """Behind nginx (web_proxy_count=1) the client's address is the one nginx forwarded; with no
    proxy configured a forged X-Forwarded-For is ignored."""
    client = make_app(settings, portal_db, web_proxy_count=proxies).test_client()
    # over HTTPS Flask-WTF also wants the Referer of the same site, as a browser sends it
    forwarded = {"X-Forwarded-For": "198.51.100.23", "X-Forwarded-Proto": "https",
                 "Referer": "https://localhost/entrar"}
    page = client.get("/entrar", headers=forwarded)
    token = _CSRF.search(page.get_data(as_text=True)).group(1)
    response = client.post("/entrar", data={"usuario": OWN, "senha": DEMO_PASSWORD, "csrf_token": token},
                           headers=forwarded)
    assert response.status_code == 302
    assert audit(portal_db, "auth.login")[-1].address == seen


@pytest.mark.parametrize("usuario, senha, reason", [
    ("9999999", DEMO_PASSWORD, "circuito desconhecido"),
    (OWN, "senha-errada", "senha incorreta"),
])
def test_unknown_user_and_wrong_password_look_the_same(client, portal_db, usuario, senha, reason):  # type: ignore[no-untyped-def]
    response = attempt(client, usuario, senha, address="198.51.100.2")
    assert response.status_code == 401
    html = text(response)
    assert GENERIC in html
    assert "desconhecido" not in html and "incorreta" not in html  # nothing tells which one was wrong
    event = audit(portal_db, "auth.login_failed")[-1]
    assert event.actor == usuario and event.address == "198.51.100.2"
    assert json.loads(event.after) == {"reason": reason}
    assert client.get("/perfil").status_code == 302  # not signed in


def test_wrong_user_and_wrong_password_get_identical_pages(app, portal_db):  # type: ignore[no-untyped-def]
    unknown = attempt(app.test_client(), "9999999", "x-senha-1")
    wrong = attempt(app.test_client(), "9999999", "y-senha-2")
    known_wrong = attempt(app.test_client(), OWN, "x-senha-1")

    def scrub(response) -> str:  # type: ignore[no-untyped-def]
        return re.sub(r'value="[^"]*"', 'value=""', text(response))

    assert unknown.status_code == wrong.status_code == known_wrong.status_code == 401
    assert scrub(unknown) == scrub(known_wrong) == scrub(wrong)


@pytest.mark.parametrize("change, reason", [
    ({"flag_web": False}, "acesso web desabilitado"),
    ({"active": False}, "circuito inativo"),
    ({"web_password_hash": None}, "sem senha web"),
])
def test_circuit_that_may_not_sign_in_gets_the_same_message(client, portal_db, change, reason):  # type: ignore[no-untyped-def]
    set_circuit(portal_db, OWN, **change)
    response = attempt(client, OWN, DEMO_PASSWORD)
    assert response.status_code == 401 and GENERIC in text(response)
    assert json.loads(audit(portal_db, "auth.login_failed")[-1].after) == {"reason": reason}
    assert audit(portal_db, "auth.login") == []


def test_web_flag_turned_off_ends_the_session(signed_in, portal_db):  # type: ignore[no-untyped-def]
    assert signed_in.get("/perfil").status_code == 200
    set_circuit(portal_db, OWN, flag_web=False)
    response = signed_in.get("/perfil")
    assert response.status_code == 302 and "/entrar" in response.headers["Location"]


def test_empty_form_is_400_in_portuguese(client, portal_db):  # type: ignore[no-untyped-def]
    response = attempt(client, "", "")
    assert response.status_code == 400
    assert "Informe o usuário." in text(response) and "Informe a senha." in text(response)


# ---------------------------------------------------------------- rate limits

def test_rate_limit_per_account(settings, portal_db):  # type: ignore[no-untyped-def]
    app = make_app(settings, portal_db, web_login_limit_account="3/minute")
    client = app.test_client()
    for _ in range(3):
        assert attempt(client, OWN, "senha-errada").status_code == 401
    response = attempt(client, OWN, DEMO_PASSWORD)  # even the right password waits
    assert response.status_code == 429
    html = text(response)
    assert "Muitas tentativas" in html and "Aguarde alguns minutos" in html
    assert '<html lang="pt-BR">' in html
    event = audit(portal_db, "auth.login_limited")[-1]
    assert event.actor == OWN and event.address == "127.0.0.1"
    assert audit(portal_db, "auth.login") == []
    # another account from the same address is not held back
    assert attempt(client, "8010348", DEMO_PASSWORD).status_code == 302


def test_rate_limit_per_address(settings, portal_db):  # type: ignore[no-untyped-def]
    app = make_app(settings, portal_db, web_login_limit_address="3/minute")
    client = app.test_client()
    for usuario in ("1111111", "2222222", "3333333"):
        assert attempt(client, usuario, "x", address="192.0.2.10").status_code == 401
    response = attempt(client, "4444444", "x", address="192.0.2.10")
    assert response.status_code == 429 and "Muitas tentativas" in text(response)
    event = audit(portal_db, "auth.login_limited")[-1]
    assert event.actor == "4444444" and event.address == "192.0.2.10"
    # another address is not held back
    assert attempt(client, OWN, DEMO_PASSWORD, address="192.0.2.11").status_code == 302


# ---------------------------------------------------------------- sign out and CSRF

def test_logout_requires_post_with_csrf(signed_in, csrf, portal_db):  # type: ignore[no-untyped-def]
    assert signed_in.get("/sair").status_code == 405
    response = signed_in.post("/sair")
    assert response.status_code == 400
    assert "O formulário expirou" in text(response)
    assert signed_in.get("/perfil").status_code == 200  # still signed in
    token = csrf(signed_in.get("/perfil").data)
    response = signed_in.post("/sair", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/entrar"
    assert "Você saiu do painel." in text(signed_in.get("/entrar"))
    after = signed_in.get("/perfil")
    assert after.status_code == 302 and "/entrar" in after.headers["Location"]
    assert audit(portal_db, "auth.logout")[-1].actor == OWN


@pytest.mark.parametrize("path, data", [
    ("/entrar", {"usuario": OWN, "senha": DEMO_PASSWORD}),
    ("/mensagens/enviar", {"assunto": "Oi", "texto": "Olá"}),
    ("/perfil/contato", {"email": "x@example.com", "telefone": ""}),
    ("/blacklist/adicionar", {"numero": "11966665555"}),
])
def test_post_without_csrf_token_is_400(signed_in, portal_db, path, data):  # type: ignore[no-untyped-def]
    response = signed_in.post(path, data=data)
    assert response.status_code == 400
    assert "O formulário expirou ou não veio desta página." in text(response)


def test_post_with_a_forged_csrf_token_is_400(client, portal_db):  # type: ignore[no-untyped-def]
    client.get("/entrar")
    response = client.post("/entrar", data={"usuario": OWN, "senha": DEMO_PASSWORD, "csrf_token": "forjado"})
    assert response.status_code == 400
    assert audit(portal_db, "auth.login") == []


# ---------------------------------------------------------------- cookies and headers

def test_session_cookie_flags(client, portal_db):  # type: ignore[no-untyped-def]
    cookie = session_cookie(attempt(client, OWN, DEMO_PASSWORD))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_session_cookie_secure_when_configured(settings, portal_db):  # type: ignore[no-untyped-def]
    app = make_app(settings, portal_db, web_secure_cookies=True)
    client = app.test_client()
    response = attempt(client, OWN, DEMO_PASSWORD)
    cookie = session_cookie(response)
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


@pytest.mark.parametrize("path", ["/entrar", "/perfil", "/blacklist", "/naoexiste"])
def test_security_headers(signed_in, portal_db, path):  # type: ignore[no-untyped-def]
    response = signed_in.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"  # signed-in pages are never cached


def test_headers_on_anonymous_pages(client, portal_db):  # type: ignore[no-untyped-def]
    response = client.get("/entrar")
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# ---------------------------------------------------------------- session lifetime

def test_expired_session_signs_out(signed_in, settings, portal_db):  # type: ignore[no-untyped-def]
    assert signed_in.get("/perfil").status_code == 200
    with signed_in.session_transaction() as sess:
        sess["signed_in_at"] = int(time.time()) - settings.web_session_max_hours * 3600 - 5
    response = signed_in.get("/perfil")
    assert response.status_code == 302 and response.headers["Location"] == "/entrar"
    assert "Sua sessão expirou. Entre novamente." in text(signed_in.get("/entrar"))
    again = signed_in.get("/perfil")
    assert again.status_code == 302 and "/entrar" in again.headers["Location"]


def test_session_within_max_age_stays(signed_in, settings, portal_db):  # type: ignore[no-untyped-def]
    with signed_in.session_transaction() as sess:
        sess["signed_in_at"] = int(time.time()) - settings.web_session_max_hours * 3600 + 60
    assert signed_in.get("/perfil").status_code == 200


def test_login_starts_a_fresh_session(client, portal_db):  # type: ignore[no-untyped-def]
    with client.session_transaction() as sess:
        sess["plantado"] = "valor-fixado"
    assert attempt(client, OWN, DEMO_PASSWORD).status_code == 302
    with client.session_transaction() as sess:
        assert "plantado" not in sess and "signed_in_at" in sess


# ---------------------------------------------------------------- next

@pytest.mark.parametrize("target, expected", [
    ("/tabela", "/tabela"),
    ("/blacklist?circuito=1", "/blacklist?circuito=1"),
    ("//evil.example.com/", "/"),
    ("https://evil.example.com/", "/"),
    ("evil.example.com", "/"),
    ("/\t/evil.example.com", "/"),
    ("/\\evil.example.com", "/"),
    ("/\n/evil.example.com", "/"),
    ("/%09/evil.example.com", "/%09/evil.example.com"),  # percent-encoded: a local path, harmless
])
def test_next_cannot_leave_the_site(client, portal_db, target, expected):  # type: ignore[no-untyped-def]
    from urllib.parse import quote

    response = attempt(client, OWN, DEMO_PASSWORD, next_=quote(target, safe=""))
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_anonymous_page_request_goes_to_login_with_next(client, portal_db):  # type: ignore[no-untyped-def]
    response = client.get("/tabela")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/entrar?next=")


def test_ordinary_pages_do_no_limiter_work(app, signed_in, portal_db) -> None:  # type: ignore[no-untyped-def]
    """Limits live on their views (the login's POST); nothing is checked before every request."""
    from webui.extensions import limiter

    assert limiter._check_request_limit not in app.before_request_funcs.get(None, [])
    assert signed_in.get("/").status_code == 200
