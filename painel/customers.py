"""Customers and circuits as the operator's staff manage them (admin pages, and scripts).

Each change validates its input (pt-BR messages per field in ``FieldErrors``), writes
an audit event with the fields before and after, and, when the router reads what
changed (a circuit's number, activity, outbound rules or Gestão Web flags), bumps the
rules version so every router reloads within its poll interval. The portal reads the
circuit on every request, so a flag or an activity change reaches it at once. The
caller owns the transaction.
"""
from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from painel.audit import record
from painel.dialing import ALLOWANCES, DialCheck, check_destination, parse_rules
from painel.documents import normalize_document
from painel.errors import ValidationError
from painel.models import GESTAO_WEB_FLAGS, Circuit, Customer, Did, RatePlan
from painel.numbering import VALID_DDDS
from painel.routing import bump_rules_version

Actor = tuple[str, str]

NAME_MAX = 200
EMAIL_MAX = 200
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")
CIRCUIT_NUMBER_RE = re.compile(r"^[0-9]{3,20}$")

#: the time zones of Brazil (IANA), as a circuit may be set to
BRAZIL_TIMEZONES = (
    "America/Sao_Paulo", "America/Fortaleza", "America/Recife", "America/Bahia", "America/Belem",
    "America/Maceio", "America/Araguaina", "America/Santarem", "America/Manaus", "America/Cuiaba",
    "America/Campo_Grande", "America/Porto_Velho", "America/Boa_Vista", "America/Rio_Branco",
    "America/Eirunepe", "America/Noronha",
)

#: Gestão Web flags as the seed names them, and what each one turns on (one line, pt-BR)
FLAG_LABELS = {
    "web": "Web", "faturas": "Faturas", "grafico": "Gráfico", "blacklist": "Blacklist", "sigame": "Siga-me",
    "acb": "ACB", "perfil": "Perfil", "tabela": "Tabela", "mensagem": "Mensagem", "resposta": "Resposta",
}
FLAG_HELP = {
    "web": "Permite entrar no painel do assinante; desligado, encerra as sessões abertas do circuito.",
    "faturas": "Mostra as faturas, o download dos PDFs e as listas de ligações recebidas e efetuadas.",
    "grafico": "Mostra o gráfico mensal de ligações por tipo (local, LDN, LDI, móvel, outros).",
    "blacklist": "Página de blacklist; o roteador só bloqueia os números da lista com esta opção ligada.",
    "sigame": "Configuração do siga-me na página Números; o roteador só encaminha com esta opção ligada.",
    "acb": "Aceitar ou recusar chamadas a cobrar na página Números; o roteador só aceita com esta opção ligada.",
    "perfil": "Página de perfil: dados de contato e troca de senha pelo próprio assinante.",
    "tabela": "Mostra a tabela de tarifas do plano do circuito.",
    "mensagem": "O assinante lê os avisos da operadora e envia solicitações.",
    "resposta": "O assinante vê as respostas da operadora às suas solicitações.",
}

#: how the admin pages name each allowance of the outbound dialing rules
ALLOWANCE_NAMES = {
    "local": "Local", "ldn": "LDN", "movel": "Móvel", "ldi": "LDI", "especial": "Especial", "gratuita": "Gratuita",
}
PATTERN_MAX = 100
PATTERNS_MAX = 20
#: digits and the regular-expression syntax a dialing pattern needs, nothing else
PATTERN_CHARS = re.compile(r"^[0-9^$\[\]|()?*+{},.\\d-]+$")

WEB_PASSWORD_LENGTH = 12
#: no 0/o, 1/l/i: the password is read aloud or copied by hand
_WEB_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


class FieldErrors(ValidationError):
    """Input refused, with a pt-BR message per form field."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = dict(errors)


def like_pattern(text: str) -> str:
    """``text`` as a LIKE "contains" pattern with its own % and _ taken literally (escape '\\')."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _changes(before: Mapping[str, object], after: Mapping[str, object]) -> tuple[dict, dict]:
    keys = [k for k in after if before.get(k) != after[k]]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


# ---------------------------------------------------------------- customers

