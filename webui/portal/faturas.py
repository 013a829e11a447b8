"""Faturas: the portal's home page, as the seed's "Consultar Fatura" shows it.

Resumo do Cliente (name, Fatura em Aberto, Última Fatura), the monthly chart of call
counts (Gráfico flag), the open invoice of each of the customer's circuits with its
call lists, and the Histórico de Faturas of a year with each invoice's PDF (one file
per invoice: the seed's FAQ says there is no bulk download).

The clock is ``app.config["PAINEL_CLOCK"]`` when set (tests pin it), else the real UTC time.
"""
from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask import abort, current_app, render_template, request, send_file
from flask_login import current_user, login_required

from billing.chart import TITLE as CHART_TITLE
from billing.chart import ChartData, monthly_counts, render_png
from billing.close import CLOSED_STATES, month_of
from billing.pdf import Operator, ensure_pdf, load_open_document, render_pdf
from billing.summary import MonthInvoices, OpenInvoice, customer_summary
from painel.categories import CHART_GROUPS
from painel.fmt import mes_ref
from webui.access import customer_circuits, feature, owned_circuit, owned_invoice
from webui.db import db, engine, settings
from webui.errors import error_page
from webui.portal import id_url, portal

#: years the page accepts in ?ano= (anything else is a bad request, not a database query)
FIRST_YEAR, LAST_YEAR = 2000, 2100


def now_utc() -> datetime:
    """The current time (aware, UTC); ``PAINEL_CLOCK`` in the app config overrides it."""
    clock: Callable[[], datetime] | None = current_app.config.get("PAINEL_CLOCK")
    return clock().astimezone(timezone.utc) if clock is not None else datetime.now(timezone.utc)


def signed_zone() -> ZoneInfo:
    """The signed-in circuit's time zone (the customer's "current month" for the chart)."""
    return ZoneInfo(current_user.circuit.timezone)


class BadRequest(Exception):
    """A query parameter a person typed is not acceptable; ``message`` says why, in pt-BR."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_year(raw: str | None) -> int | None:
    """``?ano=`` as a year, None when absent; BadRequest when it is not a sensible year."""
    if raw is None or raw.strip() == "":
        return None
    raw = raw.strip()
    if not raw.isdigit() or not FIRST_YEAR <= int(raw) <= LAST_YEAR:
        raise BadRequest(f"Ano inválido: informe um ano com quatro dígitos entre {FIRST_YEAR} e {LAST_YEAR}.")
    return int(raw)


def chart_months(year: int | None, zone: ZoneInfo, now: datetime) -> str:
    """The chart's last month: December of ``year``, or the current month (12 months to it)."""
    return f"{year:04d}-12" if year is not None else month_of(now, zone)


def chart_counts(circuits: list[int], end_month: str, zone: ZoneInfo, now: datetime) -> ChartData:
    """The chart's counts; finished months from the app's cache (``web_chart_cache_seconds``)."""
    return monthly_counts(db(), circuits, end_month, current_month=month_of(now, zone),
                          cache=current_app.extensions.get("painel_chart_cache"))


def chart_rows(data: ChartData) -> list[dict[str, object]]:
    """The chart's counts as table rows (one per month), so the data reads without the image."""
    return [{"month": mes_ref(month), "counts": [data.counts[g][i] for g in CHART_GROUPS],
             "total": data.month_total(i)} for i, month in enumerate(data.months)]


def chart_alt(data: ChartData) -> str:
    first, last = mes_ref(data.months[0]), mes_ref(data.months[-1])
    groups = ", ".join(CHART_GROUPS.values())
    return (f"Gráfico de barras empilhadas: quantidade de ligações por tipo ({groups}) em cada mês, "
            f"de {first} a {last}; total de {data.total} ligação(ões). Os números estão na tabela abaixo.")


