"""Invoice PDFs (``billing.pdf`` and ``painel bill pdf``) on SQLite and PostgreSQL.

The PDFs are opened with pypdf and their text is checked against the database: the
customer, the circuit, the period, every printed line, every itemized call and the total.
"""
from __future__ import annotations

import hashlib
import io
import re
from datetime import date, datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.close import close_month
from billing.payments import apply_payment
from billing.pdf import (
    CHUNK,
    FIRST_CHUNK,
    InvoiceNotFound,
    Operator,
    PrintedCall,
    call_chunks,
    ensure_pdf,
    format_number,
    load_document,
    payment_status,
    pdf_dir,
    render_month,
    render_pdf,
)
from painel.cli import main
from painel.demo import run_demo
from painel.errors import EXIT_USAGE, ValidationError
from painel.fmt import brl, duracao
from painel.models import BILLED_DIRECTIONS, Cdr, Circuit, Customer, Invoice

D = Decimal
NOW = datetime(2026, 11, 20, 15, tzinfo=timezone.utc)
MONTH = "2026-10"


@pytest.fixture
def closed_db(demo_db, settings):  # type: ignore[no-untyped-def]
    run_demo(settings, demo_db, now=NOW, calls_per_day=1.0)
    close_month(demo_db, MONTH, now=NOW)
    return demo_db


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def invoice_ids(engine, month: str = MONTH) -> list[int]:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return list(s.scalars(select(Invoice.id).where(Invoice.month == month).order_by(Invoice.id)))


def itemized(engine, invoice_id: int) -> list[Cdr]:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return list(s.scalars(select(Cdr).where(Cdr.invoice_id == invoice_id, Cdr.role == "call",
                                                Cdr.direction.in_(BILLED_DIRECTIONS), Cdr.billsec > 0)
                              .order_by(Cdr.start_utc, Cdr.id)))


# ------------------------------------------------------------------ the content


def test_pdf_text_holds_customer_period_lines_calls_and_total(closed_db, settings) -> None:  # type: ignore[no-untyped-def]
    ids = invoice_ids(closed_db)
    assert len(ids) == 6
    for invoice_id in ids:
        result = ensure_pdf(closed_db, invoice_id, settings)
        raw_text = pdf_text(result.path.read_bytes())
        text = " ".join(raw_text.split())  # cells come out on lines of their own
        with Session(closed_db) as s:
            inv = s.get(Invoice, invoice_id)
            circuit = inv.circuit
            customer = s.get(Customer, circuit.customer_id)
            assert customer.name in text  # accents included: RESIDÊNCIA, SEGURANÇA...
            assert f"{circuit.number} - {circuit.name}" in text
            assert "Mês de referência: 10/2026" in text
            assert "01/10/2026 a 31/10/2026" in text
            assert inv.issued_on.strftime("%d/%m/%Y") in text and inv.due_on.strftime("%d/%m/%Y") in text
            assert len(inv.lines) >= 2
            for line in inv.lines:
                row = f"{line.description}"
                if line.kind != "monthly_fee":
                    row += f" {line.calls} {line.billable_seconds / 60:.2f}".replace(".", ",")
                row += f" {brl(line.amount)}"
                assert row in text, f"line {row!r} missing from the PDF of invoice {invoice_id}"
            assert f"Total da fatura {brl(inv.total)}" in text
            assert inv.total == sum((line.amount for line in inv.lines), D("0"))
            assert f"Aguardando pagamento, vencimento {inv.due_on:%d/%m/%Y}" in text
            zone = ZoneInfo(circuit.timezone)
        calls = itemized(closed_db, invoice_id)
        assert calls, "the demo places calls from every circuit"
        assert f"{len(calls)} ligação(ões) tarifada(s)" in text
        lines = [" ".join(line.split()) for line in raw_text.splitlines()]
        whens = [c.start_utc.astimezone(zone).strftime("%d/%m/%Y %H:%M") for c in calls]
        positions = [lines.index(w) for w in whens if w in lines]
        assert len(positions) == len(whens), "every call's date and time is printed"
        assert positions == sorted(positions), "calls are listed in time order"
        for call in calls:
            assert brl(call.amount) in text and duracao(call.billsec) in text
            assert format_number(call.number_e164, call.destination_raw) in text
        printed_sum = sum((c.amount for c in calls), D("0"))
        assert printed_sum == sum((line.amount for line in inv.lines if line.kind != "monthly_fee"), D("0"))


