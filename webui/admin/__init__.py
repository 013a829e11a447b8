"""The operator's admin pages (/admin): customers, circuits, Gestão Web, numbers (DIDs), rate
plans, invoices and payments, the CDR quarantine, messages, the routers' status, audit log.

One blueprint; each section lives in its own module, registered on import below.
Staff accounts (``painel admin``) sign in at /admin/entrar, with the same rate
limits, CSRF protection and session rules as the portal, plus an optional TOTP
second factor. Sessions here end a fixed time after sign-in like the portal's
(``web_session_max_hours``), and after ``web_session_minutes`` idle.
"""
from __future__ import annotations

import time

from flask import Blueprint, flash, redirect, request, session, url_for
from flask_login import logout_user

from painel.admins import ROLE_LABELS
from webui.admin.access import may, signed_admin
from webui.db import settings

admin = Blueprint("admin", __name__, url_prefix="/admin")

#: the menu: only sections that exist
MENU = (
    ("admin.home", "Início"),
    ("admin.clientes", "Clientes"),
    ("admin.circuitos", "Circuitos"),
    ("admin.numeros", "Números"),
    ("admin.planos", "Planos"),
    ("admin.faturas", "Faturas"),
    ("admin.quarentena", "Quarentena"),
    ("admin.mensagens", "Mensagens"),
    ("admin.roteadores", "Roteadores"),
    ("admin.auditoria", "Auditoria"),
)
#: endpoint prefixes of each menu entry's pages
_SECTIONS = (("admin.cliente", "admin.clientes"), ("admin.circuito", "admin.circuitos"),
             ("admin.numero", "admin.numeros"), ("admin.plano", "admin.planos"), ("admin.fatura", "admin.faturas"),
             ("admin.quarentena", "admin.quarentena"), ("admin.mensage", "admin.mensagens"),
             ("admin.roteadores", "admin.roteadores"), ("admin.auditoria", "admin.auditoria"),
             ("admin.home", "admin.home"))

#: session key of the sign-in time (the portal's is "signed_in_at": one never passes for the other)
SIGNED_IN_AT = "admin_signed_in_at"


def section_of(endpoint: str | None) -> str | None:
    for prefix, section in _SECTIONS:
        if endpoint and endpoint.startswith(prefix):
            return section
    return None


@admin.before_request
def _absolute_timeout():  # type: ignore[no-untyped-def]
    """A staff session ends a fixed time after sign-in, however active it is."""
    if signed_admin() is None:
        return None
    signed_in = session.get(SIGNED_IN_AT)
    if signed_in is None or time.time() - signed_in > settings().web_session_max_hours * 3600:
        logout_user()
        session.clear()
        flash("Sua sessão expirou. Entre novamente.", "info")
        return redirect(url_for("admin.login"))
    return None


@admin.context_processor
def _admin_context():  # type: ignore[no-untyped-def]
    user = signed_admin()
    return {
        "admin_area": True,
        "area_name": "Administração",
        "signed_admin": user,
        "admin_menu": MENU if user else (),
        "admin_section": section_of(request.endpoint),
        "home_url": url_for("admin.home") if user else url_for("admin.login"),
        "may": may,
        "role_labels": ROLE_LABELS,
    }


from webui.admin import (  # noqa: E402,F401
    auditoria, auth, circuitos, clientes, faturas, home, mensagens, numeros, planos, quarentena, roteadores,
)
