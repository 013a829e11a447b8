"""Números: each DID of the customer with its siga-me (follow-me) and ACB (collect calls) settings.

The Siga-me part of a DID exists only when its circuit (and the signed-in one) has the
``sigame`` flag, the ACB part only with ``acb``; a POST without the flag answers 404.
A follow-me destination must fit the circuit's outbound dialing rules (checked by
``painel.routing.followme_set``, whose pt-BR reason names the rule that refuses it).
Every change goes through ``painel.routing``: audited, and the rules version the
routers poll is bumped, so the next call already sees it.
"""
from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import phonenumbers
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from painel import routing
from painel.dialing import ALLOWANCE_LABELS, RULE_MESSAGE
from painel.errors import ValidationError
from painel.fmt import data_hora_br
from painel.models import Circuit, Did
from webui.access import actor, client_address, customer_circuits, owned_did
from webui.db import db
from webui.portal import portal

#: how the page names each follow-me mode (the values are painel.routing.FOLLOWME_MODES)
_MODE_TEXT = {
    "always": "Sempre (todas as chamadas)",
    "no_answer": "Quando não atender após o tempo definido",
    "unavailable": "Quando estiver indisponível ou ocupado",
}
MODE_CHOICES = tuple((mode, _MODE_TEXT[mode]) for mode in routing.FOLLOWME_MODES)
MODE_LABELS = dict(MODE_CHOICES)
TIMEOUT_MIN, TIMEOUT_MAX = 5, 120
_TRUE = {"1", "on", "sim", "true", "y"}


# ---------------------------------------------------------------- presentation helpers (shared)

