"""``painel pay …``: registering payments by hand or from the bank return file."""
from __future__ import annotations

import click

from painel.clikit import AppContext, PainelGroup, pass_app
from painel.errors import EXIT_FAILURE, ValidationError
from painel.fmt import brl, data_br, mes_ref


def _balance_line(balance) -> str:  # type: ignore[no-untyped-def]
    from billing.payments import state_label

    text = (f"situação: {state_label(balance.state)}; total {brl(balance.total)}, pago {brl(balance.paid)}, "
            f"em aberto {brl(balance.outstanding)}")
    if balance.overpaid > 0:
        text += f", pago a maior {brl(balance.overpaid)}"
    return text


@click.group("pay", cls=PainelGroup, invoke_without_command=True)
@click.option("--invoice", "invoice_id", type=int, default=None, help="Número (id) da fatura paga.")
@click.option("--amount", default=None, help="Valor pago: 37.50, 37,50 ou 1.234,56 (sem float: exato ao centavo).")
@click.option("--date", "paid_on", default=None, help="Data do pagamento: AAAA-MM-DD ou DD/MM/AAAA (obrigatória).")
@click.option("--ref", "reference", default=None,
              help="Referência do banco; a mesma referência na mesma fatura não é aplicada duas vezes.")
@click.pass_context
def pay(ctx: click.Context, invoice_id: int | None, amount: str | None, paid_on: str | None,
        reference: str | None) -> None:
    """Pagamentos: registra um pagamento numa fatura fechada, ou importa o retorno do banco.

    Pagamentos parciais se somam; a fatura passa a "paga" quando a soma cobre o total.
    Pagamento a maior é registrado por inteiro e informado. Faturas do mês corrente
    (ainda em aberto) não recebem pagamento. Código de saída 0 quando registrado (ou
    duplicado), 2 fatura desconhecida, em aberto ou valor/data inválidos.

    \b
    Exemplo:
      painel pay --invoice 123 --amount 37,50 --date 10/09/2025 --ref BB-000123
      painel pay import retorno-banco.csv
      painel pay list --invoice 123
    """
    given = {"--invoice": invoice_id, "--amount": amount, "--date": paid_on, "--ref": reference}
    if ctx.invoked_subcommand is not None:
        extra = [name for name, value in given.items() if value is not None]
        if extra:
            raise ValidationError(f"{', '.join(extra)} só vale(m) sem subcomando (painel pay --invoice ...)")
        return
    if all(value is None for value in given.values()):
        click.echo(ctx.get_help())
        return
    missing = [name for name in ("--invoice", "--amount", "--date") if given[name] is None]
    if missing:
        raise ValidationError(f"faltam {', '.join(missing)}: informe --invoice, --amount e --date")
    assert invoice_id is not None and amount is not None and paid_on is not None

    from billing.payments import apply_payment, parse_amount, parse_date

    app = ctx.find_object(AppContext)
    assert app is not None
    result = apply_payment(app.engine, invoice_id, parse_amount(amount), parse_date(paid_on), reference)
    click.echo(result.describe())
    click.echo(_balance_line(result.balance))


@pay.command("import")
@click.argument("file", type=str)
@pass_app
def pay_import(app: AppContext, file: str) -> None:
    """Importa o arquivo de retorno do banco (CSV): uma linha por pagamento.

    Colunas fatura, valor, data, referência (cabeçalho opcional, em português ou
    inglês: invoice, amount, date, reference), separadas por ";" ou ",". Valores como
    37.50, 37,50 ou R$ 1.234,56; datas AAAA-MM-DD ou DD/MM/AAAA. Cada linha boa é
    gravada na sua própria transação; cada linha ruim é informada com o número e o
    motivo, e as demais são aplicadas. Reimportar o arquivo não duplica pagamentos com
    referência. Termina com `applied=N duplicate=N rejected=N overpaid=N`. Código de
    saída 0 quando todas as linhas foram aplicadas ou eram duplicadas, 1 se alguma foi
    rejeitada, 4 se o arquivo não pode ser lido.

    \b
    Exemplo:
      painel pay import retorno-banco.csv
      (arquivo:  fatura;valor;data;referencia
                 123;37,50;10/09/2025;BB-000123)
    """
    from billing.payments import import_payments, parse_bank_csv, read_bank_file

    bank = parse_bank_csv(read_bank_file(file))
    result = import_payments(app.engine, bank, source=file)
    for outcome in result.outcomes:
        payment = outcome.payment
        where = f"fatura {payment.invoice_id} ({payment.circuit_label}, {mes_ref(payment.month)})"
        if outcome.status == "duplicate":
            click.echo(f"linha {outcome.line}: duplicado, não aplicado: {where} já tem a referência "
                       f"{payment.reference}")
            continue
        text = f"linha {outcome.line}: aplicado: {where} {brl(payment.amount)} em {data_br(payment.paid_on)}"
        if payment.became_paid:
            text += "; fatura paga"
        if payment.excess > 0:
            text += f"; pago a maior em {brl(payment.excess)}"
        click.echo(text)
    for error in result.errors:
        click.echo(f"rejeitada: {error}", err=True)
    click.echo(result.summary())
    if not result.ok:
        click.get_current_context().exit(EXIT_FAILURE)


@pay.command("list")
@click.option("--invoice", "invoice_id", type=int, required=True, help="Número (id) da fatura.")
@pass_app
def pay_list(app: AppContext, invoice_id: int) -> None:
    """Lista os pagamentos de uma fatura e o saldo (pago, em aberto, pago a maior).

    \b
    Exemplo:
      painel pay list --invoice 123
    """
    from billing.payments import UnknownInvoice, invoice_balance, list_payments
    from painel.models import Circuit, Invoice

    with app.sessions() as session:
        invoice = session.get(Invoice, invoice_id)
        if invoice is None:
            raise UnknownInvoice(invoice_id)
        circuit = session.get(Circuit, invoice.circuit_id)
        assert circuit is not None
        payments = list_payments(session, invoice_id)
        balance = invoice_balance(session, invoice_id)
        label = f"{circuit.number} - {circuit.name}" if circuit.name else circuit.number
        click.echo(f"fatura {invoice.id} ({label}, {mes_ref(invoice.month)})")
        for p in payments:
            ref = f"ref. {p.reference}" if p.reference else "sem referência"
            click.echo(f"  {data_br(p.paid_on)}  {brl(p.amount)}  {ref}")
        if not payments:
            click.echo("  nenhum pagamento")
        click.echo(_balance_line(balance))
