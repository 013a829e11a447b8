"""The subscriber portal: the seed page's Faturas and the pages of the Gestão Web flags.

One blueprint; each page lives in its own module, registered on import below.
"""
from __future__ import annotations

from flask import Blueprint
from flask_login import current_user

portal = Blueprint("portal", __name__)

#: the menu: (endpoint, label, flags of which at least one must be on)
MENU = (
    ("portal.faturas", "Faturas", ("faturas",)),
    ("portal.blacklist", "Blacklist", ("blacklist",)),
    ("portal.numeros", "Números", ("sigame", "acb")),
    ("portal.tabela", "Tabela", ("tabela",)),
    ("portal.mensagens", "Mensagens", ("mensagem", "resposta")),
    ("portal.perfil", "Perfil", ("perfil",)),
)

#: pages that belong to a menu entry without sharing its endpoint's name
SECTIONS = {"portal.ligacoes": "portal.faturas", "portal.mensagem": "portal.mensagens"}


def section_of(endpoint: str | None) -> str | None:
    """The menu entry a page belongs to (``portal.numeros_sigame`` -> ``portal.numeros``)."""
    if endpoint is None:
        return None
    if endpoint in SECTIONS:
        return SECTIONS[endpoint]
    for menu_endpoint, _label, _flags in MENU:
        if endpoint == menu_endpoint or endpoint.startswith(menu_endpoint + "_"):
            return menu_endpoint
    return None


def home_endpoint(circuit) -> str | None:  # type: ignore[no-untyped-def]
    """The first page the circuit's flags allow (Faturas when on), None when none is."""
    for endpoint, _label, flags in MENU:
        if any(getattr(circuit, f"flag_{f}") for f in flags):
            return endpoint
    return None


@portal.app_context_processor
def _menu():  # type: ignore[no-untyped-def]
    from flask import request, url_for

    if not current_user.is_authenticated or current_user.is_admin:
        return {"menu": [], "home_url": url_for("auth.login")}
    circuit = current_user.circuit
    items = [(endpoint, label) for endpoint, label, flags in MENU
             if any(getattr(circuit, f"flag_{f}") for f in flags)]
    home = home_endpoint(circuit)
    return {"menu": items, "signed_circuit": circuit, "menu_section": section_of(request.endpoint),
            "home_url": url_for(home) if home else url_for("auth.sem_funcoes")}


from webui.portal import blacklist, faturas, ligacoes, mensagens, numeros, perfil, tabela  # noqa: E402,F401
