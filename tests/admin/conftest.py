"""The admin pages under Flask's test client, on SQLite and PostgreSQL.

``admin_db`` is the demo operator without traffic (customers, circuits, DIDs, plan
PADRAO and the staff accounts ``admin`` and ``suporte``, password ``painel-demo``), plus
what the billing and operations pages need (``_build_admin_extras``): October 2026
closed (one invoice per circuit: the monthly fee), two CDRs in quarantine (a call of an
unknown circuit, an unreadable record) and two subscriber requests (one answered).
``web`` signs clients in through the real forms (CSRF tokens included) as each kind of
user, posts forms (a ``(bytes, name)`` value is a file upload), and reads the audit log.
"""
from __future__ import annotations

import io
import json
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from painel.demo import DEMO_PASSWORD
from painel.models import AuditEvent, Circuit, Customer, Did, Invoice, Message, QuarantinedCdr, RatePlan
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


#: the month the extras close, and the circuit of the quarantined call (no such circuit)
CLOSED_MONTH = "2026-10"
UNKNOWN_CIRCUIT = "8099999"
#: a lab CDR of an answered local call of 8011441 (28/11/2026), quarantined as UNKNOWN_CIRCUIT's
LAB_CALL = (Path(__file__).resolve().parents[1] / "data" / "third_party" / "freeswitch" / "lab_1.10.12" / "json_cdr"
            / "s6a_out_local_fixed_a_f68bceb4-3a5d-4631-9639-486d399b171a.cdr.json")
UNREADABLE = '{"variables": {"uuid": "quebrado"'


