"""The customer's invoices as the portal's "Faturas" page shows them (seed: consultar-fatura).

* Fatura em Aberto: the running total of the current month, summed over the customer's
  active circuits (the current month in each circuit's own time zone), with one entry
  per circuit ("8011441 - SaperxTeste").
* Última Fatura: the last closed month across the customer's circuits, the sum of that
  month's issued invoices, whether all are paid and what is still owed.
* Histórico de Faturas: per year, one row per month (MM/AAAA) with its total and the
  individual invoices (each is downloaded on its own).

Issued invoices are those in state closed or paid; an inactive circuit's past invoices
stay in the history, while only active circuits run an open invoice. Totals are exact
``Decimal`` sums.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from billing.close import CLOSED_STATES, as_utc, month_of, open_lines, plan_monthly_fee
from billing.invoice import invoice_total
from billing.payments import Balance, balance_of, paid_amounts
from painel.db import sql_literals
from painel.errors import NotFound, ValidationError
from painel.fmt import mes_ref
from painel.models import Circuit, Customer, Invoice

ZERO = Decimal("0.00")
OPEN_LABEL = "Mês de Referência: Atual"


class UnknownCustomer(NotFound):
    def __init__(self, customer: int | str) -> None:
        super().__init__(f"cliente desconhecido: {customer}", reason="unknown_customer")
        self.customer = customer


def circuit_label(number: str, name: str) -> str:
    """``8011441 - SaperxTeste`` (just the number when the circuit has no name)."""
    return f"{number} - {name}" if name else number


@dataclass(frozen=True)
class OpenInvoice:
    """One active circuit's invoice of its current month (running total)."""

    circuit_id: int
    circuit_number: str
    circuit_name: str
    month: str  # YYYY-MM in the circuit's time zone
    total: Decimal
    #: the open Invoice row of the month, when one exists
    invoice_id: int | None

    @property
    def label(self) -> str:
        return circuit_label(self.circuit_number, self.circuit_name)


@dataclass(frozen=True)
class IssuedInvoice:
    """A closed or paid invoice of one circuit."""

    invoice_id: int
    circuit_id: int
    circuit_number: str
    circuit_name: str
    month: str
    total: Decimal
    state: str
    balance: Balance

    @property
    def paid(self) -> bool:
        """Nothing left to pay: state paid, or a closed invoice of R$ 0,00 (an empty month)."""
        return self.balance.outstanding == 0

    @property
    def paid_amount(self) -> Decimal:
        return self.balance.paid

    @property
    def outstanding(self) -> Decimal:
        return self.balance.outstanding

    @property
    def label(self) -> str:
        return circuit_label(self.circuit_number, self.circuit_name)


@dataclass(frozen=True)
class MonthInvoices:
    """A month of the history: the sum over the customer's invoices of that month."""

    month: str
    invoices: tuple[IssuedInvoice, ...]

    @property
    def label(self) -> str:
        return mes_ref(self.month)

    @property
    def total(self) -> Decimal:
        return sum((i.total for i in self.invoices), ZERO)

    @property
    def paid(self) -> bool:
        """Every invoice of the month is paid."""
        return all(i.paid for i in self.invoices)

    @property
    def outstanding(self) -> Decimal:
        return sum((i.outstanding for i in self.invoices), ZERO)


@dataclass(frozen=True)
class CustomerSummary:
    customer_id: int
    customer_name: str
    #: Fatura em Aberto: the current month's running total over the active circuits
    open_total: Decimal
    open_invoices: tuple[OpenInvoice, ...]
    #: Última Fatura: the last closed month (None before the first close)
    last_invoice: MonthInvoices | None
    #: what the customer still owes on issued invoices, and on how many
    unpaid_total: Decimal
    unpaid_count: int
    #: years with issued invoices, most recent first
    years: tuple[int, ...]
    #: every issued invoice of the customer, newest month first
    issued: tuple[IssuedInvoice, ...] = ()
    open_label: str = OPEN_LABEL

    def history(self, year: int) -> list[MonthInvoices]:
        """Histórico de Faturas of ``year`` (as ``history()``), from the invoices already read."""
        prefix = f"{year:04d}-"
        return _by_month([i for i in self.issued if i.month.startswith(prefix)])


