"""Closing a month: one invoice per circuit, one transaction per invoice.

``close_month`` is idempotent: a circuit whose invoice for the month is already closed
(or paid) is skipped, so a run that failed or crashed half-way is completed by running
it again. Calls that arrive after their month was closed (``invoice_id`` still empty)
land on the next invoice closed for that circuit as an adjustment line naming their
month.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, selectinload

from billing.invoice import Call, LateCall, Line, invoice_lines, invoice_total
from painel.audit import record
from painel.catalog import version_rules
from painel.errors import NoPlan, UnknownCircuit, ValidationError
from painel.fmt import mes_ref
from painel.locks import job_lock
from painel.models import BILLED_DIRECTIONS, Cdr, Circuit, Invoice, InvoiceLine, QuarantinedCdr, RatePlan, RatePlanVersion
from painel.periods import check_month
from painel.rating import select_version

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


def _utc(now: datetime | None) -> datetime:
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        raise ValidationError("a data de referência precisa de fuso horário")
    return now.astimezone(timezone.utc)


def _select_circuits(session: Session, circuit: str | None) -> list[Circuit]:
    if circuit is not None:
        found = session.scalar(select(Circuit).where(Circuit.number == circuit))
        if found is None:
            raise UnknownCircuit(circuit)
        return [found]
    return list(session.scalars(select(Circuit).where(Circuit.active.is_(True)).order_by(Circuit.number)))


def circuits_to_close(engine: Engine, circuit: str | None = None) -> int:
    """How many circuits a close would visit (for a progress bar)."""
    with Session(engine) as session:
        return len(_select_circuits(session, circuit))


def previous_month(engine: Engine, *, circuit: str | None = None, now: datetime | None = None) -> str:
    """The last month that has finished in the time zone of every circuit concerned."""
    now = _utc(now)
    with Session(engine) as session:
        zones = {c.timezone for c in _select_circuits(session, circuit)} or {"UTC"}
    current = min(month_of(now, ZoneInfo(z)) for z in zones)
    return month_before(current)


def check_month_finished(month: str, circuits: Sequence[Circuit], now: datetime) -> None:
    """Refuse the current month or a future one (in each circuit's zone; UTC without circuits)."""
    zones = [(c.number, c.timezone) for c in circuits] or [("-", "UTC")]
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


def _billed(circuit_id: int):  # type: ignore[no-untyped-def]
    return (Cdr.circuit_id == circuit_id, Cdr.role == "call", Cdr.direction.in_(BILLED_DIRECTIONS))


def _open_calls(session: Session, circuit_id: int, month: str, open_invoice_id: int | None):  # type: ignore[no-untyped-def]
    """Rows (id, category, billable_seconds, amount, billsec, bill_month) of the month and of late calls."""
    not_invoiced = Cdr.invoice_id.is_(None)
    if open_invoice_id is not None:
        not_invoiced = not_invoiced | (Cdr.invoice_id == open_invoice_id)
    cols = (Cdr.id, Cdr.category, Cdr.billable_seconds, Cdr.amount, Cdr.billsec, Cdr.bill_month)
    current = session.execute(
        select(*cols).where(*_billed(circuit_id), Cdr.bill_month == month, not_invoiced).order_by(Cdr.id)
    ).all()
    closed_months = select(Invoice.month).where(Invoice.circuit_id == circuit_id,
                                               Invoice.state.in_(CLOSED_STATES))
    late = session.execute(
        select(*cols).where(*_billed(circuit_id), Cdr.bill_month < month, not_invoiced,
                            Cdr.bill_month.in_(closed_months)).order_by(Cdr.id)
    ).all()
    return current, late


def _lines_for(current, late, fee: Decimal | None) -> list[Line]:  # type: ignore[no-untyped-def]
    # unanswered calls (billsec 0) are linked to the invoice but not printed: they cost nothing
    calls = [Call(r.category, r.billable_seconds, r.amount) for r in current if r.billsec > 0 or r.amount]
    adjustments = [LateCall(r.bill_month, r.category, r.billable_seconds, r.amount)
                   for r in late if r.billsec > 0 or r.amount]
    return invoice_lines(calls, fee, adjustments)


def monthly_fee(session: Session, circuit: Circuit, month: str) -> Decimal | None:
    """The fee of the circuit's plan version valid on the month's first day; None without a plan."""
    if circuit.rate_plan_id is None:
        return None
    plan = session.scalar(select(RatePlan).where(RatePlan.id == circuit.rate_plan_id).options(
        selectinload(RatePlan.versions).selectinload(RatePlanVersion.tariffs)))
    if plan is None:
        return None
    versions = [version_rules(v, plan.code, frozenset()) for v in plan.versions]
    try:
        return select_version(versions, first_day(month)).monthly_fee
    except NoPlan:
        return None


def open_invoice_total(session: Session, circuit_id: int, month: str) -> Decimal:
    """Running total of ``month`` for the portal: calls not yet invoiced plus the monthly fee.

    Late calls of earlier closed months are included, as they will land on this invoice.
    A month already closed answers its invoice's total.
    """
    check_month(month)
    circuit = session.get(Circuit, circuit_id)
    if circuit is None:
        raise UnknownCircuit(str(circuit_id))
    invoice = session.scalar(select(Invoice).where(Invoice.circuit_id == circuit_id, Invoice.month == month))
    if invoice is not None and invoice.state in CLOSED_STATES:
        return invoice.total
    current, late = _open_calls(session, circuit_id, month, invoice.id if invoice is not None else None)
    return invoice_total(_lines_for(current, late, monthly_fee(session, circuit, month)))


# ------------------------------------------------------------------ closing


def unresolved_quarantine(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(QuarantinedCdr)
                          .where(QuarantinedCdr.resolved_at.is_(None))) or 0


def _close_circuit(session: Session, circuit: Circuit, month: str, now: datetime, actor: str,
                   warnings: list[str]) -> tuple[str, Decimal]:
    """Close one circuit's invoice in ``session`` (the caller commits); returns (outcome, total)."""
    invoice = session.scalar(select(Invoice).where(Invoice.circuit_id == circuit.id, Invoice.month == month))
    if invoice is not None and invoice.state in CLOSED_STATES:
        return "already_closed", ZERO
    fee = monthly_fee(session, circuit, month)
    if fee is None:
        warnings.append(f"circuito {circuit.number}: sem plano vigente em {first_day(month):%d/%m/%Y}; "
                        "mensalidade 0")
        log.warning("circuito %s sem plano vigente em %s: mensalidade 0", circuit.number, month)
    current, late = _open_calls(session, circuit.id, month, invoice.id if invoice is not None else None)
    lines = _lines_for(current, late, fee)
    total = invoice_total(lines)
    if invoice is None:
        invoice = Invoice(circuit_id=circuit.id, month=month)
        session.add(invoice)
    else:
        invoice.lines.clear()  # an open invoice's running lines are replaced
    session.flush()
    issued = now.astimezone(ZoneInfo(circuit.timezone)).date()
    invoice.state = "closed"
    invoice.total = total
    invoice.issued_on = issued
    invoice.due_on = issued + timedelta(days=DUE_DAYS)
    invoice.closed_at = now
    for position, line in enumerate(lines, start=1):
        invoice.lines.append(InvoiceLine(
            position=position, kind=line.kind, category=line.category, description=line.description,
            calls=line.calls, billable_seconds=line.billable_seconds, amount=line.amount, ref_month=line.ref_month,
        ))
    ids = [r.id for r in current] + [r.id for r in late]
    for start in range(0, len(ids), 500):
        session.execute(update(Cdr).where(Cdr.id.in_(ids[start:start + 500])).values(invoice_id=invoice.id))
    record(session, actor_kind="cli", actor=actor, action="billing.close", target_kind="invoice",
           target_id=invoice.id, after={"circuit": circuit.number, "month": month, "total": str(total),
                                        "lines": len(lines), "calls": len(ids)})
    session.flush()
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
    now = _utc(now)
    result = CloseResult(month)
    with Session(engine) as session:
        circuits = _select_circuits(session, circuit)
        check_month_finished(month, circuits, now)
        targets = [(c.id, c.number) for c in circuits]
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
        for circuit_id, number in targets:
            try:
                with Session(engine) as session:
                    c = session.get(Circuit, circuit_id)
                    assert c is not None
                    outcome, total = _close_circuit(session, c, month, now, actor, result.warnings)
                    session.commit()
            except Exception as exc:  # one circuit's failure must not stop the others
                result.failed += 1
                result.failures[number] = str(exc)
                log.exception("falha ao fechar a fatura %s do circuito %s", month, number)
            else:
                setattr(result, outcome, getattr(result, outcome) + 1)
                result.total += total
            if progress is not None:
                progress(1)
    return result
