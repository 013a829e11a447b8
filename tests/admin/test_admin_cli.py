"""``painel admin``: staff accounts from the command line, on SQLite and PostgreSQL."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash

from painel.cli import main
from painel.db import create_engine
from painel.models import AdminUser, AuditEvent

GOOD = "correto-cavalo-bateria-42"


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    return CliRunner(env={"PAINEL_CONFIG": None, "PAINEL_DATABASE_URL": None, "PAINEL_LOG_LEVEL": "WARNING"})


@pytest.fixture
def engine(db_url: str):  # type: ignore[no-untyped-def]
    eng = create_engine(db_url)
    yield eng
    eng.dispose()


def painel(runner: CliRunner, url: str, *args: str, input: str | None = None) -> Result:
    return runner.invoke(main, ["--database-url", url, "admin", *args], input=input)


def user(engine, username: str) -> AdminUser | None:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return s.scalar(select(AdminUser).where(AdminUser.username == username))


def events(engine, action: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def create(runner: CliRunner, url: str, username: str = "maria", role: str = "admin") -> Result:
    return painel(runner, url, "create-user", username, "--role", role, input=f"{GOOD}\n{GOOD}\n")


def test_create_user_asks_twice_without_echo(runner: CliRunner, db_url: str, engine) -> None:  # type: ignore[no-untyped-def]
    result = create(runner, db_url, "Maria.Silva")
    assert result.exit_code == 0, (result.output, result.exception)
    assert result.stdout == "usuário criado: maria.silva (admin)\n"
    assert "Senha" in result.stderr and "Repita a senha" in result.stderr
    assert GOOD not in result.output  # hidden input: never echoed
    stored = user(engine, "maria.silva")
    assert stored is not None and stored.role == "admin" and stored.active and stored.totp_secret is None
    assert GOOD not in stored.password_hash and check_password_hash(stored.password_hash, GOOD)
    (event,) = events(engine, "admin_user.create")
    assert (event.actor_kind, event.actor, event.target_kind, event.target_id) == ("cli", "cli", "admin_user",
                                                                                     "maria.silva")
    assert json.loads(event.after) == {"username": "maria.silva", "role": "admin", "active": True, "totp": False}
    assert GOOD not in (event.after or "")


def test_create_user_from_stdin(runner: CliRunner, db_url: str, engine) -> None:  # type: ignore[no-untyped-def]
    result = painel(runner, db_url, "create-user", "joao", "--role", "support", "--password-stdin",
                    input=f"{GOOD}\n")
    assert result.exit_code == 0, result.output
    assert "Senha" not in result.stderr  # nothing was asked
    stored = user(engine, "joao")
    assert stored.role == "support" and check_password_hash(stored.password_hash, GOOD)


@pytest.mark.parametrize("args, input, words", [
    pytest.param(["maria", "--role", "admin"], f"{GOOD}\noutra-senha-qualquer\n", ["não conferem"], id="mismatch"),
    pytest.param(["maria", "--role", "admin"], "curta1\ncurta1\n", ["pelo menos 12"], id="short"),
    pytest.param(["maria", "--role", "admin"], "maria-e-a-senha-dela\nmaria-e-a-senha-dela\n",
                 ["nome de usuário"], id="contains-username"),
    pytest.param(["maria", "--role", "admin", "--password-stdin"], "\n", ["entrada padrão"], id="empty-stdin"),
    pytest.param(["ma ria", "--role", "admin"], f"{GOOD}\n{GOOD}\n", ["nome de usuário inválido"], id="bad-name"),
])
def test_create_user_refusals(runner: CliRunner, db_url: str, engine, args, input, words) -> None:  # type: ignore[no-untyped-def]
    result = painel(runner, db_url, "create-user", *args, input=input)
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[-1].startswith("erro: ")
    for word in words:
        assert word in result.stderr
    assert user(engine, "maria") is None and events(engine, "admin_user.create") == []


def test_create_user_needs_a_known_role(runner: CliRunner, db_url: str, engine) -> None:  # type: ignore[no-untyped-def]
    result = painel(runner, db_url, "create-user", "maria", "--role", "root", input=f"{GOOD}\n{GOOD}\n")
    assert result.exit_code == 2 and "root" in result.stderr
    assert user(engine, "maria") is None


def test_create_user_twice_is_refused(runner: CliRunner, db_url: str, engine) -> None:  # type: ignore[no-untyped-def]
    assert create(runner, db_url).exit_code == 0
    result = create(runner, db_url, "MARIA")
    assert result.exit_code == 2 and "já existe" in result.stderr
    assert len(events(engine, "admin_user.create")) == 1


def test_list_users(runner: CliRunner, db_url: str) -> None:
    empty = painel(runner, db_url, "list-users")
    assert empty.exit_code == 0 and empty.stdout == "" and "nenhum usuário" in empty.stderr
    create(runner, db_url, "maria")
    create(runner, db_url, "joao", "support")
    result = painel(runner, db_url, "list-users")
    assert result.exit_code == 0, result.output
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    assert [line[:4] for line in lines] == [["joao", "support", "ativo", "sem-totp"],
                                            ["maria", "admin", "ativo", "sem-totp"]]
    assert all(line[5] == "-" for line in lines)  # never signed in


def test_reset_password(runner: CliRunner, db_url: str, engine) -> None:  # type: ignore[no-untyped-def]
    create(runner, db_url)
    before = user(engine, "maria").password_hash
    new = "outra-senha-bem-longa-7"
    result = painel(runner, db_url, "reset-password", "maria", input=f"{new}\n{new}\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == "senha alterada: maria\n"
    stored = user(engine, "maria")
    assert stored.password_hash != before and check_password_hash(stored.password_hash, new)
    (event,) = events(engine, "admin_user.password")
    assert event.target_id == "maria" and new not in (event.after or "")


def test_reset_password_of_unknown_user_asks_nothing(runner: CliRunner, db_url: str) -> None:
    result = painel(runner, db_url, "reset-password", "ninguem", input=f"{GOOD}\n{GOOD}\n")
    assert result.exit_code == 2 and "desconhecido" in result.stderr and "Senha" not in result.stderr


def test_totp_enable_prints_the_uri_once_and_disable(runner: CliRunner, db_url: str, engine) -> None:  # type: ignore[no-untyped-def]
    create(runner, db_url)
    result = painel(runner, db_url, "totp", "enable", "maria")
    assert result.exit_code == 0, result.output
    uri = result.stdout.strip()
    stored = user(engine, "maria")
    assert uri.startswith("otpauth://totp/Painel%3Amaria?") and f"secret={stored.totp_secret}" in uri
    assert "não será mostrado de novo" in result.stderr
    again = painel(runner, db_url, "totp", "enable", "maria")
    assert again.exit_code == 2 and "já está habilitado" in again.stderr and "otpauth" not in again.output
    assert user(engine, "maria").totp_secret == stored.totp_secret
    assert "totp" in painel(runner, db_url, "list-users").stdout.split("\t")

    off = painel(runner, db_url, "totp", "disable", "maria")
    assert off.exit_code == 0 and user(engine, "maria").totp_secret is None
    assert painel(runner, db_url, "totp", "disable", "maria").exit_code == 2
    assert [json.loads(e.after) for e in events(engine, "admin_user.totp_on")] == [{"totp": True}]
    assert [json.loads(e.after) for e in events(engine, "admin_user.totp_off")] == [{"totp": False}]
    assert stored.totp_secret not in "".join((e.after or "") + (e.before or "") for e in
                                             events(engine, "admin_user.totp_on"))


def test_deactivate_and_activate(runner: CliRunner, db_url: str, engine) -> None:  # type: ignore[no-untyped-def]
    create(runner, db_url)
    assert painel(runner, db_url, "deactivate", "maria").exit_code == 0
    assert not user(engine, "maria").active
    assert "inativo" in painel(runner, db_url, "list-users").stdout
    assert painel(runner, db_url, "activate", "maria").exit_code == 0
    assert user(engine, "maria").active
    assert len(events(engine, "admin_user.deactivate")) == len(events(engine, "admin_user.activate")) == 1
    assert painel(runner, db_url, "deactivate", "ninguem").exit_code == 2
