"""The Números page: siga-me and ACB per DID, the outbound-rule check, flags, ownership, router version."""
from __future__ import annotations

import json
import re
from html import unescape

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from painel.dialing import RULE_MESSAGE
from painel.models import AuditEvent, Circuit, Did
from painel.routing import FollowMe, load_did_rules, rules_version

OWN = "8011441"
SIBLING = "8011927"
OTHER = "8011880"
MAIN_DID = "+5598987654321"  # siga-me on (no_answer, 20 s) and ACB on in the demo
SECOND_DID = "+559832221100"  # both off
SIBLING_DID = "+558632215500"
OTHER_DID = "+558532248800"


@pytest.fixture
def portal_db(demo_db):  # type: ignore[no-untyped-def]
    """The demo operator without traffic: this page needs circuits and DIDs, not CDRs."""
    return demo_db


def did(engine, e164: str) -> Did:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return s.scalar(select(Did).where(Did.e164 == e164))


def rules(engine, e164: str):  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return load_did_rules(s)[e164.lstrip("+")]


def version(engine) -> int:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return rules_version(s)


def audit(engine, action: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def set_circuit(engine, number: str, **values) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        s.execute(update(Circuit).where(Circuit.number == number).values(**values))
        s.commit()


def token(client, csrf) -> str:  # type: ignore[no-untyped-def]
    page = client.get("/perfil")  # any page with a form: the token is per session
    assert page.status_code == 200
    return csrf(page.data)


def sigame(client, csrf, did_id: int, **fields):  # type: ignore[no-untyped-def]
    return client.post(f"/numeros/{did_id}/siga-me", data={"csrf_token": token(client, csrf), **fields})


def acb(client, csrf, did_id: int, **fields):  # type: ignore[no-untyped-def]
    return client.post(f"/numeros/{did_id}/acb", data={"csrf_token": token(client, csrf), **fields})


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)


def field_error(html: str, field: str, did_id: int) -> str:
    """The error shown under one field of one DID's form."""
    found = re.search(rf'id="{field}-erro-{did_id}" role="alert">(.*?)</span>', html, re.S)
    assert found, f"no error under {field}-{did_id}"
    return unescape(found.group(1))


# ---------------------------------------------------------------- page

def test_page_lists_the_customers_dids(signed_in, portal_db):  # type: ignore[no-untyped-def]
    page = signed_in.get("/numeros")
    html = text(page)
    assert page.status_code == 200
    for shown in ("(98) 98765-4321", "(98) 3222-1100", "(98) 3222-1101", "(86) 3221-5500", "(86) 3221-5501"):
        assert shown in html
    assert "(85) 3224-8800" not in html and OTHER not in html
    main = did(portal_db, MAIN_DID)
    assert f'id="sigame-ativo-{main.id}" name="ativo" value="1" checked' in html
    assert f'id="acb-ativo-{main.id}" name="ativo" value="1" checked' in html
    second = did(portal_db, SECOND_DID)
    assert f'id="sigame-ativo-{second.id}" name="ativo" value="1">' in html
    assert 'value="0218632221234"' in html
    assert '<option value="no_answer" selected>' in html
    assert RULE_MESSAGE in html  # the seed's sentence next to the form
    for field in ("sigame-ativo", "sigame-destino", "sigame-modo", "sigame-tempo", "acb-ativo"):
        assert f'<label for="{field}-{main.id}">' in html
    assert 'style="' not in html and "<script" not in html


# ---------------------------------------------------------------- siga-me