def test_pdf_embeds_its_own_font_and_renders_accents(closed_db, settings) -> None:  # type: ignore[no-untyped-def]
    result = ensure_pdf(closed_db, invoice_ids(closed_db)[0], settings)
    reader = PdfReader(str(result.path))
    shown_with = set()
    for page in reader.pages:
        fonts = {name: font.get_object() for name, font in page["/Resources"]["/Font"].items()}
        content = page.get_contents().get_data().decode("latin-1")
        # ReportLab selects its default font in empty BT/ET blocks; what matters is the
        # font of every block that shows text
        for block in re.findall(r"BT(.*?)ET", content, re.S):
            if re.search(r"\)\s*Tj|\]\s*TJ", block):
                shown_with.update(re.findall(r"(/F[\w+]+) [\d.]+ Tf", block))
    assert shown_with
    for name in shown_with:
        font = fonts[name]
        assert "DejaVuSans" in str(font["/BaseFont"]), font["/BaseFont"]
        descendant = font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font else font
        descriptor = descendant["/FontDescriptor"].get_object()
        assert "/FontFile2" in descriptor, "the TrueType font is embedded"
    text = pdf_text(result.path.read_bytes())
    for word in ("Mês de referência", "Situação", "Gráfico Mensal dos Planos", "Detalhamento das ligações",
                 "Mensalidade do plano", "Duração"):
        assert word in text


def test_open_and_unknown_invoices_are_refused(closed_db, settings) -> None:  # type: ignore[no-untyped-def]
    with Session(closed_db) as s:
        circuit = s.scalar(select(Circuit).where(Circuit.number == "8011441"))
        s.add(Invoice(circuit_id=circuit.id, month="2026-11", state="open"))
        s.commit()
        open_id = s.scalar(select(Invoice.id).where(Invoice.month == "2026-11"))
    with pytest.raises(ValidationError, match="ainda está aberta"):
        ensure_pdf(closed_db, open_id, settings)
    with pytest.raises(InvoiceNotFound, match="fatura 99999 não encontrada"):
        ensure_pdf(closed_db, 99999, settings)


# ------------------------------------------------------------------ deterministic files


def test_same_data_same_bytes_and_checksum_is_stored(closed_db, settings) -> None:  # type: ignore[no-untyped-def]
    invoice_id = invoice_ids(closed_db)[1]
    with Session(closed_db) as s:
        doc = load_document(s, invoice_id, Operator.from_settings(settings))
    first, second = render_pdf(doc), render_pdf(doc)
    assert first == second and first.startswith(b"%PDF-")
    result = ensure_pdf(closed_db, invoice_id, settings)
    assert result.rendered and result.path.read_bytes() == first
    with Session(closed_db) as s:
        inv = s.get(Invoice, invoice_id)
        assert inv.pdf_sha256 == hashlib.sha256(first).hexdigest() == result.sha256
        assert (pdf_dir(settings) / inv.pdf_path) == result.path
    again = ensure_pdf(closed_db, invoice_id, settings)
    assert not again.rendered and again.sha256 == result.sha256


