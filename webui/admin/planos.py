"""Planos: rate plans and their versions with every tariff, a new version, CSV import and export,
and the price preview (the engine of ``painel cdr explain``).

Versions are never edited: a change is a new version valid from a future day
(``painel.plans.new_version``), copying whatever the form leaves blank from the version in
force on that day, audited with the version before and after. The import and export use
``painel.plans`` (the CSV of ``painel rates``). Reading, exporting and the preview are open
to every staff role; a new version and the import need ``write``.
"""
from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from flask import Response, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from cdr_ingest.explain import explain
from painel.audit import record
from painel.categories import CATEGORY_LABELS, Category
from painel.errors import PainelError
from painel.fmt import brl, data_br, preco
from painel.models import Circuit, RatePlan, RatePlanVersion
from painel.plans import export_csv, import_csv, new_version, version_in_force
from webui.access import client_address
from webui.admin import admin
from webui.admin.access import actor, requires
from webui.admin.util import UploadError, error_text, now_utc, operator_zone, uploaded_text
from webui.db import db
from webui.portal.blacklist import parse_date

NOTE_MAX = 200
#: form field -> (tariff field, kind, label); kind "preco" is reais (6 places), "segundos" an integer
TARIFF_INPUTS = (
    ("preco", "price_per_minute", "preco", "preço por minuto (R$)"),
    ("reduzido", "reduced_price_per_minute", "preco", "preço por minuto no horário reduzido (R$)"),
    ("conexao", "connection_fee", "preco", "taxa de conexão (R$)"),
    ("carencia", "grace_seconds", "segundos", "carência (s)"),
    ("minimo", "minimum_seconds", "segundos", "tempo mínimo (s)"),
    ("incremento", "increment_seconds", "segundos", "incremento (s)"),
)
SECONDS_MAX = 3600
#: the preview's limits
DURATION_MAX = 24 * 3600
DIALED_MAX = 64


def operator_today() -> date:
    return now_utc().astimezone(operator_zone()).date()


def _plans_query():  # type: ignore[no-untyped-def]
    return select(RatePlan).options(selectinload(RatePlan.versions).selectinload(RatePlanVersion.tariffs))


def get_plan(plan_id: int) -> RatePlan:
    plan = db().scalar(_plans_query().where(RatePlan.id == plan_id))
    if plan is None:
        abort(404)
    return plan


def tariff_rows(version: RatePlanVersion) -> list[dict]:
    order = {c.value: i for i, c in enumerate(Category)}
    rows = []
    for t in sorted(version.tariffs, key=lambda t: order.get(t.category, 99)):
        rows.append({
            "category": t.category, "label": CATEGORY_LABELS.get(t.category, t.category),  # type: ignore[call-overload]
            "price": preco(t.price_per_minute),
            "reduced": preco(t.reduced_price_per_minute) if t.reduced_price_per_minute is not None else "—",
            "fee": preco(t.connection_fee),
            "grace": t.grace_seconds, "minimum": t.minimum_seconds, "increment": t.increment_seconds,
        })
    return rows


def version_rows(plan: RatePlan, today: date) -> list[dict]:
    """The plan's versions, newest first, each with its period and state on ``today``."""
    versions = sorted(plan.versions, key=lambda v: v.valid_from)
    current = version_in_force(plan, today)
    rows = []
    for i, v in enumerate(versions):
        until = versions[i + 1].valid_from - timedelta(days=1) if i + 1 < len(versions) else None
        state = "em vigor" if v is current else ("futura" if v.valid_from > today else "anterior")
        rows.append({"version": v, "state": state, "from": data_br(v.valid_from),
                     "until": data_br(until) if until else None, "fee": brl(v.monthly_fee),
                     "tariffs": tariff_rows(v)})
    return rows[::-1]


# ---------------------------------------------------------------- list and detail

@admin.route("/planos")
@requires("read")
def planos():  # type: ignore[no-untyped-def]
    return _render_list()


