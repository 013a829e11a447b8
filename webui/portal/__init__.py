"""The subscriber portal: the seed page's Faturas and the pages of the Gestão Web flags.

One blueprint; each page lives in its own module, registered on import below.
"""
from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, current_app, has_request_context, request, url_for
from flask_login import current_user

from painel.fmt import brl_cached

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


def fixed_url(endpoint: str, **values: str) -> str:
    """``url_for(endpoint, **values)`` for fixed values (a stylesheet's file name, or none at all),
    built once per app and script root.

    Such a URL depends only on the application's routes and where it is mounted
    (``SCRIPT_NAME``), so every page reuses it instead of building it again. Outside a
    request (no script root to key on) it is simply built.
    """
    if not has_request_context():
        return url_for(endpoint, **values)
    cache: dict[tuple[str, ...], str] = current_app.extensions.setdefault("painel_fixed_urls", {})
    key = (request.script_root, endpoint, *(f"{k}={v}" for k, v in sorted(values.items())))
    url = cache.get(key)
    if url is None:
        url = cache[key] = url_for(endpoint, **values)
    return url


#: most (endpoint, values) shapes ``id_url`` keeps per app (the months in the values change)
_ID_URLS_MAX = 256


def id_url(endpoint: str, key: str, **values: object) -> Callable[[int], str]:
    """``url_for(endpoint, **{key: id}, **values)`` for any integer id, with one ``url_for`` call.

    For the links a page repeats per row (one invoice's PDF each): the URL is built once
    around a marker and the row's id put in its place. The two parts around the marker
    depend only on the routes, the script root and the arguments, so they are kept per
    app (as ``fixed_url`` does), a bounded number of them.
    """
    marker = 9081726354453627
    cache: dict[tuple[object, ...], tuple[str, str] | None] = current_app.extensions.setdefault(
        "painel_id_urls", {})
    cache_key = (request.script_root, endpoint, key, *sorted(values.items()))
    try:
        parts = cache[cache_key]
    except KeyError:
        head, found, tail = url_for(endpoint, **{key: marker}, **values).partition(str(marker))
        parts = (head, tail) if found else None
        if len(cache) >= _ID_URLS_MAX:
            cache.clear()
        cache[cache_key] = parts
    if parts is None:  # not an integer path part after all: build each one
        return lambda ident: url_for(endpoint, **{key: ident}, **values)
    head, tail = parts
    return lambda ident: f"{head}{int(ident)}{tail}"


@portal.app_template_filter("brl")
def _brl(amount: object) -> str:
    """``{{ amount|brl }}``: R$ 1.234,56 (a filter is called directly, without a template call's checks)."""
    return brl_cached(amount)


@portal.app_context_processor
def _menu():  # type: ignore[no-untyped-def]
    """The menu as (url, label, whether it is this page's section), built here and not per entry in the template."""
    if not current_user.is_authenticated or current_user.is_admin:
        return {"menu": [], "home_url": fixed_url("auth.login"), "fixed_url": fixed_url}
    circuit = current_user.circuit
    section = section_of(request.endpoint)
    items = [(fixed_url(endpoint), label, endpoint == section) for endpoint, label, flags in MENU
             if any(getattr(circuit, f"flag_{f}") for f in flags)]
    home = home_endpoint(circuit)
    return {"menu": items, "signed_circuit": circuit, "menu_section": section,
            "home_url": fixed_url(home) if home else fixed_url("auth.sem_funcoes"), "fixed_url": fixed_url}


from webui.portal import blacklist, faturas, ligacoes, mensagens, numeros, perfil, tabela  # noqa: E402,F401
