"""Payments: registering money received for an invoice, balances, and the bank return file.

An invoice is paid when the sum of its payments covers its total; partial payments add
up and an overpayment is stored in full and reported, never hidden. Only issued
invoices (closed or paid) take payments: the current month's invoice is still open.
A payment's bank reference makes it idempotent: the same non-empty reference on the
same invoice is a duplicate and is not applied twice (the unique constraint
``uq_payments_invoice_id_reference`` backs this up in the database).

The bank return CSV is parsed by pure functions (``parse_bank_csv``); ``import_payments``
applies each good line in its own transaction, so a bad line never costs the others.
"""
from __future__ import annotations

import csv
import io
import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from os import PathLike
from pathlib import Path

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing.close import CLOSED_STATES, as_utc
from painel.audit import record
from painel.errors import ConflictError, InputError, NotFound, PainelError, ValidationError
from painel.fmt import brl, data_br, mes_ref
from painel.models import Circuit, Invoice, Payment

log = logging.getLogger("painel.billing.payments")

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
#: the largest payment accepted (far below what the centavos column holds)
MAX_AMOUNT = Decimal("9999999999.99")
#: the width of ``payments.reference``
MAX_REFERENCE = 200

STATE_LABELS = {"open": "em aberto", "closed": "fechada", "paid": "paga"}


# ------------------------------------------------------------------ errors


class UnknownInvoice(NotFound):
    def __init__(self, invoice: int | str) -> None:
        super().__init__(f"fatura desconhecida: {invoice}", reason="unknown_invoice")
        self.invoice = invoice


class InvoiceStillOpen(ConflictError):
    """A payment for the invoice of a month that has not been closed yet."""

    def __init__(self, invoice_id: int, circuit: str, month: str) -> None:
        super().__init__(
            f"a fatura {invoice_id} (circuito {circuit}, {mes_ref(month)}) ainda está em aberto: "
            f"o mês {mes_ref(month)} ainda não foi fechado; só faturas fechadas recebem pagamento",
            reason="open_invoice",
        )
        self.invoice_id = invoice_id


# ------------------------------------------------------------------ values


def check_amount(amount: object, *, shown: str | None = None) -> Decimal:
    """A payment amount as ``Decimal`` with 2 places: positive, exact to the centavo, never a float.

    ``shown`` is how the amount was written (for the message), when it came as text.
    """
    if isinstance(amount, float):
        raise ValidationError(f"valor {amount!r} é float: valores em dinheiro precisam ser Decimal",
                              reason="bad_amount")
    if isinstance(amount, bool) or not isinstance(amount, (Decimal, int)):
        raise ValidationError(f"valor inválido {amount!r}: use Decimal", reason="bad_amount")
    value = Decimal(amount)
    shown = repr(shown) if shown is not None else str(amount)
    if not value.is_finite():
        raise ValidationError(f"valor inválido {shown}", reason="bad_amount")
    if value <= 0:
        raise ValidationError(f"valor {shown} inválido: o pagamento precisa ser maior que zero",
                              reason="bad_amount")
    if value > MAX_AMOUNT:
        raise ValidationError(f"valor {shown} acima do máximo aceito ({brl(MAX_AMOUNT)})", reason="bad_amount")
    if value != value.quantize(CENT):
        raise ValidationError(f"valor {shown} tem mais de 2 casas decimais", reason="bad_amount")
    return value.quantize(CENT)


_THOUSANDS = {".": re.compile(r"[0-9]{1,3}(\.[0-9]{3})+"), ",": re.compile(r"[0-9]{1,3}(,[0-9]{3})+")}


