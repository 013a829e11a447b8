"""Roteadores: each router instance's status, read from its metrics (``router_status_urls``).

For every URL: whether it answered, calls per second (the rate between this visit and
the previous one: the app keeps one ``StatusBoard`` in ``app.extensions``), calls by
outcome, fallbacks by reason, errors by kind with the time of the last one, active
calls and the age of its rules cache. Open to every staff role.
"""
from __future__ import annotations

from flask import current_app, render_template

from painel.fmt import data_hora_br
from painel.router_status import TIMEOUT_SECONDS, RouterStatus, StatusBoard
from webui.admin import admin
from webui.admin.access import requires
from webui.admin.util import operator_zone, sentence
from webui.db import settings

BOARD = "painel_router_status"

#: the reasons the router counts a fallback (the dialplan's defaults routed the call)
FALLBACK_LABELS = {
    "overload": "sobrecarga (chamadas simultâneas demais)", "draining": "encerrando (reinício)",
    "error": "erro ao decidir", "no_destination": "chamada sem número de destino",
    "no_rules": "regras ainda não carregadas",
}
#: how each call ended for the router
OUTCOME_LABELS = {"ok": "decididas", "timeout": "sem resposta do FreeSWITCH", "hangup": "desligadas antes",
                  "error": "erro na sessão"}
ERROR_LABELS = {"decide": "erro ao decidir", "timeout": "tempo esgotado", "session": "erro na sessão"}


def board() -> StatusBoard:
    """The app's board (one per app, so calls/s is a rate between two visits)."""
    found = current_app.extensions.get(BOARD)
    if found is None:
        found = current_app.extensions.setdefault(BOARD, StatusBoard())
    return found


def router_urls() -> list[str]:
    return [url.strip() for url in settings().router_status_urls.split(",") if url.strip()]


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}".replace(".", ",")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s".replace(".", ",")
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def status_view(status: RouterStatus) -> dict:
    zone = operator_zone()
    view: dict = {"url": status.url, "alive": status.alive, "error": sentence(status.error or "")}
    snap = status.snapshot
    if snap is None:
        return view
    rate = status.calls_per_second
    view.update({
        "rate": "—" if rate is None else f"{rate:.2f}".replace(".", ","),
        "rate_known": rate is not None,
        "calls": _number(snap.calls),
        "outcomes": [(OUTCOME_LABELS.get(k, k or "—"), _number(v)) for k, v in sorted(snap.outcomes.items())],
        "fallbacks": [(FALLBACK_LABELS.get(k, k or "—"), k, _number(v)) for k, v in sorted(snap.fallbacks.items())],
        "fallback_total": _number(status.fallback_total),
        "errors": [(ERROR_LABELS.get(k, k or "—"), k, _number(v), data_hora_br(snap.last_errors[k].astimezone(zone))
                    if k in snap.last_errors else "") for k, v in sorted(snap.errors.items())],
        "error_total": _number(status.error_total),
        "active": _number(snap.active),
        "cache_age": _age(snap.cache_age),
        "started": data_hora_br(snap.started.astimezone(zone)) if snap.started else "",
    })
    return view


@admin.route("/roteadores")
@requires("read")
def roteadores():  # type: ignore[no-untyped-def]
    urls = router_urls()
    routers = [status_view(s) for s in board().poll(urls)]
    return render_template("admin/roteadores.html", routers=routers, timeout=TIMEOUT_SECONDS,
                           alive=sum(1 for r in routers if r["alive"]),
                           timezone_name=settings().default_timezone)
