"""Planos: versions with their tariffs, a new version through ``painel.plans.new_version`` (never
rewriting the past, audited), CSV import and export, and the price preview (``explain``'s text)."""
from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from painel.models import Circuit, RatePlan, RatePlanVersion
from painel.plans import CSV_COLUMNS

#: the admin pages' clock in these tests: the operator's "today" is 20/11/2026
NOW = datetime(2026, 11, 20, 15, tzinfo=timezone.utc)
NEXT_MONTH = "2026-12-01"


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)


@pytest.fixture
def pinned(app):  # type: ignore[no-untyped-def]
    app.config["PAINEL_CLOCK"] = lambda: NOW
    return app


def versions(engine, code: str = "PADRAO") -> dict[int, RatePlanVersion]:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        plan = s.scalar(select(RatePlan).where(RatePlan.code == code))
        found = {v.version: v for v in plan.versions}
        for v in found.values():
            v.tariffs  # noqa: B018 - loaded before the session closes
        return found


# ---------------------------------------------------------------- reading

def test_list_of_plans(web, admin_db, pinned):  # type: ignore[no-untyped-def]
    html = text(web.client("support").get("/admin/planos"))
    row = html.split('<table class="planos">')[1].split("</tr>", 2)[1]
    assert f'href="/admin/planos/{web.plan_id()}">Plano Padrão Empresarial</a>' in row
    assert "<code>PADRAO</code>" in row and "versão 2, desde 01/09/2026" in row and "R$ 37,50" in row
    assert '<td class="num">6</td>' in row  # circuits on the plan
    assert "Importar planos" not in html and "somente consulta" in html  # support
    assert 'href="/admin/planos/exportar.csv"' in html and 'href="/admin/planos/simular"' in html


def test_plan_page_shows_every_version_with_its_tariffs(web, admin_db, pinned):  # type: ignore[no-untyped-def]
    html = text(web.client("support").get(f"/admin/planos/{web.plan_id()}"))
    v2 = html.split('id="versao-2"')[1].split("</section>")[0]
    v1 = html.split('id="versao-1"')[1].split("</section>")[0]
    assert html.index('id="versao-2"') < html.index('id="versao-1"')  # newest first
    assert '<span class="etiqueta destaque">em vigor</span>' in v2 and "a partir de 01/09/2026" in v2
    assert '<span class="etiqueta">anterior</span>' in v1 and "a partir de 01/01/2025 até 31/08/2026" in v1
    assert '<th scope="row">Móvel local (VC1)</th><td class="num">R$ 0,39</td>' in v2
    assert '<th scope="row">Móvel local (VC1)</th><td class="num">R$ 0,45</td>' in v1
    assert ('<th scope="row">Internacional (LDI)</th><td class="num">R$ 1,50</td><td class="num">—</td>'
            '<td class="num">R$ 0,10</td><td class="num">0 s</td><td class="num">30 s</td><td class="num">6 s</td>') in v2
    assert "Nova versão" not in html  # support: no form


