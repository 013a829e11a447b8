"""Quarentena: CDRs that could not be rated, with their reason, and retrying them once the cause is fixed.

The list and the retry are ``cdr_ingest.quarantine``'s (the code of ``painel cdr quarantine
list/retry``): a retry parses and rates each entry again with today's circuits, DIDs and
plans; what rates leaves the quarantine (the entry is kept, marked resolved), what still
fails stays with its (possibly new) reason. A retry is audited with the counts before and
after. Reading is open to every staff role; retrying needs ``write``.
"""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from cdr_ingest.quarantine import list_quarantine, retry
from painel.audit import record
from painel.errors import PainelError
from painel.fmt import data_hora_br
from painel.models import QuarantinedCdr
from webui.access import client_address
from webui.admin import admin
from webui.admin.access import actor, requires
from webui.admin.util import error_text, operator_zone
from webui.db import db, engine, settings

LIMIT = 100
#: the reasons the ingester writes, with what they mean and how to fix them
REASONS = {
    "unknown_circuit": ("Circuito desconhecido",
                        "A ligação é de um circuito ou número que não está cadastrado: cadastre o circuito ou "
                        "atribua o número (DID) e reprocesse."),
    "no_plan": ("Sem plano de tarifas",
                "O circuito não tem plano, ou o plano não tem versão vigente no dia da ligação: defina o plano "
                "do circuito ou importe a versão e reprocesse."),
    "bad_number": ("Número inválido",
                   "O número discado não pôde ser classificado pelo plano de numeração; confira o registro."),
    "ambiguous": ("Atribuição ambígua",
                  "O registro não diz de qual circuito é a ligação e mais de um serve; confira as variáveis "
                  "painel_* no FreeSWITCH."),
    "malformed": ("Registro ilegível",
                  "O registro não pôde ser lido (campos faltando, modelo CSV errado); confira a origem."),
}
SITUATIONS = {"pendentes": False, "todos": True}


def reason_label(reason: str) -> str:
    return REASONS.get(reason, (reason, ""))[0]


@admin.route("/quarentena")
@requires("read")
def quarentena():  # type: ignore[no-untyped-def]
    reason = (request.args.get("motivo") or "").strip()[:32]
    situation = request.args.get("situacao", "pendentes")
    situation = situation if situation in SITUATIONS else "pendentes"
    entries, counts = list_quarantine(db(), reason=reason or None, include_resolved=SITUATIONS[situation],
                                      limit=LIMIT)
    zone = operator_zone()
    rows = [{"entry": q, "reason": reason_label(q.reason),
             "created": data_hora_br(q.created_at.astimezone(zone)) if q.created_at else "",
             "last_retry": data_hora_br(q.last_retry_at.astimezone(zone)) if q.last_retry_at else "",
             "resolved": data_hora_br(q.resolved_at.astimezone(zone)) if q.resolved_at else ""} for q in entries]
    reasons = [(key, label, hint, counts.get(key, 0)) for key, (label, hint) in REASONS.items()]
    reasons += [(key, key, "", n) for key, n in sorted(counts.items()) if key not in REASONS]
    return render_template("admin/quarentena.html", rows=rows, reasons=reasons, reason=reason,
                           situation=situation, total=sum(counts.values()), limit=LIMIT,
                           timezone_name=settings().default_timezone)


def _unresolved(reason: str | None = None, entry_id: int | None = None) -> int:
    query = select(func.count()).select_from(QuarantinedCdr).where(QuarantinedCdr.resolved_at.is_(None))
    if reason:
        query = query.where(QuarantinedCdr.reason == reason)
    if entry_id is not None:
        query = query.where(QuarantinedCdr.id == entry_id)
    return db().scalar(query) or 0


def _retry(*, reason: str | None = None, entry_id: int | None = None):  # type: ignore[no-untyped-def]
    """Run the retry and audit it; returns the result, or None after flashing why it failed."""
    session = db()
    pending = _unresolved(reason, entry_id)
    session.rollback()  # the retry writes in transactions of its own
    try:
        result = retry(engine(), settings(), reason=reason, entry_id=entry_id)
    except PainelError as exc:
        flash(f"O reprocessamento falhou: {error_text(exc)}", "error")
        return None
    target = str(entry_id) if entry_id is not None else (reason or "todos")
    record(session, actor_kind="admin", actor=actor()[1], action="cdr.quarantine_retry",
           target_kind="cdr_quarantine", target_id=target, address=client_address(),
           before={"pending": pending, "reason": reason}, after={"resolved": result.resolved, "still": result.still})
    session.commit()
    return result


@admin.route("/quarentena/reprocessar", methods=["POST"])
@requires("write")
def quarentena_reprocessar():  # type: ignore[no-untyped-def]
    reason = (request.form.get("motivo") or "").strip()[:32] or None
    result = _retry(reason=reason)
    if result is not None:
        scope = f"motivo {reason_label(reason)}" if reason else "todos os motivos"
        if result.resolved + result.still == 0:
            flash(f"Nada a reprocessar ({scope}).", "info")
        else:
            flash(f"Reprocessamento ({scope}): {result.resolved} resolvido(s), tarifado(s) e fora da quarentena; "
                  f"{result.still} continua(m) em quarentena.", "success" if result.resolved else "info")
    return redirect(url_for("admin.quarentena", motivo=reason or None))


@admin.route("/quarentena/<int:entry_id>/reprocessar", methods=["POST"])
@requires("write")
def quarentena_reprocessar_um(entry_id: int):  # type: ignore[no-untyped-def]
    if db().get(QuarantinedCdr, entry_id) is None:
        abort(404)
    result = _retry(entry_id=entry_id)
    if result is not None:
        entry = db().get(QuarantinedCdr, entry_id)
        db().refresh(entry)
        if result.resolved:
            flash(f"Registro {entry_id} resolvido: a ligação foi tarifada e saiu da quarentena.", "success")
        elif result.still:
            flash(f"Registro {entry_id} continua em quarentena: {reason_label(entry.reason)} — {entry.detail}",
                  "error")
        else:
            flash(f"Registro {entry_id} já estava resolvido.", "info")
    return redirect(url_for("admin.quarentena", _anchor=f"registro-{entry_id}"))
