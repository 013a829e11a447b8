"""Re-rating a month after a plan correction."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from cdr_ingest.attribution import Quarantine, price_call
from painel.audit import record
from painel.catalog import load_catalog
from painel.errors import ConflictError, UnknownCircuit
from painel.fmt import brl
from painel.locks import job_lock
from painel.models import BILLED_DIRECTIONS, Cdr, Circuit, Invoice
from painel.periods import check_month

log = logging.getLogger("painel.cdr.rerate")


@dataclass
class RerateResult:
    examined: int = 0
    changed: int = 0
    failed: int = 0
    total_before: Decimal = Decimal("0.00")
    total_after: Decimal = Decimal("0.00")

    def summary(self) -> str:
        return (f"examinadas={self.examined} alteradas={self.changed} falhas={self.failed} "
                f"total_antes={brl(self.total_before)} total_depois={brl(self.total_after)}")


def rerate(engine: Engine, month: str, *, circuit: str | None = None, force: bool = False,
           actor: str = "cli") -> RerateResult:
    """Price again every billed call of ``month`` with the plans as they are now."""
    check_month(month)
    result = RerateResult()
    with job_lock(engine, "rerate"), Session(engine) as session:
        circuit_id = None
        if circuit is not None:
            circuit_id = session.scalar(select(Circuit.id).where(Circuit.number == circuit))
            if circuit_id is None:
                raise UnknownCircuit(circuit)
        invoiced = select(func.count()).select_from(Invoice).where(
            Invoice.month == month, Invoice.state.in_(("closed", "paid")))
        if circuit_id is not None:
            invoiced = invoiced.where(Invoice.circuit_id == circuit_id)
        n_invoiced = session.scalar(invoiced) or 0
        if n_invoiced and not force:
            raise ConflictError(
                f"o mês {month} já foi faturado para {n_invoiced} circuito(s); use --force para "
                "re-tarifar mesmo assim (a alteração fica registrada na auditoria)"
            )
        catalog = load_catalog(session)
        stmt = select(Cdr.id, Cdr.circuit_id, Cdr.direction, Cdr.caller_raw, Cdr.destination_raw, Cdr.billsec,
                      Cdr.start_utc, Cdr.amount, Cdr.billable_seconds, Cdr.plan_version_id, Cdr.category).where(
            Cdr.bill_month == month, Cdr.role == "call", Cdr.direction.in_(BILLED_DIRECTIONS))
        if circuit_id is not None:
            stmt = stmt.where(Cdr.circuit_id == circuit_id)
        updates: list[dict] = []
        now = datetime.now(timezone.utc)
        for row in session.execute(stmt):
            result.examined += 1
            result.total_before += row.amount
            info = catalog.circuits_by_id[row.circuit_id]
            other = row.caller_raw if row.direction == "collect" else row.destination_raw
            priced = price_call(info, row.direction, other, row.billsec, row.start_utc, catalog)
            if isinstance(priced, Quarantine):
                result.failed += 1
                result.total_after += row.amount
                log.warning("cdr %s não re-tarifado: %s", row.id, priced.detail)
                continue
            result.total_after += priced.amount
            category = priced.category.value if priced.category else None
            if (priced.amount, priced.billable_seconds, priced.plan_version_id, category) != (
                    row.amount, row.billable_seconds, row.plan_version_id, row.category):
                updates.append({"id": row.id, "amount": priced.amount, "billable_seconds": priced.billable_seconds,
                                "plan_version_id": priced.plan_version_id, "band": priced.band,
                                "category": category, "rated_at": now})
        if updates:
            session.execute(update(Cdr), updates)
        result.changed = len(updates)
        record(session, actor_kind="cli", actor=actor, action="cdr.rerate", target_kind="month",
               target_id=month, before={"total": str(result.total_before)},
               after={"total": str(result.total_after), "changed": result.changed, "circuit": circuit,
                      "forced": bool(force and n_invoiced)})
        session.commit()
    return result