def test_sigame_on_reaches_the_router(signed_in, csrf, portal_db):  # type: ignore[no-untyped-def]
    second = did(portal_db, SECOND_DID)
    assert rules(portal_db, SECOND_DID).follow_me is None
    before = version(portal_db)
    response = sigame(signed_in, csrf, second.id, ativo="1", destino="98981234567", modo="always", tempo="")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/numeros#numero-{second.id}")
    saved = did(portal_db, SECOND_DID)
    assert saved.followme_enabled and saved.followme_destination == "+5598981234567"
    assert saved.followme_mode == "always"
    assert version(portal_db) > before
    assert rules(portal_db, SECOND_DID).follow_me == FollowMe("98981234567", "always", 20)
    event = audit(portal_db, "followme.set")[-1]
    assert event.actor_kind == "subscriber" and event.actor == OWN and event.address == "127.0.0.1"
    assert event.target_id == SECOND_DID and json.loads(event.after)["rule"] == "movel"
    assert "Siga-me de (98) 3222-1100 ligado" in text(signed_in.get("/numeros"))


def test_sigame_no_answer_with_timeout(signed_in, csrf, portal_db):  # type: ignore[no-untyped-def]
    main = did(portal_db, MAIN_DID)
    response = sigame(signed_in, csrf, main.id, ativo="1", destino="3222-4455", modo="no_answer", tempo="35")
    assert response.status_code == 302
    assert rules(portal_db, MAIN_DID).follow_me == FollowMe("3222-4455", "no_answer", 35)
    html = text(signed_in.get("/numeros"))
    assert "para (98) 3222-4455, quando não atender após o tempo definido (35 s)" in html


def test_sigame_unavailable_on_a_sibling_circuit(signed_in, csrf, portal_db):  # type: ignore[no-untyped-def]
    sibling = did(portal_db, SIBLING_DID)
    response = sigame(signed_in, csrf, sibling.id, ativo="1", destino="86999887766", modo="unavailable")
    assert response.status_code == 302
    assert rules(portal_db, SIBLING_DID).follow_me == FollowMe("86999887766", "unavailable", 20)
    assert audit(portal_db, "followme.set")[-1].actor == OWN


def test_sigame_off(signed_in, csrf, portal_db):  # type: ignore[no-untyped-def]
    main = did(portal_db, MAIN_DID)
    assert rules(portal_db, MAIN_DID).follow_me is not None
    before = version(portal_db)
    response = sigame(signed_in, csrf, main.id, destino="0218632221234", modo="no_answer", tempo="20")
    assert response.status_code == 302
    assert not did(portal_db, MAIN_DID).followme_enabled
    assert rules(portal_db, MAIN_DID).follow_me is None
    assert version(portal_db) > before
    assert audit(portal_db, "followme.off")[-1].actor == OWN
    assert "Siga-me de (98) 98765-4321 desligado." in text(signed_in.get("/numeros"))
    # off again: nothing changes
    before = version(portal_db)
    sigame(signed_in, csrf, main.id)
    assert version(portal_db) == before
    assert len(audit(portal_db, "followme.off")) == 1


@pytest.mark.parametrize("fields, message", [
    ({"destino": "", "modo": "always"}, "Informe o número de destino do siga-me."),
    ({"destino": "9" * 65, "modo": "always"}, "O número de destino pode ter no máximo 64 caracteres."),
    ({"destino": "98981234567", "modo": "sempre"}, "Escolha quando as chamadas devem ser encaminhadas."),
    ({"destino": "98981234567", "modo": "no_answer", "tempo": "3"}, "O tempo deve ser um número inteiro de 5 a 120 segundos."),
    ({"destino": "98981234567", "modo": "no_answer", "tempo": "121"}, "de 5 a 120 segundos"),
    ({"destino": "98981234567", "modo": "no_answer", "tempo": "abc"}, "de 5 a 120 segundos"),
    ({"destino": "98981234567", "modo": "no_answer", "tempo": ""}, "de 5 a 120 segundos"),
    ({"destino": "123", "modo": "always"}, RULE_MESSAGE),
    ({"destino": "9090981234567", "modo": "always"}, "chamadas a cobrar não podem ser destino de siga-me"),
])
def test_sigame_validation_in_portuguese(signed_in, csrf, portal_db, fields, message):  # type: ignore[no-untyped-def]
    second = did(portal_db, SECOND_DID)
    before = version(portal_db)
    response = sigame(signed_in, csrf, second.id, ativo="1", **fields)
    assert response.status_code == 400
    html = text(response)
    field = "sigame-modo" if "Escolha quando" in message else "sigame-tempo" if "segundos" in message else "sigame-destino"
    assert message in field_error(html, field, second.id)
    if fields["destino"]:
        assert f'value="{fields["destino"]}"' in html  # what was typed is kept
    assert not did(portal_db, SECOND_DID).followme_enabled
    assert version(portal_db) == before
    assert audit(portal_db, "followme.set") == []


