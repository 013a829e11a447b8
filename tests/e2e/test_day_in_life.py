"""A day in the life of Painel, end to end (issue 7), on SQLite and on PostgreSQL.

The real processes (``python -m painel router``, ``cdr serve`` and ``web``, each on free
ports, with the database and ``var/`` of the test) serve the demo operator, loaded in
process with a fixed clock (its four months of traffic end in June 2026, far from the
month under test). Then, for circuit 8011441 ("SaperxTeste", DDD 98):

1. A day of calls goes through the FreeSWITCH simulator (``painel.simulate.Driver``: the
   inbound dialplan, the ``socket`` app over the real outbound Event Socket, the router's
   decision): a normal call and an unanswered one, two blacklisted callers (a number and
   the 0303 telemarketing prefix), collect calls refused (no ACB) and accepted (ACB),
   follow-me in each mode (sempre / não atende / indisponível), and the circuit's own calls
   of every category (local fixo, LDN, móvel VC1/VC2/VC3, LDI, especial, gratuita) plus
   one unanswered. The day is in the month before the current one, so it can be closed.
2. Their CDRs are POSTed as mod_json_cdr does (the Driver's sender), plus a retry of one
   already sent (a duplicate, not billed twice) and a malformed one (400, quarantined with
   its reason, kept).
3. ``painel bill close --month`` and ``painel bill pdf --month`` run as subprocesses.
4. The subscriber logs in to the portal (real HTTP, CSRF): both call lists, the Faturas
   history and the invoice PDF (text via pypdf) show every call where it belongs, with the
   totals right to the centavo against amounts computed here from the plan's tariffs (the
   demo's declared price table and the Anatel rule, cross-checked with
   ``cdr_ingest.explain``), never read back from the database. Then the subscriber blocks
   a caller on the Blacklist page and the router rejects that caller's next call within 2 s.
5. The router is killed (SIGKILL) in the middle of a burst of calls: every call still
   reaches the circuit through the dialplan's defaults. The CDR receiver is killed too:
   the sender retries, then spools to its err-log-dir; one CDR gets in on a retry once the
   receiver is back, ``painel cdr ingest`` takes the spool, and every leg is stored once.
"""
from __future__ import annotations

import asyncio
import html
import http.cookiejar
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

pytestmark = pytest.mark.slow

CIRCUIT = "8011441"
ZONE = ZoneInfo("America/Fortaleza")
DID_ACB = "5598987654321"          # ACB on; the demo's follow-me "não atende" to 0218632221234
DID_PLAIN = "559832221100"         # ACB off, no follow-me
DID_ALWAYS = "559832221102"        # routed to the circuit here: follow-me "sempre" to a local mobile
DID_UNAVAILABLE = "559832221103"   # routed to the circuit here: follow-me "indisponível" to a local fixed line
CIRCUIT_LEG = f"user/{CIRCUIT}"    # router_circuit_dial_string's default
#: the demo's traffic ends here (its months are closed and mostly paid by bill_demo)
DEMO_CLOCK = datetime(2026, 6, 15, 12, tzinfo=timezone.utc)
#: the demo plan (PADRAO): monthly fee, and the day its second version starts
MONTHLY_FEE = Decimal("37.50")
PLAN_V2_FROM = date(2026, 9, 1)
CENT = Decimal("0.01")
CATEGORY_LABEL = {"local_fixo": "Local fixo", "ldn_fixo": "LDN fixo", "movel_vc1": "Móvel local (VC1)",
                  "movel_vc2": "Móvel LDN (VC2)", "movel_vc3": "Móvel LDN (VC3)", "ldi": "Internacional (LDI)",
                  "especial": "Especial", "gratuita": "Gratuita"}
CATEGORY_ORDER = list(CATEGORY_LABEL)


# ------------------------------------------------------------------ the day's plan


@dataclass(frozen=True)
class Planned:
    """One call of the day, and everything the pages must show about it."""

    key: str
    at: str                   # local start, HH:MM
    number: str               # the caller (received calls) or the number dialed (the circuit's own calls)
    shown: str                # how the portal prints that number
    did: str | None = None    # received calls: the DID called
    collect: bool = False
    outcome: str = "answered"
    talk: int = 0
    rule: str = "outbound"    # what the router must decide ("outbound": no router, the circuit's own call)
    status: str | None = None  # Ligações recebidas: the "Situação"
    #: the leg the circuit pays for: the number rated, how it is printed, its category
    billed: str | None = None
    billed_shown: str | None = None
    category: str | None = None

    @property
    def inbound(self) -> bool:
        return self.did is not None

    @property
    def billsec(self) -> int:
        return self.talk if self.outcome == "answered" else 0


