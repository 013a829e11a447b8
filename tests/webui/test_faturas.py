"""The Faturas page (home of the portal), its chart and the invoice PDFs, on SQLite and PostgreSQL.

Every value the page shows is checked against ``billing.summary`` and against plain SQL
over the demo's invoices, payments and CDRs (money is stored as centavos).
"""
from __future__ import annotations

import io
from datetime import datetime, timezone
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from billing.chart import TITLE, monthly_counts, render_png
from billing.close import open_invoice_total
from billing.summary import customer_summary, history, history_years
from painel.categories import CHART_GROUPS
from painel.fmt import brl
from painel.models import Circuit, Customer, Invoice

#: as in conftest: the demo's clock, its first circuit and a circuit of another customer
NOW = datetime(2026, 11, 20, 15, tzinfo=timezone.utc)
OWN_CIRCUIT = "8011441"
OTHER_CUSTOMER_CIRCUIT = "8011880"
OWN_CIRCUITS = ("8010348", "8011441", "8011927")
CUSTOMER = "RESIDÊNCIA DO SR MARCOS ALBUQUERQUE"


@pytest.fixture
def app(app):  # type: ignore[no-untyped-def]
    """The conftest's app with the clock pinned at the demo's NOW."""
    app.config["PAINEL_CLOCK"] = lambda: NOW
    return app


# ------------------------------------------------------------------ reading pages


class Node:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent, self.children = tag, attrs, parent, []  # type: ignore[var-annotated]

    @property
    def text(self) -> str:
        parts = [c if isinstance(c, str) else c.text for c in self.children]
        return " ".join(" ".join(parts).split())

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        found = []
        for child in self.children:
            if isinstance(child, Node):
                if (tag is None or child.tag == tag) and all(
                        (v in child.attrs.get(k.rstrip("_"), "").split() if k == "class_" else child.attrs.get(k) == v)
                        for k, v in attrs.items()):
                    found.append(child)
                found.extend(child.find_all(tag, **attrs))
        return found

    def find(self, tag: str | None = None, **attrs: str) -> Node:
        found = self.find_all(tag, **attrs)
        assert found, f"no <{tag}> with {attrs}"
        return found[0]


class _Parser(HTMLParser):
    VOID = {"input", "img", "meta", "link", "br", "hr"}

    def __init__(self) -> None:
        super().__init__()
        self.root = Node("root", {}, None)
        self.at = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self.at)
        self.at.children.append(node)
        if tag not in self.VOID:
            self.at = node

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.at
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.at = node.parent

    def handle_data(self, data: str) -> None:
        self.at.children.append(data)


def page(response: Any) -> Node:
    parser = _Parser()
    parser.feed(response.get_data(as_text=True))
    return parser.root


def main_text(response: Any) -> str:
    return page(response).find("main").text


def menu_labels(response: Any) -> list[str]:
    navs = page(response).find_all("nav", **{"aria-label": "Menu principal"})
    return [a.text for nav in navs for a in nav.find_all("a")]


def pdf_text(data: bytes) -> str:
    return " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages).split())


# ------------------------------------------------------------------ the database


def cents(value: Any) -> Decimal:
    return (Decimal(int(value or 0)) / 100).quantize(Decimal("0.01"))


