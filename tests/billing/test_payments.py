"""Payments (``billing.payments`` and ``painel pay``) on SQLite and PostgreSQL.

An invoice becomes paid when its payments cover its total; overpayments are stored and
reported; a bank reference is applied once per invoice; the bank return CSV is parsed
line by line and a bad line never costs the others.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing.payments import (
    InvoiceStillOpen, UnknownInvoice, balance_of, check_amount, import_payments, invoice_balance,
    invoice_balances, list_payments, paid_amounts, parse_amount, parse_bank_csv, parse_date, read_bank_file,
    register_payment,
)
from painel.cli import main
from painel.errors import EXIT_INPUT, ConflictError, InputError, NotFound, ValidationError
from painel.models import AuditEvent, Circuit, Customer, Invoice, Payment

D = Decimal
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)
DAY = date(2026, 11, 10)


@dataclass
class Ids:
    september: int  # closed, R$ 37,50
    october: int  # closed, R$ 100,00
    other: int  # closed, R$ 12,34, another circuit
    zero: int  # closed, R$ 0,00 (an empty month)
    november: int  # open (current month)


@pytest.fixture
def ids(engine) -> Ids:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        customer = Customer(name="RESIDÊNCIA DO SR MA")
        s.add(customer)
        s.flush()
        saperx = Circuit(number="8011441", name="SaperxTeste", customer_id=customer.id, home_ddd="98",
                         timezone="America/Fortaleza")
        cpp = Circuit(number="8010348", name="TESTE CPP", customer_id=customer.id, home_ddd="11")
        s.add_all([saperx, cpp])
        s.flush()
        closed = dict(state="closed", issued_on=date(2026, 10, 1), due_on=date(2026, 10, 11), closed_at=NOW)
        invoices = [
            Invoice(circuit_id=saperx.id, month="2026-09", total=D("37.50"), **closed),
            Invoice(circuit_id=saperx.id, month="2026-10", total=D("100.00"), **closed),
            Invoice(circuit_id=cpp.id, month="2026-10", total=D("12.34"), **closed),
            Invoice(circuit_id=cpp.id, month="2026-09", total=D("0.00"), **closed),
            Invoice(circuit_id=saperx.id, month="2026-11", state="open"),
        ]
        s.add_all(invoices)
        s.commit()
        return Ids(*(i.id for i in invoices))


def pay(engine, invoice_id: int, amount: str, reference: str | None = None, *, on: date = DAY):  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        result = register_payment(s, invoice_id, D(amount), on, reference, now=NOW)
        s.commit()
    return result


def invoice(engine, invoice_id: int) -> Invoice:  # type: ignore[no-untyped-def]
    with Session(engine, expire_on_commit=False) as s:
        return s.get(Invoice, invoice_id)


def payment_count(engine) -> int:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return s.scalar(select(func.count()).select_from(Payment))


def payment_events(engine) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == "billing.payment")
                              .order_by(AuditEvent.id)))


# ------------------------------------------------------------------ registering


def test_partial_payments_add_up_to_paid(engine, ids: Ids) -> None:  # type: ignore[no-untyped-def]
    first = pay(engine, ids.october, "30.00", "BB-1")
    assert first.status == "applied" and not first.became_paid
    assert (first.balance.paid, first.balance.outstanding, first.overpaid) == (D("30.00"), D("70.00"), D("0.00"))
    assert invoice(engine, ids.october).state == "closed" and invoice(engine, ids.october).paid_at is None

    second = pay(engine, ids.october, "69.99", "BB-2")
    assert not second.became_paid and second.balance.outstanding == D("0.01")
    assert invoice(engine, ids.october).state == "closed"

    third = pay(engine, ids.october, "0.01", "BB-3")
    assert third.became_paid and third.excess == D("0.00")
    assert (third.balance.paid, third.balance.outstanding, third.balance.overpaid) == (D("100.00"), D("0"), D("0"))
    paid = invoice(engine, ids.october)
    assert paid.state == "paid" and paid.paid_at == NOW
    with Session(engine) as s:
        assert [p.amount for p in list_payments(s, ids.october)] == [D("30.00"), D("69.99"), D("0.01")]
        assert paid_amounts(s, [ids.october, ids.september]) == {ids.october: D("100.00"), ids.september: D("0")}


def test_exact_payment_marks_the_invoice_paid(engine, ids: Ids) -> None:  # type: ignore[no-untyped-def]
    result = pay(engine, ids.september, "37.50")
    assert result.status == "applied" and result.became_paid
    assert (result.balance.state, result.balance.paid, result.excess, result.overpaid) == (
        "paid", D("37.50"), D("0"), D("0"))
    assert invoice(engine, ids.september).state == "paid"
    assert result.describe() == ("pagamento registrado: fatura %d (8011441 - SaperxTeste, 09/2026): "
                                 "R$ 37,50 em 10/11/2026" % ids.september)
    # the other invoices did not move
    assert invoice(engine, ids.october).state == "closed"
    assert invoice(engine, ids.other).state == "closed"


def test_overpayment_is_stored_in_full_and_reported(engine, ids: Ids) -> None:  # type: ignore[no-untyped-def]
    pay(engine, ids.september, "20.00", "A")
    result = pay(engine, ids.september, "30.00", "B")
    assert result.became_paid
    assert (result.excess, result.overpaid) == (D("12.50"), D("12.50"))
    assert "pago a maior em R$ 12,50" in result.describe()
    with Session(engine) as s:
        stored = s.scalar(select(Payment).where(Payment.reference == "B"))
        assert stored.amount == D("30.00")  # nothing dropped
        assert invoice_balance(s, ids.september).overpaid == D("12.50")
    # paying an invoice already paid: all of it is excess, and it is still stored
    again = pay(engine, ids.september, "5.00", "C")
    assert (again.status, again.excess, again.overpaid, again.became_paid) == ("applied", D("5.00"), D("17.50"), False)
    assert invoice(engine, ids.september).paid_at == NOW


def test_any_payment_settles_a_zero_invoice_as_overpaid(engine, ids: Ids) -> None:  # type: ignore[no-untyped-def]
    result = pay(engine, ids.zero, "1.00")
    assert result.became_paid and result.excess == D("1.00")


def test_duplicate_reference_is_not_applied_twice(engine, ids: Ids) -> None:  # type: ignore[no-untyped-def]
    first = pay(engine, ids.october, "40.00", "  BB-77 ")
    assert first.reference == "BB-77"
    dup = pay(engine, ids.october, "40.00", "BB-77")
    assert dup.status == "duplicate"
    assert dup.payment_id == first.payment_id
    assert dup.balance.paid == D("40.00")
    assert "duplicado" in dup.describe() and "BB-77" in dup.describe()
    # the same reference on another invoice is another payment
    assert pay(engine, ids.other, "12.34", "BB-77").status == "applied"
    # payments without a reference are never duplicates of each other
    assert pay(engine, ids.october, "1.00").status == "applied"
    assert pay(engine, ids.october, "1.00", "   ").status == "applied"
    assert payment_count(engine) == 4
    with Session(engine) as s:
        assert invoice_balance(s, ids.october).paid == D("42.00")
    assert len(payment_events(engine)) == 4  # the duplicate wrote nothing


def test_the_database_refuses_a_repeated_reference_but_not_repeated_nulls(engine, ids: Ids) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        s.add_all([Payment(invoice_id=ids.october, amount=D("1.00"), paid_on=DAY, reference=None),
                   Payment(invoice_id=ids.october, amount=D("1.00"), paid_on=DAY, reference=None),
                   Payment(invoice_id=ids.october, amount=D("1.00"), paid_on=DAY, reference="X")])
        s.commit()
    with Session(engine) as s:
        s.add(Payment(invoice_id=ids.october, amount=D("1.00"), paid_on=DAY, reference="X"))
        with pytest.raises(IntegrityError):
            s.commit()
    assert payment_count(engine) == 3


def test_unknown_invoice_is_rejected(engine, ids: Ids) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as s, pytest.raises(UnknownInvoice) as info:
        register_payment(s, 987654, D("10.00"), DAY, now=NOW)
    assert isinstance(info.value, NotFound) and info.value.exit_code == 2
    assert info.value.message == "fatura desconhecida: 987654"
    assert payment_count(engine) == 0


def test_open_invoice_is_refused(engine, ids: Ids) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as s, pytest.raises(InvoiceStillOpen) as info:
        register_payment(s, ids.november, D("10.00"), DAY, now=NOW)
    assert isinstance(info.value, ConflictError) and info.value.exit_code == 2
    assert "ainda não foi fechado" in info.value.message and "11/2026" in info.value.message
    assert "8011441" in info.value.message
    assert payment_count(engine) == 0 and payment_events(engine) == []
    assert invoice(engine, ids.november).state == "open"


@pytest.mark.parametrize(("amount", "words"), [
    pytest.param(37.5, "float", id="float"),
    pytest.param(D("0"), "maior que zero", id="zero"),
    pytest.param(D("0.00"), "maior que zero", id="zero-cents"),
    pytest.param(D("-10.00"), "maior que zero", id="negative"),
    pytest.param(D("10.001"), "mais de 2 casas", id="three-places"),
    pytest.param(D("NaN"), "inválido", id="nan"),
    pytest.param(D("Infinity"), "inválido", id="infinity"),
    pytest.param("37.50", "use Decimal", id="str"),
    pytest.param(True, "use Decimal", id="bool"),
    pytest.param(D("10000000000.00"), "máximo", id="too-large"),
])
def test_bad_amounts_are_refused(engine, ids: Ids, amount, words: str) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as s, pytest.raises(ValidationError) as info:
        register_payment(s, ids.september, amount, DAY, now=NOW)
    assert words in info.value.message
    assert payment_count(engine) == 0


def test_amounts_that_are_exact_are_accepted() -> None:
    assert check_amount(D("37.5")) == D("37.50")
    assert str(check_amount(D("37.500"))) == "37.50"  # exact to the centavo
    assert check_amount(37) == D("37.00")


def test_bad_date_and_reference_are_refused(engine, ids: Ids) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        with pytest.raises(ValidationError, match="data do pagamento"):
            register_payment(s, ids.september, D("1.00"), NOW, now=NOW)  # a datetime, not a date
        with pytest.raises(ValidationError, match="referência"):
            register_payment(s, ids.september, D("1.00"), DAY, "x" * 201, now=NOW)
    assert payment_count(engine) == 0


def test_every_payment_writes_an_audit_event(engine, ids: Ids) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        result = register_payment(s, ids.september, D("40.00"), DAY, "BB-9", actor_kind="admin", actor="maria",
                                  address="10.0.0.7", now=NOW)
        s.commit()
    (event,) = payment_events(engine)
    assert (event.actor_kind, event.actor, event.address) == ("admin", "maria", "10.0.0.7")
    assert (event.target_kind, event.target_id) == ("invoice", str(ids.september))
    assert json.loads(event.before) == {"state": "closed", "paid": "0.00"}
    assert json.loads(event.after) == {
        "payment_id": result.payment_id, "amount": "40.00", "paid_on": "2026-11-10", "reference": "BB-9",
        "state": "paid", "paid": "40.00", "outstanding": "0.00", "overpaid": "2.50",
    }


def test_balances() -> None:
    closed = balance_of(1, "closed", D("100.00"), D("30.00"))
    assert (closed.outstanding, closed.overpaid, closed.is_paid) == (D("70.00"), D("0.00"), False)
    over = balance_of(1, "paid", D("100.00"), D("130.00"))
    assert (over.outstanding, over.overpaid, over.is_paid) == (D("0.00"), D("30.00"), True)
    # an open invoice owes nothing yet; a paid one is settled even without payment rows
    assert balance_of(1, "open", D("10.00"), D("0")).outstanding == D("0.00")
    assert balance_of(1, "paid", D("10.00"), D("0")).outstanding == D("0.00")


def test_invoice_balances_of_several_invoices(engine, ids: Ids) -> None:  # type: ignore[no-untyped-def]
    pay(engine, ids.october, "60.00", "1")
    pay(engine, ids.other, "20.00", "2")
    with Session(engine) as s:
        found = invoice_balances(s, [ids.october, ids.other, ids.september, 999999])
        with pytest.raises(UnknownInvoice):
            invoice_balance(s, 999999)
        with pytest.raises(UnknownInvoice):
            list_payments(s, 999999)
    assert set(found) == {ids.october, ids.other, ids.september}
    assert (found[ids.october].outstanding, found[ids.october].overpaid) == (D("40.00"), D("0.00"))
    assert (found[ids.other].state, found[ids.other].overpaid) == ("paid", D("7.66"))
    assert (found[ids.september].paid, found[ids.september].outstanding) == (D("0.00"), D("37.50"))


# ------------------------------------------------------------------ parsing


@pytest.mark.parametrize(("text", "expected"), [
    ("37.50", "37.50"), ("37,50", "37.50"), ("1.234,56", "1234.56"), ("R$ 1.234,56", "1234.56"),
    ("R$1.234,56", "1234.56"), ("r$ 37,50", "37.50"), ("R$\u00a037,50", "37.50"), (" 37,5 ", "37.50"),
    ("37", "37.00"), ("1,234.56", "1234.56"), ("1.234.567,89", "1234567.89"), ("1.234.567", "1234567.00"),
    ("0,01", "0.01"),
])
def test_parse_amount(text: str, expected: str) -> None:
    value = parse_amount(text)
    assert value == D(expected) and str(value) == expected


@pytest.mark.parametrize(("text", "words"), [
    ("", "inválido"), ("abc", "inválido"), ("-37,50", "maior que zero"), ("0,00", "maior que zero"),
    ("37,505", "mais de 2 casas"), ("1.234", "mais de 2 casas"), ("37,", "centavos"), (",50", "inválido"),
    ("1.23.4", "milhar"), ("12,34,5", "milhar"), ("1.234,5,6", "inválido"), ("37.50 reais", "inválido"),
    ("３７", "inválido"),
])
def test_parse_amount_refuses(text: str, words: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_amount(text)
    assert words in info.value.message


@pytest.mark.parametrize(("text", "expected"), [
    ("2025-09-10", date(2025, 9, 10)), ("10/09/2025", date(2025, 9, 10)), (" 1/9/2025 ", date(2025, 9, 1)),
    ("2024-02-29", date(2024, 2, 29)),
])
def test_parse_date(text: str, expected: date) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["2025-02-30", "31/04/2025", "2025/09/10", "10-09-2025", "ontem", "", "20250910"])
def test_parse_date_refuses(text: str) -> None:
    with pytest.raises(ValidationError, match="data inválida"):
        parse_date(text)


def rows(text: str) -> list[tuple[int, int, str, date, str | None]]:
    bank = parse_bank_csv(text)
    assert bank.errors == [], bank.errors
    return [(l.line, l.invoice_id, str(l.amount), l.paid_on, l.reference) for l in bank.lines]


SEP10 = date(2025, 9, 10)


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("fatura;valor;data;referencia\n12;37,50;10/09/2025;BB-1\n13;1.234,56;2025-09-10;BB-2\n",
                 [(2, 12, "37.50", SEP10, "BB-1"), (3, 13, "1234.56", SEP10, "BB-2")], id="pt-semicolon"),
    pytest.param("Fatura;Valor;Data;Referência\r\n12;R$ 1.234,56;10/09/2025;BB-1\r\n",
                 [(2, 12, "1234.56", SEP10, "BB-1")], id="pt-accents-crlf"),
    pytest.param("invoice,amount,date,reference\n12,37.50,2025-09-10,BB-1\n13,\"1.234,56\",10/09/2025,\n",
                 [(2, 12, "37.50", SEP10, "BB-1"), (3, 13, "1234.56", SEP10, None)], id="en-comma-quoted"),
    pytest.param("INVOICE , Amount , Date\n12,37.50,2025-09-10\n",
                 [(2, 12, "37.50", SEP10, None)], id="en-no-reference-column"),
    pytest.param("12;37,50;10/09/2025;BB-1\n13;37.50;2025-09-10\n",
                 [(1, 12, "37.50", SEP10, "BB-1"), (2, 13, "37.50", SEP10, None)], id="no-header-semicolon"),
    pytest.param("12,37.50,2025-09-10,BB-1\n", [(1, 12, "37.50", SEP10, "BB-1")], id="no-header-comma"),
    pytest.param('\n12,"1.234,56",10/09/2025,"A;B"\n', [(2, 12, "1234.56", SEP10, "A;B")],
                 id="no-header-comma-quoted"),
    pytest.param("data;referencia;valor;fatura;nome\n10/09/2025;X;37,50;12;FULANO\n",
                 [(2, 12, "37.50", SEP10, "X")], id="reordered-extra-column"),
    pytest.param("fatura;valor;data;referencia\n\n12;37,50;10/09/2025;BB-1\n;;;\n\n13;1,00;10/09/2025;BB-2\n",
                 [(3, 12, "37.50", SEP10, "BB-1"), (6, 13, "1.00", SEP10, "BB-2")], id="blank-lines-keep-numbers"),
    pytest.param("fatura;valor;data;referencia\n", [], id="header-only"),
])
def test_parse_bank_csv(text: str, expected: list) -> None:  # type: ignore[type-arg]
    assert rows(text) == expected


def test_parse_bank_csv_reports_each_bad_line_with_its_number() -> None:
    text = ("fatura;valor;data;referencia\n"
            "12;37,50;10/09/2025;A\n"      # 2 good
            "abc;37,50;10/09/2025;B\n"     # 3 bad invoice
            "13;-5,00;10/09/2025;C\n"      # 4 negative
            "14;37,50;31/02/2025;D\n"      # 5 bad date
            "15;;10/09/2025;E\n"           # 6 empty amount
            "16;37,50\n"                   # 7 missing columns
            "17;1,00;10/09/2025;F;extra\n"  # 8 too many
            "18;2,00;10/09/2025;G\n")      # 9 good
    bank = parse_bank_csv(text)
    assert [(l.line, l.invoice_id) for l in bank.lines] == [(2, 12), (9, 18)]
    errors = {e.line: e.reason for e in bank.errors}
    assert sorted(errors) == [3, 4, 5, 6, 7, 8]
    assert "fatura inválida" in errors[3]
    assert "maior que zero" in errors[4]
    assert "data inválida" in errors[5]
    assert errors[6] == "valor vazio"
    assert "colunas insuficientes" in errors[7]
    assert "colunas demais" in errors[8]
    assert str(bank.errors[0]).startswith("linha 3: ")


def test_parse_bank_csv_collects_every_problem_of_a_line() -> None:
    (error,) = parse_bank_csv("0;x;ontem\n").errors
    assert error.line == 1
    assert "fatura inválida" in error.reason and "valor inválido" in error.reason and "data inválida" in error.reason


@pytest.mark.parametrize(("header", "words"), [
    ("fatura;valor;referencia", "data"),
    ("fatura;valor;data;valor", "repetida"),
])
def test_a_header_without_the_needed_columns_cannot_be_read(header: str, words: str) -> None:
    with pytest.raises(InputError) as info:
        parse_bank_csv(header + "\n12;37,50;10/09/2025\n")
    assert words in info.value.message and info.value.exit_code == EXIT_INPUT


def test_read_bank_file_encodings(tmp_path: Path) -> None:
    text = "fatura;valor;data;referência\n12;37,50;10/09/2025;JOÃO\n"
    utf8_bom = tmp_path / "bom.csv"
    utf8_bom.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(text.encode("latin-1"))
    assert read_bank_file(utf8_bom) == text
    assert read_bank_file(latin1) == text
    assert rows(read_bank_file(latin1)) == [(2, 12, "37.50", SEP10, "JOÃO")]


@pytest.mark.parametrize(("content", "words"), [
    pytest.param(None, "não encontrado", id="missing"),
    pytest.param("fatura;valor\n".encode("utf-16"), "não é um arquivo de texto", id="utf-16"),
    pytest.param(b"", "vazio", id="empty"),
])
def test_read_bank_file_unreadable(tmp_path: Path, content: bytes | None, words: str) -> None:
    path = tmp_path / "retorno.csv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError) as info:
        read_bank_file(path)
    assert words in info.value.message and info.value.exit_code == EXIT_INPUT


# ------------------------------------------------------------------ import


def bank_file(ids: Ids) -> str:
    return ("fatura;valor;data;referencia\n"
            f"{ids.september};37,50;10/09/2026;BB-1\n"
            "999999;10,00;10/09/2026;BB-2\n"  # line 3: unknown invoice
            f"{ids.october};R$ 60,00;2026-09-11;BB-3\n"
            f"{ids.november};5,00;12/09/2026;BB-4\n"  # line 5: open invoice
            f"{ids.other};20,00;12/09/2026;BB-5\n"  # overpaid by 7,66
            f"{ids.october};40,00;13/09/2026;BB-6\n")


def test_import_applies_every_good_line_around_the_bad_ones(engine, ids: Ids) -> None:  # type: ignore[no-untyped-def]
    result = import_payments(engine, parse_bank_csv(bank_file(ids)), source="retorno.csv", now=NOW)
    assert [str(e) for e in result.errors] == [
        "linha 3: fatura desconhecida: 999999",
        f"linha 5: a fatura {ids.november} (circuito 8011441, 11/2026) ainda está em aberto: o mês 11/2026 "
        "ainda não foi fechado; só faturas fechadas recebem pagamento",
    ]
    assert [(o.line, o.status) for o in result.outcomes] == [(2, "applied"), (4, "applied"), (6, "applied"),
                                                             (7, "applied")]
    assert result.summary() == "applied=4 duplicate=0 rejected=2 overpaid=1"
    assert not result.ok
    assert {i: invoice(engine, i).state for i in (ids.september, ids.october, ids.other, ids.november)} == {
        ids.september: "paid", ids.october: "paid", ids.other: "paid", ids.november: "open"}
    with Session(engine) as s:
        assert invoice_balance(s, ids.other).overpaid == D("7.66")
        assert s.scalar(select(func.count()).select_from(Payment)) == 4
        (summary,) = s.scalars(select(AuditEvent).where(AuditEvent.action == "billing.payment.import"))
        assert json.loads(summary.after) == {"file": "retorno.csv", "rejected_lines": [3, 5],
                                             "result": "applied=4 duplicate=0 rejected=2 overpaid=1"}
    assert len(payment_events(engine)) == 4

    # the bank sends the same file again: nothing is applied twice
    again = import_payments(engine, parse_bank_csv(bank_file(ids)), now=NOW)
    assert again.summary() == "applied=0 duplicate=4 rejected=2 overpaid=0"
    assert payment_count(engine) == 4


def test_a_file_repeating_a_reference_applies_it_once(engine, ids: Ids) -> None:  # type: ignore[no-untyped-def]
    text = f"{ids.october};10,00;10/09/2026;R\n{ids.october};10,00;10/09/2026;R\n{ids.october};10,00;10/09/2026\n"
    result = import_payments(engine, parse_bank_csv(text), now=NOW)
    assert result.summary() == "applied=2 duplicate=1 rejected=0 overpaid=0" and result.ok
    with Session(engine) as s:
        assert invoice_balance(s, ids.october).paid == D("20.00")


def test_import_reports_a_reference_stored_concurrently_as_duplicate(engine, ids: Ids,  # type: ignore[no-untyped-def]
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Another run stores the same reference between our check and our insert: the database refuses ours."""
    import billing.payments as payments

    real = payments.register_payment
    raced: list[int] = []

    def racing(session, invoice_id, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not raced:
            raced.append(invoice_id)
            with Session(engine) as other:  # the other run commits first
                real(other, invoice_id, *args, **kwargs)
                other.commit()
            session.add(Payment(invoice_id=invoice_id, amount=D("1.00"), paid_on=DAY, reference="R"))
            session.flush()  # our insert now violates uq_payments_invoice_id_reference
        return real(session, invoice_id, *args, **kwargs)

    monkeypatch.setattr(payments, "register_payment", racing)
    text = f"{ids.october};10,00;10/09/2026;R\n{ids.other};5,00;10/09/2026;S\n"
    result = import_payments(engine, parse_bank_csv(text), now=NOW)
    assert raced == [ids.october]
    assert [(o.line, o.status) for o in result.outcomes] == [(1, "duplicate"), (2, "applied")]
    assert result.summary() == "applied=1 duplicate=1 rejected=0 overpaid=0"
    with Session(engine) as s:
        assert invoice_balance(s, ids.october).paid == D("10.00")  # the other run's payment, once
    assert payment_count(engine) == 2


def test_concurrent_payments_of_one_invoice(engine, ids: Ids) -> None:  # type: ignore[no-untyped-def]
    """Eight runs at once: partial payments all count, and one reference is applied once."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from billing.payments import apply_payment

    barrier = Barrier(8)

    def run(n: int):  # type: ignore[no-untyped-def]
        barrier.wait()
        part = apply_payment(engine, ids.october, D("12.50"), DAY, f"P-{n}", now=NOW)
        same = apply_payment(engine, ids.other, D("12.34"), DAY, "SAME", now=NOW)
        return part.status, same.status

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(run, range(8)))
    assert [part for part, _ in outcomes] == ["applied"] * 8
    assert sorted(same for _, same in outcomes) == ["applied"] + ["duplicate"] * 7
    with Session(engine) as s:
        october, other = invoice_balance(s, ids.october), invoice_balance(s, ids.other)
    assert (october.state, october.paid, october.overpaid) == ("paid", D("100.00"), D("0.00"))
    assert (other.state, other.paid) == ("paid", D("12.34"))
    assert payment_count(engine) == 9 and len(payment_events(engine)) == 9


def test_apply_payment_refuses_a_conflict_that_is_not_a_duplicate(engine, ids: Ids,  # type: ignore[no-untyped-def]
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import billing.payments as payments

    real = payments.register_payment
    calls: list[int] = []

    def failing_once(session, invoice_id, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(invoice_id)
        if len(calls) == 1:
            session.add(Payment(invoice_id=987654, amount=D("1.00"), paid_on=DAY))  # no such invoice
            session.flush()
        return real(session, invoice_id, *args, **kwargs)

    monkeypatch.setattr(payments, "register_payment", failing_once)
    with pytest.raises(ConflictError, match="tente de novo"):
        payments.apply_payment(engine, ids.october, D("10.00"), DAY, "R", now=NOW)
    assert calls == [ids.october, ids.october]
    assert payment_count(engine) == 0 and payment_events(engine) == []


# ------------------------------------------------------------------ CLI


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    return CliRunner(env={"PAINEL_CONFIG": None, "PAINEL_DATABASE_URL": None, "PAINEL_LOG_LEVEL": "WARNING"})


def painel(runner: CliRunner, url: str, *args: str) -> Result:
    return runner.invoke(main, ["--database-url", url, "pay", *args])


def assert_error(result: Result, code: int, *words: str) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    assert result.stderr.startswith("erro: "), result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    assert result.stdout == ""


def test_cli_pay_partial_then_overpaid_then_duplicate(engine, db_url: str, ids: Ids, runner: CliRunner) -> None:  # type: ignore[no-untyped-def]
    result = painel(runner, db_url, "--invoice", str(ids.september), "--amount", "20,00", "--date", "10/09/2026",
                    "--ref", "BB-1")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert result.stdout.splitlines() == [
        f"pagamento registrado: fatura {ids.september} (8011441 - SaperxTeste, 09/2026): R$ 20,00 em 10/09/2026, "
        "ref. BB-1",
        "situação: fechada; total R$ 37,50, pago R$ 20,00, em aberto R$ 17,50",
    ]
    result = painel(runner, db_url, "--invoice", str(ids.september), "--amount", "R$ 1.020,00", "--date",
                    "2026-09-12")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "pago a maior em R$ 1.002,50" in result.stdout
    assert result.stdout.splitlines()[-1] == ("situação: paga; total R$ 37,50, pago R$ 1.040,00, em aberto R$ 0,00, "
                                              "pago a maior R$ 1.002,50")
    result = painel(runner, db_url, "--invoice", str(ids.september), "--amount", "20.00", "--date", "10/09/2026",
                    "--ref", "BB-1")
    assert result.exit_code == 0 and "pagamento duplicado, não aplicado" in result.stdout
    assert payment_count(engine) == 2

    result = painel(runner, db_url, "list", "--invoice", str(ids.september))
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert result.stdout.splitlines() == [
        f"fatura {ids.september} (8011441 - SaperxTeste, 09/2026)",
        "  10/09/2026  R$ 20,00  ref. BB-1",
        "  12/09/2026  R$ 1.020,00  sem referência",
        "situação: paga; total R$ 37,50, pago R$ 1.040,00, em aberto R$ 0,00, pago a maior R$ 1.002,50",
    ]
    events = payment_events(engine)
    assert len(events) == 2 and {e.actor_kind for e in events} == {"cli"}


def test_cli_pay_list_without_payments(db_url: str, ids: Ids, runner: CliRunner) -> None:
    result = painel(runner, db_url, "list", "--invoice", str(ids.october))
    assert result.exit_code == 0
    assert result.stdout.splitlines()[1:] == ["  nenhum pagamento",
                                              "situação: fechada; total R$ 100,00, pago R$ 0,00, em aberto R$ 100,00"]


@pytest.mark.parametrize(("args", "words"), [
    pytest.param(["--invoice", "999999", "--amount", "10", "--date", "2026-09-10"], ["fatura desconhecida", "999999"],
                 id="unknown-invoice"),
    pytest.param(["--invoice", "{november}", "--amount", "10", "--date", "2026-09-10"],
                 ["ainda não foi fechado", "11/2026"], id="open-invoice"),
    pytest.param(["--invoice", "{september}", "--amount", "0", "--date", "2026-09-10"], ["maior que zero"],
                 id="zero"),
    pytest.param(["--invoice", "{september}", "--amount", "-5", "--date", "2026-09-10"], ["maior que zero"],
                 id="negative"),
    pytest.param(["--invoice", "{september}", "--amount", "37,505", "--date", "2026-09-10"], ["mais de 2 casas"],
                 id="three-places"),
    pytest.param(["--invoice", "{september}", "--amount", "dez", "--date", "2026-09-10"], ["valor inválido"],
                 id="bad-amount"),
    pytest.param(["--invoice", "{september}", "--amount", "10", "--date", "31/09/2026"], ["data inválida"],
                 id="bad-date"),
    pytest.param(["--invoice", "{september}", "--amount", "10"], ["faltam --date"], id="no-date"),
    pytest.param(["--amount", "10", "--date", "2026-09-10"], ["faltam --invoice"], id="no-invoice"),
    pytest.param(["--invoice", "{september}", "list", "--invoice", "{september}"], ["sem subcomando"],
                 id="options-with-subcommand"),
    pytest.param(["list", "--invoice", "999999"], ["fatura desconhecida"], id="list-unknown"),
])
def test_cli_pay_errors_are_exit_2(engine, db_url: str, ids: Ids, runner: CliRunner, args: list[str],  # type: ignore[no-untyped-def]
                                   words: list[str]) -> None:
    args = [a.format(november=ids.november, september=ids.september) for a in args]
    assert_error(painel(runner, db_url, *args), 2, *words)
    assert payment_count(engine) == 0 and payment_events(engine) == []


def test_cli_import_with_a_bad_line_applies_the_rest_and_exits_1(engine, db_url: str, ids: Ids,  # type: ignore[no-untyped-def]
                                                                 runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "retorno.csv"
    path.write_text(bank_file(ids), encoding="latin-1")
    result = painel(runner, db_url, "import", str(path))
    assert result.exit_code == 1, (result.stdout, result.stderr)
    out = result.stdout.splitlines()
    assert out[-1] == "applied=4 duplicate=0 rejected=2 overpaid=1"
    assert out[0] == (f"linha 2: aplicado: fatura {ids.september} (8011441 - SaperxTeste, 09/2026) R$ 37,50 "
                      "em 10/09/2026; fatura paga")
    assert "linha 6: aplicado" in out[2] and "pago a maior em R$ 7,66" in out[2]
    errors = result.stderr.splitlines()
    assert errors[0] == "rejeitada: linha 3: fatura desconhecida: 999999"
    assert errors[1].startswith("rejeitada: linha 5: ") and "ainda não foi fechado" in errors[1]
    assert payment_count(engine) == 4

    again = painel(runner, db_url, "import", str(path))
    assert again.exit_code == 1
    assert again.stdout.splitlines()[-1] == "applied=0 duplicate=4 rejected=2 overpaid=0"
    assert "linha 2: duplicado, não aplicado" in again.stdout
    assert payment_count(engine) == 4


def test_cli_import_all_good_exits_0(engine, db_url: str, ids: Ids, runner: CliRunner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "retorno.csv"
    path.write_text(f"invoice,amount,date,reference\n{ids.october},\"1.000,00\",2026-09-10,X\n"
                    f"{ids.other},12.34,10/09/2026,Y\n", encoding="utf-8-sig")
    result = painel(runner, db_url, "import", str(path))
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert result.stdout.splitlines()[-1] == "applied=2 duplicate=0 rejected=0 overpaid=1"
    assert result.stderr == ""
    again = painel(runner, db_url, "import", str(path))
    assert again.exit_code == 0 and again.stdout.splitlines()[-1] == "applied=0 duplicate=2 rejected=0 overpaid=0"


@pytest.mark.parametrize(("content", "words"), [
    pytest.param(None, "não encontrado", id="missing"),
    pytest.param("fatura;valor;data\n".encode("utf-16"), "não é um arquivo de texto", id="utf-16"),
    pytest.param(b"fatura;valor;referencia\n1;2,00;X\n", "sem a(s) coluna(s) data", id="header-without-date"),
])
def test_cli_import_unreadable_file_is_exit_4(engine, db_url: str, ids: Ids, runner: CliRunner, tmp_path: Path,  # type: ignore[no-untyped-def]
                                              content: bytes | None, words: str) -> None:
    path = tmp_path / "retorno.csv"
    if content is not None:
        path.write_bytes(content)
    assert_error(painel(runner, db_url, "import", str(path)), EXIT_INPUT, words)
    assert payment_count(engine) == 0


def test_cli_pay_without_arguments_shows_the_help(db_url: str, runner: CliRunner) -> None:
    result = painel(runner, db_url)
    assert result.exit_code == 0 and "Exemplo" in result.stdout and "painel pay import" in result.stdout
