"""``painel cdr …`` and ``painel rates …``: ingestion, explanation, re-rating, plans."""
from __future__ import annotations

import json
import logging
import sys
from datetime import datetime

import click

from painel.clikit import AppContext, PainelGroup, pass_app
from painel.errors import ValidationError

log = logging.getLogger("painel.cdr")


@click.group(cls=PainelGroup)
def cdr() -> None:
    """CDRs do FreeSWITCH: ingestão, tarifação, quarentena.

    \b
    Exemplo:
      painel cdr ingest /var/log/freeswitch/cdr-csv/Master.csv.1
      painel cdr explain --circuit 8011441 --to 0218632221234 --seconds 37
    """


@cdr.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--template", default=None,
              help="Modelo do mod_cdr_csv (padrão: detectado pelo número de colunas).")
@click.option("--force", is_flag=True, help="Reprocessa arquivos CSV já ingeridos por completo.")
@click.option("--progress/--no-progress", default=None,
              help="Barra de progresso (padrão: só em terminal).")
@pass_app
def cdr_ingest(app: AppContext, paths: tuple[str, ...], template: str | None, force: bool,
               progress: bool | None) -> None:
    """Ingere e tarifa CDRs de arquivos JSON (mod_json_cdr) e CSV (mod_cdr_csv).

    Aceita arquivos e diretórios (inclusive o err-log-dir do mod_json_cdr). Termina com
    a linha `rated=N duplicate=N quarantined=N` (rated inclui as pernas B vinculadas).
    Código de saída 0 mesmo com registros em quarentena; 4 se um arquivo não pode ser
    lido; 3 se o banco falhar.

    \b
    Exemplo:
      painel cdr ingest /var/log/freeswitch/json_cdr_err/ Master.csv.1
    """
    from cdr_ingest.pipeline import Ingester, expand_paths

    files = expand_paths(paths)
    ingester = Ingester(app.engine, app.settings)
    show = sys.stderr.isatty() if progress is None else progress
    total = sum(p.stat().st_size for p in files)
    if show:
        with click.progressbar(length=total, label="ingerindo CDRs", file=sys.stderr,
                               show_pos=False, show_percent=True, show_eta=True) as bar:
            stats = ingester.ingest_paths(files, template=template, force=force, progress=bar.update)
    else:
        stats = ingester.ingest_paths(files, template=template, force=force)
    for reason, n in sorted(stats.reasons.items()):
        log.warning("quarentena: %s=%d", reason, n)
    if stats.skipped_files:
        click.echo(f"{stats.skipped_files} arquivo(s) já ingerido(s) foram ignorados (use --force para reprocessar)",
                   err=True)
    click.echo(stats.summary())


@cdr.command("serve")
@click.option("--listen", default=None, help="Endereço:porta (padrão 127.0.0.1:8090).")
@click.option("--threads", default=4, show_default=True, help="Threads do servidor WSGI.")
@pass_app
def cdr_serve(app: AppContext, listen: str | None, threads: int) -> None:
    """Recebe CDRs do mod_json_cdr por HTTP (POST), sob o servidor WSGI waitress.

    Responde 200 só depois de gravar; 400 para corpo malformado (guardado em
    quarentena); 503 se o banco falhar, para o FreeSWITCH reenviar.

    \b
    Exemplo:
      painel cdr serve --listen 127.0.0.1:8090
    """
    from cdr_ingest.http import CdrReceiver, serve
    from cdr_ingest.pipeline import Ingester

    listen = listen or app.settings.cdr_listen
    ingester = Ingester(app.engine, app.settings, catalog_ttl=2.0)
    receiver = CdrReceiver(ingester, app.settings.cdr_http_credentials)
    click.echo(f"recebendo CDRs em http://{listen}/cdr", err=True)
    serve(receiver, listen, threads=threads)


@cdr.command("explain")
@click.option("--circuit", required=True, help="Número do circuito (conta SIP).")
@click.option("--to", "to", required=True, help="Número discado, como o cliente discou.")
@click.option("--seconds", required=True, type=click.IntRange(min=0), help="Segundos atendidos (billsec).")
@click.option("--at", "at", default=None,
              help='Início da chamada no fuso do circuito, "AAAA-MM-DD HH:MM" (padrão: agora).')
@pass_app
def cdr_explain(app: AppContext, circuit: str, to: str, seconds: int, at: str | None) -> None:
    """Explica o preço de uma chamada: número normalizado, categoria, plano, valor.

    \b
    Exemplo:
      painel cdr explain --circuit 8011441 --to 0218632221234 --seconds 37 --at "2025-08-14 10:00"
    """
    from cdr_ingest.explain import explain

    when = None
    if at:
        try:
            when = datetime.strptime(at, "%Y-%m-%d %H:%M")
        except ValueError:
            try:
                when = datetime.strptime(at, "%Y-%m-%d %H:%M:%S")
            except ValueError:
                raise ValidationError(f'data inválida {at!r}: use "AAAA-MM-DD HH:MM"') from None
    with app.sessions() as session:
        click.echo(explain(session, circuit, to, seconds, when).text())


