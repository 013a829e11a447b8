"""Clientes: search, create (CPF/CNPJ check digits), edit with before/after, deactivate with
the circuits, reactivate."""
from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from painel.documents import make_cnpj, make_cpf
from painel.models import Circuit, Customer
from painel.routing import rules_version

NEW_CPF = make_cpf("123456789")
NEW_CNPJ = make_cnpj("112233440001")


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)


def customer_named(engine, name: str) -> Customer | None:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return s.scalar(select(Customer).where(Customer.name == name))


@pytest.mark.parametrize("query, expected, absent", [
    ("psicomed", ["PSICOMED LTDA"], ["HK DISTRIBUIDORA"]),
    ("8011880", ["HK DISTRIBUIDORA"], ["PSICOMED LTDA"]),  # by a circuit number
    ("example.com.br", ["PSICOMED LTDA", "HK DISTRIBUIDORA"], []),  # by e-mail
    ("100%", [], ["PSICOMED LTDA"]),  # LIKE wildcards are literal
])
def test_search(web, admin_db, query, expected, absent):  # type: ignore[no-untyped-def]
    html = text(web.client("support").get("/admin/clientes", query_string={"q": query}))
    for name in expected:
        assert name in html
    for name in absent:
        assert name not in html


def test_search_by_document_digits(web, admin_db):  # type: ignore[no-untyped-def]
    document = web.customer_of("8012442").document
    formatted = f"{document[:2]}.{document[2:5]}.{document[5:8]}/{document[8:12]}-{document[12:]}"
    html = text(web.client("admin").get("/admin/clientes", query_string={"q": formatted}))
    assert "PSICOMED LTDA" in html and formatted in html


