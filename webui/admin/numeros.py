"""Números (DIDs): list and search (with each number's circuit), assign, move, release, import a CSV.

Reading is open to every staff role; changes need ``write``. The rules live in
``painel.dids`` (the same functions ``painel did`` calls): each change is validated,
audited with before and after, and bumps the rules version the routers poll; moving or
releasing clears what was the old owner's (siga-me, ACB, blacklist entries of the DID).

The import reads ``numero;circuito`` lines from an uploaded CSV (or pasted lines): the
first step is always a simulation that writes nothing and shows a report per line; the
report page then offers "Aplicar", which checks every line again and writes all of them
or none.
"""
from __future__ import annotations

import io

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, or_, select

from painel.audit import record
from painel.customers import like_pattern
from painel.dids import MAX_IMPORT_LINES, ImportReport, assign_did, import_dids, move_did, release_did
from painel.errors import PainelError
from painel.models import Circuit, Customer, Did
from webui.access import client_address
from webui.admin import admin
from webui.admin.access import actor, requires
from webui.admin.clientes import page_number
from webui.admin.util import UploadError, back_to, error_text, uploaded_text
from webui.db import db
from webui.portal.numeros import MODE_LABELS, format_phone

PAGE_SIZE = 50
#: ?situacao= -> whether the DID is routed to a circuit (None: all)
SITUATIONS = {"atribuidos": True, "livres": False, "todos": None}
OUTCOME_LABELS = {"assign": "Atribuir", "move": "Mover", "unchanged": "Sem mudança", "error": "Erro"}
NUMBER_MAX = 64
CIRCUIT_MAX = 20


def get_did(did_id: int) -> Did:
    did = db().get(Did, did_id)
    if did is None:
        abort(404)
    return did


