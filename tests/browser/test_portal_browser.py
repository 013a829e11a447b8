"""The subscriber portal in chromium, against the real `painel web` process (SQLite and PostgreSQL).

A demo subscriber signs in, checks the summary against the database, opens the history
of another year, downloads PDFs (their text holds the right total), opens both call
lists, adds and removes a blacklist number, tries a follow-me destination the circuit's
rules refuse (error shown) and then a valid one (saved), turns ACB on; the Faturas page
fits a phone's width. A subscriber of another customer sees none of it, and every
address of the first customer's things answers 404. Each page visited is saved as a
screenshot (see ``conftest.py``).
"""
from __future__ import annotations

import io
import json
import re
from datetime import date, datetime, time, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing.summary import customer_summary, history
from painel.demo import DEMO_PASSWORD
from painel.dialing import check_destination
from painel.fmt import brl, mes_ref
from painel.models import BlacklistEntry, Cdr, Circuit, Customer, Did, Invoice, InvoiceLine

OWN_CIRCUIT = "8011441"  # SaperxTeste
OWN_CUSTOMER = "RESIDÊNCIA DO SR MARCOS ALBUQUERQUE"
OWN_CIRCUITS = {"8011441": "SaperxTeste", "8010348": "TESTE CPP",
                "8011927": "SINDICATO DOS PROF E AUX DA ADM ESC DO ESTADO DO PIAUI"}
OWN_DID = "+559832221100"  # 8011441's second DID: siga-me and ACB off in the demo
OTHER_CIRCUIT = "8011880"  # HK DISTRIBUIDORA DE MARMORES E GRANITOS LTDA
OTHER_CUSTOMER = "HK DISTRIBUIDORA DE MARMORES E GRANITOS LTDA"
#: a month the demo closed (the call lists are checked on it: it never depends on today's date)
CLOSED_MONTH = "2026-10"
#: the year the history opens besides the current one (the conftest's earlier demo run)
OTHER_YEAR = 2025
#: the call lists' business directions
DIRECTIONS = {"recebidas": ("inbound", "collect"), "efetuadas": ("outbound", "forwarded")}
COLLECT_DESTINATION = "9090 98 98765 4321"  # a collect call: never a follow-me destination
VALID_DESTINATION = "(98) 98123-4567"
BLOCKED_NUMBER = "(86) 99876-5432"


# ------------------------------------------------------------------ helpers


def sign_in(page, number: str, password: str = DEMO_PASSWORD) -> None:  # type: ignore[no-untyped-def]
    """Through the real form; ends on the page the portal lands on (Faturas)."""
    page.goto("/entrar")
    page.fill("input[name=usuario]", number)
    page.fill("input[name=senha]", password)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.url.endswith("/"), f"o login de {number} não levou às faturas: {page.url}"


def go(page, path: str, status: int = 200):  # type: ignore[no-untyped-def]
    response = page.goto(path)
    assert response is not None and response.status == status, (path, response and response.status)
    return response


def flash(page, kind: str = "success") -> str:  # type: ignore[no-untyped-def]
    notice = page.locator(f"p.aviso-{kind}")
    assert notice.count() == 1, f"esperava um aviso {kind} em {page.url}: {page.locator('main').inner_text()[:500]}"
    return notice.inner_text()


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    assert data[:5] == b"%PDF-", data[:20]
    return "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages)


def download(page, link) -> tuple[str, bytes]:  # type: ignore[no-untyped-def]
    with page.expect_download() as info:
        link.click()
    dl = info.value
    assert dl.failure() is None, dl.failure()
    with open(dl.path(), "rb") as fh:
        return dl.suggested_filename, fh.read()


def circuit_of(session: Session, number: str) -> Circuit:
    return session.scalar(select(Circuit).where(Circuit.number == number))


def month_range(month: str, zone: str) -> tuple[datetime, datetime]:
    year, mon = (int(x) for x in month.split("-"))
    first = date(year, mon, 1)
    nxt = date(year + (mon == 12), mon % 12 + 1, 1)
    tz = ZoneInfo(zone)
    return (datetime.combine(first, time(0), tzinfo=tz).astimezone(timezone.utc),
            datetime.combine(nxt, time(0), tzinfo=tz).astimezone(timezone.utc))