DAY: tuple[Planned, ...] = (
    Planned("normal", "08:05", "5586999990000", "(86) 99999-0000", DID_PLAIN, talk=125, rule="default",
            status="Atendida"),
    Planned("unanswered", "08:40", "5598981110003", "(98) 98111-0003", DID_PLAIN, outcome="no_answer",
            rule="default", status="Não atendida"),
    Planned("blacklisted", "09:10", "5511988887777", "(11) 98888-7777", DID_PLAIN, rule="blacklist",
            status="Bloqueada (blacklist)"),
    Planned("telemarketing", "09:30", "03033131234", "0303 313 1234", DID_ACB, rule="blacklist",
            status="Bloqueada (blacklist)"),
    Planned("collect_refused", "10:00", "5598981110001", "(98) 98111-0001", DID_PLAIN, collect=True,
            rule="collect", status="A cobrar (recusada)"),
    Planned("collect_accepted", "10:20", "5598981110002", "(98) 98111-0002", DID_ACB, collect=True, talk=95,
            rule="default", status="A cobrar (aceita)", billed="5598981110002", billed_shown="(98) 98111-0002",
            category="movel_vc1"),
    Planned("followme_no_answer", "11:00", "5521977776666", "(21) 97777-6666", DID_ACB, talk=70, rule="follow_me",
            status="Encaminhada (siga-me)", billed="0218632221234", billed_shown="(86) 3222-1234",
            category="ldn_fixo"),
    Planned("followme_always", "11:30", "5511912345678", "(11) 91234-5678", DID_ALWAYS, talk=200, rule="follow_me",
            status="Encaminhada (siga-me)", billed="981234567", billed_shown="(98) 98123-4567",
            category="movel_vc1"),
    Planned("followme_unavailable", "12:00", "5585988887777", "(85) 98888-7777", DID_UNAVAILABLE, talk=45,
            rule="follow_me", status="Encaminhada (siga-me)", billed="32221234", billed_shown="(98) 3222-1234",
            category="local_fixo"),
    Planned("local_fixo", "13:00", "32225678", "(98) 3222-5678", talk=47, billed="32225678",
            billed_shown="(98) 3222-5678", category="local_fixo"),
    Planned("ldn", "13:20", "0214132221234", "(41) 3222-1234", talk=61, billed="0214132221234",
            billed_shown="(41) 3222-1234", category="ldn_fixo"),
    Planned("vc1", "13:40", "981110099", "(98) 98111-0099", talk=29, billed="981110099",
            billed_shown="(98) 98111-0099", category="movel_vc1"),
    Planned("vc2", "14:00", "02199991234567", "(99) 99123-4567", talk=95, billed="02199991234567",
            billed_shown="(99) 99123-4567", category="movel_vc2"),
    Planned("vc3", "14:20", "02111998877665", "(11) 99887-7665", talk=310, billed="02111998877665",
            billed_shown="(11) 99887-7665", category="movel_vc3"),
    Planned("ldi", "14:40", "002112125550100", "+1 212-555-0100", talk=125, billed="002112125550100",
            billed_shown="+1 212-555-0100", category="ldi"),
    Planned("especial", "15:00", "03003131234", "0300 313 1234", talk=64, billed="03003131234",
            billed_shown="0300 313 1234", category="especial"),
    Planned("gratuita", "15:20", "08007271234", "0800 727 1234", talk=180, billed="08007271234",
            billed_shown="0800 727 1234", category="gratuita"),
    Planned("outbound_unanswered", "15:40", "32229999", "(98) 3222-9999", outcome="no_answer", billed="32229999",
            billed_shown="(98) 3222-9999", category="local_fixo"),
)


def brl(amount: Decimal) -> str:
    """R$ 1.234,56 (written here, not imported: the pages are checked against it)."""
    units, cents = f"{amount.quantize(CENT, rounding=ROUND_HALF_UP):.2f}".split(".")
    groups = []
    while len(units) > 3:
        groups.insert(0, units[-3:])
        units = units[:-3]
    return f"R$ {'.'.join([units, *groups])},{cents}"


