"""The ``painel`` command: help everywhere, explain, rates import/export, rerate, quarantine, db.

Every database test runs on SQLite and PostgreSQL (``db_url``). Errors go to stderr as
``erro: …`` with the documented exit code (2 bad argument, 3 database, 75 locked).
"""
from __future__ import annotations

import csv
import io
import json
import uuid as uuidlib
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from painel.cli import main
from painel.db import alembic_config, create_engine
from painel.demo import ensure_operator
from painel.models import (
    AuditEvent, Cdr, Circuit, Invoice, JobLock, RatePlan, RatePlanVersion, Tariff,
)

D = Decimal


# ------------------------------------------------------------------ helpers

@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A runner isolated from the developer's ./painel.toml and PAINEL_* variables."""
    monkeypatch.chdir(tmp_path)
    return CliRunner(env={"PAINEL_CONFIG": None, "PAINEL_DATABASE_URL": None, "PAINEL_LOG_LEVEL": "WARNING"})


@pytest.fixture
def demo_url(db_url: str) -> str:
    """The database with the demo operator (customers, circuits, DIDs, plan PADRAO v1/v2)."""
    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            ensure_operator(session)
            session.commit()
    finally:
        engine.dispose()
    return db_url


@pytest.fixture
def db(demo_url: str):  # type: ignore[no-untyped-def]
    engine = create_engine(demo_url)
    yield engine
    engine.dispose()


def painel(runner: CliRunner, url: str, *args: str) -> Result:
    return runner.invoke(main, ["--database-url", url, *args])


def assert_error(result: Result, code: int, *words: str) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    assert result.stderr.startswith("erro: "), result.stderr
    for word in words:
        assert word in result.stderr
    assert result.stdout == ""


def audit_events(engine, action: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


# ------------------------------------------------------------------ every command documented

def _walk(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            found.extend(_walk(sub, (*path, name)))
    return found


COMMANDS = _walk(main)


def test_command_tree_is_complete() -> None:
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"db upgrade", "db current", "cdr ingest", "cdr serve", "cdr explain", "cdr rerate",
            "cdr quarantine list", "cdr quarantine retry", "rates import", "rates export", "demo"} <= names


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) or "painel" for p, _ in COMMANDS])
def test_every_command_is_documented_with_an_example(runner: CliRunner, path: tuple[str, ...],
                                                     command: click.Command) -> None:
    assert command.help and "Exemplo" in command.help, f"painel {' '.join(path)} sem exemplo na ajuda"
    for flag in ("--help", "-h"):
        result = runner.invoke(main, [*path, flag])
        assert result.exit_code == 0, result.output
        assert "Exemplo" in result.stdout
        assert "Usage:" in result.stdout
    for param in command.params:  # every option says what it is for
        if isinstance(param, click.Option) and not param.hidden and param.name not in ("help", "version"):
            assert param.help, f"painel {' '.join(path)} {param.opts[0]} sem ajuda"


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("painel")


def test_bad_config_file_is_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["--config", str(tmp_path / "nao-existe.toml"), "cdr", "quarantine", "list"])
    assert_error(result, 2, "configuração")


# ------------------------------------------------------------------ painel cdr explain