def parse_amount(text: str) -> Decimal:
    """A written amount: ``37.50``, ``37,50``, ``1.234,56``, ``R$ 1.234,56`` or ``1,234.56``.

    With both separators the last one is the decimal mark; a lone separator is the
    decimal mark, so ``1.234`` (3 places) is refused rather than guessed.
    """
    cleaned = text.strip().replace("\u00a0", " ")
    if cleaned.upper().startswith("R$"):
        cleaned = cleaned[2:]
    cleaned = cleaned.replace(" ", "")
    if cleaned.startswith("-"):
        raise ValidationError(f"valor {text.strip()!r} inválido: o pagamento precisa ser maior que zero",
                              reason="bad_amount")
    if not re.fullmatch(r"[0-9][0-9.,]*", cleaned):
        raise ValidationError(f"valor inválido {text.strip()!r}: use 37.50, 37,50 ou 1.234,56",
                              reason="bad_amount")
    dot, comma = cleaned.rfind("."), cleaned.rfind(",")
    decimal_mark: str | None
    thousands: str | None
    if dot >= 0 and comma >= 0:
        decimal_mark = "." if dot > comma else ","
        thousands = "," if decimal_mark == "." else "."
    elif comma >= 0 or dot >= 0:
        mark = "," if comma >= 0 else "."
        decimal_mark, thousands = (mark, None) if cleaned.count(mark) == 1 else (None, mark)
    else:
        decimal_mark = thousands = None
    whole, fraction = cleaned.rsplit(decimal_mark, 1) if decimal_mark else (cleaned, "")
    if decimal_mark and not fraction:
        raise ValidationError(f"valor inválido {text.strip()!r}: faltam os centavos", reason="bad_amount")
    if len(fraction) > 2:
        raise ValidationError(f"valor {text.strip()!r} tem mais de 2 casas decimais", reason="bad_amount")
    if thousands and thousands in whole:
        if not _THOUSANDS[thousands].fullmatch(whole):
            raise ValidationError(f"valor inválido {text.strip()!r}: separador de milhar fora do lugar",
                                  reason="bad_amount")
        whole = whole.replace(thousands, "")
    if not whole.isascii() or not whole.isdigit():
        raise ValidationError(f"valor inválido {text.strip()!r}", reason="bad_amount")
    return check_amount(Decimal(f"{whole}.{fraction or '0'}"), shown=text.strip())


def parse_date(text: str) -> date:
    """``2025-09-10`` or ``10/09/2025``."""
    raw = text.strip()
    iso = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", raw)
    br = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", raw)
    if iso:
        year, month, day = (int(x) for x in iso.groups())
    elif br:
        day, month, year = (int(x) for x in br.groups())
    else:
        raise ValidationError(f"data inválida {raw!r}: use AAAA-MM-DD ou DD/MM/AAAA", reason="bad_date")
    try:
        return date(year, month, day)
    except ValueError:
        raise ValidationError(f"data inválida {raw!r}: dia inexistente", reason="bad_date") from None


def parse_invoice_id(text: str) -> int:
    raw = text.strip()
    if not re.fullmatch(r"[0-9]{1,18}", raw) or int(raw) == 0:
        raise ValidationError(f"fatura inválida {raw!r}: informe o número da fatura", reason="bad_invoice")
    return int(raw)


def normalize_reference(reference: str | None) -> str | None:
    """A bank reference without surrounding blanks; empty means none."""
    if reference is None:
        return None
    value = reference.strip()
    if len(value) > MAX_REFERENCE:
        raise ValidationError(f"referência com mais de {MAX_REFERENCE} caracteres", reason="bad_reference")
    return value or None


# ------------------------------------------------------------------ balances


@dataclass(frozen=True)
class Balance:
    """What an invoice owes: ``outstanding`` is due on an issued invoice, ``overpaid`` was paid beyond it.

    An open invoice owes nothing yet, and one in state ``paid`` is settled.
    """

    invoice_id: int
    state: str
    total: Decimal
    paid: Decimal

    @property
    def outstanding(self) -> Decimal:
        if self.state != "closed":
            return ZERO
        return max(self.total - self.paid, ZERO)

    @property
    def overpaid(self) -> Decimal:
        return max(self.paid - self.total, ZERO)

    @property
    def is_paid(self) -> bool:
        return self.state == "paid"


def balance_of(invoice_id: int, state: str, total: Decimal, paid: Decimal) -> Balance:
    return Balance(invoice_id=invoice_id, state=state, total=Decimal(total).quantize(CENT),
                   paid=Decimal(paid).quantize(CENT))


