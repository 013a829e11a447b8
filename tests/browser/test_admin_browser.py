"""The admin pages in chromium, against the real `painel web` process (SQLite and PostgreSQL).

An admin signs in, creates a customer and a circuit for it, gives the circuit a number,
turns some Gestão Web flags on and leaves the others off, and generates a web password;
then opens every other admin section (Números, Planos with a price preview, Faturas with
an invoice and its PDF, Quarentena, Mensagens, Roteadores, Auditoria). The subscriber signs
in with the new password and sees exactly the enabled pages in the menu; a disabled page's
URL answers 404. Every page visited is saved as a screenshot (see ``conftest.py``), and no
page may log a script error, a CSP violation or a failed sub-resource.
"""
from __future__ import annotations

import io
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from painel.demo import DEMO_PASSWORD
from painel.documents import make_cpf
from painel.fmt import brl
from painel.models import GESTAO_WEB_FLAGS, AuditEvent, Circuit, Customer, Did, Invoice

CUSTOMER = "PADARIA PÃO QUENTE LTDA ME"
DOCUMENT = make_cpf("390533447")
CIRCUIT = "8019990"
CIRCUIT_NAME = "PADARIA - CAIXA"
DID = "(98) 3222-9900"
#: the flags turned on; the others stay off (a new circuit starts with all of them off)
FLAGS_ON = ("web", "faturas", "blacklist", "perfil")
#: the portal menu those flags give (webui.portal.MENU), in order
MENU_ON = ["Faturas", "Blacklist", "Perfil"]
#: pages of flags left off: their URLs answer 404
OFF_PAGES = ("/tabela", "/numeros", "/mensagens", "/grafico.png")


def go(page, path: str, status: int = 200):  # type: ignore[no-untyped-def]
    response = page.goto(path)
    assert response is not None and response.status == status, (path, response and response.status)
    return response


def click_and_wait(page, locator) -> None:  # type: ignore[no-untyped-def]
    with page.expect_navigation():
        locator.click()


def flash(page, kind: str = "success") -> str:  # type: ignore[no-untyped-def]
    notice = page.locator(f"p.aviso-{kind}")
    assert notice.count() == 1, f"esperava um aviso {kind} em {page.url}: {page.locator('main').inner_text()[:800]}"
    return notice.inner_text()


def menu(page, name: str):  # type: ignore[no-untyped-def]
    return page.get_by_role("navigation", name=name).get_by_role("link")


def open_section(page, label: str) -> None:  # type: ignore[no-untyped-def]
    click_and_wait(page, page.get_by_role("navigation", name="Menu da administração").get_by_role(
        "link", name=label, exact=True))
    current = page.get_by_role("navigation", name="Menu da administração").locator("a[aria-current=page]")
    assert current.inner_text() == label


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    assert data[:5] == b"%PDF-"
    return "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages)