def clean_customer(session: Session, *, name: str, document: str, email: str,
                   current: Customer | None = None) -> dict[str, str | None]:
    errors: dict[str, str] = {}
    name = " ".join((name or "").split())
    document = (document or "").strip()
    email = (email or "").strip()
    if not name:
        errors["nome"] = "Informe o nome do cliente."
    elif len(name) > NAME_MAX:
        errors["nome"] = f"O nome pode ter no máximo {NAME_MAX} caracteres."
    digits = None
    if not document:
        errors["documento"] = "Informe o CPF ou o CNPJ."
    else:
        try:
            digits = normalize_document(document)
        except ValidationError as exc:
            errors["documento"] = exc.message[:1].upper() + exc.message[1:] + "."
        else:
            query = select(Customer.id).where(Customer.document == digits)
            if current is not None:
                query = query.where(Customer.id != current.id)
            if session.scalar(query) is not None:
                errors["documento"] = "Já existe um cliente com este CPF/CNPJ."
    if email and (len(email) > EMAIL_MAX or not EMAIL_RE.match(email)):
        errors["email"] = "E-mail inválido: use o formato nome@exemplo.com.br."
    if errors:
        raise FieldErrors(errors)
    return {"name": name, "document": digits, "email": email or None}


def _customer_snapshot(customer: Customer) -> dict[str, object]:
    return {"name": customer.name, "document": customer.document, "email": customer.email}


def create_customer(session: Session, values: Mapping[str, str | None], *, actor: Actor,
                    address: str | None = None) -> Customer:
    customer = Customer(name=values["name"], document=values["document"], email=values["email"], active=True)
    session.add(customer)
    session.flush()
    record(session, actor_kind=actor[0], actor=actor[1], action="customer.create", target_kind="customer",
           target_id=customer.id, after={**_customer_snapshot(customer), "active": True}, address=address)
    return customer


def update_customer(session: Session, customer: Customer, values: Mapping[str, str | None], *, actor: Actor,
                    address: str | None = None) -> dict[str, object]:
    """Apply ``values``; returns what changed (nothing: no event)."""
    before, after = _changes(_customer_snapshot(customer), values)
    if not after:
        return {}
    for key, value in after.items():
        setattr(customer, key, value)
    record(session, actor_kind=actor[0], actor=actor[1], action="customer.update", target_kind="customer",
           target_id=customer.id, before=before, after=after, address=address)
    return after


def set_customer_active(session: Session, customer: Customer, active: bool, *, actor: Actor,
                        address: str | None = None) -> list[str]:
    """(De)activate a customer. Deactivating also deactivates its circuits (returned by
    number); reactivating leaves them off, to be reactivated one by one."""
    if customer.active == active:
        return []
    stopped: list[str] = []
    if not active:
        for circuit in session.scalars(select(Circuit).where(Circuit.customer_id == customer.id,
                                                             Circuit.active.is_(True)).order_by(Circuit.number)):
            circuit.active = False
            stopped.append(circuit.number)
            record(session, actor_kind=actor[0], actor=actor[1], action="circuit.deactivate", target_kind="circuit",
                   target_id=circuit.number, before={"active": True},
                   after={"active": False, "reason": "cliente desativado"}, address=address)
    customer.active = active
    record(session, actor_kind=actor[0], actor=actor[1],
           action="customer.activate" if active else "customer.deactivate", target_kind="customer",
           target_id=customer.id, before={"active": not active},
           after={"active": active, **({"circuits_deactivated": stopped} if stopped else {})}, address=address)
    if stopped:
        bump_rules_version(session)
    return stopped


def search_customers(session: Session, text: str = "", *, active: bool | None = None, limit: int = 50,
                     offset: int = 0) -> tuple[list[tuple[Customer, int]], int]:
    """Customers matching ``text`` (name, e-mail, CPF/CNPJ digits or a circuit number), with
    their number of circuits, by name; and how many match in all."""
    query = select(Customer)
    text = (text or "").strip()
    if text:
        digits = "".join(ch for ch in text if ch.isdigit())
        clauses = [Customer.name.ilike(like_pattern(text), escape="\\"),
                   Customer.email.ilike(like_pattern(text), escape="\\")]
        if digits:
            clauses.append(Customer.document.like(like_pattern(digits), escape="\\"))
            clauses.append(exists().where(Circuit.customer_id == Customer.id, Circuit.number == digits))
        query = query.where(or_(*clauses))
    if active is not None:
        query = query.where(Customer.active.is_(active))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    customers = list(session.scalars(query.order_by(Customer.name, Customer.id).limit(limit).offset(offset)))
    counts = dict(session.execute(
        select(Circuit.customer_id, func.count()).where(Circuit.customer_id.in_([c.id for c in customers]))
        .group_by(Circuit.customer_id)).all()) if customers else {}
    return [(c, counts.get(c.id, 0)) for c in customers], total


