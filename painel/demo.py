"""``painel demo``: a demo operator modelled on the seed page, with months of real-looking CDRs.

The traffic is written as FreeSWITCH itself writes it (mod_json_cdr documents for the
current month, a rotated mod_cdr_csv Master.csv per past month, with the painel
template of fs-config) and then ingested through the same pipeline production uses.
Everything is deterministic per day, so running it again adds nothing twice.
"""
from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from painel.clikit import AppContext, pass_app
from painel.models import (
    AdminUser, BlacklistEntry, Circuit, Customer, Did, Holiday, RatePlan, RatePlanVersion, Tariff,
)
from painel.rating import national_holidays
from painel.settings import Settings

log = logging.getLogger("painel.demo")

#: the web password of every demo circuit (shown by the README's run command)
DEMO_PASSWORD = "painel-demo"
#: the demo's staff accounts for the admin pages (/admin/entrar), with the same password
DEMO_ADMINS = (("admin", "admin"), ("suporte", "support"))

PLAN_V1 = {  # category: (price per minute, connection fee)
    "local_fixo": ("0.10", "0"),
    "ldn_fixo": ("0.25", "0"),
    "movel_vc1": ("0.45", "0"),
    "movel_vc2": ("0.75", "0"),
    "movel_vc3": ("0.85", "0"),
    "ldi": ("1.50", "0.10"),
    "especial": ("0.30", "0"),
    "gratuita": ("0", "0"),
}
PLAN_V2 = {**PLAN_V1, "movel_vc1": ("0.39", "0"), "movel_vc2": ("0.69", "0"), "movel_vc3": ("0.79", "0")}


@dataclass(frozen=True)
class DemoCircuit:
    number: str
    name: str
    ddd: str
    tz: str
    dids: tuple[str, ...]
    followme: str | None = None
    #: accepts collect calls on its first DID
    acb: bool = False

    def spec(self) -> dict:
        """The circuit as the traffic generator sees it (cdr_ingest.synth)."""
        from cdr_ingest.synth import traffic_profile

        spec = {"number": self.number, "home_ddd": self.ddd, "dids": list(self.dids),
                "followme_destination": self.followme, "acb": self.acb}
        # one blacklist for every day's traffic (the generator is seeded per day)
        spec["blacklist"] = (["5511988887777"] if self.number == "8011441"  # the lab's blacklisted caller
                             else list(traffic_profile(spec, seed=1).blacklist))
        return spec


DEMO_CUSTOMERS = [
    ("RESIDÊNCIA DO SR MARCOS ALBUQUERQUE", "529982247", "marcos.albuquerque@example.com.br", [
        DemoCircuit("8011441", "SaperxTeste", "98", "America/Fortaleza", ("5598987654321", "559832221100"),
                    followme="0218632221234", acb=True),
        DemoCircuit("8010348", "TESTE CPP", "98", "America/Fortaleza", ("559832221101",)),
        DemoCircuit("8011927", "SINDICATO DOS PROF E AUX DA ADM ESC DO ESTADO DO PIAUI", "86",
                    "America/Fortaleza", ("558632215500", "558632215501")),
    ]),
    ("PSICOMED LTDA", "112223330001", "financeiro@psicomed.example.com.br", [
        DemoCircuit("8012442", "PSICOMED LTDA", "86", "America/Fortaleza", ("558633047700",), acb=True),
    ]),
    ("HK DISTRIBUIDORA DE MARMORES E GRANITOS LTDA", "457821930001", "contato@hkmarmores.example.com.br", [
        DemoCircuit("8011880", "HK DISTRIBUIDORA DE MARMORES E GRANITOS LTDA", "85", "America/Fortaleza",
                    ("558532248800",)),
        DemoCircuit("8011959", "FLÁVIO JOSÉ LIMA FEITOSA", "85", "America/Fortaleza", ("558532248801",)),
    ]),
]


