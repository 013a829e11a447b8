"""Faturas: the list by month and state, one invoice as the subscriber sees it (the same PDF), rendering
the PDF again, and payments through ``billing.payments`` with its messages."""
from __future__ import annotations

import io
import re
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from painel.models import Circuit, Invoice, Payment

OWN = "8011441"
MONTH = "2026-10"
NOW = datetime(2026, 11, 20, 15, tzinfo=timezone.utc)


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    assert data[:5] == b"%PDF-"
    return "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages)


def listed(html: str) -> list[str]:
    """The invoices of the list, as "circuit month" in page order."""
    body = html.split('<table class="faturas">')[1].split("</tbody>")[0] if '<table class="faturas">' in html else ""
    return [f"{c} {m}" for m, c in re.findall(r"<td>(\d\d/\d{4})</td>\s*<td><a [^>]+>(\d+)", body)]


def invoice(engine, invoice_id: int) -> Invoice:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return s.get(Invoice, invoice_id)


@pytest.fixture
def pinned(app):  # type: ignore[no-untyped-def]
    app.config["PAINEL_CLOCK"] = lambda: NOW
    return app


# ---------------------------------------------------------------- the list

@pytest.mark.parametrize("query, expected", [
    ({}, {"8010348", "8011441", "8011880", "8011927", "8011959", "8012442"}),
    ({"mes": "10/2026"}, {"8010348", "8011441", "8011880", "8011927", "8011959", "8012442"}),
    ({"mes": "2026-10", "estado": "a-pagar"}, {"8010348", "8011441", "8011880", "8011927", "8011959", "8012442"}),
    ({"mes": "2026-09"}, set()),
    ({"estado": "pagas"}, set()),
    ({"circuito": OWN}, {OWN}),
    ({"circuito": "psicomed"}, {"8012442"}),  # the circuit's or the customer's name
    ({"circuito": "sr marcos"}, {"8010348", "8011441", "8011927"}),
])
def test_list_filters(web, admin_db, query, expected):  # type: ignore[no-untyped-def]
    response = web.client("support").get("/admin/faturas", query_string=query)
    assert response.status_code == 200
    assert {row.split()[0] for row in listed(text(response))} == expected


def test_list_rows(web, admin_db):  # type: ignore[no-untyped-def]
    html = text(web.client("support").get("/admin/faturas", query_string={"circuito": OWN}))
    row = html.split(f'id="fatura-{web.invoice_id()}"')[1].split("</tr>")[0]
    assert f'href="/admin/faturas/{web.invoice_id()}">nº {web.invoice_id()}</a>' in row
    assert "<td>10/2026</td>" in row and "RESIDÊNCIA DO SR MARCOS ALBUQUERQUE" in row
    assert '<td class="num">R$ 37,50</td><td class="num">R$ 0,00</td>' in row.replace("\n      ", "")
    assert "A pagar</span>: falta R$ 37,50" in row and "<td>11/11/2026</td>" in row


@pytest.mark.parametrize("query, message", [
    ({"mes": "13/2026"}, "Mês inválido: use mm/aaaa (ex.: 10/2026)."),
    ({"mes": "outubro"}, "Mês inválido"),
    ({"estado": "perdidas"}, "Escolha uma situação da lista."),
])
def test_bad_filters(web, admin_db, query, message):  # type: ignore[no-untyped-def]
    response = web.client("admin").get("/admin/faturas", query_string=query)
    assert response.status_code == 400 and message in text(response)


def test_pagination_keeps_the_filters(web, admin_db):  # type: ignore[no-untyped-def]
    with Session(admin_db) as s:
        circuit_id = s.scalar(select(Circuit.id).where(Circuit.number == OWN))
        for n in range(60):  # older months, paid
            year, month = divmod(n, 12)
            s.add(Invoice(circuit_id=circuit_id, month=f"{2020 + year}-{month + 1:02d}", state="paid",
                          total=Decimal("1.00"), issued_on=date(2020 + year, month + 1, 1)))
        s.commit()
    client = web.client("admin")
    first = client.get("/admin/faturas", query_string={"circuito": OWN})
    assert len(listed(text(first))) == 50 and "Página 1 de 2 (61 no total)" in text(first)
    assert listed(text(first))[0] == f"{OWN} 10/2026"  # newest month first
    link = re.search(r'href="([^"]+)" rel="next"', text(first)).group(1).replace("&amp;", "&")
    assert "circuito=8011441" in link and "pagina=2" in link
    second = client.get(link)
    assert len(listed(text(second))) == 11 and listed(text(second))[-1] == f"{OWN} 01/2020"
    assert 'rel="prev"' in text(second) and 'rel="next"' not in text(second)
    paid = client.get("/admin/faturas", query_string={"estado": "pagas", "mes": "03/2023"})
    assert listed(text(paid)) == [f"{OWN} 03/2023"]


# ---------------------------------------------------------------- one invoice

