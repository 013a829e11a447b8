"""The Tabela page: the tariffs of the plan version valid today, per circuit of the customer."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from painel.categories import Category
from painel.models import Circuit, RatePlan, RatePlanVersion, Tariff
from painel.rating import TariffRule
from webui.portal.tabela import charging_rule, weekdays_text

OWN = "8011441"
SIBLING = "8011927"
OTHER = "8011880"


@pytest.fixture
def portal_db(demo_db):  # type: ignore[no-untyped-def]
    """The demo operator without traffic: this page needs circuits and plans, not CDRs."""
    return demo_db


def today() -> date:
    return datetime.now(ZoneInfo("America/Fortaleza")).date()


def circuit(engine, number: str) -> Circuit:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return s.scalar(select(Circuit).where(Circuit.number == number))


def set_circuit(engine, number: str, **values) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        s.execute(update(Circuit).where(Circuit.number == number).values(**values))
        s.commit()


def make_plan(engine, versions: list[tuple[date, dict, bool]], name: str = "Plano Teste Residencial") -> int:  # type: ignore[no-untyped-def]
    """A plan with ``versions`` [(valid_from, {category: (price, reduced, fee, grace)}, reduced_band)]."""
    with Session(engine) as s:
        plan = RatePlan(code="TESTE", name=name)
        s.add(plan)
        s.flush()
        for n, (valid_from, prices, band) in enumerate(versions, start=1):
            v = RatePlanVersion(plan_id=plan.id, version=n, valid_from=valid_from, monthly_fee=Decimal("49.90") * n,
                                reduced_band=band)
            for category, (price, reduced, fee, grace) in prices.items():
                v.tariffs.append(Tariff(category=category, price_per_minute=Decimal(price),
                                        reduced_price_per_minute=Decimal(reduced) if reduced else None,
                                        connection_fee=Decimal(fee), grace_seconds=grace))
            s.add(v)
        s.commit()
        return plan.id


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)


# ---------------------------------------------------------------- pure helpers

@pytest.mark.parametrize("rule, expected", [
    (TariffRule(Category.LOCAL_FIXO, Decimal("0.1")), "mínimo 30 s, depois a cada 6 s"),
    (TariffRule(Category.LOCAL_FIXO, Decimal("0.1"), minimum_seconds=60, increment_seconds=60),
     "mínimo 60 s, depois a cada 60 s"),
    (TariffRule(Category.LOCAL_FIXO, Decimal("0.1"), grace_seconds=3),
     "até 3 s não é cobrada; mínimo 30 s, depois a cada 6 s"),
])
def test_charging_rule(rule, expected):  # type: ignore[no-untyped-def]
    assert charging_rule(rule) == expected


@pytest.mark.parametrize("days, expected", [
    ({0, 1, 2, 3, 4, 5}, "segunda a sábado"),
    ({0, 1, 2, 3, 4}, "segunda a sexta"),
    ({5, 6}, "sábado e domingo"),
    ({0, 2, 4}, "segunda, quarta e sexta"),
    ({0, 1, 2, 4}, "segunda a quarta e sexta"),
    (set(), "nenhum dia"),
])
def test_weekdays_text(days, expected):  # type: ignore[no-untyped-def]
    assert weekdays_text(frozenset(days)) == expected


# ---------------------------------------------------------------- page

def test_shows_the_version_valid_today(signed_in, portal_db):  # type: ignore[no-untyped-def]
    start, upcoming = today() - timedelta(days=10), today() + timedelta(days=20)
    plan_id = make_plan(portal_db, [
        (today() - timedelta(days=400), {"local_fixo": ("0.99", None, "0", 0)}, False),
        (start, {"local_fixo": ("0.085", "0.042", "0", 0), "ldi": ("1.5", None, "0.10", 3),
                 "movel_vc1": ("0.39", None, "0", 0)}, True),
        (upcoming, {"local_fixo": ("0.77", None, "0", 0)}, False),
    ])
    set_circuit(portal_db, OWN, rate_plan_id=plan_id)
    page = signed_in.get("/tabela")
    html = text(page)
    assert page.status_code == 200
    assert "Plano Teste Residencial" in html
    assert f"versão 2, desde {start:%d/%m/%Y} até {upcoming - timedelta(days=1):%d/%m/%Y}" in html
    assert "R$ 99,80" in html  # the monthly fee of version 2
    assert "R$ 0,085" in html and "R$ 0,042" in html  # price and reduced-band price, at their precision
    assert "R$ 1,50" in html and "R$ 0,10" in html  # LDI price and connection fee
    assert "até 3 s não é cobrada; mínimo 30 s, depois a cada 6 s" in html
    assert "mínimo 30 s, depois a cada 6 s" in html
    assert "horário reduzido" in html
    assert "Horário normal: segunda a sábado, das 7h às 21h" in html
    assert "R$ 0,99" not in html and "R$ 0,77" not in html  # neither the old nor the next version
    # categories in the invoice's order, with their labels
    assert html.index("Local fixo") < html.index("Móvel local (VC1)") < html.index("Internacional (LDI)")
    assert f"Preços em vigor em {today():%d/%m/%Y}" in html
    assert 'style="' not in html and "<script" not in html


def test_monthly_fee_of_the_current_version(signed_in, portal_db):  # type: ignore[no-untyped-def]
    plan_id = make_plan(portal_db, [(today() - timedelta(days=1), {"local_fixo": ("0.1", None, "0", 0)}, False)])
    set_circuit(portal_db, OWN, rate_plan_id=plan_id)
    html = text(signed_in.get("/tabela"))
    assert "R$ 49,90" in html
    assert "até" not in html.split("Vigência", 1)[1].split("</div>", 1)[0]  # no later version: open-ended
    assert "horário reduzido" not in html


def test_demo_plan_is_shown(signed_in, portal_db):  # type: ignore[no-untyped-def]
    html = text(signed_in.get("/tabela"))
    assert "Plano Padrão Empresarial" in html and "R$ 37,50" in html
    assert "Local fixo" in html and "R$ 0,10" in html


def test_circuit_without_plan(signed_in, portal_db):  # type: ignore[no-untyped-def]
    set_circuit(portal_db, OWN, rate_plan_id=None)
    page = signed_in.get("/tabela")
    assert page.status_code == 200
    assert "Este circuito ainda não tem um plano de tarifas. Consulte a operadora." in text(page)


def test_plan_with_only_future_versions(signed_in, portal_db):  # type: ignore[no-untyped-def]
    plan_id = make_plan(portal_db, [(today() + timedelta(days=5), {"local_fixo": ("0.1", None, "0", 0)}, False)])
    set_circuit(portal_db, OWN, rate_plan_id=plan_id)
    html = text(signed_in.get("/tabela"))
    assert f"O plano Plano Teste Residencial ainda não tem tarifas vigentes em {today():%d/%m/%Y}." in html


def test_selector_and_sibling_circuit(signed_in, portal_db):  # type: ignore[no-untyped-def]
    plan_id = make_plan(portal_db, [(today() - timedelta(days=1), {"local_fixo": ("0.33", None, "0", 0)}, False)])
    set_circuit(portal_db, SIBLING, rate_plan_id=plan_id)
    sibling = circuit(portal_db, SIBLING)
    html = text(signed_in.get("/tabela"))
    assert '<label for="tabela-circuito">' in html and f'<option value="{sibling.id}"' in html
    assert OTHER not in html
    page = signed_in.get(f"/tabela?circuito={sibling.id}")
    assert page.status_code == 200
    assert f"Circuito {SIBLING}" in text(page) and "R$ 0,33" in text(page)


@pytest.mark.parametrize("param", ["OTHER", "999999", "x1"])
def test_another_customers_circuit_is_404(signed_in, portal_db, param):  # type: ignore[no-untyped-def]
    value = str(circuit(portal_db, OTHER).id) if param == "OTHER" else param
    assert signed_in.get(f"/tabela?circuito={value}").status_code == 404


def test_sibling_without_flag_is_404(signed_in, portal_db):  # type: ignore[no-untyped-def]
    set_circuit(portal_db, SIBLING, flag_tabela=False)
    sibling = circuit(portal_db, SIBLING)
    assert f'<option value="{sibling.id}"' not in text(signed_in.get("/tabela"))
    assert signed_in.get(f"/tabela?circuito={sibling.id}").status_code == 404


def test_flag_off_hides_page(signed_in, portal_db):  # type: ignore[no-untyped-def]
    assert 'href="/tabela"' in text(signed_in.get("/perfil"))
    set_circuit(portal_db, OWN, flag_tabela=False)
    assert 'href="/tabela"' not in text(signed_in.get("/perfil"))
    assert signed_in.get("/tabela").status_code == 404
    sibling = circuit(portal_db, SIBLING)
    assert signed_in.get(f"/tabela?circuito={sibling.id}").status_code == 404  # not through another circuit either