def _render_list(error: str | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    session = db()
    today = operator_today()
    plans = list(session.scalars(_plans_query().order_by(RatePlan.name, RatePlan.code)))
    circuits = dict(session.execute(select(Circuit.rate_plan_id, func.count()).where(Circuit.rate_plan_id.is_not(None))
                                    .group_by(Circuit.rate_plan_id)).all())
    rows = []
    for plan in plans:
        current = version_in_force(plan, today)
        future = [v for v in plan.versions if v.valid_from > today]
        rows.append({"plan": plan, "versions": len(plan.versions), "current": current,
                     "fee": brl(current.monthly_fee) if current else "—",
                     "since": data_br(current.valid_from) if current else "",
                     "next": data_br(min(v.valid_from for v in future)) if future else "",
                     "circuits": circuits.get(plan.id, 0)})
    return render_template("admin/planos.html", rows=rows, today=data_br(today), error=error), status


def _form_defaults(plan: RatePlan, today: date) -> dict[str, str]:
    start = today + timedelta(days=1)
    later = [v.valid_from for v in plan.versions if v.valid_from >= start]
    while start in later:
        start += timedelta(days=1)
    return {"vigencia": start.isoformat(), "mensalidade": "", "faixa_reduzida": "", "observacao": ""}


def _render_plan(plan: RatePlan, *, values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                 status: int = 200):  # type: ignore[no-untyped-def]
    today = operator_today()
    latest = max(plan.versions, key=lambda v: v.valid_from) if plan.versions else None
    base = {t.category: t for t in latest.tariffs} if latest else {}
    categories = []
    for category in Category:
        t = base.get(category.value)
        categories.append({
            "value": category.value, "label": category.label,
            "current": None if t is None else {
                "preco": preco(t.price_per_minute),
                "reduzido": preco(t.reduced_price_per_minute) if t.reduced_price_per_minute is not None else "—",
                "conexao": preco(t.connection_fee), "carencia": t.grace_seconds, "minimo": t.minimum_seconds,
                "incremento": t.increment_seconds,
            },
        })
    circuits = db().scalar(select(func.count()).select_from(Circuit).where(Circuit.rate_plan_id == plan.id)) or 0
    return render_template(
        "admin/plano.html", plan=plan, versions=version_rows(plan, today), today=data_br(today), latest=latest,
        latest_fee=brl(latest.monthly_fee) if latest else "", categories=categories, inputs=TARIFF_INPUTS,
        values=values or _form_defaults(plan, today), errors=errors or {}, circuits=circuits,
    ), status


@admin.route("/planos/<int:plan_id>")
@requires("read")
def plano(plan_id: int):  # type: ignore[no-untyped-def]
    return _render_plan(get_plan(plan_id))


# ---------------------------------------------------------------- a new version

def parse_money(raw: str, places: int) -> Decimal:
    """``37,50``, ``37.50`` or ``0,085`` as Decimal: not negative, at most ``places`` decimals."""
    text = raw.strip().replace("R$", "").replace(" ", "")
    if text.count(",") == 1 and "." in text:  # 1.234,56
        text = text.replace(".", "")
    text = text.replace(",", ".")
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)?", text):
        raise ValueError("use só números, como 0,12")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError("use só números, como 0,12") from None
    if -value.as_tuple().exponent > places:  # type: ignore[operator]
        raise ValueError(f"no máximo {places} casas decimais")
    return value


