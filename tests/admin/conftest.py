"""The admin pages under Flask's test client, on SQLite and PostgreSQL.

``admin_db`` is the demo operator without traffic (customers, circuits, DIDs, plan
PADRAO and the staff accounts ``admin`` and ``suporte``, password ``painel-demo``):
administration needs no CDRs. ``web`` signs clients in through the real forms (CSRF
tokens included) as each kind of user, posts forms, and reads the audit log.
"""
from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from painel.demo import DEMO_PASSWORD
from painel.models import AuditEvent, Circuit, Customer
from webui import create_app

#: the demo's first customer's circuit (the seed's 8011441) and one of another customer
OWN_CIRCUIT = "8011441"
OTHER_CIRCUIT = "8011880"
ROLES = ("admin", "support", "subscriber", "anonymous")

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def read_csrf(html: str | bytes) -> str:
    text = html.decode() if isinstance(html, bytes) else html
    found = _CSRF.search(text)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)


@pytest.fixture
def admin_db(demo_db: Engine) -> Engine:
    return demo_db


def make_app(settings, engine: Engine, **overrides: Any) -> Flask:  # type: ignore[no-untyped-def]
    values = {"secret_key": "test-key", "web_login_limit_account": "1000/minute",
              "web_login_limit_address": "1000/minute", **overrides}
    return create_app(settings.replace(**values), engine, testing=True)


@pytest.fixture
def app(admin_db: Engine, settings) -> Flask:  # type: ignore[no-untyped-def]
    return make_app(settings, admin_db)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class Web:
    """Clients signed in as each kind of user, form posts with CSRF, and the audit log."""

    def __init__(self, app: Flask, engine: Engine) -> None:
        self.app = app
        self.engine = engine

    # ------------------------------------------------------------ signing in
    def admin_login(self, client: FlaskClient, username: str = "admin", password: str = DEMO_PASSWORD,
                    address: str = "127.0.0.1", next_: str | None = None):  # type: ignore[no-untyped-def]
        environ = {"REMOTE_ADDR": address}
        page = client.get("/admin/entrar", environ_base=environ)
        url = "/admin/entrar" if next_ is None else f"/admin/entrar?next={next_}"
        return client.post(url, data={"usuario": username, "senha": password, "csrf_token": read_csrf(page.data)},
                           environ_base=environ)

    def subscriber_login(self, client: FlaskClient, number: str = OWN_CIRCUIT,
                         password: str = DEMO_PASSWORD):  # type: ignore[no-untyped-def]
        page = client.get("/entrar")
        return client.post("/entrar", data={"usuario": number, "senha": password,
                                            "csrf_token": read_csrf(page.data)})

    def client(self, role: str = "admin") -> FlaskClient:
        """A new client signed in as ``role`` (admin, support, subscriber) or anonymous."""
        client = self.app.test_client()
        if role == "admin":
            response = self.admin_login(client, "admin")
        elif role == "support":
            response = self.admin_login(client, "suporte")
        elif role == "subscriber":
            response = self.subscriber_login(client)
        else:
            assert role == "anonymous"
            return client
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return client

    # ------------------------------------------------------------ forms
    def csrf(self, client: FlaskClient) -> str:
        """A valid CSRF token of this client's session (from a page with a form)."""
        page = client.get("/admin/entrar")
        if page.status_code == 302:  # signed-in staff: the header's "Sair" form has one
            page = client.get("/admin/")
        return read_csrf(page.data)

    def post(self, client: FlaskClient, path: str, data: dict | list | None = None, **kwargs: Any):  # type: ignore[no-untyped-def]
        token = self.csrf(client)
        if isinstance(data, list):  # repeated fields (checkboxes)
            payload = [*data, ("csrf_token", token)]
            from werkzeug.datastructures import MultiDict

            return client.post(path, data=MultiDict(payload), **kwargs)
        return client.post(path, data={**(data or {}), "csrf_token": token}, **kwargs)

    # ------------------------------------------------------------ data
    def audit(self, action: str | None = None) -> list[AuditEvent]:
        with Session(self.engine) as s:
            query = select(AuditEvent).order_by(AuditEvent.id)
            if action is not None:
                query = query.where(AuditEvent.action == action)
            return list(s.scalars(query))

    def last_event(self, action: str) -> tuple[AuditEvent, Any, Any]:
        events = self.audit(action)
        assert events, f"no audit event {action}"
        event = events[-1]
        return event, json.loads(event.before) if event.before else None, json.loads(event.after) if event.after else None

    def circuit(self, number: str = OWN_CIRCUIT) -> Circuit:
        with Session(self.engine) as s:
            found = s.scalar(select(Circuit).where(Circuit.number == number))
            assert found is not None
            return found

    def circuit_id(self, number: str = OWN_CIRCUIT) -> int:
        return self.circuit(number).id

    def customer_of(self, number: str = OWN_CIRCUIT) -> Customer:
        with Session(self.engine) as s:
            return s.get(Customer, self.circuit(number).customer_id)  # type: ignore[return-value]