def test_missing_or_altered_file_is_regenerated_identically(closed_db, settings) -> None:  # type: ignore[no-untyped-def]
    invoice_id = invoice_ids(closed_db)[0]
    original = ensure_pdf(closed_db, invoice_id, settings)
    original.path.unlink()
    rebuilt = ensure_pdf(closed_db, invoice_id, settings)
    assert rebuilt.rendered and rebuilt.sha256 == original.sha256 and rebuilt.path.exists()
    rebuilt.path.write_bytes(b"%PDF-1.4 truncated")
    repaired = ensure_pdf(closed_db, invoice_id, settings)
    assert repaired.rendered and hashlib.sha256(repaired.path.read_bytes()).hexdigest() == original.sha256


def test_a_payment_changes_the_printed_status_and_the_file(closed_db, settings) -> None:  # type: ignore[no-untyped-def]
    invoice_id = invoice_ids(closed_db)[0]
    before = ensure_pdf(closed_db, invoice_id, settings)
    with Session(closed_db) as s:
        inv = s.get(Invoice, invoice_id)
        total = inv.total
    register = apply_payment(closed_db, invoice_id, total, date(2026, 11, 25), "BB-1", now=NOW)
    assert register.became_paid and register.balance.is_paid
    after = ensure_pdf(closed_db, invoice_id, settings)
    assert after.rendered and after.sha256 != before.sha256 and after.path != before.path
    assert not before.path.exists(), "the out-of-date file is removed"
    assert "Paga em 25/11/2026" in pdf_text(after.path.read_bytes())


# ------------------------------------------------------------------ a whole month, the CLI


def test_render_month_in_worker_processes(closed_db, settings) -> None:  # type: ignore[no-untyped-def]
    seen = []
    result = render_month(closed_db, settings, MONTH, workers=2, batch=2, progress=seen.append)
    assert (result.rendered, result.current, result.failed) == (6, 0, 0)
    assert sum(seen) == 6
    with Session(closed_db) as s:
        for inv in s.scalars(select(Invoice).where(Invoice.month == MONTH)):
            data = (pdf_dir(settings) / inv.pdf_path).read_bytes()
            assert hashlib.sha256(data).hexdigest() == inv.pdf_sha256
            assert inv.circuit.number in pdf_text(data)
    again = render_month(closed_db, settings, MONTH, workers=2, batch=2)
    assert again.summary() == "rendered=0 current=6 failed=0"


