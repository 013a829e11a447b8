"""Rate plans: CSV import/export and the version lookup used by ``explain`` and rating.

CSV columns (one row per plan version and category; decimals with a dot or a comma):
plan_code, plan_name, version, valid_from (AAAA-MM-DD), category, price_per_minute,
reduced_price_per_minute, connection_fee, grace_seconds, minimum_seconds,
increment_seconds, monthly_fee, reduced_band (sim/não), normal_start_hour,
normal_end_hour, normal_weekdays (0=segunda … 6=domingo, separados por espaço).
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from painel.categories import Category
from painel.errors import ValidationError
from painel.models import RatePlan, RatePlanVersion, Tariff

CSV_COLUMNS = (
    "plan_code", "plan_name", "version", "valid_from", "category", "price_per_minute",
    "reduced_price_per_minute", "connection_fee", "grace_seconds", "minimum_seconds",
    "increment_seconds", "monthly_fee", "reduced_band", "normal_start_hour", "normal_end_hour",
    "normal_weekdays",
)


@dataclass
class ImportResult:
    plans_created: int = 0
    versions_created: int = 0
    versions_unchanged: int = 0

    def summary(self) -> str:
        return (f"planos criados={self.plans_created} versões criadas={self.versions_created} "
                f"versões sem alteração={self.versions_unchanged}")


def _dec(value: str, line: int, col: str, *, optional: bool = False, places: int = 6) -> Decimal | None:
    value = (value or "").strip()
    if not value:
        if optional:
            return None
        raise ValidationError(f"linha {line}: coluna {col} vazia")
    try:
        d = Decimal(value.replace(",", "."))
    except InvalidOperation:
        raise ValidationError(f"linha {line}: {col} não é um número: {value!r}") from None
    if not d.is_finite():
        raise ValidationError(f"linha {line}: {col} não é um número: {value!r}")
    if d < 0:
        raise ValidationError(f"linha {line}: {col} não pode ser negativo")
    # the columns keep 6 decimals (prices) or whole centavos (money): more would be
    # rounded on PostgreSQL, kept on SQLite, or refused by the database
    if -d.normalize().as_tuple().exponent > places:  # type: ignore[operator]
        raise ValidationError(f"linha {line}: {col} tem mais de {places} casas decimais: {value!r}")
    return d


def _weekdays(value: str, line: int) -> str:
    days = (value or "0 1 2 3 4 5").replace(",", " ").split()
    if any(d not in "0123456" or len(d) != 1 for d in days) or len(set(days)) != len(days):
        raise ValidationError(
            f"linha {line}: normal_weekdays deve listar dias de 0 (segunda) a 6 (domingo) sem repetir: {value!r}"
        )
    return ",".join(days)


def _int(value: str, line: int, col: str, default: int) -> int:
    value = (value or "").strip()
    if not value:
        return default
    try:
        n = int(value)
    except ValueError:
        raise ValidationError(f"linha {line}: {col} deve ser um inteiro: {value!r}") from None
    if n < 0:
        raise ValidationError(f"linha {line}: {col} não pode ser negativo")
    return n


def _bool(value: str) -> bool:
    return (value or "").strip().lower() in {"1", "sim", "s", "true", "yes", "y"}


def import_csv(session: Session, stream: TextIO) -> ImportResult:
    """Create the plans and versions a CSV describes; existing identical versions are kept.

    A version that exists with other values is refused: versions are immutable once
    calls may have been rated by them; publish a new version with a new validity date.
    """
    reader = csv.DictReader(stream)
    missing = [c for c in ("plan_code", "version", "valid_from", "category", "price_per_minute")
               if c not in (reader.fieldnames or [])]
    if missing:
        raise ValidationError(f"colunas obrigatórias ausentes no CSV: {', '.join(missing)}")
    groups: dict[tuple[str, int], dict] = {}
    for row in reader:
        line = reader.line_num
        code = (row.get("plan_code") or "").strip()
        if not code:
            raise ValidationError(f"linha {line}: plan_code vazio")
        version = _int(row.get("version", ""), line, "version", 0)
        if version < 1:
            raise ValidationError(f"linha {line}: version deve ser 1 ou maior")
        try:
            valid_from = date.fromisoformat((row.get("valid_from") or "").strip())
        except ValueError:
            raise ValidationError(f"linha {line}: valid_from deve ser AAAA-MM-DD") from None
        try:
            category = Category((row.get("category") or "").strip())
        except ValueError:
            valid = ", ".join(c.value for c in Category)
            raise ValidationError(f"linha {line}: categoria desconhecida {row.get('category')!r} (use {valid})") from None
        g = groups.setdefault((code, version), {
            "name": (row.get("plan_name") or code).strip(),
            "valid_from": valid_from,
            "monthly_fee": _dec(row.get("monthly_fee") or "0", line, "monthly_fee", places=2),
            "reduced_band": _bool(row.get("reduced_band", "")),
            "normal_start_hour": _int(row.get("normal_start_hour", ""), line, "normal_start_hour", 7),
            "normal_end_hour": _int(row.get("normal_end_hour", ""), line, "normal_end_hour", 21),
            "normal_weekdays": _weekdays(row.get("normal_weekdays") or "", line),
            "tariffs": {},
        })
        if not 0 <= g["normal_start_hour"] < g["normal_end_hour"] <= 24:
            raise ValidationError(
                f"linha {line}: horário normal inválido ({g['normal_start_hour']}h às {g['normal_end_hour']}h): "
                "use 0 <= normal_start_hour < normal_end_hour <= 24"
            )
        if g["valid_from"] != valid_from:
            raise ValidationError(f"linha {line}: a versão {version} do plano {code} tem mais de uma data de vigência")
        if category in g["tariffs"]:
            raise ValidationError(f"linha {line}: categoria {category.value} repetida na versão {version} do plano {code}")
        g["tariffs"][category] = {
            "price_per_minute": _dec(row["price_per_minute"], line, "price_per_minute"),
            "reduced_price_per_minute": _dec(row.get("reduced_price_per_minute", ""), line,
                                             "reduced_price_per_minute", optional=True),
            "connection_fee": _dec(row.get("connection_fee") or "0", line, "connection_fee"),
            "grace_seconds": _int(row.get("grace_seconds", ""), line, "grace_seconds", 0),
            "minimum_seconds": _int(row.get("minimum_seconds", ""), line, "minimum_seconds", 30),
            "increment_seconds": _int(row.get("increment_seconds", ""), line, "increment_seconds", 6),
        }
        if g["tariffs"][category]["increment_seconds"] < 1:
            raise ValidationError(f"linha {line}: increment_seconds deve ser pelo menos 1")
    result = ImportResult()
    for (code, version), g in sorted(groups.items()):
        plan = session.scalar(select(RatePlan).where(RatePlan.code == code))
        if plan is None:
            plan = RatePlan(code=code, name=g["name"])
            session.add(plan)
            session.flush()
            result.plans_created += 1
        existing = session.scalar(
            select(RatePlanVersion).where(RatePlanVersion.plan_id == plan.id, RatePlanVersion.version == version)
        )
        if existing is not None:
            if _version_dict(existing) != _normalized(g):
                raise ValidationError(
                    f"a versão {version} do plano {code} já existe com outros valores; "
                    "publique uma nova versão com nova data de vigência"
                )
            result.versions_unchanged += 1
            continue
        clash = session.scalar(
            select(RatePlanVersion).where(RatePlanVersion.plan_id == plan.id,
                                          RatePlanVersion.valid_from == g["valid_from"])
        )
        if clash is not None:
            raise ValidationError(
                f"o plano {code} já tem a versão {clash.version} vigente a partir de {g['valid_from']:%d/%m/%Y}"
            )
        v = RatePlanVersion(
            plan_id=plan.id, version=version, valid_from=g["valid_from"], monthly_fee=g["monthly_fee"],
            reduced_band=g["reduced_band"], normal_start_hour=g["normal_start_hour"],
            normal_end_hour=g["normal_end_hour"], normal_weekdays=g["normal_weekdays"],
        )
        for cat, t in g["tariffs"].items():
            v.tariffs.append(Tariff(category=cat.value, **t))
        session.add(v)
        result.versions_created += 1
    session.flush()
    return result


def _normalized(g: dict) -> dict:
    return {
        "valid_from": g["valid_from"],
        "monthly_fee": Decimal(g["monthly_fee"]),
        "reduced_band": g["reduced_band"],
        "hours": (g["normal_start_hour"], g["normal_end_hour"], g["normal_weekdays"]),
        "tariffs": {c.value: {k: (Decimal(v) if isinstance(v, Decimal) else v) for k, v in t.items()}
                    for c, t in g["tariffs"].items()},
    }


def _version_dict(v: RatePlanVersion) -> dict:
    return {
        "valid_from": v.valid_from,
        "monthly_fee": v.monthly_fee,
        "reduced_band": v.reduced_band,
        "hours": (v.normal_start_hour, v.normal_end_hour, v.normal_weekdays),
        "tariffs": {
            t.category: {
                "price_per_minute": t.price_per_minute,
                "reduced_price_per_minute": t.reduced_price_per_minute,
                "connection_fee": t.connection_fee,
                "grace_seconds": t.grace_seconds,
                "minimum_seconds": t.minimum_seconds,
                "increment_seconds": t.increment_seconds,
            }
            for t in v.tariffs
        },
    }


def export_csv(session: Session, plan_codes: Iterable[str] = ()) -> str:
    """Every version of the plans (all plans when none is named) in the import format."""
    codes = list(plan_codes)
    stmt = select(RatePlan).options(selectinload(RatePlan.versions).selectinload(RatePlanVersion.tariffs)).order_by(RatePlan.code)
    if codes:
        stmt = stmt.where(RatePlan.code.in_(codes))
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    order = {c.value: i for i, c in enumerate(Category)}
    for plan in session.scalars(stmt):
        for v in plan.versions:
            for t in sorted(v.tariffs, key=lambda t: order.get(t.category, 99)):
                w.writerow([
                    plan.code, plan.name, v.version, v.valid_from.isoformat(), t.category,
                    t.price_per_minute, "" if t.reduced_price_per_minute is None else t.reduced_price_per_minute,
                    t.connection_fee, t.grace_seconds, t.minimum_seconds, t.increment_seconds,
                    v.monthly_fee, "sim" if v.reduced_band else "não", v.normal_start_hour,
                    v.normal_end_hour, v.normal_weekdays.replace(",", " "),
                ])
    return out.getvalue()


# ------------------------------------------------------------------ a new version from the admin pages

#: what a tariff change may set; anything not given is copied from the version in force
TARIFF_FIELDS = ("price_per_minute", "reduced_price_per_minute", "connection_fee", "grace_seconds",
                 "minimum_seconds", "increment_seconds")


def version_in_force(plan: RatePlan, day: date) -> RatePlanVersion | None:
    """The plan's version valid on ``day`` (the latest ``valid_from`` on or before it)."""
    candidates = [v for v in plan.versions if v.valid_from <= day]
    return max(candidates, key=lambda v: v.valid_from) if candidates else None