@pytest.mark.parametrize("destination, rule_words", [
    ("1132221234", "chamadas de longa distância nacional (LDN) não são permitidas"),
    ("98981234567", "chamadas para móveis não são permitidas"),
    ("0021 1 212 555 1234", "chamadas internacionais (LDI) não são permitidas"),
])
def test_sigame_destination_must_follow_outbound_rules(signed_in, csrf, portal_db, destination, rule_words):  # type: ignore[no-untyped-def]
    set_circuit(portal_db, OWN, outbound_rules=json.dumps(["local", "gratuita"]))
    second = did(portal_db, SECOND_DID)
    response = sigame(signed_in, csrf, second.id, ativo="1", destino=destination, modo="always")
    assert response.status_code == 400
    error = field_error(text(response), "sigame-destino", second.id)
    assert error.startswith(f"{RULE_MESSAGE}: {rule_words}")  # the seed's sentence and the rule it breaks
    assert error.endswith("Regras de saída deste circuito: Local fixo; Gratuitas (0800 e utilidade pública).")
    assert not did(portal_db, SECOND_DID).followme_enabled
    # allowed by the same rules: a local fixed number
    assert sigame(signed_in, csrf, second.id, ativo="1", destino="32224455", modo="always").status_code == 302
    assert json.loads(audit(portal_db, "followme.set")[-1].after)["rule"] == "local"


# ---------------------------------------------------------------- ACB

def test_acb_on_and_off_reach_the_router(signed_in, csrf, portal_db):  # type: ignore[no-untyped-def]
    second = did(portal_db, SECOND_DID)
    assert not rules(portal_db, SECOND_DID).acb
    before = version(portal_db)
    response = acb(signed_in, csrf, second.id, ativo="1")
    assert response.status_code == 302
    assert did(portal_db, SECOND_DID).acb_enabled and rules(portal_db, SECOND_DID).acb
    assert version(portal_db) > before
    event = audit(portal_db, "acb.on")[-1]
    assert event.actor == OWN and event.target_id == SECOND_DID and event.address == "127.0.0.1"
    assert "(98) 3222-1100 agora aceita chamadas a cobrar." in text(signed_in.get("/numeros"))
    before = version(portal_db)
    assert acb(signed_in, csrf, second.id).status_code == 302  # unchecked box: off
    assert not rules(portal_db, SECOND_DID).acb
    assert version(portal_db) > before
    assert audit(portal_db, "acb.off")[-1].actor == OWN


def test_acb_unchanged_is_not_a_change(signed_in, csrf, portal_db):  # type: ignore[no-untyped-def]
    main = did(portal_db, MAIN_DID)
    before = version(portal_db)
    response = acb(signed_in, csrf, main.id, ativo="1")
    assert response.status_code == 302
    assert version(portal_db) == before and audit(portal_db, "acb.on") == []
    assert "Nada mudou: (98) 98765-4321 já aceitava chamadas a cobrar." in text(signed_in.get("/numeros"))


# ---------------------------------------------------------------- ownership and flags

