"""Who is signed in to the admin pages, and what each role may do there.

Staff sign in as an ``AdminUser`` (never a circuit): their Flask-Login id is
"a:<admin id>:<stamp>", loaded only for requests to the ``admin`` blueprint (see
``webui.access._load``), so a staff session is anonymous on the portal and a
subscriber's session is anonymous here. The stamp follows the password hash and the
TOTP secret: changing either ends every open session of the account.

Roles: ``admin`` reads and changes everything; ``support`` reads everything and changes
nothing except a circuit's web password. Every view states the permission it needs with
``requires``; the check runs on the server for every request, whatever the page shows.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, redirect, request, url_for
from flask_login import UserMixin, current_user

from painel.models import AdminUser
from webui.access import password_stamp
from webui.db import db

F = TypeVar("F", bound=Callable[..., Any])

#: read: every admin page; write: any change; web_password: generate a circuit's web password
PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({"read", "write", "web_password"}),
    "support": frozenset({"read", "web_password"}),
}


def admin_stamp(user: AdminUser) -> str:
    return password_stamp(f"{user.password_hash}|{user.totp_secret or ''}")


class StaffMember(UserMixin):
    """The signed-in operator staff account (Flask-Login's user on the admin pages)."""

    is_admin = True

    def __init__(self, user: AdminUser) -> None:
        self.admin_id = user.id
        self.username = user.username
        self.role = user.role
        self.stamp = admin_stamp(user)

    def get_id(self) -> str:
        return f"a:{self.admin_id}:{self.stamp}"

    def may(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, frozenset())


def load_admin(rest: str) -> StaffMember | None:
    """The account of an "a:" session id, if it still may be signed in."""
    admin_id, _, stamp = rest.partition(":")
    if not admin_id.isdigit():
        return None
    user = db().get(AdminUser, int(admin_id))
    if user is None or not user.active or admin_stamp(user) != stamp:
        return None  # deactivated, or the password / second factor changed since sign-in
    return StaffMember(user)


def signed_admin() -> StaffMember | None:
    return current_user if current_user.is_authenticated and getattr(current_user, "is_admin", False) else None  # type: ignore[return-value]


def may(permission: str) -> bool:
    user = signed_admin()
    return user is not None and user.may(permission)


def requires(permission: str = "read") -> Callable[[F], F]:
    """The view needs a signed-in staff member with ``permission``.

    Anonymous (and subscribers, who are anonymous here) go to the admin sign-in page;
    a signed-in role without the permission gets 403.
    """

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = signed_admin()
            if user is None:
                target = request.full_path.rstrip("?") if request.method == "GET" else None
                return redirect(url_for("admin.login", next=target))
            if not user.may(permission):
                abort(403)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def actor() -> tuple[str, str]:
    """The audit actor of the signed-in staff member."""
    return ("admin", current_user.username)
