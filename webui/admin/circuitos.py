"""Circuitos: list and search, create, edit, outbound dialing rules (with a tester),
Gestão Web flags, a new web password, deactivate and reactivate.

Reading (and the tester, a GET) is open to every staff role; changes need ``write``
except "gerar nova senha", which support may do too (``web_password``). The rules live
in ``painel.customers`` and ``painel.dialing`` (the same engine that checks the
portal's siga-me destinations and the router's forwarded calls): every change is
audited with before and after, and the rules version the routers poll is bumped.
"""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import or_, select

from painel.categories import CATEGORY_LABELS
from painel.customers import (
    ALLOWANCE_NAMES, BRAZIL_TIMEZONES, FLAG_HELP, FLAG_LABELS, FieldErrors, clean_circuit, clean_outbound_rules,
    create_circuit, flags_of, reset_web_password, rules_of, search_circuits, set_circuit_active, set_flags,
    set_outbound_rules, split_rules, update_circuit, would_allow,
)
from painel.dialing import ALLOWANCE_LABELS, ALLOWANCES
from painel.errors import ValidationError
from painel.models import GESTAO_WEB_FLAGS, Circuit, Customer, Did, RatePlan
from painel.numbering import VALID_DDDS
from webui.access import client_address
from webui.admin import admin
from webui.admin.access import actor, requires
from webui.admin.clientes import customer_choices, page_number, situation
from webui.db import db, settings
from webui.portal.numeros import MODE_LABELS, format_phone

PAGE_SIZE = 50
NUMBER_MAX = 64
_FORM_FIELDS = ("numero", "nome", "cliente_id", "ddd", "fuso", "plano_id")


def get_circuit(circuit_id: int) -> Circuit:
    circuit = db().get(Circuit, circuit_id)
    if circuit is None:
        abort(404)
    return circuit


def rule_label(rule: str | None) -> str:
    """An allowance or an extra pattern as the page names it."""
    if rule is None:
        return ""
    if rule.startswith(("padrao:", "padrão:")):
        return "padrão extra " + rule.split(":", 1)[1]
    return ALLOWANCE_LABELS.get(rule, rule)


def _plans(current: Circuit | None) -> list[RatePlan]:
    query = select(RatePlan).where(or_(RatePlan.active.is_(True),
                                       RatePlan.id == (current.rate_plan_id if current else None)))
    return list(db().scalars(query.order_by(RatePlan.name)))


def _choices(current: Circuit | None) -> dict:
    customers = customer_choices()
    if current is not None and all(c.id != current.customer_id for c in customers):
        customers.append(db().get(Customer, current.customer_id))  # an inactive owner stays selectable
    zones = list(BRAZIL_TIMEZONES)
    if current is not None and current.timezone not in zones:
        zones.append(current.timezone)
    return {"customers": customers, "plans": _plans(current), "zones": zones, "ddds": sorted(VALID_DDDS)}


def _data_values(circuit: Circuit | None = None) -> dict[str, str]:
    if request.method == "POST":
        return {key: (request.form.get(key) or "").strip() for key in _FORM_FIELDS}
    if circuit is None:
        return {"numero": "", "nome": "", "cliente_id": (request.args.get("cliente") or "").strip(), "ddd": "",
                "fuso": settings().default_timezone, "plano_id": ""}
    return {"numero": circuit.number, "nome": circuit.name, "cliente_id": str(circuit.customer_id),
            "ddd": circuit.home_ddd, "fuso": circuit.timezone,
            "plano_id": str(circuit.rate_plan_id) if circuit.rate_plan_id else ""}


def _clean(values: dict[str, str], current: Circuit | None = None) -> dict[str, object]:
    return clean_circuit(db(), number=values["numero"], name=values["nome"], customer_id=values["cliente_id"],
                         home_ddd=values["ddd"], timezone=values["fuso"], rate_plan_id=values["plano_id"],
                         current=current)


# ---------------------------------------------------------------- list, create