def duration(seconds: int) -> str:
    m, s = divmod(seconds, 60)
    return f"{m}:{s:02d}"


def minutes(seconds: int) -> str:
    return f"{Decimal(seconds) / 60:.2f}".replace(".", ",")


def anatel_price(seconds: int, category: str, day: date) -> tuple[int, Decimal]:
    """(billable seconds, amount) by the demo plan's declared price table and the Anatel rule:
    30 s minimum, then 6 s increments, no grace; connection fee plus price per minute, half up."""
    from painel.demo import PLAN_V1, PLAN_V2

    if seconds <= 0 or category == "gratuita":
        return 0, Decimal("0.00")
    per_minute, fee = (PLAN_V2 if day >= PLAN_V2_FROM else PLAN_V1)[category]
    billable = 30 if seconds <= 30 else 30 + -(-(seconds - 30) // 6) * 6
    amount = (Decimal(fee) + Decimal(per_minute) * billable / 60).quantize(CENT, rounding=ROUND_HALF_UP)
    return billable, amount


@dataclass(frozen=True)
class Expected:
    """A planned call with the time and price it must show."""

    plan: Planned
    when: str            # dd/mm/aaaa HH:MM, local
    start_epoch: int
    billable: int
    amount: Decimal      # what the circuit pays (0 for received calls other than an accepted collect call)


def expected_day(engine, day: date) -> list[Expected]:  # type: ignore[no-untyped-def]
    """Start times and prices of the day; each price is checked against ``cdr_ingest.explain``."""
    from cdr_ingest.explain import explain

    out = []
    with Session(engine) as session:
        for p in DAY:
            hh, mm = (int(x) for x in p.at.split(":"))
            local = datetime(day.year, day.month, day.day, hh, mm, tzinfo=ZONE)
            billable, amount = 0, Decimal("0.00")
            if p.category is not None:
                billable, amount = anatel_price(p.billsec, p.category, day)
                explained = explain(session, CIRCUIT, p.billed, p.billsec, local.replace(tzinfo=None))
                assert explained.category.value == p.category, (p.key, explained.text())
                assert (explained.rated.billable_seconds, explained.rated.amount) == (billable, amount), \
                    (p.key, explained.text())
            out.append(Expected(p, local.strftime("%d/%m/%Y %H:%M"), int(local.timestamp()), billable, amount))
    return out


# ------------------------------------------------------------------ processes, HTTP, parsing


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], object], timeout: float, what: str, interval: float = 0.05) -> object:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except OSError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout} s (last: {last!r})")


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()


class Service:
    """``python -m painel <args>`` in a session of its own, its output in a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.name, self.args, self.env, self.cwd = name, args, env, cwd
        self.log = cwd / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "painel", *self.args], env=self.env, cwd=self.cwd,
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        """SIGKILL, as the kernel's OOM killer or a crash would end it."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        try:  # whatever it left behind (gunicorn's workers)
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        if proc.poll() is None:
            proc.wait(timeout=10)


class Stack:
    """The router, the CDR receiver and the portal as ``painel run`` starts them, on free ports."""

    def __init__(self, db_url: str, var_dir: Path, workdir: Path) -> None:
        self.ports = {name: free_port() for name in ("router", "metrics", "cdr", "web")}
        self.workdir = workdir
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PAINEL_")}
        self.env.update({"PAINEL_DATABASE_URL": db_url, "PAINEL_VAR_DIR": str(var_dir), "PAINEL_LOG_LEVEL": "INFO",
                         "PYTHONUNBUFFERED": "1"})
        self.services: dict[str, Service] = {}
        self.cdr_url = f"http://127.0.0.1:{self.ports['cdr']}/cdr"
        self.web_url = f"http://127.0.0.1:{self.ports['web']}"

    def start(self) -> None:
        p = self.ports
        self.services["router"] = Service("router", ["router", "--listen", f"127.0.0.1:{p['router']}",
                                                     "--metrics", f"127.0.0.1:{p['metrics']}"], self.env, self.workdir)
        self.services["cdr"] = Service("cdr", ["cdr", "serve", "--listen", f"127.0.0.1:{p['cdr']}"], self.env,
                                       self.workdir)
        self.services["web"] = Service("web", ["web", "--listen", f"127.0.0.1:{p['web']}", "--workers", "1",
                                               "--threads", "4"], self.env, self.workdir)
        self.wait_router()
        self.wait_cdr()
        self.wait_service("web", lambda: http_get(f"{self.web_url}/entrar")[0] == 200)

    def wait_service(self, name: str, check: Callable[[], bool], timeout: float = 40) -> None:
        service = self.services[name]

        def up() -> bool:
            assert service.proc is not None
            if service.proc.poll() is not None:
                raise AssertionError(f"{name} exited {service.proc.returncode}:\n{service.output()[-3000:]}")
            return check()

        wait_until(up, timeout, f"the {name} service")

    def wait_router(self) -> None:
        self.wait_service("router", lambda: http_get(f"http://127.0.0.1:{self.ports['metrics']}/metrics")[0] == 200)

    def wait_cdr(self) -> None:
        self.wait_service("cdr", lambda: http_get(self.cdr_url.replace("/cdr", "/health"))[0] == 200)

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-m", "painel", *args], env=self.env, cwd=self.workdir,
                                capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, f"painel {' '.join(args)}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
        return result

    def stop(self) -> None:
        for service in self.services.values():
            service.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{s.output()[-4000:]}" for name, s in self.services.items())