def ensure_plan(session: Session) -> RatePlan:
    plan = session.scalar(select(RatePlan).where(RatePlan.code == "PADRAO"))
    if plan is None:
        plan = RatePlan(code="PADRAO", name="Plano Padrão Empresarial")
        session.add(plan)
        session.flush()
    existing = {v.version for v in plan.versions}
    for version, valid_from, prices in ((1, date(2025, 1, 1), PLAN_V1), (2, date(2026, 9, 1), PLAN_V2)):
        if version in existing:
            continue
        v = RatePlanVersion(plan_id=plan.id, version=version, valid_from=valid_from,
                            monthly_fee=Decimal("37.50"), note="demo")
        for cat, (ppm, fee) in prices.items():
            v.tariffs.append(Tariff(category=cat, price_per_minute=Decimal(ppm), connection_fee=Decimal(fee)))
        session.add(v)
    session.flush()
    return plan


def ensure_holidays(session: Session, years: range) -> None:
    have = set(session.scalars(select(Holiday.day)))
    for day, name in sorted(national_holidays(years).items()):
        if day not in have:
            session.add(Holiday(day=day, name=name))


def ensure_operator(session: Session) -> list[DemoCircuit]:
    """Customers, circuits, DIDs, the plan and the staff accounts of the demo operator (idempotent)."""
    from werkzeug.security import generate_password_hash

    from painel.documents import make_cnpj, make_cpf
    from painel.numbering import normalize
    from painel.routing import bump_rules_version

    plan = ensure_plan(session)
    ensure_holidays(session, range(2024, 2029))
    circuits: list[DemoCircuit] = []
    password_hash = None
    for name, base_doc, email, demo_circuits in DEMO_CUSTOMERS:
        document = make_cpf(base_doc) if len(base_doc) == 9 else make_cnpj(base_doc)
        customer = session.scalar(select(Customer).where(Customer.document == document))
        if customer is None:
            customer = Customer(name=name, document=document, email=email)
            session.add(customer)
            session.flush()
        for dc in demo_circuits:
            circuits.append(dc)
            circuit = session.scalar(select(Circuit).where(Circuit.number == dc.number))
            if circuit is None:
                password_hash = password_hash or generate_password_hash(DEMO_PASSWORD)
                circuit = Circuit(
                    number=dc.number, customer_id=customer.id, name=dc.name, home_ddd=dc.ddd,
                    timezone=dc.tz, rate_plan_id=plan.id, web_password_hash=password_hash,
                    outbound_rules=json.dumps(["local", "ldn", "movel", "ldi", "especial", "gratuita"]),
                    outbound_caller_id="+" + dc.dids[0],
                    **{f"flag_{f}": True for f in ("web", "faturas", "grafico", "blacklist", "sigame", "acb",
                                                   "perfil", "tabela", "mensagem", "resposta")},
                )
                session.add(circuit)
                session.flush()
            for i, did in enumerate(dc.dids):
                if session.scalar(select(Did).where(Did.e164 == "+" + did)) is None:
                    session.add(Did(
                        e164="+" + did, raw=did, circuit_id=circuit.id,
                        followme_enabled=bool(dc.followme and i == 0),
                        followme_destination_raw=dc.followme if i == 0 else None,
                        followme_destination=normalize(dc.followme, dc.ddd).e164 if dc.followme and i == 0 else None,
                        followme_mode="no_answer", followme_timeout=20, acb_enabled=dc.acb and i == 0,
                    ))
            if not session.scalar(select(BlacklistEntry).where(BlacklistEntry.circuit_id == circuit.id)):
                # the callers the generated traffic shows as blocked are this circuit's blacklist
                for number in dc.spec()["blacklist"]:
                    session.add(BlacklistEntry(circuit_id=circuit.id, number=number, raw=number,
                                               note="ligações insistentes"))
                if dc.number == "8011441":
                    session.add(BlacklistEntry(circuit_id=circuit.id, number="0303", raw="0303", is_prefix=True,
                                               note="telemarketing"))
    for username, role in DEMO_ADMINS:
        if session.scalar(select(AdminUser).where(AdminUser.username == username)) is None:
            password_hash = password_hash or generate_password_hash(DEMO_PASSWORD)
            session.add(AdminUser(username=username, password_hash=password_hash, role=role, active=True))
    bump_rules_version(session)
    session.flush()
    return circuits