# ---------------------------------------------------------------- circuits

def clean_circuit(session: Session, *, number: str, name: str, customer_id: str | int | None, home_ddd: str,
                  timezone: str, rate_plan_id: str | int | None,
                  current: Circuit | None = None) -> dict[str, object]:
    errors: dict[str, str] = {}
    number = (number or "").strip()
    name = " ".join((name or "").split())
    home_ddd = (home_ddd or "").strip()
    timezone = (timezone or "").strip()
    if not CIRCUIT_NUMBER_RE.match(number):
        errors["numero"] = "O número do circuito (conta SIP) deve ter de 3 a 20 dígitos."
    else:
        query = select(Circuit.id).where(Circuit.number == number)
        if current is not None:
            query = query.where(Circuit.id != current.id)
        if session.scalar(query) is not None:
            errors["numero"] = f"Já existe um circuito {number}."
    if len(name) > NAME_MAX:
        errors["nome"] = f"O nome pode ter no máximo {NAME_MAX} caracteres."
    customer = None
    if not str(customer_id or "").strip().isdigit():
        errors["cliente_id"] = "Escolha o cliente do circuito."
    else:
        customer = session.get(Customer, int(customer_id))  # type: ignore[arg-type]
        if customer is None:
            errors["cliente_id"] = "Cliente não encontrado."
        elif not customer.active and (current is None or current.customer_id != customer.id):
            errors["cliente_id"] = "Esse cliente está desativado: reative-o antes de lhe dar circuitos."
    if home_ddd not in VALID_DDDS:
        errors["ddd"] = "DDD inválido: informe um DDD brasileiro em uso (11 a 99)."
    if timezone not in BRAZIL_TIMEZONES and (current is None or timezone != current.timezone):
        errors["fuso"] = "Escolha um fuso horário da lista."
    plan_id = None
    raw_plan = str(rate_plan_id or "").strip()
    if raw_plan:
        plan = session.get(RatePlan, int(raw_plan)) if raw_plan.isdigit() else None
        if plan is None or (not plan.active and (current is None or current.rate_plan_id != plan.id)):
            errors["plano_id"] = "Escolha um plano de tarifas ativo."
        else:
            plan_id = plan.id
    if errors:
        raise FieldErrors(errors)
    return {"number": number, "name": name, "customer_id": customer.id if customer else None,
            "home_ddd": home_ddd, "timezone": timezone, "rate_plan_id": plan_id}


def _circuit_snapshot(circuit: Circuit) -> dict[str, object]:
    return {"number": circuit.number, "name": circuit.name, "customer_id": circuit.customer_id,
            "home_ddd": circuit.home_ddd, "timezone": circuit.timezone, "rate_plan_id": circuit.rate_plan_id}


def create_circuit(session: Session, values: Mapping[str, object], *, actor: Actor,
                   address: str | None = None) -> Circuit:
    """A new circuit: active, every Gestão Web flag off, no web password, the default
    outbound rules (no international) until the operator says otherwise."""
    circuit = Circuit(**values, active=True)  # type: ignore[arg-type]
    session.add(circuit)
    session.flush()
    record(session, actor_kind=actor[0], actor=actor[1], action="circuit.create", target_kind="circuit",
           target_id=circuit.number, after={**_circuit_snapshot(circuit), "outbound_rules": rules_of(circuit)},
           address=address)
    bump_rules_version(session)
    return circuit


def update_circuit(session: Session, circuit: Circuit, values: Mapping[str, object], *, actor: Actor,
                   address: str | None = None) -> dict[str, object]:
    before, after = _changes(_circuit_snapshot(circuit), values)
    if not after:
        return {}
    # the event names the circuit by the number it had: a renumbering is found under the old one too
    record(session, actor_kind=actor[0], actor=actor[1], action="circuit.update", target_kind="circuit",
           target_id=circuit.number, before=before, after=after, address=address)
    for key, value in after.items():
        setattr(circuit, key, value)
    bump_rules_version(session)
    return after


