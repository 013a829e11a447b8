"""Tabela: the tariffs of a circuit's rate plan, as the version valid today prices calls.

"Today" is the date in the circuit's time zone, and the version is chosen exactly as
rating chooses it (``painel.rating.select_version``), so the page shows the prices the
next call will be charged.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import abort, render_template, request
from flask_login import current_user, login_required
from sqlalchemy import select

from painel.catalog import version_rules
from painel.categories import Category
from painel.errors import NoPlan
from painel.fmt import brl, data_br, preco
from painel.models import Circuit, RatePlan, RatePlanVersion
from painel.rating import TariffRule, select_version
from webui.access import customer_circuits, feature, owned_circuit
from webui.db import db
from webui.portal import portal

FLAG = "tabela"
_WEEKDAYS = ("segunda", "terça", "quarta", "quinta", "sexta", "sábado", "domingo")


def charging_rule(rule: TariffRule) -> str:
    """How a call is charged, in words: "mínimo 30 s, depois a cada 6 s"."""
    text = f"mínimo {rule.minimum_seconds} s, depois a cada {rule.increment_seconds} s"
    if rule.grace_seconds:
        text = f"até {rule.grace_seconds} s não é cobrada; " + text
    return text


def weekdays_text(days: frozenset[int]) -> str:
    """Monday=0 .. Sunday=6 as pt-BR text, runs collapsed ("segunda a sábado")."""
    ordered = sorted(d for d in days if 0 <= d <= 6)
    if not ordered:
        return "nenhum dia"
    runs: list[list[int]] = []
    for d in ordered:
        if runs and d == runs[-1][-1] + 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    parts = [_WEEKDAYS[r[0]] if len(r) == 1 else
             (f"{_WEEKDAYS[r[0]]} e {_WEEKDAYS[r[-1]]}" if len(r) == 2 else f"{_WEEKDAYS[r[0]]} a {_WEEKDAYS[r[-1]]}")
             for r in runs]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " e " + parts[-1]


def plan_table(circuit: Circuit, today: date) -> dict:
    """What the page shows for ``circuit`` on ``today`` (its local date)."""
    if circuit.rate_plan_id is None:
        return {"error": "Este circuito ainda não tem um plano de tarifas. Consulte a operadora."}
    plan = db().get(RatePlan, circuit.rate_plan_id)
    versions = list(db().scalars(select(RatePlanVersion).where(RatePlanVersion.plan_id == plan.id)
                                 .order_by(RatePlanVersion.valid_from)))
    try:
        current = select_version([version_rules(v, plan.code, frozenset()) for v in versions], today)
    except NoPlan:
        return {"plan": plan, "error": f"O plano {plan.name} ainda não tem tarifas vigentes em {data_br(today)}."}
    later = [v for v in versions if v.valid_from > current.valid_from]
    order = {c: i for i, c in enumerate(Category)}
    rows = [{
        "label": category.label,
        "price": preco(rule.price_per_minute),
        "reduced": preco(rule.reduced_price_per_minute) if rule.reduced_price_per_minute is not None
        else preco(rule.price_per_minute),
        "fee": preco(rule.connection_fee),
        "rule": charging_rule(rule),
    } for category, rule in sorted(current.tariffs.items(), key=lambda item: order[item[0]])]
    band = current.time_band
    return {
        "plan": plan,
        "version": current.version,
        "valid_from": data_br(current.valid_from),
        "valid_until": data_br(later[0].valid_from - timedelta(days=1)) if later else None,
        "monthly_fee": brl(current.monthly_fee),
        "rows": rows,
        "band": None if band is None else {
            "days": weekdays_text(band.normal_weekdays),
            "start": band.normal_start_hour, "end": band.normal_end_hour,
        },
    }


@portal.route("/tabela")
@login_required
@feature(FLAG)
def tabela():  # type: ignore[no-untyped-def]
    raw = (request.args.get("circuito") or "").strip()
    if not raw:
        circuit = current_user.circuit
    elif raw.isdigit():
        circuit = owned_circuit(int(raw), FLAG)
    else:
        abort(404)
    today = datetime.now(ZoneInfo(circuit.timezone)).date()
    circuits = [c for c in customer_circuits() if c.flag_tabela]
    return render_template("portal/tabela.html", circuit=circuit, circuits=circuits, today=data_br(today),
                           table=plan_table(circuit, today))
