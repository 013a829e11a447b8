"""The Blacklist page: list, add, remove, anonymous callers, flags, ownership, audit, router version."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from painel.models import AuditEvent, BlacklistEntry, Circuit, Did
from painel.routing import load_did_rules, rules_version
from webui.portal.blacklist import parse_date, safe_origin
from webui.portal.numeros import format_phone

OWN = "8011441"
SIBLING = "8011927"  # same customer
OTHER = "8011880"  # another customer
OWN_DID = "+5598987654321"


@pytest.fixture
def portal_db(demo_db):  # type: ignore[no-untyped-def]
    """The demo operator without traffic: these pages need circuits, DIDs and plans, not CDRs."""
    return demo_db


def circuit(engine, number: str) -> Circuit:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return s.scalar(select(Circuit).where(Circuit.number == number))


def did(engine, e164: str) -> Did:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return s.scalar(select(Did).where(Did.e164 == e164))


def entries(engine, number: str = OWN) -> list[BlacklistEntry]:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        c = s.scalar(select(Circuit).where(Circuit.number == number))
        return list(s.scalars(select(BlacklistEntry).where(BlacklistEntry.circuit_id == c.id)
                              .order_by(BlacklistEntry.id)))


def audit(engine, action: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def version(engine) -> int:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return rules_version(s)


def set_flag(engine, number: str, flag: str, on: bool) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        s.execute(update(Circuit).where(Circuit.number == number).values({f"flag_{flag}": on}))
        s.commit()


def token(client, csrf, url: str = "/blacklist") -> str:  # type: ignore[no-untyped-def]
    page = client.get(url)
    assert page.status_code == 200
    return csrf(page.data)


def add(client, csrf, **fields):  # type: ignore[no-untyped-def]
    data = {"csrf_token": token(client, csrf), **fields}
    return client.post("/blacklist/adicionar", data=data)


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)


# ---------------------------------------------------------------- helpers (pure)

@pytest.mark.parametrize("value, expected", [
    ("/ligacoes?mes=2026-11", "/ligacoes?mes=2026-11"),
    ("/", "/"),
    ("//evil.example.com/x", None),
    ("https://evil.example.com/", None),
    ("/\\evil.example.com", None),
    ("ligacoes", None),
    ("", None),
    (None, None),
    ("/a\r\nSet-Cookie: x=1", None),
    ("/\t/evil.example.com", None),  # the tab would be dropped from Location, leaving //evil...
])
def test_safe_origin(value, expected):  # type: ignore[no-untyped-def]
    assert safe_origin(value) == expected


@pytest.mark.parametrize("value, expected", [
    ("25/12/2026", date(2026, 12, 25)),
    ("2026-12-25", date(2026, 12, 25)),
    ("31/02/2026", None),
    ("amanhã", None),
    ("12/25/2026", None),
])
def test_parse_date(value, expected):  # type: ignore[no-untyped-def]
    assert parse_date(value) == expected


@pytest.mark.parametrize("stored, shown", [
    ("5598987654321", "(98) 98765-4321"),
    ("+559832221100", "(98) 3222-1100"),
    ("558007271234", "0800 727 1234"),
    ("12125551234", "+1 212-555-1234"),
    ("40041234", "4004-1234"),
    ("190", "190"),
    ("", ""),
    (None, ""),
    ("anonymous", "anonymous"),
])
def test_format_phone(stored, shown):  # type: ignore[no-untyped-def]
    assert format_phone(stored) == shown


# ---------------------------------------------------------------- list

def test_list_shows_entries_formatted_with_hits(signed_in, portal_db):  # type: ignore[no-untyped-def]
    with Session(portal_db) as s:
        entry = s.scalar(select(BlacklistEntry).where(BlacklistEntry.number == "5511988887777"))
        entry.hits, entry.last_hit_at = 7, datetime(2026, 11, 19, 13, 5, 9, tzinfo=timezone.utc)
        s.commit()
    page = signed_in.get("/blacklist")
    html = text(page)
    assert page.status_code == 200
    assert "(11) 98888-7777" in html
    assert "ligações insistentes" in html
    assert "0303" in html and "prefixo" in html and "telemarketing" in html
    assert "Todos os números" in html
    assert ">7<" in html
    assert "19/11/2026 10:05:09" in html  # last hit in the circuit's zone (America/Fortaleza, UTC-3)
    assert "Não expira" in html
    assert 'style="' not in html and "<script" not in html
    for field in ("blacklist-numero", "blacklist-prefixo", "blacklist-observacao", "blacklist-did", "blacklist-expira"):
        assert f'<label for="{field}"' in html


def test_selector_lists_the_customers_circuits_and_switches(signed_in, portal_db):  # type: ignore[no-untyped-def]
    sibling = circuit(portal_db, SIBLING)
    html = text(signed_in.get("/blacklist"))
    assert '<label for="blacklist-circuito">' in html
    assert f'<option value="{sibling.id}"' in html
    assert OTHER not in html
    page = signed_in.get(f"/blacklist?circuito={sibling.id}")
    assert page.status_code == 200
    assert f"Circuito {SIBLING}" in text(page)
    assert "(11) 98888-7777" not in text(page)  # 8011441's entry is not on 8011927's list


def test_selector_hides_circuits_without_the_flag(signed_in, portal_db):  # type: ignore[no-untyped-def]
    set_flag(portal_db, SIBLING, "blacklist", False)
    sibling = circuit(portal_db, SIBLING)
    html = text(signed_in.get("/blacklist"))
    assert f'<option value="{sibling.id}"' not in html
    assert signed_in.get(f"/blacklist?circuito={sibling.id}").status_code == 404


@pytest.mark.parametrize("param", ["OTHER", "999999", "abc"])
def test_other_customers_circuit_is_404(signed_in, portal_db, param):  # type: ignore[no-untyped-def]
    value = str(circuit(portal_db, OTHER).id) if param == "OTHER" else param
    assert signed_in.get(f"/blacklist?circuito={value}").status_code == 404


# ---------------------------------------------------------------- add

def test_add_number_audits_and_bumps_router_version(signed_in, csrf, portal_db):  # type: ignore[no-untyped-def]
    before = version(portal_db)
    response = add(signed_in, csrf, numero="(98) 98111-2222", observacao="cobrança insistente")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/blacklist?circuito=")
    added = [e for e in entries(portal_db) if e.number == "5598981112222"]
    assert len(added) == 1 and added[0].note == "cobrança insistente" and not added[0].is_prefix
    assert added[0].did_id is None and added[0].expires_at is None
    assert version(portal_db) > before
    events = audit(portal_db, "blacklist.add")
    assert events[-1].actor_kind == "subscriber" and events[-1].actor == OWN
    assert events[-1].address == "127.0.0.1" and events[-1].target_id == OWN
    assert json.loads(events[-1].after)["number"] == "5598981112222"
    page = signed_in.get(response.headers["Location"])
    assert "Bloqueado: (98) 98111-2222" in text(page)
    with Session(portal_db) as s:
        rules = load_did_rules(s)["5598987654321"]
    assert any(r.number == "5598981112222" for r in rules.blacklist)


def test_add_prefix_with_did_scope_and_expiry(signed_in, csrf, portal_db):  # type: ignore[no-untyped-def]
    own_did = did(portal_db, OWN_DID)
    expiry = datetime.now(ZoneInfo("America/Fortaleza")).date() + timedelta(days=10)
    response = add(signed_in, csrf, numero="0500", prefixo="1", observacao="doações",
                   did_id=str(own_did.id), expira_em=expiry.isoformat())
    assert response.status_code == 302
    entry = [e for e in entries(portal_db) if e.number == "0500"][0]
    assert entry.is_prefix and entry.did_id == own_did.id
    # expires at the start of that day in the circuit's zone (America/Fortaleza, UTC-3)
    assert entry.expires_at == datetime(expiry.year, expiry.month, expiry.day, 3, tzinfo=timezone.utc)
    html = text(signed_in.get(response.headers["Location"]))
    assert expiry.strftime("%d/%m/%Y") in html and "(98) 98765-4321" in html


def test_add_accepts_brazilian_date(signed_in, csrf, portal_db):  # type: ignore[no-untyped-def]
    expiry = datetime.now(ZoneInfo("America/Fortaleza")).date() + timedelta(days=3)
    response = add(signed_in, csrf, numero="11977776666", expira_em=expiry.strftime("%d/%m/%Y"))
    assert response.status_code == 302
    entry = [e for e in entries(portal_db) if e.number == "5511977776666"][0]
    assert entry.expires_at is not None and entry.expires_at.date() == expiry


def test_add_to_a_sibling_circuit(signed_in, csrf, portal_db):  # type: ignore[no-untyped-def]
    sibling = circuit(portal_db, SIBLING)
    response = add(signed_in, csrf, numero="86 3221-0000", circuito_id=str(sibling.id))
    assert response.status_code == 302
    assert response.headers["Location"] == f"/blacklist?circuito={sibling.id}"
    assert [e.number for e in entries(portal_db, SIBLING) if e.number == "558632210000"]
    assert not [e for e in entries(portal_db) if e.number == "558632210000"]


@pytest.mark.parametrize("fields, message", [
    ({"numero": ""}, "Informe o número ou o prefixo a bloquear."),
    ({"numero": "12"}, "Número inválido para a blacklist"),
    ({"numero": "0303"}, "marque “Tratar como prefixo”"),
    ({"numero": "abc", "prefixo": "1"}, "Prefixo inválido: informe de 1 a 15 dígitos"),
    ({"numero": "11988887777"}, "Esse número já está na blacklist."),
    ({"numero": "0303", "prefixo": "1"}, "Esse número já está na blacklist."),
    ({"numero": "11966665555", "observacao": "x" * 201}, "A observação pode ter no máximo 200 caracteres."),
    ({"numero": "11966665555", "expira_em": "2020-01-01"}, "A data de expiração precisa estar no futuro"),
    ({"numero": "11966665555", "expira_em": "TODAY"}, "A data de expiração precisa estar no futuro"),
    ({"numero": "11966665555", "expira_em": "31/02/2027"}, "Data de expiração inválida: use o formato dd/mm/aaaa."),
    ({"numero": "11966665555", "did_id": "x"}, "Escolha um dos números da lista."),
    ({"numero": "11966665555", "did_id": "SIBLING_DID"}, "Esse número (DID) não pertence ao circuito escolhido."),
])
def test_add_validation_in_portuguese(signed_in, csrf, portal_db, fields, message):  # type: ignore[no-untyped-def]
    if fields.get("expira_em") == "TODAY":
        fields["expira_em"] = datetime.now(ZoneInfo("America/Fortaleza")).date().isoformat()
    if fields.get("did_id") == "SIBLING_DID":
        fields["did_id"] = str(did(portal_db, "+558632215500").id)
    count, before = len(entries(portal_db)), version(portal_db)
    events = len(audit(portal_db, "blacklist.add"))
    response = add(signed_in, csrf, **fields)
    assert response.status_code == 400
    html = text(response)
    assert message in html
    assert 'role="alert"' in html
    assert len(entries(portal_db)) == count and version(portal_db) == before
    assert len(audit(portal_db, "blacklist.add")) == events
    if fields.get("numero"):
        assert f'value="{fields["numero"]}"' in html  # what was typed is kept


def test_add_with_another_customers_did_is_404(signed_in, csrf, portal_db):  # type: ignore[no-untyped-def]
    foreign = did(portal_db, "+558532248800")
    response = add(signed_in, csrf, numero="11966665555", did_id=str(foreign.id))
    assert response.status_code == 404
    assert not [e for e in entries(portal_db) if e.number == "5511966665555"]


def test_add_to_another_customers_circuit_is_404(signed_in, csrf, portal_db):  # type: ignore[no-untyped-def]
    other = circuit(portal_db, OTHER)
    response = add(signed_in, csrf, numero="11966665555", circuito_id=str(other.id))
    assert response.status_code == 404
    assert not [e for e in entries(portal_db, OTHER) if e.number == "5511966665555"]


def test_block_button_from_the_call_list_goes_back(signed_in, csrf, portal_db):  # type: ignore[no-untyped-def]
    """The calls page posts only ``numero`` (as received, E.164) and ``origem``."""
    origin = "/ligacoes?mes=2026-11&tipo=recebidas"
    response = add(signed_in, csrf, numero="+5521987650000", origem=origin)
    assert response.status_code == 302
    assert response.headers["Location"] == origin
    assert [e for e in entries(portal_db) if e.number == "5521987650000"]
    with signed_in.session_transaction() as sess:
        assert ("success", "Bloqueado: (21) 98765-0000 (circuito 8011441).") in sess["_flashes"]
    # the same button again: the error goes back to the calls page as a flash
    response = add(signed_in, csrf, numero="+5521987650000", origem=origin)
    assert response.status_code == 302 and response.headers["Location"] == origin
    with signed_in.session_transaction() as sess:
        assert ("error", "Esse número já está na blacklist.") in sess["_flashes"]


@pytest.mark.parametrize("origin", ["//evil.example.com/", "https://evil.example.com/", "javascript:alert(1)",
                                    "/\t/evil.example.com", "/\\evil.example.com"])
def test_block_button_never_redirects_off_site(signed_in, csrf, portal_db, origin):  # type: ignore[no-untyped-def]
    response = add(signed_in, csrf, numero="+5521987650001", origem=origin)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/blacklist?circuito=")


# ---------------------------------------------------------------- remove

def test_remove_entry(signed_in, csrf, portal_db):  # type: ignore[no-untyped-def]
    entry = [e for e in entries(portal_db) if e.number == "5511988887777"][0]
    before = version(portal_db)
    response = signed_in.post(f"/blacklist/{entry.id}/remover", data={"csrf_token": token(signed_in, csrf)})
    assert response.status_code == 302
    assert not [e for e in entries(portal_db) if e.id == entry.id]
    assert version(portal_db) > before
    event = audit(portal_db, "blacklist.remove")[-1]
    assert event.actor == OWN and event.address == "127.0.0.1"
    assert "Desbloqueado: (11) 98888-7777." in text(signed_in.get(response.headers["Location"]))
    with Session(portal_db) as s:
        assert all(r.id != entry.id for r in load_did_rules(s)["5598987654321"].blacklist)


def test_remove_sibling_entry(signed_in, csrf, portal_db):  # type: ignore[no-untyped-def]
    entry = entries(portal_db, SIBLING)[0]
    response = signed_in.post(f"/blacklist/{entry.id}/remover", data={"csrf_token": token(signed_in, csrf)})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/blacklist?circuito={entry.circuit_id}"
    assert not [e for e in entries(portal_db, SIBLING) if e.id == entry.id]


def test_remove_another_customers_entry_is_404(signed_in, csrf, portal_db):  # type: ignore[no-untyped-def]
    foreign = entries(portal_db, OTHER)[0]
    before = version(portal_db)
    response = signed_in.post(f"/blacklist/{foreign.id}/remover", data={"csrf_token": token(signed_in, csrf)})
    assert response.status_code == 404
    assert [e for e in entries(portal_db, OTHER) if e.id == foreign.id]
    assert version(portal_db) == before
    assert signed_in.post("/blacklist/999999/remover",
                          data={"csrf_token": token(signed_in, csrf)}).status_code == 404


def test_remove_needs_post_and_csrf(signed_in, portal_db):  # type: ignore[no-untyped-def]
    entry = entries(portal_db)[0]
    assert signed_in.get(f"/blacklist/{entry.id}/remover").status_code == 405
    assert signed_in.post(f"/blacklist/{entry.id}/remover").status_code == 400
    assert [e for e in entries(portal_db) if e.id == entry.id]


# ---------------------------------------------------------------- anonymous callers

def test_block_and_allow_anonymous(signed_in, csrf, portal_db):  # type: ignore[no-untyped-def]
    own = circuit(portal_db, OWN)
    assert not own.block_anonymous
    html = text(signed_in.get("/blacklist"))
    assert "Bloquear chamadas anônimas" in html
    before = version(portal_db)
    response = signed_in.post("/blacklist/anonimos", data={"csrf_token": token(signed_in, csrf),
                                                            "circuito_id": str(own.id), "ativo": "1"})
    assert response.status_code == 302
    assert circuit(portal_db, OWN).block_anonymous
    assert version(portal_db) > before
    with Session(portal_db) as s:
        assert load_did_rules(s)["5598987654321"].block_anonymous
    event = audit(portal_db, "blacklist.anonymous")[-1]
    assert event.actor == OWN and json.loads(event.after) == {"block_anonymous": True}
    html = text(signed_in.get(response.headers["Location"]))
    assert "Chamadas anônimas (número oculto) bloqueadas." in html and "Liberar chamadas anônimas" in html
    # the same again changes nothing
    before = version(portal_db)
    signed_in.post("/blacklist/anonimos", data={"csrf_token": token(signed_in, csrf), "circuito_id": str(own.id),
                                                 "ativo": "1"})
    assert version(portal_db) == before
    signed_in.post("/blacklist/anonimos", data={"csrf_token": token(signed_in, csrf), "circuito_id": str(own.id),
                                                 "ativo": "0"})
    assert not circuit(portal_db, OWN).block_anonymous
    assert len(audit(portal_db, "blacklist.anonymous")) == 2


def test_anonymous_invalid_value_changes_nothing(signed_in, csrf, portal_db):  # type: ignore[no-untyped-def]
    response = signed_in.post("/blacklist/anonimos", data={"csrf_token": token(signed_in, csrf), "ativo": "talvez"})
    assert response.status_code == 302
    assert not circuit(portal_db, OWN).block_anonymous
    assert "Escolha se as chamadas anônimas devem ser bloqueadas ou permitidas." in text(
        signed_in.get(response.headers["Location"]))


def test_anonymous_on_another_customers_circuit_is_404(signed_in, csrf, portal_db):  # type: ignore[no-untyped-def]
    other = circuit(portal_db, OTHER)
    response = signed_in.post("/blacklist/anonimos", data={"csrf_token": token(signed_in, csrf),
                                                            "circuito_id": str(other.id), "ativo": "1"})
    assert response.status_code == 404
    assert not circuit(portal_db, OTHER).block_anonymous


# ---------------------------------------------------------------- flag off

def test_flag_off_hides_page_and_every_url(client, login, csrf, portal_db):  # type: ignore[no-untyped-def]
    assert login(client).status_code == 302
    csrf_token = csrf(client.get("/perfil").data)
    set_flag(portal_db, OWN, "blacklist", False)
    home = text(client.get("/perfil"))
    assert 'href="/blacklist"' not in home
    assert 'href="/perfil"' in home
    entry = entries(portal_db)[0]
    assert client.get("/blacklist").status_code == 404
    assert client.post("/blacklist/adicionar", data={"csrf_token": csrf_token, "numero": "11966665555"}).status_code == 404
    assert client.post(f"/blacklist/{entry.id}/remover", data={"csrf_token": csrf_token}).status_code == 404
    assert client.post("/blacklist/anonimos", data={"csrf_token": csrf_token, "ativo": "1"}).status_code == 404
    assert [e for e in entries(portal_db) if e.id == entry.id]
    assert not [e for e in entries(portal_db) if e.number == "5511966665555"]


def test_sibling_without_flag_is_404_on_post(signed_in, csrf, portal_db):  # type: ignore[no-untyped-def]
    csrf_token = token(signed_in, csrf)
    set_flag(portal_db, SIBLING, "blacklist", False)
    sibling = circuit(portal_db, SIBLING)
    entry = entries(portal_db, SIBLING)[0]
    assert signed_in.post("/blacklist/adicionar", data={"csrf_token": csrf_token, "numero": "11966665555",
                                                         "circuito_id": str(sibling.id)}).status_code == 404
    assert signed_in.post(f"/blacklist/{entry.id}/remover", data={"csrf_token": csrf_token}).status_code == 404


def test_anonymous_user_is_sent_to_login(client):  # type: ignore[no-untyped-def]
    response = client.get("/blacklist")
    assert response.status_code == 302 and "/entrar" in response.headers["Location"]