def set_circuit_active(session: Session, circuit: Circuit, active: bool, *, actor: Actor,
                       address: str | None = None) -> bool:
    """(De)activate a circuit; False when nothing changed. An inactive customer's circuit stays off."""
    if circuit.active == active:
        return False
    if active:
        customer = session.get(Customer, circuit.customer_id)
        if customer is not None and not customer.active:
            raise ValidationError("o cliente deste circuito está desativado: reative o cliente antes")
    record(session, actor_kind=actor[0], actor=actor[1], action="circuit.activate" if active else "circuit.deactivate",
           target_kind="circuit", target_id=circuit.number, before={"active": circuit.active},
           after={"active": active}, address=address)
    circuit.active = active
    bump_rules_version(session)
    return True


def search_circuits(session: Session, text: str = "", *, active: bool | None = None, customer_id: int | None = None,
                    limit: int = 50, offset: int = 0) -> tuple[list[tuple[Circuit, Customer]], int]:
    query = select(Circuit, Customer).join(Customer, Customer.id == Circuit.customer_id)
    text = (text or "").strip()
    if text:
        clauses = [Circuit.number.like(like_pattern(text), escape="\\"),
                   Circuit.name.ilike(like_pattern(text), escape="\\"),
                   Customer.name.ilike(like_pattern(text), escape="\\")]
        query = query.where(or_(*clauses))
    if active is not None:
        query = query.where(Circuit.active.is_(active))
    if customer_id is not None:
        query = query.where(Circuit.customer_id == customer_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(query.order_by(Circuit.number).limit(limit).offset(offset)).all()
    return [(row[0], row[1]) for row in rows], total


# ---------------------------------------------------------------- outbound dialing rules

def rules_of(circuit: Circuit) -> list[str]:
    return list(json.loads(circuit.outbound_rules or "[]"))


def split_rules(rules: Iterable[str]) -> tuple[list[str], list[str]]:
    """Stored rules as (allowance names, extra patterns without their ``padrao:`` prefix)."""
    names: list[str] = []
    patterns: list[str] = []
    for rule in rules:
        if rule.startswith(("padrao:", "padrão:")):
            patterns.append(rule.split(":", 1)[1])
        elif rule:
            names.append(rule)
    return names, patterns


def clean_outbound_rules(allowances: Iterable[str], patterns_text: str) -> list[str]:
    """Checked named allowances plus one extra pattern per line, as stored (``padrao:<regex>``)."""
    errors: dict[str, str] = {}
    chosen = set(allowances)
    unknown = chosen - set(ALLOWANCES)
    if unknown:
        errors["permissoes"] = "Permissão desconhecida: " + ", ".join(sorted(unknown)) + "."
    patterns: list[str] = []
    for line in (patterns_text or "").splitlines():
        pattern = line.strip()
        if pattern.startswith(("padrao:", "padrão:")):
            pattern = pattern.split(":", 1)[1].strip()
        if not pattern:
            continue
        if len(pattern) > PATTERN_MAX:
            errors["padroes"] = f"Cada padrão pode ter no máximo {PATTERN_MAX} caracteres: {pattern[:20]}…"
            break
        if not PATTERN_CHARS.match(pattern):
            errors["padroes"] = (f"Padrão inválido: {pattern}. Use dígitos e a sintaxe de expressão regular "
                                 "(^ $ [ ] ( ) | ? * + { } \\d), por exemplo ^0800 ou ^55119[0-9]{8}$.")
            break
        try:
            re.compile(pattern)
        except re.error as exc:
            errors["padroes"] = f"Padrão inválido: {pattern} ({exc.msg})."
            break
        if pattern not in patterns:
            patterns.append(pattern)
    if len(patterns) > PATTERNS_MAX:
        errors["padroes"] = f"No máximo {PATTERNS_MAX} padrões extras."
    if errors:
        raise FieldErrors(errors)
    rules = [name for name in ALLOWANCES if name in chosen] + [f"padrao:{p}" for p in patterns]
    parse_rules(rules)  # the engine reads them back as they are stored
    return rules


def set_outbound_rules(session: Session, circuit: Circuit, rules: list[str], *, actor: Actor,
                       address: str | None = None) -> list[tuple[Did, str]]:
    """Store the rules; returns the DIDs whose follow-me destination the new rules refuse,
    with why (the router refuses to forward those calls until the destination changes)."""
    before = rules_of(circuit)
    if before != rules:
        record(session, actor_kind=actor[0], actor=actor[1], action="circuit.outbound_rules", target_kind="circuit",
               target_id=circuit.number, before={"outbound_rules": before}, after={"outbound_rules": rules},
               address=address)
        circuit.outbound_rules = json.dumps(rules)
        bump_rules_version(session)
    refused = []
    for did in session.scalars(select(Did).where(Did.circuit_id == circuit.id, Did.followme_enabled.is_(True))
                               .order_by(Did.e164)):
        check = check_destination(did.followme_destination_raw or "", circuit.home_ddd, rules)
        if not check.allowed:
            refused.append((did, check.reason or ""))
    return refused


def would_allow(circuit: Circuit, raw: str) -> DialCheck:
    """Would the circuit be allowed to call ``raw``? By which rule? (the router's own check)"""
    return check_destination(raw, circuit.home_ddd, rules_of(circuit))


# ---------------------------------------------------------------- Gestão Web

def flags_of(circuit: Circuit) -> dict[str, bool]:
    return {flag: bool(getattr(circuit, f"flag_{flag}")) for flag in GESTAO_WEB_FLAGS}


def set_flags(session: Session, circuit: Circuit, flags: Mapping[str, bool], *, actor: Actor,
              address: str | None = None) -> dict[str, bool]:
    """Set the Gestão Web flags (a flag missing from ``flags`` is off); returns what changed."""
    wanted = {flag: bool(flags.get(flag, False)) for flag in GESTAO_WEB_FLAGS}
    before, after = _changes(flags_of(circuit), wanted)
    if not after:
        return {}
    record(session, actor_kind=actor[0], actor=actor[1], action="circuit.flags", target_kind="circuit",
           target_id=circuit.number, before=before, after=after, address=address)
    for flag, value in after.items():
        setattr(circuit, f"flag_{flag}", value)
    bump_rules_version(session)  # the router applies blacklist, siga-me and ACB only when on
    return after  # type: ignore[return-value]


def generate_web_password(circuit_number: str = "") -> str:
    """A random web password: 12 characters with letters and digits, easy to read aloud."""
    while True:
        password = "".join(secrets.choice(_WEB_PASSWORD_ALPHABET) for _ in range(WEB_PASSWORD_LENGTH))
        if (any(ch.isalpha() for ch in password) and any(ch.isdigit() for ch in password)
                and (not circuit_number or circuit_number not in password)):
            return password


def reset_web_password(session: Session, circuit: Circuit, *, actor: Actor, address: str | None = None) -> str:
    """A new random web password, stored hashed; returns it in clear to be shown once.

    The subscriber's open sessions end (their stamp follows the hash)."""
    password = generate_web_password(circuit.number)
    had = circuit.web_password_hash is not None
    circuit.web_password_hash = generate_password_hash(password)
    record(session, actor_kind=actor[0], actor=actor[1], action="circuit.web_password", target_kind="circuit",
           target_id=circuit.number, before={"web_password": "definida" if had else "sem senha"},
           after={"web_password": "nova senha gerada", "sessions": "encerradas"}, address=address)
    return password


@dataclass(frozen=True)
class CircuitSummary:
    """Counts for the admin home."""

    customers: int
    customers_active: int
    circuits: int
    circuits_active: int
    circuits_web: int


def summary(session: Session) -> CircuitSummary:
    return CircuitSummary(
        customers=session.scalar(select(func.count()).select_from(Customer)) or 0,
        customers_active=session.scalar(select(func.count()).select_from(Customer)
                                        .where(Customer.active.is_(True))) or 0,
        circuits=session.scalar(select(func.count()).select_from(Circuit)) or 0,
        circuits_active=session.scalar(select(func.count()).select_from(Circuit)
                                       .where(Circuit.active.is_(True))) or 0,
        circuits_web=session.scalar(select(func.count()).select_from(Circuit)
                                    .where(Circuit.active.is_(True), Circuit.flag_web.is_(True))) or 0,
    )