# ------------------------------------------------------------------ statements
#
# The page runs these on every view: each is built once per process on the tables' columns
# with bind parameters, so SQLAlchemy's compiled cache serves it without building, hashing
# or re-rendering a statement, and the rows come back as plain Core rows (no ORM work).

_CUSTOMERS, _CIRCUITS, _INVOICES = Customer.__table__.c, Circuit.__table__.c, Invoice.__table__.c


_CUSTOMER_NAME = select(_CUSTOMERS.id, _CUSTOMERS.name).where(_CUSTOMERS.id == bindparam("customer_id"))
_ACTIVE_CIRCUITS = (select(_CIRCUITS.id, _CIRCUITS.number, _CIRCUITS.name, _CIRCUITS.timezone, _CIRCUITS.rate_plan_id)
                    .where(_CIRCUITS.customer_id == bindparam("customer_id"), _CIRCUITS.active.is_(True))
                    .order_by(_CIRCUITS.number))
_MONTH_INVOICES = (select(_INVOICES.circuit_id, _INVOICES.month, _INVOICES.id, _INVOICES.state, _INVOICES.total)
                   .where(_INVOICES.circuit_id.in_(bindparam("circuit_ids", expanding=True)),
                          _INVOICES.month.in_(bindparam("months", expanding=True))))


@functools.cache
def _issued_statement(states: tuple[str, ...], with_months: bool) -> Select[Any]:
    query = (select(_INVOICES.id, _INVOICES.circuit_id, _CIRCUITS.number, _CIRCUITS.name, _INVOICES.month,
                    _INVOICES.total, _INVOICES.state)
             .join(Circuit.__table__, _CIRCUITS.id == _INVOICES.circuit_id)
             .where(_CIRCUITS.customer_id == bindparam("customer_id"), _INVOICES.state.in_(sql_literals(states))))
    if with_months:
        query = query.where(_INVOICES.month >= bindparam("first"), _INVOICES.month <= bindparam("last"))
    return query.order_by(_INVOICES.month.desc(), _CIRCUITS.number, _INVOICES.id)