@admin.route("/circuitos")
@requires("read")
def circuitos():  # type: ignore[no-untyped-def]
    text = (request.args.get("q") or "").strip()[:100]
    label, active = situation()
    page = page_number()
    rows, total = search_circuits(db(), text, active=active, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    return render_template("admin/circuitos.html", rows=rows, total=total, page=page, pages=pages, q=text,
                           situacao=label)


@admin.route("/circuitos/novo", methods=["GET", "POST"])
@requires("write")
def circuito_novo():  # type: ignore[no-untyped-def]
    values = _data_values()
    if request.method == "POST":
        session = db()
        try:
            cleaned = _clean(values)
        except FieldErrors as exc:
            return render_template("admin/circuito_novo.html", values=values, errors=exc.errors,
                                   **_choices(None)), 400
        circuit = create_circuit(session, cleaned, actor=actor(), address=client_address())
        session.commit()
        flash(f"Circuito {circuit.number} criado, com todas as opções da Gestão Web desligadas e sem senha web: "
              "defina-as abaixo.", "success")
        return redirect(url_for("admin.circuito", circuit_id=circuit.id))
    return render_template("admin/circuito_novo.html", values=values, errors={}, **_choices(None))


# ---------------------------------------------------------------- the circuit's page

def _dids(circuit: Circuit) -> list[dict]:
    rows = []
    for did in db().scalars(select(Did).where(Did.circuit_id == circuit.id).order_by(Did.e164)):
        followme = ""
        if did.followme_enabled:
            followme = f"{format_phone(did.followme_destination) or did.followme_destination_raw}, " \
                       f"{MODE_LABELS.get(did.followme_mode, did.followme_mode).lower()}"
        rows.append({"did": did, "display": format_phone(did.e164), "followme": followme})
    return rows


def _test_result(circuit: Circuit, raw: str) -> dict | None:
    if not raw:
        return None
    if len(raw) > NUMBER_MAX:
        return {"allowed": False, "raw": raw[:NUMBER_MAX], "reason": f"Número longo demais (máximo {NUMBER_MAX})."}
    check = would_allow(circuit, raw)
    return {"allowed": check.allowed, "raw": raw, "rule": rule_label(check.rule),
            "number": format_phone(check.info.e164) if check.info else "",
            "e164": check.info.e164 if check.info else "",
            "category": CATEGORY_LABELS.get(check.category, "") if check.category else "",
            "reason": check.reason}


def _render(circuit: Circuit, *, data: dict[str, str] | None = None, data_errors: dict[str, str] | None = None,
            rules: dict | None = None, rules_errors: dict[str, str] | None = None,
            flags: dict[str, bool] | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    names, patterns = split_rules(rules_of(circuit))
    customer = db().get(Customer, circuit.customer_id)
    plan = db().get(RatePlan, circuit.rate_plan_id) if circuit.rate_plan_id else None
    tested = (request.args.get("numero") or "").strip() if request.method == "GET" else ""
    return render_template(
        "admin/circuito.html", circuit=circuit, customer=customer, plan=plan,
        data=data or _data_values(circuit), data_errors=data_errors or {},
        rules=rules or {"permissoes": names, "padroes": "\n".join(patterns)}, rules_errors=rules_errors or {},
        allowances=[(name, ALLOWANCE_NAMES[name], ALLOWANCE_LABELS[name]) for name in ALLOWANCES],
        flags=flags or flags_of(circuit), flag_order=GESTAO_WEB_FLAGS, flag_labels=FLAG_LABELS,
        flag_help=FLAG_HELP, dids=_dids(circuit), tested=tested, test=_test_result(circuit, tested),
        number_max=NUMBER_MAX, **_choices(circuit),
    ), status


@admin.route("/circuitos/<int:circuit_id>")
@requires("read")
def circuito(circuit_id: int):  # type: ignore[no-untyped-def]
    return _render(get_circuit(circuit_id))


@admin.route("/circuitos/<int:circuit_id>/editar", methods=["POST"])
@requires("write")
def circuito_editar(circuit_id: int):  # type: ignore[no-untyped-def]
    circuit = get_circuit(circuit_id)
    values = _data_values(circuit)
    try:
        cleaned = _clean(values, circuit)
    except FieldErrors as exc:
        return _render(circuit, data=values, data_errors=exc.errors, status=400)
    session = db()
    changed = update_circuit(session, circuit, cleaned, actor=actor(), address=client_address())
    session.commit()
    flash("Circuito atualizado." if changed else "Nada mudou nos dados do circuito.",
          "success" if changed else "info")
    return redirect(url_for("admin.circuito", circuit_id=circuit.id))


@admin.route("/circuitos/<int:circuit_id>/regras", methods=["POST"])
@requires("write")
def circuito_regras(circuit_id: int):  # type: ignore[no-untyped-def]
    circuit = get_circuit(circuit_id)
    chosen = request.form.getlist("permissoes")
    patterns = (request.form.get("padroes") or "")[:5000]
    try:
        rules = clean_outbound_rules(chosen, patterns)
    except FieldErrors as exc:
        return _render(circuit, rules={"permissoes": chosen, "padroes": patterns}, rules_errors=exc.errors,
                       status=400)
    session = db()
    before = rules_of(circuit)
    refused = set_outbound_rules(session, circuit, rules, actor=actor(), address=client_address())
    session.commit()
    flash("Regras de saída atualizadas." if before != rules else "Nada mudou nas regras de saída.",
          "success" if before != rules else "info")
    for did, reason in refused:
        flash(f"Atenção: o siga-me de {format_phone(did.e164)} (destino {did.followme_destination_raw}) não segue "
              f"estas regras e não será feito até o destino mudar. {reason[:1].upper()}{reason[1:]}.", "error")
    return redirect(url_for("admin.circuito", circuit_id=circuit.id, _anchor="regras"))


@admin.route("/circuitos/<int:circuit_id>/gestao-web", methods=["POST"])
@requires("write")
def circuito_gestao_web(circuit_id: int):  # type: ignore[no-untyped-def]
    circuit = get_circuit(circuit_id)
    wanted = {flag: request.form.get(f"flag_{flag}") == "1" for flag in GESTAO_WEB_FLAGS}
    session = db()
    changed = set_flags(session, circuit, wanted, actor=actor(), address=client_address())
    session.commit()
    if changed:
        names = ", ".join(f"{FLAG_LABELS[f]} {'ligado' if on else 'desligado'}" for f, on in changed.items())
        flash(f"Gestão Web atualizada: {names}. Vale a partir do próximo acesso do assinante e da próxima "
              "chamada.", "success")
    else:
        flash("Nada mudou na Gestão Web.", "info")
    return redirect(url_for("admin.circuito", circuit_id=circuit.id, _anchor="gestao-web"))


@admin.route("/circuitos/<int:circuit_id>/senha-web", methods=["POST"])
@requires("web_password")
def circuito_senha_web(circuit_id: int):  # type: ignore[no-untyped-def]
    """A new random web password, shown in this response only (stored hashed, never shown again)."""
    circuit = get_circuit(circuit_id)
    session = db()
    password = reset_web_password(session, circuit, actor=actor(), address=client_address())
    session.commit()
    return render_template("admin/senha_gerada.html", circuit=circuit, password=password)


@admin.route("/circuitos/<int:circuit_id>/situacao", methods=["POST"])
@requires("write")
def circuito_situacao(circuit_id: int):  # type: ignore[no-untyped-def]
    circuit = get_circuit(circuit_id)
    wanted = request.form.get("ativo")
    if wanted not in ("0", "1"):
        abort(400)
    active = wanted == "1"
    session = db()
    try:
        changed = set_circuit_active(session, circuit, active, actor=actor(), address=client_address())
    except ValidationError as exc:
        session.rollback()
        flash(exc.message[:1].upper() + exc.message[1:] + ".", "error")
        return redirect(url_for("admin.circuito", circuit_id=circuit.id))
    session.commit()
    if not changed:
        flash("Nada mudou: o circuito já estava " + ("ativo." if active else "desativado."), "info")
    elif active:
        flash("Circuito reativado.", "success")
    else:
        flash("Circuito desativado: o assinante não entra mais no painel e as chamadas para os números dele "
              "passam a ser recusadas (número não alocado).", "success")
    return redirect(url_for("admin.circuito", circuit_id=circuit.id))