def _version_form(plan: RatePlan) -> tuple[dict[str, str], dict[str, str], dict]:
    """What was typed, errors per field, and the arguments of ``new_version`` (when no error)."""
    names = ["vigencia", "mensalidade", "faixa_reduzida", "observacao"]
    names += [f"{field}_{c.value}" for c in Category for field, *_ in TARIFF_INPUTS]
    values = {name: (request.form.get(name) or "").strip()[:100 if name != "observacao" else NOTE_MAX + 1]
              for name in names}
    errors: dict[str, str] = {}
    args: dict = {}
    if not values["vigencia"]:
        errors["vigencia"] = "Informe o primeiro dia de vigência da nova versão."
    else:
        day = parse_date(values["vigencia"])
        if day is None:
            errors["vigencia"] = "Data inválida: use o formato dd/mm/aaaa."
        else:
            args["valid_from"] = day
            values["vigencia"] = day.isoformat()
    if values["mensalidade"]:
        try:
            args["monthly_fee"] = parse_money(values["mensalidade"], 2)
        except ValueError as exc:
            errors["mensalidade"] = f"Mensalidade inválida: {exc} (reais e centavos)."
    if values["faixa_reduzida"] not in ("", "1", "0"):
        errors["faixa_reduzida"] = "Escolha uma opção da lista."
    elif values["faixa_reduzida"]:
        args["reduced_band"] = values["faixa_reduzida"] == "1"
    if len(values["observacao"]) > NOTE_MAX:
        errors["observacao"] = f"A observação pode ter no máximo {NOTE_MAX} caracteres."
    args["note"] = values["observacao"] or None
    tariffs: dict[str, dict] = {}
    for category in Category:
        for field, name, kind, label in TARIFF_INPUTS:
            key = f"{field}_{category.value}"
            raw = values[key]
            if not raw:
                continue
            try:
                if kind == "preco":
                    value: object = parse_money(raw, 6)
                else:
                    if not raw.isdigit() or int(raw) > SECONDS_MAX:
                        raise ValueError(f"um número inteiro de segundos, de 0 a {SECONDS_MAX}")
                    value = int(raw)
                    if name == "increment_seconds" and value < 1:
                        raise ValueError("pelo menos 1 segundo")
            except ValueError as exc:
                errors[key] = f"{category.label}, {label}: {exc}."
                continue
            tariffs.setdefault(category.value, {})[name] = value
    args["tariffs"] = tariffs
    return values, errors, args


@admin.route("/planos/<int:plan_id>/versoes", methods=["POST"])
@requires("write")
def plano_versao(plan_id: int):  # type: ignore[no-untyped-def]
    plan = get_plan(plan_id)
    values, errors, args = _version_form(plan)
    if errors:
        return _render_plan(plan, values=values, errors=errors, status=400)
    session = db()
    try:
        version = new_version(session, plan.code, args.pop("valid_from"), today=operator_today(), actor=actor(),
                              address=client_address(), **args)
    except PainelError as exc:
        session.rollback()
        return _render_plan(get_plan(plan_id), values=values, errors={"geral": error_text(exc)}, status=400)
    session.commit()
    changed = ", ".join(CATEGORY_LABELS.get(c, c) for c in args["tariffs"]) or "nenhuma tarifa"  # type: ignore[call-overload]
    flash(f"Versão {version.version} do plano {plan.name} publicada, vigente a partir de "
          f"{data_br(version.valid_from)} (tarifas alteradas: {changed}). As ligações anteriores a essa data "
          "continuam com os preços de antes.", "success")
    return redirect(url_for("admin.plano", plan_id=plan.id, _anchor=f"versao-{version.version}"))


# ---------------------------------------------------------------- CSV import and export

def _versions_snapshot() -> dict[str, list[int]]:
    return {code: sorted(v for v in versions if v is not None) for code, versions in _grouped()}


def _grouped():  # type: ignore[no-untyped-def]
    rows = db().execute(select(RatePlan.code, RatePlanVersion.version)
                        .outerjoin(RatePlanVersion, RatePlanVersion.plan_id == RatePlan.id)).all()
    grouped: dict[str, list[int | None]] = {}
    for code, version in rows:
        grouped.setdefault(code, []).append(version)
    return sorted(grouped.items())


