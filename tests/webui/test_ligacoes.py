"""Ligações recebidas / efetuadas: filters, totals, pages, CSV and the query plan, on SQLite and PostgreSQL.

Totals and rows are checked against SQL over the demo's CDRs (``bill_month`` is the
local month of America/Fortaleza, the zone of every demo circuit: an independent way to
ask for what the page selects through ``start_utc``).
"""
from __future__ import annotations

import csv
import io
import re
import uuid
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, or_, select, text, update
from sqlalchemy.orm import Session

from billing.pdf import format_number
from painel.fmt import brl, duracao
from painel.models import Cdr, Circuit
from sqlplan import query_plan
from webui.portal.faturas import BadRequest
from webui.portal.ligacoes import (
    PAGE_SIZE, calls_query, conditions, csv_cell, month_period, page_params, page_statements, parse_date, parse_month,
    parse_number, parse_period, status_of, totals_query, with_query,
)

#: as in conftest: the demo's clock, its first circuit and a circuit of another customer
NOW = datetime(2026, 11, 20, 15, tzinfo=timezone.utc)
OWN_CIRCUIT = "8011441"
OTHER_CUSTOMER_CIRCUIT = "8011880"
ZONE = ZoneInfo("America/Fortaleza")
EFETUADAS = ("outbound", "forwarded")
RECEBIDAS = ("inbound", "collect")


@pytest.fixture
def app(app):  # type: ignore[no-untyped-def]
    """The conftest's app with the clock pinned at the demo's NOW."""
    app.config["PAINEL_CLOCK"] = lambda: NOW
    return app


# ------------------------------------------------------------------ reading pages


class Node:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent, self.children = tag, attrs, parent, []  # type: ignore[var-annotated]

    @property
    def text(self) -> str:
        parts = [c if isinstance(c, str) else c.text for c in self.children]
        return " ".join(" ".join(parts).split())

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        found = []
        for child in self.children:
            if isinstance(child, Node):
                if (tag is None or child.tag == tag) and all(
                        (v in child.attrs.get("class", "").split() if k == "class_" else child.attrs.get(k) == v)
                        for k, v in attrs.items()):
                    found.append(child)
                found.extend(child.find_all(tag, **attrs))
        return found

    def find(self, tag: str | None = None, **attrs: str) -> Node:
        found = self.find_all(tag, **attrs)
        assert found, f"no <{tag}> with {attrs}"
        return found[0]


class _Parser(HTMLParser):
    VOID = {"input", "img", "meta", "link", "br", "hr"}

    def __init__(self) -> None:
        super().__init__()
        self.root = Node("root", {}, None)
        self.at = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self.at)
        self.at.children.append(node)
        if tag not in self.VOID:
            self.at = node

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.at
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.at = node.parent

    def handle_data(self, data: str) -> None:
        self.at.children.append(data)


def page(response: Any) -> Node:
    parser = _Parser()
    parser.feed(response.get_data(as_text=True))
    return parser.root


def table_rows(doc: Node) -> list[list[str]]:
    tables = doc.find_all("table", class_="lig-tabela")
    return [[td.text for td in tr.find_all("td")] for t in tables for tr in t.find("tbody").find_all("tr")]


def totals(doc: Node) -> dict[str, str]:
    return {dd.attrs["id"].removeprefix("total-"): dd.text for dd in doc.find("dl", class_="lig-totais").find_all("dd")}


def pager(doc: Node) -> dict[str, str]:
    nav = doc.find("nav", **{"aria-label": "Páginas"})
    links = {a.text.strip("←→ "): a.attrs["href"] for a in nav.find_all("a")}
    links["status"] = nav.find("span").text
    return links


def read_csv(response: Any) -> list[list[str]]:
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:], newline=""), delimiter=";"))


def br_decimal(value: str) -> Decimal:
    return Decimal(value.replace(".", "").replace(",", "."))


# ------------------------------------------------------------------ the database


