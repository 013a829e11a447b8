"""The portal under Flask's test client, on SQLite and PostgreSQL, with the demo operator.

``portal_db`` is the demo (traffic from August to 20 November 2026, months closed and
mostly paid, as ``painel demo`` leaves it). The fixture ``login`` is a function that signs
a client in through the real form, CSRF token included; ``csrf`` reads the token of a
page's form; ``signed_in`` is a client signed in as circuit 8011441.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from flask.testing import FlaskClient

from painel.demo import DEMO_PASSWORD, bill_demo, run_demo
from webui import create_app

NOW = datetime(2026, 11, 20, 15, tzinfo=timezone.utc)
#: circuits of the demo's first customer (RESIDÊNCIA DO SR MARCOS ALBUQUERQUE) and of another one
OWN_CIRCUIT = "8011441"
OTHER_CUSTOMER_CIRCUIT = "8011880"

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def read_csrf(html: str | bytes) -> str:
    text = html.decode() if isinstance(html, bytes) else html
    found = _CSRF.search(text)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)


def _build_portal(settings, engine) -> None:  # type: ignore[no-untyped-def]
    run_demo(settings, engine, now=NOW, calls_per_day=1.0)
    bill_demo(settings.replace(pdf_workers=1), engine, now=NOW, pdfs=False)  # PDFs render on demand


@pytest.fixture
def portal_db(request, engine, settings, db_templates):  # type: ignore[no-untyped-def]
    """``demo_db`` plus the demo's traffic and billing (built once per session and engine, then
    copied: see ``DbTemplates`` in tests/conftest.py)."""
    return db_templates.seed(request, engine, [db_templates.DEMO_OPERATOR, ("webui-portal", _build_portal)],
                             settings)


@pytest.fixture
def app(portal_db, settings):  # type: ignore[no-untyped-def]
    return create_app(settings.replace(secret_key="test-key", web_login_limit_account="1000/minute",
                                       web_login_limit_address="1000/minute"), portal_db, testing=True)


@pytest.fixture
def client(app) -> FlaskClient:  # type: ignore[no-untyped-def]
    return app.test_client()


def sign_in(client: FlaskClient, number: str = OWN_CIRCUIT, password: str = DEMO_PASSWORD):  # type: ignore[no-untyped-def]
    page = client.get("/entrar")
    return client.post("/entrar", data={"usuario": number, "senha": password, "csrf_token": read_csrf(page.data)})


@pytest.fixture
def csrf():  # type: ignore[no-untyped-def]
    return read_csrf


@pytest.fixture
def login():  # type: ignore[no-untyped-def]
    return sign_in


@pytest.fixture
def signed_in(client) -> FlaskClient:  # type: ignore[no-untyped-def]
    response = sign_in(client)
    assert response.status_code == 302, response.data[:500]
    return client
