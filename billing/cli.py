"""``painel bill …``: closing a month into invoices, and their PDFs."""
from __future__ import annotations

import logging
import sys

import click

from painel.clikit import AppContext, PainelGroup, pass_app
from painel.errors import EXIT_FAILURE, ValidationError

log = logging.getLogger("painel.billing")


@click.group("bill", cls=PainelGroup)
def bill() -> None:
    """Faturamento mensal: fechamento do mês em faturas e PDFs.

    \b
    Exemplo:
      painel bill close --previous-month
      painel bill close --month 2025-08 --circuit 8011441
      painel bill pdf --month 2025-08
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


@bill.command("pdf")
@click.option("--invoice", "invoice_id", type=int, default=None, help="Número (id) da fatura a gerar.")
@click.option("--month", default=None, help="Gera os PDFs de todas as faturas fechadas do mês, AAAA-MM.")
@click.option("--previous-month", is_flag=True,
              help="Como --month, para o mês anterior ao atual (o mesmo que `bill close --previous-month` fecha).")
@click.option("--circuit", default=None, help="Com --month ou --previous-month: só as faturas deste circuito.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Com --invoice: copia o PDF também para este arquivo.")
@click.option("--workers", type=int, default=None,
              help="Processos em paralelo com --month (padrão: pdf_workers, ou um por núcleo).")
@click.option("--force", is_flag=True, help="Gera de novo mesmo se o arquivo guardado estiver em dia.")
@click.option("--progress/--no-progress", default=None, help="Barra de progresso (padrão: só em terminal).")
@pass_app
def bill_pdf(app: AppContext, invoice_id: int | None, month: str | None, previous_month: bool, circuit: str | None,
             output: str | None, workers: int | None, force: bool, progress: bool | None) -> None:
    """Gera o PDF de uma fatura, ou de todas as faturas de um mês.

    O PDF é guardado no diretório de faturas (pdf_dir, padrão var/faturas) com a
    soma SHA-256 registrada na fatura. Um arquivo que sumiu, foi alterado ou cujos
    dados mudaram (um pagamento muda a situação impressa) é gerado de novo; um
    arquivo em dia é reaproveitado. Com --month, as faturas são geradas em
    processos paralelos e a execução termina com a linha
    `rendered=N current=N failed=N`. Código de saída 0 quando tudo foi gerado,
    1 se alguma fatura falhou, 2 fatura ou mês inválido.

    \b
    Exemplo:
      painel bill pdf --invoice 42 -o fatura-42.pdf
      painel bill pdf --month 2025-08 --workers 2
      painel bill close --previous-month && painel bill pdf --previous-month
    """
    import shutil

    from billing.close import previous_month as last_month
    from billing.pdf import ensure_pdf, invoices_of_month, render_month
    from painel.periods import check_month

    if sum((invoice_id is not None, month is not None, previous_month)) != 1:
        raise ValidationError("informe --invoice ID, --month AAAA-MM ou --previous-month (um dos três)")
    if previous_month:
        month = last_month(app.engine, circuit=circuit)
    if invoice_id is not None:
        if circuit is not None:
            raise ValidationError("--circuit só vale com --month ou --previous-month")
        result = ensure_pdf(app.engine, invoice_id, app.settings, force=force)
        if output:
            shutil.copyfile(result.path, output)
        state = "gerado" if result.rendered else "em dia"
        click.echo(f"fatura {invoice_id}: {output or result.path} ({state}, sha256 {result.sha256})")
        return
    if output:
        raise ValidationError("-o/--output só vale com --invoice")
    assert month is not None
    check_month(month)
    workers = workers or app.settings.pdf_workers or None
    show = sys.stderr.isatty() if progress is None else progress
    if show:
        total = len(invoices_of_month(app.engine, month, circuit))
        with click.progressbar(length=total, label=f"PDFs de {month}", file=sys.stderr, show_pos=True) as bar:
            result = render_month(app.engine, app.settings, month, circuit=circuit, workers=workers, force=force,
                                  progress=bar.update)
    else:
        result = render_month(app.engine, app.settings, month, circuit=circuit, workers=workers, force=force)
    for failed_id, error in sorted(result.failures.items()):
        click.echo(f"falha: fatura {failed_id}: {error}", err=True)
    click.echo(result.summary())
    if result.failed:
        click.get_current_context().exit(EXIT_FAILURE)