@portal.route("/")
@login_required
@feature("faturas")
def faturas():  # type: ignore[no-untyped-def]
    session = db()
    now = now_utc()
    owner_id = current_user.customer_id
    try:
        chosen = parse_year(request.args.get("ano"))
    except BadRequest as exc:
        return error_page(400, exc.message)
    summary = customer_summary(session, owner_id, now)
    years = list(summary.years)
    zone = signed_zone()
    year = chosen if chosen is not None else (years[0] if years else now.astimezone(zone).year)
    if year not in years:
        years = sorted({*years, year}, reverse=True)
    months: list[MonthInvoices] = summary.history(year)
    chart = None
    if current_user.has("grafico"):
        circuits = [o.circuit_id for o in summary.open_invoices]  # the customer's active circuits
        data = chart_counts(circuits, chart_months(chosen, zone, now), zone, now)
        chart = {"data": data, "rows": chart_rows(data), "groups": list(CHART_GROUPS.values()),
                 "alt": chart_alt(data), "ano": chosen,
                 "first": mes_ref(data.months[0]), "last": mes_ref(data.months[-1])}
    return render_template("portal/faturas.html", summary=summary, years=years, year=year, months=months,
                           chart=chart, mes_ref=mes_ref, pdf_url=id_url("portal.fatura_pdf", "invoice_id"),
                           open_links=open_links(summary.open_invoices))


def open_links(items: Sequence[OpenInvoice]) -> dict[int, dict[str, str]]:
    """Each open invoice's links (its PDF, its received and placed calls), a url_for per kind and month."""
    preview = id_url("portal.fatura_aberta_pdf", "circuit_id")
    lists: dict[tuple[str, str], Callable[[int], str]] = {}
    out = {}
    for item in items:
        links = {"pdf": preview(item.circuit_id)}
        for tipo in ("recebidas", "efetuadas"):
            key = (tipo, item.month)
            if key not in lists:
                lists[key] = id_url("portal.ligacoes", "circuit_id", tipo=tipo, mes=item.month)
            links[tipo] = lists[key](item.circuit_id)
        out[item.circuit_id] = links
    return out


@portal.route("/grafico.png")
@login_required
@feature("faturas")
@feature("grafico")
def grafico():  # type: ignore[no-untyped-def]
    """The chart of the customer's circuits: 12 months to the current one, or the year ``?ano=``."""
    try:
        year = parse_year(request.args.get("ano"))
    except BadRequest as exc:
        return error_page(400, exc.message)
    circuits = [c.id for c in customer_circuits()]
    zone, now = signed_zone(), now_utc()
    data = chart_counts(circuits, chart_months(year, zone, now), zone, now)
    png = render_png(data, title=CHART_TITLE)
    return send_file(io.BytesIO(png), mimetype="image/png", download_name="grafico.png", max_age=0)


@portal.route("/faturas/<int:invoice_id>.pdf")
@login_required
@feature("faturas")
def fatura_pdf(invoice_id: int):  # type: ignore[no-untyped-def]
    """An issued invoice's PDF (rendered once and kept; regenerated when its data changed)."""
    invoice = owned_invoice(invoice_id)
    if invoice.state not in CLOSED_STATES:
        abort(404)  # the running month has its own preview (fatura_aberta_pdf)
    name = f"fatura-{invoice.circuit.number}-{invoice.month}.pdf"
    db().rollback()  # end this request's read transaction before ensure_pdf writes the path
    pdf = ensure_pdf(engine(), invoice_id, settings())
    return send_file(pdf.path, mimetype="application/pdf", as_attachment=True, download_name=name,
                     conditional=False, etag=pdf.sha256)


@portal.route("/circuitos/<int:circuit_id>/fatura-aberta.pdf")
@login_required
@feature("faturas")
def fatura_aberta_pdf(circuit_id: int):  # type: ignore[no-untyped-def]
    """The current month to date of one circuit, rendered on the fly (a preview, never stored)."""
    circuit = owned_circuit(circuit_id)
    now = now_utc()
    month = month_of(now, ZoneInfo(circuit.timezone))
    doc = load_open_document(db(), circuit.id, month, Operator.from_settings(settings()), now)
    data = render_pdf(doc)
    return send_file(io.BytesIO(data), mimetype="application/pdf", as_attachment=True,
                     download_name=f"fatura-aberta-{circuit.number}-{month}.pdf")