def test_unknown_plan_is_404(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("admin")
    assert client.get("/admin/planos/999999").status_code == 404
    assert web.post(client, "/admin/planos/999999/versoes", {"vigencia": NEXT_MONTH}).status_code == 404


# ---------------------------------------------------------------- a new version

def test_new_version_copies_what_is_blank(web, admin_db, pinned):  # type: ignore[no-untyped-def]
    client = web.client("admin")
    page = text(client.get(f"/admin/planos/{web.plan_id()}"))
    form = page.split('id="nova-versao"')[1]
    assert 'name="vigencia" required value="2026-11-21"' in form  # tomorrow, the earliest day allowed
    assert '<label for="versao-preco_local_fixo" class="sr">Local fixo: novo preço por minuto (R$)</label>' in form
    assert "atual: R$ 0,10" in form and "atual: 30 s" in form
    response = web.post(client, f"/admin/planos/{web.plan_id()}/versoes", {
        "vigencia": "01/12/2026", "mensalidade": "39,90", "observacao": "reajuste anual",
        "preco_local_fixo": "0,12", "minimo_local_fixo": "60", "reduzido_movel_vc1": "0,2",
    })
    assert response.status_code == 302 and response.headers["Location"].endswith("#versao-3")
    assert "Versão 3 do plano Plano Padrão Empresarial publicada, vigente a partir de 01/12/2026" in \
        text(client.get(response.headers["Location"]))
    found = versions(admin_db)
    v3, v2 = found[3], found[2]
    assert v3.valid_from == date(2026, 12, 1) and v3.monthly_fee == Decimal("39.90") and v3.note == "reajuste anual"
    tariffs = {t.category: t for t in v3.tariffs}
    old = {t.category: t for t in v2.tariffs}
    assert (tariffs["local_fixo"].price_per_minute, tariffs["local_fixo"].minimum_seconds) == (Decimal("0.12"), 60)
    assert tariffs["local_fixo"].increment_seconds == old["local_fixo"].increment_seconds
    assert tariffs["movel_vc1"].reduced_price_per_minute == Decimal("0.2")
    assert tariffs["movel_vc1"].price_per_minute == old["movel_vc1"].price_per_minute
    assert set(tariffs) == set(old)
    event, before, after = web.last_event("plan.version")
    assert (event.actor, event.target_id) == ("admin", "PADRAO")
    assert before["monthly_fee"] == "37.50" and after["monthly_fee"] == "39.90"
    # the page shows it as the future version; the preview prices by the call's day
    html = text(client.get(f"/admin/planos/{web.plan_id()}"))
    assert '<span class="etiqueta">futura</span>' in html.split('id="versao-3"')[1].split("</section>")[0]
    before_day = text(client.get("/admin/planos/simular", query_string={
        "circuito": "8011441", "numero": "3222-5555", "duracao": "60", "data": "2026-11-30", "hora": "15:00"}))
    after_day = text(client.get("/admin/planos/simular", query_string={
        "circuito": "8011441", "numero": "3222-5555", "duracao": "60", "data": "2026-12-02", "hora": "15:00"}))
    assert "versão 2" in before_day and "Valor:          R$ 0,10" in before_day
    assert "versão 3" in after_day and "Valor:          R$ 0,12" in after_day


@pytest.mark.parametrize("changes, field, message", [
    ({"vigencia": ""}, "vigencia", "Informe o primeiro dia de vigência da nova versão."),
    ({"vigencia": "31/02/2026"}, "vigencia", "Data inválida: use o formato dd/mm/aaaa."),
    ({"vigencia": "2026-11-20"}, "geral", "A nova versão precisa começar no futuro (a partir de amanhã)"),
    ({"vigencia": "2026-09-01"}, "geral", "A nova versão precisa começar no futuro"),
    ({"mensalidade": "10,001"}, "mensalidade", "Mensalidade inválida: no máximo 2 casas decimais"),
    ({"mensalidade": "-5"}, "mensalidade", "Mensalidade inválida: use só números"),
    ({"preco_local_fixo": "abc"}, "preco_local_fixo", "Local fixo, preço por minuto (R$): use só números"),
    ({"preco_ldi": "0,1234567"}, "preco_ldi", "Internacional (LDI), preço por minuto (R$): no máximo 6 casas"),
    ({"incremento_movel_vc2": "0"}, "incremento_movel_vc2", "Móvel LDN (VC2), incremento (s): pelo menos 1 segundo."),
    ({"minimo_ldn_fixo": "3601"}, "minimo_ldn_fixo", "de 0 a 3600"),
    ({"faixa_reduzida": "talvez"}, "faixa_reduzida", "Escolha uma opção da lista."),
    ({"observacao": "x" * 201}, "observacao", "no máximo 200 caracteres"),
])
def test_new_version_refusals(web, admin_db, pinned, changes, field, message):  # type: ignore[no-untyped-def]
    data = {"vigencia": NEXT_MONTH, "preco_local_fixo": "0,11", **changes}
    response = web.post(web.client("admin"), f"/admin/planos/{web.plan_id()}/versoes", data)
    assert response.status_code == 400
    html = text(response)
    assert f'id="versao-{field}-erro"' in html and message in html, html.split('id="nova-versao"')[1][:3000]
    assert web.audit("plan.version") == [] and set(versions(admin_db)) == {1, 2}
    for key, value in data.items():  # what was typed stays in the form
        if key not in ("observacao", "faixa_reduzida") and value:
            assert f'value="{value}"' in html, key


def test_one_version_per_start_day(web, admin_db, pinned):  # type: ignore[no-untyped-def]
    client = web.client("admin")
    path = f"/admin/planos/{web.plan_id()}/versoes"
    assert web.post(client, path, {"vigencia": NEXT_MONTH, "mensalidade": "40"}).status_code == 302
    again = web.post(client, path, {"vigencia": NEXT_MONTH, "mensalidade": "41"})
    assert again.status_code == 400
    assert "Já existe uma versão do plano PADRAO começando em 01/12/2026." in text(again)
    # the form proposes the next free day
    assert 'name="vigencia" required value="2026-11-21"' in text(client.get(f"/admin/planos/{web.plan_id()}"))


# ---------------------------------------------------------------- CSV export and import

def test_export_csv(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("support")
    response = client.get("/admin/planos/exportar.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="planos.csv"'
    rows = list(csv.reader(io.StringIO(text(response))))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == 1 + 2 * 8  # two versions, eight categories
    first = dict(zip(CSV_COLUMNS, rows[1]))
    assert [first[c] for c in ("plan_code", "plan_name", "version", "valid_from", "category", "reduced_price_per_minute",
                               "minimum_seconds", "increment_seconds", "reduced_band", "normal_weekdays")] == \
        ["PADRAO", "Plano Padrão Empresarial", "1", "2025-01-01", "local_fixo", "", "30", "6", "não", "0 1 2 3 4 5"]
    assert Decimal(first["price_per_minute"]) == Decimal("0.10") and Decimal(first["monthly_fee"]) == Decimal("37.50")
    one = client.get("/admin/planos/exportar.csv", query_string={"plano": "PADRAO"})
    assert one.headers["Content-Disposition"] == 'attachment; filename="plano-PADRAO.csv"'
    assert client.get("/admin/planos/exportar.csv", query_string={"plano": "NAOEXISTE"}).status_code == 404


def upload(web, client, content: str, name: str = "planos.csv"):  # type: ignore[no-untyped-def]
    return web.post(client, "/admin/planos/importar", {"arquivo": (content.encode(), name)})


ECONOMICO = ("plan_code,plan_name,version,valid_from,category,price_per_minute,connection_fee,monthly_fee\n"
             "ECONOMICO,Plano Econômico,1,2026-01-01,local_fixo,0.08,0,19.90\n"
             "ECONOMICO,Plano Econômico,1,2026-01-01,movel_vc1,0.35,0,19.90\n")


def test_import_csv(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("admin")
    response = upload(web, client, ECONOMICO, "economico.csv")
    assert response.status_code == 302
    page = text(client.get(response.headers["Location"]))
    assert "Importação concluída: 1 plano(s) criado(s), 1 versão(ões) criada(s), 0 já existente(s)" in page
    assert "Plano Econômico" in page
    found = versions(admin_db, "ECONOMICO")
    assert {t.category: t.price_per_minute for t in found[1].tariffs} == {"local_fixo": Decimal("0.08"),
                                                                         "movel_vc1": Decimal("0.35")}
    event, before, after = web.last_event("rates.import")
    assert (event.actor, event.target_id) == ("admin", "ECONOMICO")
    assert before == {"ECONOMICO": []} and after["file"] == "economico.csv" and after["versions"] == {"ECONOMICO": [1]}
    # the same file again changes nothing; the export imports back unchanged
    upload(web, client, ECONOMICO)
    exported = text(client.get("/admin/planos/exportar.csv"))
    response = upload(web, client, exported)
    assert "0 plano(s) criado(s), 0 versão(ões) criada(s), 3 já existente(s) sem alteração" in \
        text(client.get(response.headers["Location"]))


@pytest.mark.parametrize("content, message", [
    ("plan_code,version\nX,1\n", "Nada foi importado. Colunas obrigatórias ausentes no CSV: valid_from, category, "
                                 "price_per_minute."),
    (ECONOMICO + "ECONOMICO,Plano Econômico,1,2026-01-01,movel_vc9,0.35,0,19.90\n",
     "Nada foi importado. Linha 4: categoria desconhecida 'movel_vc9'"),
    (ECONOMICO.replace("0.08", "-1"), "Linha 2: price_per_minute não pode ser negativo."),
    ("plan_code,plan_name,version,valid_from,category,price_per_minute\n"
     "PADRAO,Plano Padrão Empresarial,2,2026-09-01,local_fixo,0.99\n",
     "A versão 2 do plano PADRAO já existe com outros valores; publique uma nova versão com nova data de vigência."),
])
def test_import_refusals_write_nothing(web, admin_db, content, message):  # type: ignore[no-untyped-def]
    response = upload(web, web.client("admin"), content)
    assert response.status_code == 400
    assert message in text(response).replace("&#39;", "'")
    with Session(admin_db) as s:
        assert s.scalars(select(RatePlan.code)).all() == ["PADRAO"]
    assert web.audit("rates.import") == []


def test_import_without_a_file(web, admin_db):  # type: ignore[no-untyped-def]
    response = web.post(web.client("admin"), "/admin/planos/importar", {})
    assert response.status_code == 400 and "Escolha o arquivo CSV." in text(response)


# ---------------------------------------------------------------- price preview

@pytest.mark.parametrize("query, lines", [
    ({"numero": "3222-1234", "duracao": "61", "data": "2026-11-25", "hora": "15:00"},
     ["Circuito:       8011441 - SaperxTeste (DDD 98, America/Fortaleza)", "Normalizado:    +559832221234",
      "Categoria:      Local fixo", 'Plano:          PADRAO "Plano Padrão Empresarial" versão 2',
      "Início:         25/11/2026 15:00 (horário normal)", "Duração:        61 s atendidos -> 66 s tarifáveis",
      "Valor:          R$ 0,11"]),
    ({"numero": "98 98765-4321", "duracao": "20", "data": "25/11/2026"},
     ["Categoria:      Móvel local (VC1)", "20 s atendidos -> 30 s tarifáveis", "Início:         25/11/2026 12:00"]),
    ({"numero": "0800 727 1234", "duracao": "300"}, ["Categoria:      Gratuita", "Valor:          R$ 0,00"]),
    ({"numero": "00 21 1 212 555 1234", "duracao": "60", "data": "2025-06-10", "hora": "09:30"},
     ["Categoria:      Internacional (LDI)", "versão 1", "Valor:          R$ 1,60"]),
])
def test_price_preview(web, admin_db, query, lines):  # type: ignore[no-untyped-def]
    response = web.client("support").get("/admin/planos/simular", query_string={"circuito": "8011441", **query})
    assert response.status_code == 200
    shown = re.search(r'<pre class="explicacao" id="explicacao">(.*?)</pre>', text(response), re.S).group(1)
    shown = shown.replace("&#34;", '"').replace("&quot;", '"').replace("&gt;", ">")
    for line in lines:
        assert line in shown, shown


@pytest.mark.parametrize("query, field, message", [
    ({"circuito": "8000000", "numero": "3222-1234", "duracao": "60"}, "circuito", "Circuito desconhecido: 8000000."),
    ({"circuito": "", "numero": "3222-1234", "duracao": "60"}, "circuito", "Informe o circuito."),
    ({"circuito": "8011441", "numero": "", "duracao": "60"}, "numero", "Informe o número discado."),
    ({"circuito": "8011441", "numero": "3222-1234", "duracao": "1 min"}, "duracao", "Duração inválida"),
    ({"circuito": "8011441", "numero": "3222-1234", "duracao": ""}, "duracao", "Informe a duração em segundos."),
    ({"circuito": "8011441", "numero": "3222-1234", "duracao": "60", "data": "30/02/2026"}, "data", "Data inválida"),
    ({"circuito": "8011441", "numero": "3222-1234", "duracao": "60", "hora": "25:00"}, "hora", "Hora inválida"),
    ({"circuito": "8011441", "numero": "12ab", "duracao": "60"}, "erro", "Número inválido '12ab'"),
    ({"circuito": "8011441", "numero": "3222-1234", "duracao": "60", "data": "2024-06-01"}, "erro",
     "Nenhuma versão do plano vigente em 01/06/2024."),
])
def test_price_preview_refusals(web, admin_db, query, field, message):  # type: ignore[no-untyped-def]
    response = web.client("admin").get("/admin/planos/simular", query_string=query)
    assert response.status_code == 400
    html = text(response).replace("&#39;", "'")
    assert (f'id="simular-{field}-erro"' in html or f'id="simular-{field}"' in html) and message in html
    assert '<pre class="explicacao"' not in html


def test_price_preview_of_a_circuit_without_plan(web, admin_db):  # type: ignore[no-untyped-def]
    with Session(admin_db) as s:
        s.scalar(select(Circuit).where(Circuit.number == "8010348")).rate_plan_id = None
        s.commit()
    response = web.client("admin").get("/admin/planos/simular",
                                       query_string={"circuito": "8010348", "numero": "3222-1234", "duracao": "60"})
    assert response.status_code == 400 and "O circuito 8010348 não tem plano de tarifas." in text(response)


def test_the_empty_preview_form(web, admin_db):  # type: ignore[no-untyped-def]
    html = text(web.client("support").get("/admin/planos/simular", query_string={"circuito": "8011441"}))
    assert 'id="simular-circuito" name="circuito" inputmode="numeric" maxlength="20" required value="8011441"' in html
    assert "erro" not in html.split("<main>")[1].split("</form>")[0].replace("simular-", "")
    # the circuit's page links here
    circuit = text(web.client("support").get(f"/admin/circuitos/{web.circuit_id()}"))
    assert 'href="/admin/planos/simular?circuito=8011441"' in circuit


def test_today_is_the_operators(web, admin_db, pinned):  # type: ignore[no-untyped-def]
    """At 01:00 UTC on the 21st it is still the 20th in São Paulo: tomorrow is the 21st."""
    web.app.config["PAINEL_CLOCK"] = lambda: datetime(2026, 11, 21, 1, tzinfo=timezone.utc)
    html = text(web.client("admin").get(f"/admin/planos/{web.plan_id()}"))
    assert 'name="vigencia" required value="2026-11-21"' in html
    response = web.post(web.client("admin"), f"/admin/planos/{web.plan_id()}/versoes", {"vigencia": "2026-11-21"})
    assert response.status_code == 302 and versions(admin_db)[3].valid_from == date(2026, 11, 21)