@cdr.command("rerate")
@click.option("--month", required=True, help="Mês AAAA-MM (no fuso de cada circuito).")
@click.option("--circuit", default=None, help="Só este circuito.")
@click.option("--force", is_flag=True, help="Re-tarifa mesmo mês já faturado (registra auditoria).")
@pass_app
def cdr_rerate(app: AppContext, month: str, circuit: str | None, force: bool) -> None:
    """Re-tarifa as chamadas de um mês depois de corrigir um plano.

    Mês já faturado é recusado, a menos que --force (que grava um evento de auditoria).

    \b
    Exemplo:
      painel cdr rerate --month 2025-08 --circuit 8011441
    """
    from cdr_ingest.rerate import rerate

    result = rerate(app.engine, month, circuit=circuit, force=force, actor="cli")
    click.echo(result.summary())


@cdr.group("quarantine", cls=PainelGroup)
def quarantine() -> None:
    """CDRs em quarentena: listar e reprocessar.

    \b
    Exemplo:
      painel cdr quarantine list --reason unknown_circuit
      painel cdr quarantine retry
    """


@quarantine.command("list")
@click.option("--reason", default=None, help="Filtra pelo motivo (malformed, unknown_circuit, ambiguous, bad_number, no_plan).")
@click.option("--all", "show_all", is_flag=True, help="Inclui os já resolvidos.")
@click.option("--limit", default=50, show_default=True, help="Máximo de registros listados.")
@click.option("--json", "as_json", is_flag=True, help="Saída em JSON (uma linha por registro).")
@pass_app
def quarantine_list(app: AppContext, reason: str | None, show_all: bool, limit: int, as_json: bool) -> None:
    """Lista os CDRs em quarentena com o motivo.

    \b
    Exemplo:
      painel cdr quarantine list --reason no_plan --limit 20
    """
    from cdr_ingest.quarantine import list_quarantine

    with app.sessions() as session:
        rows, counts = list_quarantine(session, reason=reason, include_resolved=show_all, limit=limit)
    for q in rows:
        if as_json:
            click.echo(json.dumps({"id": q.id, "uuid": q.uuid, "reason": q.reason, "detail": q.detail,
                                   "source": q.source_ref, "retries": q.retries,
                                   "resolved": q.resolved_at is not None}, ensure_ascii=False))
        else:
            state = " (resolvido)" if q.resolved_at else ""
            click.echo(f"{q.id}\t{q.reason}\t{q.uuid or '-'}\t{q.detail}{state}\t{q.source_ref}")
    summary = " ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "nenhum"
    click.echo(f"em quarentena: {summary}", err=as_json)


@quarantine.command("retry")
@click.option("--reason", default=None, help="Só os deste motivo.")
@pass_app
def quarantine_retry(app: AppContext, reason: str | None) -> None:
    """Reprocessa a quarentena (depois de cadastrar o circuito, o plano etc.).

    \b
    Exemplo:
      painel cdr quarantine retry --reason unknown_circuit
    """
    from cdr_ingest.quarantine import retry

    result = retry(app.engine, app.settings, reason=reason)
    click.echo(result.summary())


@click.group(cls=PainelGroup)
def rates() -> None:
    """Planos de tarifas: importar e exportar CSV.

    \b
    Exemplo:
      painel rates export > planos.csv
      painel rates import planos.csv
    """


@rates.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
@pass_app
def rates_import(app: AppContext, file) -> None:  # type: ignore[no-untyped-def]
    """Importa planos e versões de um CSV (versões existentes idênticas são mantidas).

    \b
    Exemplo:
      painel rates import planos.csv
    """
    from painel.audit import record
    from painel.db import transaction
    from painel.plans import import_csv

    with transaction(app.sessions) as session:
        result = import_csv(session, file)
        record(session, actor_kind="cli", actor="cli", action="rates.import",
               target_kind="rate_plans", after={"file": getattr(file, "name", "-"), "result": result.summary()})
    click.echo(result.summary())


@rates.command("export")
@click.argument("plans", nargs=-1)
@pass_app
def rates_export(app: AppContext, plans: tuple[str, ...]) -> None:
    """Exporta planos em CSV (todos, ou os códigos dados) para a saída padrão.

    \b
    Exemplo:
      painel rates export PADRAO > padrao.csv
    """
    from painel.plans import export_csv

    with app.sessions() as session:
        click.echo(export_csv(session, plans), nl=False)
