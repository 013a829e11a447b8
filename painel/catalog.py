"""A read-only snapshot of circuits, DIDs and plans for hot paths (ingestion, rating).

Loading it once per run keeps per-record work free of queries. It is plain data, so
the attribution and rating functions that use it stay pure.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from painel.categories import Category
from painel.models import Circuit, Did, Holiday, RatePlan, RatePlanVersion
from painel.rating import PlanVersionRules, TariffRule, TimeBand


@dataclass(frozen=True, slots=True)
class CircuitInfo:
    id: int
    number: str
    name: str
    home_ddd: str
    timezone: str
    tz: ZoneInfo
    rate_plan_id: int | None
    active: bool
    outbound_rules: tuple[str, ...]


@dataclass(slots=True)
class Catalog:
    circuits_by_number: dict[str, CircuitInfo] = field(default_factory=dict)
    circuits_by_id: dict[int, CircuitInfo] = field(default_factory=dict)
    #: DID E.164 digits without '+' -> circuit id
    did_circuit: dict[str, int] = field(default_factory=dict)
    #: plan id -> versions ordered by valid_from
    plans: dict[int, list[PlanVersionRules]] = field(default_factory=dict)
    #: memo of prices for plans without time bands (see cdr_ingest.attribution)
    rate_cache: dict[tuple, object] = field(default_factory=dict)

    def circuit_for_did(self, did_digits: str) -> CircuitInfo | None:
        cid = self.did_circuit.get(did_digits.lstrip("+"))
        return self.circuits_by_id.get(cid) if cid is not None else None


def version_rules(v: RatePlanVersion, plan_code: str, holidays: frozenset[date]) -> PlanVersionRules:
    tariffs = {
        Category(t.category): TariffRule(
            category=Category(t.category),
            price_per_minute=t.price_per_minute,
            connection_fee=t.connection_fee,
            grace_seconds=t.grace_seconds,
            minimum_seconds=t.minimum_seconds,
            increment_seconds=t.increment_seconds,
            reduced_price_per_minute=t.reduced_price_per_minute,
        )
        for t in v.tariffs
    }
    band = None
    if v.reduced_band:
        band = TimeBand(
            normal_start_hour=v.normal_start_hour,
            normal_end_hour=v.normal_end_hour,
            normal_weekdays=frozenset(int(d) for d in v.normal_weekdays.split(",") if d.strip()),
            holidays=holidays,
        )
    return PlanVersionRules(
        id=v.id,
        plan_code=plan_code,
        version=v.version,
        valid_from=v.valid_from,
        tariffs=tariffs,
        monthly_fee=v.monthly_fee,
        time_band=band,
    )


def load_catalog(session: Session) -> Catalog:
    """Read circuits, DIDs and every plan version with its tariffs."""
    cat = Catalog()
    zones: dict[str, ZoneInfo] = {}
    for c in session.scalars(select(Circuit)):
        tz = zones.setdefault(c.timezone, ZoneInfo(c.timezone))
        info = CircuitInfo(
            id=c.id,
            number=c.number,
            name=c.name,
            home_ddd=c.home_ddd,
            timezone=c.timezone,
            tz=tz,
            rate_plan_id=c.rate_plan_id,
            active=c.active,
            outbound_rules=tuple(json.loads(c.outbound_rules or "[]")),
        )
        cat.circuits_by_number[c.number] = info
        cat.circuits_by_id[c.id] = info
    for d in session.scalars(select(Did).where(Did.circuit_id.is_not(None))):
        cat.did_circuit[d.e164.lstrip("+")] = d.circuit_id  # type: ignore[assignment]
    holidays = frozenset(session.scalars(select(Holiday.day)))
    plans = session.scalars(
        select(RatePlan).options(selectinload(RatePlan.versions).selectinload(RatePlanVersion.tariffs))
    )
    for p in plans:
        cat.plans[p.id] = [version_rules(v, p.code, holidays) for v in p.versions]
    return cat