def test_create_customer(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("admin")
    response = web.post(client, "/admin/clientes/novo", {"nome": "  Padaria   Pão Quente ", "documento": NEW_CNPJ,
                                                         "email": "contato@padaria.example.com.br"})
    assert response.status_code == 302
    customer = customer_named(admin_db, "Padaria Pão Quente")
    assert customer is not None and customer.active and customer.document == NEW_CNPJ
    assert response.headers["Location"] == f"/admin/clientes/{customer.id}"
    page = text(client.get(response.headers["Location"]))
    assert "Cliente Padaria Pão Quente criado" in page and "ainda não tem circuitos" in page
    event, before, after = web.last_event("customer.create")
    assert event.target_kind == "customer" and event.target_id == str(customer.id) and before is None
    assert after == {"name": "Padaria Pão Quente", "document": NEW_CNPJ, "email": "contato@padaria.example.com.br",
                     "active": True}


@pytest.mark.parametrize("values, field, message", [
    ({"nome": "", "documento": NEW_CPF}, "nome", "Informe o nome do cliente."),
    ({"nome": "X", "documento": ""}, "documento", "Informe o CPF ou o CNPJ."),
    ({"nome": "X", "documento": NEW_CPF[:-1] + str((int(NEW_CPF[-1]) + 1) % 10)}, "documento",
     "CPF inválido: os dígitos verificadores não conferem."),
    ({"nome": "X", "documento": "11111111111"}, "documento", "CPF inválido"),
    ({"nome": "X", "documento": NEW_CNPJ[:-2] + "00" if not NEW_CNPJ.endswith("00") else NEW_CNPJ[:-2] + "11"},
     "documento", "CNPJ inválido"),
    ({"nome": "X", "documento": "123"}, "documento", "CPF (11 dígitos) ou CNPJ (14 dígitos)"),
    ({"nome": "X", "documento": NEW_CPF, "email": "sem-arroba"}, "email", "E-mail inválido"),
])
def test_create_customer_refusals(web, admin_db, values, field, message):  # type: ignore[no-untyped-def]
    response = web.post(web.client("admin"), "/admin/clientes/novo", {"email": "", **values})
    assert response.status_code == 400
    html = text(response)
    assert message in html
    assert f'id="cliente-{field}-erro"' in html and 'aria-invalid="true"' in html
    assert web.audit("customer.create") == []


def test_a_document_belongs_to_one_customer(web, admin_db):  # type: ignore[no-untyped-def]
    taken = web.customer_of("8012442").document
    response = web.post(web.client("admin"), "/admin/clientes/novo", {"nome": "Outro", "documento": taken,
                                                                       "email": ""})
    assert response.status_code == 400 and "Já existe um cliente com este CPF/CNPJ." in text(response)


def test_edit_customer_records_before_and_after(web, admin_db):  # type: ignore[no-untyped-def]
    customer = web.customer_of("8012442")
    client = web.client("admin")
    response = web.post(client, f"/admin/clientes/{customer.id}/editar",
                        {"nome": "PSICOMED CLÍNICA LTDA", "documento": customer.document, "email": customer.email})
    assert response.status_code == 302
    event, before, after = web.last_event("customer.update")
    assert before == {"name": "PSICOMED LTDA"} and after == {"name": "PSICOMED CLÍNICA LTDA"}
    assert event.target_id == str(customer.id)
    # the same values again: nothing changes, nothing is recorded
    response = web.post(client, f"/admin/clientes/{customer.id}/editar",
                        {"nome": "PSICOMED CLÍNICA LTDA", "documento": customer.document, "email": customer.email})
    assert "Nada mudou" in text(client.get(response.headers["Location"]))
    assert len(web.audit("customer.update")) == 1


def test_edit_customer_may_keep_its_own_document(web, admin_db):  # type: ignore[no-untyped-def]
    customer = web.customer_of("8012442")
    formatted = f"{customer.document[:2]}.{customer.document[2:5]}.{customer.document[5:8]}/" \
                f"{customer.document[8:12]}-{customer.document[12:]}"
    response = web.post(web.client("admin"), f"/admin/clientes/{customer.id}/editar",
                        {"nome": customer.name, "documento": formatted, "email": "novo@psicomed.example.com.br"})
    assert response.status_code == 302
    assert web.last_event("customer.update")[2] == {"email": "novo@psicomed.example.com.br"}


def test_deactivate_customer_takes_its_circuits_and_the_subscriber_out(web, admin_db):  # type: ignore[no-untyped-def]
    subscriber = web.client("subscriber")
    assert subscriber.get("/perfil").status_code == 200
    customer = web.customer_of("8011441")
    with Session(admin_db) as s:
        version = rules_version(s)
    admin = web.client("admin")
    response = web.post(admin, f"/admin/clientes/{customer.id}/situacao", {"ativo": "0"})
    assert response.status_code == 302
    assert "com os circuitos 8010348, 8011441, 8011927" in text(admin.get(response.headers["Location"]))
    with Session(admin_db) as s:
        assert not s.get(Customer, customer.id).active
        circuits = list(s.scalars(select(Circuit).where(Circuit.customer_id == customer.id)))
        assert circuits and not any(c.active for c in circuits)
        assert rules_version(s) > version  # the routers reload: calls to those DIDs are refused
    _event, _before, after = web.last_event("customer.deactivate")
    assert after == {"active": False, "circuits_deactivated": ["8010348", "8011441", "8011927"]}
    assert len(web.audit("circuit.deactivate")) == 3
    # the subscriber's session ends and it cannot sign in again
    response = subscriber.get("/perfil")
    assert response.status_code == 302 and "/entrar" in response.headers["Location"]
    assert web.subscriber_login(web.app.test_client()).status_code == 401
    # the list hides it by default and shows it under "Desativados"
    assert customer.name not in text(admin.get("/admin/clientes"))
    assert customer.name in text(admin.get("/admin/clientes?situacao=inativos"))


def test_reactivate_customer_leaves_circuits_off(web, admin_db):  # type: ignore[no-untyped-def]
    customer = web.customer_of("8012442")
    admin = web.client("admin")
    web.post(admin, f"/admin/clientes/{customer.id}/situacao", {"ativo": "0"})
    response = web.post(admin, f"/admin/clientes/{customer.id}/situacao", {"ativo": "1"})
    assert "Os circuitos dele continuam desativados" in text(admin.get(response.headers["Location"]))
    with Session(admin_db) as s:
        assert s.get(Customer, customer.id).active
    assert not web.circuit("8012442").active
    assert web.last_event("customer.activate")[2] == {"active": True}
    # reactivating the circuit is now possible
    web.post(admin, f"/admin/circuitos/{web.circuit_id('8012442')}/situacao", {"ativo": "1"})
    assert web.circuit("8012442").active


def test_circuit_of_an_inactive_customer_cannot_be_reactivated(web, admin_db):  # type: ignore[no-untyped-def]
    customer = web.customer_of("8012442")
    admin = web.client("admin")
    web.post(admin, f"/admin/clientes/{customer.id}/situacao", {"ativo": "0"})
    response = web.post(admin, f"/admin/circuitos/{web.circuit_id('8012442')}/situacao", {"ativo": "1"})
    assert "reative o cliente antes" in text(admin.get(response.headers["Location"]))
    assert not web.circuit("8012442").active
    assert web.audit("circuit.activate") == []


def test_situation_needs_a_clear_value(web, admin_db):  # type: ignore[no-untyped-def]
    customer = web.customer_of("8012442")
    response = web.post(web.client("admin"), f"/admin/clientes/{customer.id}/situacao", {"ativo": "talvez"})
    assert response.status_code == 400
    assert web.audit("customer.deactivate") == []


def test_unknown_customer_is_404(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("admin")
    assert client.get("/admin/clientes/999999").status_code == 404
    assert web.post(client, "/admin/clientes/999999/editar", {"nome": "x"}).status_code == 404