@admin.route("/planos/importar", methods=["POST"])
@requires("write")
def planos_importar():  # type: ignore[no-untyped-def]
    try:
        name, text = uploaded_text(pasted=None)
    except UploadError as exc:
        return _render_list(error=exc.message, status=400)
    session = db()
    before = _versions_snapshot()
    try:
        result = import_csv(session, io.StringIO(text))
    except PainelError as exc:
        session.rollback()
        return _render_list(error=f"Nada foi importado. {error_text(exc)}", status=400)
    except (csv.Error, ValueError) as exc:  # an unreadable file (a field too large, a stray quote)
        session.rollback()
        return _render_list(error=f"Nada foi importado: o arquivo não é um CSV legível ({exc}).", status=400)
    after = _versions_snapshot()
    changed = sorted(code for code in after if after[code] != before.get(code))
    record(session, actor_kind="admin", actor=actor()[1], action="rates.import", target_kind="rate_plans",
           target_id=(",".join(changed) or "nenhum")[:64], address=client_address(),
           before={code: before.get(code, []) for code in changed},
           after={"file": name, "result": result.summary(), "versions": {code: after[code] for code in changed}})
    session.commit()
    flash(f"Importação concluída: {result.plans_created} plano(s) criado(s), {result.versions_created} versão(ões) "
          f"criada(s), {result.versions_unchanged} já existente(s) sem alteração.", "success")
    return redirect(url_for("admin.planos"))


@admin.route("/planos/exportar.csv")
@requires("read")
def planos_exportar():  # type: ignore[no-untyped-def]
    code = (request.args.get("plano") or "").strip()[:64]
    if code and db().scalar(select(RatePlan.id).where(RatePlan.code == code)) is None:
        abort(404)
    text = export_csv(db(), [code] if code else [])
    name = f"plano-{re.sub(r'[^A-Za-z0-9_-]+', '_', code)}.csv" if code else "planos.csv"
    return Response(text, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'})


# ---------------------------------------------------------------- price preview

def _preview(values: dict[str, str]) -> tuple[dict[str, str], str | None, str | None]:
    """(errors per field, the explanation's text, a general error) for the preview's query."""
    errors: dict[str, str] = {}
    if not values["circuito"]:
        errors["circuito"] = "Informe o circuito."
    if not values["numero"]:
        errors["numero"] = "Informe o número discado."
    seconds = None
    if not values["duracao"]:
        errors["duracao"] = "Informe a duração em segundos."
    elif not values["duracao"].isdigit() or int(values["duracao"]) > DURATION_MAX:
        errors["duracao"] = f"Duração inválida: um número inteiro de segundos, de 0 a {DURATION_MAX}."
    else:
        seconds = int(values["duracao"])
    day = clock = None
    if values["data"]:
        day = parse_date(values["data"])
        if day is None:
            errors["data"] = "Data inválida: use o formato dd/mm/aaaa."
        else:
            values["data"] = day.isoformat()
    if values["hora"]:
        match = re.fullmatch(r"([01]?[0-9]|2[0-3])[:h]([0-5][0-9])", values["hora"])
        if match is None:
            errors["hora"] = "Hora inválida: use hh:mm, de 00:00 a 23:59."
        else:
            clock = time(int(match.group(1)), int(match.group(2)))
    if errors:
        return errors, None, None
    session = db()
    circuit = session.scalar(select(Circuit).where(Circuit.number == values["circuito"]))
    if circuit is None:
        return {"circuito": f"Circuito desconhecido: {values['circuito']}."}, None, None
    start = None
    if day is not None or clock is not None:
        local_now = now_utc().astimezone(ZoneInfo(circuit.timezone))
        start = datetime.combine(day or local_now.date(), clock or time(12, 0))
    try:
        result = explain(session, circuit.number, values["numero"], seconds or 0, local_start=start)
    except PainelError as exc:
        return {}, None, error_text(exc)
    return {}, result.text(), None


@admin.route("/planos/simular")
@requires("read")
def planos_simular():  # type: ignore[no-untyped-def]
    fields = {"circuito": 20, "numero": DIALED_MAX, "duracao": 10, "data": 10, "hora": 5}
    values = {key: (request.args.get(key) or "").strip()[:limit] for key, limit in fields.items()}
    asked = any(values[k] for k in ("numero", "duracao", "data", "hora"))
    errors: dict[str, str] = {}
    text = general = None
    if asked:
        errors, text, general = _preview(values)
    status = 400 if errors or general else 200
    return render_template("admin/planos_simular.html", values=values, errors=errors, text=text, general=general,
                           duration_max=DURATION_MAX, dialed_max=DIALED_MAX), status