def _build_admin_extras(settings, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    from billing.close import close_month
    from cdr_ingest.pipeline import Ingester

    close_month(engine, CLOSED_MONTH, now=datetime(2026, 11, 1, 10, tzinfo=timezone.utc), actor="demo")
    ingester = Ingester(engine, settings)
    ingester.ingest_items([
        ingester.json_item(LAB_CALL.read_text(encoding="utf-8").replace("8011441", UNKNOWN_CIRCUIT),
                           "/var/spool/json_cdr/desconhecido.cdr.json"),
        ingester.json_item(UNREADABLE, "/var/spool/json_cdr/ilegivel.cdr.json"),
    ])
    with Session(engine) as s:
        own = s.scalar(select(Circuit).where(Circuit.number == OWN_CIRCUIT))
        other = s.scalar(select(Circuit).where(Circuit.number == "8012442"))
        s.add(Message(circuit_id=own.id, direction="to_operator", subject="Segunda via da fatura",
                      body="Preciso da segunda via de outubro.", author=OWN_CIRCUIT,
                      created_at=datetime(2026, 11, 10, 13, tzinfo=timezone.utc)))
        answered = Message(circuit_id=other.id, direction="to_operator", subject="Mudança de plano",
                           body="Quero saber dos planos.", author="8012442",
                           created_at=datetime(2026, 11, 12, 13, tzinfo=timezone.utc))
        s.add(answered)
        s.flush()
        s.add(Message(circuit_id=other.id, direction="to_subscriber", reply_to_id=answered.id,
                      subject="Re: Mudança de plano", body="Temos o plano PADRAO.", author="admin",
                      created_at=datetime(2026, 11, 12, 15, tzinfo=timezone.utc)))
        s.commit()


@pytest.fixture
def admin_db(request, engine: Engine, settings, db_templates) -> Engine:  # type: ignore[no-untyped-def]
    """The demo operator plus the extras (built once per session and engine, then copied)."""
    return db_templates.seed(request, engine, [db_templates.DEMO_OPERATOR, ("admin-extras", _build_admin_extras)],
                             settings)


def make_app(settings, engine: Engine, **overrides: Any) -> Flask:  # type: ignore[no-untyped-def]
    values = {"secret_key": "test-key", "web_login_limit_account": "1000/minute",
              "web_login_limit_address": "1000/minute", **overrides}
    return create_app(settings.replace(**values), engine, testing=True)


def _unreachable(url: str) -> str:
    raise OSError("[Errno 111] Connection refused")


@pytest.fixture
def app(admin_db: Engine, settings) -> Flask:  # type: ignore[no-untyped-def]
    from painel.router_status import StatusBoard

    app = make_app(settings, admin_db)
    # the routers' page reads metrics over HTTP: here no router answers (tests/admin/test_admin_roteadores.py
    # gives it live ones)
    app.extensions["painel_router_status"] = StatusBoard(fetcher=_unreachable)
    return app


@pytest.fixture
def app_with(admin_db: Engine, settings):  # type: ignore[no-untyped-def]
    """``app_with(**settings_overrides)``: another app on the same database, with other settings."""
    return lambda **overrides: make_app(settings, admin_db, **overrides)


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
        fields = {key: (io.BytesIO(value[0]), value[1]) if isinstance(value, tuple) else value
                  for key, value in (data or {}).items()}
        return client.post(path, data={**fields, "csrf_token": token}, **kwargs)

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

    def did_id(self, e164: str) -> int:
        with Session(self.engine) as s:
            found = s.scalar(select(Did.id).where(Did.e164 == e164))
            assert found is not None, e164
            return found

    def invoice_id(self, number: str = OWN_CIRCUIT, month: str = CLOSED_MONTH) -> int:
        with Session(self.engine) as s:
            found = s.scalar(select(Invoice.id).join(Circuit, Circuit.id == Invoice.circuit_id)
                             .where(Circuit.number == number, Invoice.month == month))
            assert found is not None, (number, month)
            return found

    def plan_id(self, code: str = "PADRAO") -> int:
        with Session(self.engine) as s:
            found = s.scalar(select(RatePlan.id).where(RatePlan.code == code))
            assert found is not None, code
            return found

    def quarantined(self, reason: str) -> int:
        """The id of the (first) quarantine entry of ``reason``."""
        with Session(self.engine) as s:
            found = s.scalar(select(QuarantinedCdr.id).where(QuarantinedCdr.reason == reason)
                             .order_by(QuarantinedCdr.id))
            assert found is not None, reason
            return found

    def request_id(self, subject: str = "Segunda via da fatura") -> int:
        with Session(self.engine) as s:
            found = s.scalar(select(Message.id).where(Message.direction == "to_operator", Message.subject == subject))
            assert found is not None, subject
            return found


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


#: a plan the import creates (one version, two categories)
PLANS_CSV = ("plan_code,plan_name,version,valid_from,category,price_per_minute,connection_fee,monthly_fee\n"
             "ECONOMICO,Plano Econômico,1,2026-01-01,local_fixo,0.08,0,19.90\n"
             "ECONOMICO,Plano Econômico,1,2026-01-01,movel_vc1,0.35,0,19.90\n")


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
        Action("numero-atribuir", "/admin/numeros/atribuir", {"numero": "(98) 3222-7788", "circuito": OWN_CIRCUIT},
               "write", "did.assign"),
        Action("numero-mover", f"/admin/numeros/{web.did_id('+559832221100')}/mover", {"circuito": "8010348"},
               "write", "did.move"),
        Action("numero-liberar", f"/admin/numeros/{web.did_id('+559832221101')}/liberar", {}, "write",
               "did.release"),
        Action("numeros-importar", "/admin/numeros/importar",
               {"acao": "aplicar", "nome": "dids.csv", "conteudo": f"numero;circuito\n98 3222-7799;{OWN_CIRCUIT}\n"},
               "write", "did.import", success=200),
        Action("plano-versao", f"/admin/planos/{web.plan_id()}/versoes",
               {"vigencia": (date.today() + timedelta(days=40)).isoformat(), "mensalidade": "39,90",
                "preco_local_fixo": "0,12"}, "write", "plan.version"),
        Action("planos-importar", "/admin/planos/importar", {"arquivo": (PLANS_CSV.encode(), "planos.csv")},
               "write", "rates.import"),
        Action("fatura-pdf", f"/admin/faturas/{web.invoice_id()}/gerar-pdf", {}, "write", "billing.pdf"),
        Action("fatura-pagamento", f"/admin/faturas/{web.invoice_id()}/pagamento",
               {"valor": "37,50", "data": "2026-11-05", "referencia": "BANCO-0001"}, "write", "billing.payment"),
        Action("quarentena-reprocessar", "/admin/quarentena/reprocessar", {"motivo": "unknown_circuit"}, "write",
               "cdr.quarantine_retry"),
        Action("quarentena-reprocessar-um", f"/admin/quarentena/{web.quarantined('malformed')}/reprocessar", {},
               "write", "cdr.quarantine_retry"),
        Action("mensagens-aviso", "/admin/mensagens/aviso",
               {"destino": "circuitos", "circuitos": f"{OWN_CIRCUIT}, 8012442", "assunto": "Manutenção programada",
                "mensagem": "Na madrugada de domingo."}, "write", "message.notice"),
        Action("mensagem-responder", f"/admin/mensagens/{web.request_id()}/responder",
               {"resposta": "A segunda via está no painel."}, "write", "message.answer"),
        Action("circuito-desativar", f"/admin/circuitos/{cid}/situacao", {"ativo": "0"}, "write",
               "circuit.deactivate"),
        Action("cliente-desativar", f"/admin/clientes/{kid}/situacao", {"ativo": "0"}, "write", "customer.deactivate"),
        Action("sair", "/admin/sair", {}, "read", "admin.logout"),
    ]


@pytest.fixture
def actions(web: Web) -> list[Action]:
    return admin_actions(web)
