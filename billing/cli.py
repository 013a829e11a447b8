"""``painel bill …``: closing a month into invoices."""
from __future__ import annotations

import logging
import sys

import click

from painel.clikit import AppContext, PainelGroup, pass_app
from painel.errors import EXIT_FAILURE, ValidationError

log = logging.getLogger("painel.billing")


@click.group("bill", cls=PainelGroup)
def bill() -> None:
    """Faturamento mensal: fechamento do mês em faturas.

    \b
    Exemplo:
      painel bill close --previous-month
      painel bill close --month 2025-08 --circuit 8011441
    """


@bill.command("close")
@click.option("--month", default=None, help="Mês a fechar, AAAA-MM (no fuso de cada circuito).")
@click.option("--previous-month", is_flag=True,
              help="Fecha o mês anterior ao atual (o último já encerrado no fuso dos circuitos).")
@click.option("--circuit", default=None, help="Só este circuito (número da conta SIP).")
@click.option("--strict", is_flag=True,
              help="Recusa o fechamento se houver CDRs em quarentena sem solução.")
@click.option("--progress/--no-progress", default=None,
              help="Barra de progresso (padrão: só em terminal).")
@pass_app
def bill_close(app: AppContext, month: str | None, previous_month: bool, circuit: str | None, strict: bool,
               progress: bool | None) -> None:
    """Fecha o mês: uma fatura por circuito ativo, uma transação por fatura.

    Idempotente: faturas já fechadas são puladas, e uma execução interrompida é
    completada pela seguinte. Chamadas que chegaram depois do fechamento do seu mês
    entram na próxima fatura fechada como linha de ajuste. Termina com a linha
    `closed=N already_closed=N failed=N empty=N total=1234.56`. Código de saída 0
    quando tudo foi fechado, 1 se algum circuito falhou, 2 mês ou circuito inválido,
    75 se outra execução estiver em andamento.

    \b
    Exemplo:
      painel bill close --month 2025-08
      painel bill close --previous-month --strict
    """
    from billing.close import circuits_to_close, close_month
    from painel.periods import check_month
    from billing.close import previous_month as last_month

    if (month is None) == (not previous_month):
        raise ValidationError("informe --month AAAA-MM ou --previous-month (um dos dois)")
    if previous_month:
        month = last_month(app.engine, circuit=circuit)
    assert month is not None
    check_month(month)
    show = sys.stderr.isatty() if progress is None else progress
    if show:
        total = circuits_to_close(app.engine, circuit)
        with click.progressbar(length=total, label=f"fechando {month}", file=sys.stderr,
                               show_pos=True) as bar:
            result = close_month(app.engine, month, circuit=circuit, strict=strict, progress=bar.update)
    else:
        result = close_month(app.engine, month, circuit=circuit, strict=strict)
    for warning in result.warnings:
        click.echo(f"aviso: {warning}", err=True)
    for number, error in sorted(result.failures.items()):
        click.echo(f"falha: circuito {number}: {error}", err=True)
    click.echo(result.summary())
    if result.failed:
        click.get_current_context().exit(EXIT_FAILURE)
