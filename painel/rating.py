"""Pricing a call: pure functions over plain data (no database, no clock).

Anatel's rule since Res. 752/2022: only answered time counts, a minimum charge
(default 30 s), then increments (default 6 s); the old "up to 3 s is free" rule was
revoked, so grace is a plan setting (default 0). Each call is rounded half-up to the
centavo; money is ``Decimal`` throughout.
"""
from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from painel.categories import Category
from painel.errors import NoPlan, RatingError

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
SIXTY = Decimal(60)

#: categories that never cost the caller (0800, public services)
FREE_CATEGORIES = frozenset({Category.GRATUITA})


@dataclass(frozen=True, slots=True)
class TariffRule:
    """Price and charging rule of one category in one plan version."""

    category: Category
    price_per_minute: Decimal
    connection_fee: Decimal = ZERO
    grace_seconds: int = 0
    minimum_seconds: int = 30
    increment_seconds: int = 6
    #: price per minute in the reduced band; None = same as normal
    reduced_price_per_minute: Decimal | None = None

    def __post_init__(self) -> None:
        if self.increment_seconds < 1:
            raise RatingError("o incremento de tarifação deve ser de pelo menos 1 segundo")
        if min(self.grace_seconds, self.minimum_seconds) < 0:
            raise RatingError("carência e tempo mínimo não podem ser negativos")
        if self.price_per_minute < 0 or self.connection_fee < 0 or (
                self.reduced_price_per_minute is not None and self.reduced_price_per_minute < 0):
            raise RatingError("preços não podem ser negativos")


@dataclass(frozen=True, slots=True)
class TimeBand:
    """Normal hours on the listed weekdays; reduced otherwise and on national holidays."""

    normal_start_hour: int = 7
    normal_end_hour: int = 21
    normal_weekdays: frozenset[int] = frozenset({0, 1, 2, 3, 4, 5})  # Monday..Saturday
    holidays: frozenset[date] = frozenset()

    def band_at(self, local_start: datetime) -> str:
        if local_start.date() in self.holidays:
            return "reduced"
        if local_start.weekday() not in self.normal_weekdays:
            return "reduced"
        if self.normal_start_hour <= local_start.hour < self.normal_end_hour:
            return "normal"
        return "reduced"


@dataclass(frozen=True, slots=True)
class PlanVersionRules:
    """A plan version as the rating engine needs it."""

    id: int | None
    plan_code: str
    version: int
    valid_from: date
    tariffs: dict[Category, TariffRule]
    monthly_fee: Decimal = ZERO
    time_band: TimeBand | None = None


@dataclass(frozen=True, slots=True)
class Rated:
    """The price of one call and how it was reached (for ``painel cdr explain``)."""

    billable_seconds: int
    amount: Decimal
    band: str
    plan_code: str
    version: int
    version_id: int | None
    tariff: TariffRule | None = field(default=None)


def billable_seconds(billsec: int, rule: TariffRule) -> int:
    """Seconds charged for ``billsec`` answered seconds under ``rule``."""
    if billsec <= 0 or billsec <= rule.grace_seconds:
        return 0
    minimum, step = rule.minimum_seconds, rule.increment_seconds
    if billsec <= minimum:
        return minimum
    # the minimum is charged whole; increments start after it
    return minimum + -(-(billsec - minimum) // step) * step


def price(seconds: int, per_minute: Decimal, connection_fee: Decimal) -> Decimal:
    """Exact price rounded half-up to the centavo."""
    if seconds <= 0:
        return ZERO
    exact = connection_fee + per_minute * seconds / SIXTY
    return exact.quantize(CENT, rounding=ROUND_HALF_UP)


def select_version(versions: Sequence[PlanVersionRules], local_day: date) -> PlanVersionRules:
    """The version valid on ``local_day`` (the call's start date in the circuit's zone)."""
    best: PlanVersionRules | None = None
    for v in versions:
        if v.valid_from <= local_day and (best is None or v.valid_from > best.valid_from):
            best = v
    if best is None:
        raise NoPlan(f"nenhuma versão do plano vigente em {local_day:%d/%m/%Y}")
    return best


def rate_call(
    billsec: int,
    category: Category,
    local_start: datetime,
    plan: PlanVersionRules,
    *,
    free: bool = False,
) -> Rated:
    """Price a call that started at ``local_start`` (circuit's local time) under ``plan``.

    ``free`` is for calls the subscriber does not pay even though they are rated
    (an outbound collect call, paid by the called party).
    """
    if category in FREE_CATEGORIES or free:
        rule = plan.tariffs.get(category)
        return Rated(0, ZERO, "normal", plan.plan_code, plan.version, plan.id, rule)
    rule = plan.tariffs.get(category)
    if rule is None:
        raise NoPlan(
            f"o plano {plan.plan_code} v{plan.version} não tem tarifa para a categoria {category.label}"
        )
    band = plan.time_band.band_at(local_start) if plan.time_band else "normal"
    per_minute = rule.price_per_minute
    if band == "reduced" and rule.reduced_price_per_minute is not None:
        per_minute = rule.reduced_price_per_minute
    secs = billable_seconds(billsec, rule)
    return Rated(secs, price(secs, per_minute, rule.connection_fee), band, plan.plan_code, plan.version, plan.id, rule)


def national_holidays(years: Collection[int]) -> dict[date, str]:
    """Brazil's national holidays (Lei 662/1949, 6.802/1980, 14.759/2023, plus Good Friday)."""
    out: dict[date, str] = {}
    for y in years:
        fixed = {
            (1, 1): "Confraternização Universal",
            (4, 21): "Tiradentes",
            (5, 1): "Dia do Trabalho",
            (9, 7): "Independência do Brasil",
            (10, 12): "Nossa Senhora Aparecida",
            (11, 2): "Finados",
            (11, 15): "Proclamação da República",
            (12, 25): "Natal",
        }
        if y >= 2024:
            fixed[(11, 20)] = "Dia Nacional de Zumbi e da Consciência Negra"
        for (m, d), name in fixed.items():
            out[date(y, m, d)] = name
        out[_easter(y).fromordinal(_easter(y).toordinal() - 2)] = "Sexta-feira Santa"
    return out


def _easter(year: int) -> date:
    """Gregorian Easter Sunday (anonymous algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l) // 451
    month, day = divmod(h + l - 7 * m + 114, 31)
    return date(year, month, day + 1)
