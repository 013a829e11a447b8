"""The ``painel`` command: the core mounts each component's commands here.

Errors from the exception tree become a pt-BR message on stderr and the exit code
the error names (see ``painel.errors``); cron and scripts rely on those codes.
"""
from __future__ import annotations

import logging
import sys

import click

from painel import __version__
from painel.clikit import AppContext, PainelGroup, pass_app, setup_logging
from painel.errors import EXIT_FAILURE, PainelError
from painel.settings import load_settings


@click.group(cls=PainelGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="Arquivo TOML de configuração (padrão: PAINEL_CONFIG ou ./painel.toml).")
@click.option("--database-url", default=None, help="URL do banco (sobrepõe PAINEL_DATABASE_URL).")
@click.version_option(__version__, prog_name="painel")
@click.pass_context
def main(ctx: click.Context, config_file: str | None, database_url: str | None) -> None:
    """Painel: plataforma do assinante para operadora VoIP com FreeSWITCH.

    \b
    Exemplo:
      painel run
      painel db upgrade
      painel demo
      painel cdr ingest /var/log/freeswitch/cdr-csv/Master.csv
    """
    try:
        settings = load_settings(config_file, overrides={"database_url": database_url})
    except PainelError as exc:
        click.echo(f"erro: {exc.message}", err=True)
        ctx.exit(exc.exit_code)
    setup_logging(settings.log_level)
    ctx.obj = AppContext(settings)


@main.group(cls=PainelGroup)
def db() -> None:
    """Banco de dados: migrações.

    \b
    Exemplo:
      painel db upgrade
    """


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Revisão alvo do Alembic.")
@pass_app
def db_upgrade(app: AppContext, revision: str) -> None:
    """Aplica as migrações do esquema (idempotente).

    \b
    Exemplo:
      PAINEL_DATABASE_URL=postgresql://painel@localhost/painel painel db upgrade
    """
    from painel.db import upgrade

    upgrade(app.settings.database_url, revision)
    click.echo(f"banco atualizado ({revision})")


@db.command("current")
@pass_app
def db_current(app: AppContext) -> None:
    """Mostra a revisão do esquema aplicada ao banco.

    \b
    Exemplo:
      painel db current
    """
    from painel.db import current_revision

    click.echo(current_revision(app.engine) or "(vazio)")


def _mount() -> None:
    """Attach the components' command groups."""
    from billing.cli import bill
    from billing.pay_cli import pay
    from cdr_ingest.cli import cdr, rates
    from esl_router.cli import acb, blacklist, followme, router
    from painel.admin_cli import admin
    from painel.demo import demo
    from painel.did_cli import did
    from painel.run import run as run_all
    from painel.simulate import simulate
    from webui.cli import web

    for command in (cdr, rates, demo, router, blacklist, followme, acb, did, bill, pay, web, admin, run_all,
                    simulate):
        main.add_command(command)


_mount()


def run() -> None:  # pragma: no cover - console entry point
    try:
        main(prog_name="painel")
    except PainelError as exc:
        click.echo(f"erro: {exc.message}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrompido", err=True)
        sys.exit(130)
    except Exception:  # the last line of defence: a traceback for the log, a code for cron
        logging.getLogger("painel").exception("erro inesperado")
        sys.exit(EXIT_FAILURE)
