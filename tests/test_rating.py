"""Rating rules (pure): charged seconds, half-up centavos, time bands, plan versions, holidays,
and the pt-BR formatting of money, prices, durations and months."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from painel.categories import Category
from painel.errors import NoPlan, RatingError
from painel.fmt import brl, data_br, data_hora_br, duracao, mes_ref, preco
from painel.rating import (
    PlanVersionRules,
    Rated,
    TariffRule,
    TimeBand,
    billable_seconds,
    national_holidays,
    price,
    rate_call,
    select_version,
)

D = Decimal
THURSDAY = date(2025, 8, 14)  # an ordinary weekday
SUNDAY = date(2025, 8, 17)


def rule(category: Category = Category.LDN_FIXO, ppm: str = "0.25", **kw) -> TariffRule:  # type: ignore[no-untyped-def]
    return TariffRule(category=category, price_per_minute=D(ppm), **kw)


def plan(tariffs: dict[Category, TariffRule] | None = None, *, valid_from: date = date(2025, 1, 1),
         version: int = 1, band: TimeBand | None = None, id: int | None = None) -> PlanVersionRules:
    return PlanVersionRules(id=id, plan_code="TESTE", version=version, valid_from=valid_from,
                            tariffs=tariffs if tariffs is not None else {Category.LDN_FIXO: rule()},
                            time_band=band)


# ------------------------------------------------------------------ billable seconds

@pytest.mark.parametrize(("billsec", "expected"), [
    (0, 0), (1, 30), (3, 30), (29, 30), (30, 30), (31, 36), (36, 36), (37, 42), (57, 60), (60, 60), (61, 66),
], ids=lambda v: str(v))
def test_billable_seconds_default_rule(billsec: int, expected: int) -> None:
    """Anatel defaults: nothing free, 30 s minimum, then 6 s increments."""
    assert billable_seconds(billsec, rule()) == expected


@pytest.mark.parametrize(("kw", "billsec", "expected"), [
    pytest.param({"grace_seconds": 3}, 3, 0, id="grace3-3s-free"),
    pytest.param({"grace_seconds": 3}, 4, 30, id="grace3-4s-minimum"),
    pytest.param({"grace_seconds": 3}, 37, 42, id="grace3-37s-whole-call"),
    pytest.param({"minimum_seconds": 0, "increment_seconds": 60}, 1, 60, id="per-minute-1s"),
    pytest.param({"minimum_seconds": 0, "increment_seconds": 60}, 60, 60, id="per-minute-60s"),
    pytest.param({"minimum_seconds": 0, "increment_seconds": 60}, 61, 120, id="per-minute-61s"),
    pytest.param({"minimum_seconds": 60, "increment_seconds": 60}, 1, 60, id="min60-1s"),
    pytest.param({"minimum_seconds": 60, "increment_seconds": 60}, 60, 60, id="min60-60s"),
    pytest.param({"minimum_seconds": 60, "increment_seconds": 60}, 61, 120, id="min60-61s"),
    pytest.param({"minimum_seconds": 0, "increment_seconds": 1}, 37, 37, id="per-second"),
    pytest.param({}, -5, 0, id="negative-billsec"),
])
def test_billable_seconds_other_rules(kw: dict, billsec: int, expected: int) -> None:
    assert billable_seconds(billsec, rule(**kw)) == expected


@pytest.mark.parametrize("kw", [
    pytest.param({"increment_seconds": 0}, id="increment-0"),
    pytest.param({"increment_seconds": -6}, id="increment-negative"),
    pytest.param({"grace_seconds": -1}, id="grace-negative"),
    pytest.param({"minimum_seconds": -30}, id="minimum-negative"),
    pytest.param({"ppm": "-0.10"}, id="price-negative"),
    pytest.param({"connection_fee": D("-0.01")}, id="fee-negative"),
    pytest.param({"reduced_price_per_minute": D("-0.05")}, id="reduced-price-negative"),
])
def test_tariff_rule_validation(kw: dict) -> None:
    with pytest.raises(RatingError) as exc_info:
        rule(**kw)
    assert exc_info.value.exit_code == 2


# ------------------------------------------------------------------ price

@pytest.mark.parametrize(("seconds", "ppm", "fee", "expected"), [
    pytest.param(42, "0.39", "0", "0.27", id="0.273-down"),
    pytest.param(30, "0.79", "0", "0.40", id="0.395-half-up"),
    pytest.param(30, "0.10", "0.10", "0.15", id="connection-fee"),
    pytest.param(42, "0.25", "0", "0.18", id="0.175-half-up"),
    pytest.param(36, "0.10", "0", "0.06", id="exact"),
    pytest.param(30, "0.01", "0", "0.01", id="0.005-half-up"),
    pytest.param(30, "0.0099", "0", "0.00", id="0.00495-down"),
    pytest.param(3600, "1.50", "0.10", "90.10", id="one-hour-ldi"),
    pytest.param(0, "0.25", "0.10", "0.00", id="zero-seconds-no-fee"),
])
def test_price_rounds_half_up_to_centavo(seconds: int, ppm: str, fee: str, expected: str) -> None:
    result = price(seconds, D(ppm), D(fee))
    assert isinstance(result, Decimal)
    assert result == D(expected)
    assert result.as_tuple().exponent == -2  # always centavos


# ------------------------------------------------------------------ rate_call

PRICES = {
    Category.LOCAL_FIXO: "0.10", Category.LDN_FIXO: "0.25", Category.MOVEL_VC1: "0.39",
    Category.MOVEL_VC2: "0.69", Category.MOVEL_VC3: "0.79", Category.LDI: "1.50",
    Category.ESPECIAL: "0.30",
    # a price on the free category proves it is never charged
    Category.GRATUITA: "9.99",
}
EVERY_CATEGORY = plan({c: rule(c, p) for c, p in PRICES.items()}, id=7)


@pytest.mark.parametrize(("category", "expected"), [
    (Category.LOCAL_FIXO, "0.07"),  # 0.10 * 42 / 60 = 0.07
    (Category.LDN_FIXO, "0.18"),  # 0.175
    (Category.MOVEL_VC1, "0.27"),  # 0.273
    (Category.MOVEL_VC2, "0.48"),  # 0.483
    (Category.MOVEL_VC3, "0.55"),  # 0.553
    (Category.LDI, "1.05"),  # 1.05
    (Category.ESPECIAL, "0.21"),  # 0.21
    (Category.GRATUITA, "0.00"),
], ids=lambda v: v.value if isinstance(v, Category) else v)
def test_rate_call_every_category(category: Category, expected: str) -> None:
    rated = rate_call(37, category, datetime(2025, 8, 14, 10, 0), EVERY_CATEGORY)
    assert isinstance(rated, Rated)
    assert isinstance(rated.amount, Decimal)
    assert rated.amount == D(expected)
    assert rated.billable_seconds == (0 if category is Category.GRATUITA else 42)
    assert (rated.plan_code, rated.version, rated.version_id) == ("TESTE", 1, 7)
    assert rated.band == "normal"
    assert rated.tariff is not None and rated.tariff.category is category


def test_rate_call_free_flag_costs_nothing() -> None:
    """An outbound collect call is rated but paid by the called party."""
    rated = rate_call(600, Category.LDN_FIXO, datetime(2025, 8, 14, 10, 0), EVERY_CATEGORY, free=True)
    assert rated.amount == D("0.00") and isinstance(rated.amount, Decimal)
    assert rated.billable_seconds == 0


def test_rate_call_without_tariff_for_category_is_no_plan() -> None:
    with pytest.raises(NoPlan) as exc_info:
        rate_call(37, Category.LDI, datetime(2025, 8, 14, 10, 0), plan())
    assert "tarifa" in exc_info.value.message and "LDI" in exc_info.value.message
    assert exc_info.value.reason == "no_plan"


def test_rate_call_unanswered_costs_nothing_even_with_connection_fee() -> None:
    p = plan({Category.LDI: rule(Category.LDI, "1.50", connection_fee=D("0.10"))})
    rated = rate_call(0, Category.LDI, datetime(2025, 8, 14, 10, 0), p)
    assert (rated.billable_seconds, rated.amount) == (0, D("0.00"))


# ------------------------------------------------------------------ time bands

BANDED = plan({Category.LDN_FIXO: rule(ppm="0.60", reduced_price_per_minute=D("0.30"))},
              band=TimeBand(holidays=frozenset(national_holidays([2025]))))


@pytest.mark.parametrize(("start", "billsec", "band", "amount"), [
    # the band of the call's start decides, even when it runs past 21:00
    pytest.param(datetime.combine(THURSDAY, datetime.min.time()).replace(hour=20, minute=59, second=59),
                 3600, "normal", "36.00", id="20:59:59-weekday-one-hour-normal"),
    pytest.param(datetime(2025, 8, 14, 21, 0, 0), 60, "reduced", "0.30", id="21:00:00-weekday-reduced"),
    pytest.param(datetime(2025, 8, 14, 6, 59, 59), 60, "reduced", "0.30", id="06:59:59-reduced"),
    pytest.param(datetime(2025, 8, 14, 7, 0, 0), 60, "normal", "0.60", id="07:00-normal"),
    pytest.param(datetime(2025, 8, 16, 10, 0), 60, "normal", "0.60", id="saturday-normal"),
    pytest.param(datetime.combine(SUNDAY, datetime.min.time()).replace(hour=10), 60, "reduced", "0.30",
                 id="sunday-reduced"),
    pytest.param(datetime(2025, 11, 20, 10, 0), 60, "reduced", "0.30", id="consciencia-negra-holiday"),
    pytest.param(datetime(2025, 4, 18, 10, 0), 60, "reduced", "0.30", id="good-friday-holiday"),
    pytest.param(datetime(2025, 5, 1, 10, 0), 60, "reduced", "0.30", id="dia-do-trabalho-thursday-holiday"),
])
def test_time_band_decided_by_start(start: datetime, billsec: int, band: str, amount: str) -> None:
    rated = rate_call(billsec, Category.LDN_FIXO, start, BANDED)
    assert rated.band == band
    assert rated.amount == D(amount)
    assert isinstance(rated.amount, Decimal)


def test_reduced_band_without_reduced_price_uses_normal_price() -> None:
    p = plan({Category.LDN_FIXO: rule(ppm="0.60")}, band=TimeBand())
    rated = rate_call(60, Category.LDN_FIXO, datetime(2025, 8, 17, 10, 0), p)
    assert (rated.band, rated.amount) == ("reduced", D("0.60"))


def test_plan_without_band_is_always_normal() -> None:
    p = plan({Category.LDN_FIXO: rule(ppm="0.60", reduced_price_per_minute=D("0.30"))})
    rated = rate_call(60, Category.LDN_FIXO, datetime(2025, 8, 17, 23, 0), p)
    assert (rated.band, rated.amount) == ("normal", D("0.60"))


# ------------------------------------------------------------------ plan versions

OLD = plan({Category.LDN_FIXO: rule(ppm="0.25")}, valid_from=date(2025, 1, 1), version=1, id=1)
NEW = plan({Category.LDN_FIXO: rule(ppm="0.20")}, valid_from=date(2025, 8, 1), version=2, id=2)


@pytest.mark.parametrize(("start", "version", "amount"), [
    pytest.param(datetime(2025, 7, 31, 23, 59, 59), 1, "0.25", id="last-second-of-old"),
    pytest.param(datetime(2025, 8, 1, 0, 0, 0), 2, "0.20", id="first-second-of-new"),
    pytest.param(datetime(2025, 1, 1, 0, 0, 0), 1, "0.25", id="first-day-of-old"),
    pytest.param(datetime(2030, 1, 1, 12, 0), 2, "0.20", id="far-future"),
])
def test_select_version_by_local_start_day(start: datetime, version: int, amount: str) -> None:
    for versions in ([OLD, NEW], [NEW, OLD]):  # order of the list does not matter
        chosen = select_version(versions, start.date())
        assert chosen.version == version
        rated = rate_call(60, Category.LDN_FIXO, start, chosen)
        assert (rated.version, rated.version_id, rated.amount) == (version, version, D(amount))


@pytest.mark.parametrize("versions", [
    pytest.param([OLD, NEW], id="before-first-version"),
    pytest.param([], id="no-versions"),
])
def test_select_version_none_valid_is_no_plan(versions: list) -> None:
    with pytest.raises(NoPlan) as exc_info:
        select_version(versions, date(2024, 12, 31))
    assert "nenhuma versão" in exc_info.value.message
    assert "31/12/2024" in exc_info.value.message


# ------------------------------------------------------------------ holidays

def test_national_holidays_2025() -> None:
    h = national_holidays([2025])
    assert date(2025, 4, 18) in h and "Sexta-feira Santa" in h[date(2025, 4, 18)]
    assert date(2025, 11, 20) in h and "Consciência Negra" in h[date(2025, 11, 20)]
    for m, d in [(1, 1), (4, 21), (5, 1), (9, 7), (10, 12), (11, 2), (11, 15), (12, 25)]:
        assert date(2025, m, d) in h
    assert date(2025, 4, 20) not in h  # Easter Sunday itself is not on the list
    assert len(h) == 10


def test_national_holidays_2023_lacks_consciencia_negra() -> None:
    h = national_holidays([2023])
    assert date(2023, 11, 20) not in h
    assert date(2023, 4, 7) in h  # Good Friday 2023
    assert len(h) == 9


@pytest.mark.parametrize(("year", "good_friday"), [
    (2024, date(2024, 3, 29)), (2025, date(2025, 4, 18)), (2026, date(2026, 4, 3)),
    (2027, date(2027, 3, 26)), (2028, date(2028, 4, 14)), (2038, date(2038, 4, 23)),
], ids=str)
def test_good_friday(year: int, good_friday: date) -> None:
    assert national_holidays([year])[good_friday] == "Sexta-feira Santa"


def test_national_holidays_several_years() -> None:
    h = national_holidays(range(2024, 2027))
    assert {d.year for d in h} == {2024, 2025, 2026}
    assert all(isinstance(d, date) for d in h)


# ------------------------------------------------------------------ pt-BR formatting

@pytest.mark.parametrize(("amount", "text"), [
    (D("1234.56"), "R$ 1.234,56"),
    (0, "R$ 0,00"),
    (D("0"), "R$ 0,00"),
    (D("0.5"), "R$ 0,50"),
    (D("0.005"), "R$ 0,01"),  # half-up
    (D("0.004"), "R$ 0,00"),
    (D("-0.004"), "R$ 0,00"),  # no "-R$ 0,00"
    (D("-10"), "-R$ 10,00"),
    (D("-1234.5"), "-R$ 1.234,50"),
    (D("999.999"), "R$ 1.000,00"),
    (D("100"), "R$ 100,00"),
    (D("1000"), "R$ 1.000,00"),
    (D("1234567.89"), "R$ 1.234.567,89"),
    (D("1234567890123.45"), "R$ 1.234.567.890.123,45"),
    (1500, "R$ 1.500,00"),
    ("37.5", "R$ 37,50"),
], ids=lambda v: str(v))
def test_brl(amount, text: str) -> None:  # type: ignore[no-untyped-def]
    assert brl(amount) == text


@pytest.mark.parametrize(("amount", "text"), [
    (D("0.25"), "R$ 0,25"),
    (D("0.2500"), "R$ 0,25"),
    (D("0.100000"), "R$ 0,10"),  # as PostgreSQL's NUMERIC(18,6) returns it
    (D("0.085"), "R$ 0,085"),
    (D("0.0825"), "R$ 0,0825"),
    (D("1.5"), "R$ 1,50"),
    (D("0"), "R$ 0,00"),
    (D("100"), "R$ 100,00"),
    (D("1234.5678"), "R$ 1.234,5678"),
    (D("-0.085"), "-R$ 0,085"),
], ids=lambda v: str(v))
def test_preco_keeps_the_price_precision(amount: Decimal, text: str) -> None:
    assert preco(amount) == text


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0:00"), (7, "0:07"), (59, "0:59"), (60, "1:00"), (61, "1:01"), (3599, "59:59"),
    (3600, "1:00:00"), (3661, "1:01:01"), (36000, "10:00:00"),
], ids=str)
def test_duracao(seconds: int, text: str) -> None:
    assert duracao(seconds) == text


@pytest.mark.parametrize(("month", "text"), [("2025-08", "08/2025"), ("2026-12", "12/2026"), ("2024-01", "01/2024")])
def test_mes_ref(month: str, text: str) -> None:
    assert mes_ref(month) == text


def test_dates_br() -> None:
    assert data_br(date(2025, 8, 4)) == "04/08/2025"
    assert data_br(datetime(2025, 8, 4, 23, 59)) == "04/08/2025"
    assert data_hora_br(datetime(2025, 8, 4, 9, 5, 7)) == "04/08/2025 09:05:07"