def _customer(session: Session, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise UnknownCustomer(customer_id)
    return customer


def _customer_name(conn: Connection, customer_id: int) -> str:
    """The customer's name (UnknownCustomer when there is none), without loading the entity."""
    row = conn.execute(_CUSTOMER_NAME, {"customer_id": customer_id}).first()
    if row is None:
        raise UnknownCustomer(customer_id)
    return row.name


def _issued(session: Session, customer_id: int, *, months: tuple[str, str] | None = None,
            states: tuple[str, ...] = CLOSED_STATES) -> list[IssuedInvoice]:
    """The customer's issued invoices (optionally within [first, last] month), newest month first."""
    conn = session.connection()
    params: dict[str, Any] = {"customer_id": customer_id}
    if months is not None:
        params.update(first=months[0], last=months[1])
    rows = conn.execute(_issued_statement(tuple(states), months is not None), params).all()
    paid = paid_amounts(conn, [r.id for r in rows])
    return [IssuedInvoice(invoice_id=r.id, circuit_id=r.circuit_id, circuit_number=r.number, circuit_name=r.name,
                          month=r.month, total=r.total, state=r.state,
                          balance=balance_of(r.id, r.state, r.total, paid[r.id]))
            for r in rows]


def _by_month(invoices: list[IssuedInvoice]) -> list[MonthInvoices]:
    months: dict[str, list[IssuedInvoice]] = {}
    for invoice in invoices:
        months.setdefault(invoice.month, []).append(invoice)
    return [MonthInvoices(month, tuple(items)) for month, items in sorted(months.items(), reverse=True)]


def open_invoices(session: Session, customer_id: int, now: datetime) -> list[OpenInvoice]:
    """Each active circuit's current month (in its own time zone) with its running total.

    A few queries whatever the number of circuits: the circuits, their invoice rows of
    the month, one fee per plan, then the calls not yet invoiced added up per circuit
    (``billing.close.open_lines``, served by an index).
    """
    now = as_utc(now)
    conn = session.connection()  # plain Core statements: no ORM work per query
    _customer_name(conn, customer_id)
    return _open_invoices(conn, customer_id, now)


def _open_invoices(conn: Connection, customer_id: int, now: datetime) -> list[OpenInvoice]:
    circuits = conn.execute(_ACTIVE_CIRCUITS, {"customer_id": customer_id}).all()
    if not circuits:
        return []
    months = {c.id: month_of(now, ZoneInfo(c.timezone)) for c in circuits}
    rows = conn.execute(_MONTH_INVOICES, {"circuit_ids": list(months), "months": sorted(set(months.values()))})
    invoices = {r.circuit_id: r for r in rows if r.month == months[r.circuit_id]}
    fees: dict[tuple[int | None, str], Decimal | None] = {}
    out = []
    for circuit in circuits:
        month = months[circuit.id]
        invoice = invoices.get(circuit.id)
        if invoice is not None and invoice.state in CLOSED_STATES:
            total = invoice.total  # the month is already closed (a zone ahead of the clock, or a rerun)
        else:
            key = (circuit.rate_plan_id, month)
            if key not in fees:
                fees[key] = plan_monthly_fee(conn, circuit.rate_plan_id, month)
            total = invoice_total(open_lines(conn, circuit.id, month, invoice.id if invoice else None, fees[key]))
        out.append(OpenInvoice(circuit_id=circuit.id, circuit_number=circuit.number, circuit_name=circuit.name,
                               month=month, total=total,
                               invoice_id=invoice.id if invoice is not None and invoice.state == "open" else None))
    return out


def last_invoice(session: Session, customer_id: int) -> MonthInvoices | None:
    """Última Fatura: the invoices of the last month closed for any of the customer's circuits."""
    _customer(session, customer_id)
    month = session.scalar(select(Invoice.month).join(Circuit, Circuit.id == Invoice.circuit_id)
                           .where(Circuit.customer_id == customer_id, Invoice.state.in_(CLOSED_STATES))
                           .order_by(Invoice.month.desc()).limit(1))
    if month is None:
        return None
    return MonthInvoices(month, tuple(_issued(session, customer_id, months=(month, month))))


def unpaid_invoices(session: Session, customer_id: int) -> list[IssuedInvoice]:
    """Issued invoices with something left to pay, newest first, each with what it still owes."""
    _customer(session, customer_id)
    return [i for i in _issued(session, customer_id, states=("closed",)) if i.outstanding > 0]


def history(session: Session, customer_id: int, year: int) -> list[MonthInvoices]:
    """Histórico de Faturas of ``year``: one row per month with issued invoices, newest first."""
    _customer(session, customer_id)
    if not 1 <= year <= 9999:
        raise ValidationError(f"ano inválido: {year}")
    return _by_month(_issued(session, customer_id, months=(f"{year:04d}-01", f"{year:04d}-12")))


def history_years(session: Session, customer_id: int) -> list[int]:
    """The years with issued invoices for the customer, most recent first."""
    _customer(session, customer_id)
    months = session.scalars(select(Invoice.month).join(Circuit, Circuit.id == Invoice.circuit_id)
                             .where(Circuit.customer_id == customer_id, Invoice.state.in_(CLOSED_STATES))
                             .distinct())
    return sorted({int(m[:4]) for m in months}, reverse=True)


def customer_summary(session: Session, customer_id: int, now: datetime) -> CustomerSummary:
    """Resumo do Cliente: name, Fatura em Aberto, Última Fatura, what is owed, the history's years.

    The customer's issued invoices are read once (a few hundred rows after years) and the
    summary, the unpaid ones and the years come from that one list; ``history_of`` gives
    the Histórico of a year from it too.
    """
    conn = session.connection()
    name = _customer_name(conn, customer_id)
    current = _open_invoices(conn, customer_id, as_utc(now))
    issued = _issued(session, customer_id)
    unpaid = [i for i in issued if i.state == "closed" and i.outstanding > 0]
    last = issued[0].month if issued else None
    return CustomerSummary(
        customer_id=customer_id,
        customer_name=name,
        open_total=sum((o.total for o in current), ZERO),
        open_invoices=tuple(current),
        last_invoice=MonthInvoices(last, tuple(i for i in issued if i.month == last)) if last else None,
        unpaid_total=sum((i.outstanding for i in unpaid), ZERO),
        unpaid_count=len(unpaid),
        years=tuple(sorted({int(i.month[:4]) for i in issued}, reverse=True)),
        issued=tuple(issued),
    )
