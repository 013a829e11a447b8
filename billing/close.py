"""Closing a month: one invoice per circuit, one transaction per invoice.

``close_month`` is idempotent: a circuit whose invoice for the month is already closed
(or paid) is skipped, so a run that failed or crashed half-way is completed by running
it again. Calls that arrive after their month was closed (``invoice_id`` still empty)
land on the next invoice closed for that circuit as an adjustment line naming their
month.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, String, bindparam, cast, delete, func, insert, literal_column, select, union, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from billing.invoice import Call, LateCall, Line, Sums, invoice_lines, invoice_total, lines_from_sums
from painel.audit import record
from painel.db import sql_literals
from painel.errors import UnknownCircuit, ValidationError
from painel.fmt import mes_ref
from painel.locks import job_lock
from painel.models import (
    BILLED_DIRECTIONS,
    AuditEvent,
    Cdr,
    Circuit,
    Invoice,
    InvoiceLine,
    QuarantinedCdr,
    RatePlanVersion,
    billed_calls,
)
from painel.periods import check_month

log = logging.getLogger("painel.billing.close")

LOCK_NAME = "bill-close"
CLOSED_STATES = ("closed", "paid")
DUE_DAYS = 10
ZERO = Decimal("0.00")


@dataclass
class CloseResult:
    month: str
    closed: int = 0
    already_closed: int = 0
    failed: int = 0
    #: closed with nothing to charge (no calls, no fee): a zero invoice marks the month closed
    empty: int = 0
    total: Decimal = ZERO
    warnings: list[str] = field(default_factory=list)
    #: circuit number -> error message
    failures: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        return (f"closed={self.closed} already_closed={self.already_closed} failed={self.failed} "
                f"empty={self.empty} total={self.total:.2f}")


# ------------------------------------------------------------------ months


def month_of(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{local.year:04d}-{local.month:02d}"


def month_before(month: str) -> str:
    year, mon = (int(x) for x in month.split("-"))
    return f"{year - 1:04d}-12" if mon == 1 else f"{year:04d}-{mon - 1:02d}"


def first_day(month: str) -> date:
    year, mon = (int(x) for x in month.split("-"))
    return date(year, mon, 1)


def as_utc(now: datetime | None) -> datetime:
    """``now`` (default: the current time) in UTC; a naive datetime is refused."""
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        raise ValidationError("a data de referência precisa de fuso horário")
    return now.astimezone(timezone.utc)


@dataclass(frozen=True, slots=True)
class Target:
    """What closing needs of a circuit, read once per run (no ORM object per circuit)."""

    id: int
    number: str
    timezone: str
    rate_plan_id: int | None


def _select_circuits(session: Session, circuit: str | None) -> list[Target]:
    """``circuit`` (active or not), or every active circuit in number order."""
    cols = select(Circuit.id, Circuit.number, Circuit.timezone, Circuit.rate_plan_id)
    if circuit is not None:
        found = session.execute(cols.where(Circuit.number == circuit)).first()
        if found is None:
            raise UnknownCircuit(circuit)
        return [Target(*found)]
    return [Target(*row) for row in session.execute(cols.where(Circuit.active.is_(True)).order_by(Circuit.number))]


def circuits_to_close(engine: Engine, circuit: str | None = None) -> int:
    """How many circuits a close would visit (for a progress bar)."""
    with Session(engine) as session:
        return len(_select_circuits(session, circuit))


def previous_month(engine: Engine, *, circuit: str | None = None, now: datetime | None = None) -> str:
    """The last month that has finished in the time zone of every circuit concerned."""
    now = as_utc(now)
    with Session(engine) as session:
        zones = {c.timezone for c in _select_circuits(session, circuit)} or {"UTC"}
    current = min(month_of(now, ZoneInfo(z)) for z in zones)
    return month_before(current)


def check_month_finished(month: str, circuits: Sequence[Circuit | Target], now: datetime) -> None:
    """Refuse the current month or a future one (in each circuit's zone; UTC without circuits)."""
    first: dict[str, str] = {}  # zone -> the first circuit in it (the one an error names)
    for c in circuits:
        first.setdefault(c.timezone, c.number)
    zones = [(number, zone) for zone, number in first.items()] or [("-", "UTC")]
    for number, zone in zones:
        local_month = month_of(now, ZoneInfo(zone))
        if month > local_month:
            raise ValidationError(f"o mês {mes_ref(month)} está no futuro; só é possível fechar meses encerrados")
        if month == local_month:
            raise ValidationError(
                f"o mês {mes_ref(month)} ainda não terminou no fuso do circuito {number} ({zone}); "
                "só é possível fechar meses encerrados"
            )


# ------------------------------------------------------------------ gathering


_CALL_COLUMNS = (Cdr.id, Cdr.category, Cdr.billable_seconds, Cdr.amount, Cdr.billsec, Cdr.bill_month)


@functools.cache
def _open_calls_query(with_open_invoice: bool):  # type: ignore[no-untyped-def]
    """The calls query, built once: parameters circuit_id, month (and open_invoice_id)."""
    circuit_id, month = bindparam("circuit_id", type_=Integer()), bindparam("month", type_=String())
    not_invoiced = Cdr.invoice_id.is_(None)
    if with_open_invoice:
        not_invoiced = not_invoiced | (Cdr.invoice_id == bindparam("open_invoice_id", type_=Integer()))
    closed_months = select(Invoice.month).where(Invoice.circuit_id == circuit_id,
                                               Invoice.state.in_(sql_literals(CLOSED_STATES)))
    return select(*_CALL_COLUMNS).where(
        Cdr.circuit_id == circuit_id, Cdr.role == "call", Cdr.direction.in_(sql_literals(BILLED_DIRECTIONS)),
        not_invoiced,
        (Cdr.bill_month == month) | ((Cdr.bill_month < month) & Cdr.bill_month.in_(closed_months)),
    ).order_by(Cdr.id)


def _open_calls(session: Session | Connection, circuit_id: int, month: str,  # type: ignore[no-untyped-def]
                open_invoice_id: int | None):
    """Rows (id, category, billable_seconds, amount, billsec, bill_month) of the month and of late calls.

    Late calls are calls of an earlier month already closed for the circuit, still on no
    invoice. Both come from one query (one round trip per circuit), each list in id order.
    """
    params: dict[str, object] = {"circuit_id": circuit_id, "month": month}
    if open_invoice_id is not None:
        params["open_invoice_id"] = open_invoice_id
    rows = session.execute(_open_calls_query(open_invoice_id is not None), params).all()
    current = [r for r in rows if r.bill_month == month]
    late = [r for r in rows if r.bill_month != month]
    return current, late


def _lines_for(current, late, fee: Decimal | None) -> list[Line]:  # type: ignore[no-untyped-def]
    # unanswered calls (billsec 0) are linked to the invoice but not printed: they cost nothing
    calls = [Call(r.category, r.billable_seconds, r.amount) for r in current if r.billsec > 0 or r.amount]
    adjustments = [LateCall(r.bill_month, r.category, r.billable_seconds, r.amount)
                   for r in late if r.billsec > 0 or r.amount]
    return invoice_lines(calls, fee, adjustments)


def monthly_fee(session: Session, circuit: Circuit | Target, month: str) -> Decimal | None:
    """The fee of the circuit's plan version valid on the month's first day; None without a plan."""
    return plan_monthly_fee(session, circuit.rate_plan_id, month)


def plan_monthly_fee(session: Session | Connection, rate_plan_id: int | None, month: str) -> Decimal | None:
    """The fee of the plan's version valid on the month's first day; None without a plan or version.

    The version is chosen as ``painel.rating.select_version`` chooses it: the latest
    ``valid_from`` on or before the day (versions of one plan have distinct dates).
    """
    if rate_plan_id is None:
        return None
    return session.execute(
        select(RatePlanVersion.monthly_fee)
        .where(RatePlanVersion.plan_id == rate_plan_id, RatePlanVersion.valid_from <= first_day(month))
        .order_by(RatePlanVersion.valid_from.desc()).limit(1)
    ).scalar()


@functools.cache
def _open_sums_query(with_open_invoice: bool):  # type: ignore[no-untyped-def]
    """``_open_calls_query`` added up per billing month and category, in the database.

    Served by ix_cdrs_billed: the month's calls and the late ones are found in the index,
    and only the calls still on no invoice are read from the table.
    """
    circuit_id, month = bindparam("circuit_id", type_=Integer()), bindparam("month", type_=String())
    not_invoiced = Cdr.invoice_id.is_(None)
    if with_open_invoice:
        not_invoiced = not_invoiced | (Cdr.invoice_id == bindparam("open_invoice_id", type_=Integer()))
    # the month and the earlier closed ones, as one list: each is an equality seek on the
    # index (circuit, month, invoice_id NULL), where "this month OR an earlier closed one"
    # would scan the circuit's whole history in the index
    months = union(select(cast(month, String(7))),
                   select(Invoice.month).where(Invoice.circuit_id == circuit_id, Invoice.month < month,
                                               Invoice.state.in_(sql_literals(CLOSED_STATES))))
    return select(Cdr.bill_month, Cdr.category, func.count(), func.sum(Cdr.billable_seconds),
                  func.sum(Cdr.amount)).where(
        Cdr.circuit_id == circuit_id, billed_calls(), Cdr.bill_month.in_(months), not_invoiced,
        # what _lines_for prints: answered calls, and any call that costs something
        (Cdr.billsec > 0) | (Cdr.amount != literal_column("0")),
    ).group_by(Cdr.bill_month, Cdr.category)


def open_lines(session: Session | Connection, circuit_id: int, month: str, open_invoice_id: int | None,
               fee: Decimal | None) -> list[Line]:
    """The lines the month's invoice would print if it closed now (the calls added up in SQL)."""
    params: dict[str, object] = {"circuit_id": circuit_id, "month": month}
    if open_invoice_id is not None:
        params["open_invoice_id"] = open_invoice_id
    by_category: dict[str | None, Sums] = {}
    by_month: dict[str, list] = {}
    for bill_month, category, calls, seconds, amount in session.execute(
            _open_sums_query(open_invoice_id is not None), params):
        if bill_month == month:
            by_category[category] = Sums(calls, int(seconds or 0), amount)
        else:  # an adjustment line per late month, whatever the categories
            acc = by_month.setdefault(bill_month, [0, 0, ZERO])
            acc[0] += calls
            acc[1] += int(seconds or 0)
            acc[2] += amount
    return lines_from_sums(by_category, fee, {m: Sums(*acc) for m, acc in by_month.items()})


def open_invoice_total(session: Session, circuit_id: int, month: str) -> Decimal:
    """Running total of ``month`` for the portal: calls not yet invoiced plus the monthly fee.

    Late calls of earlier closed months are included, as they will land on this invoice.
    A month already closed answers its invoice's total.
    """
    check_month(month)
    circuit = session.get(Circuit, circuit_id)
    if circuit is None:
        raise UnknownCircuit(str(circuit_id))
    invoice = session.execute(select(Invoice.id, Invoice.state, Invoice.total)
                              .where(Invoice.circuit_id == circuit_id, Invoice.month == month)).first()
    if invoice is not None and invoice.state in CLOSED_STATES:
        return invoice.total
    fee = plan_monthly_fee(session, circuit.rate_plan_id, month)
    return invoice_total(open_lines(session, circuit_id, month, invoice.id if invoice is not None else None, fee))


# ------------------------------------------------------------------ closing


def unresolved_quarantine(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(QuarantinedCdr)
                          .where(QuarantinedCdr.resolved_at.is_(None))) or 0


class _FeeCache:
    """Monthly fee per plan for one close run: each plan is read once, not once per circuit."""

    def __init__(self, month: str) -> None:
        self.month = month
        self._fees: dict[int | None, Decimal | None] = {}

    def __call__(self, conn: Connection, rate_plan_id: int | None) -> Decimal | None:
        try:
            return self._fees[rate_plan_id]
        except KeyError:
            pass
        fee = plan_monthly_fee(conn, rate_plan_id, self.month)
        self._fees[rate_plan_id] = fee
        return fee


_INVOICES = Invoice.__table__
_LINES = InvoiceLine.__table__
_CDRS = Cdr.__table__
_AUDIT = AuditEvent.__table__
#: ids per UPDATE of cdrs.invoice_id (bound parameters stay far below SQLite's limit)
UPDATE_CHUNK = 500


@functools.cache
def _statements() -> dict[str, Any]:
    """The per-circuit statements, built once (SQLAlchemy then reuses their compiled form)."""
    inv = _INVOICES.c
    return {
        "invoice": select(inv.id, inv.state).where(inv.circuit_id == bindparam("circuit_id"),
                                                   inv.month == bindparam("month")),
        "insert_invoice": insert(_INVOICES),
        "update_invoice": update(_INVOICES).where(inv.id == bindparam("invoice_id")),
        "delete_lines": delete(_LINES).where(_LINES.c.invoice_id == bindparam("invoice_id")),
        # RETURNING makes SQLAlchemy batch the rows into one statement, compiled once (a plain
        # executemany is one round trip per row on psycopg, and values([...]) is never cached)
        "insert_lines": insert(_LINES).returning(_LINES.c.id),
        "link_calls": update(_CDRS).where(_CDRS.c.id.in_(bindparam("ids", expanding=True)))
                      .values(invoice_id=bindparam("invoice_id")),
        "insert_audit": insert(_AUDIT),
    }


def _write_audit(conn: Connection, **event: Any) -> None:
    """``painel.audit.record``'s event, written with a plain INSERT on ``conn``.

    ``record`` builds the row (so its format stays the one every other audit event has);
    no ORM session or flush is needed for it. Attributes left unset (``None``) are left to
    the column defaults, as the ORM would.
    """
    with Session() as scratch:
        row = record(scratch, **event)
        scratch.expunge(row)
    values = {c.key: getattr(row, c.key) for c in _AUDIT.columns if getattr(row, c.key) is not None}
    conn.execute(_statements()["insert_audit"], values)


def _close_circuit(conn: Connection, circuit: Circuit | Target, month: str, now: datetime, actor: str,
                   warnings: list[str], fees: _FeeCache | None = None) -> tuple[str, Decimal]:
    """Close one circuit's invoice in ``conn``'s transaction (the caller commits); returns (outcome, total).

    A handful of Core statements per circuit, built once: no ORM object per call or line.
    """
    st = _statements()
    invoice = conn.execute(st["invoice"], {"circuit_id": circuit.id, "month": month}).first()
    if invoice is not None and invoice.state in CLOSED_STATES:
        return "already_closed", ZERO
    fees = fees or _FeeCache(month)
    fee = fees(conn, circuit.rate_plan_id)
    if fee is None:
        warnings.append(f"circuito {circuit.number}: sem plano vigente em {first_day(month):%d/%m/%Y}; "
                        "mensalidade 0")
        log.warning("circuito %s sem plano vigente em %s: mensalidade 0", circuit.number, month)
    current, late = _open_calls(conn, circuit.id, month, invoice.id if invoice is not None else None)
    lines = _lines_for(current, late, fee)
    total = invoice_total(lines)
    issued = now.astimezone(ZoneInfo(circuit.timezone)).date()
    values = {"state": "closed", "total": total, "issued_on": issued, "due_on": issued + timedelta(days=DUE_DAYS),
              "closed_at": now}
    if invoice is None:
        invoice_id = conn.execute(st["insert_invoice"], {"circuit_id": circuit.id, "month": month, **values}
                                  ).inserted_primary_key[0]
    else:  # an open invoice's running lines are replaced
        invoice_id = invoice.id
        conn.execute(st["delete_lines"], {"invoice_id": invoice_id})
        conn.execute(st["update_invoice"], {"invoice_id": invoice_id, **values})
    if lines:  # executemany, sent as one multi-row INSERT (SQLAlchemy's "insertmanyvalues")
        conn.execute(st["insert_lines"], [
            {"invoice_id": invoice_id, "position": position, "kind": line.kind, "category": line.category,
             "description": line.description, "calls": line.calls, "billable_seconds": line.billable_seconds,
             "amount": line.amount, "ref_month": line.ref_month}
            for position, line in enumerate(lines, start=1)
        ])
    ids = [r.id for r in current] + [r.id for r in late]
    for start in range(0, len(ids), UPDATE_CHUNK):
        conn.execute(st["link_calls"], {"ids": ids[start:start + UPDATE_CHUNK], "invoice_id": invoice_id})
    _write_audit(conn, actor_kind="cli", actor=actor, action="billing.close", target_kind="invoice",
                 target_id=invoice_id, after={"circuit": circuit.number, "month": month, "total": str(total),
                                              "lines": len(lines), "calls": len(ids)})
    return ("closed" if lines else "empty"), total


def close_month(
    engine: Engine,
    month: str,
    *,
    circuit: str | None = None,
    strict: bool = False,
    now: datetime | None = None,
    progress: Callable[[int], object] | None = None,
    actor: str = "cli",
) -> CloseResult:
    """Close ``month`` for every active circuit (or ``circuit``): one transaction per invoice."""
    check_month(month)
    now = as_utc(now)
    result = CloseResult(month)
    with Session(engine) as session:
        targets = _select_circuits(session, circuit)
    check_month_finished(month, targets, now)
    fees = _FeeCache(month)
    with job_lock(engine, LOCK_NAME):
        with Session(engine) as session:
            pending = unresolved_quarantine(session)
        if pending:
            message = (f"{pending} CDR(s) em quarentena sem solução: podem pertencer ao mês "
                       f"{mes_ref(month)} (veja 'painel cdr quarantine list')")
            if strict:
                raise ValidationError(message + "; fechamento cancelado (--strict)")
            result.warnings.append(message)
            log.warning("%s", message)
        conn: Connection | None = None  # one connection for the run, one transaction per invoice
        try:
            for target in targets:
                try:
                    if conn is None:
                        conn = engine.connect()
                    with conn.begin():  # commits, or rolls back everything this circuit wrote
                        outcome, total = _close_circuit(conn, target, month, now, actor, result.warnings, fees)
                except Exception as exc:  # one circuit's failure must not stop the others
                    result.failed += 1
                    result.failures[target.number] = str(exc)
                    log.exception("falha ao fechar a fatura %s do circuito %s", month, target.number)
                    if conn is not None and conn.invalidated:  # lost the connection: the next circuit gets a new one
                        conn.close()
                        conn = None
                else:
                    setattr(result, outcome, getattr(result, outcome) + 1)
                    result.total += total
                if progress is not None:
                    progress(1)
        finally:
            if conn is not None:
                conn.close()
    return result
