"""Staff sign-in at /admin/entrar: generic failures, audit, rate limits, CSRF, cookies, session
rules, TOTP with replay refusal, and the wall between staff and subscribers."""
from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from painel import totp
from painel.admins import enable_totp, get_admin, set_active, set_password
from painel.demo import DEMO_PASSWORD
from painel.models import Circuit

GENERIC = "Usuário ou senha inválidos."


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)


def with_totp(engine, username: str = "admin") -> str:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        uri = enable_totp(s, get_admin(s, username), actor=("cli", "cli"))
        s.commit()
    return re.search(r"secret=([A-Z2-7]+)", uri).group(1)


def code_form(web, client, code: str, address: str = "127.0.0.1"):  # type: ignore[no-untyped-def]
    page = client.get("/admin/entrar/codigo", environ_base={"REMOTE_ADDR": address})
    assert page.status_code == 200, page.status_code
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', text(page)).group(1)
    return client.post("/admin/entrar/codigo", data={"codigo": code, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": address})


# ---------------------------------------------------------------- the form

def test_login_page(client, admin_db):  # type: ignore[no-untyped-def]
    page = client.get("/admin/entrar")
    html = text(page)
    assert page.status_code == 200
    assert '<html lang="pt-BR">' in html and "Entrar na administração" in html
    assert '<label for="usuario">Usuário</label>' in html and '<label for="senha">Senha</label>' in html
    assert 'name="csrf_token"' in html
    assert 'style="' not in html and "<script" not in html
    assert "admin.css" in html


def test_success_is_audited_and_lands_on_the_admin_home(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.app.test_client()
    response = web.admin_login(client, "ADMIN", address="203.0.113.9")  # usernames ignore case
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    event, _before, after = web.last_event("admin.login")
    assert (event.actor_kind, event.actor, event.address) == ("admin", "admin", "203.0.113.9")
    assert after == {"totp": False}
    home = client.get("/admin/")
    assert home.status_code == 200 and "admin (Administrador)" in text(home)
    with Session(admin_db) as s:
        assert get_admin(s, "admin").last_login_at is not None
        assert get_admin(s, "suporte").last_login_at is None


@pytest.mark.parametrize("username, password, reason", [
    ("ninguem", DEMO_PASSWORD, "usuário desconhecido"),
    ("admin", "senha-errada", "senha incorreta"),
])
def test_failures_look_the_same_and_are_audited(web, admin_db, username, password, reason):  # type: ignore[no-untyped-def]
    client = web.app.test_client()
    response = web.admin_login(client, username, password, address="198.51.100.4")
    assert response.status_code == 401 and GENERIC in text(response)
    assert "desconhecido" not in text(response) and "incorreta" not in text(response)
    event, _, after = web.last_event("admin.login_failed")
    assert event.actor == username and event.address == "198.51.100.4" and after == {"reason": reason}
    assert client.get("/admin/").status_code == 302


def test_unknown_user_and_wrong_password_get_identical_pages(web, admin_db):  # type: ignore[no-untyped-def]
    def scrub(response) -> str:  # type: ignore[no-untyped-def]
        return re.sub(r'value="[^"]*"', 'value=""', text(response))

    unknown = web.admin_login(web.app.test_client(), "ninguem", "x-senha-1")
    wrong = web.admin_login(web.app.test_client(), "ninguem", "x-senha-1")
    known = web.admin_login(web.app.test_client(), "admin", "x-senha-1")
    assert unknown.status_code == wrong.status_code == known.status_code == 401
    assert scrub(unknown) == scrub(known)


def test_inactive_user_cannot_sign_in_and_its_sessions_end(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("admin")
    with Session(admin_db) as s:
        set_active(s, get_admin(s, "admin"), False, actor=("cli", "cli"))
        s.commit()
    response = client.get("/admin/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/admin/entrar")
    failed = web.admin_login(web.app.test_client(), "admin")
    assert failed.status_code == 401 and GENERIC in text(failed)
    assert web.last_event("admin.login_failed")[2] == {"reason": "usuário inativo"}


def test_empty_form_is_400_in_portuguese(web, admin_db):  # type: ignore[no-untyped-def]
    response = web.admin_login(web.app.test_client(), "", "")
    assert response.status_code == 400
    assert "Informe o usuário." in text(response) and "Informe a senha." in text(response)


# ---------------------------------------------------------------- rate limits

def _limited_app(web, settings, admin_db, **limits):  # type: ignore[no-untyped-def]
    from webui import create_app

    values = {"secret_key": "test-key", "web_login_limit_account": "1000/minute",
              "web_login_limit_address": "1000/minute", **limits}
    web.app = create_app(settings.replace(**values), admin_db, testing=True)
    return web.app.test_client()


def test_rate_limit_per_account(web, settings, admin_db):  # type: ignore[no-untyped-def]
    client = _limited_app(web, settings, admin_db, web_login_limit_account="3/minute")
    for _ in range(3):
        assert web.admin_login(client, "admin", "senha-errada").status_code == 401
    response = web.admin_login(client, "admin")  # even the right password waits
    assert response.status_code == 429 and "Muitas tentativas" in text(response)
    event, _, after = web.last_event("admin.login_limited")
    assert event.actor == "admin" and event.address == "127.0.0.1" and "3 per 1 minute" in after["reason"]
    assert web.audit("admin.login") == []
    assert web.admin_login(client, "suporte").status_code == 302  # another account is not held back


def test_rate_limit_per_address(web, settings, admin_db):  # type: ignore[no-untyped-def]
    client = _limited_app(web, settings, admin_db, web_login_limit_address="3/minute")
    for name in ("a1", "a2", "a3"):
        assert web.admin_login(client, name, "x", address="192.0.2.20").status_code == 401
    response = web.admin_login(client, "a4", "x", address="192.0.2.20")
    assert response.status_code == 429
    assert web.last_event("admin.login_limited")[0].address == "192.0.2.20"
    assert web.admin_login(client, "admin", address="192.0.2.21").status_code == 302


def test_admin_and_subscriber_limits_are_separate_accounts(web, settings, admin_db):  # type: ignore[no-untyped-def]
    client = _limited_app(web, settings, admin_db, web_login_limit_account="2/minute")
    for _ in range(2):
        assert web.admin_login(client, "8011441", "errada").status_code == 401
    assert web.subscriber_login(client).status_code == 302  # the circuit's own account is untouched


# ---------------------------------------------------------------- CSRF, logout, cookies, headers

def test_login_without_or_with_a_forged_csrf_token_is_400(client, web, admin_db):  # type: ignore[no-untyped-def]
    client.get("/admin/entrar")
    for data in ({"usuario": "admin", "senha": DEMO_PASSWORD},
                 {"usuario": "admin", "senha": DEMO_PASSWORD, "csrf_token": "forjado"}):
        response = client.post("/admin/entrar", data=data)
        assert response.status_code == 400 and "O formulário expirou" in text(response)
    assert web.audit("admin.login") == []


def test_logout_requires_post_with_csrf_and_is_audited(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("admin")
    assert client.get("/admin/sair").status_code == 405
    assert client.post("/admin/sair").status_code == 400
    assert client.get("/admin/").status_code == 200  # still signed in
    response = web.post(client, "/admin/sair")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/entrar"
    assert "Você saiu da administração." in text(client.get("/admin/entrar"))
    assert client.get("/admin/").status_code == 302
    event = web.last_event("admin.logout")[0]
    assert event.actor == "admin" and event.actor_kind == "admin"


def test_session_cookie_flags_and_headers(web, settings, admin_db):  # type: ignore[no-untyped-def]
    client = _limited_app(web, settings, admin_db, web_secure_cookies=True)
    response = web.admin_login(client)
    cookie = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("painel_sessao=")][-1]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    page = client.get("/admin/")
    csp = page.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in csp and "script-src 'self'" in csp and "style-src 'self'" in csp
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")


def test_login_starts_a_fresh_session(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.app.test_client()
    with client.session_transaction() as sess:
        sess["plantado"] = "valor-fixado"
    assert web.admin_login(client).status_code == 302
    with client.session_transaction() as sess:
        assert "plantado" not in sess and "admin_signed_in_at" in sess
        assert sess["_user_id"].startswith("a:")  # staff ids are "a:<id>:<stamp>"


def test_absolute_session_expiry(web, settings, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("admin")
    with client.session_transaction() as sess:
        sess["admin_signed_in_at"] = int(time.time()) - settings.web_session_max_hours * 3600 - 5
    response = client.get("/admin/clientes")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/entrar"
    assert "Sua sessão expirou" in text(client.get("/admin/entrar"))
    assert client.get("/admin/clientes").status_code == 302


def test_idle_expiry_is_the_session_lifetime(web, settings, admin_db):  # type: ignore[no-untyped-def]
    assert web.app.permanent_session_lifetime.total_seconds() == settings.web_session_minutes * 60
    response = web.admin_login(web.app.test_client())
    cookie = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("painel_sessao=")][-1]
    assert "Expires=" in cookie  # a permanent session: it dies after the idle lifetime


def test_new_password_ends_open_sessions(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("admin")
    with Session(admin_db) as s:
        set_password(s, get_admin(s, "admin"), "uma-senha-nova-bem-longa", actor=("cli", "cli"))
        s.commit()
    assert client.get("/admin/").status_code == 302


@pytest.mark.parametrize("target, expected", [
    ("/admin/circuitos", "/admin/circuitos"),
    ("/admin/auditoria?acao=admin.login", "/admin/auditoria?acao=admin.login"),
    ("/perfil", "/admin/"),  # not an admin page
    ("//evil.example.com/admin/", "/admin/"),
    ("https://evil.example.com/admin/", "/admin/"),
    ("/admin\\..\\evil", "/admin/"),
])
def test_next_stays_on_the_admin_pages(web, admin_db, target, expected):  # type: ignore[no-untyped-def]
    from urllib.parse import quote

    response = web.admin_login(web.app.test_client(), next_=quote(target, safe=""))
    assert response.status_code == 302 and response.headers["Location"] == expected


def test_anonymous_is_sent_to_the_admin_login_with_next(client, admin_db):  # type: ignore[no-untyped-def]
    response = client.get("/admin/circuitos?q=80")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/entrar?next=/admin/circuitos?q%3D80"


# ---------------------------------------------------------------- TOTP

def test_totp_login_needs_a_fresh_code(web, admin_db):  # type: ignore[no-untyped-def]
    secret = with_totp(admin_db)
    client = web.app.test_client()
    response = web.admin_login(client, next_="/admin/auditoria")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/entrar/codigo"
    assert client.get("/admin/").status_code == 302  # the password alone signs nobody in
    assert web.audit("admin.login") == []

    wrong = code_form(web, client, "000000" if totp.code_at(secret, time.time()) != "000000" else "111111")
    assert wrong.status_code == 401 and "Código inválido" in text(wrong)
    assert web.last_event("admin.login_failed")[2] == {"reason": "código TOTP inválido ou repetido"}

    code = totp.code_at(secret, time.time())
    right = code_form(web, client, code)
    assert right.status_code == 302 and right.headers["Location"] == "/admin/auditoria"
    assert web.last_event("admin.login")[2] == {"totp": True}
    assert client.get("/admin/").status_code == 200

    # the same code again, on another client, within its window: refused
    other = web.app.test_client()
    assert web.admin_login(other).status_code == 302
    replay = code_form(web, other, code)
    assert replay.status_code == 401 and "Código inválido ou já usado" in text(replay)
    assert other.get("/admin/").status_code == 302


def test_code_step_without_password_goes_back_to_login(client, admin_db):  # type: ignore[no-untyped-def]
    response = client.get("/admin/entrar/codigo")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/entrar"


def test_code_step_expires(web, admin_db):  # type: ignore[no-untyped-def]
    secret = with_totp(admin_db)
    client = web.app.test_client()
    web.admin_login(client)
    with client.session_transaction() as sess:
        sess["admin_pending"] = {**sess["admin_pending"], "at": int(time.time()) - 301}
    response = client.get("/admin/entrar/codigo")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/entrar"
    assert secret  # the code would not help now


def test_code_attempts_are_rate_limited(web, settings, admin_db):  # type: ignore[no-untyped-def]
    with_totp(admin_db)
    client = _limited_app(web, settings, admin_db, web_login_limit_account="2/minute")
    web.admin_login(client)
    assert code_form(web, client, "000001").status_code == 401
    assert code_form(web, client, "000002").status_code == 401
    limited = code_form(web, client, "000003")
    assert limited.status_code == 429
    event, _, after = web.last_event("admin.login_limited")
    assert event.actor == "admin" and "código" in after["reason"]


def test_enabling_totp_ends_sessions_signed_in_without_it(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("admin")
    with_totp(admin_db)
    assert client.get("/admin/").status_code == 302


# ---------------------------------------------------------------- staff and subscribers never cross

def test_a_subscriber_session_is_anonymous_on_the_admin_pages(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("subscriber")
    assert client.get("/perfil").status_code == 200
    for path in ("/admin/", "/admin/clientes", "/admin/circuitos/1", "/admin/auditoria"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/admin/entrar?next=")
    page = client.get("/admin/entrar")
    assert page.status_code == 200 and "Entrar na administração" in text(page)
    assert client.get("/perfil").status_code == 200  # still a subscriber on the portal


def test_subscriber_credentials_do_not_open_the_admin_pages(web, admin_db):  # type: ignore[no-untyped-def]
    response = web.admin_login(web.app.test_client(), "8011441", DEMO_PASSWORD)
    assert response.status_code == 401 and GENERIC in text(response)


def test_a_staff_session_is_anonymous_on_the_portal(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("admin")
    for path in ("/", "/perfil", "/blacklist", "/numeros"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/entrar")
    page = client.get("/entrar")
    assert page.status_code == 200 and "Entrar no painel" in text(page)
    assert client.get("/admin/").status_code == 200  # still staff on the admin pages
    # posting to the portal as staff changes nothing
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', text(page)).group(1)
    response = client.post("/blacklist/adicionar", data={"numero": "11966665555", "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].startswith("/entrar")
    assert web.audit("blacklist.add") == []


def test_portal_error_pages_render_for_staff(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("support")
    response = client.get("/admin/clientes/novo")  # support may not create: 403, in the admin layout
    assert response.status_code == 403 and "Acesso negado" in text(response)
    assert "suporte (Suporte)" in text(response)
    missing = client.get("/admin/clientes/999999")
    assert missing.status_code == 404 and "Página não encontrada" in text(missing)


def test_the_web_flag_of_a_circuit_does_not_matter_to_staff(web, admin_db):  # type: ignore[no-untyped-def]
    with Session(admin_db) as s:
        s.execute(update(Circuit).values(flag_web=False))
        s.commit()
    assert web.client("admin").get("/admin/").status_code == 200


def test_demo_staff_accounts(admin_db):  # type: ignore[no-untyped-def]
    from werkzeug.security import check_password_hash

    with Session(admin_db) as s:
        admin = get_admin(s, "admin")
        support = get_admin(s, "suporte")
        assert (admin.role, support.role) == ("admin", "support")
        assert check_password_hash(admin.password_hash, DEMO_PASSWORD)
        assert admin.active and admin.totp_secret is None
