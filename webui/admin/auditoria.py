"""Auditoria: every change made by staff, subscribers and the CLI, filtered and paginated.

Filters: who (actor name and kind), what (action), which circuit or customer (its
events, its DIDs' events and, for a circuit, what its subscriber did), and a period
of days on the operator's clock (``default_timezone``). Newest first, 50 a page.
"""
from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import render_template, request, url_for
from sqlalchemy import and_, false, func, or_, select

from painel.customers import like_pattern
from painel.fmt import data_hora_br
from painel.models import AuditEvent, Circuit, Customer, Did, RatePlan
from webui.admin import admin
from webui.admin.access import requires
from webui.db import db, settings
from webui.portal.blacklist import parse_date
from webui.portal.numeros import format_phone

PAGE_SIZE = 50
CUSTOMERS_MAX = 100

ACTOR_KINDS = {"admin": "Equipe (admin)", "subscriber": "Assinante", "cli": "Linha de comando", "system": "Sistema"}

#: how the page names the actions it knows (others show as recorded)
ACTION_LABELS = {
    "auth.login": "Entrada no painel do assinante",
    "auth.login_failed": "Entrada recusada (assinante)",
    "auth.login_limited": "Tentativas de entrada bloqueadas (assinante)",
    "auth.logout": "Saída do painel do assinante",
    "admin.login": "Entrada na administração",
    "admin.login_failed": "Entrada recusada (administração)",
    "admin.login_limited": "Tentativas de entrada bloqueadas (administração)",
    "admin.logout": "Saída da administração",
    "admin_user.create": "Usuário da administração criado",
    "admin_user.password": "Senha de usuário da administração alterada",
    "admin_user.activate": "Usuário da administração reativado",
    "admin_user.deactivate": "Usuário da administração desativado",
    "admin_user.totp_on": "TOTP habilitado",
    "admin_user.totp_off": "TOTP desabilitado",
    "customer.create": "Cliente criado",
    "customer.update": "Cliente alterado",
    "customer.activate": "Cliente reativado",
    "customer.deactivate": "Cliente desativado",
    "circuit.create": "Circuito criado",
    "circuit.update": "Circuito alterado",
    "circuit.activate": "Circuito reativado",
    "circuit.deactivate": "Circuito desativado",
    "circuit.outbound_rules": "Regras de saída alteradas",
    "circuit.flags": "Gestão Web alterada",
    "circuit.web_password": "Nova senha web gerada",
    "blacklist.add": "Número bloqueado",
    "blacklist.remove": "Número desbloqueado",
    "blacklist.anonymous": "Chamadas anônimas",
    "followme.set": "Siga-me ligado",
    "followme.off": "Siga-me desligado",
    "acb.on": "ACB ligado",
    "acb.off": "ACB desligado",
    "profile.contact": "Dados de contato alterados",
    "profile.password": "Senha web alterada pelo assinante",
    "profile.password_failed": "Troca de senha recusada",
    "profile.password_limited": "Trocas de senha bloqueadas",
    "message.send": "Solicitação enviada",
    "message.read": "Mensagem lida",
    "message.notice": "Aviso enviado pela operadora",
    "message.answer": "Resposta da operadora",
    "plan.version": "Nova versão de plano",
    "did.assign": "Número atribuído",
    "did.move": "Número movido",
    "did.release": "Número liberado",
    "did.import": "Números importados",
    "rates.import": "Planos importados",
    "cdr.rerate": "Ligações retarifadas",
    "cdr.quarantine_retry": "Quarentena reprocessada",
    "billing.close": "Mês fechado",
    "billing.payment": "Pagamento registrado",
    "billing.payment.import": "Pagamentos importados",
    "billing.pdf": "PDF de fatura gerado de novo",
}