@pytest.mark.parametrize("path", ["siga-me", "acb"])
def test_another_customers_did_is_404(signed_in, csrf, portal_db, path):  # type: ignore[no-untyped-def]
    other = did(portal_db, OTHER_DID)
    before = version(portal_db)
    data = {"csrf_token": token(signed_in, csrf), "ativo": "1", "destino": "85999887766", "modo": "always"}
    assert signed_in.post(f"/numeros/{other.id}/{path}", data=data).status_code == 404
    assert signed_in.post(f"/numeros/999999/{path}", data=data).status_code == 404
    saved = did(portal_db, OTHER_DID)
    assert not saved.followme_enabled and not saved.acb_enabled
    assert version(portal_db) == before


def test_only_acb_flag_hides_sigame(signed_in, csrf, portal_db):  # type: ignore[no-untyped-def]
    set_circuit(portal_db, OWN, flag_sigame=False)
    main = did(portal_db, MAIN_DID)
    page = signed_in.get("/numeros")
    html = text(page)
    assert page.status_code == 200
    assert 'href="/numeros"' in html  # still in the menu (ACB is on)
    assert "/siga-me" not in html and f'action="/numeros/{main.id}/acb"' in html
    response = sigame(signed_in, csrf, main.id, ativo="1", destino="98981234567", modo="always")
    assert response.status_code == 404
    assert did(portal_db, MAIN_DID).followme_destination_raw == "0218632221234"


def test_only_sigame_flag_hides_acb(signed_in, csrf, portal_db):  # type: ignore[no-untyped-def]
    set_circuit(portal_db, OWN, flag_acb=False)
    main = did(portal_db, MAIN_DID)
    html = text(signed_in.get("/numeros"))
    assert "/acb" not in html and f'action="/numeros/{main.id}/siga-me"' in html
    assert acb(signed_in, csrf, main.id).status_code == 404
    assert did(portal_db, MAIN_DID).acb_enabled


def test_sibling_circuit_flags_apply_to_its_dids(signed_in, csrf, portal_db):  # type: ignore[no-untyped-def]
    set_circuit(portal_db, SIBLING, flag_sigame=False, flag_acb=False)
    sibling = did(portal_db, SIBLING_DID)
    html = text(signed_in.get("/numeros"))
    assert "(86) 3221-5500" not in html and SIBLING not in html
    assert sigame(signed_in, csrf, sibling.id, ativo="1", destino="86999887766", modo="always").status_code == 404
    assert acb(signed_in, csrf, sibling.id, ativo="1").status_code == 404
    saved = did(portal_db, SIBLING_DID)
    assert not saved.followme_enabled and not saved.acb_enabled


def test_both_flags_off_hide_the_page(signed_in, csrf, portal_db):  # type: ignore[no-untyped-def]
    csrf_token = token(signed_in, csrf)
    set_circuit(portal_db, OWN, flag_sigame=False, flag_acb=False)
    main = did(portal_db, MAIN_DID)
    assert 'href="/numeros"' not in text(signed_in.get("/perfil"))
    assert signed_in.get("/numeros").status_code == 404
    assert signed_in.post(f"/numeros/{main.id}/siga-me", data={"csrf_token": csrf_token, "ativo": "1",
                                                                "destino": "98981234567", "modo": "always"}
                          ).status_code == 404
    assert signed_in.post(f"/numeros/{main.id}/acb", data={"csrf_token": csrf_token}).status_code == 404
    saved = did(portal_db, MAIN_DID)
    assert saved.followme_destination_raw == "0218632221234" and saved.acb_enabled


def test_posts_need_csrf(signed_in, portal_db):  # type: ignore[no-untyped-def]
    main = did(portal_db, MAIN_DID)
    assert signed_in.post(f"/numeros/{main.id}/acb", data={}).status_code == 400
    assert signed_in.post(f"/numeros/{main.id}/siga-me", data={}).status_code == 400
    assert did(portal_db, MAIN_DID).acb_enabled and did(portal_db, MAIN_DID).followme_enabled