#: the payments of some invoices, summed per invoice: built once (the portal's Faturas page
#: runs it on every view), so SQLAlchemy's compiled cache serves it as it is
_PAID_SUMS = (select(Payment.__table__.c.invoice_id, func.sum(Payment.__table__.c.amount))
              .where(Payment.__table__.c.invoice_id.in_(bindparam("invoice_ids", expanding=True)))
              .group_by(Payment.__table__.c.invoice_id))


def paid_amounts(session: Session | Connection, invoice_ids: Iterable[int]) -> dict[int, Decimal]:
    """Sum of the payments of each invoice (0.00 for an invoice without payments)."""
    ids = sorted(set(invoice_ids))
    paid = dict.fromkeys(ids, ZERO)
    for start in range(0, len(ids), 500):
        rows = session.execute(_PAID_SUMS, {"invoice_ids": ids[start:start + 500]})
        for invoice_id, amount in rows:
            paid[invoice_id] = Decimal(amount or 0).quantize(CENT)
    return paid


def invoice_balances(session: Session, invoice_ids: Iterable[int]) -> dict[int, Balance]:
    """The balance of each existing invoice among ``invoice_ids``."""
    ids = sorted(set(invoice_ids))
    paid = paid_amounts(session, ids)
    out: dict[int, Balance] = {}
    for start in range(0, len(ids), 500):
        rows = session.execute(select(Invoice.id, Invoice.state, Invoice.total)
                               .where(Invoice.id.in_(ids[start:start + 500])))
        for invoice_id, state, total in rows:
            out[invoice_id] = balance_of(invoice_id, state, total, paid[invoice_id])
    return out


def invoice_balance(session: Session, invoice_id: int) -> Balance:
    found = invoice_balances(session, [invoice_id])
    if invoice_id not in found:
        raise UnknownInvoice(invoice_id)
    return found[invoice_id]


def list_payments(session: Session, invoice_id: int) -> list[Payment]:
    """The payments of an invoice, oldest first."""
    if session.get(Invoice, invoice_id) is None:
        raise UnknownInvoice(invoice_id)
    return list(session.scalars(select(Payment).where(Payment.invoice_id == invoice_id)
                                .order_by(Payment.paid_on, Payment.id)))


# ------------------------------------------------------------------ registering


@dataclass(frozen=True)
class PaymentResult:
    """The outcome of one payment: ``applied`` or ``duplicate`` (same reference already stored)."""

    status: str
    invoice_id: int
    circuit_number: str
    circuit_name: str
    month: str
    amount: Decimal
    paid_on: date
    reference: str | None
    #: the stored payment (the earlier one for a duplicate)
    payment_id: int
    balance: Balance
    #: this payment took the invoice from closed to paid
    became_paid: bool = False
    #: the part of this payment beyond what the invoice still owed
    excess: Decimal = ZERO

    @property
    def overpaid(self) -> Decimal:
        """How much the invoice is overpaid by, in total, after this payment."""
        return self.balance.overpaid

    @property
    def circuit_label(self) -> str:
        return f"{self.circuit_number} - {self.circuit_name}" if self.circuit_name else self.circuit_number

    def describe(self) -> str:
        """One pt-BR line for operators."""
        where = f"fatura {self.invoice_id} ({self.circuit_label}, {mes_ref(self.month)})"
        ref = f", ref. {self.reference}" if self.reference else ""
        if self.status == "duplicate":
            return (f"pagamento duplicado, não aplicado: {where} já tem a referência {self.reference} "
                    f"({brl(self.amount)} em {data_br(self.paid_on)})")
        text = f"pagamento registrado: {where}: {brl(self.amount)} em {data_br(self.paid_on)}{ref}"
        if self.excess > 0:
            text += f"; pago a maior em {brl(self.excess)}"
        return text