def search_dids(text: str, assigned: bool | None, page: int) -> tuple[list[dict], int]:
    """DIDs matching ``text`` (digits of the number, the circuit's number or name, the customer's
    name), with their circuit and customer, by number; and how many match in all."""
    query = (select(Did, Circuit, Customer).outerjoin(Circuit, Circuit.id == Did.circuit_id)
             .outerjoin(Customer, Customer.id == Circuit.customer_id))
    if text:
        digits = "".join(ch for ch in text if ch.isdigit())
        clauses = [Circuit.name.ilike(like_pattern(text), escape="\\"),
                   Customer.name.ilike(like_pattern(text), escape="\\")]
        if digits:
            clauses += [Did.e164.like(like_pattern(digits), escape="\\"), Circuit.number == digits]
        query = query.where(or_(*clauses))
    if assigned is True:
        query = query.where(Did.circuit_id.is_not(None))
    elif assigned is False:
        query = query.where(Did.circuit_id.is_(None))
    session = db()
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(query.order_by(Did.e164).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    return [did_row(did, circuit, customer) for did, circuit, customer in rows], total


def did_row(did: Did, circuit: Circuit | None, customer: Customer | None) -> dict:
    followme = ""
    if did.followme_enabled:
        followme = (f"{format_phone(did.followme_destination) or did.followme_destination_raw}, "
                    f"{MODE_LABELS.get(did.followme_mode, did.followme_mode).lower()}")
    return {"did": did, "display": format_phone(did.e164), "circuit": circuit, "customer": customer,
            "followme": followme}


def _render_list(*, values: dict[str, str] | None = None, error: str | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    text = (request.args.get("q") or "").strip()[:100]
    raw = request.args.get("situacao", "todos")
    label = raw if raw in SITUATIONS else "todos"
    page = page_number()
    rows, total = search_dids(text, SITUATIONS[label], page)
    pages = max(1, -(-total // PAGE_SIZE))
    return render_template("admin/numeros.html", rows=rows, total=total, page=page, pages=pages, q=text,
                           situacao=label, values=values or {"numero": "", "circuito": ""}, error=error,
                           number_max=NUMBER_MAX, circuit_max=CIRCUIT_MAX), status


@admin.route("/numeros")
@requires("read")
def numeros():  # type: ignore[no-untyped-def]
    return _render_list()


def _field(name: str, limit: int) -> str:
    return (request.form.get(name) or "").strip()[:limit]


def _fail(exc: PainelError, values: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    db().rollback()
    return _render_list(values=values, error=error_text(exc), status=400)


@admin.route("/numeros/atribuir", methods=["POST"])
@requires("write")
def numero_atribuir():  # type: ignore[no-untyped-def]
    values = {"numero": _field("numero", NUMBER_MAX), "circuito": _field("circuito", CIRCUIT_MAX)}
    if not values["numero"] or not values["circuito"]:
        missing = "o número" if not values["numero"] else "o circuito"
        return _render_list(values=values, error=f"Informe {missing}.", status=400)
    session = db()
    try:
        did = assign_did(session, values["numero"], values["circuito"], actor=actor(), address=client_address())
    except PainelError as exc:
        return _fail(exc, values)
    session.commit()
    flash(f"Número {format_phone(did.e164)} atribuído ao circuito {values['circuito']}. Os roteadores passam a "
          "encaminhar as chamadas para ele na próxima atualização das regras.", "success")
    return redirect(back_to(url_for("admin.numeros", q=did.e164.lstrip("+"))))


@admin.route("/numeros/<int:did_id>/mover", methods=["POST"])
@requires("write")
def numero_mover(did_id: int):  # type: ignore[no-untyped-def]
    did = get_did(did_id)
    target = _field("circuito", CIRCUIT_MAX)
    if not target:
        return _render_list(error="Informe o circuito de destino.", status=400)
    session = db()
    try:
        move_did(session, did.e164, target, actor=actor(), address=client_address())
    except PainelError as exc:
        return _fail(exc)
    session.commit()
    flash(f"Número {format_phone(did.e164)} movido para o circuito {target}; siga-me, ACB e bloqueios só deste "
          "número foram desfeitos (eram do dono anterior).", "success")
    return redirect(back_to(url_for("admin.numeros", q=did.e164.lstrip("+"))))


@admin.route("/numeros/<int:did_id>/liberar", methods=["POST"])
@requires("write")
def numero_liberar(did_id: int):  # type: ignore[no-untyped-def]
    did = get_did(did_id)
    session = db()
    try:
        release_did(session, did.e164, actor=actor(), address=client_address())
    except PainelError as exc:
        return _fail(exc)
    session.commit()
    flash(f"Número {format_phone(did.e164)} liberado: as chamadas para ele deixam de ser encaminhadas. "
          "O histórico de ligações é mantido.", "success")
    return redirect(back_to(url_for("admin.numeros", q=did.e164.lstrip("+"))))


# ---------------------------------------------------------------- bulk import

def _report_rows(report: ImportReport) -> list[dict]:
    return [{"line": line, "label": OUTCOME_LABELS.get(line.outcome, line.outcome),
             "display": format_phone(line.number) if line.outcome != "error" else line.number}
            for line in report.lines]


@admin.route("/numeros/importar", methods=["GET", "POST"])
@requires("write")
def numeros_importar():  # type: ignore[no-untyped-def]
    """GET: the upload form. POST ``acao=simular``: the dry run's report; ``acao=aplicar``: write it all."""
    if request.method == "GET":
        return render_template("admin/numeros_importar.html", report=None, rows=[], content="", name="",
                               error=None, max_lines=MAX_IMPORT_LINES)
    mode = request.form.get("acao")
    if mode not in ("simular", "aplicar"):
        abort(400)
    try:
        if mode == "simular":
            name, text = uploaded_text()
        else:
            name = (request.form.get("nome") or "")[:100] or "arquivo"
            text = request.form.get("conteudo") or ""
            if not text.strip():
                raise UploadError("Nada a aplicar: envie o arquivo e simule de novo.")
    except UploadError as exc:
        return render_template("admin/numeros_importar.html", report=None, rows=[], content="", name="",
                               error=exc.message, max_lines=MAX_IMPORT_LINES), 400
    session = db()
    try:
        report = import_dids(session, io.StringIO(text), dry_run=mode == "simular", actor=actor(),
                             address=client_address())
    except PainelError as exc:
        session.rollback()
        return render_template("admin/numeros_importar.html", report=None, rows=[], content="", name=name,
                               error=error_text(exc), max_lines=MAX_IMPORT_LINES), 400
    if report.applied:
        record(session, actor_kind="admin", actor=actor()[1], action="did.import", target_kind="dids",
               target_id=name[:64], address=client_address(),
               before=None, after={"file": name, "assign": report.count("assign"), "move": report.count("move"),
                                   "unchanged": report.count("unchanged"), "lines": len(report.lines)})
        session.commit()
        flash(f"Importação aplicada: {report.count('assign')} atribuído(s), {report.count('move')} movido(s), "
              f"{report.count('unchanged')} sem mudança.", "success")
    else:
        session.rollback()  # a dry run, or a line with an error: nothing is written
    status = 400 if report.errors and not report.dry_run else 200  # a simulation that finds errors did its job
    return render_template("admin/numeros_importar.html", report=report, rows=_report_rows(report), content=text,
                           name=name, error=None, max_lines=MAX_IMPORT_LINES), status