@pytest.mark.parametrize(("to", "seconds", "at", "expected"), [
    pytest.param("0218632221234", "37", "2025-08-14 10:00",
                 ["+558632221234", "LDN fixo", "PADRAO", "versão 1", "01/01/2025", "CSP 21",
                  "37 s atendidos", "42 s tarifáveis", "R$ 0,18", "horário normal"], id="ldn-v1"),
    pytest.param("0218632221234", "37", "2026-10-14 10:00",
                 ["+558632221234", "LDN fixo", "versão 2", "01/09/2026", "42 s tarifáveis", "R$ 0,18"], id="ldn-v2"),
    pytest.param("0218632221234", "37", "2026-08-31 23:59:59", ["versão 1"], id="last-second-of-v1"),
    pytest.param("0218632221234", "37", "2026-09-01 00:00", ["versão 2"], id="first-minute-of-v2"),
    # móvel VC1 changed between the versions: 0.45 -> 0.39 per minute, 61 s -> 66 s
    pytest.param("98987654321", "61", "2025-08-14 10:00",
                 ["+5598987654321", "Móvel local (VC1)", "versão 1", "66 s tarifáveis", "R$ 0,50"], id="vc1-v1"),
    pytest.param("98987654321", "61", "2026-10-14 10:00",
                 ["Móvel local (VC1)", "versão 2", "66 s tarifáveis", "R$ 0,43"], id="vc1-v2"),
    pytest.param("32221234", "30", "2025-08-14 10:00",
                 ["+559832221234", "Local fixo", "30 s tarifáveis", "R$ 0,05"], id="local-fixo"),
    pytest.param("08007271234", "37", "2025-08-14 10:00",
                 ["+558007271234", "Gratuita", "gratuita para o circuito", "0 s tarifáveis", "R$ 0,00"],
                 id="0800-free"),
    pytest.param("190", "120", "2025-08-14 10:00", ["Gratuita", "R$ 0,00"], id="emergency-free"),
    pytest.param("0218632221234", "0", "2025-08-14 10:00", ["0 s tarifáveis", "R$ 0,00"], id="unanswered"),
])
def test_explain(runner: CliRunner, demo_url: str, to: str, seconds: str, at: str, expected: list[str]) -> None:
    result = painel(runner, demo_url, "cdr", "explain", "--circuit", "8011441", "--to", to,
                    "--seconds", seconds, "--at", at)
    assert result.exit_code == 0, (result.output, result.exception)
    assert "8011441 - SaperxTeste" in result.stdout
    for text in expected:
        assert text in result.stdout, f"{text!r} not in:\n{result.stdout}"
    assert result.stderr == ""


def test_explain_without_at_uses_now(runner: CliRunner, demo_url: str) -> None:
    result = painel(runner, demo_url, "cdr", "explain", "--circuit", "8011441", "--to", "0218632221234",
                    "--seconds", "37")
    assert result.exit_code == 0, result.output
    assert "42 s tarifáveis" in result.stdout and "R$ 0,18" in result.stdout


@pytest.mark.parametrize(("args", "words"), [
    pytest.param(["--circuit", "9999999", "--to", "0218632221234", "--seconds", "37"],
                 ["circuito desconhecido", "9999999"], id="unknown-circuit"),
    pytest.param(["--circuit", "8011441", "--to", "abc", "--seconds", "37"], ["número inválido", "abc"],
                 id="bad-number"),
    pytest.param(["--circuit", "8011441", "--to", "0218632221234", "--seconds", "37", "--at", "14/08/2025 10:00"],
                 ["data inválida", "AAAA-MM-DD HH:MM"], id="bad-at-format"),
    pytest.param(["--circuit", "8011441", "--to", "0218632221234", "--seconds", "37", "--at", "2025-02-30 10:00"],
                 ["data inválida"], id="bad-at-day"),
    pytest.param(["--circuit", "8011441", "--to", "0218632221234", "--seconds", "37", "--at", "2024-12-31 23:59"],
                 ["nenhuma versão", "31/12/2024"], id="before-first-version"),
])
def test_explain_errors(runner: CliRunner, demo_url: str, args: list[str], words: list[str]) -> None:
    assert_error(painel(runner, demo_url, "cdr", "explain", *args), 2, *words)


@pytest.mark.parametrize("args", [
    pytest.param(["--circuit", "8011441", "--to", "0218632221234", "--seconds", "-1"], id="negative-seconds"),
    pytest.param(["--circuit", "8011441", "--to", "0218632221234"], id="missing-seconds"),
])
def test_explain_usage_errors(runner: CliRunner, demo_url: str, args: list[str]) -> None:
    result = painel(runner, demo_url, "cdr", "explain", *args)
    assert result.exit_code == 2 and result.stdout == ""