def test_invoice_as_the_subscriber_sees_it(web, admin_db, pinned):  # type: ignore[no-untyped-def]
    invoice_id = web.invoice_id()
    html = text(web.client("support").get(f"/admin/faturas/{invoice_id}"))
    card = html.split('id="como-o-assinante-ve"')[1].split("</section>")[0]
    assert "<dt>Circuito</dt><dd>8011441 - SaperxTeste</dd>" in card
    assert "<dt>Mês de referência</dt><dd>10/2026 (01/10/2026 a 31/10/2026)</dd>" in card
    assert "<dt>Vencimento</dt><dd>11/11/2026</dd>" in card
    assert "Aguardando pagamento, vencimento 11/11/2026" in card
    assert '<tr><td>Mensalidade do plano</td><td class="num"></td><td class="num"></td><td class="num">R$ 37,50</td></tr>' \
        in card
    assert '<td class="num" id="fatura-total">R$ 37,50</td>' in card
    assert f'href="/admin/faturas/{invoice_id}.pdf">Download fatura (PDF)</a>' in card
    assert "Nenhuma ligação cobrada neste mês." in card
    assert "Gerar o PDF de novo" not in html and "Registrar pagamento" not in html  # support reads only
    # the PDF is the very file the subscriber downloads from the portal
    staff = web.client("support").get(f"/admin/faturas/{invoice_id}.pdf")
    assert staff.status_code == 200 and staff.mimetype == "application/pdf"
    assert staff.headers["Content-Disposition"] == f"attachment; filename=fatura-{OWN}-{MONTH}.pdf"
    content = pdf_text(staff.data)
    assert "R$ 37,50" in content and "8011441 - SaperxTeste" in content and "Mês de referência: 10/2026" in content
    subscriber = web.client("subscriber").get(f"/faturas/{invoice_id}.pdf")
    assert subscriber.status_code == 200 and subscriber.data == staff.data


def test_render_the_pdf_again(web, admin_db, settings):  # type: ignore[no-untyped-def]
    invoice_id = web.invoice_id()
    client = web.client("admin")
    first = client.get(f"/admin/faturas/{invoice_id}.pdf").data
    stored = invoice(admin_db, invoice_id)
    path = Path(settings.var_dir) / "faturas" / stored.pdf_path
    path.unlink()  # lost on disk
    response = web.post(client, f"/admin/faturas/{invoice_id}/gerar-pdf")
    assert response.status_code == 302
    page = text(client.get(response.headers["Location"]))
    assert f"PDF da fatura {invoice_id} gerado de novo ({path.name}); o conteúdo é o mesmo de antes." in page
    assert path.read_bytes() == first
    event, before, after = web.last_event("billing.pdf")
    assert (event.actor, event.target_kind, event.target_id) == ("admin", "invoice", str(invoice_id))
    assert before == {"pdf": stored.pdf_path, "sha256": stored.pdf_sha256} and after["sha256"] == stored.pdf_sha256
    # after a payment the printed status changes: a new file, the old one removed
    web.post(client, f"/admin/faturas/{invoice_id}/pagamento", {"valor": "37,50", "data": "2026-11-05"})
    web.post(client, f"/admin/faturas/{invoice_id}/gerar-pdf")
    renewed = invoice(admin_db, invoice_id)
    assert renewed.pdf_sha256 != stored.pdf_sha256 and not path.exists()
    assert "Paga em 05/11/2026" in pdf_text(client.get(f"/admin/faturas/{invoice_id}.pdf").data)
    assert web.last_event("billing.pdf")[2]["sha256"] == renewed.pdf_sha256


def test_unknown_invoice_is_404(web, admin_db):  # type: ignore[no-untyped-def]
    client = web.client("admin")
    assert client.get("/admin/faturas/999999").status_code == 404
    assert client.get("/admin/faturas/999999.pdf").status_code == 404
    assert web.post(client, "/admin/faturas/999999/gerar-pdf").status_code == 404
    assert web.post(client, "/admin/faturas/999999/pagamento", {"valor": "1", "data": "2026-11-05"}).status_code == 404


# ---------------------------------------------------------------- payments