def test_cli_bill_pdf(closed_db, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    env = {"PAINEL_DATABASE_URL": settings.database_url, "PAINEL_VAR_DIR": settings.var_dir}
    invoice_id = invoice_ids(closed_db)[0]
    out = tmp_path / "f.pdf"
    res = runner.invoke(main, ["bill", "pdf", "--invoice", str(invoice_id), "-o", str(out)], env=env)
    assert res.exit_code == 0, res.output
    with Session(closed_db) as s:
        assert hashlib.sha256(out.read_bytes()).hexdigest() == s.get(Invoice, invoice_id).pdf_sha256
    assert f"fatura {invoice_id}: {out} (gerado, sha256 " in res.output
    res = runner.invoke(main, ["bill", "pdf", "--month", MONTH, "--workers", "1"], env=env)
    assert res.exit_code == 0, res.output
    assert res.output.strip().splitlines()[-1] == "rendered=5 current=1 failed=0"
    res = runner.invoke(main, ["bill", "pdf", "--invoice", "99999"], env=env)
    assert res.exit_code == EXIT_USAGE and "fatura 99999 não encontrada" in res.output
    res = runner.invoke(main, ["bill", "pdf", "--invoice", "1", "--month", MONTH], env=env)
    assert res.exit_code == EXIT_USAGE and "um dos três" in res.output
    res = runner.invoke(main, ["bill", "pdf", "--month", "2026-13"], env=env)
    assert res.exit_code == EXIT_USAGE and "mês inválido" in res.output


def test_cli_bill_pdf_previous_month(closed_db, settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The nightly job's second step: the PDFs of the month `bill close --previous-month` just closed."""
    import billing.close

    asked = []

    def last_month(engine, *, circuit=None, now=None):  # type: ignore[no-untyped-def]
        asked.append(circuit)
        return MONTH  # the month billing.close.previous_month would give on NOW

    monkeypatch.setattr(billing.close, "previous_month", last_month)
    runner = CliRunner()
    env = {"PAINEL_DATABASE_URL": settings.database_url, "PAINEL_VAR_DIR": settings.var_dir}
    res = runner.invoke(main, ["bill", "pdf", "--previous-month", "--workers", "1"], env=env)
    assert res.exit_code == 0, res.output
    assert res.output.strip().splitlines()[-1] == "rendered=6 current=0 failed=0"
    res = runner.invoke(main, ["bill", "pdf", "--previous-month", "--circuit", "8011441", "--workers", "1"], env=env)
    assert res.exit_code == 0, res.output
    assert res.output.strip().splitlines()[-1] == "rendered=0 current=1 failed=0"
    assert asked == [None, "8011441"]
    for args in (["--previous-month", "--month", MONTH], ["--previous-month", "--invoice", "1"]):
        res = runner.invoke(main, ["bill", "pdf", *args], env=env)
        assert res.exit_code == EXIT_USAGE and "um dos três" in res.output


# ------------------------------------------------------------------ pure parts


@pytest.mark.parametrize("e164, raw, shown", [
    ("+5511987654321", "", "(11) 98765-4321"),
    ("+558632221234", "", "(86) 3222-1234"),
    ("+558007271234", "", "0800 727 1234"),
    ("+553003123456", "", "0300 312 3456"),
    ("190", "190", "190"),
    ("40048048", "", "40048048"),
    ("+12125550100", "", "+1 212-555-0100"),
    ("+351213456789", "", "+351 21 345 6789"),
    (None, "anonymous", "anonymous"),
    (None, "", "—"),
])
def test_format_number(e164, raw, shown) -> None:  # type: ignore[no-untyped-def]
    assert format_number(e164, raw) == shown


@pytest.mark.parametrize("state, total, paid, paid_on, expected", [
    ("closed", "63.45", "0", None, ("Aguardando pagamento, vencimento 08/12/2026", False)),
    ("closed", "63.45", "20.00", date(2026, 12, 1), ("Parcialmente paga: R$ 20,00 de R$ 63,45; falta R$ 43,45", False)),
    ("paid", "63.45", "63.45", date(2026, 12, 5), ("Paga em 05/12/2026", True)),
    ("paid", "63.45", "70.00", date(2026, 12, 5), ("Paga em 05/12/2026 (pago a maior: R$ 6,55)", True)),
    ("closed", "0.00", "0", None, ("Nada a pagar", True)),
    ("open", "10.00", "0", None, ("Em aberto (mês em curso)", False)),
])
def test_payment_status(state, total, paid, paid_on, expected) -> None:  # type: ignore[no-untyped-def]
    assert payment_status(state, D(total), D(paid), paid_on, date(2026, 12, 8)) == expected


def test_call_chunks_keep_every_value_in_order_and_escape() -> None:
    calls = [PrintedCall(f"{i:03d}", "Efetuada", "<b>x</b>" if i == 5 else f"n{i}", "Local fixo", "0:30", "R$ 0,10")
             for i in range(FIRST_CHUNK + CHUNK + 3)]
    chunks = call_chunks(calls)
    assert [str(c.when).count("\n") + 1 for c in chunks] == [FIRST_CHUNK, CHUNK, 3]
    joined = "\n".join(str(c.when) for c in chunks)
    assert joined.split("\n") == [f"{i:03d}" for i in range(len(calls))]
    assert str(chunks[0].category).split("\n")[0] == "Local\u00a0fixo", "spaces inside a value do not break"
    assert "&lt;b&gt;x&lt;/b&gt;" in str(chunks[0].number) and "<b>" not in str(chunks[0].number)
    assert call_chunks([]) == []