# ------------------------------------------------------------------ painel rates

def export(runner: CliRunner, url: str, tmp_path: Path, *plans: str) -> Path:
    result = painel(runner, url, "rates", "export", *plans)
    assert result.exit_code == 0, result.output
    path = tmp_path / "planos.csv"
    path.write_text(result.stdout, encoding="utf-8")
    return path


def test_rates_export_import_round_trip(runner: CliRunner, db, demo_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = export(runner, demo_url, tmp_path)
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert len(rows) == 16 and {r["version"] for r in rows} == {"1", "2"}
    assert {r["plan_code"] for r in rows} == {"PADRAO"}
    vc1 = {r["version"]: D(r["price_per_minute"]) for r in rows if r["category"] == "movel_vc1"}
    assert vc1 == {"1": D("0.45"), "2": D("0.39")}

    result = painel(runner, demo_url, "rates", "import", str(path))
    assert result.exit_code == 0, result.output
    assert "versões sem alteração=2" in result.stdout
    assert "planos criados=0 versões criadas=0" in result.stdout
    events = audit_events(db, "rates.import")
    assert len(events) == 1
    after = json.loads(events[0].after)
    assert after["file"] == str(path) and "versões sem alteração=2" in after["result"]
    assert events[0].actor_kind == "cli"

    assert export(runner, demo_url, tmp_path).read_text(encoding="utf-8") == path.read_text(encoding="utf-8")


def test_rates_export_named_plan(runner: CliRunner, demo_url: str, tmp_path: Path) -> None:
    assert len(export(runner, demo_url, tmp_path, "PADRAO").read_text().splitlines()) == 17
    assert export(runner, demo_url, tmp_path, "NAO_EXISTE").read_text().splitlines()[0].startswith("plan_code,")


def test_rates_import_refuses_changing_an_existing_version(runner: CliRunner, db, demo_url: str,  # type: ignore[no-untyped-def]
                                                           tmp_path: Path) -> None:
    path = export(runner, demo_url, tmp_path)
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    for r in rows:
        if r["version"] == "1" and r["category"] == "ldn_fixo":
            r["price_per_minute"] = "0.26"
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")

    assert_error(painel(runner, demo_url, "rates", "import", str(path)), 2, "versão 1", "PADRAO", "nova versão")
    with Session(db) as session:
        price = session.scalar(select(Tariff.price_per_minute).join(RatePlanVersion)
                               .where(RatePlanVersion.version == 1, Tariff.category == "ldn_fixo"))
    assert price == D("0.25")
    assert audit_events(db, "rates.import") == []  # the refused import left no trace


HEADER = ("plan_code,plan_name,version,valid_from,category,price_per_minute,reduced_price_per_minute,"
          "connection_fee,grace_seconds,minimum_seconds,increment_seconds,monthly_fee,reduced_band,"
          "normal_start_hour,normal_end_hour,normal_weekdays")
GOOD = "NOVO,Plano Novo,1,2026-01-01,local_fixo,0.08,0.04,0,0,30,6,19.90,sim,8,20,0 1 2 3 4"


def test_rates_import_new_plan(runner: CliRunner, db, demo_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "novo.csv"
    path.write_text(f"{HEADER}\n{GOOD}\nNOVO,Plano Novo,1,2026-01-01,ldn_fixo,\"0,20\",,,,,,19.90,sim,8,20,0 1 2 3 4\n",
                    encoding="utf-8")
    result = painel(runner, demo_url, "rates", "import", str(path))
    assert result.exit_code == 0, result.output
    assert "planos criados=1 versões criadas=1 versões sem alteração=0" in result.stdout
    with Session(db) as session:
        plan = session.scalar(select(RatePlan).where(RatePlan.code == "NOVO"))
        assert plan is not None and plan.name == "Plano Novo"
        (v,) = plan.versions
        assert (v.reduced_band, v.normal_start_hour, v.normal_end_hour, v.normal_weekdays) == (True, 8, 20, "0,1,2,3,4")
        assert v.monthly_fee == D("19.90")
        tariffs = {t.category: t for t in v.tariffs}
        assert tariffs["ldn_fixo"].price_per_minute == D("0.20")  # decimal comma accepted
        assert tariffs["ldn_fixo"].reduced_price_per_minute is None
        assert (tariffs["ldn_fixo"].minimum_seconds, tariffs["ldn_fixo"].increment_seconds) == (30, 6)
        assert tariffs["local_fixo"].reduced_price_per_minute == D("0.04")
    assert len(audit_events(db, "rates.import")) == 1
    # the same file again changes nothing
    result = painel(runner, demo_url, "rates", "import", str(path))
    assert "planos criados=0 versões criadas=0 versões sem alteração=1" in result.stdout


def _bad(**changes: str) -> str:
    """A second line of plan NOVO (category ldn_fixo unless changed) with ``changes``."""
    row = dict(zip(HEADER.split(","), next(csv.reader([GOOD]))))
    row.update({"category": "ldn_fixo", **changes})
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(row.values())
    return out.getvalue().strip()


@pytest.mark.parametrize(("second_row", "words"), [
    pytest.param(_bad(category="celular"), ["linha 3", "categoria desconhecida", "celular"], id="bad-category"),
    pytest.param(_bad(price_per_minute="dez"), ["linha 3", "price_per_minute", "não é um número"], id="bad-price"),
    pytest.param(_bad(price_per_minute="-0.10"), ["linha 3", "negativo"], id="negative-price"),
    pytest.param(_bad(price_per_minute="NaN"), ["linha 3", "não é um número"], id="nan-price"),
    pytest.param(_bad(price_per_minute="0.1234567"), ["linha 3", "casas decimais"], id="price-7-decimals"),
    pytest.param(_bad(monthly_fee="19.905"), ["linha 3", "monthly_fee", "casas decimais"], id="fee-3-decimals"),
    pytest.param(_bad(version="0"), ["linha 3", "version"], id="version-0"),
    pytest.param(_bad(valid_from="01/01/2026"), ["linha 3", "AAAA-MM-DD"], id="bad-date"),
    pytest.param(_bad(increment_seconds="0"), ["linha 3", "increment_seconds"], id="increment-0"),
    pytest.param(_bad(grace_seconds="três"), ["linha 3", "grace_seconds", "inteiro"], id="bad-int"),
    pytest.param(_bad(plan_code=""), ["linha 3", "plan_code"], id="no-plan-code"),
    pytest.param(_bad(category="local_fixo", plan_code="NOVO"), ["linha 3", "repetida"], id="repeated-category"),
    pytest.param(_bad(category="ldn_fixo", valid_from="2026-02-01"), ["linha 3", "vigência"], id="two-dates"),
    pytest.param(_bad(plan_code="OUTRO", normal_weekdays="seg ter"), ["linha 3", "normal_weekdays"],
                 id="weekday-names"),
    pytest.param(_bad(plan_code="OUTRO", normal_weekdays="1 7"), ["linha 3", "normal_weekdays"], id="weekday-7"),
    pytest.param(_bad(plan_code="OUTRO", normal_weekdays="1 1"), ["linha 3", "normal_weekdays"], id="weekday-twice"),
    pytest.param(_bad(plan_code="OUTRO", normal_start_hour="21", normal_end_hour="7"), ["linha 3", "horário normal"],
                 id="hours-reversed"),
    pytest.param(_bad(plan_code="OUTRO", normal_end_hour="25"), ["linha 3", "horário normal"], id="hour-25"),
])
def test_rates_import_bad_line(runner: CliRunner, db, demo_url: str, tmp_path: Path,  # type: ignore[no-untyped-def]
                               second_row: str, words: list[str]) -> None:
    path = tmp_path / "ruim.csv"
    path.write_text(f"{HEADER}\n{GOOD}\n{second_row}\n", encoding="utf-8")
    assert_error(painel(runner, demo_url, "rates", "import", str(path)), 2, *words)
    with Session(db) as session:  # all or nothing
        assert session.scalar(select(func.count()).select_from(RatePlan)) == 1
    assert audit_events(db, "rates.import") == []


def test_rates_import_missing_columns(runner: CliRunner, demo_url: str, tmp_path: Path) -> None:
    path = tmp_path / "ruim.csv"
    path.write_text("plan_code,version\nX,1\n", encoding="utf-8")
    assert_error(painel(runner, demo_url, "rates", "import", str(path)), 2, "colunas obrigatórias",
                 "valid_from", "category", "price_per_minute")


def test_rates_import_missing_file(runner: CliRunner, demo_url: str, tmp_path: Path) -> None:
    result = painel(runner, demo_url, "rates", "import", str(tmp_path / "nao-existe.csv"))
    assert result.exit_code == 2 and result.stdout == ""


# ------------------------------------------------------------------ painel cdr rerate

MONTH = "2026-10"
FORTALEZA_10H = datetime(2026, 10, 14, 13, 0, tzinfo=timezone.utc)  # 10:00 in America/Fortaleza


def _cdr(circuit_id: int, version_id: int | None, *, to: str, billsec: int, category: str | None,
         billable: int, amount: str, direction: str = "outbound", role: str = "call",
         start: datetime = FORTALEZA_10H, bill_month: str = MONTH) -> Cdr:
    uuid = str(uuidlib.uuid4())
    return Cdr(
        uuid=uuid, leg="a", role=role, call_uuid=uuid, circuit_id=circuit_id if role == "call" else None,
        direction=direction if role == "call" else None, attributed_by="painel",
        caller_raw=to if direction == "inbound" else "8011441", destination_raw="8011441" if direction == "inbound" else to,
        category=category, start_utc=start, answer_utc=start + timedelta(seconds=3),
        end_utc=start + timedelta(seconds=3 + billsec), duration=3 + billsec, billsec=billsec,
        hangup_cause="NORMAL_CLEARING", billable_seconds=billable, amount=D(amount),
        plan_version_id=version_id, band="normal" if version_id else None,
        bill_month=bill_month if role == "call" else None, source="json", source_ref="teste", raw="{}",
        rated_at=start + timedelta(minutes=5),
    )


@pytest.fixture
def calls(db):  # type: ignore[no-untyped-def]
    """Calls of circuit 8011441 in 2026-10, rated with plan PADRAO v2 as the ingester would."""
    with Session(db) as session:
        circuit_id = session.scalar(select(Circuit.id).where(Circuit.number == "8011441"))
        v2 = session.scalar(select(RatePlanVersion.id).where(RatePlanVersion.version == 2))
        other = session.scalar(select(Circuit.id).where(Circuit.number == "8012442"))
        session.add_all([
            _cdr(circuit_id, v2, to="0218632221234", billsec=37, category="ldn_fixo", billable=42, amount="0.18"),
            _cdr(circuit_id, v2, to="98987654321", billsec=61, category="movel_vc1", billable=66, amount="0.43"),
            _cdr(circuit_id, v2, to="32221234", billsec=30, category="local_fixo", billable=30, amount="0.05"),
            # not examined: received, linked b-leg, another month
            _cdr(circuit_id, None, to="0218632221234", billsec=100, category=None, billable=0, amount="0",
                 direction="inbound"),
            _cdr(circuit_id, None, to="0218632221234", billsec=37, category=None, billable=0, amount="0",
                 role="linked"),
            _cdr(circuit_id, v2, to="0218632221234", billsec=37, category="ldn_fixo", billable=42, amount="0.18",
                 start=FORTALEZA_10H - timedelta(days=30), bill_month="2026-09"),
            # another circuit, same month: rated unless --circuit narrows it
            _cdr(other, v2, to="0219832221234", billsec=37, category="ldn_fixo", billable=42, amount="0.18"),
        ])
        session.commit()
        return {"circuit_id": circuit_id, "other_id": other, "v2": v2}


def set_price(engine, category: str, price: str, version: int = 2) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        tariff = session.scalar(select(Tariff).join(RatePlanVersion)
                                .where(RatePlanVersion.version == version, Tariff.category == category))
        tariff.price_per_minute = D(price)
        session.commit()


def amounts(engine, circuit_id: int, month: str = MONTH) -> dict[str, Decimal]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        rows = session.execute(select(Cdr.category, Cdr.amount).where(
            Cdr.circuit_id == circuit_id, Cdr.bill_month == month, Cdr.direction == "outbound"))
        return {category: amount for category, amount in rows}


def test_rerate_after_price_change(runner: CliRunner, db, demo_url: str, calls: dict) -> None:  # type: ignore[no-untyped-def]
    args = ("cdr", "rerate", "--month", MONTH, "--circuit", "8011441")
    result = painel(runner, demo_url, *args)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == ("examinadas=3 alteradas=0 falhas=0 total_antes=R$ 0,66 "
                                     "total_depois=R$ 0,66")

    set_price(db, "ldn_fixo", "0.50")  # 0.50/min * 42 s = 0.35
    result = painel(runner, demo_url, *args)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == ("examinadas=3 alteradas=1 falhas=0 total_antes=R$ 0,66 "
                                     "total_depois=R$ 0,83")
    assert amounts(db, calls["circuit_id"]) == {"ldn_fixo": D("0.35"), "movel_vc1": D("0.43"),
                                                "local_fixo": D("0.05")}
    assert amounts(db, calls["other_id"]) == {"ldn_fixo": D("0.18")}  # not this circuit
    assert amounts(db, calls["circuit_id"], "2026-09") == {"ldn_fixo": D("0.18")}  # not this month

    events = audit_events(db, "cdr.rerate")
    assert len(events) == 2
    assert (events[-1].target_kind, events[-1].target_id, events[-1].actor_kind) == ("month", MONTH, "cli")
    after = json.loads(events[-1].after)
    assert after == {"changed": 1, "circuit": "8011441", "forced": False, "total": "0.83"}
    assert json.loads(events[-1].before) == {"total": "0.66"}
    with Session(db) as session:  # the lock is released
        assert session.scalar(select(func.count()).select_from(JobLock)) == 0


def test_rerate_whole_month_takes_every_circuit(runner: CliRunner, db, demo_url: str, calls: dict) -> None:  # type: ignore[no-untyped-def]
    set_price(db, "ldn_fixo", "0.50")
    result = painel(runner, demo_url, "cdr", "rerate", "--month", MONTH)
    assert result.exit_code == 0, result.output
    assert "examinadas=4 alteradas=2" in result.stdout
    assert amounts(db, calls["other_id"]) == {"ldn_fixo": D("0.35")}


def test_rerate_invoiced_month_needs_force(runner: CliRunner, db, demo_url: str, calls: dict) -> None:  # type: ignore[no-untyped-def]
    with Session(db) as session:
        session.add(Invoice(circuit_id=calls["circuit_id"], month=MONTH, state="closed", total=D("38.16")))
        session.commit()
    set_price(db, "ldn_fixo", "0.50")
    args = ("cdr", "rerate", "--month", MONTH, "--circuit", "8011441")

    assert_error(painel(runner, demo_url, *args), 2, "já foi faturado", MONTH, "--force")
    assert amounts(db, calls["circuit_id"])["ldn_fixo"] == D("0.18")  # nothing changed
    assert audit_events(db, "cdr.rerate") == []
    # the whole month is refused too (one of its circuits is invoiced)
    assert_error(painel(runner, demo_url, "cdr", "rerate", "--month", MONTH), 2, "já foi faturado")

    result = painel(runner, demo_url, *args, "--force")
    assert result.exit_code == 0, result.output
    assert "alteradas=1" in result.stdout
    assert amounts(db, calls["circuit_id"])["ldn_fixo"] == D("0.35")
    (event,) = audit_events(db, "cdr.rerate")
    assert json.loads(event.after)["forced"] is True


def test_rerate_open_invoice_does_not_block(runner: CliRunner, db, demo_url: str, calls: dict) -> None:  # type: ignore[no-untyped-def]
    with Session(db) as session:
        session.add(Invoice(circuit_id=calls["circuit_id"], month=MONTH, state="open"))
        session.add(Invoice(circuit_id=calls["other_id"], month=MONTH, state="paid"))  # another circuit
        session.commit()
    result = painel(runner, demo_url, "cdr", "rerate", "--month", MONTH, "--circuit", "8011441")
    assert result.exit_code == 0, result.output
    assert json.loads(audit_events(db, "cdr.rerate")[0].after)["forced"] is False


@pytest.mark.parametrize(("args", "words"), [
    pytest.param(["--month", "2026-13"], ["mês inválido", "2026-13", "AAAA-MM"], id="month-13"),
    pytest.param(["--month", "2026-1"], ["mês inválido"], id="month-one-digit"),
    pytest.param(["--month", "10/2026"], ["mês inválido"], id="month-br-format"),
    pytest.param(["--month", "2026-10", "--circuit", "9999999"], ["circuito desconhecido", "9999999"],
                 id="unknown-circuit"),
])
def test_rerate_bad_arguments(runner: CliRunner, db, demo_url: str, args: list[str], words: list[str]) -> None:  # type: ignore[no-untyped-def]
    assert_error(painel(runner, demo_url, "cdr", "rerate", *args), 2, *words)
    assert audit_events(db, "cdr.rerate") == []


def test_rerate_locked_by_another_run(runner: CliRunner, db, demo_url: str, calls: dict) -> None:  # type: ignore[no-untyped-def]
    with Session(db) as session:
        session.add(JobLock(name="rerate", holder="outro-servidor:4242",
                            acquired_at=datetime(2026, 11, 1, 3, 0, tzinfo=timezone.utc)))
        session.commit()
    assert_error(painel(runner, demo_url, "cdr", "rerate", "--month", MONTH), 75, "em andamento",
                 "outro-servidor:4242", "01/11/2026 03:00")


# ------------------------------------------------------------------ quarantine, db

def test_quarantine_list_empty(runner: CliRunner, demo_url: str) -> None:
    result = painel(runner, demo_url, "cdr", "quarantine", "list")
    assert result.exit_code == 0, result.output
    assert result.stdout == "em quarentena: nenhum\n"
    result = painel(runner, demo_url, "cdr", "quarantine", "list", "--json")
    assert result.exit_code == 0 and result.stdout == ""  # the summary goes to stderr with --json
    assert "em quarentena: nenhum" in result.stderr


def test_db_current_prints_the_head_revision(runner: CliRunner, db_url: str) -> None:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(db_url)).get_current_head()
    result = painel(runner, db_url, "db", "current")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == head and head


def test_db_upgrade_is_idempotent(runner: CliRunner, db_url: str) -> None:
    result = painel(runner, db_url, "db", "upgrade")
    assert result.exit_code == 0, result.output
    assert "banco atualizado" in result.stdout


@pytest.mark.parametrize("args", [
    pytest.param(["cdr", "quarantine", "list"], id="quarantine-list"),
    pytest.param(["cdr", "explain", "--circuit", "8011441", "--to", "0218632221234", "--seconds", "37"], id="explain"),
    pytest.param(["cdr", "rerate", "--month", "2026-10"], id="rerate"),
    pytest.param(["rates", "export"], id="rates-export"),
])
def test_unreachable_database_is_exit_3(runner: CliRunner, db_url: str, tmp_path: Path, args: list[str]) -> None:
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        bad = f"sqlite:///{tmp_path}"  # a directory: SQLite cannot open it
    else:
        bad = url.set(database=f"painel_nao_existe_{uuidlib.uuid4().hex[:8]}").render_as_string(hide_password=False)
    assert_error(painel(runner, bad, *args), 3, "falha no banco de dados")
