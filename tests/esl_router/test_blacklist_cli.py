"""`painel blacklist add --expires`: the same instant as the portal's "expira em" (00:00 on the circuit's clock)."""
from __future__ import annotations

from datetime import date, datetime, timezone

from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from painel.cli import main
from painel.models import BlacklistEntry, Circuit
from painel.routing import expiry_of_day


def run(db_url: str, *args: str):  # type: ignore[no-untyped-def]
    runner = CliRunner(env={"PAINEL_CONFIG": None, "PAINEL_DATABASE_URL": None, "PAINEL_LOG_LEVEL": "WARNING"})
    return runner.invoke(main, ["--database-url", db_url, "blacklist", *args])


def test_expiry_is_midnight_on_the_circuits_clock(demo_db, db_url, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    next_year = datetime.now(timezone.utc).year + 1
    added = run(db_url, "add", "--circuit", "8011441", "11955554444", "--expires", f"{next_year}-03-10")
    assert added.exit_code == 0, (added.stdout, added.stderr)
    with Session(demo_db) as s:
        zone = s.scalar(select(Circuit.timezone).where(Circuit.number == "8011441"))
        entry = s.scalar(select(BlacklistEntry).where(BlacklistEntry.number.like("%11955554444")))
    expected = expiry_of_day(date(next_year, 3, 10), zone)
    assert entry.expires_at == expected
    assert zone == "America/Fortaleza" and expected.hour == 3  # 00:00 in Fortaleza is 03:00 UTC
    listed = run(db_url, "list", "--circuit", "8011441")
    assert f"expira 10/03/{next_year} 00:00" in listed.stdout
    past = run(db_url, "add", "--circuit", "8011441", "11977776666", "--expires", "2020-01-01")
    assert past.exit_code != 0 and "no futuro" in past.stderr
    bad = run(db_url, "add", "--circuit", "8011441", "11977776666", "--expires", "10/03/2027")
    assert bad.exit_code != 0 and "AAAA-MM-DD" in bad.stderr