class Portal:
    """A browser without JavaScript: cookies, redirects, the forms' CSRF tokens."""

    _CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def request(self, path: str, data: dict[str, str] | None = None) -> tuple[int, str, bytes]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(self.base + path, data=body, timeout=30) as response:
                return response.status, response.geturl(), response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.geturl(), exc.read()

    def page(self, path: str) -> str:
        status, _, body = self.request(path)
        assert status == 200, (path, status, body[:500])
        return body.decode("utf-8")

    def csrf(self, page: str) -> str:
        found = self._CSRF.search(page)
        assert found, "the page has a form with a CSRF token"
        return html.unescape(found.group(1))

    def login(self, user: str, password: str) -> str:
        token = self.csrf(self.page("/entrar"))
        status, url, body = self.request("/entrar", {"usuario": user, "senha": password, "csrf_token": token})
        assert status == 200 and urllib.parse.urlparse(url).path == "/", (status, url, body[:500])
        return body.decode("utf-8")


def text_of(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", fragment)).split())


def table_rows(page: str, table_class: str) -> list[list[str]]:
    found = re.search(rf'<table class="{table_class}">(.*?)</table>', page, re.S)
    if not found:
        return []
    body = found.group(1).split("<tbody>", 1)[-1]
    return [[text_of(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


def by_id(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', page, re.S)
    assert found, f"no #{element_id} in the page"
    return text_of(found.group(1))


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    return text.replace("\u00a0", " ")


def pdf_calls(text: str) -> list[tuple[str, ...]]:
    """The itemized calls of an invoice PDF: each chunk of the table is extracted column by column."""
    lines = [line.strip() for line in text.splitlines()]
    header = ["Data e hora", "Tipo", "Número", "Categoria", "Duração", "Valor"]
    rows: list[tuple[str, ...]] = []
    i = 0
    while i < len(lines):
        if lines[i:i + 6] == header:
            i += 6
            cells = []
            while i < len(lines) and lines[i] and lines[i:i + 6] != header and "ligação(ões) tarifada(s)" not in lines[i] \
                    and not lines[i].startswith("Operadora Painel Telecom"):
                cells.append(lines[i])
                i += 1
            assert len(cells) % 6 == 0, cells
            n = len(cells) // 6
            rows += list(zip(*(cells[k * n:(k + 1) * n] for k in range(6))))
        else:
            i += 1
    return rows


def pdf_lines(text: str) -> list[tuple[str, ...]]:
    """The invoice's summary lines (description, calls, minutes, amount) and its total."""
    lines = [line.strip() for line in text.splitlines()]
    start = lines.index("Resumo da fatura") + 5  # the table's four headers follow the title
    out: list[tuple[str, ...]] = []
    i = start
    while not lines[i].startswith("Total da fatura"):
        if lines[i] == "Mensalidade do plano":
            out.append((lines[i], lines[i + 1]))
            i += 2
        else:
            out.append(tuple(lines[i:i + 4]))
            i += 4
    out.append(("Total da fatura", lines[i + 1]))
    return out


# ------------------------------------------------------------------ fixtures


@pytest.fixture
def stack(db_url, settings, tmp_path) -> Iterator[Stack]:  # type: ignore[no-untyped-def]
    s = Stack(db_url, Path(settings.var_dir), tmp_path)
    try:
        yield s
    finally:
        s.stop()


def previous_month(now: datetime) -> tuple[str, date]:
    """The month before the current one in the circuit's zone (closable), and the day of the test in it."""
    local = now.astimezone(ZONE)
    first = date(local.year, local.month, 1) - timedelta(days=1)
    return f"{first.year:04d}-{first.month:02d}", date(first.year, first.month, 14)


def load_operator(engine, settings) -> None:  # type: ignore[no-untyped-def]
    """The demo (fixed clock), and two more DIDs of 8011441 for the other follow-me modes."""
    from painel.demo import bill_demo, run_demo
    from painel.dids import assign_did
    from painel.routing import did_by_number, followme_set

    run_demo(settings, engine, now=DEMO_CLOCK, calls_per_day=1.0)
    bill_demo(settings.replace(pdf_workers=1), engine, now=DEMO_CLOCK, pdfs=False)
    with Session(engine) as session:
        for did in (DID_ALWAYS, DID_UNAVAILABLE):
            assign_did(session, did, CIRCUIT, actor=("cli", "e2e"))
        followme_set(session, did_by_number(session, DID_ALWAYS), "981234567", "always")
        followme_set(session, did_by_number(session, DID_UNAVAILABLE), "32221234", "unavailable")
        session.commit()


# ------------------------------------------------------------------ the test


def test_a_day_in_the_life(stack: Stack, engine, settings, db_url) -> None:  # type: ignore[no-untyped-def]
    from cdr_ingest.synth import json_cdr
    from painel.demo import DEMO_CUSTOMERS, DEMO_PASSWORD
    from painel.models import Cdr, Circuit, Invoice, QuarantinedCdr
    from painel.simulate import Driver

    t0 = time.monotonic()
    load_operator(engine, settings)
    month, day = previous_month(datetime.now(timezone.utc))
    expected = expected_day(engine, day)
    stack.start()
    spool = Path(settings.var_dir) / "freeswitch" / "json_cdr_err"

    def driver(**kw) -> Driver:  # type: ignore[no-untyped-def]
        return Driver(engine, settings, ("127.0.0.1", stack.ports["router"]), stack.cdr_url, spool_dir=spool, **kw)

    sender = driver(post_retries=3, post_delay=0.2)
    try:
        # ---------------------------------------------------------------- 1. the day's calls
        async def place_day():  # type: ignore[no-untyped-def]
            placed = {}
            for e in expected:
                p = e.plan
                seed = f"e2e-day:{month}:{p.key}"
                if p.inbound:
                    placed[p.key] = await sender.inbound_call(CIRCUIT, p.did, p.number, collect=p.collect,
                                                              outcome=p.outcome, talk=p.talk,
                                                              start_epoch=e.start_epoch, seed=seed)
                else:
                    placed[p.key] = sender.outbound_call(CIRCUIT, p.number, outcome=p.outcome, talk=p.talk,
                                                         start_epoch=e.start_epoch, seed=seed)
            return placed

        placed = asyncio.run(place_day())
        for e in expected:
            got = placed[e.plan.key]
            assert got.rule == e.plan.rule, (e.plan.key, got.rule, got.result and got.result.variables)
            assert got.call is not None
            if got.result is not None:
                assert got.result.error is None and not got.result.refused, (e.plan.key, got.result.error)
        v = placed["collect_accepted"].result.variables
        assert (v["painel_direction"], v["painel_action"]) == ("collect", "bridge")
        assert placed["collect_refused"].result.variables["painel_hangup_cause"] == "CALL_REJECTED"
        fm = {k: placed[k].result.variables for k in ("followme_no_answer", "followme_always", "followme_unavailable")}
        assert fm["followme_no_answer"]["painel_bridge"].startswith(f"[leg_timeout=20]{CIRCUIT_LEG}|")
        assert fm["followme_always"]["painel_bridge"].endswith("sofia/gateway/carrier/981234567")
        assert fm["followme_unavailable"]["painel_bridge"] == CIRCUIT_LEG
        assert fm["followme_unavailable"]["painel_forward"].endswith("sofia/gateway/carrier/32221234")

        # ---------------------------------------------------------------- 2. their CDRs, as mod_json_cdr posts them
        legs = [leg for key in placed for leg in placed[key].call.legs]

        async def post_day() -> None:
            await asyncio.gather(*(sender.post_call(placed[key].call) for key in placed))

        asyncio.run(post_day())
        assert (sender.stats.posted, sender.stats.spooled) == (len(legs), 0)
        # the switch did not hear the answer and sends a billed leg again: a duplicate, not billed twice
        again = placed["collect_accepted"].call.a
        doc = json_cdr(again, switch_tz=settings.switch_timezone)
        status, body = sender.post_document(again.uuid, doc)
        assert (status, json.loads(body)) == (200, {"uuid": again.uuid, "resultado": "duplicado"})
        # a malformed document: refused with its reason, kept in quarantine (once, however often it comes)
        broken = '{"core-uuid": "e2e", "variables": {"uuid": "e2e-truncado", "painel_circuit": "8011441"'
        for _ in range(2):
            status, body = sender.post_document("e2e-truncado", broken)
            assert status == 400 and json.loads(body)["resultado"] == "quarentena", body
        reason = json.loads(body)["erro"]
        with Session(engine) as session:
            rows = {q.raw: (q.reason, q.detail) for q in session.scalars(select(QuarantinedCdr))}
            stored = dict(session.execute(select(Cdr.uuid, func.count()).where(Cdr.uuid.in_([x.uuid for x in legs]))
                                          .group_by(Cdr.uuid)).all())
        assert rows == {broken: ("malformed", reason)}
        assert stored == {leg.uuid: 1 for leg in legs}

        # ---------------------------------------------------------------- 3. the month closes, the PDFs are rendered
        circuits = [c for _, _, _, cs in DEMO_CUSTOMERS for c in cs]
        billed = [e for e in expected if e.plan.category is not None and e.plan.billsec > 0]
        total = sum((e.amount for e in billed), Decimal("0.00")) + MONTHLY_FEE
        others = MONTHLY_FEE * (len(circuits) - 1)  # the demo's other circuits: only the fee this month
        closed = stack.cli("bill", "close", "--month", month)
        assert closed.stdout.strip().splitlines()[-1] == (
            f"closed={len(circuits)} already_closed=0 failed=0 empty=0 total={total + others:.2f}"), closed.stdout
        assert "1 CDR(s) em quarentena sem solução" in closed.stderr  # the malformed one is reported, not lost
        pdfs = stack.cli("bill", "pdf", "--month", month, "--workers", "2")
        assert pdfs.stdout.strip().splitlines()[-1] == f"rendered={len(circuits)} current=0 failed=0", pdfs.stdout

        # ---------------------------------------------------------------- 4. the subscriber's portal
        portal = Portal(stack.web_url)
        home = portal.login(CIRCUIT, DEMO_PASSWORD)
        assert "RESIDÊNCIA DO SR MARCOS ALBUQUERQUE" in home
        with Session(engine) as session:
            circuit_id = session.scalar(select(Circuit.id).where(Circuit.number == CIRCUIT))
            invoice_id = session.scalar(select(Invoice.id).where(Invoice.circuit_id == circuit_id,
                                                                 Invoice.month == month))

        # Ligações recebidas: every received call with what became of it; only the accepted collect call costs
        received = [e for e in expected if e.plan.inbound]
        page = portal.page(f"/circuitos/{circuit_id}/ligacoes/recebidas?mes={month}")
        rows = sorted((r[0][:16], *r[1:6]) for r in table_rows(page, "lig-tabela"))
        assert rows == sorted((e.when, e.plan.shown, did_shown(e.plan.did), e.plan.status,
                               duration(e.plan.billsec), brl(e.amount if e.plan.collect else Decimal(0)))
                              for e in received)
        assert by_id(page, "total-ligacoes") == str(len(received))
        assert by_id(page, "total-atendidas") == str(sum(e.plan.billsec > 0 for e in received))
        assert by_id(page, "total-bloqueadas") == "2"
        assert by_id(page, "total-valor") == brl(expected_of(expected, "collect_accepted").amount)

        # Ligações efetuadas: the circuit's own calls and the follow-me legs, each with its price
        placed_out = [e for e in expected if e.plan.category is not None and not e.plan.collect]
        page = portal.page(f"/circuitos/{circuit_id}/ligacoes/efetuadas?mes={month}")
        rows = sorted((r[0][:16], *r[1:6]) for r in table_rows(page, "lig-tabela"))
        assert rows == sorted((e.when, e.plan.billed_shown, kind(e), CATEGORY_LABEL[e.plan.category],
                               duration(e.plan.billsec), brl(e.amount)) for e in placed_out)
        assert by_id(page, "total-ligacoes") == str(len(placed_out))
        assert by_id(page, "total-minutos") == minutes(sum(e.billable for e in placed_out))
        assert by_id(page, "total-valor") == brl(sum((e.amount for e in placed_out), Decimal(0)))

        # Faturas: the month in the history (this circuit's invoice and the customer's month), as Última Fatura
        page = portal.page(f"/?ano={month[:4]}")
        row = re.search(rf'<tr id="mes-{month}">(.*?)</tr>', page, re.S)
        assert row, f"the month {month} is not in the history"
        own_customer = next(cs for _, _, _, cs in DEMO_CUSTOMERS if any(c.number == CIRCUIT for c in cs))
        month_total = total + MONTHLY_FEE * (len(own_customer) - 1)
        assert f"Total: {brl(month_total)}" in text_of(row.group(1))
        assert f"8011441 - SaperxTeste: {brl(total)} Em aberto: falta {brl(total)}" in text_of(row.group(1))
        assert f'href="/faturas/{invoice_id}.pdf"' in row.group(1)
        assert by_id(page, "ultima-fatura") == brl(month_total)

        # the invoice PDF, downloaded from the portal: lines, total and every billed call
        status, _, data = portal.request(f"/faturas/{invoice_id}.pdf")
        assert status == 200 and data.startswith(b"%PDF"), status
        rendered = list((Path(settings.var_dir) / "faturas" / month).glob(f"fatura-{CIRCUIT}-{month}-*.pdf"))
        assert [p.read_bytes() for p in rendered] == [data]  # the file `bill pdf` wrote, served as is
        text = pdf_text(data)
        assert f"Mês de referência: {month[5:]}/{month[:4]}" in text
        by_category: dict[str, list[Expected]] = {}
        for e in billed:
            by_category.setdefault(e.plan.category, []).append(e)
        lines = [(CATEGORY_LABEL[c], str(len(es)), minutes(sum(e.billable for e in es)),
                  brl(sum((e.amount for e in es), Decimal(0))))
                 for c, es in sorted(by_category.items(), key=lambda kv: CATEGORY_ORDER.index(kv[0]))]
        assert pdf_lines(text) == [*lines, ("Mensalidade do plano", brl(MONTHLY_FEE)), ("Total da fatura", brl(total))]
        assert pdf_calls(text) == sorted((e.when, kind(e, pdf=True), e.plan.billed_shown, CATEGORY_LABEL[e.plan.category],
                                          duration(e.plan.billsec), brl(e.amount)) for e in billed)
        assert f"{len(billed)} ligação(ões) tarifada(s)" in text

        # the subscriber blocks a caller; the router refuses that caller's next call within 2 s
        caller = expected_of(expected, "normal").plan
        token = portal.csrf(portal.page("/blacklist"))
        status, url, body = portal.request("/blacklist/adicionar", {"csrf_token": token, "numero": caller.shown,
                                                                    "observacao": "ligações insistentes"})
        changed = time.monotonic()
        assert status == 200 and f"Bloqueado: {caller.shown} (circuito {CIRCUIT})" in body.decode(), body[:500]
        probe = driver()
        while True:
            result = asyncio.run(probe.inbound_call(CIRCUIT, DID_PLAIN, caller.number, outcome="answered", talk=5))
            elapsed = time.monotonic() - changed
            if result.rule == "blacklist":
                break
            assert result.rule == "default", result.rule
            assert elapsed < 2.0, "the blacklist change took more than 2 s to reach the router"
            time.sleep(0.05)
        assert elapsed < 2.0
        assert result.result.variables["painel_hangup_cause"] == "CALL_REJECTED"

        # ---------------------------------------------------------------- 5. failures: router and receiver killed
        burst = driver()
        burst.sim.reply_delay = 0.02  # a slow switch: several sessions are half-way when the router dies

        async def traffic() -> list:
            tasks = []
            for i in range(60):
                if i == 25:
                    stack.services["router"].kill()  # mid-traffic: calls in every stage of their session
                tasks.append(asyncio.ensure_future(burst.inbound_call(
                    CIRCUIT, DID_PLAIN, f"55989811101{i:02d}", talk=30 + i, seed=f"e2e-burst:{i}")))
                await asyncio.sleep(0.01)
            return await asyncio.gather(*tasks)

        calls = asyncio.run(traffic())
        decided = [c for c in calls if c.rule == "default" and c.result.error is None]
        cut = [c for c in calls if not c.result.refused and c not in decided]  # the router died during the session
        refused = [c for c in calls if c.result.refused]
        assert decided and cut and refused and len(decided) + len(cut) + len(refused) == len(calls), \
            [(c.rule, c.result.refused, c.result.error) for c in calls]
        for c in calls:  # decided or not, every call goes to the circuit's phone
            v = c.result.variables
            assert (v["painel_action"], v["painel_bridge"], v["painel_circuit"]) == ("bridge", CIRCUIT_LEG, CIRCUIT)
        stack.services["cdr"].kill()
        burst_legs = [leg for c in calls for leg in c.call.legs]
        offline = driver(post_retries=2, post_delay=0.1)
        late_sender = driver(post_retries=60, post_delay=0.25)

        async def deliver() -> None:
            first, rest = calls[0], calls[1:]
            retrying = asyncio.ensure_future(late_sender.post_call(first.call))  # keeps retrying
            await asyncio.gather(*(offline.post_call(c.call) for c in rest))  # retries exhausted: spooled
            stack.services["cdr"].start()  # the receiver comes back while the first sender still retries
            await retrying

        asyncio.run(deliver())
        spooled = sorted(p.name for p in spool.iterdir())
        assert (offline.stats.posted, offline.stats.spooled) == (0, len(burst_legs) - len(calls[0].call.legs))
        assert (late_sender.stats.posted, late_sender.stats.spooled) == (len(calls[0].call.legs), 0)
        assert len(spooled) == offline.stats.spooled
        ingested = stack.cli("cdr", "ingest", str(spool))
        assert ingested.stdout.strip().splitlines()[-1] == f"rated={len(spooled)} duplicate=0 quarantined=0"
        again = stack.cli("cdr", "ingest", str(spool))  # the spool read twice: nothing is stored twice
        assert again.stdout.strip().splitlines()[-1] == f"rated=0 duplicate={len(spooled)} quarantined=0"
        with Session(engine) as session:
            counts = dict(session.execute(
                select(Cdr.uuid, func.count()).where(Cdr.uuid.in_([x.uuid for x in burst_legs + legs]))
                .group_by(Cdr.uuid)).all())
            fallback_rows = session.scalar(select(func.count()).select_from(Cdr).where(
                Cdr.uuid.in_([c.call.a.uuid for c in calls]), Cdr.circuit_id == circuit_id,
                Cdr.direction == "inbound", Cdr.role == "call"))
        assert counts == {leg.uuid: 1 for leg in burst_legs + legs}  # none lost, none twice
        assert fallback_rows == len(calls)
        # and the subscriber sees them, answered, in this month's received calls
        today = datetime.now(ZONE).date()
        page = portal.page(f"/circuitos/{circuit_id}/ligacoes/recebidas?de={today - timedelta(days=1)}&ate={today}")
        assert by_id(page, "total-ligacoes") == str(len(calls))
        assert by_id(page, "total-atendidas") == str(len(calls))
        print(f"day in the life on {db_url.split(':')[0]}: {time.monotonic() - t0:.1f} s; blacklist change reached "
              f"the router in {elapsed:.2f} s; router killed: {len(decided)} calls decided, {len(cut)} cut, "
              f"{len(refused)} refused, all bridged to the circuit")
    except BaseException:
        print(stack.logs())
        raise


def did_shown(did: str | None) -> str:
    """(98) 98765-4321 / (98) 3222-1100."""
    assert did is not None and did.startswith("55")
    nsn = did[2:]
    return f"({nsn[:2]}) {nsn[2:-4]}-{nsn[-4:]}"


def kind(e: Expected, pdf: bool = False) -> str:
    """The "Tipo" the lists (and the PDF) print for a call the circuit pays for."""
    if e.plan.collect:
        return "A cobrar"
    label = "Siga-me" if e.plan.inbound else "Efetuada"
    return label if pdf or e.plan.billsec > 0 else f"{label} (não atendida)"


def expected_of(expected: list[Expected], key: str) -> Expected:
    return next(e for e in expected if e.plan.key == key)
