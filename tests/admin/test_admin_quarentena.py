"""Quarentena: the entries with their reasons (filtered by reason), and retrying after fixing the cause:
all of a reason, all, or one entry, with the outcome shown and audited."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from painel.models import Cdr, Circuit, QuarantinedCdr

UNKNOWN = "8099999"  # the circuit of the quarantined call (conftest: _build_admin_extras)
CALL_UUID = "f68bceb4-3a5d-4631-9639-486d399b171a"


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)


def entries(html: str) -> dict[int, str]:
    body = html.split('<table class="quarentena">')[1].split("</tbody>")[0] if '<table class="quarentena">' in html else ""
    return {int(i): row for i, row in re.findall(r'<tr id="registro-(\d+)">(.*?)</tr>', body, re.S)}


def entry(engine, entry_id: int) -> QuarantinedCdr:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return s.get(QuarantinedCdr, entry_id)


def create_the_missing_circuit(web) -> None:  # type: ignore[no-untyped-def]
    """Fix the cause as the operator would: the circuit the switch named, with a plan."""
    circuit = web.circuit()
    response = web.post(web.client("admin"), "/admin/circuitos/novo", {
        "numero": UNKNOWN, "nome": "FILIAL", "cliente_id": str(circuit.customer_id), "ddd": "98",
        "fuso": "America/Fortaleza", "plano_id": str(circuit.rate_plan_id)})
    assert response.status_code == 302


def test_list_with_reasons(web, admin_db):  # type: ignore[no-untyped-def]
    html = text(web.client("support").get("/admin/quarentena"))
    assert "Pendentes por motivo (2)" in html
    unknown, malformed = web.quarantined("unknown_circuit"), web.quarantined("malformed")
    rows = entries(html)
    assert set(rows) == {unknown, malformed}
    assert "Circuito desconhecido" in rows[unknown] and UNKNOWN in rows[unknown] and CALL_UUID in rows[unknown]
    assert "/var/spool/json_cdr/desconhecido.cdr.json" in rows[unknown] and "Pendente" in rows[unknown]
    assert "Registro ilegível" in rows[malformed] and "Registro original" in rows[malformed]
    counts = html.split('<table class="motivos">')[1].split("</table>")[0]
    assert re.search(r'id="motivo-unknown_circuit">.*?<td class="num">1</td>.*?cadastre o circuito', counts, re.S)
    assert re.search(r'id="motivo-no_plan">.*?<td class="num">0</td>', counts, re.S)
    assert "Reprocessar" not in html and "somente consulta" in html  # support
    only = text(web.client("support").get("/admin/quarentena", query_string={"motivo": "malformed"}))
    assert set(entries(only)) == {malformed}


def test_retry_a_reason_before_and_after_fixing_the_cause(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("admin")
    unknown = web.quarantined("unknown_circuit")
    response = web.post(client, "/admin/quarentena/reprocessar", {"motivo": "unknown_circuit"})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/quarentena?motivo=unknown_circuit"
    page = text(client.get(response.headers["Location"]))
    assert "Reprocessamento (motivo Circuito desconhecido): 0 resolvido(s), tarifado(s) e fora da quarentena; " \
           "1 continua(m) em quarentena." in page
    assert entry(admin_db, unknown).retries == 1
    create_the_missing_circuit(web)
    response = web.post(client, "/admin/quarentena/reprocessar", {"motivo": "unknown_circuit"})
    page = text(client.get(response.headers["Location"]))
    assert "1 resolvido(s), tarifado(s) e fora da quarentena; 0 continua(m) em quarentena." in page
    assert unknown not in entries(page)  # pending only, by default
    with Session(admin_db) as s:
        call = s.scalar(select(Cdr).where(Cdr.uuid == CALL_UUID))
        assert call.circuit_id == s.scalar(select(Circuit.id).where(Circuit.number == UNKNOWN))
        assert call.amount == Decimal("0.06") and call.direction == "outbound"
    assert entry(admin_db, unknown).resolved_at is not None
    every = text(client.get("/admin/quarentena", query_string={"situacao": "todos"}))
    assert "Resolvido" in entries(every)[unknown]
    events = web.audit("cdr.quarantine_retry")
    assert [(e.target_id, e.before, e.after) for e in events] == [
        ("unknown_circuit", '{"pending": 1, "reason": "unknown_circuit"}', '{"resolved": 0, "still": 1}'),
        ("unknown_circuit", '{"pending": 1, "reason": "unknown_circuit"}', '{"resolved": 1, "still": 0}'),
    ]
    assert all(e.actor == "admin" and e.address == "127.0.0.1" for e in events)


def test_retry_everything(web, admin_db):  # type: ignore[no-untyped-def]
    create_the_missing_circuit(web)
    client = web.client("admin")
    response = web.post(client, "/admin/quarentena/reprocessar")
    assert response.headers["Location"] == "/admin/quarentena"
    page = text(client.get(response.headers["Location"]))
    assert "Reprocessamento (todos os motivos): 1 resolvido(s)" in page and "1 continua(m) em quarentena" in page
    assert set(entries(page)) == {web.quarantined("malformed")}
    response = web.post(client, "/admin/quarentena/reprocessar", {"motivo": "no_plan"})
    assert "Nada a reprocessar (motivo Sem plano de tarifas)." in text(client.get(response.headers["Location"]))


def test_retry_one_entry(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("admin")
    malformed, unknown = web.quarantined("malformed"), web.quarantined("unknown_circuit")
    page = text(client.get("/admin/quarentena"))
    assert f'action="/admin/quarentena/{malformed}/reprocessar"' in entries(page)[malformed]
    response = web.post(client, f"/admin/quarentena/{malformed}/reprocessar")
    assert response.headers["Location"] == f"/admin/quarentena#registro-{malformed}"
    page = text(client.get(response.headers["Location"]))
    assert f"Registro {malformed} continua em quarentena: Registro ilegível — " in page
    assert entry(admin_db, malformed).retries == 1 and entry(admin_db, unknown).retries == 0  # only that one
    create_the_missing_circuit(web)
    response = web.post(client, f"/admin/quarentena/{unknown}/reprocessar")
    assert f"Registro {unknown} resolvido: a ligação foi tarifada e saiu da quarentena." in \
        text(client.get(response.headers["Location"]))
    response = web.post(client, f"/admin/quarentena/{unknown}/reprocessar")
    assert f"Registro {unknown} já estava resolvido." in text(client.get(response.headers["Location"]))
    assert [e.target_id for e in web.audit("cdr.quarantine_retry")] == [str(malformed), str(unknown), str(unknown)]
    assert web.post(client, "/admin/quarentena/999999/reprocessar").status_code == 404


@pytest.mark.parametrize("role", ["support", "subscriber", "anonymous"])
def test_only_admin_retries(web, admin_db, role):  # type: ignore[no-untyped-def]
    create_the_missing_circuit(web)
    response = web.post(web.client(role), "/admin/quarentena/reprocessar")
    assert response.status_code == (403 if role == "support" else 302)
    assert entry(admin_db, web.quarantined("unknown_circuit")).resolved_at is None
