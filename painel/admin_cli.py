"""``painel admin``: the operator's staff accounts for the admin pages (/admin).

Passwords are never arguments (they would land in the shell history and in ``ps``):
they are asked twice without echo, or read from the first line of stdin with
``--password-stdin`` for scripts. Every change is audited with the actor ``cli``.
"""
from __future__ import annotations

import sys

import click

from painel.clikit import AppContext, PainelGroup, pass_app
from painel.errors import ValidationError

CLI_ACTOR = ("cli", "cli")


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise ValidationError("nenhuma senha na entrada padrão (--password-stdin lê a primeira linha)")
        return password
    first = click.prompt("Senha", hide_input=True, err=True)
    second = click.prompt("Repita a senha", hide_input=True, err=True)
    if first != second:
        raise ValidationError("as duas senhas digitadas não conferem")
    return first


@click.group(cls=PainelGroup)
def admin() -> None:
    """Usuários da administração (/admin): criar, listar, trocar senha, TOTP.

    Papéis: admin altera tudo; support consulta tudo e só pode gerar nova senha web
    de um circuito.

    \b
    Exemplo:
      painel admin create-user maria --role admin
      painel admin list-users
    """


@admin.command("create-user")
@click.argument("username")
@click.option("--role", type=click.Choice(["admin", "support"]), required=True,
              help="Papel: admin (altera tudo) ou support (consulta; só gera nova senha web).")
@click.option("--password-stdin", is_flag=True,
              help="Lê a senha da primeira linha da entrada padrão em vez de perguntar.")
@pass_app
def create_user(app: AppContext, username: str, role: str, password_stdin: bool) -> None:
    """Cria um usuário da administração (a senha é perguntada duas vezes, sem eco).

    \b
    Exemplo:
      painel admin create-user maria --role admin
      printf '%s\\n' "$SENHA" | painel admin create-user joao --role support --password-stdin
    """
    from painel.admins import create_admin, normalize_username, password_problems
    from painel.db import transaction

    name = normalize_username(username)  # refuse a bad name before asking for a password
    password = _read_password(password_stdin)
    problems = password_problems(password, name)
    if problems:
        raise ValidationError("; ".join(problems))
    with transaction(app.sessions) as session:
        user = create_admin(session, name, password, role, actor=CLI_ACTOR)
        click.echo(f"usuário criado: {user.username} ({user.role})")


@admin.command("list-users")
@pass_app
def list_users(app: AppContext) -> None:
    """Lista os usuários: nome, papel, situação, TOTP, criação e último acesso (UTC).

    \b
    Exemplo:
      painel admin list-users
    """
    from painel.admins import list_admins

    def when(value) -> str:  # type: ignore[no-untyped-def]
        return value.strftime("%Y-%m-%d %H:%M") if value else "-"

    with app.sessions() as session:
        users = list_admins(session)
    if not users:
        click.echo("nenhum usuário (crie um com: painel admin create-user NOME --role admin)", err=True)
        return
    for u in users:
        click.echo("\t".join([u.username, u.role, "ativo" if u.active else "inativo",
                              "totp" if u.totp_secret else "sem-totp", when(u.created_at), when(u.last_login_at)]))


@admin.command("reset-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True,
              help="Lê a nova senha da primeira linha da entrada padrão em vez de perguntar.")
@pass_app
def reset_password(app: AppContext, username: str, password_stdin: bool) -> None:
    """Define uma nova senha para o usuário; as sessões abertas dele são encerradas.

    \b
    Exemplo:
      painel admin reset-password maria
    """
    from painel.admins import get_admin, set_password
    from painel.db import transaction

    with app.sessions() as session:
        get_admin(session, username)  # an unknown user is refused before asking anything
    password = _read_password(password_stdin)
    with transaction(app.sessions) as session:
        user = get_admin(session, username)
        set_password(session, user, password, actor=CLI_ACTOR)
        click.echo(f"senha alterada: {user.username}")


@admin.command("deactivate")
@click.argument("username")
@pass_app
def deactivate(app: AppContext, username: str) -> None:
    """Desativa um usuário: ele não entra mais e as sessões abertas terminam.

    \b
    Exemplo:
      painel admin deactivate joao
    """
    from painel.admins import get_admin, set_active
    from painel.db import transaction

    with transaction(app.sessions) as session:
        user = get_admin(session, username)
        set_active(session, user, False, actor=CLI_ACTOR)
        click.echo(f"desativado: {user.username}")


@admin.command("activate")
@click.argument("username")
@pass_app
def activate(app: AppContext, username: str) -> None:
    """Reativa um usuário desativado.

    \b
    Exemplo:
      painel admin activate joao
    """
    from painel.admins import get_admin, set_active
    from painel.db import transaction

    with transaction(app.sessions) as session:
        user = get_admin(session, username)
        set_active(session, user, True, actor=CLI_ACTOR)
        click.echo(f"ativado: {user.username}")


@admin.group("totp", cls=PainelGroup)
def totp_group() -> None:
    """Segundo fator (TOTP, RFC 6238) dos usuários da administração.

    \b
    Exemplo:
      painel admin totp enable maria
      painel admin totp disable maria
    """


@totp_group.command("enable")
@click.argument("username")
@pass_app
def totp_enable(app: AppContext, username: str) -> None:
    """Habilita o TOTP e mostra, uma única vez, o endereço otpauth:// para o aplicativo autenticador.

    Guarde-o ou leia-o agora (por exemplo: qrencode -t ansiutf8 'otpauth://...'); ele não
    é mostrado de novo. Para trocar o segredo, desabilite e habilite outra vez.

    \b
    Exemplo:
      painel admin totp enable maria
    """
    from painel.admins import enable_totp, get_admin
    from painel.db import transaction

    with transaction(app.sessions) as session:
        user = get_admin(session, username)
        uri = enable_totp(session, user, actor=CLI_ACTOR)
    click.echo(uri)
    click.echo(f"TOTP habilitado para {user.username}: cadastre o endereço acima no aplicativo autenticador "
               "(ele não será mostrado de novo)", err=True)


@totp_group.command("disable")
@click.argument("username")
@pass_app
def totp_disable(app: AppContext, username: str) -> None:
    """Desabilita o TOTP do usuário (ele volta a entrar só com a senha).

    \b
    Exemplo:
      painel admin totp disable maria
    """
    from painel.admins import disable_totp, get_admin
    from painel.db import transaction

    with transaction(app.sessions) as session:
        user = get_admin(session, username)
        disable_totp(session, user, actor=CLI_ACTOR)
        click.echo(f"TOTP desabilitado: {user.username}")