def demo_period(now: datetime) -> tuple[date, date]:
    """The three months before the current one, and the current month to date."""
    first_this = date(now.year, now.month, 1)
    y, m = now.year, now.month - 3
    while m < 1:
        m += 12
        y -= 1
    return date(y, m, 1), first_this


def write_traffic(circuits: list[DemoCircuit], out_dir: Path, now: datetime, *,
                  calls_per_day: float = 5.0) -> tuple[list[Path], int]:
    """Write the demo's CDR files as FreeSWITCH would; returns the files and the call count."""
    from cdr_ingest.synth import csv_line, generate_traffic, json_cdr
    from cdr_ingest.templates import DEFAULT_CDR_CSV_CONF, load_csv_templates

    fields = load_csv_templates(DEFAULT_CDR_CSV_CONF)["painel"]
    start, first_this = demo_period(now)
    specs = [c.spec() for c in circuits]
    json_dir = out_dir / "json_cdr"
    csv_dir = out_dir / "cdr-csv"
    json_dir.mkdir(parents=True, exist_ok=True)
    csv_dir.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    csv_lines: dict[str, list[str]] = {}
    calls = 0
    day = start
    end_day = now.date()
    while day <= end_day:
        day_start = datetime.combine(day, time(0), tzinfo=timezone.utc)
        seed = int(day.strftime("%Y%m%d"))
        for call in generate_traffic(specs, day_start, day_start + timedelta(days=1), seed=seed,
                                     calls_per_circuit_per_day=calls_per_day):
            if call.a.end_epoch > now.timestamp():
                continue
            calls += 1
            legs = [call.a] + ([call.b] if call.b is not None else [])
            if day >= first_this:
                for leg in legs:
                    name = f"a_{leg.uuid}.cdr.json" if leg.leg == "a" else f"{leg.uuid}.cdr.json"
                    path = json_dir / name
                    if not path.exists():
                        path.write_text(json_cdr(leg), encoding="utf-8")
                    files.append(path)
            else:
                month = f"{day:%Y-%m}"
                # FreeSWITCH writes the b-leg first when both legs hang up together
                for leg in reversed(legs):
                    csv_lines.setdefault(month, []).append(csv_line(leg, fields))
        day += timedelta(days=1)
    for month, lines in sorted(csv_lines.items()):
        path = csv_dir / f"Master.csv.{month}"
        text = "\n".join(lines) + "\n"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        files.append(path)
    return files, calls


def run_demo(settings: Settings, engine, *, now: datetime | None = None, progress: bool = False,  # type: ignore[no-untyped-def]
             calls_per_day: float = 5.0) -> dict:
    from cdr_ingest.pipeline import Ingester
    from painel.db import upgrade

    now = now or datetime.now(timezone.utc)
    upgrade(settings.database_url)
    with Session(engine) as session:
        circuits = ensure_operator(session)
        session.commit()
    out_dir = Path(settings.var_dir) / "demo" / "freeswitch"
    files, calls = write_traffic(circuits, out_dir, now, calls_per_day=calls_per_day)
    ingester = Ingester(engine, settings)
    if progress:
        total = sum(p.stat().st_size for p in files)
        with click.progressbar(length=total, label="ingerindo CDRs de demonstração", file=sys.stderr) as bar:
            stats = ingester.ingest_paths(files, progress=bar.update)
    else:
        stats = ingester.ingest_paths(files)
    return {"circuits": len(circuits), "calls": calls, "files": len(files), "stats": stats, "cdr_dir": out_dir}


