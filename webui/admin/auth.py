"""Staff sign-in at /admin/entrar: password, then the TOTP code when the account has one.

As on the portal: every failure answers one generic message and costs one password-hash
check; attempts are rate-limited per address and per account (Flask-Limiter); success,
failure, refusal by the limiter and sign-out are audited with the client's address.
With TOTP on, the password step only remembers (for 5 minutes, in the session) which
account is halfway in; the session is signed in after a fresh code, never before.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.security import check_password_hash
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from painel.admins import claim_totp_step, find_admin
from painel.audit import record
from painel.models import AdminUser
from webui.access import client_address
from webui.admin import SIGNED_IN_AT, admin
from webui.admin.access import StaffMember, admin_stamp, requires, signed_admin
from webui.auth import _DUMMY_HASH, is_local_path
from webui.db import db, settings
from webui.extensions import limiter

log = logging.getLogger("painel.web.admin")

GENERIC_FAILURE = "Usuário ou senha inválidos."
CODE_FAILURE = "Código inválido ou já usado. Use o código atual do aplicativo autenticador."
#: seconds between the password step and the code step
PENDING_SECONDS = 300
PENDING = "admin_pending"


class AdminLoginForm(FlaskForm):
    usuario = StringField("Usuário", validators=[DataRequired("Informe o usuário."), Length(max=64)])
    senha = PasswordField("Senha", validators=[DataRequired("Informe a senha."), Length(max=200)])


class CodeForm(FlaskForm):
    codigo = StringField("Código do aplicativo autenticador (6 dígitos)",
                         validators=[DataRequired("Informe o código."), Length(max=16)])


def _audit(action: str, username: str, reason: str | None = None, extra: dict | None = None) -> None:
    session_db = db()
    after = {**({"reason": reason} if reason else {}), **(extra or {})}
    record(session_db, actor_kind="admin", actor=username[:100] or "-", action=action, target_kind="admin_user",
           target_id=username[:64] or None, after=after or None, address=client_address())
    session_db.commit()
    log.info("%s usuario=%s endereco=%s%s", action, username or "-", client_address(),
             f" motivo={reason}" if reason else "")


def _address_limit() -> str:
    return settings().web_login_limit_address


def _account_limit() -> str:
    return settings().web_login_limit_account


def _form_username() -> str:
    return (request.form.get("usuario") or "").strip().lower()[:64]


def _account_key() -> str:
    return "admin:" + _form_username()


def _on_breach(limit) -> None:  # type: ignore[no-untyped-def]
    _audit("admin.login_limited", _form_username(), str(limit.limit))


def _safe_next(target: str | None) -> str:
    """Back to the admin page asked for, never elsewhere."""
    target = target or ""
    if is_local_path(target) and (target == "/admin" or target.startswith("/admin/")):
        return target
    return url_for("admin.home")


def _complete(user: AdminUser, *, totp_used: bool, target: str | None):  # type: ignore[no-untyped-def]
    session.clear()  # a fresh session: no fixation, nothing of the password step left
    session.permanent = True
    session[SIGNED_IN_AT] = int(time.time())
    login_user(StaffMember(user))
    user.last_login_at = datetime.now(timezone.utc)
    _audit("admin.login", user.username, extra={"totp": totp_used})
    return redirect(_safe_next(target))


@admin.route("/entrar", methods=["GET", "POST"])
@limiter.limit(_address_limit, methods=["POST"], on_breach=_on_breach)
@limiter.limit(_account_limit, key_func=_account_key, methods=["POST"], on_breach=_on_breach)
def login():  # type: ignore[no-untyped-def]
    if signed_admin() is not None:
        return redirect(url_for("admin.home"))
    form = AdminLoginForm()
    if form.validate_on_submit():
        username = form.usuario.data.strip().lower()
        user = find_admin(db(), username)
        password_ok = check_password_hash(user.password_hash if user is not None else _DUMMY_HASH, form.senha.data)
        reason = None
        if user is None:
            reason = "usuário desconhecido"
        elif not password_ok:
            reason = "senha incorreta"
        elif not user.active:
            reason = "usuário inativo"
        if reason is not None:
            _audit("admin.login_failed", username, reason)
            flash(GENERIC_FAILURE, "error")
            return render_template("admin/login.html", form=form), 401
        target = request.args.get("next")
        if user.totp_secret:
            session.clear()
            session[PENDING] = {"id": user.id, "stamp": admin_stamp(user), "at": int(time.time()),
                                "next": _safe_next(target)}
            return redirect(url_for("admin.codigo"))
        return _complete(user, totp_used=False, target=target)
    status = 400 if request.method == "POST" else 200
    return render_template("admin/login.html", form=form), status


def _pending() -> tuple[AdminUser, dict] | None:
    """The account halfway in (password right, code still due), if still valid."""
    data = session.get(PENDING)
    if not isinstance(data, dict) or not isinstance(data.get("id"), int):
        return None
    if time.time() - data.get("at", 0) > PENDING_SECONDS:
        session.pop(PENDING, None)
        return None
    user = db().get(AdminUser, data["id"])
    if user is None or not user.active or not user.totp_secret or admin_stamp(user) != data.get("stamp"):
        session.pop(PENDING, None)
        return None
    return user, data


def _pending_key() -> str:
    data = session.get(PENDING)
    return f"admin-codigo:{data.get('id') if isinstance(data, dict) else '-'}"


def _code_breach(limit) -> None:  # type: ignore[no-untyped-def]
    pending = _pending()
    _audit("admin.login_limited", pending[0].username if pending else "-", f"{limit.limit} (código)")


@admin.route("/entrar/codigo", methods=["GET", "POST"])
@limiter.limit(_address_limit, methods=["POST"], on_breach=_code_breach)
@limiter.limit(_account_limit, key_func=_pending_key, methods=["POST"], on_breach=_code_breach)
def codigo():  # type: ignore[no-untyped-def]
    if signed_admin() is not None:
        return redirect(url_for("admin.home"))
    pending = _pending()
    if pending is None:
        flash("Entre com usuário e senha.", "info")
        return redirect(url_for("admin.login"))
    user, data = pending
    form = CodeForm()
    if form.validate_on_submit():
        if claim_totp_step(db(), user, form.codigo.data, datetime.now(timezone.utc)):
            return _complete(user, totp_used=True, target=data.get("next"))
        db().rollback()
        _audit("admin.login_failed", user.username, "código TOTP inválido ou repetido")
        flash(CODE_FAILURE, "error")
        return render_template("admin/codigo.html", form=form), 401
    status = 400 if request.method == "POST" else 200
    return render_template("admin/codigo.html", form=form), status


@admin.route("/sair", methods=["POST"])
@requires("read")
def logout():  # type: ignore[no-untyped-def]
    username = current_user.username
    logout_user()
    session.clear()
    _audit("admin.logout", username)
    flash("Você saiu da administração.", "info")
    return redirect(url_for("admin.login"))
