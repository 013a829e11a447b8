"""Ligações recebidas / efetuadas of one of the customer's circuits, with a CSV export.

A month (``?mes=AAAA-MM``, default the current month in the circuit's zone) or a period
(``?de=`` and ``?ate=``, dd/mm/aaaa or the ISO dates of ``<input type=date>``), an
optional number filter (``?numero=``, digits), 50 calls per page (``?pagina=``),
newest first. ``?formato=csv`` streams every matching call for Excel in pt-BR
(``;``, UTF-8 with BOM, decimal comma).

Every query is bounded by the circuit and a ``start_utc`` range (the local days turned
into UTC), so ``ix_cdrs_circuit_start`` serves it on SQLite and PostgreSQL alike: the
billing month column is not indexed and is not used here. Totals are SQL aggregates.

What a received call became is read from the router's ``painel_rule`` / ``painel_action``
(DESIGN.md): ``blacklist`` blocked it, ``collect`` refused a collect call (a DID without
ACB), ``follow_me`` / ``forward`` sent it to the siga-me destination. CDRs from
mod_cdr_csv carry the rule but not the action, so the rule decides where both exist.
"""
from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import Response, current_app, render_template, request, stream_with_context, url_for
from flask_login import current_user, login_required
from sqlalchemy import Select, bindparam, case, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from billing.close import month_of
from billing.pdf import format_number
from painel.categories import Category
from painel.db import sql_literals
from painel.fmt import brl_cached, data_br, duracao, mes_ref
from painel.models import Circuit, Cdr
from webui.access import feature, owned_circuit
from webui.db import db
from webui.portal import portal
from webui.portal.faturas import FIRST_YEAR, LAST_YEAR, BadRequest, now_utc

TIPOS = ("recebidas", "efetuadas")
#: business directions of each list: collect calls are received calls the circuit pays for
DIRECTIONS = {"efetuadas": ("outbound", "forwarded"), "recebidas": ("inbound", "collect")}
PAGE_SIZE = 50
#: the longest period one request may ask for (a year, leap day included)
MAX_DAYS = 366
MAX_NUMBER_DIGITS = 20
CSV_BATCH = 1000
#: the endpoint of the blacklist page's "add" form (another page module)
BLACKLIST_ADD = "portal.blacklist_add"
#: rules under which the router refused the caller (anonymous callers are refused by the blacklist rule)
BLOCK_RULES = ("blacklist", "anonymous")

#: what Werkzeug leaves unescaped in a query string it builds (werkzeug.urls._urlencode)
_QUERY_SAFE = "!$'()*,/:;?@"

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_MONTH_BR = re.compile(r"^(0[1-9]|1[0-2])/(\d{4})$")
_DATE_BR = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_DATE_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")


# ------------------------------------------------------------------ filters


@dataclass(frozen=True)
class Period:
    """Local days [first, last] of the circuit, and the same span as a half-open UTC range."""

    first: date
    last: date
    start_utc: datetime
    end_utc: datetime
    #: AAAA-MM when the period is a whole month asked as ``?mes=``
    month: str | None

    @property
    def label(self) -> str:
        return mes_ref(self.month) if self.month else f"{data_br(self.first)} a {data_br(self.last)}"

    @property
    def slug(self) -> str:
        """For file names: ``2026-10`` or ``2026-10-01-a-2026-10-15``."""
        return self.month or f"{self.first.isoformat()}-a-{self.last.isoformat()}"

    def args(self) -> dict[str, str]:
        """The query arguments that select this period again."""
        if self.month:
            return {"mes": self.month}
        return {"de": self.first.isoformat(), "ate": self.last.isoformat()}


def _shown(raw: str) -> str:
    return raw if len(raw) <= 20 else raw[:20] + "…"