def register_payment(
    session: Session,
    invoice_id: int,
    amount: Decimal,
    paid_on: date,
    reference: str | None = None,
    *,
    actor_kind: str = "cli",
    actor: str = "cli",
    address: str | None = None,
    now: datetime | None = None,
) -> PaymentResult:
    """Store a payment on an issued invoice in ``session`` (the caller commits) and audit it.

    The invoice becomes ``paid`` (``paid_at`` = ``now``) once its payments cover its
    total. A payment with a reference the invoice already has is a duplicate: nothing
    is stored and the earlier payment is answered.
    """
    amount = check_amount(amount)
    if not isinstance(paid_on, date) or isinstance(paid_on, datetime):
        raise ValidationError(f"data do pagamento inválida {paid_on!r}: informe uma data", reason="bad_date")
    reference = normalize_reference(reference)
    now = as_utc(now)
    # the row lock serialises concurrent payments of one invoice on PostgreSQL
    invoice = session.scalar(select(Invoice).where(Invoice.id == invoice_id).with_for_update())
    if invoice is None:
        raise UnknownInvoice(invoice_id)
    circuit = session.get(Circuit, invoice.circuit_id)
    assert circuit is not None  # a foreign key
    if invoice.state == "open":
        raise InvoiceStillOpen(invoice.id, circuit.number, invoice.month)
    if invoice.state not in CLOSED_STATES:
        raise ConflictError(f"a fatura {invoice.id} está no estado {invoice.state!r} e não recebe pagamento")
    common = dict(invoice_id=invoice.id, circuit_number=circuit.number, circuit_name=circuit.name,
                  month=invoice.month)
    if reference is not None:
        earlier = session.scalar(select(Payment).where(Payment.invoice_id == invoice.id,
                                                       Payment.reference == reference))
        if earlier is not None:
            paid = paid_amounts(session, [invoice.id])[invoice.id]
            return PaymentResult(status="duplicate", amount=earlier.amount, paid_on=earlier.paid_on,
                                 reference=reference, payment_id=earlier.id,
                                 balance=balance_of(invoice.id, invoice.state, invoice.total, paid), **common)
    payment = Payment(invoice_id=invoice.id, amount=amount, paid_on=paid_on, reference=reference, created_at=now)
    session.add(payment)
    session.flush()
    # read again now that this transaction writes: on SQLite the reads above ran before
    # the write lock, and another process may have paid in between
    session.refresh(invoice)
    paid = paid_amounts(session, [invoice.id])[invoice.id]
    before = balance_of(invoice.id, invoice.state, invoice.total, paid - amount)
    became_paid = invoice.state == "closed" and paid >= invoice.total
    if became_paid:
        invoice.state = "paid"
        invoice.paid_at = now
    after = balance_of(invoice.id, invoice.state, invoice.total, paid)
    excess = after.overpaid - before.overpaid
    record(session, actor_kind=actor_kind, actor=actor, action="billing.payment", target_kind="invoice",
           target_id=invoice.id, address=address,
           before={"state": before.state, "paid": str(before.paid)},
           after={"payment_id": payment.id, "amount": str(amount), "paid_on": paid_on.isoformat(),
                  "reference": reference, "state": after.state, "paid": str(after.paid),
                  "outstanding": str(after.outstanding), "overpaid": str(after.overpaid)})
    session.flush()
    if excess > 0:
        log.warning("fatura %s paga a maior em %s (pagamento %s)", invoice.id, excess, payment.id)
    return PaymentResult(status="applied", amount=amount, paid_on=paid_on, reference=reference,
                         payment_id=payment.id, balance=after, became_paid=became_paid, excess=excess, **common)


# ------------------------------------------------------------------ bank return file

#: header names (lower case, without accents) -> field
HEADER_NAMES = {
    "fatura": "invoice", "invoice": "invoice", "invoice_id": "invoice", "id_fatura": "invoice",
    "valor": "amount", "amount": "amount",
    "data": "date", "date": "date", "data_pagamento": "date", "paid_on": "date",
    "referencia": "reference", "reference": "reference", "ref": "reference",
}
#: columns of a file without a header, in order
DEFAULT_COLUMNS = ("invoice", "amount", "date", "reference")
REQUIRED = ("invoice", "amount", "date")
FIELD_LABELS = {"invoice": "fatura", "amount": "valor", "date": "data", "reference": "referência"}


@dataclass(frozen=True)
class PaymentLine:
    """A good line of the bank file."""

    line: int
    invoice_id: int
    amount: Decimal
    paid_on: date
    reference: str | None


