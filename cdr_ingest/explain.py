"""``painel cdr explain``: the operator's answer to "why was I charged this"."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from painel.catalog import version_rules
from painel.categories import Category
from painel.errors import NoPlan, UnknownCircuit
from painel.fmt import brl, data_br, preco
from painel.models import Circuit, Holiday, RatePlan, RatePlanVersion
from painel.numbering import NumberInfo, normalize_and_classify
from painel.rating import PlanVersionRules, Rated, rate_call, select_version


@dataclass
class Explanation:
    circuit: Circuit
    info: NumberInfo
    category: Category
    local_start: datetime
    plan_name: str
    plan: PlanVersionRules
    rated: Rated
    seconds: int

    def text(self) -> str:
        c, i, r = self.circuit, self.info, self.rated
        parts = [i.kind.value]
        if i.ddd:
            parts.append(f"DDD {i.ddd}")
        if i.csp:
            parts.append(f"CSP {i.csp}")
        if i.collect:
            parts.append("a cobrar")
        lines = [
            f"Circuito:       {c.number} - {c.name} (DDD {c.home_ddd}, {c.timezone})",
            f"Número discado: {i.raw}",
            f"Normalizado:    {i.e164} ({', '.join(parts)})",
            f"Categoria:      {self.category.label}",
            f"Plano:          {self.plan.plan_code} \"{self.plan_name}\" versão {self.plan.version} "
            f"(vigente desde {data_br(self.plan.valid_from)})",
            f"Início:         {self.local_start:%d/%m/%Y %H:%M} ({'horário reduzido' if r.band == 'reduced' else 'horário normal'})",
        ]
        t = r.tariff
        if t is not None:
            per_min = t.reduced_price_per_minute if r.band == "reduced" and t.reduced_price_per_minute is not None \
                else t.price_per_minute
            lines.append(
                f"Tarifa:         {preco(per_min)}/min, "
                f"conexão {brl(t.connection_fee)}; carência {t.grace_seconds} s, mínimo {t.minimum_seconds} s, "
                f"incremento {t.increment_seconds} s"
            )
        if r.amount == 0 and (self.category == Category.GRATUITA or i.collect):
            lines.append("Cobrança:       gratuita para o circuito")
        lines.append(f"Duração:        {self.seconds} s atendidos -> {r.billable_seconds} s tarifáveis")
        lines.append(f"Valor:          {brl(r.amount)}")
        return "\n".join(lines)


def explain(session: Session, circuit_number: str, dialed: str, seconds: int,
            local_start: datetime | None = None) -> Explanation:
    """Rate one hypothetical call exactly as the ingester would."""
    circuit = session.scalar(select(Circuit).where(Circuit.number == circuit_number))
    if circuit is None:
        raise UnknownCircuit(circuit_number)
    tz = ZoneInfo(circuit.timezone)
    if local_start is None:
        local_start = datetime.now(timezone.utc).astimezone(tz).replace(tzinfo=None, second=0, microsecond=0)
    info, category = normalize_and_classify(dialed, circuit.home_ddd)
    if circuit.rate_plan_id is None:
        raise NoPlan(f"o circuito {circuit.number} não tem plano de tarifas")
    plan = session.scalar(
        select(RatePlan).where(RatePlan.id == circuit.rate_plan_id)
        .options(selectinload(RatePlan.versions).selectinload(RatePlanVersion.tariffs))
    )
    assert plan is not None
    holidays = frozenset(session.scalars(select(Holiday.day)))
    versions = [version_rules(v, plan.code, holidays) for v in plan.versions]
    version = select_version(versions, local_start.date())
    rated = rate_call(seconds, category, local_start, version, free=info.collect)
    return Explanation(circuit, info, category, local_start, plan.name, version, rated, seconds)