def _check_tariff(category: str, values: dict) -> None:
    for name in ("price_per_minute", "reduced_price_per_minute", "connection_fee"):
        value = values.get(name)
        if value is not None and (not isinstance(value, Decimal) or value < 0 or value.as_tuple().exponent < -6):
            raise ValidationError(f"{category}: {name} deve ser um valor em reais, não negativo, até 6 casas")
    if values["price_per_minute"] is None:
        raise ValidationError(f"{category}: informe o preço por minuto")
    for name, low in (("grace_seconds", 0), ("minimum_seconds", 0), ("increment_seconds", 1)):
        if not isinstance(values[name], int) or not low <= values[name] <= 3600:
            raise ValidationError(f"{category}: {name} deve ser um número de segundos entre {low} e 3600")


def new_version(session: Session, plan_code: str, valid_from: date, *, today: date,
                monthly_fee: Decimal | None = None, tariffs: dict[str, dict] | None = None,
                reduced_band: bool | None = None, note: str | None = None,
                actor: tuple[str, str], address: str | None = None) -> RatePlanVersion:
    """Publish a new version of ``plan_code`` valid from ``valid_from``.

    Versions are never edited: calls already rated keep the prices they were rated with.
    So the new version starts tomorrow at the earliest (``today`` is the operator's local
    date), on a day no other version starts. What is not given is copied from the version
    in force on ``valid_from``; ``tariffs`` maps a category to the fields that change.
    """
    from painel.audit import record

    plan = session.scalar(select(RatePlan).where(RatePlan.code == plan_code)
                          .options(selectinload(RatePlan.versions).selectinload(RatePlanVersion.tariffs)))
    if plan is None:
        raise ValidationError(f"plano desconhecido: {plan_code}")
    if valid_from <= today:
        raise ValidationError("a nova versão precisa começar no futuro (a partir de amanhã): "
                              "ligações já tarifadas não mudam de preço")
    if any(v.valid_from == valid_from for v in plan.versions):
        raise ValidationError(f"já existe uma versão do plano {plan.code} começando em {valid_from:%d/%m/%Y}")
    base = version_in_force(plan, valid_from)
    before = _version_dict(base) if base is not None else None
    prices: dict[str, dict] = {t.category: {f: getattr(t, f) for f in TARIFF_FIELDS}
                               for t in (base.tariffs if base is not None else [])}
    for category, changes in (tariffs or {}).items():
        try:
            Category(category)
        except ValueError:
            raise ValidationError(f"categoria desconhecida: {category}") from None
        unknown = set(changes) - set(TARIFF_FIELDS)
        if unknown:
            raise ValidationError(f"{category}: campos desconhecidos {', '.join(sorted(unknown))}")
        current = prices.get(category, {"price_per_minute": None, "reduced_price_per_minute": None,
                                        "connection_fee": Decimal("0"), "grace_seconds": 0,
                                        "minimum_seconds": 30, "increment_seconds": 6})
        prices[category] = {**current, **changes}
    if not prices:
        raise ValidationError("a versão precisa de ao menos uma tarifa")
    for category, values in prices.items():
        _check_tariff(category, values)
    fee = base.monthly_fee if monthly_fee is None and base is not None else (monthly_fee or Decimal("0"))
    if fee < 0 or fee != fee.quantize(Decimal("0.01")):
        raise ValidationError("a mensalidade deve ser em reais e centavos, não negativa")
    version = RatePlanVersion(
        plan_id=plan.id, version=max((v.version for v in plan.versions), default=0) + 1, valid_from=valid_from,
        monthly_fee=fee,
        reduced_band=base.reduced_band if reduced_band is None and base is not None else bool(reduced_band),
        normal_start_hour=base.normal_start_hour if base is not None else 7,
        normal_end_hour=base.normal_end_hour if base is not None else 21,
        normal_weekdays=base.normal_weekdays if base is not None else "0,1,2,3,4,5",
        note=note or None,
        tariffs=[Tariff(category=c, **values) for c, values in sorted(prices.items())],
    )
    session.add(version)
    session.flush()
    record(session, actor_kind=actor[0], actor=actor[1], action="plan.version", target_kind="plan",
           target_id=plan.code, before=before, after=_version_dict(version), address=address)
    return version