def bill_demo(settings: Settings, engine, *, now: datetime | None = None,  # type: ignore[no-untyped-def]
              progress: bool = False, pdfs: bool = True) -> dict:
    """Close the demo's finished months, pay most of their invoices and render the PDFs (idempotent).

    Every invoice is paid two days before it is due, by a deterministic bank reference
    (so a re-run pays nothing twice), except those of the last closed month: one is
    left unpaid and one partly paid, so the portal shows an "Última Fatura" to pay.
    """
    from billing.close import close_month, previous_month
    from billing.payments import apply_payment, invoice_balance
    from billing.pdf import render_month
    from painel.models import Cdr, Invoice

    now = now or datetime.now(timezone.utc)
    last = previous_month(engine, now=now)
    with Session(engine) as session:
        months = sorted(m for m in session.scalars(select(Cdr.bill_month).where(Cdr.role == "call").distinct())
                        if m and m <= last)
    closed = 0
    for month in months:
        # as the nightly job would have: early on the first day of the next month
        year, mon = (int(x) for x in month.split("-"))
        first_next = date(year + (mon == 12), mon % 12 + 1, 1)
        closed += close_month(engine, month, now=datetime.combine(first_next, time(7), tzinfo=timezone.utc),
                              actor="demo").closed
    payments = 0
    with Session(engine) as session:
        invoices = session.execute(
            select(Invoice.id, Invoice.month, Invoice.total, Invoice.due_on, Circuit.number)
            .join(Circuit, Circuit.id == Invoice.circuit_id)
            .where(Invoice.month.in_(months), Invoice.state.in_(("closed", "paid")))
            .order_by(Invoice.month, Circuit.number)).all()
    for invoice_id, month, total, due_on, number in invoices:
        if total <= 0:
            continue
        if month == last and number == "8011441":
            continue  # the seed's circuit keeps its last invoice to pay
        amount = total
        if month == last and number == "8010348":
            amount = min(total, Decimal("20.00"))  # a partial payment
        with Session(engine) as session:
            if invoice_balance(session, invoice_id).paid >= amount:
                continue
        paid_on = min((due_on or now.date()) - timedelta(days=2), now.date())
        result = apply_payment(engine, invoice_id, amount, paid_on, f"DEMO-{invoice_id}", actor_kind="cli",
                               actor="demo", now=min(now, datetime.combine(paid_on, time(15), tzinfo=timezone.utc)))
        payments += result.status == "applied"
    rendered = 0
    for month in months if pdfs else ():  # without: each PDF is rendered when first asked for
        if progress:
            from billing.pdf import invoices_of_month

            with click.progressbar(length=len(invoices_of_month(engine, month)), label=f"PDFs de {month}",
                                   file=sys.stderr) as bar:
                result = render_month(engine, settings, month, workers=settings.pdf_workers or None,
                                      progress=bar.update)
        else:
            result = render_month(engine, settings, month, workers=settings.pdf_workers or None)
        rendered += result.rendered + result.current
    return {"months": months, "closed": closed, "invoices": len(invoices), "payments": payments,
            "pdfs": rendered}


@click.command("demo", cls=click.Command)
@click.option("--calls-per-day", default=5.0, show_default=True, help="Chamadas por circuito por dia.")
@click.option("--bill/--no-bill", default=True, show_default=True,
              help="Fecha os meses encerrados, registra pagamentos e gera os PDFs das faturas.")
@pass_app
def demo(app: AppContext, calls_per_day: float, bill: bool) -> None:
    """Cria a operadora de demonstração, ingere meses de CDRs sintéticos e fatura (idempotente).

    Os meses já encerrados são fechados em faturas, quase todas pagas (a última do
    circuito 8011441 fica em aberto), e cada fatura ganha o seu PDF em var/faturas.

    \b
    Exemplo:
      painel demo
      painel demo --calls-per-day 20 --no-bill
    """
    from painel.fmt import mes_ref

    show = sys.stderr.isatty()
    result = run_demo(app.settings, app.engine, progress=show, calls_per_day=calls_per_day)
    click.echo(f"demo: {result['circuits']} circuitos, {result['calls']} chamadas em {result['files']} arquivos "
               f"de CDR ({result['cdr_dir']})")
    click.echo(result["stats"].summary())
    if bill:
        billed = bill_demo(app.settings, app.engine, progress=show)
        months = billed["months"]
        span = f"{mes_ref(months[0])} a {mes_ref(months[-1])}" if months else "nenhum mês encerrado"
        from billing.pdf import pdf_dir

        click.echo(f"faturas: {billed['invoices']} ({span}), {billed['closed']} fechadas agora, "
                   f"{billed['payments']} pagamentos registrados, {billed['pdfs']} PDFs em {pdf_dir(app.settings)}")
