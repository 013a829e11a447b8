"""Números (DIDs): search with the circuit, assign / move / release through ``painel.dids`` (audited,
reaching the routers), the CSV import as a dry run with a report per line and then all or nothing,
and the DIDs on the circuit's page."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from painel.models import Did
from painel.routing import load_did_rules, rules_version

OWN = "8011441"
FOLLOWED = "+5598987654321"  # 8011441's first DID: siga-me and ACB on in the demo
SECOND = "+559832221100"  # 8011441's second DID
OTHER = "+558532248800"  # 8011880's


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)


def did(engine, e164: str) -> Did | None:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return s.scalar(select(Did).where(Did.e164 == e164))


def owner(engine, e164: str) -> str | None:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        found = s.scalar(select(Did).where(Did.e164 == e164))
        return found.circuit.number if found is not None and found.circuit is not None else None


def version(engine) -> int:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return rules_version(s)


def table_numbers(html: str) -> list[str]:
    body = html.split("<tbody>")[1].split("</tbody>")[0] if "<tbody>" in html else ""
    return re.findall(r'<span class="dica">(\+\d+)</span>', body)


# ---------------------------------------------------------------- list and search

@pytest.mark.parametrize("query, expected", [
    ({}, {"+5598987654321", "+559832221100", "+559832221101", "+558632215500", "+558632215501", "+558633047700",
          "+558532248800", "+558532248801"}),
    ({"q": "(98) 3222-1100"}, {SECOND}),
    ({"q": OWN}, {FOLLOWED, SECOND}),  # the circuit's number
    ({"q": "psicomed"}, {"+558633047700"}),  # the circuit's or the customer's name
    ({"q": "hk distribuidora"}, {OTHER, "+558532248801"}),
    ({"situacao": "livres"}, set()),
    ({"q": "nada-disso"}, set()),
])
def test_search(web, admin_db, query, expected):  # type: ignore[no-untyped-def]
    response = web.client("support").get("/admin/numeros", query_string=query)
    assert response.status_code == 200
    assert set(table_numbers(text(response))) == expected


def test_each_number_shows_its_circuit_and_settings(web, admin_db):  # type: ignore[no-untyped-def]
    html = text(web.client("admin").get("/admin/numeros", query_string={"q": OWN}))
    row = html.split(f'id="did-{web.did_id(FOLLOWED)}"')[1].split("</tr>")[0]
    assert "(98) 98765-4321" in row
    assert f'href="/admin/circuitos/{web.circuit_id()}#numeros">8011441 - SaperxTeste</a>' in row
    assert "RESIDÊNCIA DO SR MARCOS ALBUQUERQUE" in row
    assert "<td>(86) 3222-1234, quando não atender após o tempo definido</td>" in row  # siga-me
    assert "aceita" in row  # ACB
    assert 'id="mover-' in row and "Liberar" in row


def test_support_reads_without_forms(web, admin_db):  # type: ignore[no-untyped-def]
    html = text(web.client("support").get("/admin/numeros"))
    assert "Atribuir um número" not in html and "Mover" not in html and "Liberar" not in html
    assert "somente consulta" in html
    assert web.client("support").get("/admin/numeros/importar").status_code == 403


# ---------------------------------------------------------------- assign, move, release

def test_assign_reaches_the_router_and_the_audit(web, admin_db):  # type: ignore[no-untyped-def]
    before = version(admin_db)
    client = web.client("admin")
    response = web.post(client, "/admin/numeros/atribuir", {"numero": "3222-7788", "circuito": OWN})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/numeros?q=559832227788"
    page = text(client.get(response.headers["Location"]))
    assert "Número (98) 3222-7788 atribuído ao circuito 8011441" in page  # DDD 98 from the circuit
    assert table_numbers(page) == ["+559832227788"]
    assert owner(admin_db, "+559832227788") == OWN
    assert version(admin_db) > before
    with Session(admin_db) as s:
        assert load_did_rules(s)["559832227788"].circuit == OWN
    event, old, new = web.last_event("did.assign")
    assert (event.actor, event.target_id, old) == ("admin", "+559832227788", None)
    assert new["circuit"] == OWN and new["acb"] is False


@pytest.mark.parametrize("data, message", [
    ({"numero": "3222-7788", "circuito": "8000000"}, "Circuito desconhecido: 8000000."),
    ({"numero": "(85) 3224-8800", "circuito": OWN}, "O número +558532248800 já pertence ao circuito 8011880; use mover."),
    ({"numero": "12ab", "circuito": OWN}, "Número inválido: contém caracteres que não são dígitos."),
    ({"numero": "0300 123 4567", "circuito": OWN}, "Um número (DID) precisa ser um número brasileiro fixo, móvel ou 0800."),
    ({"numero": "", "circuito": OWN}, "Informe o número."),
    ({"numero": "3222-7788", "circuito": ""}, "Informe o circuito."),
])
def test_assign_refusals(web, admin_db, data, message):  # type: ignore[no-untyped-def]
    response = web.post(web.client("admin"), "/admin/numeros/atribuir", data)
    assert response.status_code == 400
    html = text(response)
    assert f'id="numeros-erro">{message}</p>' in html.replace("&#39;", "'")
    assert f'value="{data["numero"]}"' in html  # what was typed stays in the form
    assert web.audit("did.assign") == []


def test_assign_to_a_deactivated_circuit_is_refused(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("admin")
    web.post(client, f"/admin/circuitos/{web.circuit_id('8010348')}/situacao", {"ativo": "0"})
    response = web.post(client, "/admin/numeros/atribuir", {"numero": "3222-7788", "circuito": "8010348"})
    assert response.status_code == 400 and "O circuito 8010348 está desativado." in text(response)


def test_move_clears_what_was_the_old_owners(web, admin_db):  # type: ignore[no-untyped-def]
    subscriber = web.client("subscriber")
    assert "98765-4321" in text(subscriber.get("/numeros"))
    before = version(admin_db)
    client = web.client("admin")
    response = web.post(client, f"/admin/numeros/{web.did_id(FOLLOWED)}/mover", {"circuito": "8012442"})
    assert response.status_code == 302
    assert "movido para o circuito 8012442" in text(client.get(response.headers["Location"]))
    moved = did(admin_db, FOLLOWED)
    assert owner(admin_db, FOLLOWED) == "8012442"
    assert not moved.followme_enabled and moved.followme_destination is None and not moved.acb_enabled
    assert version(admin_db) > before
    _event, old, new = web.last_event("did.move")
    assert (old["circuit"], old["followme"], old["acb"]) == (OWN, True, True)
    assert (new["circuit"], new["followme"], new["acb"]) == ("8012442", False, False)
    assert "98765-4321" not in text(subscriber.get("/numeros"))  # the old owner no longer sees it


@pytest.mark.parametrize("target, message", [
    (OWN, "O número +5598987654321 já é do circuito 8011441."),
    ("8000000", "Circuito desconhecido: 8000000."),
    ("", "Informe o circuito de destino."),
])
def test_move_refusals(web, admin_db, target, message):  # type: ignore[no-untyped-def]
    response = web.post(web.client("admin"), f"/admin/numeros/{web.did_id(FOLLOWED)}/mover", {"circuito": target})
    assert response.status_code == 400 and message in text(response)
    assert owner(admin_db, FOLLOWED) == OWN and web.audit("did.move") == []


def test_release_then_assign_again_from_the_free_list(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("admin")
    did_id = web.did_id(SECOND)
    response = web.post(client, f"/admin/numeros/{did_id}/liberar")
    assert response.status_code == 302
    assert "Número (98) 3222-1100 liberado" in text(client.get(response.headers["Location"]))
    assert owner(admin_db, SECOND) is None and did(admin_db, SECOND) is not None  # the row stays (CDRs name it)
    with Session(admin_db) as s:
        assert "559832221100" not in load_did_rules(s)
    _event, old, new = web.last_event("did.release")
    assert old["circuit"] == OWN and new["circuit"] is None
    free = text(client.get("/admin/numeros", query_string={"situacao": "livres"}))
    assert table_numbers(free) == [SECOND]
    row = free.split(f'id="did-{did_id}"')[1].split("</tr>")[0]
    assert "livre" in row and f'<label for="atribuir-{did_id}">Atribuir ao circuito</label>' in row
    assert f'name="numero" value="{SECOND}"' in row
    # releasing a free number again says so
    again = web.post(client, f"/admin/numeros/{did_id}/liberar")
    assert again.status_code == 400 and "Número (DID) desconhecido: +559832221100." in text(again)
    # the row's own form takes it back, to another circuit
    response = web.post(client, "/admin/numeros/atribuir", {"numero": SECOND, "circuito": "8010348"})
    assert response.status_code == 302 and owner(admin_db, SECOND) == "8010348"
    _event, old, new = web.last_event("did.assign")
    assert old["circuit"] is None and new["circuit"] == "8010348"


def test_unknown_did_is_404(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("admin")
    assert web.post(client, "/admin/numeros/999999/mover", {"circuito": OWN}).status_code == 404
    assert web.post(client, "/admin/numeros/999999/liberar").status_code == 404


# ---------------------------------------------------------------- from the circuit's page

def test_the_circuit_page_lists_its_numbers_with_links_and_assigns(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("admin")
    cid = web.circuit_id()
    html = text(client.get(f"/admin/circuitos/{cid}"))
    section = html.split('id="numeros"')[1].split("</section>")[0]
    assert '<a href="/admin/numeros?q=5598987654321">(98) 98765-4321</a>' in section
    assert '<a href="/admin/numeros?q=559832221100">(98) 3222-1100</a>' in section
    assert f'href="/admin/numeros?q={OWN}"' in section
    back = f"/admin/circuitos/{cid}#numeros"
    assert f'name="voltar" value="{back}"' in section
    response = web.post(client, "/admin/numeros/atribuir", {"numero": "3222-7700", "circuito": OWN, "voltar": back})
    assert response.status_code == 302 and response.headers["Location"] == back
    assert "(98) 3222-7700" in text(client.get(f"/admin/circuitos/{cid}")).split('id="numeros"')[1]
    # never elsewhere
    response = web.post(client, "/admin/numeros/atribuir",
                        {"numero": "3222-7701", "circuito": OWN, "voltar": "https://example.com/admin/"})
    assert response.headers["Location"] == "/admin/numeros?q=559832227701"
    support = text(web.client("support").get(f"/admin/circuitos/{cid}")).split('id="numeros"')[1]
    assert "Atribuir número" not in support.split("</section>")[0]


# ---------------------------------------------------------------- CSV import

CSV = ("numero;circuito\n"
       "98 3222-7001;8011441\n"  # new
       "(85) 3224-8800;8011441\n"  # 8011880's: moves
       "# a comment\n"
       "98 98765-4321;8011441\n")  # already there


def upload(web, client, content: str | bytes, name: str = "dids.csv"):  # type: ignore[no-untyped-def]
    data = content.encode() if isinstance(content, str) else content
    return web.post(client, "/admin/numeros/importar", {"acao": "simular", "arquivo": (data, name)})


def report_rows(html: str) -> list[tuple[str, ...]]:
    body = html.split('<table class="relatorio">')[1].split("</tbody>")[0]
    rows = []
    for row in re.findall(r"<tr class=\"resultado-\w+\">(.*?)</tr>", body, re.S):
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        rows.append(tuple(cells))
    return rows


def test_import_dry_run_then_apply(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("admin")
    assert "Simular importação" in text(client.get("/admin/numeros/importar"))
    before = version(admin_db)
    response = upload(web, client, CSV)
    assert response.status_code == 200
    html = text(response)
    assert "Simulação (nada foi gravado) · dids.csv" in html
    assert report_rows(html) == [
        ("2", "(98) 3222-7001", "8011441", "Atribuir", "novo"),
        ("3", "(85) 3224-8800", "8011441", "Mover", "muda do circuito 8011880"),
        ("5", "(98) 98765-4321", "8011441", "Sem mudança", "já está neste circuito"),
    ]
    # nothing written by the dry run
    assert did(admin_db, "+559832227001") is None and owner(admin_db, OTHER) == "8011880"
    assert version(admin_db) == before and not web.audit("did.assign") and not web.audit("did.import")
    # the apply form carries exactly what was simulated
    content = re.search(r'<textarea id="importar-conteudo" name="conteudo" rows="6" readonly>(.*?)</textarea>', html,
                        re.S).group(1)
    assert content == CSV.replace("'", "&#39;")
    response = web.post(client, "/admin/numeros/importar", {"acao": "aplicar", "nome": "dids.csv", "conteudo": CSV})
    assert response.status_code == 200
    html = text(response)
    assert "Importação aplicada · dids.csv" in html
    assert "Importação aplicada: 1 atribuído(s), 1 movido(s), 1 sem mudança." in html
    assert owner(admin_db, "+559832227001") == OWN and owner(admin_db, OTHER) == OWN
    assert version(admin_db) > before
    assert [e.target_id for e in web.audit("did.assign")] == ["+559832227001"]
    assert [e.target_id for e in web.audit("did.move")] == [OTHER]
    event, _, after = web.last_event("did.import")
    assert (event.actor, event.target_id) == ("admin", "dids.csv")
    assert after == {"file": "dids.csv", "assign": 1, "move": 1, "unchanged": 1, "lines": 3}


def test_import_with_an_error_writes_nothing(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("admin")
    content = ("98 3222-7001;8011441\n"
               "98 3222-7002;8000000\n"
               "98 3222-7001;8010348\n"
               "12ab;8011441\n"
               "so-uma-coluna\n")
    response = upload(web, client, content)
    assert response.status_code == 200  # the simulation did its job
    html = text(response)
    rows = report_rows(html)
    assert rows[0][3] == "Atribuir"
    assert rows[1][3:] == ("Erro", "circuito desconhecido: 8000000")
    assert rows[2][3:] == ("Erro", "número repetido (já na linha 1)")
    assert rows[3][3] == "Erro" and "número inválido" in rows[3][4]
    assert rows[4][3:] == ("Erro", "linha precisa de duas colunas: numero;circuito")
    assert "4 linhas com erro: nada foi gravado" in html and "Aplicar importação" not in html
    # applied anyway (a stale page, a hand-made request): checked again, all or nothing
    response = web.post(client, "/admin/numeros/importar", {"acao": "aplicar", "conteudo": content})
    assert response.status_code == 400
    assert "Importação recusada (nada foi gravado)" in text(response)
    assert did(admin_db, "+559832227001") is None and web.audit("did.assign") == [] and web.audit("did.import") == []


def test_import_accepts_pasted_lines_and_latin1(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("admin")
    response = web.post(client, "/admin/numeros/importar", {"acao": "simular", "texto": "98 3222-7003,8011441"})
    assert report_rows(text(response)) == [("1", "(98) 3222-7003", "8011441", "Atribuir", "novo")]
    latin = "número;circuito\n98 3222-7004;8011441\n".encode("latin-1")
    response = upload(web, client, latin)
    assert report_rows(text(response)) == [("2", "(98) 3222-7004", "8011441", "Atribuir", "novo")]


@pytest.mark.parametrize("data, message", [
    ({"acao": "simular"}, "Escolha o arquivo CSV ou cole as linhas."),
    ({"acao": "simular", "arquivo": (b"", "vazio.csv")}, "O arquivo está vazio."),
    ({"acao": "simular", "arquivo": (b"   \n", "branco.csv")}, "O arquivo está vazio."),
    ({"acao": "simular", "arquivo": (b"\x00\x01PK", "planilha.xlsx")}, "O arquivo não é um CSV de texto"),
    ({"acao": "aplicar", "conteudo": ""}, "Nada a aplicar: envie o arquivo e simule de novo."),
])
def test_import_refusals(web, admin_db, data, message):  # type: ignore[no-untyped-def]
    response = web.post(web.client("admin"), "/admin/numeros/importar", data)
    assert response.status_code == 400 and message in text(response)


def test_import_needs_a_known_step(web, admin_db):  # type: ignore[no-untyped-def]
    response = web.post(web.client("admin"), "/admin/numeros/importar", {"acao": "apagar-tudo"})
    assert response.status_code == 400