def expected_calls(engine, circuit_number: str, tipo: str, month: str) -> dict:  # type: ignore[no-untyped-def]
    """What the list of ``tipo`` of ``month`` must show, straight from ``cdrs``."""
    with Session(engine) as s:
        circuit = circuit_of(s, circuit_number)
        start, end = month_range(month, circuit.timezone)
        where = (Cdr.circuit_id == circuit.id, Cdr.role == "call", Cdr.direction.in_(DIRECTIONS[tipo]),
                 Cdr.start_utc >= start, Cdr.start_utc < end)
        count, amount = s.execute(select(func.count(), func.coalesce(func.sum(Cdr.amount), 0)).where(*where)).one()
        newest = s.scalar(select(Cdr.start_utc).where(*where).order_by(Cdr.start_utc.desc()).limit(1))
        zone = ZoneInfo(circuit.timezone)
    return {"count": count, "amount": Decimal(amount), "newest": newest.astimezone(zone).strftime("%d/%m/%Y %H:%M:%S")
            if newest else None}


def check_call_list(page, engine, circuit_number: str, tipo: str, month: str) -> Decimal:  # type: ignore[no-untyped-def]
    """The list on screen matches the database: totals, rows on the page, newest call first."""
    want = expected_calls(engine, circuit_number, tipo, month)
    titulo = "Ligações recebidas" if tipo == "recebidas" else "Ligações efetuadas"
    assert titulo in page.locator("h1").inner_text()
    assert f"Circuito {circuit_number}" in page.locator("p.lig-circuito").inner_text()
    assert mes_ref(month) in page.locator("p.lig-circuito").inner_text()
    assert int(page.locator("#total-ligacoes").inner_text()) == want["count"]
    assert page.locator("#total-valor").inner_text() == brl(want["amount"])
    rows = page.locator("table.lig-tabela tbody tr")
    assert rows.count() == min(50, want["count"])
    if want["count"]:
        assert rows.first.locator("td").first.inner_text() == want["newest"]
    return want["amount"]


def no_horizontal_scroll(page) -> None:  # type: ignore[no-untyped-def]
    widths = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1] + 1, f"a página rola na horizontal em {page.url}: {widths}"


# ------------------------------------------------------------------ the subscriber