@dataclass(frozen=True)
class LineError:
    """A line that cannot be applied, with its number in the file and a pt-BR reason."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"linha {self.line}: {self.reason}"


@dataclass
class BankFile:
    lines: list[PaymentLine] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    delimiter: str = ";"
    has_header: bool = False


def _header_key(cell: str) -> str:
    text = unicodedata.normalize("NFKD", cell.strip().lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return re.sub(r"[\s\-]+", "_", text)


def sniff_delimiter(text: str) -> str:
    """``;`` or ``,``: the one that splits the first non-blank line into more fields (a tie: ``;``).

    Quotes are honoured, so ``12,"1.234,56",10/09/2025`` is a comma file.
    """
    for line in text.splitlines():
        if not line.strip():
            continue
        counts = {d: len(next(csv.reader([line], delimiter=d))) for d in (";", ",")}
        return ";" if counts[";"] >= counts[","] else ","
    return ";"


def _columns(header: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, cell in enumerate(header):
        name = HEADER_NAMES.get(_header_key(cell))
        if name is None:
            continue  # a column Painel does not need (bank files carry extra ones)
        if name in found:
            raise InputError(f"cabeçalho com a coluna {FIELD_LABELS[name]} repetida")
        found[name] = index
    missing = [FIELD_LABELS[n] for n in REQUIRED if n not in found]
    if missing:
        raise InputError(f"cabeçalho sem a(s) coluna(s) {', '.join(missing)}: esperado fatura;valor;data;referencia")
    return found


EMPTY_FIELD = {"invoice": "fatura vazia", "amount": "valor vazio", "date": "data vazia"}
_PARSERS = {"invoice": parse_invoice_id, "amount": parse_amount, "date": parse_date}


def _parse_row(number: int, row: list[str], columns: dict[str, int], width: int) -> PaymentLine | LineError:
    """One data row; ``width`` is the number of columns the file declares."""
    needed = max(columns[name] for name in REQUIRED) + 1
    if len(row) < needed:
        return LineError(number, f"colunas insuficientes: {len(row)} (esperado fatura, valor, data, referência)")
    if any(cell.strip() for cell in row[width:]):
        return LineError(number, f"colunas demais: {len(row)} (esperado fatura, valor, data, referência)")
    values: dict[str, object] = {}
    problems: list[str] = []
    for name, parse in _PARSERS.items():
        raw = row[columns[name]]
        if not raw.strip():
            problems.append(EMPTY_FIELD[name])
            continue
        try:
            values[name] = parse(raw)
        except ValidationError as exc:
            problems.append(exc.message)
    reference = None
    if "reference" in columns and columns["reference"] < len(row):
        try:
            reference = normalize_reference(row[columns["reference"]])
        except ValidationError as exc:
            problems.append(exc.message)
    if problems:
        return LineError(number, "; ".join(problems))
    return PaymentLine(line=number, invoice_id=values["invoice"], amount=values["amount"],  # type: ignore[arg-type]
                       paid_on=values["date"], reference=reference)  # type: ignore[arg-type]


def parse_bank_csv(text: str) -> BankFile:
    """Parse a bank return file (columns fatura/invoice, valor/amount, data/date, referência/reference).

    The header row is optional (without it the columns are in that order; with it,
    in any order, extra columns ignored); the delimiter is ``;`` or ``,``. Blank lines
    are skipped; each bad line becomes a ``LineError`` naming its line number (the
    header is line 1), and the good ones are returned.
    """
    delimiter = sniff_delimiter(text)
    result = BankFile(delimiter=delimiter)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    columns: dict[str, int] | None = None
    width = len(DEFAULT_COLUMNS)
    try:
        for row in reader:
            number = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if columns is None:
                if any(_header_key(cell) in HEADER_NAMES for cell in row):
                    columns, width = _columns(row), len(row)
                    result.has_header = True
                    continue
                columns = {name: i for i, name in enumerate(DEFAULT_COLUMNS)}
            parsed = _parse_row(number, row, columns, width)
            if isinstance(parsed, LineError):
                result.errors.append(parsed)
            else:
                result.lines.append(parsed)
    except csv.Error as exc:
        raise InputError(f"CSV ilegível perto da linha {reader.line_num}: {exc}") from exc
    return result


def read_bank_file(path: str | PathLike[str]) -> str:
    """The text of a bank file: UTF-8 (with or without BOM), else Latin-1."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"arquivo não encontrado: {p}") from None
    except IsADirectoryError:
        raise InputError(f"não é um arquivo: {p}") from None
    except OSError as exc:
        raise InputError(f"não foi possível ler {p}: {exc.strerror}") from exc
    if b"\x00" in data:
        raise InputError(f"{p} não é um arquivo de texto CSV (bytes nulos; UTF-16?)")
    if not data.strip():
        raise InputError(f"{p} está vazio")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