def test_partial_then_full_then_duplicate_payment(web, admin_db, pinned):  # type: ignore[no-untyped-def]
    invoice_id = web.invoice_id()
    client = web.client("admin")
    form = text(client.get(f"/admin/faturas/{invoice_id}")).split('id="registrar"')[1]
    assert 'name="valor" inputmode="decimal" maxlength="40" required value="37,50"' in form  # what is due
    assert 'name="data" required value="2026-11-20"' in form  # today, on the operator's clock
    path = f"/admin/faturas/{invoice_id}/pagamento"
    response = web.post(client, path, {"valor": "10,00", "data": "05/11/2026", "referencia": "BANCO-1"})
    assert response.status_code == 302 and response.headers["Location"].endswith("#pagamentos")
    page = text(client.get(response.headers["Location"]))
    assert ("Pagamento registrado: fatura {0} (8011441 - SaperxTeste, 10/2026): R$ 10,00 em 05/11/2026, ref. BANCO-1. "
            "Ainda falta R$ 27,50.").format(invoice_id) in page
    assert '<dd id="fatura-falta">R$ 27,50</dd>' in page
    assert "Parcialmente paga: R$ 10,00 de R$ 37,50; falta R$ 27,50" in page
    assert invoice(admin_db, invoice_id).state == "closed"
    event, before, after = web.last_event("billing.payment")
    assert (event.actor_kind, event.actor, event.address) == ("admin", "admin", "127.0.0.1")
    assert before == {"state": "closed", "paid": "0.00"}
    assert (after["amount"], after["paid_on"], after["reference"], after["state"]) == \
        ("10.00", "2026-11-05", "BANCO-1", "closed")
    response = web.post(client, path, {"valor": "R$ 27,50", "data": "2026-11-06", "referencia": "BANCO-2"})
    page = text(client.get(response.headers["Location"]))
    assert "A fatura está paga." in page and "Paga em 06/11/2026" in page
    paid = invoice(admin_db, invoice_id)
    assert paid.state == "paid" and paid.paid_at == NOW
    # the same bank reference again: answered, not stored
    response = web.post(client, path, {"valor": "27,50", "data": "2026-11-06", "referencia": "BANCO-2"})
    page = text(client.get(response.headers["Location"]))
    assert "Pagamento duplicado, não aplicado" in page and "Nada foi gravado." in page
    with Session(admin_db) as s:
        assert [p.reference for p in s.scalars(select(Payment).where(Payment.invoice_id == invoice_id)
                                                .order_by(Payment.id))] == ["BANCO-1", "BANCO-2"]
    assert len(web.audit("billing.payment")) == 2
    # the subscriber's portal sees it paid
    assert "Paga" in text(web.client("subscriber").get("/"))
    # more than is due: stored in full and reported
    response = web.post(client, path, {"valor": "5,00", "data": "2026-11-07"})
    assert "pago a maior em R$ 5,00" in text(client.get(response.headers["Location"]))


@pytest.mark.parametrize("data, field, message", [
    ({"valor": "", "data": "2026-11-05"}, "valor", "Informe o valor pago."),
    ({"valor": "abc", "data": "2026-11-05"}, "valor", "Valor inválido 'abc': use 37.50, 37,50 ou 1.234,56."),
    ({"valor": "-5", "data": "2026-11-05"}, "valor", "Valor '-5' inválido: o pagamento precisa ser maior que zero."),
    ({"valor": "0", "data": "2026-11-05"}, "valor", "Valor '0' inválido: o pagamento precisa ser maior que zero."),
    ({"valor": "10,555", "data": "2026-11-05"}, "valor", "tem mais de 2 casas decimais"),
    ({"valor": "10,00", "data": ""}, "data", "Informe a data do pagamento."),
    ({"valor": "10,00", "data": "31/02/2026"}, "data", "Data inválida '31/02/2026': dia inexistente."),
    ({"valor": "10,00", "data": "ontem"}, "data", "use AAAA-MM-DD ou DD/MM/AAAA"),
    ({"valor": "10,00", "data": "2026-11-05", "referencia": "R" * 201}, "referencia",
     "Referência com mais de 200 caracteres."),
])
def test_payment_refusals(web, admin_db, data, field, message):  # type: ignore[no-untyped-def]
    invoice_id = web.invoice_id()
    response = web.post(web.client("admin"), f"/admin/faturas/{invoice_id}/pagamento", data)
    assert response.status_code == 400
    html = text(response).replace("&#39;", "'")
    assert f'id="pagamento-{field}-erro"' in html and message in html
    for key in ("valor", "data"):  # what was typed stays
        assert f'name="{key}"' in html and f'value="{data[key]}"' in html.split(f'name="{key}"')[1].split(">")[0]
    assert web.audit("billing.payment") == []
    with Session(admin_db) as s:
        assert s.scalars(select(Payment)).all() == []


def test_an_open_invoice_takes_no_payment_and_has_no_pdf_yet(web, admin_db, pinned):  # type: ignore[no-untyped-def]
    with Session(admin_db) as s:
        circuit_id = s.scalar(select(Circuit.id).where(Circuit.number == OWN))
        current = Invoice(circuit_id=circuit_id, month="2026-11", state="open", total=Decimal("0"))
        s.add(current)
        s.commit()
        invoice_id = current.id
    client = web.client("admin")
    html = text(client.get(f"/admin/faturas/{invoice_id}"))
    assert "Em aberto (mês em curso)" in html and "(prévia do mês em curso)" in html
    assert "Gerar o PDF de novo" not in html and "Só faturas fechadas recebem pagamento" in html
    response = web.post(client, f"/admin/faturas/{invoice_id}/pagamento", {"valor": "10,00", "data": "2026-11-05"})
    assert response.status_code == 400 and "Esta fatura ainda está em aberto" in text(response)
    response = web.post(client, f"/admin/faturas/{invoice_id}/gerar-pdf")
    assert "não tem PDF emitido" in text(client.get(response.headers["Location"]))
    assert web.audit("billing.pdf") == [] and web.audit("billing.payment") == []
    preview = client.get(f"/admin/faturas/{invoice_id}.pdf")
    assert preview.status_code == 200
    assert preview.headers["Content-Disposition"] == f"attachment; filename=fatura-aberta-{OWN}-2026-11.pdf"
    assert "R$ 37,50" in pdf_text(preview.data)  # the monthly fee so far
