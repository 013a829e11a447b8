"""``painel did``: the operator's DIDs (números) from the command line, as on the admin pages."""
from __future__ import annotations

import io

import click

from painel.clikit import AppContext, PainelGroup, pass_app
from painel.errors import EXIT_FAILURE, InputError

CLI_ACTOR = ("cli", "cli")


@click.group(cls=PainelGroup)
def did() -> None:
    """Números (DIDs): atribuir a um circuito, mover, liberar, importar em lote.

    \b
    Exemplo:
      painel did assign "+55 98 3222-1100" --circuit 8011441
      painel did import dids.csv --dry-run
    """


@did.command("list")
@click.option("--circuit", default=None, help="Só os números deste circuito.")
@click.option("--free", "free_only", is_flag=True, help="Só os números liberados (sem circuito).")
@pass_app
def did_list(app: AppContext, circuit: str | None, free_only: bool) -> None:
    """Lista os números com o circuito de cada um, siga-me e ACB.

    \b
    Exemplo:
      painel did list --circuit 8011441
    """
    from sqlalchemy import select

    from painel.models import Circuit, Did
    from painel.routing import circuit_by_number

    with app.sessions() as session:
        query = select(Did.e164, Circuit.number, Did.followme_enabled, Did.followme_destination, Did.acb_enabled) \
            .outerjoin(Circuit, Circuit.id == Did.circuit_id).order_by(Did.e164)
        if circuit:
            query = query.where(Did.circuit_id == circuit_by_number(session, circuit).id)
        if free_only:
            query = query.where(Did.circuit_id.is_(None))
        for e164, number, followme, destination, acb in session.execute(query):
            extra = [f"siga-me {destination}" if followme else "", "ACB" if acb else ""]
            click.echo("\t".join([e164, number or "(liberado)", ", ".join(x for x in extra if x)]))


@did.command("assign")
@click.argument("number")
@click.option("--circuit", required=True, help="Circuito que passa a receber as chamadas do número.")
@pass_app
def did_assign(app: AppContext, number: str, circuit: str) -> None:
    """Atribui um número novo (ou liberado) a um circuito.

    \b
    Exemplo:
      painel did assign "(98) 3222-1100" --circuit 8011441
    """
    from painel.db import transaction
    from painel.dids import assign_did

    with transaction(app.sessions) as session:
        entry = assign_did(session, number, circuit, actor=CLI_ACTOR)
        click.echo(f"atribuído: {entry.e164} -> {circuit}")


@did.command("move")
@click.argument("number")
@click.option("--circuit", required=True, help="Circuito de destino.")
@pass_app
def did_move(app: AppContext, number: str, circuit: str) -> None:
    """Muda um número para outro circuito (o siga-me e o ACB do dono anterior são desligados).

    \b
    Exemplo:
      painel did move +559832221100 --circuit 8011880
    """
    from painel.db import transaction
    from painel.dids import move_did

    with transaction(app.sessions) as session:
        entry = move_did(session, number, circuit, actor=CLI_ACTOR)
        click.echo(f"movido: {entry.e164} -> {circuit}")


@did.command("release")
@click.argument("number")
@pass_app
def did_release(app: AppContext, number: str) -> None:
    """Libera um número: as chamadas para ele deixam de ser encaminhadas a um circuito.

    \b
    Exemplo:
      painel did release +559832221100
    """
    from painel.db import transaction
    from painel.dids import release_did

    with transaction(app.sessions) as session:
        entry = release_did(session, number, actor=CLI_ACTOR)
        click.echo(f"liberado: {entry.e164}")


@did.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--dry-run", is_flag=True, help="Só confere e mostra o relatório, sem gravar nada.")
@pass_app
def did_import(app: AppContext, file: str, dry_run: bool) -> None:
    """Importa números de um CSV "numero;circuito": confere todas as linhas e grava tudo ou nada.

    Relatório por linha (assign, move, unchanged, error) e uma linha de resumo; sai com 1
    quando alguma linha tem erro (nada é gravado), 4 quando o arquivo não pode ser lido.

    \b
    Exemplo:
      painel did import dids.csv --dry-run
      painel did import dids.csv
    """
    from painel.db import transaction
    from painel.dids import import_dids

    try:
        stream = click.open_file(file, encoding="utf-8-sig")
        with stream:
            text = stream.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"não foi possível ler {file}: {exc}") from None
    with transaction(app.sessions) as session:
        report = import_dids(session, io.StringIO(text), dry_run=dry_run, actor=CLI_ACTOR)
        if not report.applied:
            session.rollback()
    for line in report.lines:
        click.echo(f"linha {line.line}: {line.outcome} {line.number} {line.circuit} {line.message}".rstrip())
    click.echo(report.summary())
    if report.errors:
        raise click.exceptions.Exit(EXIT_FAILURE)