def _load(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _show(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "sim" if value else "não"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


TARGET_LABELS = {
    "circuit": "Circuito", "did": "Número", "customer": "Cliente", "admin_user": "Usuário", "message": "Mensagem",
    "invoice": "Fatura", "month": "Mês", "payments": "Pagamentos", "rate_plans": "Planos", "plan": "Plano",
    "circuits": "Circuitos", "dids": "Números", "cdr_quarantine": "Quarentena",
}


def _targets(events: list[AuditEvent]) -> dict[tuple[str, str], tuple[str, str | None]]:
    """(kind, id) -> (text, link) for the targets that have a page here (one query per kind)."""
    session = db()
    numbers = {e.target_id for e in events if e.target_kind == "circuit" and e.target_id}
    customer_ids = {int(e.target_id) for e in events
                    if e.target_kind == "customer" and e.target_id and e.target_id.isdigit()}
    found: dict[tuple[str, str], tuple[str, str | None]] = {}
    if numbers:
        for circuit_id, number in session.execute(select(Circuit.id, Circuit.number)
                                                  .where(Circuit.number.in_(numbers))):
            found[("circuit", number)] = (number, url_for("admin.circuito", circuit_id=circuit_id))
    if customer_ids:
        for customer_id, name in session.execute(select(Customer.id, Customer.name)
                                                 .where(Customer.id.in_(customer_ids))):
            found[("customer", str(customer_id))] = (name, url_for("admin.cliente", customer_id=customer_id))
    codes = {e.target_id for e in events if e.target_kind == "plan" and e.target_id}
    if codes:
        for plan_id, code in session.execute(select(RatePlan.id, RatePlan.code).where(RatePlan.code.in_(codes))):
            found[("plan", code)] = (code, url_for("admin.plano", plan_id=plan_id))
    for event in events:  # pages found by id: a link without a query (a removed one answers 404)
        target = event.target_id or ""
        if event.target_kind == "invoice" and target.isdigit():
            found[("invoice", target)] = (f"nº {target}", url_for("admin.fatura", invoice_id=int(target)))
        elif event.target_kind == "message" and target.isdigit():
            found[("message", target)] = (f"nº {target}", url_for("admin.mensagem", message_id=int(target)))
        elif event.target_kind == "did" and target:
            found[("did", target)] = (format_phone(target), url_for("admin.numeros", q=target.lstrip("+")))
    return found


def event_rows(events: list[AuditEvent]) -> list[dict]:
    """Events as the pages show them: local time, labels, and before/after field by field."""
    tz = ZoneInfo(settings().default_timezone)
    targets = _targets(events)
    rows = []
    for event in events:
        before, after = _load(event.before), _load(event.after)
        changes = []
        if isinstance(before, dict) or isinstance(after, dict):
            b = before if isinstance(before, dict) else {}
            a = after if isinstance(after, dict) else {}
            for key in list(b) + [k for k in a if k not in b]:
                changes.append({"field": key, "before": _show(b[key]) if key in b else "",
                                "after": _show(a[key]) if key in a else ""})
        elif before is not None or after is not None:
            changes.append({"field": "", "before": _show(before) if before is not None else "",
                            "after": _show(after) if after is not None else ""})
        target_text, target_url = targets.get((event.target_kind or "", event.target_id or ""),
                                              (event.target_id or "", None))
        rows.append({"event": event, "when": data_hora_br(event.at.astimezone(tz)),
                     "kind": ACTOR_KINDS.get(event.actor_kind, event.actor_kind),
                     "action": ACTION_LABELS.get(event.action, event.action), "changes": changes,
                     "target_kind": TARGET_LABELS.get(event.target_kind or "", event.target_kind or ""),
                     "target": target_text, "target_url": target_url})
    return rows


def _circuits_clause(numbers: list[str], circuit_ids: list[int]):  # type: ignore[no-untyped-def]
    """Events about these circuits, their DIDs, and what their subscribers did."""
    clauses = [and_(AuditEvent.target_kind == "circuit", AuditEvent.target_id.in_(numbers)),
               and_(AuditEvent.actor_kind == "subscriber", AuditEvent.actor.in_(numbers))]
    if circuit_ids:
        dids = select(Did.e164).where(Did.circuit_id.in_(circuit_ids)).scalar_subquery()
        clauses.append(and_(AuditEvent.target_kind == "did", AuditEvent.target_id.in_(dids)))
    return or_(*clauses)


def _filters(args) -> tuple[dict[str, str], list, dict[str, str], list[Customer]]:  # type: ignore[no-untyped-def]
    """The filters asked for, the SQL conditions they make, errors per field, customers matched."""
    session = db()
    values = {key: (args.get(key) or "").strip()[:100] for key in ("ator", "tipo", "acao", "circuito", "cliente",
                                                                   "de", "ate")}
    where: list = []
    errors: dict[str, str] = {}
    customers: list[Customer] = []
    if values["ator"]:
        where.append(AuditEvent.actor.ilike(like_pattern(values["ator"]), escape="\\"))
    if values["tipo"]:
        if values["tipo"] in ACTOR_KINDS:
            where.append(AuditEvent.actor_kind == values["tipo"])
        else:
            errors["tipo"] = "Escolha um tipo de autor da lista."
    if values["acao"]:
        where.append(AuditEvent.action == values["acao"])
    if values["circuito"]:
        number = values["circuito"]
        ids = list(session.scalars(select(Circuit.id).where(Circuit.number == number)))
        where.append(_circuits_clause([number], ids))
    if values["cliente"]:
        text = values["cliente"]
        digits = "".join(ch for ch in text if ch.isdigit())
        match = [Customer.name.ilike(like_pattern(text), escape="\\")]
        if len(digits) in (11, 14):
            match.append(Customer.document == digits)
        customers = list(session.scalars(select(Customer).where(or_(*match)).order_by(Customer.name)
                                         .limit(CUSTOMERS_MAX)))
        if not customers:
            where.append(false())
        else:
            circuits = session.execute(select(Circuit.id, Circuit.number)
                                       .where(Circuit.customer_id.in_([c.id for c in customers]))).all()
            where.append(or_(and_(AuditEvent.target_kind == "customer",
                                  AuditEvent.target_id.in_([str(c.id) for c in customers])),
                             _circuits_clause([n for _, n in circuits], [i for i, _ in circuits])))
    tz = ZoneInfo(settings().default_timezone)
    start = end = None
    for key in ("de", "ate"):
        if values[key]:
            day = parse_date(values[key])
            if day is None:
                errors[key] = "Data inválida: use o formato dd/mm/aaaa."
            elif key == "de":
                start = day
            else:
                end = day
    if start and end and end < start:
        errors["ate"] = "A data final não pode ser anterior à inicial."
    if start and "de" not in errors:
        where.append(AuditEvent.at >= datetime.combine(start, time(0), tzinfo=tz))
    if end and "ate" not in errors:
        where.append(AuditEvent.at < datetime.combine(end + timedelta(days=1), time(0), tzinfo=tz))
    for key in ("de", "ate"):  # <input type=date> shows ISO dates only
        day = parse_date(values[key]) if values[key] else None
        if isinstance(day, date):
            values[key] = day.isoformat()
    return values, where, errors, customers


@admin.route("/auditoria")
@requires("read")
def auditoria():  # type: ignore[no-untyped-def]
    session = db()
    values, where, errors, customers = _filters(request.args)
    page_raw = request.args.get("pagina", "1")
    page = int(page_raw) if page_raw.isdigit() and int(page_raw) >= 1 else 1
    query = select(AuditEvent).where(*where)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(page, pages)
    events = list(session.scalars(query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                                  .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    # the known actions (a DISTINCT over the whole log would read all of it on every visit)
    actions = sorted(set(ACTION_LABELS) | ({values["acao"]} - {""}))
    filters = {k: v for k, v in values.items() if v}
    return render_template(
        "admin/auditoria.html", rows=event_rows(events), values=values, errors=errors, total=total, page=page,
        pages=pages, filters=filters, actions=[(a, ACTION_LABELS.get(a, a)) for a in actions],
        kinds=ACTOR_KINDS, customers=customers, customers_max=CUSTOMERS_MAX,
        timezone_name=settings().default_timezone,
    ), (400 if errors else 200)