def test_admin_sets_up_a_subscriber_who_sees_exactly_the_enabled_pages(portal, portal_db, new_page, shots):  # type: ignore[no-untyped-def]
    engine = portal_db
    page = new_page()

    # ---- sign in
    go(page, "/admin/")
    assert "/admin/entrar" in page.url
    shots.take(page, "admin-entrar")
    page.fill("#usuario", "admin")
    page.fill("#senha", DEMO_PASSWORD)
    click_and_wait(page, page.get_by_role("button", name="Entrar"))
    assert page.url.endswith("/admin/")
    assert page.locator("h1").inner_text() == "Administração"
    assert menu(page, "Menu da administração").all_inner_texts() == [
        "Início", "Clientes", "Circuitos", "Números", "Planos", "Faturas", "Quarentena", "Mensagens", "Roteadores",
        "Auditoria"]
    shots.take(page, "admin-inicio")

    # ---- a new customer
    open_section(page, "Clientes")
    shots.take(page, "clientes")
    click_and_wait(page, page.get_by_role("link", name="Novo cliente"))
    shots.take(page, "cliente-novo")
    page.get_by_label("Nome ou razão social").fill(CUSTOMER)
    page.get_by_label("CPF ou CNPJ").fill(DOCUMENT)
    page.get_by_label("E-mail de contato (opcional)").fill("padaria@example.com.br")
    click_and_wait(page, page.get_by_role("button", name="Criar cliente"))
    assert f"Cliente {CUSTOMER} criado" in flash(page)
    assert page.locator("h1").inner_text() == CUSTOMER
    shots.take(page, "cliente-criado")

    # ---- its circuit
    click_and_wait(page, page.get_by_role("link", name="Novo circuito para este cliente"))
    assert page.locator("#circuito-cliente option:checked").inner_text() == CUSTOMER
    page.get_by_label("Número do circuito").fill(CIRCUIT)
    page.get_by_label("Nome (como aparece nas faturas)").fill(CIRCUIT_NAME)
    page.get_by_label("DDD de origem").select_option("98")
    page.get_by_label("Fuso horário").select_option("America/Fortaleza")
    page.get_by_label("Plano de tarifas").select_option(label="Plano Padrão Empresarial (PADRAO)")
    shots.take(page, "circuito-novo")
    click_and_wait(page, page.get_by_role("button", name="Criar circuito"))
    assert f"Circuito {CIRCUIT} criado" in flash(page)
    assert page.locator("h1").inner_text() == f"Circuito {CIRCUIT} - {CIRCUIT_NAME}"
    circuit_url = page.url
    shots.take(page, "circuito-criado")

    # ---- a number for it, from the circuit's page
    page.get_by_label(re.compile("Atribuir um número a este circuito")).fill(DID)
    click_and_wait(page, page.get_by_role("button", name="Atribuir número"))
    assert f"Número {DID} atribuído ao circuito {CIRCUIT}" in flash(page)
    assert page.url.startswith(circuit_url) and page.url.endswith("#numeros")
    assert page.locator("#numeros").get_by_role("link", name=DID).count() == 1
    shots.take(page, "circuito-numero-atribuido")

    # ---- Gestão Web: some on, the others left off
    gestao = page.locator("#gestao-web")
    for flag in GESTAO_WEB_FLAGS:
        assert not gestao.locator(f"#flag-{flag}").is_checked()  # a new circuit starts with everything off
    for flag in FLAGS_ON:
        gestao.locator(f"#flag-{flag}").check()
    click_and_wait(page, gestao.get_by_role("button", name="Salvar Gestão Web"))
    assert "Gestão Web atualizada: Web ligado, Faturas ligado, Blacklist ligado, Perfil ligado." in flash(page)
    for flag in GESTAO_WEB_FLAGS:
        assert page.locator(f"#flag-{flag}").is_checked() == (flag in FLAGS_ON), flag
    shots.take(page, "circuito-gestao-web")

    # ---- a new web password, shown once
    click_and_wait(page, page.locator("#gestao-web").get_by_role("button", name="Gerar nova senha"))
    password = page.locator("code.senha-gerada").inner_text().strip()
    assert len(password) == 12
    shots.take(page, "circuito-senha-gerada")
    go(page, circuit_url)
    assert password not in page.locator("body").inner_text()

    with Session(engine) as s:
        circuit = s.scalar(select(Circuit).where(Circuit.number == CIRCUIT))
        customer = s.get(Customer, circuit.customer_id)
        assert (customer.name, customer.document, circuit.home_ddd, circuit.timezone) == \
            (CUSTOMER, DOCUMENT, "98", "America/Fortaleza")
        assert {f for f in GESTAO_WEB_FLAGS if getattr(circuit, f"flag_{f}")} == set(FLAGS_ON)
        assert s.scalar(select(Did.circuit_id).where(Did.e164 == "+559832229900")) == circuit.id
        actions = set(s.scalars(select(AuditEvent.action).where(AuditEvent.actor == "admin")))
        assert {"customer.create", "circuit.create", "did.assign", "circuit.flags", "circuit.web_password"} <= actions

    # ---- the other sections
    open_section(page, "Números")
    page.get_by_label("Buscar (número, circuito ou cliente)").fill(CIRCUIT)
    click_and_wait(page, page.get_by_role("button", name="Buscar"))
    assert page.locator("table.numeros tbody tr").count() == 1
    assert DID in page.locator("table.numeros tbody tr").inner_text()
    shots.take(page, "numeros")
    click_and_wait(page, page.get_by_role("link", name="importar um CSV"))
    page.get_by_label("Ou cole as linhas aqui").fill(f"numero;circuito\n98 3222-9901;{CIRCUIT}\n")
    click_and_wait(page, page.get_by_role("button", name="Simular importação"))
    assert "Simulação (nada foi gravado)" in page.locator("#titulo-relatorio").inner_text()
    assert "(98) 3222-9901" in page.locator("table.relatorio").inner_text()
    shots.take(page, "numeros-importar-simulacao")
    click_and_wait(page, page.get_by_role("button", name="Aplicar importação"))
    assert "Importação aplicada: 1 atribuído(s)" in flash(page)
    shots.take(page, "numeros-importar-aplicado")

    open_section(page, "Planos")
    shots.take(page, "planos")
    click_and_wait(page, page.get_by_role("link", name="Plano Padrão Empresarial"))
    assert page.locator("#versao-2 .etiqueta").inner_text() == "em vigor"
    shots.take(page, "plano")
    go(page, "/admin/planos")
    click_and_wait(page, page.get_by_role("link", name="Simular o preço de uma ligação"))
    page.get_by_label("Circuito", exact=True).fill(CIRCUIT)
    page.get_by_label("Número discado").fill("3222-1234")
    page.get_by_label("Duração atendida (segundos)").fill("61")
    page.get_by_label(re.compile("^Data")).fill("2026-11-25")
    page.get_by_label(re.compile("^Hora")).fill("15:00")
    click_and_wait(page, page.get_by_role("button", name="Simular"))
    explained = page.locator("#explicacao").inner_text()
    assert f"Circuito:       {CIRCUIT} - {CIRCUIT_NAME}" in explained
    assert "Categoria:      Local fixo" in explained and "Valor:          R$ 0,11" in explained
    shots.take(page, "planos-simular")

    open_section(page, "Faturas")
    assert page.locator("table.faturas tbody tr").count() > 0
    shots.take(page, "faturas")
    first = page.locator("table.faturas tbody tr").first
    invoice_id = int(first.get_attribute("id").split("-")[1])
    click_and_wait(page, first.get_by_role("link", name=f"nº {invoice_id}"))
    with Session(engine) as s:
        total = s.get(Invoice, invoice_id).total
    assert page.locator("#fatura-total").inner_text() == brl(total)
    shots.take(page, "fatura")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download fatura (PDF)").click()
    with open(info.value.path(), "rb") as fh:
        assert brl(total) in pdf_text(fh.read())

    for label, heading in (("Quarentena", "Quarentena de CDRs"), ("Mensagens", "Mensagens"),
                           ("Roteadores", "Roteadores"), ("Auditoria", "Auditoria")):
        open_section(page, label)
        assert page.locator("h1").inner_text() == heading
        shots.take(page, label)
    assert page.locator("table.auditoria tbody tr").first.locator("td").nth(1).inner_text().startswith("admin")

    # ---- the subscriber signs in with the new password
    subscriber = new_page()
    go(subscriber, "/entrar")
    subscriber.fill("input[name=usuario]", CIRCUIT)
    subscriber.fill("input[name=senha]", password)
    click_and_wait(subscriber, subscriber.get_by_role("button", name="Entrar"))
    assert subscriber.url.endswith("/"), subscriber.url
    assert menu(subscriber, "Menu principal").all_inner_texts() == MENU_ON
    assert subscriber.locator(".fat-cliente").inner_text() == CUSTOMER
    assert subscriber.locator("section.grafico").count() == 0  # Gráfico is off
    shots.take(subscriber, "assinante-faturas")
    for label in MENU_ON[1:]:
        with subscriber.expect_navigation() as nav:
            subscriber.get_by_role("navigation", name="Menu principal").get_by_role("link", name=label).click()
        assert nav.value.status == 200, label
        shots.take(subscriber, f"assinante-{label}")
    for path in OFF_PAGES:
        go(subscriber, path, status=404)
    assert "Página não encontrada" in subscriber.locator("main").inner_text()
    shots.take(subscriber, "assinante-pagina-desligada-404")
    # the demo password never was this circuit's
    other = new_page()
    go(other, "/entrar")
    other.fill("input[name=usuario]", CIRCUIT)
    other.fill("input[name=senha]", DEMO_PASSWORD)
    with other.expect_navigation() as nav:
        other.get_by_role("button", name="Entrar").click()
    assert nav.value.status == 401
