"""The operator's staff accounts (admin pages): create, change password, TOTP, (de)activate.

Called by ``painel admin`` and by the admin sign-in. Every change writes an audit event
(never a password, never a TOTP secret) in the caller's transaction.
"""
from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from werkzeug.security import generate_password_hash

from painel import totp
from painel.audit import record
from painel.errors import ConflictError, NotFound, ValidationError
from painel.models import ADMIN_ROLES, AdminUser

Actor = tuple[str, str]

ROLE_LABELS = {"admin": "Administrador", "support": "Suporte"}
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
PASSWORD_MIN = 12
PASSWORD_MAX = 200
#: issuer shown by authenticator apps next to the account
TOTP_ISSUER = "Painel"


def normalize_username(raw: str) -> str:
    """Usernames are compared and stored in lower case."""
    username = (raw or "").strip().lower()
    if not USERNAME_RE.match(username):
        raise ValidationError("nome de usuário inválido: use de 2 a 64 letras minúsculas, dígitos, '.', '_' "
                              "ou '-', começando por letra ou dígito")
    return username


def password_problems(password: str, username: str) -> list[str]:
    """Why ``password`` is not acceptable for a staff account (pt-BR), or nothing."""
    problems = []
    if len(password) < PASSWORD_MIN:
        problems.append(f"a senha precisa ter pelo menos {PASSWORD_MIN} caracteres")
    if len(password) > PASSWORD_MAX:
        problems.append(f"a senha pode ter no máximo {PASSWORD_MAX} caracteres")
    if username and username.lower() in password.lower():
        problems.append("a senha não pode conter o nome de usuário")
    if password and len(set(password)) < 4:
        problems.append("a senha precisa variar mais os caracteres")
    return problems


def _check_password(password: str, username: str) -> None:
    problems = password_problems(password, username)
    if problems:
        raise ValidationError("; ".join(problems))


def find_admin(session: Session, username: str) -> AdminUser | None:
    return session.scalar(select(AdminUser).where(AdminUser.username == (username or "").strip().lower()))


def get_admin(session: Session, username: str) -> AdminUser:
    user = find_admin(session, username)
    if user is None:
        raise NotFound(f"usuário administrador desconhecido: {username}")
    return user


def list_admins(session: Session) -> list[AdminUser]:
    return list(session.scalars(select(AdminUser).order_by(AdminUser.username)))


def _snapshot(user: AdminUser) -> dict[str, object]:
    return {"username": user.username, "role": user.role, "active": user.active, "totp": bool(user.totp_secret)}


def create_admin(session: Session, username: str, password: str, role: str, *, actor: Actor,
                 address: str | None = None) -> AdminUser:
    username = normalize_username(username)
    if role not in ADMIN_ROLES:
        raise ValidationError(f"papel inválido: {role} (use {' ou '.join(ADMIN_ROLES)})")
    _check_password(password, username)
    if find_admin(session, username) is not None:
        raise ConflictError(f"o usuário {username} já existe")
    user = AdminUser(username=username, password_hash=generate_password_hash(password), role=role, active=True)
    session.add(user)
    session.flush()
    record(session, actor_kind=actor[0], actor=actor[1], action="admin_user.create", target_kind="admin_user",
           target_id=username, after=_snapshot(user), address=address)
    return user


def set_password(session: Session, user: AdminUser, password: str, *, actor: Actor,
                 address: str | None = None) -> None:
    """A new password; every open session of the account ends (its stamp follows the hash)."""
    _check_password(password, user.username)
    user.password_hash = generate_password_hash(password)
    record(session, actor_kind=actor[0], actor=actor[1], action="admin_user.password", target_kind="admin_user",
           target_id=user.username, after={"password": "alterada", "sessions": "encerradas"}, address=address)


def set_active(session: Session, user: AdminUser, active: bool, *, actor: Actor, address: str | None = None) -> None:
    if user.active == active:
        return
    record(session, actor_kind=actor[0], actor=actor[1], action="admin_user.activate" if active
           else "admin_user.deactivate", target_kind="admin_user", target_id=user.username,
           before={"active": user.active}, after={"active": active}, address=address)
    user.active = active


def enable_totp(session: Session, user: AdminUser, *, actor: Actor, address: str | None = None) -> str:
    """Turn the second factor on with a new secret; returns the otpauth URI (show it once)."""
    if user.totp_secret:
        raise ConflictError(f"o TOTP de {user.username} já está habilitado: desabilite antes de gerar outro")
    secret = totp.new_secret()
    user.totp_secret = secret
    user.totp_last_step = None
    record(session, actor_kind=actor[0], actor=actor[1], action="admin_user.totp_on", target_kind="admin_user",
           target_id=user.username, before={"totp": False}, after={"totp": True}, address=address)
    return totp.provisioning_uri(secret, user.username, TOTP_ISSUER)


def disable_totp(session: Session, user: AdminUser, *, actor: Actor, address: str | None = None) -> None:
    if not user.totp_secret:
        raise ConflictError(f"o TOTP de {user.username} já está desabilitado")
    user.totp_secret = None
    user.totp_last_step = None
    record(session, actor_kind=actor[0], actor=actor[1], action="admin_user.totp_off", target_kind="admin_user",
           target_id=user.username, before={"totp": True}, after={"totp": False}, address=address)


def claim_totp_step(session: Session, user: AdminUser, code: str, now: datetime) -> bool:
    """Accept ``code`` once: a compare-and-set on ``totp_last_step`` so a replay, even a
    concurrent one from another process, finds the step already taken."""
    if not user.totp_secret:
        return False
    previous = user.totp_last_step
    step = totp.match_step(user.totp_secret, code, now.timestamp(), previous)
    if step is None:
        return False
    guard = AdminUser.totp_last_step.is_(None) if previous is None else AdminUser.totp_last_step == previous
    result = session.execute(update(AdminUser).where(AdminUser.id == user.id, guard)
                             .values(totp_last_step=step).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return False
    set_committed_value(user, "totp_last_step", step)
    return True