def format_phone(number: str | None) -> str:
    """A stored number (E.164 with or without '+', or national short digits) as people read it."""
    if not number:
        return ""
    digits = number.lstrip("+")
    if not digits.isdigit():
        return number
    if len(digits) >= 10:
        try:
            parsed = phonenumbers.parse("+" + digits)
        except phonenumbers.NumberParseException:
            return "+" + digits
        style = (phonenumbers.PhoneNumberFormat.NATIONAL if parsed.country_code == 55
                 else phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        return phonenumbers.format_number(parsed, style)
    if len(digits) == 8 and digits.startswith(("3003", "4003", "4004")):
        return f"{digits[:4]}-{digits[4:]}"
    return digits


def local_datetime(value: datetime | None, tz: str) -> str:
    """A stored UTC time as dd/mm/aaaa hh:mm:ss in the circuit's time zone ("" when missing)."""
    if value is None:
        return ""
    return data_hora_br(value.astimezone(ZoneInfo(tz)))


def outbound_rules_text(circuit: Circuit) -> str:
    """The circuit's outbound dialing rules in words ("Local fixo; Móvel ...")."""
    labels = []
    for rule in json.loads(circuit.outbound_rules or "[]"):
        if rule in ALLOWANCE_LABELS:
            labels.append(ALLOWANCE_LABELS[rule])
        elif rule.startswith(("padrao:", "padrão:")):
            labels.append("padrão " + rule.split(":", 1)[1])
    return "; ".join(labels) or "nenhuma (o circuito não pode originar chamadas)"


def _capitalized(message: str) -> str:
    return message[:1].upper() + message[1:]


# ---------------------------------------------------------------- access

def _signed_may(flag: str) -> bool:
    return current_user.has(flag)


def _require_page() -> None:
    """The page exists when the signed-in circuit has Siga-me or ACB."""
    if not (_signed_may("sigame") or _signed_may("acb")):
        abort(404)


def _owned_did(did_id: int, flag: str) -> Did:
    """The customer's DID whose circuit, and the signed-in one, have ``flag`` (else 404)."""
    if not _signed_may(flag):
        abort(404)
    return owned_did(did_id, flag)


# ---------------------------------------------------------------- page

def _render(errors: dict[int, dict[str, str]] | None = None, values: dict[int, dict[str, str]] | None = None,
            status: int = 200):  # type: ignore[no-untyped-def]
    show_sigame, show_acb = _signed_may("sigame"), _signed_may("acb")
    groups = []
    for circuit in customer_circuits():
        sigame = show_sigame and circuit.flag_sigame
        acb = show_acb and circuit.flag_acb
        if not (sigame or acb):
            continue
        dids = list(db().scalars(select(Did).where(Did.circuit_id == circuit.id).order_by(Did.e164)))
        rows = []
        for did in dids:
            rows.append({
                "did": did,
                "display": format_phone(did.e164),
                "destination": format_phone(did.followme_destination) if did.followme_destination
                else (did.followme_destination_raw or ""),
                "mode_label": MODE_LABELS.get(did.followme_mode, did.followme_mode),
                "form_values": (values or {}).get(did.id, {}),
                "form_errors": (errors or {}).get(did.id, {}),
            })
        groups.append({"circuit": circuit, "sigame": sigame, "acb": acb, "rows": rows,
                       "rules": outbound_rules_text(circuit)})
    return render_template("portal/numeros.html", groups=groups, modes=MODE_CHOICES, rule_message=RULE_MESSAGE,
                           timeout_min=TIMEOUT_MIN, timeout_max=TIMEOUT_MAX), status


@portal.route("/numeros")
@login_required
def numeros():  # type: ignore[no-untyped-def]
    _require_page()
    return _render()


@portal.route("/numeros/<int:did_id>/siga-me", methods=["POST"])
@login_required
def numero_sigame(did_id: int):  # type: ignore[no-untyped-def]
    did = _owned_did(did_id, "sigame")
    form = request.form
    on = (form.get("ativo") or "").strip().lower() in _TRUE
    session = db()
    display = format_phone(did.e164)
    if not on:
        if not did.followme_enabled:
            flash(f"O siga-me de {display} já estava desligado.", "info")
        else:
            routing.followme_off(session, did, actor=actor(), address=client_address())
            session.commit()
            flash(f"Siga-me de {display} desligado.", "success")
        return redirect(url_for("portal.numeros", _anchor=f"numero-{did.id}"))

    destination = (form.get("destino") or "").strip()
    mode = (form.get("modo") or "").strip()
    timeout_raw = (form.get("tempo") or "").strip()
    errors: dict[str, str] = {}
    if not destination:
        errors["destino"] = "Informe o número de destino do siga-me."
    elif len(destination) > 64:
        errors["destino"] = "O número de destino pode ter no máximo 64 caracteres."
    if mode not in routing.FOLLOWME_MODES:
        errors["modo"] = "Escolha quando as chamadas devem ser encaminhadas."
    timeout = did.followme_timeout or 20
    if timeout_raw or mode == "no_answer":
        if not timeout_raw.isdigit() or not TIMEOUT_MIN <= int(timeout_raw) <= TIMEOUT_MAX:
            errors["tempo"] = (f"O tempo deve ser um número inteiro de {TIMEOUT_MIN} a {TIMEOUT_MAX} segundos.")
        else:
            timeout = int(timeout_raw)
    if not errors:
        try:
            routing.followme_set(session, did, destination, mode, timeout, actor=actor(), address=client_address())
        except ValidationError as exc:
            session.rollback()
            message = _capitalized(exc.message)
            if message.startswith(RULE_MESSAGE):
                circuit = session.get(Circuit, did.circuit_id)
                message += f". Regras de saída deste circuito: {outbound_rules_text(circuit)}."
            errors["destino"] = message
        else:
            session.commit()
            flash(f"Siga-me de {display} ligado: {MODE_LABELS[mode].lower()}, para {destination}.", "success")
            return redirect(url_for("portal.numeros", _anchor=f"numero-{did.id}"))
    values = {"ativo": "1", "destino": destination, "modo": mode, "tempo": timeout_raw}
    return _render(errors={did.id: errors}, values={did.id: values}, status=400)


@portal.route("/numeros/<int:did_id>/acb", methods=["POST"])
@login_required
def numero_acb(did_id: int):  # type: ignore[no-untyped-def]
    did = _owned_did(did_id, "acb")
    on = (request.form.get("ativo") or "").strip().lower() in _TRUE
    display = format_phone(did.e164)
    if did.acb_enabled == on:
        flash(f"Nada mudou: {display} já {'aceitava' if on else 'recusava'} chamadas a cobrar.", "info")
    else:
        session = db()
        routing.acb_set(session, did, on, actor=actor(), address=client_address())
        session.commit()
        flash(f"{display} agora {'aceita' if on else 'recusa'} chamadas a cobrar.", "success")
    return redirect(url_for("portal.numeros", _anchor=f"numero-{did.id}"))
