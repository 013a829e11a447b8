"""Login and logout of the subscriber portal.

Usuário is the circuit number (the SIP account), Senha its Gestão Web password. Every
failure answers the same generic message (unknown circuit, wrong password, Web flag
off, inactive circuit, no password set), costs the same password-hash check, and is
written to the audit log with the client's address, as is every success. Attempts are
rate-limited per address and per account (Flask-Limiter); a refused attempt is audited
too.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from painel.audit import record
from painel.models import Circuit
from webui.access import Subscriber, client_address
from webui.db import db, settings
from webui.extensions import limiter

log = logging.getLogger("painel.web.auth")

bp = Blueprint("auth", __name__)

GENERIC_FAILURE = "Usuário ou senha inválidos."
#: checked when the circuit does not exist, so that a miss costs what a wrong password costs
_DUMMY_HASH = generate_password_hash("painel-nao-existe")


class LoginForm(FlaskForm):
    usuario = StringField("Usuário (número do circuito)", validators=[DataRequired("Informe o usuário."),
                                                                    Length(max=32)])
    senha = PasswordField("Senha", validators=[DataRequired("Informe a senha."), Length(max=200)])


def _account_key() -> str:
    return "conta:" + (request.form.get("usuario") or "").strip()[:32]


def _address_limit() -> str:
    return settings().web_login_limit_address


def _account_limit() -> str:
    return settings().web_login_limit_account


def _audit_attempt(action: str, usuario: str, reason: str | None = None) -> None:
    session_db = db()
    record(session_db, actor_kind="subscriber", actor=usuario[:100] or "-", action=action, target_kind="circuit",
           target_id=usuario[:32] or None, after={"reason": reason} if reason else None, address=client_address())
    session_db.commit()
    log.info("%s usuario=%s endereco=%s%s", action, usuario or "-", client_address(),
             f" motivo={reason}" if reason else "")


def _on_breach(limit) -> None:  # type: ignore[no-untyped-def]
    """Flask-Limiter calls this when an attempt is refused: audit it like any attempt."""
    _audit_attempt("auth.login_limited", (request.form.get("usuario") or "").strip(), str(limit.limit))


def is_local_path(target: str) -> bool:
    """Whether ``target`` stays on this site: a path, never a scheme, a host or a trick.

    Browsers and Werkzeug drop tabs and newlines and read a backslash as a slash, so
    ``/\t/evil.example`` or ``/\\evil.example`` would become ``//evil.example``.
    """
    from urllib.parse import urlsplit

    if not target.startswith("/") or any(ch <= " " or ch == "\\" for ch in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc and not target.startswith("//")


def _home(circuit: Circuit) -> str:
    """Where a signed-in circuit lands: the first page its Gestão Web flags allow."""
    from webui.portal import home_endpoint

    return url_for(home_endpoint(circuit) or "auth.sem_funcoes")


@bp.route("/sem-funcoes")
def sem_funcoes():  # type: ignore[no-untyped-def]
    """A circuit that may sign in but has every page turned off."""
    from webui.errors import error_page

    return error_page(403, "Nenhuma função do painel está habilitada para este circuito. "
                           "Fale com a operadora.")


@bp.route("/entrar", methods=["GET", "POST"])
@limiter.limit(_address_limit, methods=["POST"], on_breach=_on_breach)
@limiter.limit(_account_limit, key_func=_account_key, methods=["POST"], on_breach=_on_breach)
def login():  # type: ignore[no-untyped-def]
    if current_user.is_authenticated:
        return redirect(_home(current_user.circuit))
    form = LoginForm()
    if form.validate_on_submit():
        usuario = form.usuario.data.strip()
        circuit = db().scalar(select(Circuit).where(Circuit.number == usuario))
        stored = circuit.web_password_hash if circuit is not None and circuit.web_password_hash else _DUMMY_HASH
        password_ok = check_password_hash(stored, form.senha.data)
        reason = None
        if circuit is None:
            reason = "circuito desconhecido"
        elif not circuit.web_password_hash:
            reason = "sem senha web"
        elif not password_ok:
            reason = "senha incorreta"
        elif not circuit.active:
            reason = "circuito inativo"
        elif not circuit.flag_web:
            reason = "acesso web desabilitado"
        if reason is not None:
            _audit_attempt("auth.login_failed", usuario, reason)
            flash(GENERIC_FAILURE, "error")
            return render_template("auth/login.html", form=form), 401
        session.clear()  # a fresh session: no fixation
        session.permanent = True
        session["signed_in_at"] = int(time.time())
        login_user(Subscriber(circuit))
        _audit_attempt("auth.login", usuario)
        target = request.args.get("next", "")
        if not is_local_path(target):
            target = _home(circuit)
        return redirect(target)
    status = 400 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form), status


@bp.route("/sair", methods=["POST"])
@login_required
def logout():  # type: ignore[no-untyped-def]
    number = current_user.number
    logout_user()
    session.clear()
    _audit_attempt("auth.logout", number)
    flash("Você saiu do painel.", "info")
    return redirect(url_for("auth.login"))


@bp.before_app_request
def _absolute_timeout():  # type: ignore[no-untyped-def]
    """Sessions also end a fixed time after sign-in, however active they are."""
    signed_in = session.get("signed_in_at")
    if current_user.is_authenticated and signed_in is not None:
        max_age = settings().web_session_max_hours * 3600
        if time.time() - signed_in > max_age:
            logout_user()
            session.clear()
            flash("Sua sessão expirou. Entre novamente.", "info")
            return redirect(url_for("auth.login"))
    return None


@bp.app_context_processor
def _now():  # type: ignore[no-untyped-def]
    return {"operator_name": current_app.config["PAINEL_SETTINGS"].operator_name,
            "now_utc": datetime.now(timezone.utc)}