def days_to_utc(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Local days [first, last] as the UTC range [start, end)."""
    start = datetime.combine(first, time(0), tzinfo=zone).astimezone(timezone.utc)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone).astimezone(timezone.utc)
    return start, end


def parse_month(raw: str) -> str:
    """``2026-10`` (or ``10/2026``) -> ``2026-10``; BadRequest otherwise."""
    text = raw.strip()
    found = _MONTH.match(text)
    if found:
        year, mon = int(found.group(1)), int(found.group(2))
    else:
        found = _MONTH_BR.match(text)
        if not found:
            raise BadRequest(f"Mês inválido “{_shown(text)}”: use AAAA-MM (ex.: 2026-10).")
        year, mon = int(found.group(2)), int(found.group(1))
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise BadRequest(f"Mês inválido “{_shown(text)}”: o ano deve estar entre {FIRST_YEAR} e {LAST_YEAR}.")
    return f"{year:04d}-{mon:02d}"


def parse_date(raw: str, field: str) -> date:
    """dd/mm/aaaa or aaaa-mm-dd (what ``<input type=date>`` sends); BadRequest otherwise."""
    text = raw.strip()
    found = _DATE_BR.match(text)
    if found:
        day, mon, year = (int(x) for x in found.groups())
    else:
        found = _DATE_ISO.match(text)
        if not found:
            raise BadRequest(f"Data inválida em {field}: “{_shown(text)}”. Use dd/mm/aaaa (ex.: 01/10/2026).")
        year, mon, day = (int(x) for x in found.groups())
    try:
        value = date(year, mon, day)
    except ValueError:
        raise BadRequest(f"Data inválida em {field}: “{_shown(text)}” não existe no calendário.") from None
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise BadRequest(f"Data inválida em {field}: o ano deve estar entre {FIRST_YEAR} e {LAST_YEAR}.")
    return value


def month_period(month: str, zone: ZoneInfo) -> Period:
    year, mon = (int(x) for x in month.split("-"))
    first = date(year, mon, 1)
    last = (date(year + 1, 1, 1) if mon == 12 else date(year, mon + 1, 1)) - timedelta(days=1)
    return Period(first, last, *days_to_utc(first, last, zone), month=month)


def parse_period(args: Mapping[str, str], zone: ZoneInfo, now: datetime) -> Period:
    """The period the query asks for: ``de``/``ate`` when given, else ``mes``, else the current month."""
    de, ate = (args.get("de") or "").strip(), (args.get("ate") or "").strip()
    if de or ate:
        if not (de and ate):
            raise BadRequest("Para consultar um período, informe as duas datas: De e Até.")
        first, last = parse_date(de, "De"), parse_date(ate, "Até")
        if last < first:
            raise BadRequest("A data final (Até) é anterior à data inicial (De).")
        if (last - first).days + 1 > MAX_DAYS:
            raise BadRequest(f"O período pode ter no máximo {MAX_DAYS} dias; para mais, consulte mês a mês.")
        return Period(first, last, *days_to_utc(first, last, zone), month=None)
    raw = (args.get("mes") or "").strip()
    return month_period(parse_month(raw) if raw else month_of(now, zone), zone)


def parse_number(raw: str | None) -> str:
    """The digits of ``?numero=`` ("" when absent); BadRequest when it holds no digit or too many."""
    text = (raw or "").strip()
    digits = re.sub(r"\D", "", text)
    if text and not digits:
        raise BadRequest("Número inválido: informe os dígitos do número (ex.: 98987654321).")
    if len(digits) > MAX_NUMBER_DIGITS:
        raise BadRequest(f"Número inválido: informe no máximo {MAX_NUMBER_DIGITS} dígitos.")
    return digits


def parse_page(raw: str | None) -> int:
    text = (raw or "").strip()
    if not text:
        return 1
    if not text.isdigit() or int(text) < 1 or len(text) > 7:
        raise BadRequest("Página inválida: use um número a partir de 1.")
    return int(text)


# ------------------------------------------------------------------ queries


def _terms(columns: Any, tipo: str, circuit_id: Any, start: Any, end: Any, digits: Any) -> list[ColumnElement[bool]]:
    """The WHERE of a list over ``columns`` (the ORM's or the table's), values or bind parameters."""
    c = columns
    where: list[ColumnElement[bool]] = [
        c.circuit_id == circuit_id, c.start_utc >= start, c.start_utc < end,
        c.role == "call", c.direction.in_(sql_literals(DIRECTIONS[tipo])),
    ]
    if digits is not None:
        # efetuadas: the number called; recebidas: the caller, or the DID it called
        searched = ((c.number_e164, c.destination_raw) if tipo == "efetuadas"
                    else (c.number_e164, c.caller_raw, c.did))
        where.append(or_(*(column.contains(digits) for column in searched)))
    return where


def conditions(circuit_id: int, tipo: str, period: Period, digits: str = "") -> list[ColumnElement[bool]]:
    """The WHERE of a list: the circuit and the UTC range first (the index), then the rest."""
    return _terms(Cdr, tipo, circuit_id, period.start_utc, period.end_utc, digits or None)


def is_blocked(columns: Any = Cdr) -> ColumnElement[bool]:
    return columns.rule.in_(sql_literals(BLOCK_RULES))


def _calls_columns(c: Any) -> tuple[Any, ...]:
    """The columns of a listed call; ``view_row`` unpacks a row in this order."""
    return (c.id, c.start_utc, c.direction, c.rule, c.action, c.caller_raw, c.destination_raw, c.number_e164, c.did,
            c.category, c.billsec, c.billable_seconds, c.amount)


def _totals_columns(c: Any) -> tuple[Any, ...]:
    return (
        func.count().label("calls"),
        func.coalesce(func.sum(case((c.billsec > 0, 1), else_=0)), 0).label("answered"),
        func.coalesce(func.sum(case((is_blocked(c), 1), else_=0)), 0).label("blocked"),
        func.coalesce(func.sum(c.billsec), 0).label("seconds"),
        func.coalesce(func.sum(c.billable_seconds), 0).label("billable_seconds"),
        func.coalesce(func.sum(c.amount), Decimal("0")).label("amount"),
    )


def calls_query(where: list[ColumnElement[bool]]) -> Select[Any]:
    """The calls, newest first (the order the index gives: (circuit_id, start_utc), then the id)."""
    return select(*_calls_columns(Cdr)).where(*where).order_by(Cdr.start_utc.desc(), Cdr.id.desc())


def totals_query(where: list[ColumnElement[bool]]) -> Select[Any]:
    """Count, answered, blocked, seconds, billable seconds and cost of the filtered set, in one pass."""
    return select(*_totals_columns(Cdr)).where(*where)


@dataclass(frozen=True)
class PageStatements:
    """The page's two statements for one list and filter shape, built once per process.

    The same SQL as ``totals_query`` / ``calls_query`` over ``conditions``, written with
    bind parameters (``circuit_id``, ``start``, ``end``, ``digits``, ``limit``,
    ``offset``) on the table's columns: SQLAlchemy's compiled cache serves every request
    without building or hashing a statement again, and the rows are plain Core rows.
    """

    totals: Select[Any]
    calls: Select[Any]


@functools.cache
def page_statements(tipo: str, with_digits: bool) -> PageStatements:
    c = Cdr.__table__.c
    where = _terms(c, tipo, bindparam("circuit_id"), bindparam("start"), bindparam("end"),
                   bindparam("digits") if with_digits else None)
    return PageStatements(
        totals=select(*_totals_columns(c)).where(*where),
        calls=(select(*_calls_columns(c)).where(*where).order_by(c.start_utc.desc(), c.id.desc())
               .limit(bindparam("limit")).offset(bindparam("offset"))),
    )


def page_params(circuit_id: int, period: Period, digits: str) -> dict[str, Any]:
    params: dict[str, Any] = {"circuit_id": circuit_id, "start": period.start_utc, "end": period.end_utc}
    if digits:
        params["digits"] = digits
    return params


# ------------------------------------------------------------------ presentation


def status_of(direction: str | None, rule: str | None, action: str | None, billsec: int) -> str:
    """What happened to a received call, in the subscriber's words."""
    if rule in BLOCK_RULES:
        return "Bloqueada (blacklist)"
    if direction == "collect":
        if rule == "collect" or action == "reject":
            return "A cobrar (recusada)"
        return "A cobrar (aceita)" if billsec > 0 else "A cobrar (não atendida)"
    if rule == "follow_me" or action == "forward":
        return "Encaminhada (siga-me)"
    if action == "reject" or rule == "unallocated":
        return "Rejeitada"
    return "Atendida" if billsec > 0 else "Não atendida"


def kind_of(direction: str | None, billsec: int) -> str:
    """An outgoing call's type: placed by the circuit, or the siga-me leg of a received call."""
    kind = "Siga-me" if direction == "forwarded" else "Efetuada"
    return kind if billsec > 0 else f"{kind} (não atendida)"


#: category value -> what the subscriber reads (a dict: no Enum lookup per row)
_CATEGORY_LABELS = {c.value: c.label for c in Category}


def category_label(category: str | None) -> str:
    if not category:
        return "—"
    return _CATEGORY_LABELS.get(category, category)


def caller_label(number_e164: str | None, caller_raw: str) -> str:
    if number_e164:
        return format_number(number_e164, caller_raw)
    return caller_raw if any(ch.isdigit() for ch in caller_raw) else "Número oculto"


def did_label(did: str | None) -> str:
    if not did:
        return "—"
    return format_number(did if did.startswith("+") else "+" + did, did)


_MINUTE_CENT = Decimal("0.01")


def minutes(seconds: int) -> str:
    """Seconds as minutes with a decimal comma: ``90`` -> ``1,50``."""
    value = (Decimal(int(seconds)) / 60).quantize(_MINUTE_CENT, rounding=ROUND_HALF_UP)
    return f"{value:.2f}".replace(".", ",")


def decimal_br(amount: Decimal) -> str:
    """Money for a spreadsheet: ``1234,50`` (no symbol, no thousands separator)."""
    return f"{Decimal(amount):.2f}".replace(".", ",")


def local_time(moment: datetime, zone: ZoneInfo) -> str:
    """``moment`` in ``zone`` as dd/mm/aaaa hh:mm:ss.

    The same text as ``strftime("%d/%m/%Y %H:%M:%S")`` (whose ``%Y`` on glibc does not pad
    the year either), with ``%`` formatting, which costs half as much per row.
    """
    t = moment.astimezone(zone)
    return "%02d/%02d/%d %02d:%02d:%02d" % (t.day, t.month, t.year, t.hour, t.minute, t.second)


# Memoized formatters for the rows of a list. Each is a pure function of its arguments
# (no request, user or clock in it), so a value seen on an earlier page or request
# gives the same text; the caches are bounded. The same numbers, durations and amounts
# repeat a lot within a month of calls (amounts: ``painel.fmt.brl_cached``).
_ROW_CACHE = 4096
_cached_number = functools.lru_cache(maxsize=_ROW_CACHE)(format_number)
_cached_caller = functools.lru_cache(maxsize=_ROW_CACHE)(caller_label)
_cached_did = functools.lru_cache(maxsize=_ROW_CACHE)(did_label)
_cached_duration = functools.lru_cache(maxsize=_ROW_CACHE, typed=True)(duracao)
_cached_minutes = functools.lru_cache(maxsize=_ROW_CACHE, typed=True)(minutes)


class CallView:
    """One call as a list shows it: every text already formatted (the template only prints)."""

    __slots__ = ("when", "duration", "seconds", "amount", "amount_brl", "category", "number", "kind", "billable",
                 "did", "status", "status_class", "blocked", "collect", "block_number")


def view_row(row: Any, tipo: str, zone: ZoneInfo) -> CallView:
    """A row of ``_calls_columns`` (in that order) as the list shows it."""
    # unpacked once: a tuple unpacking costs less than the row's attribute lookups
    (_id, start_utc, direction, rule, action, caller_raw, destination_raw, number_e164, did, category, billsec,
     billable_seconds, amount) = row
    out = CallView()
    out.when = local_time(start_utc, zone)
    out.duration = _cached_duration(billsec)
    out.seconds = billsec
    out.amount = amount
    out.amount_brl = brl_cached(amount)
    out.category = category_label(category)
    if tipo == "efetuadas":
        out.number = _cached_number(number_e164, destination_raw)
        out.kind = kind_of(direction, billsec)
        out.billable = _cached_minutes(billable_seconds)
        out.did = out.status = out.status_class = out.block_number = None
        out.blocked = out.collect = False
    else:
        status = status_of(direction, rule, action, billsec)
        out.number = _cached_caller(number_e164, caller_raw)
        out.did = _cached_did(did)
        out.status = status
        out.blocked = blocked = status.startswith("Bloqueada")
        out.collect = collect = direction == "collect"
        # the class of the Situação cell: a blocked call first, then a collect call
        out.status_class = "lig-bloqueada" if blocked else ("lig-cobrar" if collect else "")
        out.block_number = number_e164 or ""
        out.kind = out.billable = None
    return out


# ------------------------------------------------------------------ CSV


def csv_cell(value: str) -> str:
    """Text a spreadsheet must not run as a formula (caller IDs come from outside)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


CSV_HEADERS = {
    "efetuadas": ("Data/hora", "Tipo", "Número chamado", "Categoria", "Duração", "Duração (segundos)",
                  "Minutos tarifados", "Valor (R$)"),
    "recebidas": ("Data/hora", "Número de origem", "Número chamado (DID)", "Situação", "Duração",
                  "Duração (segundos)", "Valor (R$)"),
}


def csv_row(row: Any, tipo: str, zone: ZoneInfo) -> list[str]:
    item = view_row(row, tipo, zone)
    if tipo == "efetuadas":
        cells = [item.when, item.kind, item.number, item.category, item.duration, str(item.seconds), item.billable,
                 decimal_br(item.amount)]
    else:
        cells = [item.when, item.number, item.did, item.status, item.duration, str(item.seconds),
                 decimal_br(item.amount)]
    return [csv_cell(c) for c in cells]


def csv_response(where: list[ColumnElement[bool]], tipo: str, circuit: Circuit, period: Period) -> Response:
    """Every matching call, streamed in batches (never the whole set in memory)."""
    zone = ZoneInfo(circuit.timezone)
    query = calls_query(where).execution_options(yield_per=CSV_BATCH)

    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")

        def take() -> str:
            text = buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            return text

        writer.writerow(CSV_HEADERS[tipo])
        yield "\ufeff" + take()
        result = db().execute(query)
        try:
            for part in result.partitions():
                writer.writerows(csv_row(row, tipo, zone) for row in part)
                yield take()
        finally:
            result.close()

    name = f"ligacoes-{tipo}-{circuit.number}-{period.slug}.csv"
    return Response(stream_with_context(generate()), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# ------------------------------------------------------------------ the page


def can_block(circuit: Circuit) -> bool:
    """The "Bloquear" button: the blacklist page exists and the Blacklist flag is on for the
    signed-in circuit (the page) and for the listed one (whose list the caller joins)."""
    return (BLACKLIST_ADD in current_app.view_functions and current_user.has("blacklist")
            and bool(circuit.flag_blacklist))


def _form_values(args: Mapping[str, str], period: Period | None, digits: str | None) -> dict[str, str]:
    """What the filter form shows: the normalized filter, or what was typed when it was refused."""
    if period is None:
        return {k: (args.get(k) or "")[:40] for k in ("mes", "de", "ate", "numero")}
    values = {"mes": period.month or "", "de": "", "ate": ""}
    if not period.month:
        values.update(de=period.first.isoformat(), ate=period.last.isoformat())
    values["numero"] = digits or ""
    return values


def with_query(path: str, query: Mapping[str, Any]) -> str:
    """``path`` with ``query`` encoded exactly as ``url_for`` encodes extra arguments (Werkzeug's rules)."""
    items = [(k, str(v)) for k, v in query.items() if v is not None]
    return f"{path}?{urlencode(items, safe=_QUERY_SAFE)}" if items else path


def _neighbour_month(month: str, step: int) -> str:
    year, mon = (int(x) for x in month.split("-"))
    mon += step
    if mon == 0:
        year, mon = year - 1, 12
    elif mon == 13:
        year, mon = year + 1, 1
    return f"{year:04d}-{mon:02d}"


@portal.route("/circuitos/<int:circuit_id>/ligacoes/<any(recebidas, efetuadas):tipo>")
@login_required
@feature("faturas")
def ligacoes(circuit_id: int, tipo: str):  # type: ignore[no-untyped-def]
    circuit = owned_circuit(circuit_id)
    zone = ZoneInfo(circuit.timezone)
    args = request.args
    here = url_for("portal.ligacoes", circuit_id=circuit.id, tipo=tipo)
    base = {"circuit": circuit, "tipo": tipo, "here": here}
    try:
        period = parse_period(args, zone, now_utc())
        digits = parse_number(args.get("numero"))
        page = parse_page(args.get("pagina"))
        if args.get("formato", "html") not in ("html", "csv"):
            raise BadRequest("Formato inválido: use csv para exportar.")
    except BadRequest as exc:
        return render_template("portal/ligacoes.html", **base, error=exc.message, form=_form_values(args, None, None),
                               rows=None), 400
    if args.get("formato") == "csv":
        return csv_response(conditions(circuit.id, tipo, period, digits), tipo, circuit, period)
    # the two statements are built once per process; a request only binds its values
    statements = page_statements(tipo, bool(digits))
    params = page_params(circuit.id, period, digits)
    conn = db().connection()
    totals = conn.execute(statements.totals, params).one()
    pages = max(1, -(-totals.calls // PAGE_SIZE))
    page = min(page, pages)
    rows = [view_row(r, tipo, zone)
            for r in conn.execute(statements.calls, {**params, "limit": PAGE_SIZE, "offset": (page - 1) * PAGE_SIZE})]
    filters = {**period.args(), **({"numero": digits} if digits else {})}
    # one url_for per list; the query strings are encoded as url_for encodes them
    other = "efetuadas" if tipo == "recebidas" else "recebidas"

    def link(**extra: Any) -> str:
        return with_query(here, {**filters, **extra})

    months = None
    if period.month:
        number = {"numero": digits} if digits else {}
        months = {"previous": with_query(here, {"mes": _neighbour_month(period.month, -1), **number}),
                  "next": with_query(here, {"mes": _neighbour_month(period.month, 1), **number})}
    blocking = tipo == "recebidas" and can_block(circuit)
    return render_template(
        "portal/ligacoes.html", **base, error=None, form=_form_values(args, period, digits), period=period,
        digits=digits, totals=totals, total_duration=duracao(totals.seconds),
        total_minutes=minutes(totals.billable_seconds), rows=rows, page=page, pages=pages,
        previous_url=link(pagina=page - 1) if page > 1 else None,
        next_url=link(pagina=page + 1) if page < pages else None,
        csv_url=link(formato="csv"),
        other_url=with_query(url_for("portal.ligacoes", circuit_id=circuit.id, tipo=other), filters),
        other=other, months=months, can_block=blocking, block_url=url_for(BLACKLIST_ADD) if blocking else None,
        origem=request.full_path.rstrip("?"),
    )
