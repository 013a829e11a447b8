"""Blacklist: the callers each circuit of the customer refuses, and the switch for anonymous callers.

The list is per circuit (a selector when the customer has several with the Blacklist
flag; the signed-in one by default). Changes go through ``painel.routing``, which
audits them and bumps the rules version the routers poll. The call list's "Bloquear"
button posts here too (``numero`` and ``origem``), and is sent back to where it came from.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from painel import routing
from painel.errors import ValidationError
from painel.fmt import data_br
from painel.models import BlacklistEntry, Circuit, Did
from webui.access import actor, client_address, customer_circuits, feature, owned_circuit, owned_did
from webui.db import db
from webui.portal import portal
from webui.portal.numeros import format_phone, local_datetime

FLAG = "blacklist"
NOTE_MAX = 200
NUMBER_MAX = 64
_TRUE = {"1", "on", "sim", "true", "y"}
_FALSE = {"0", "off", "nao", "não", "false", "n"}


def safe_origin(value: str | None) -> str | None:
    """A local path to go back to, or None: never another site (no scheme, no '//', no '\\')."""
    value = (value or "").strip()
    if not value.startswith("/") or value.startswith("//") or "\\" in value or any(ch < " " for ch in value):
        return None
    return value


def parse_date(text: str) -> date | None:
    """dd/mm/aaaa (as people type it) or aaaa-mm-dd (as <input type=date> sends it); None if neither."""
    for pattern in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None


def _circuit(raw: str | None) -> Circuit:
    """The circuit asked for (the customer's, with the Blacklist flag), or the signed-in one."""
    raw = (raw or "").strip()
    if not raw:
        return current_user.circuit
    if not raw.isdigit():
        abort(404)
    return owned_circuit(int(raw), FLAG)


def _today(circuit: Circuit) -> date:
    return datetime.now(ZoneInfo(circuit.timezone)).date()


def _entries(circuit: Circuit) -> list[dict]:
    dids = {d.id: d for d in db().scalars(select(Did).where(Did.circuit_id == circuit.id))}
    now = datetime.now(timezone.utc)
    tz = ZoneInfo(circuit.timezone)
    rows = []
    for e in db().scalars(select(BlacklistEntry).where(BlacklistEntry.circuit_id == circuit.id)
                          .order_by(BlacklistEntry.created_at.desc(), BlacklistEntry.id.desc())):
        did = dids.get(e.did_id) if e.did_id else None
        rows.append({
            "entry": e,
            "number": e.number if e.is_prefix else format_phone(e.number),
            "scope": format_phone(did.e164) if did else "Todos os números",
            "expires": data_br(e.expires_at.astimezone(tz)) if e.expires_at else "",
            "expired": e.expires_at is not None and e.expires_at <= now,
            "last_hit": local_datetime(e.last_hit_at, circuit.timezone),
        })
    return rows


def _render(circuit: Circuit, values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
            status: int = 200):  # type: ignore[no-untyped-def]
    circuits = [c for c in customer_circuits() if c.flag_blacklist]
    dids = list(db().scalars(select(Did).where(Did.circuit_id == circuit.id).order_by(Did.e164)))
    return render_template(
        "portal/blacklist.html", circuit=circuit, circuits=circuits, entries=_entries(circuit),
        dids=[(d.id, format_phone(d.e164)) for d in dids], values=values or {}, errors=errors or {},
        min_date=date.fromordinal(_today(circuit).toordinal() + 1).isoformat(),
        note_max=NOTE_MAX, number_max=NUMBER_MAX,
    ), status


@portal.route("/blacklist")
@login_required
@feature(FLAG)
def blacklist():  # type: ignore[no-untyped-def]
    return _render(_circuit(request.args.get("circuito")))


@portal.route("/blacklist/adicionar", methods=["POST"])
@login_required
@feature(FLAG)
def blacklist_add():  # type: ignore[no-untyped-def]
    form = request.form
    circuit = _circuit(form.get("circuito_id"))
    origin = safe_origin(form.get("origem"))
    raw = (form.get("numero") or "").strip()
    is_prefix = (form.get("prefixo") or "").strip().lower() in _TRUE
    note = (form.get("observacao") or "").strip()
    did_raw = (form.get("did_id") or "").strip()
    expiry_raw = (form.get("expira_em") or "").strip()
    errors: dict[str, str] = {}

    if not raw:
        errors["numero"] = "Informe o número ou o prefixo a bloquear."
    elif len(raw) > NUMBER_MAX:
        errors["numero"] = f"O número pode ter no máximo {NUMBER_MAX} caracteres."
    if len(note) > NOTE_MAX:
        errors["observacao"] = f"A observação pode ter no máximo {NOTE_MAX} caracteres."
    did = None
    if did_raw:
        if not did_raw.isdigit():
            errors["did_id"] = "Escolha um dos números da lista."
        else:
            did = owned_did(int(did_raw))  # another customer's DID: 404
            if did.circuit_id != circuit.id:
                errors["did_id"] = "Esse número (DID) não pertence ao circuito escolhido."
    expires_at = None
    if expiry_raw:
        day = parse_date(expiry_raw)
        if day is None:
            errors["expira_em"] = "Data de expiração inválida: use o formato dd/mm/aaaa."
        elif day <= _today(circuit):
            errors["expira_em"] = "A data de expiração precisa estar no futuro (a partir de amanhã)."
        else:
            # the block lasts until the start of that day in the circuit's time zone
            expires_at = routing.expiry_of_day(day, circuit.timezone)

    if not errors:
        session = db()
        try:
            entry = routing.blacklist_add(session, circuit, raw, is_prefix=is_prefix, note=note or None,
                                          did=did.e164 if did else None, expires_at=expires_at,
                                          actor=actor(), address=client_address())
        except ValidationError as exc:
            session.rollback()
            message = exc.message[:1].upper() + exc.message[1:] + "."
            if not is_prefix and message.startswith("Número inválido"):
                message += " Para bloquear todos os números que começam assim (ex.: 0303), marque “Tratar como prefixo”."
            errors["numero"] = message
        else:
            session.commit()
            shown = f"prefixo {entry.number}" if entry.is_prefix else format_phone(entry.number)
            flash(f"Bloqueado: {shown} (circuito {circuit.number}).", "success")
            return redirect(origin or url_for("portal.blacklist", circuito=circuit.id))

    if origin:  # came from another page (the call list): report there
        for message in errors.values():
            flash(message, "error")
        return redirect(origin)
    parsed_expiry = parse_date(expiry_raw) if expiry_raw else None
    values = {"numero": raw, "prefixo": "1" if is_prefix else "", "observacao": note, "did_id": did_raw,
              # <input type=date> only shows ISO dates
              "expira_em": parsed_expiry.isoformat() if parsed_expiry else expiry_raw}
    return _render(circuit, values, errors, status=400)


@portal.route("/blacklist/<int:entry_id>/remover", methods=["POST"])
@login_required
@feature(FLAG)
def blacklist_remove(entry_id: int):  # type: ignore[no-untyped-def]
    session = db()
    entry = session.get(BlacklistEntry, entry_id)
    if entry is None:
        abort(404)
    circuit = owned_circuit(entry.circuit_id, FLAG)
    shown = f"prefixo {entry.number}" if entry.is_prefix else format_phone(entry.number)
    routing.blacklist_remove(session, circuit, entry.id, actor=actor(), address=client_address())
    session.commit()
    flash(f"Desbloqueado: {shown}.", "success")
    return redirect(url_for("portal.blacklist", circuito=circuit.id))


@portal.route("/blacklist/anonimos", methods=["POST"])
@login_required
@feature(FLAG)
def blacklist_anonimos():  # type: ignore[no-untyped-def]
    circuit = _circuit(request.form.get("circuito_id"))
    value = (request.form.get("ativo") or "").strip().lower()
    if value not in _TRUE | _FALSE:
        flash("Escolha se as chamadas anônimas devem ser bloqueadas ou permitidas.", "error")
        return redirect(url_for("portal.blacklist", circuito=circuit.id))
    on = value in _TRUE
    if circuit.block_anonymous == on:
        flash("Nada mudou: " + ("as chamadas anônimas já estavam bloqueadas." if on
                                else "as chamadas anônimas já eram aceitas."), "info")
    else:
        session = db()
        routing.set_block_anonymous(session, circuit, on, actor=actor(), address=client_address())
        session.commit()
        flash("Chamadas anônimas (número oculto) " + ("bloqueadas." if on else "liberadas."), "success")
    return redirect(url_for("portal.blacklist", circuito=circuit.id))