@pytest.fixture
def web(app: Flask, admin_db: Engine) -> Web:
    return Web(app, admin_db)


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)


@pytest.fixture
def page_text():  # type: ignore[no-untyped-def]
    return text


class Action:
    """One admin POST: where, what it sends, the permission it needs, the audit event it writes."""

    def __init__(self, name: str, path: str, data: dict | list, permission: str, event: str,
                 success: int = 302) -> None:
        self.name, self.path, self.data, self.permission, self.event, self.success = \
            name, path, data, permission, event, success

    def __repr__(self) -> str:
        return self.name


def admin_actions(web: Web) -> list[Action]:
    """Every change the admin pages offer, with valid input (each one changes something), in an
    order that lets them run one after the other (the customer is deactivated last)."""
    from painel.documents import make_cpf

    circuit = web.circuit()
    customer = web.customer_of()
    cid, kid = circuit.id, customer.id
    return [
        Action("cliente-novo", "/admin/clientes/novo",
               {"nome": "Padaria Pão Quente", "documento": make_cpf("123456789"), "email": "pao@example.com.br"},
               "write", "customer.create"),
        Action("cliente-editar", f"/admin/clientes/{kid}/editar",
               {"nome": customer.name + " (editado)", "documento": customer.document, "email": customer.email or ""},
               "write", "customer.update"),
        Action("circuito-novo", "/admin/circuitos/novo",
               {"numero": "8019999", "nome": "NOVO", "cliente_id": str(kid), "ddd": "98",
                "fuso": "America/Fortaleza", "plano_id": str(circuit.rate_plan_id)}, "write", "circuit.create"),
        Action("circuito-editar", f"/admin/circuitos/{cid}/editar",
               {"numero": circuit.number, "nome": "Novo nome", "cliente_id": str(kid), "ddd": circuit.home_ddd,
                "fuso": circuit.timezone, "plano_id": str(circuit.rate_plan_id)}, "write", "circuit.update"),
        Action("circuito-regras", f"/admin/circuitos/{cid}/regras",
               [("permissoes", "local"), ("permissoes", "movel"), ("padroes", "^5511")], "write",
               "circuit.outbound_rules"),
        Action("circuito-gestao-web", f"/admin/circuitos/{cid}/gestao-web",
               {"flag_web": "1", "flag_faturas": "1"}, "write", "circuit.flags"),
        Action("circuito-senha-web", f"/admin/circuitos/{cid}/senha-web", {}, "web_password",
               "circuit.web_password", success=200),
        Action("circuito-desativar", f"/admin/circuitos/{cid}/situacao", {"ativo": "0"}, "write",
               "circuit.deactivate"),
        Action("cliente-desativar", f"/admin/clientes/{kid}/situacao", {"ativo": "0"}, "write", "customer.deactivate"),
        Action("sair", "/admin/sair", {}, "read", "admin.logout"),
    ]


@pytest.fixture
def actions(web: Web) -> list[Action]:
    return admin_actions(web)