def circuit_ids(engine, *numbers: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return dict(s.execute(select(Circuit.number, Circuit.id).where(Circuit.number.in_(numbers))).all())  # type: ignore[arg-type]


def sql_calls(engine, circuit_id: int, directions: tuple[str, ...], *where: Any) -> list[Any]:  # type: ignore[no-untyped-def]
    """The calls straight from the table, newest first."""
    with Session(engine) as s:
        return list(s.execute(select(Cdr).where(Cdr.circuit_id == circuit_id, Cdr.role == "call",
                                                Cdr.direction.in_(directions), *where)
                              .order_by(Cdr.start_utc.desc(), Cdr.id.desc())).scalars())


def sql_totals(engine, circuit_id: int, directions: tuple[str, ...], *where: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        calls, answered, seconds, billable, amount = s.execute(
            text("SELECT count(*), coalesce(sum(CASE WHEN billsec > 0 THEN 1 ELSE 0 END), 0), coalesce(sum(billsec), 0), "
                 "coalesce(sum(billable_seconds), 0), coalesce(sum(amount), 0) FROM cdrs "
                 f"WHERE circuit_id = :c AND role = 'call' AND direction IN ({', '.join(repr(d) for d in directions)}) "
                 + "".join(f" AND {w}" for w in where)), {"c": circuit_id}).one()
    return {"ligacoes": str(calls), "atendidas": str(answered), "duracao": duracao(int(seconds)),
            "minutos": f"{Decimal(int(billable)) / 60:.2f}".replace(".", ","),
            "valor": brl(Decimal(int(amount)) / 100), "calls": int(calls), "amount": Decimal(int(amount)) / 100}


def local(moment: datetime) -> str:
    return moment.astimezone(ZONE).strftime("%d/%m/%Y %H:%M:%S")


def add_call(session: Session, circuit_id: int, start: datetime, *, direction: str = "outbound", number: str,
             caller_raw: str = "8011441", amount: str = "0.10", billsec: int = 40, rule: str | None = None) -> Cdr:
    uid = str(uuid.uuid4())
    local_month = start.astimezone(ZONE).strftime("%Y-%m")
    cdr = Cdr(uuid=uid, call_uuid=uid, role="call", circuit_id=circuit_id, direction=direction, rule=rule,
              caller_raw=caller_raw, destination_raw=number.lstrip("+"), number_e164=number or None,
              category="local_fixo", start_utc=start, billsec=billsec, billable_seconds=max(billsec, 30),
              amount=Decimal(amount), bill_month=local_month, source="json", raw="{}")
    session.add(cdr)
    return cdr


# ------------------------------------------------------------------ pure parts


@pytest.mark.parametrize("direction, rule, action, billsec, expected", [
    ("inbound", "default", "bridge", 30, "Atendida"),
    ("inbound", "default", None, 0, "Não atendida"),
    ("inbound", "fallback", "bridge", 12, "Atendida"),
    ("inbound", "blacklist", "reject", 0, "Bloqueada (blacklist)"),
    ("inbound", "blacklist", None, 0, "Bloqueada (blacklist)"),  # mod_cdr_csv records carry no action
    ("collect", "blacklist", "reject", 0, "Bloqueada (blacklist)"),
    ("inbound", "follow_me", "forward", 80, "Encaminhada (siga-me)"),
    ("inbound", "follow_me", None, 0, "Encaminhada (siga-me)"),
    ("inbound", None, "forward", 10, "Encaminhada (siga-me)"),
    ("collect", "default", "bridge", 90, "A cobrar (aceita)"),
    ("collect", "default", None, 0, "A cobrar (não atendida)"),
    ("collect", "collect", "reject", 0, "A cobrar (recusada)"),
    ("collect", "collect", None, 0, "A cobrar (recusada)"),
    ("inbound", "unallocated", "reject", 0, "Rejeitada"),
])
def test_status_of_a_received_call(direction, rule, action, billsec, expected) -> None:  # type: ignore[no-untyped-def]
    assert status_of(direction, rule, action, billsec) == expected


def test_filter_parsing() -> None:
    assert parse_month("2026-10") == parse_month("10/2026") == "2026-10"
    for bad in ("2026-13", "2026-1", "abc", "1999-12", "2026/10"):
        with pytest.raises(BadRequest, match="Mês inválido"):
            parse_month(bad)
    assert parse_date("01/10/2026", "De") == parse_date("2026-10-01", "De") == date(2026, 10, 1)
    for bad in ("31/02/2026", "2026-02-30", "1/1", "amanhã"):
        with pytest.raises(BadRequest, match="Data inválida em De"):
            parse_date(bad, "De")
    assert parse_number(" (98) 98765-4321 ") == "98987654321" and parse_number(None) == ""
    with pytest.raises(BadRequest, match="Número inválido"):
        parse_number("abc")
    # a month in Fortaleza (UTC-3) is [03:00 UTC of day 1, 03:00 UTC of the next month's day 1)
    october = month_period("2026-10", ZONE)
    assert october.start_utc == datetime(2026, 10, 1, 3, tzinfo=timezone.utc)
    assert october.end_utc == datetime(2026, 11, 1, 3, tzinfo=timezone.utc)
    assert parse_period({}, ZONE, datetime(2026, 11, 1, 2, 59, tzinfo=timezone.utc)).month == "2026-10"
    period = parse_period({"mes": "2026-09", "de": "2026-10-01", "ate": "15/10/2026"}, ZONE, NOW)
    assert (period.month, period.first, period.last, period.slug) == (None, date(2026, 10, 1), date(2026, 10, 15),
                                                                       "2026-10-01-a-2026-10-15")
    assert period.end_utc == datetime(2026, 10, 16, 3, tzinfo=timezone.utc)
    for args, message in (({"de": "01/10/2026"}, "as duas datas"), ({"de": "02/10/2026", "ate": "01/10/2026"}, "anterior"),
                          ({"de": "01/01/2025", "ate": "02/01/2026"}, "366 dias")):
        with pytest.raises(BadRequest, match=message):
            parse_period(args, ZONE, NOW)
    assert parse_period({"de": "01/01/2025", "ate": "01/01/2026"}, ZONE, NOW).first == date(2025, 1, 1)
    assert csv_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)" and csv_cell("+1 212") == "'+1 212"
    assert csv_cell("(98) 98765-4321") == "(98) 98765-4321"


#: SQLite's plan of a list query: a seek on the circuit and the UTC range, "COVERING" when the
#: index alone answers (the totals without a number filter)
_SEEK = re.compile(r"USING (COVERING )?INDEX ix_cdrs_circuit_start \(circuit_id=\? AND start_utc>\? AND start_utc<\?\)")


def _assert_sqlite_seek(plan: str, *, covering: bool) -> None:
    found = _SEEK.search(plan)
    assert found, plan
    assert bool(found.group(1)) == covering, plan
    assert "TEMP B-TREE" not in plan, plan  # newest first (then the id) comes from the index itself


def test_list_queries_use_the_circuit_start_index(engine, db_url) -> None:  # type: ignore[no-untyped-def]
    """No full scan: every list query is served by ix_cdrs_circuit_start (circuit_id, start_utc, id, ...),
    and a list's totals without a number filter by that index alone (SQLite says so in its plan)."""

    period = month_period("2026-10", ZONE)
    for tipo in ("recebidas", "efetuadas"):
        for digits in ("", "98987"):
            where = conditions(1, tipo, period, digits)
            for query, totals in ((calls_query(where).limit(PAGE_SIZE).offset(PAGE_SIZE), False),
                                  (totals_query(where), True)):
                plan = query_plan(engine, query)
                if db_url.startswith("sqlite"):
                    _assert_sqlite_seek(plan, covering=totals and not digits)
                else:
                    # on an empty table PostgreSQL picks either index of the circuit's calls
                    # (ix_cdrs_billed covers the placed ones too); what matters is that one seeks
                    assert "Seq Scan" not in plan
                    assert re.search(r"Index (Only )?Scan (Backward )?using ix_cdrs_(circuit_start|billed) on cdrs", plan), plan
                    assert re.search(r"Index Cond: \(+circuit_id = ", plan), plan
                assert "bill_month" not in str(query)


def test_page_statements_use_the_index_and_answer_as_the_built_queries(engine, db_url, portal_db) -> None:  # type: ignore[no-untyped-def]
    """The statements the page runs (built once, bound per request) are the list queries: same plan, same rows."""
    cid = circuit_ids(portal_db, OWN_CIRCUIT)[OWN_CIRCUIT]
    period = month_period("2026-10", ZONE)
    for tipo in ("recebidas", "efetuadas"):
        for digits in ("", "98"):
            statements = page_statements(tipo, bool(digits))
            assert page_statements(tipo, bool(digits)) is statements  # built once
            params = page_params(cid, period, digits)
            paged = {**params, "limit": PAGE_SIZE, "offset": 0}
            for query, args in ((statements.totals, params), (statements.calls, paged)):
                plan = query_plan(engine, query, args)
                if db_url.startswith("sqlite"):
                    _assert_sqlite_seek(plan, covering=query is statements.totals and not digits)
                else:
                    assert "Seq Scan" not in plan
                    assert re.search(r"Index Cond: \(+circuit_id = ", plan), plan
                assert "bill_month" not in str(query)
            where = conditions(cid, tipo, period, digits)
            with Session(portal_db) as s:
                conn = s.connection()
                assert conn.execute(statements.totals, params).one() == s.execute(totals_query(where)).one()
                got = conn.execute(statements.calls, paged).all()
                assert got == s.execute(calls_query(where).limit(PAGE_SIZE)).all()
                assert got, (tipo, digits)  # the demo has such calls: the comparison means something


def test_the_totals_read_only_columns_the_index_carries(engine) -> None:  # type: ignore[no-untyped-def]
    """Both engines: ix_cdrs_circuit_start holds every column a list's totals read, in the model and
    in the migrated database, so PostgreSQL can answer them with an index-only scan too."""
    from painel.models import CIRCUIT_START_INDEX_COLUMNS
    from sqlplan import columns_read, index_columns

    assert index_columns(engine, "cdrs", "ix_cdrs_circuit_start") == CIRCUIT_START_INDEX_COLUMNS
    for tipo in ("recebidas", "efetuadas"):
        read = columns_read(page_statements(tipo, False).totals, Cdr.__table__)
        # what the page adds up, and the filter: a column added to either must be carried by the index
        assert {"circuit_id", "start_utc", "role", "direction", "rule", "billsec", "amount"} <= read
        assert read <= set(CIRCUIT_START_INDEX_COLUMNS), read - set(CIRCUIT_START_INDEX_COLUMNS)


def test_links_are_what_url_for_builds(app) -> None:  # type: ignore[no-untyped-def]
    """The list's links are built from one url_for and the query encoded as Werkzeug encodes it."""
    from flask import url_for

    with app.test_request_context("/"):
        base = url_for("portal.ligacoes", circuit_id=7, tipo="recebidas")
        for query in ({}, {"mes": "2026-10"}, {"mes": "2026-10", "numero": "98987", "pagina": 2},
                      {"de": "2026-10-01", "ate": "2026-10-15", "formato": "csv"},
                      {"numero": "a b&c=d/é?", "mes": "x;y,z@!"}):
            assert with_query(base, query) == url_for("portal.ligacoes", circuit_id=7, tipo="recebidas", **query)


# ------------------------------------------------------------------ the pages


def test_signed_out_redirects_to_login(client, portal_db) -> None:  # type: ignore[no-untyped-def]
    cid = circuit_ids(portal_db, OWN_CIRCUIT)[OWN_CIRCUIT]
    for url in (f"/circuitos/{cid}/ligacoes/recebidas", f"/circuitos/{cid}/ligacoes/efetuadas?mes=2026-10",
                f"/circuitos/{cid}/ligacoes/efetuadas?formato=csv"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/entrar"), url


def test_efetuadas_of_a_month_equal_sql(signed_in, portal_db) -> None:  # type: ignore[no-untyped-def]
    cid = circuit_ids(portal_db, OWN_CIRCUIT)[OWN_CIRCUIT]
    for month in ("2026-08", "2026-09", "2026-10", "2026-11"):
        response = signed_in.get(f"/circuitos/{cid}/ligacoes/efetuadas?mes={month}")
        assert response.status_code == 200
        doc = page(response)
        expected = sql_totals(portal_db, cid, EFETUADAS, f"bill_month = '{month}'")
        assert 0 < expected["calls"] < PAGE_SIZE
        assert totals(doc) == {k: expected[k] for k in ("ligacoes", "atendidas", "duracao", "minutos", "valor")}
        calls = sql_calls(portal_db, cid, EFETUADAS, Cdr.bill_month == month)
        rows = table_rows(doc)
        assert [r[0] for r in rows] == [local(c.start_utc) for c in calls]
        assert [r[1] for r in rows] == [format_number(c.number_e164, c.destination_raw) for c in calls]
        assert [r[2] for r in rows] == [("Siga-me" if c.direction == "forwarded" else "Efetuada")
                                        + ("" if c.billsec else " (não atendida)") for c in calls]
        assert [r[4] for r in rows] == [duracao(c.billsec) for c in calls]
        assert [r[5] for r in rows] == [brl(c.amount) for c in calls]
        assert f"Circuito 8011441 - SaperxTeste · {month[5:]}/{month[:4]}" in doc.find("main").text
        assert pager(doc)["status"] == "Página 1 de 1"
    # the follow-me legs of August are the circuit's calls, to the siga-me destination
    august = table_rows(page(signed_in.get(f"/circuitos/{cid}/ligacoes/efetuadas?mes=2026-08")))
    forwarded = [r for r in august if r[2] == "Siga-me"]
    assert len(forwarded) == len(sql_calls(portal_db, cid, ("forwarded",), Cdr.bill_month == "2026-08")) == 2
    assert {r[1] for r in forwarded} == {"(86) 3222-1234"}
    # without ?mes= it is the current month in the circuit's zone
    current = page(signed_in.get(f"/circuitos/{cid}/ligacoes/efetuadas"))
    assert totals(current)["ligacoes"] == sql_totals(portal_db, cid, EFETUADAS, "bill_month = '2026-11'")["ligacoes"]
    assert current.find("input", id="mes").attrs["value"] == "2026-11"


def test_recebidas_show_what_the_router_did(signed_in, portal_db) -> None:  # type: ignore[no-untyped-def]
    ids = circuit_ids(portal_db, OWN_CIRCUIT, "8010348")
    seen: Counter[str] = Counter()
    for number in (OWN_CIRCUIT, "8010348"):
        cid = ids[number]
        for month in ("2026-08", "2026-09", "2026-10", "2026-11"):
            doc = page(signed_in.get(f"/circuitos/{cid}/ligacoes/recebidas?mes={month}"))
            calls = sql_calls(portal_db, cid, RECEBIDAS, Cdr.bill_month == month)
            expected = []
            for c in calls:  # the router's variables, read straight from the rows
                if c.rule == "blacklist":
                    expected.append("Bloqueada (blacklist)")
                elif c.direction == "collect":
                    expected.append("A cobrar (recusada)" if c.rule == "collect" else
                                    "A cobrar (aceita)" if c.billsec > 0 else "A cobrar (não atendida)")
                elif c.rule == "follow_me":
                    expected.append("Encaminhada (siga-me)")
                else:
                    expected.append("Atendida" if c.billsec > 0 else "Não atendida")
            rows = table_rows(doc)
            assert [r[3] for r in rows] == expected, (number, month)
            assert [r[0] for r in rows] == [local(c.start_utc) for c in calls]
            assert [r[1] for r in rows] == [format_number(c.number_e164, c.caller_raw) for c in calls]
            assert [r[2] for r in rows] == [format_number("+" + c.did) for c in calls]
            assert [r[5] for r in rows] == [brl(c.amount) for c in calls]
            sums = sql_totals(portal_db, cid, RECEBIDAS, f"bill_month = '{month}'")
            got = totals(doc)
            assert got["ligacoes"] == sums["ligacoes"] and got["valor"] == sums["valor"]
            assert got["bloqueadas"] == str(expected.count("Bloqueada (blacklist)"))
            seen.update((number, label) for label in expected)  # type: ignore[misc]
    # the demo holds each case: these are real rows, not an empty page that proves nothing
    assert seen[(OWN_CIRCUIT, "Bloqueada (blacklist)")] >= 4
    assert seen[(OWN_CIRCUIT, "A cobrar (aceita)")] >= 3
    assert seen[(OWN_CIRCUIT, "Encaminhada (siga-me)")] >= 3
    assert seen[("8010348", "A cobrar (recusada)")] >= 3
    assert seen[(OWN_CIRCUIT, "Atendida")] > 0 and seen[(OWN_CIRCUIT, "Não atendida")] > 0
    # accepted collect calls cost the circuit: October's total is their sum
    october = page(signed_in.get(f"/circuitos/{ids[OWN_CIRCUIT]}/ligacoes/recebidas?mes=2026-10"))
    collect = sql_calls(portal_db, ids[OWN_CIRCUIT], ("collect",), Cdr.bill_month == "2026-10")
    assert totals(october)["valor"] == brl(sum((c.amount for c in collect), Decimal("0"))) != "R$ 0,00"


def test_pages_of_fifty(signed_in, portal_db) -> None:  # type: ignore[no-untyped-def]
    cid = circuit_ids(portal_db, OWN_CIRCUIT)[OWN_CIRCUIT]
    base = datetime(2026, 7, 2, 12, tzinfo=timezone.utc)
    with Session(portal_db) as s:
        for i in range(120):
            # ten calls share one start time: the page boundary must still be stable (by id)
            start = base + timedelta(hours=5 * (i if i >= 10 else 0))
            add_call(s, cid, start, number=f"+5598981{i:06d}", amount="0.11")
        s.commit()
    url = f"/circuitos/{cid}/ligacoes/efetuadas?mes=2026-07"
    seen: list[list[str]] = []
    for number in (1, 2, 3):
        doc = page(signed_in.get(url + (f"&pagina={number}" if number > 1 else "")))
        rows = table_rows(doc)
        assert len(rows) == (50 if number < 3 else 20)
        links = pager(doc)
        assert links["status"] == f"Página {number} de 3"
        assert links.get("Anterior") == (None if number == 1 else
                                         f"/circuitos/{cid}/ligacoes/efetuadas?mes=2026-07&pagina={number - 1}")
        assert links.get("Próxima") == (None if number == 3 else
                                        f"/circuitos/{cid}/ligacoes/efetuadas?mes=2026-07&pagina={number + 1}")
        # totals are those of the whole filtered set, on every page
        assert totals(doc)["ligacoes"] == "120" and totals(doc)["valor"] == brl(Decimal("13.20"))
        seen.extend(rows)
    calls = sql_calls(portal_db, cid, EFETUADAS, Cdr.bill_month == "2026-07")
    assert [(r[0], r[1]) for r in seen] == [(local(c.start_utc), format_number(c.number_e164)) for c in calls]
    assert len({r[1] for r in seen}) == 120
    # past the end: the last page; nonsense: 400
    assert pager(page(signed_in.get(url + "&pagina=99")))["status"] == "Página 3 de 3"
    for bad in ("0", "-1", "abc"):
        response = signed_in.get(url + f"&pagina={bad}")
        assert response.status_code == 400
        assert "Página inválida" in page(response).find("main").text
    # the number filter travels with the pages
    doc = page(signed_in.get(url + "&numero=5598981"))
    assert pager(doc)["Próxima"] == f"/circuitos/{cid}/ligacoes/efetuadas?mes=2026-07&numero=5598981&pagina=2"


def test_number_filter(signed_in, portal_db) -> None:  # type: ignore[no-untyped-def]
    cid = circuit_ids(portal_db, OWN_CIRCUIT)[OWN_CIRCUIT]
    # the blacklisted caller of the demo (+55 11 98888-7777) called twice in October
    blocked = sql_calls(portal_db, cid, RECEBIDAS, Cdr.bill_month == "2026-10", Cdr.number_e164.contains("988887777"))
    assert len(blocked) == 2
    for typed in ("988887777", "(11) 98888-7777", "+55 11 98888 7777"):
        doc = page(signed_in.get(f"/circuitos/{cid}/ligacoes/recebidas?mes=2026-10&numero={typed}"))
        rows = table_rows(doc)
        assert [r[1] for r in rows] == ["(11) 98888-7777"] * 2
        assert {r[3] for r in rows} == {"Bloqueada (blacklist)"}
        assert totals(doc)["ligacoes"] == "2" and totals(doc)["bloqueadas"] == "2"
        assert doc.find("input", id="numero").attrs["value"] == "".join(ch for ch in typed if ch.isdigit())
    # the called DID is searchable too: every received call of October on 5598987654321
    via_did = page(signed_in.get(f"/circuitos/{cid}/ligacoes/recebidas?mes=2026-10&numero=98987654321"))
    expected = sql_calls(portal_db, cid, RECEBIDAS, Cdr.bill_month == "2026-10", or_(
        Cdr.number_e164.contains("98987654321"), Cdr.caller_raw.contains("98987654321"),
        Cdr.did.contains("98987654321")))
    assert totals(via_did)["ligacoes"] == str(len(expected)) and len(expected) > 2
    # efetuadas: part of the called number
    calls = sql_calls(portal_db, cid, EFETUADAS, Cdr.bill_month == "2026-10")
    digits = calls[0].number_e164[-6:]
    doc = page(signed_in.get(f"/circuitos/{cid}/ligacoes/efetuadas?mes=2026-10&numero={digits}"))
    matching = [c for c in calls if digits in (c.number_e164 or "") or digits in c.destination_raw]
    assert 0 < len(matching) < len(calls)
    assert [r[1] for r in table_rows(doc)] == [format_number(c.number_e164, c.destination_raw) for c in matching]
    assert totals(doc)["valor"] == brl(sum((c.amount for c in matching), Decimal("0")))
    # nothing matches: an empty list, zero totals
    empty = page(signed_in.get(f"/circuitos/{cid}/ligacoes/efetuadas?mes=2026-10&numero=0000000000000"))
    assert table_rows(empty) == [] and totals(empty)["ligacoes"] == "0" and totals(empty)["valor"] == "R$ 0,00"
    assert "Nenhuma ligação encontrada" in empty.find("main").text
    response = signed_in.get(f"/circuitos/{cid}/ligacoes/efetuadas?numero=abc")
    assert response.status_code == 400 and "Número inválido" in page(response).find("main").text


def test_period_filter(signed_in, portal_db) -> None:  # type: ignore[no-untyped-def]
    cid = circuit_ids(portal_db, OWN_CIRCUIT)[OWN_CIRCUIT]
    start, end = datetime(2026, 9, 25, 3, tzinfo=timezone.utc), datetime(2026, 10, 16, 3, tzinfo=timezone.utc)
    for tipo, directions in (("efetuadas", EFETUADAS), ("recebidas", RECEBIDAS)):
        calls = sql_calls(portal_db, cid, directions, Cdr.start_utc >= start, Cdr.start_utc < end)
        assert {c.bill_month for c in calls} == {"2026-09", "2026-10"}  # the period spans two months
        for query in ("de=25/09/2026&ate=15/10/2026", "de=2026-09-25&ate=2026-10-15", "mes=2026-01&de=25/09/2026&ate=2026-10-15"):
            response = signed_in.get(f"/circuitos/{cid}/ligacoes/{tipo}?{query}")
            assert response.status_code == 200
            doc = page(response)
            assert [r[0] for r in table_rows(doc)] == [local(c.start_utc) for c in calls]
            assert totals(doc)["ligacoes"] == str(len(calls))
            assert totals(doc)["valor"] == brl(sum((c.amount for c in calls), Decimal("0")))
            assert "25/09/2026 a 15/10/2026" in doc.find("main").text
            form = {i.attrs["name"]: i.attrs.get("value", "") for i in doc.find("form", **{"aria-label": "Filtrar ligações"})
                    .find_all("input")}
            assert form == {"mes": "", "de": "2026-09-25", "ate": "2026-10-15", "numero": ""}
    refused = {
        "de=16/10/2026&ate=15/10/2026": "anterior à data inicial",
        "de=01/10/2026": "informe as duas datas",
        "de=01/10/2026&ate=31/02/2027": "não existe no calendário",
        "de=01/01/2025&ate=15/10/2026": "no máximo 366 dias",
        "de=ontem&ate=hoje": "Use dd/mm/aaaa",
    }
    for query, message in refused.items():
        response = signed_in.get(f"/circuitos/{cid}/ligacoes/recebidas?{query}")
        assert response.status_code == 400, query
        doc = page(response)
        assert message in doc.find("p", role="alert").text, query
        assert table_rows(doc) == []
        assert doc.find("input", id="de").attrs["value"] == query.split("&")[0].removeprefix("de=")  # kept to fix


def test_months_and_days_are_the_circuits_local_ones(signed_in, portal_db) -> None:  # type: ignore[no-untyped-def]
    """America/Fortaleza is UTC-3: 30/09 23:30 local is already October in UTC, and 31/10 23:59 is November."""
    cid = circuit_ids(portal_db, OWN_CIRCUIT)[OWN_CIRCUIT]
    edges = {  # number -> (UTC start, the local month it belongs to)
        "+559830000001": (datetime(2026, 10, 1, 2, 30, tzinfo=timezone.utc), "2026-09"),
        "+559830000002": (datetime(2026, 10, 1, 3, 30, tzinfo=timezone.utc), "2026-10"),
        "+559830000003": (datetime(2026, 11, 1, 2, 59, tzinfo=timezone.utc), "2026-10"),
        "+559830000004": (datetime(2026, 11, 1, 3, 0, tzinfo=timezone.utc), "2026-11"),
    }
    with Session(portal_db) as s:
        for number, (start, _month) in edges.items():
            add_call(s, cid, start, number=number)
        s.commit()
    for month in ("2026-09", "2026-10", "2026-11"):
        rows = table_rows(page(signed_in.get(f"/circuitos/{cid}/ligacoes/efetuadas?mes={month}")))
        shown = {r[1]: r[0] for r in rows}
        for number, (start, belongs) in edges.items():
            assert (format_number(number) in shown) == (belongs == month), (number, month)
            if belongs == month:
                assert shown[format_number(number)] == local(start)
    assert local(edges["+559830000003"][0]) == "31/10/2026 23:59:00"
    # a period of local days has the same edges
    rows = table_rows(page(signed_in.get(f"/circuitos/{cid}/ligacoes/efetuadas?de=01/10/2026&ate=31/10/2026")))
    numbers = {r[1] for r in rows}
    assert {format_number(n) for n, (_s, m) in edges.items() if m == "2026-10"} <= numbers
    assert not {format_number(n) for n, (_s, m) in edges.items() if m != "2026-10"} & numbers


def test_invalid_month_is_a_400_in_portuguese(signed_in, portal_db) -> None:  # type: ignore[no-untyped-def]
    cid = circuit_ids(portal_db, OWN_CIRCUIT)[OWN_CIRCUIT]
    for bad in ("2026-13", "abc", "1999-01", "2026-1"):
        response = signed_in.get(f"/circuitos/{cid}/ligacoes/efetuadas?mes={bad}")
        assert response.status_code == 400, bad
        alert = page(response).find("p", role="alert").text
        assert alert.startswith("Mês inválido"), bad
        assert "AAAA-MM" in alert or "o ano deve estar entre 2000 e 2100" in alert, bad
    assert signed_in.get(f"/circuitos/{cid}/ligacoes/efetuadas?mes=2026-10&formato=pdf").status_code == 400
    same = [totals(page(signed_in.get(f"/circuitos/{cid}/ligacoes/efetuadas?mes={m}"))) for m in ("2026-10", "10/2026")]
    assert same[0] == same[1]


def test_csv_export(signed_in, portal_db) -> None:  # type: ignore[no-untyped-def]
    cid = circuit_ids(portal_db, OWN_CIRCUIT)[OWN_CIRCUIT]
    response = signed_in.get(f"/circuitos/{cid}/ligacoes/efetuadas?mes=2026-10&formato=csv")
    assert response.status_code == 200
    assert response.is_streamed
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="ligacoes-efetuadas-8011441-2026-10.csv"'
    rows = read_csv(response)
    assert rows[0] == ["Data/hora", "Tipo", "Número chamado", "Categoria", "Duração", "Duração (segundos)",
                       "Minutos tarifados", "Valor (R$)"]
    calls = sql_calls(portal_db, cid, EFETUADAS, Cdr.bill_month == "2026-10")
    assert len(rows) - 1 == len(calls) > 0
    for row, call in zip(rows[1:], calls):
        assert row[0] == local(call.start_utc) and row[2] == format_number(call.number_e164, call.destination_raw)
        assert row[5] == str(call.billsec) and br_decimal(row[7]) == call.amount
        assert br_decimal(row[6]) == (Decimal(call.billable_seconds) / 60).quantize(Decimal("0.01"))
        assert "." not in row[7]
    assert sum((br_decimal(r[7]) for r in rows[1:]), Decimal("0")) == sql_totals(
        portal_db, cid, EFETUADAS, "bill_month = '2026-10'")["amount"]
    # received calls of a period, with the number filter: the same filters as the page
    response = signed_in.get(f"/circuitos/{cid}/ligacoes/recebidas?de=01/10/2026&ate=31/10/2026&formato=csv")
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="ligacoes-recebidas-8011441-2026-10-01-a-2026-10-31.csv"')
    rows = read_csv(response)
    assert rows[0] == ["Data/hora", "Número de origem", "Número chamado (DID)", "Situação", "Duração",
                       "Duração (segundos)", "Valor (R$)"]
    calls = sql_calls(portal_db, cid, RECEBIDAS, Cdr.bill_month == "2026-10")
    assert [r[0] for r in rows[1:]] == [local(c.start_utc) for c in calls]
    situations = Counter(r[3] for r in rows[1:])
    assert situations["Bloqueada (blacklist)"] == sum(1 for c in calls if c.rule == "blacklist") == 2
    assert situations["A cobrar (aceita)"] == sum(1 for c in calls if c.direction == "collect" and c.billsec) >= 1
    filtered = read_csv(signed_in.get(f"/circuitos/{cid}/ligacoes/recebidas?mes=2026-10&numero=988887777&formato=csv"))
    assert [r[1] for r in filtered[1:]] == ["(11) 98888-7777"] * 2
    # the page links to the export with its filters
    doc = page(signed_in.get(f"/circuitos/{cid}/ligacoes/recebidas?mes=2026-10&numero=988887777"))
    assert doc.find("a", class_="botao").attrs["href"] == (
        f"/circuitos/{cid}/ligacoes/recebidas?mes=2026-10&numero=988887777&formato=csv")
    other = circuit_ids(portal_db, OTHER_CUSTOMER_CIRCUIT)[OTHER_CUSTOMER_CIRCUIT]
    assert signed_in.get(f"/circuitos/{other}/ligacoes/recebidas?formato=csv").status_code == 404
    assert signed_in.get(f"/circuitos/{cid}/ligacoes/recebidas?mes=2026-13&formato=csv").status_code == 400


def test_caller_ids_from_outside_are_escaped(signed_in, portal_db) -> None:  # type: ignore[no-untyped-def]
    cid = circuit_ids(portal_db, OWN_CIRCUIT)[OWN_CIRCUIT]
    with Session(portal_db) as s:
        add_call(s, cid, datetime(2026, 7, 10, 15, tzinfo=timezone.utc), direction="inbound", number="",
                 caller_raw='=HYPERLINK("http://x")<b>1', amount="0", rule="default")
        add_call(s, cid, datetime(2026, 7, 11, 15, tzinfo=timezone.utc), direction="inbound", number="",
                 caller_raw="anonymous", amount="0", rule="default", billsec=0)
        s.commit()
    response = signed_in.get(f"/circuitos/{cid}/ligacoes/recebidas?mes=2026-07")
    body = response.get_data(as_text=True)
    assert "<b>1" not in body and "&lt;b&gt;1" in body
    rows = table_rows(page(response))
    assert [r[1] for r in rows] == ["Número oculto", '=HYPERLINK("http://x")<b>1']
    assert page(response).find_all("button", class_="lig-bloquear") == []  # no Bloquear for an unknown caller
    exported = read_csv(signed_in.get(f"/circuitos/{cid}/ligacoes/recebidas?mes=2026-07&formato=csv"))
    assert exported[2][1] == '\'=HYPERLINK("http://x")<b>1'  # never a formula in the spreadsheet


def test_ownership_and_flags(signed_in, portal_db) -> None:  # type: ignore[no-untyped-def]
    ids = circuit_ids(portal_db, OWN_CIRCUIT, "8011927", OTHER_CUSTOMER_CIRCUIT)
    # the customer's other circuits are listed; another customer's, an unknown one or a bad type are not
    assert signed_in.get(f"/circuitos/{ids['8011927']}/ligacoes/efetuadas?mes=2026-10").status_code == 200
    with Session(portal_db) as s:
        missing = (s.scalar(select(func.max(Circuit.id))) or 0) + 1
    for url in (f"/circuitos/{ids[OTHER_CUSTOMER_CIRCUIT]}/ligacoes/recebidas",
                f"/circuitos/{ids[OTHER_CUSTOMER_CIRCUIT]}/ligacoes/efetuadas?mes=2026-10",
                f"/circuitos/{missing}/ligacoes/recebidas", f"/circuitos/{ids[OWN_CIRCUIT]}/ligacoes/todas"):
        response = signed_in.get(url)
        assert response.status_code == 404, url
        assert "Página não encontrada" in page(response).find("main").text
    # a deactivated circuit of the customer is gone from the portal
    with Session(portal_db) as s:
        s.execute(update(Circuit).where(Circuit.number == "8011927").values(active=False))
        s.commit()
    assert signed_in.get(f"/circuitos/{ids['8011927']}/ligacoes/efetuadas").status_code == 404
    # the Faturas flag of the signed-in circuit gates the lists
    with Session(portal_db) as s:
        s.execute(update(Circuit).where(Circuit.number == OWN_CIRCUIT).values(flag_faturas=False))
        s.commit()
    assert signed_in.get(f"/circuitos/{ids[OWN_CIRCUIT]}/ligacoes/recebidas").status_code == 404


def _stub_blacklist_add(app) -> None:  # type: ignore[no-untyped-def]
    """Until the blacklist page exists, a stand-in with its contract: POST, redirect back to ``origem``."""
    from flask import redirect, request

    app.add_url_rule("/blacklist/adicionar", endpoint="portal.blacklist_add", methods=["POST"],
                     view_func=lambda: redirect(request.form["origem"]))


def test_block_button_posts_the_caller_to_the_blacklist(app, client, login, portal_db) -> None:  # type: ignore[no-untyped-def]
    if "portal.blacklist_add" not in app.view_functions:
        _stub_blacklist_add(app)
    assert login(client).status_code == 302
    cid = circuit_ids(portal_db, OWN_CIRCUIT)[OWN_CIRCUIT]
    url = f"/circuitos/{cid}/ligacoes/recebidas?mes=2026-10"
    with app.test_request_context():
        from flask import url_for

        action = url_for("portal.blacklist_add")
    doc = page(client.get(url))
    calls = sql_calls(portal_db, cid, RECEBIDAS, Cdr.bill_month == "2026-10")
    blockable = [c for c in calls if c.number_e164 and c.rule != "blacklist"]
    forms = doc.find_all("form", action=action)
    assert len(forms) == len(blockable) > 0
    for form, call in zip(forms, blockable):
        assert form.attrs["method"] == "post"
        fields = {i.attrs["name"]: i.attrs["value"] for i in form.find_all("input")}
        assert fields["csrf_token"] and fields["numero"] == call.number_e164
        assert fields["origem"] == url and fields["circuito_id"] == str(cid)
        assert form.find("button").text.startswith("Bloquear")
    # the rows already blocked have no button
    for tr in doc.find("table", class_="lig-tabela").find("tbody").find_all("tr"):
        if "Bloqueada (blacklist)" in tr.text:
            assert tr.find_all("form") == []
    # posting it lands back on the list
    fields = {i.attrs["name"]: i.attrs["value"] for i in forms[0].find_all("input")}
    posted = client.post(action, data=fields)
    assert posted.status_code == 302 and posted.headers["Location"] == url
    # placed calls have no button; nor has anyone without the Blacklist flag, or an app without the page
    assert page(client.get(f"/circuitos/{cid}/ligacoes/efetuadas?mes=2026-10")).find_all("form", action=action) == []
    with Session(portal_db) as s:
        s.execute(update(Circuit).where(Circuit.number == OWN_CIRCUIT).values(flag_blacklist=False))
        s.commit()
    assert page(client.get(url)).find_all("form", action=action) == []
    with Session(portal_db) as s:
        s.execute(update(Circuit).where(Circuit.number == OWN_CIRCUIT).values(flag_blacklist=True))
        s.commit()
    assert page(client.get(url)).find_all("form", action=action) != []
    view = app.view_functions.pop("portal.blacklist_add")
    try:
        assert page(client.get(url)).find_all("form", action=action) == []
    finally:
        app.view_functions["portal.blacklist_add"] = view