def test_subscriber_pages(portal, portal_db, new_page, shots):  # type: ignore[no-untyped-def]
    engine = portal_db
    page = new_page()
    go(page, "/entrar")
    assert page.locator("h1").inner_text() == "Entrar no painel"
    shots.take(page, "entrar")

    # a wrong password is refused with the generic message, then the right one signs in
    page.fill("input[name=usuario]", OWN_CIRCUIT)
    page.fill("input[name=senha]", "senha-errada")
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "Usuário ou senha inválidos." in flash(page, "error")
    shots.take(page, "entrar-senha-errada")
    sign_in(page, OWN_CIRCUIT)

    # ---- Faturas: the summary, against billing.summary on the same clock the portal uses
    with Session(engine) as s:
        own = circuit_of(s, OWN_CIRCUIT)
        summary = customer_summary(s, own.customer_id, datetime.now(timezone.utc))
        this_year_history = history(s, own.customer_id, summary.years[0])
        other_year_history = history(s, own.customer_id, OTHER_YEAR)
    assert page.locator("h1").inner_text() == "Faturas"
    assert page.locator(".fat-cliente").inner_text() == OWN_CUSTOMER == summary.customer_name
    assert page.locator("#fatura-em-aberto").inner_text() == brl(summary.open_total)
    assert summary.last_invoice is not None and summary.last_invoice.month == CLOSED_MONTH
    assert page.locator("#ultima-fatura").inner_text() == brl(summary.last_invoice.total)
    assert summary.last_invoice.total > 0
    last_hint = page.locator("#ultima-fatura + .dica").inner_text()
    assert mes_ref(CLOSED_MONTH) in last_hint and "Em aberto" in last_hint  # the demo leaves it unpaid
    # one entry per active circuit in Fatura em Aberto, each with its running total
    items = page.locator("ul.circuitos > li")
    assert items.count() == len(summary.open_invoices) == len(OWN_CIRCUITS)
    for item in summary.open_invoices:
        entry = items.filter(has_text=item.label)
        assert entry.count() == 1, item.label
        assert f"Total: {brl(item.total)}" in entry.inner_text()
    # the history opens on the most recent year, with every month and invoice of the database
    assert summary.years[0] == 2026 and OTHER_YEAR in summary.years
    assert page.locator("#historico-titulo").inner_text() == "Histórico de Faturas 2026"
    shown = page.locator("table.fat-historico tbody tr")
    assert [r.get_attribute("id") for r in shown.all()] == [f"mes-{m.month}" for m in this_year_history]
    for month in this_year_history:
        row = page.locator(f"#mes-{month.month}")
        assert f"Total: {brl(month.total)}" in row.inner_text()
        assert row.locator("a", has_text="Download fatura").count() == len(month.invoices)
    assert page.locator("img[src^='/grafico.png']").evaluate("img => img.complete && img.naturalWidth > 0")
    shots.take(page, "faturas")

    # ---- the history of another year
    page.select_option("#ano", str(OTHER_YEAR))
    with page.expect_navigation():
        page.get_by_role("button", name="Ver ano").click()
    assert f"ano={OTHER_YEAR}" in page.url
    assert page.locator("#historico-titulo").inner_text() == f"Histórico de Faturas {OTHER_YEAR}"
    assert other_year_history, "the fixture's earlier demo run closed months of the other year"
    shown = page.locator("table.fat-historico tbody tr")
    assert [r.get_attribute("id") for r in shown.all()] == [f"mes-{m.month}" for m in other_year_history]
    for month in other_year_history:
        row = page.locator(f"#mes-{month.month}")
        assert f"Total: {brl(month.total)}" in row.inner_text()
        for invoice in month.invoices:
            assert f"{invoice.label}: {brl(invoice.total)}" in row.inner_text()
            assert "Paga" in row.locator("li", has_text=invoice.label).inner_text()
    shots.take(page, f"faturas-{OTHER_YEAR}")

    # ---- an issued invoice's PDF, downloaded through the browser
    month = other_year_history[0]
    invoice = next(i for i in month.invoices if i.circuit_number == OWN_CIRCUIT)
    link = page.locator(f"#mes-{month.month} li", has_text=invoice.label).get_by_role("link")
    name, data = download(page, link)
    assert name == f"fatura-{OWN_CIRCUIT}-{month.month}.pdf"
    text = pdf_text(data)
    assert brl(invoice.total) in text and invoice.total > 0
    assert f"Mês de referência: {mes_ref(month.month)}" in text and f"{OWN_CIRCUIT} - SaperxTeste" in text
    assert OWN_CUSTOMER in text

    # ---- the open invoice's preview PDF (the current month to date, rendered on the fly)
    go(page, "/")
    own_open = next(i for i in summary.open_invoices if i.circuit_number == OWN_CIRCUIT)
    entry = page.locator("ul.circuitos > li", has_text=own_open.label)
    name, data = download(page, entry.get_by_role("link", name=re.compile("Download fatura")))
    assert name == f"fatura-aberta-{OWN_CIRCUIT}-{own_open.month}.pdf"
    assert brl(own_open.total) in pdf_text(data)

    # ---- both call lists: from the Faturas page (current month), then a closed month
    with page.expect_navigation():
        entry.get_by_role("link", name=re.compile("Ligações recebidas")).click()
    assert f"mes={own_open.month}" in page.url
    check_call_list(page, engine, OWN_CIRCUIT, "recebidas", own_open.month)
    shots.take(page, "ligacoes-recebidas-mes-atual")
    page.fill("#mes", CLOSED_MONTH)
    with page.expect_navigation():
        page.get_by_role("button", name="Filtrar").click()
    received = check_call_list(page, engine, OWN_CIRCUIT, "recebidas", CLOSED_MONTH)
    assert int(page.locator("#total-ligacoes").inner_text()) > 0
    shots.take(page, f"ligacoes-recebidas-{CLOSED_MONTH}")
    with page.expect_navigation():
        page.locator("nav.paginacao").get_by_role("link", name=re.compile("Ligações efetuadas")).click()
    placed = check_call_list(page, engine, OWN_CIRCUIT, "efetuadas", CLOSED_MONTH)
    assert int(page.locator("#total-ligacoes").inner_text()) > 0
    shots.take(page, f"ligacoes-efetuadas-{CLOSED_MONTH}")
    # what both lists cost is what the month's invoice charged for calls
    with Session(engine) as s:
        own = circuit_of(s, OWN_CIRCUIT)
        charged = s.scalar(select(func.sum(InvoiceLine.amount)).join(Invoice, Invoice.id == InvoiceLine.invoice_id)
                           .where(Invoice.circuit_id == own.id, Invoice.month == CLOSED_MONTH,
                                  InvoiceLine.kind == "category"))
    assert placed + received == Decimal(charged) > 0

    # ---- blacklist: add a number, see it listed, remove it
    with page.expect_navigation():
        page.get_by_role("navigation", name="Menu principal").get_by_role("link", name="Blacklist").click()
    assert page.locator("h1").inner_text() == "Blacklist"
    assert f"Circuito {OWN_CIRCUIT}" in page.locator("main h2").first.inner_text()
    shots.take(page, "blacklist")
    page.fill("#blacklist-numero", BLOCKED_NUMBER)
    page.fill("#blacklist-observacao", "teste no navegador")
    with page.expect_navigation():
        page.get_by_role("button", name="Bloquear", exact=True).click()
    assert "Bloqueado: (86) 99876-5432" in flash(page)
    row = page.locator("table.blacklist tbody tr", has_text="teste no navegador")
    assert row.count() == 1 and "(86) 99876-5432" in row.inner_text()
    with Session(engine) as s:
        entry_row = s.scalar(select(BlacklistEntry).where(BlacklistEntry.note == "teste no navegador"))
        assert entry_row is not None and entry_row.number == "5586998765432"
        assert entry_row.circuit_id == circuit_of(s, OWN_CIRCUIT).id
    shots.take(page, "blacklist-adicionado")
    with page.expect_navigation():
        row.get_by_role("button", name=re.compile("Desbloquear")).click()
    assert "Desbloqueado: (86) 99876-5432" in flash(page)
    assert page.locator("table.blacklist tbody tr", has_text="teste no navegador").count() == 0
    with Session(engine) as s:
        assert s.get(BlacklistEntry, entry_row.id) is None
    shots.take(page, "blacklist-removido")

    # ---- follow-me: a destination the circuit's rules refuse, then a valid one
    with Session(engine) as s:
        did = s.scalar(select(Did).where(Did.e164 == OWN_DID))
        rules = json.loads(circuit_of(s, OWN_CIRCUIT).outbound_rules)
        did_id, home_ddd = did.id, circuit_of(s, OWN_CIRCUIT).home_ddd
        assert not did.followme_enabled and not did.acb_enabled
    refused = check_destination(COLLECT_DESTINATION, home_ddd, rules)
    accepted = check_destination(VALID_DESTINATION, home_ddd, rules)
    assert not refused.allowed and accepted.allowed
    with page.expect_navigation():
        page.get_by_role("navigation", name="Menu principal").get_by_role("link", name="Números").click()
    assert page.locator("h1").inner_text() == "Números"
    shots.take(page, "numeros")
    section = page.locator(f"#numero-{did_id}")
    section.locator(f"#sigame-ativo-{did_id}").check()
    section.locator(f"#sigame-destino-{did_id}").fill(COLLECT_DESTINATION)
    section.locator(f"#sigame-modo-{did_id}").select_option("always")
    with page.expect_navigation():
        section.get_by_role("button", name="Salvar siga-me").click()
    error = page.locator(f"#sigame-destino-erro-{did_id}")
    assert error.count() == 1 and refused.reason in error.inner_text()
    # the refused form keeps what was typed, so it can be corrected
    assert page.locator(f"#sigame-destino-{did_id}").input_value() == COLLECT_DESTINATION
    assert page.locator(f"#sigame-ativo-{did_id}").is_checked()
    with Session(engine) as s:
        assert not s.get(Did, did_id).followme_enabled
    shots.take(page, "numeros-siga-me-recusado")
    section = page.locator(f"#numero-{did_id}")
    section.locator(f"#sigame-ativo-{did_id}").check()
    section.locator(f"#sigame-destino-{did_id}").fill(VALID_DESTINATION)
    section.locator(f"#sigame-modo-{did_id}").select_option("always")
    with page.expect_navigation():
        section.get_by_role("button", name="Salvar siga-me").click()
    assert "Siga-me de" in flash(page) and "ligado" in flash(page)
    assert "Ligado" in page.locator(f"#numero-{did_id} .estado").first.inner_text()
    # the form now shows the saved setting
    assert page.locator(f"#sigame-ativo-{did_id}").is_checked()
    assert page.locator(f"#sigame-destino-{did_id}").input_value() == VALID_DESTINATION
    assert page.locator(f"#sigame-modo-{did_id}").input_value() == "always"
    with Session(engine) as s:
        saved = s.get(Did, did_id)
        assert saved.followme_enabled and saved.followme_mode == "always"
        assert saved.followme_destination == accepted.info.e164
    shots.take(page, "numeros-siga-me-salvo")

    # ---- ACB on
    section = page.locator(f"#numero-{did_id}")
    section.locator(f"#acb-ativo-{did_id}").check()
    with page.expect_navigation():
        section.get_by_role("button", name="Salvar ACB").click()
    assert "agora aceita chamadas a cobrar" in flash(page)
    with Session(engine) as s:
        assert s.get(Did, did_id).acb_enabled
    shots.take(page, "numeros-acb-ligado")

    # ---- the other pages of the menu open too
    for label in ("Tabela", "Mensagens", "Perfil"):
        with page.expect_navigation() as nav:
            page.get_by_role("navigation", name="Menu principal").get_by_role("link", name=label).click()
        assert nav.value.status == 200, (label, nav.value.status)
        assert page.locator("h1").count() == 1
        shots.take(page, label)

    # ---- a phone's width: Faturas without horizontal scrolling
    phone = new_page(viewport={"width": 390, "height": 844})
    sign_in(phone, OWN_CIRCUIT)
    assert phone.locator("#fatura-em-aberto").inner_text() == brl(summary.open_total)
    no_horizontal_scroll(phone)
    shots.take(phone, "faturas-celular")