def ids(engine, *numbers: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return dict(s.execute(select(Circuit.number, Circuit.id).where(Circuit.number.in_(numbers))).all())  # type: ignore[arg-type]


def customer_id(engine) -> int:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        found = s.scalar(select(Customer.id).where(Customer.name == CUSTOMER))
        assert found is not None
        return found


def set_flag(engine, number: str, flag: str, value: bool) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        s.execute(update(Circuit).where(Circuit.number == number).values({f"flag_{flag}": value}))
        s.commit()


def invoice_of(engine, number: str, month: str) -> tuple[int, Decimal]:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        row = s.execute(text("SELECT i.id, i.total FROM invoices i JOIN circuits c ON c.id = i.circuit_id "
                             "WHERE c.number = :n AND i.month = :m"), {"n": number, "m": month}).one()
    return row[0], cents(row[1])


# ------------------------------------------------------------------ tests


def test_signed_out_everything_redirects_to_login(client, portal_db) -> None:  # type: ignore[no-untyped-def]
    invoice_id, _ = invoice_of(portal_db, OWN_CIRCUIT, "2026-10")
    circuit = ids(portal_db, OWN_CIRCUIT)[OWN_CIRCUIT]
    for url in ("/", "/?ano=2026", "/grafico.png", f"/faturas/{invoice_id}.pdf",
                f"/circuitos/{circuit}/fatura-aberta.pdf"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/entrar"), url


def test_summary_equals_billing_summary_and_sql(signed_in, portal_db) -> None:  # type: ignore[no-untyped-def]
    response = signed_in.get("/")
    assert response.status_code == 200
    doc = page(response)
    cid = customer_id(portal_db)
    circuits = ids(portal_db, *OWN_CIRCUITS)
    with Session(portal_db) as s:
        summary = customer_summary(s, cid, NOW)
        running = {n: open_invoice_total(s, circuits[n], "2026-11") for n in OWN_CIRCUITS}
        last_month = s.execute(text(
            "SELECT max(i.month) FROM invoices i JOIN circuits c ON c.id = i.circuit_id "
            "WHERE c.customer_id = :c AND i.state IN ('closed', 'paid')"), {"c": cid}).scalar()
        last_total, last_paid = s.execute(text(
            "SELECT sum(i.total), sum(coalesce((SELECT sum(p.amount) FROM payments p WHERE p.invoice_id = i.id), 0)) "
            "FROM invoices i JOIN circuits c ON c.id = i.circuit_id WHERE c.customer_id = :c AND i.month = :m"),
            {"c": cid, "m": last_month}).one()
    assert last_month == "2026-10"
    resumo = doc.find("section", **{"aria-labelledby": "resumo-titulo"}).text
    assert "Resumo do Cliente" in resumo and f"Cliente {CUSTOMER}" in resumo
    # Fatura em Aberto: the sum of each circuit's running month
    assert summary.open_total == sum(running.values(), Decimal("0"))
    assert doc.find(id="fatura-em-aberto").text == brl(summary.open_total)
    assert "Mês de Referência: Atual" in resumo
    # Última Fatura: October, 8011441 unpaid and 8010348 partly paid in the demo
    assert summary.last_invoice is not None and summary.last_invoice.total == cents(last_total)
    assert doc.find(id="ultima-fatura").text == brl(cents(last_total))
    outstanding = cents(last_total) - cents(last_paid)
    assert outstanding > 0
    assert f"Mês de Referência: 10/2026 · Em aberto : falta {brl(outstanding)}" in resumo
    assert "Paga" not in resumo
    # Fatura em Aberto: one entry per circuit, with its running total and links
    entries = doc.find("section", **{"aria-labelledby": "aberta-titulo"}).find("ul", class_="circuitos").find_all("li")
    assert [e.find("span", class_="nome").text for e in entries] == [
        "8010348 - TESTE CPP", "8011441 - SaperxTeste",
        "8011927 - SINDICATO DOS PROF E AUX DA ADM ESC DO ESTADO DO PIAUI"]
    for entry, number in zip(entries, OWN_CIRCUITS):
        assert f"Total: {brl(running[number])}" in entry.text
        hrefs = {a.text.split(" do circuito")[0].split(" em aberto")[0]: a.attrs["href"] for a in entry.find_all("a")}
        cid_n = circuits[number]
        assert hrefs == {
            "Download fatura": f"/circuitos/{cid_n}/fatura-aberta.pdf",
            "✓ Ligações recebidas": f"/circuitos/{cid_n}/ligacoes/recebidas?mes=2026-11",
            "➤ Ligações efetuadas": f"/circuitos/{cid_n}/ligacoes/efetuadas?mes=2026-11",
        }
    # the other customer's circuits are nowhere
    assert OTHER_CUSTOMER_CIRCUIT not in response.get_data(as_text=True)


def test_history_of_2026_and_the_year_selector(signed_in, portal_db) -> None:  # type: ignore[no-untyped-def]
    cid = customer_id(portal_db)
    with Session(portal_db) as s:
        years = history_years(s, cid)
        months = history(s, cid, 2026)
        sums = dict(s.execute(text(
            "SELECT i.month, sum(i.total) FROM invoices i JOIN circuits c ON c.id = i.circuit_id "
            "WHERE c.customer_id = :c AND i.state IN ('closed', 'paid') AND i.month LIKE '2026-%' GROUP BY i.month"),
            {"c": cid}).all())
        paid = dict(s.execute(text(
            "SELECT i.id, coalesce(sum(p.amount), 0) FROM invoices i JOIN circuits c ON c.id = i.circuit_id "
            "LEFT JOIN payments p ON p.invoice_id = i.id WHERE c.customer_id = :c GROUP BY i.id"), {"c": cid}).all())
    assert years == [2026]
    for response in (signed_in.get("/"), signed_in.get("/?ano=2026")):
        assert response.status_code == 200
        doc = page(response)
        section = doc.find("section", **{"aria-labelledby": "historico-titulo"})
        assert section.find("h2").text == "Histórico de Faturas 2026"
        rows = section.find("tbody").find_all("tr")
        assert [r.find("th").text for r in rows] == ["10/2026", "09/2026", "08/2026"]
        assert [m.label for m in months] == ["10/2026", "09/2026", "08/2026"]
        for row, month in zip(rows, ("2026-10", "2026-09", "2026-08")):
            assert row.find("td", class_="num").text == f"Total: {brl(cents(sums[month]))}"
            items = row.find_all("li")
            with Session(portal_db) as s:
                invoices = s.execute(select(Invoice.id, Invoice.total, Circuit.number)
                                     .join(Circuit, Circuit.id == Invoice.circuit_id)
                                     .where(Circuit.customer_id == cid, Invoice.month == month)
                                     .order_by(Circuit.number)).all()
            assert len(items) == len(invoices) == 3
            for item, (invoice_id, total, number) in zip(items, invoices):
                link = item.find("a")
                assert link.attrs["href"] == f"/faturas/{invoice_id}.pdf"
                assert link.text.startswith("Download fatura")
                assert item.text.startswith(f"{number} - ") and brl(total) in item.text
                owed = total - cents(paid[invoice_id])
                assert ("Paga" in item.text) == (owed <= 0)
                if owed > 0:
                    assert f"Em aberto : falta {brl(owed)}" in item.text
        # the year selector: a GET form with a labelled <select> and a button, no JavaScript
        form = section.find("form")
        assert form.attrs["method"] == "get" and form.attrs["action"] == "/"
        select_ = form.find("select", name="ano")
        assert form.find("label").attrs["for"] == select_.attrs["id"]
        assert [(o.attrs["value"], "selected" in o.attrs) for o in select_.find_all("option")] == [("2026", True)]
        assert form.find("button").attrs["type"] == "submit"
    # a year without invoices: an empty history, and the selector offers it with the others
    response = signed_in.get("/?ano=2025")
    assert response.status_code == 200
    section = page(response).find("section", **{"aria-labelledby": "historico-titulo"})
    assert section.find("h2").text == "Histórico de Faturas 2025"
    assert "Nenhuma fatura emitida em 2025." in section.text
    assert [o.attrs["value"] for o in section.find_all("option")] == ["2026", "2025"]
    assert not [a for a in section.find_all("a") if a.attrs.get("href", "").startswith("/faturas/")]
    for bad in ("abc", "20266", "1500", "-1"):
        response = signed_in.get(f"/?ano={bad}")
        assert response.status_code == 400, bad
        assert "Ano inválido" in main_text(response)


def test_invoice_pdf_download_and_ownership(signed_in, portal_db) -> None:  # type: ignore[no-untyped-def]
    invoice_id, total = invoice_of(portal_db, OWN_CIRCUIT, "2026-10")
    response = signed_in.get(f"/faturas/{invoice_id}.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == "attachment; filename=fatura-8011441-2026-10.pdf"
    assert response.data.startswith(b"%PDF")
    printed = pdf_text(response.data)
    assert f"Total da fatura {brl(total)}" in printed and "Mês de referência: 10/2026" in printed
    # a paid invoice of another circuit of the customer
    paid_id, paid_total = invoice_of(portal_db, "8011927", "2026-09")
    response = signed_in.get(f"/faturas/{paid_id}.pdf")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == "attachment; filename=fatura-8011927-2026-09.pdf"
    assert f"Total da fatura {brl(paid_total)}" in pdf_text(response.data)
    # another customer's invoice, or none at all: 404, exactly alike
    other_id, _ = invoice_of(portal_db, OTHER_CUSTOMER_CIRCUIT, "2026-10")
    with Session(portal_db) as s:
        missing = (s.scalar(text("SELECT max(id) FROM invoices")) or 0) + 1
    for url in (f"/faturas/{other_id}.pdf", f"/faturas/{missing}.pdf"):
        response = signed_in.get(url)
        assert response.status_code == 404, url
        assert response.mimetype == "text/html"
        assert "Página não encontrada" in main_text(response)


def test_open_invoice_pdf_is_the_running_month(signed_in, portal_db) -> None:  # type: ignore[no-untyped-def]
    circuits = ids(portal_db, OWN_CIRCUIT, "8011927", OTHER_CUSTOMER_CIRCUIT)
    for number in (OWN_CIRCUIT, "8011927"):
        with Session(portal_db) as s:
            running = open_invoice_total(s, circuits[number], "2026-11")
        response = signed_in.get(f"/circuitos/{circuits[number]}/fatura-aberta.pdf")
        assert response.status_code == 200
        assert response.mimetype == "application/pdf"
        assert response.headers["Content-Disposition"] == f"attachment; filename=fatura-aberta-{number}-2026-11.pdf"
        printed = pdf_text(response.data)
        assert "FATURA EM ABERTO" in printed and "Mês de referência: 11/2026" in printed
        assert f"Total parcial da fatura {brl(running)}" in printed
        assert "valores parciais até 20/11/2026 12:00" in printed
        assert page(signed_in.get("/")).find("span", class_="nome").text  # the page still answers
    with Session(portal_db) as s:
        assert s.scalar(text("SELECT count(*) FROM invoices WHERE month = '2026-11'")) == 0  # nothing stored
        missing = (s.scalar(text("SELECT max(id) FROM circuits")) or 0) + 1
    for url in (f"/circuitos/{circuits[OTHER_CUSTOMER_CIRCUIT]}/fatura-aberta.pdf", f"/circuitos/{missing}/fatura-aberta.pdf"):
        assert signed_in.get(url).status_code == 404, url


def test_chart_counts_calls_with_a_table_and_a_png(signed_in, portal_db) -> None:  # type: ignore[no-untyped-def]
    circuits = ids(portal_db, *OWN_CIRCUITS)
    with Session(portal_db) as s:
        last12 = monthly_counts(s, list(circuits.values()), "2026-11")
        year = monthly_counts(s, list(circuits.values()), "2026-12")
        # the same counts straight from SQL: answered calls the circuits placed (or accepted collect), per month
        by_month = dict(s.execute(text(
            "SELECT bill_month, count(*) FROM cdrs WHERE circuit_id IN (:a, :b, :c) AND role = 'call' "
            "AND direction IN ('outbound', 'forwarded', 'collect') AND billsec > 0 GROUP BY bill_month"),
            dict(zip("abc", circuits.values()))).all())
    assert last12.months[0] == "2025-12" and last12.months[-1] == "2026-11"
    assert {m: last12.month_total(i) for i, m in enumerate(last12.months) if last12.month_total(i)} == by_month
    response = signed_in.get("/")
    doc = page(response)
    section = doc.find("section", **{"aria-labelledby": "grafico-titulo"})
    assert section.find("h2").text == "Gráfico Mensal dos Planos"
    img = section.find("img")
    assert img.attrs["src"] == "/grafico.png"
    assert "quantidade de ligações por tipo" in img.attrs["alt"] and "de 12/2025 a 11/2026" in img.attrs["alt"]
    assert "não valores em reais" in section.find("figcaption").text
    table = section.find("details").find("table")
    assert [th.text for th in table.find("thead").find_all("th")] == ["Mês", *CHART_GROUPS.values(), "Total"]
    rows = table.find("tbody").find_all("tr")
    assert len(rows) == 12
    for i, row in enumerate(rows):
        cells = [td.text for td in row.find_all("td")]
        assert row.find("th").text == f"{last12.months[i][5:]}/{last12.months[i][:4]}"
        assert cells == [str(last12.counts[g][i]) for g in CHART_GROUPS] + [str(last12.month_total(i))]
    # the PNG: the customer's circuits, 12 months to the current one (or the year asked for)
    png = signed_in.get("/grafico.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert png.data == render_png(last12, title=TITLE)
    png_year = signed_in.get("/grafico.png?ano=2026")
    assert png_year.status_code == 200 and png_year.data == render_png(year, title=TITLE)
    assert png_year.data != png.data
    assert signed_in.get("/grafico.png?ano=x").status_code == 400
    # a chosen year moves the chart to that year
    section = page(signed_in.get("/?ano=2026")).find("section", **{"aria-labelledby": "grafico-titulo"})
    assert section.find("img").attrs["src"] == "/grafico.png?ano=2026"
    assert "de 01/2026 a 12/2026" in section.find("figcaption").text


def test_grafico_flag_off_hides_the_chart(signed_in, portal_db) -> None:  # type: ignore[no-untyped-def]
    set_flag(portal_db, OWN_CIRCUIT, "grafico", False)
    response = signed_in.get("/")
    assert response.status_code == 200
    assert "Gráfico Mensal dos Planos" not in response.get_data(as_text=True)
    assert "/grafico.png" not in response.get_data(as_text=True)
    assert "Histórico de Faturas 2026" in main_text(response)
    assert signed_in.get("/grafico.png").status_code == 404
    set_flag(portal_db, OWN_CIRCUIT, "grafico", True)
    assert signed_in.get("/grafico.png").status_code == 200


def test_faturas_flag_off_hides_page_pdfs_and_menu(signed_in, portal_db) -> None:  # type: ignore[no-untyped-def]
    invoice_id, _ = invoice_of(portal_db, OWN_CIRCUIT, "2026-10")
    circuit = ids(portal_db, OWN_CIRCUIT)[OWN_CIRCUIT]
    urls = ("/", "/?ano=2026", "/grafico.png", f"/faturas/{invoice_id}.pdf", f"/circuitos/{circuit}/fatura-aberta.pdf",
            f"/circuitos/{circuit}/ligacoes/recebidas", f"/circuitos/{circuit}/ligacoes/efetuadas?formato=csv")
    assert "Faturas" in menu_labels(signed_in.get("/"))
    set_flag(portal_db, OWN_CIRCUIT, "faturas", False)
    for url in urls:
        response = signed_in.get(url)
        assert response.status_code == 404, url
        assert "Faturas" not in menu_labels(response), url
    # the customer's other circuits keep the flag: it is the signed-in circuit's flag that counts
    with Session(portal_db) as s:
        assert s.scalar(select(Circuit.flag_faturas).where(Circuit.number == "8010348")) is True
    set_flag(portal_db, OWN_CIRCUIT, "faturas", True)
    assert signed_in.get("/").status_code == 200


def test_years_and_months_of_the_page_follow_the_clock(app, signed_in, portal_db) -> None:  # type: ignore[no-untyped-def]
    """On 1 December (Fortaleza) the running month is December: November's calls are no longer in it."""
    app.config["PAINEL_CLOCK"] = lambda: datetime(2026, 12, 1, 12, tzinfo=timezone.utc)
    circuits = ids(portal_db, *OWN_CIRCUITS)
    with Session(portal_db) as s:
        december = {n: open_invoice_total(s, circuits[n], "2026-12") for n in OWN_CIRCUITS}
    assert all(v == Decimal("37.50") for v in december.values())  # only the monthly fee so far
    doc = page(signed_in.get("/"))
    assert doc.find(id="fatura-em-aberto").text == brl(sum(december.values(), Decimal("0")))
    links = [a.attrs["href"] for a in doc.find("ul", class_="circuitos").find_all("a")]
    assert f"/circuitos/{circuits[OWN_CIRCUIT]}/ligacoes/recebidas?mes=2026-12" in links
    img = doc.find("section", **{"aria-labelledby": "grafico-titulo"}).find("img")
    assert "de 01/2026 a 12/2026" in img.attrs["alt"]


def test_repeated_links_are_what_url_for_builds(app) -> None:  # type: ignore[no-untyped-def]
    """Links built once per page (fixed_url, id_url) equal url_for's, also under a mount prefix."""
    from flask import url_for

    from webui.portal import fixed_url, id_url

    for base in ("http://localhost/", "http://localhost/painel/"):
        with app.test_request_context("/", base_url=base):
            for endpoint in ("portal.faturas", "auth.logout", "portal.perfil", "auth.sem_funcoes"):
                assert fixed_url(endpoint) == fixed_url(endpoint) == url_for(endpoint)
            pdf = id_url("portal.fatura_pdf", "invoice_id")
            listing = id_url("portal.ligacoes", "circuit_id", tipo="recebidas", mes="2026-11")
            for ident in (1, 42, 9081726354453627, 10**20):
                assert pdf(ident) == url_for("portal.fatura_pdf", invoice_id=ident)
                assert listing(ident) == url_for("portal.ligacoes", circuit_id=ident, tipo="recebidas", mes="2026-11")
