"""A new rate-plan version from the admin pages: copied from the one in force, never rewriting the past."""
from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal as D

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cdr_ingest.explain import explain
from painel.errors import ValidationError
from painel.models import AuditEvent, RatePlan
from painel.plans import new_version, version_in_force

TODAY = date(2026, 11, 20)
ACTOR = ("admin", "ana")


def plan(session: Session) -> RatePlan:
    found = session.scalar(select(RatePlan).where(RatePlan.code == "PADRAO"))
    assert found is not None
    return found


def test_new_version_copies_what_is_not_changed_and_prices_calls_from_its_day(demo_db) -> None:  # type: ignore[no-untyped-def]
    with Session(demo_db) as s:
        base = version_in_force(plan(s), TODAY)
        assert base is not None
        old_local = {t.category: t for t in base.tariffs}["local_fixo"]
        v = new_version(s, "PADRAO", date(2026, 12, 1), today=TODAY, monthly_fee=D("39.90"),
                        tariffs={"local_fixo": {"price_per_minute": D("0.12")}}, note="reajuste", actor=ACTOR,
                        address="10.0.0.9")
        s.commit()
        assert v.version == base.version + 1 and v.monthly_fee == D("39.90") and v.note == "reajuste"
        tariffs = {t.category: t for t in v.tariffs}
        assert tariffs["local_fixo"].price_per_minute == D("0.12")
        assert tariffs["local_fixo"].increment_seconds == old_local.increment_seconds
        assert {c for c in tariffs} == {t.category for t in base.tariffs}
        for category in tariffs.keys() - {"local_fixo"}:
            old = {t.category: t for t in base.tariffs}[category]
            assert tariffs[category].price_per_minute == old.price_per_minute
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "plan.version"))
        assert event.actor == "ana" and event.address == "10.0.0.9"
        assert json.loads(event.before)["monthly_fee"] != json.loads(event.after)["monthly_fee"]
        # the preview (the engine of `painel cdr explain`) prices by the version of the call's day
        before = explain(s, "8011441", "3222-5555", 60, local_start=datetime(2026, 11, 25, 15))
        after = explain(s, "8011441", "3222-5555", 60, local_start=datetime(2026, 12, 2, 15))
        assert before.plan.version == base.version and after.plan.version == v.version
        assert after.rated.tariff.price_per_minute == D("0.12") and after.category.value == "local_fixo"


@pytest.mark.parametrize("kwargs, words", [
    ({"valid_from": TODAY}, "a partir de amanhã"),
    ({"valid_from": date(2026, 1, 1)}, "a partir de amanhã"),
    ({"tariffs": {"xyz": {"price_per_minute": D("1")}}}, "categoria desconhecida"),
    ({"tariffs": {"local_fixo": {"price_per_minute": D("-1")}}}, "não negativo"),
    ({"tariffs": {"local_fixo": {"price_per_minute": D("0.1234567")}}}, "até 6 casas"),
    ({"tariffs": {"local_fixo": {"increment_seconds": 0}}}, "entre 1 e 3600"),
    ({"tariffs": {"local_fixo": {"colour": 1}}}, "campos desconhecidos"),
    ({"monthly_fee": D("10.001")}, "reais e centavos"),
])
def test_refused_versions(demo_db, kwargs, words) -> None:  # type: ignore[no-untyped-def]
    args = {"valid_from": date(2026, 12, 1), **kwargs}
    with Session(demo_db) as s, pytest.raises(ValidationError, match=words):
        new_version(s, "PADRAO", today=TODAY, actor=ACTOR, **args)


def test_one_version_per_start_day_and_unknown_plan(demo_db) -> None:  # type: ignore[no-untyped-def]
    with Session(demo_db) as s:
        new_version(s, "PADRAO", date(2027, 1, 1), today=TODAY, actor=ACTOR)
        s.commit()
        with pytest.raises(ValidationError, match="já existe uma versão"):
            new_version(s, "PADRAO", date(2027, 1, 1), today=TODAY, actor=ACTOR)
        with pytest.raises(ValidationError, match="plano desconhecido"):
            new_version(s, "NAOEXISTE", date(2027, 1, 1), today=TODAY, actor=ACTOR)