# ------------------------------------------------------------------ another customer


def test_other_customer_sees_nothing_of_the_first(portal, portal_db, new_page, shots):  # type: ignore[no-untyped-def]
    engine = portal_db
    with Session(engine) as s:
        own = circuit_of(s, OWN_CIRCUIT)
        other = circuit_of(s, OTHER_CIRCUIT)
        assert own.customer_id != other.customer_id
        assert s.get(Customer, other.customer_id).name == OTHER_CUSTOMER
        own_ids = {c.number: c.id for c in s.scalars(select(Circuit).where(Circuit.customer_id == own.customer_id))}
        assert set(own_ids) == set(OWN_CIRCUITS)
        own_invoice = s.scalar(select(Invoice).where(Invoice.circuit_id == own.id, Invoice.month == CLOSED_MONTH))
        own_entry = s.scalar(select(BlacklistEntry).where(BlacklistEntry.circuit_id == own.id))
        own_dids = list(s.scalars(select(Did).where(Did.circuit_id.in_(own_ids.values()))))
        did_state = {d.id: (d.followme_enabled, d.followme_destination, d.acb_enabled) for d in own_dids}
        entries_before = s.scalar(select(func.count()).select_from(BlacklistEntry)
                                  .where(BlacklistEntry.circuit_id.in_(own_ids.values())))
        other_did = s.scalar(select(Did).where(Did.circuit_id == other.id))
        other_invoice = s.scalar(select(Invoice).where(Invoice.circuit_id == other.id, Invoice.month == CLOSED_MONTH))
        own_invoice_id, own_entry_id, own_id = own_invoice.id, own_entry.id, own.id
        other_did_id, other_invoice_id, other_id = other_did.id, other_invoice.id, other.id
    # what must never show on the second customer's pages
    secrets = [OWN_CUSTOMER, *OWN_CIRCUITS, *OWN_CIRCUITS.values()]

    page = new_page()
    # without a session every page leads to the sign-in form and shows nothing
    for path in ("/", "/blacklist", "/numeros", f"/circuitos/{own_id}/ligacoes/recebidas?mes={CLOSED_MONTH}",
                 f"/faturas/{own_invoice_id}.pdf"):
        go(page, path)
        assert re.search(r"/entrar(\?|$)", page.url), (path, page.url)
        assert OWN_CUSTOMER not in page.locator("body").inner_text()
    shots.take(page, "sem-sessao")
    sign_in(page, OTHER_CIRCUIT)

    def nothing_of_the_first(where: str) -> None:
        text = page.locator("body").inner_text()
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{where} mostra dados do outro cliente: {leaked}"

    assert page.locator(".fat-cliente").inner_text() == OTHER_CUSTOMER
    assert page.locator("ul.circuitos > li").count() == 2  # 8011880 and 8011959
    nothing_of_the_first("Faturas")
    shots.take(page, "faturas-outro-cliente")
    for year in (2026, OTHER_YEAR):
        go(page, f"/?ano={year}")
        assert page.locator("table.fat-historico tbody tr").count() > 0
        nothing_of_the_first(f"Faturas {year}")
    shots.take(page, f"faturas-outro-cliente-{OTHER_YEAR}")
    # its own invoice downloads; the first customer's answers 404
    go(page, "/")
    name, data = download(page, page.locator(f"a[href='/faturas/{other_invoice_id}.pdf']"))
    assert name.startswith(f"fatura-{OTHER_CIRCUIT}-") and OTHER_CUSTOMER in pdf_text(data)
    for path in (f"/circuitos/{other_id}/ligacoes/recebidas?mes={CLOSED_MONTH}",
                 f"/circuitos/{other_id}/ligacoes/efetuadas?mes={CLOSED_MONTH}", "/blacklist", "/numeros",
                 "/tabela", "/perfil", "/mensagens"):
        go(page, path)
        nothing_of_the_first(path)
        shots.take(page, "outro-cliente" + path)

    # addresses of the first customer's things: 404, exactly like something that does not exist
    response = go(page, f"/faturas/{own_invoice_id}.pdf", status=404)
    assert "Página não encontrada" in page.locator("main").inner_text()
    shots.take(page, "outro-cliente-404")
    for path in (f"/faturas/{own_invoice_id}.pdf", f"/faturas/{own_invoice_id + 100000}.pdf",
                 f"/circuitos/{own_id}/fatura-aberta.pdf",
                 f"/circuitos/{own_id}/ligacoes/recebidas?mes={CLOSED_MONTH}",
                 f"/circuitos/{own_id}/ligacoes/efetuadas?mes={CLOSED_MONTH}",
                 f"/circuitos/{own_id}/ligacoes/efetuadas?mes={CLOSED_MONTH}&formato=csv",
                 f"/blacklist?circuito={own_id}"):
        response = page.request.get(path, max_redirects=0)
        assert response.status == 404, (path, response.status)
    # the forms, with this session's valid CSRF token: the first customer's ids answer 404
    go(page, "/numeros")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert token
    posts = [
        (f"/blacklist/{own_entry_id}/remover", {}),
        ("/blacklist/adicionar", {"circuito_id": str(own_id), "numero": VALID_DESTINATION}),
        ("/blacklist/anonimos", {"circuito_id": str(own_id), "ativo": "1"}),
    ]
    for d in own_dids:
        posts.append((f"/numeros/{d.id}/siga-me", {"ativo": "1", "destino": VALID_DESTINATION, "modo": "always"}))
        posts.append((f"/numeros/{d.id}/acb", {"ativo": "1"}))
    for path, form in posts:
        response = page.request.post(path, form={"csrf_token": token, **form}, max_redirects=0)
        assert response.status == 404, (path, response.status, response.text()[:300])
    # the same forms work on its own things (so the 404s above are about ownership, not the request)
    response = page.request.post(f"/numeros/{other_did_id}/acb", form={"csrf_token": token, "ativo": "1"},
                                 max_redirects=0)
    assert response.status == 302, response.status
    with Session(engine) as s:
        assert s.get(BlacklistEntry, own_entry_id) is not None
        assert s.scalar(select(func.count()).select_from(BlacklistEntry)
                        .where(BlacklistEntry.circuit_id.in_(own_ids.values()))) == entries_before
        assert not s.get(Circuit, own_id).block_anonymous
        for d in s.scalars(select(Did).where(Did.id.in_(did_state))):
            assert (d.followme_enabled, d.followme_destination, d.acb_enabled) == did_state[d.id]
        assert s.get(Did, other_did_id).acb_enabled

    # and the first customer's session, in its own browser context, still sees its own data only
    first = new_page()
    sign_in(first, OWN_CIRCUIT)
    assert first.locator(".fat-cliente").inner_text() == OWN_CUSTOMER
    assert OTHER_CUSTOMER not in first.locator("body").inner_text()
    assert first.request.get(f"/faturas/{other_invoice_id}.pdf", max_redirects=0).status == 404
    shots.take(first, "faturas-primeiro-cliente")