# ------------------------------------------------------------------ import


@dataclass(frozen=True)
class LineOutcome:
    line: int
    status: str  # applied | duplicate
    payment: PaymentResult


@dataclass
class ImportResult:
    source: str = "-"
    outcomes: list[LineOutcome] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)

    @property
    def applied(self) -> int:
        return sum(1 for o in self.outcomes if o.status == "applied")

    @property
    def duplicate(self) -> int:
        return sum(1 for o in self.outcomes if o.status == "duplicate")

    @property
    def rejected(self) -> int:
        return len(self.errors)

    @property
    def overpaid(self) -> int:
        """Applied lines that paid more than their invoice still owed."""
        return sum(1 for o in self.outcomes if o.status == "applied" and o.payment.excess > 0)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        return (f"applied={self.applied} duplicate={self.duplicate} rejected={self.rejected} "
                f"overpaid={self.overpaid}")


def apply_payment(
    engine: Engine,
    invoice_id: int,
    amount: Decimal,
    paid_on: date,
    reference: str | None = None,
    *,
    actor_kind: str = "cli",
    actor: str = "cli",
    address: str | None = None,
    now: datetime | None = None,
) -> PaymentResult:
    """``register_payment`` in a transaction of its own, committed.

    When another run stores the same reference between the duplicate check and the
    insert, the unique constraint refuses ours and the payment is answered as duplicate.
    """
    args = (invoice_id, amount, paid_on, reference)
    options = dict(actor_kind=actor_kind, actor=actor, address=address, now=now)
    try:
        with Session(engine) as session:
            result = register_payment(session, *args, **options)  # type: ignore[arg-type]
            session.commit()
            return result
    except IntegrityError:
        log.info("pagamento da fatura %s gravado por outra execução ao mesmo tempo", invoice_id)
    with Session(engine) as session:
        result = register_payment(session, *args, **options)  # type: ignore[arg-type]
        if result.status == "duplicate":
            return result
        session.rollback()
    raise ConflictError(f"o pagamento da fatura {invoice_id} conflitou com outra gravação simultânea; "
                        "tente de novo")


def import_payments(
    engine: Engine,
    bank: BankFile,
    *,
    source: str = "-",
    actor_kind: str = "cli",
    actor: str = "cli",
    now: datetime | None = None,
) -> ImportResult:
    """Apply each good line of ``bank`` in its own transaction; bad lines are reported, not fatal."""
    now = as_utc(now)
    result = ImportResult(source=source, errors=list(bank.errors))
    for line in bank.lines:
        try:
            outcome = apply_payment(engine, line.invoice_id, line.amount, line.paid_on, line.reference,
                                    actor_kind=actor_kind, actor=actor, now=now)
        except PainelError as exc:
            result.errors.append(LineError(line.line, exc.message))
            continue
        result.outcomes.append(LineOutcome(line.line, outcome.status, outcome))
    result.errors.sort(key=lambda e: e.line)
    with Session(engine) as session:
        record(session, actor_kind=actor_kind, actor=actor, action="billing.payment.import",
               target_kind="payments", target_id=None,
               after={"file": source, "result": result.summary(),
                      "rejected_lines": [e.line for e in result.errors]})
        session.commit()
    return result


def state_label(state: str) -> str:
    return STATE_LABELS.get(state, state)
