"""``painel router``, ``painel blacklist``, ``painel followme``, ``painel acb``."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import click

from painel.clikit import AppContext, PainelGroup, pass_app
from painel.errors import ValidationError


@click.group(cls=PainelGroup, invoke_without_command=True)
@click.option("--listen", default=None, help="Endereço:porta do socket de saída (padrão 127.0.0.1:8084).")
@click.option("--metrics", "metrics_listen", default="127.0.0.1:9184", show_default=True,
              help="Endereço:porta das métricas Prometheus ('' desliga).")
@click.option("--max-calls", default=2000, show_default=True, help="Chamadas simultâneas; acima disso, o padrão.")
@click.option("--call-timeout", default=1.0, show_default=True,
              help="Segundos por chamada antes de desistir (o watchdog do dialplan dispara em 2-3 s).")
@click.option("--refresh", default=1.0, show_default=True, help="Segundos entre verificações de regras novas.")
@click.pass_context
def router(ctx: click.Context, listen: str | None, metrics_listen: str, max_calls: int, call_timeout: float,
           refresh: float) -> None:
    """Roteador de chamadas: o FreeSWITCH entrega cada chamada a um DID por Event Socket.

    Sem subcomando, serve até receber SIGTERM (termina as chamadas em andamento).

    \b
    Exemplo:
      painel router --listen 127.0.0.1:8084
      painel router check --did 5598987654321 --caller 11988887777
    """
    if ctx.invoked_subcommand is not None:
        return
    from esl_router.cache import RulesCache
    from esl_router.server import Router, serve_forever

    app: AppContext = ctx.obj
    listen = listen or app.settings.router_listen
    host, _, port = listen.rpartition(":")
    cache = RulesCache(app.engine, refresh_interval=refresh)
    cache.refresh()
    r = Router(cache, router_config(app), max_calls=max_calls, call_timeout=call_timeout)
    serve_forever(r, host or "127.0.0.1", int(port), metrics_listen or None)


def router_config(app: AppContext):  # type: ignore[no-untyped-def]
    from esl_router.engine import RouterConfig

    return RouterConfig.from_settings(app.settings)


@router.command("export-dids")
@click.option("-o", "--output", default="-", show_default=True,
              help="Arquivo de saída (ex.: /etc/freeswitch/dialplan/painel_did_map.xml); '-' = saída padrão.")
@click.option("--reloadxml", is_flag=True, help="Depois de escrever, roda `fs_cli -x reloadxml`.")
@pass_app
def router_export_dids(app: AppContext, output: str, reloadxml: bool) -> None:
    """Gera o mapa de DIDs do dialplan: a rota padrão de cada DID quando o roteador falha.

    Escreve num arquivo temporário e renomeia, para o FreeSWITCH nunca ler um mapa pela metade.

    \b
    Exemplo:
      painel router export-dids -o /etc/freeswitch/dialplan/painel_did_map.xml --reloadxml
    """
    import os
    import subprocess
    import tempfile

    from painel.errors import InputError
    from painel.routing import did_map_xml

    with app.sessions() as session:
        xml = did_map_xml(session, app.settings.router_circuit_dial_string)
    if output == "-":
        click.echo(xml, nl=False)
        return
    directory = os.path.dirname(os.path.abspath(output))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".painel_did_map.", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(xml)
        os.chmod(tmp, 0o644)
        os.replace(tmp, output)
    except OSError as exc:
        raise InputError(f"não foi possível escrever {output}: {exc.strerror}") from exc
    click.echo(f"mapa de DIDs escrito em {output} ({xml.count('<extension ')} DIDs)", err=True)
    if reloadxml:
        done = subprocess.run(["fs_cli", "-x", "reloadxml"], capture_output=True, text=True)
        if done.returncode != 0:
            raise InputError(f"fs_cli reloadxml falhou: {done.stderr.strip() or done.stdout.strip()}")
        click.echo(done.stdout.strip(), err=True)


@router.command("check")
@click.option("--did", required=True, help="O número chamado (E.164).")
@click.option("--caller", required=True, help="Quem chama.")
@click.option("--collect", is_flag=True, help="Como se a operadora marcasse a chamada a cobrar.")
@click.option("--anonymous", is_flag=True, help="Como se o número de quem chama viesse restrito.")
@pass_app
def router_check(app: AppContext, did: str, caller: str, collect: bool, anonymous: bool) -> None:
    """Mostra a decisão que o roteador tomaria para uma chamada, e a regra que decidiu.

    \b
    Exemplo:
      painel router check --did 5598987654321 --caller 5511988887777 --collect
    """
    from sqlalchemy.orm import Session

    from esl_router.engine import CallInfo, decide, did_digits
    from painel.routing import load_did_rules

    with Session(app.engine) as session:
        rules = load_did_rules(session).get(did_digits(did))
    variables = {"sip_h_X-Siemens-Call-Type": "collect call"} if collect else {}
    call = CallInfo(uuid="check", destination=did, caller=caller, variables=variables, privacy_hide_number=anonymous)
    decision = decide(call, rules, datetime.now(timezone.utc), router_config(app))
    click.echo(f"regra: {decision.rule}")
    click.echo(f"ação: {decision.action}")
    for key, value in decision.variables.items():
        click.echo(f"  {key}={value}")
    if decision.note:
        click.echo(f"nota: {decision.note}")


@click.group(cls=PainelGroup)
def blacklist() -> None:
    """Blacklist de um circuito: números ou prefixos bloqueados nas chamadas recebidas.

    \b
    Exemplo:
      painel blacklist add --circuit 8011441 11988887777 --note insistente
      painel blacklist add --circuit 8011441 0303 --prefix --note telemarketing
    """


@blacklist.command("add")
@click.option("--circuit", required=True, help="Número do circuito (conta SIP).")
@click.argument("number")
@click.option("--prefix", is_flag=True, help="Bloqueia todos os números que começam assim (ex.: 0303).")
@click.option("--note", default=None, help="Observação (ex.: telemarketing).")
@click.option("--did", default=None, help="Só nas chamadas para este DID.")
@click.option("--expires", default=None,
              help="Deixa de bloquear a partir de 00:00 deste dia AAAA-MM-DD, no fuso do circuito.")
@pass_app
def blacklist_add_cmd(app: AppContext, circuit: str, number: str, prefix: bool, note: str | None,
                      did: str | None, expires: str | None) -> None:
    """Bloqueia um número ou prefixo.

    \b
    Exemplo:
      painel blacklist add --circuit 8011441 "+55 11 98888-7777" --note "ligações insistentes"
    """
    from painel.db import transaction
    from painel.routing import blacklist_add, circuit_by_number, expiry_of_day

    day = None
    if expires:
        try:
            day = datetime.strptime(expires, "%Y-%m-%d").date()
        except ValueError:
            raise ValidationError("data de expiração inválida: use AAAA-MM-DD") from None
    with transaction(app.sessions) as session:
        owner = circuit_by_number(session, circuit)
        expires_at = expiry_of_day(day, owner.timezone) if day else None
        if expires_at is not None and expires_at <= datetime.now(timezone.utc):
            raise ValidationError("a data de expiração precisa estar no futuro (a partir de amanhã)")
        entry = blacklist_add(session, owner, number, is_prefix=prefix, note=note, did=did, expires_at=expires_at)
        click.echo(f"bloqueado: {entry.number}{' (prefixo)' if entry.is_prefix else ''} [id {entry.id}]")


@blacklist.command("remove")
@click.option("--circuit", required=True, help="Número do circuito (conta SIP).")
@click.argument("entry_id", type=int)
@pass_app
def blacklist_remove_cmd(app: AppContext, circuit: str, entry_id: int) -> None:
    """Remove uma entrada da blacklist pelo id (veja `painel blacklist list`).

    \b
    Exemplo:
      painel blacklist remove --circuit 8011441 12
    """
    from painel.db import transaction
    from painel.routing import blacklist_remove, circuit_by_number

    with transaction(app.sessions) as session:
        blacklist_remove(session, circuit_by_number(session, circuit), entry_id)
    click.echo("removido")


@blacklist.command("list")
@click.option("--circuit", required=True, help="Número do circuito (conta SIP).")
@pass_app
def blacklist_list_cmd(app: AppContext, circuit: str) -> None:
    """Lista a blacklist do circuito com os bloqueios contados.

    \b
    Exemplo:
      painel blacklist list --circuit 8011441
    """
    from sqlalchemy import select

    from painel.models import BlacklistEntry
    from painel.routing import circuit_by_number

    with app.sessions() as session:
        c = circuit_by_number(session, circuit)
        click.echo(f"bloquear anônimos: {'sim' if c.block_anonymous else 'não'}")
        for e in session.scalars(select(BlacklistEntry).where(BlacklistEntry.circuit_id == c.id)
                                 .order_by(BlacklistEntry.id)):
            extra = []
            if e.is_prefix:
                extra.append("prefixo")
            if e.expires_at:
                local = e.expires_at.astimezone(ZoneInfo(c.timezone))
                extra.append(f"expira {local:%d/%m/%Y %H:%M}")
            click.echo(f"{e.id}\t{e.number}\t{e.hits} bloqueio(s)\t{', '.join(extra)}\t{e.note or ''}")


@click.group(cls=PainelGroup)
def followme() -> None:
    """Siga-me de um DID: encaminha as chamadas para outro número.

    \b
    Exemplo:
      painel followme set --did 5598987654321 --to 0218632221234 --mode no_answer --timeout 20
      painel followme off --did 5598987654321
    """


@followme.command("set")
@click.option("--did", required=True, help="O DID, em E.164 (ex.: 5598987654321).")
@click.option("--to", "destination", required=True, help="Destino, como o circuito discaria.")
@click.option("--mode", type=click.Choice(["always", "no_answer", "unavailable"]), default="always",
              show_default=True, help="sempre, não atende após N s, indisponível/ocupado.")
@click.option("--timeout", default=20, show_default=True, help="Segundos tocando antes de encaminhar (no_answer).")
@pass_app
def followme_set_cmd(app: AppContext, did: str, destination: str, mode: str, timeout: int) -> None:
    """Liga o siga-me (o destino precisa seguir as regras de saída do circuito).

    \b
    Exemplo:
      painel followme set --did 5598987654321 --to 981234567
    """
    from painel.db import transaction
    from painel.routing import did_by_number, followme_set

    with transaction(app.sessions) as session:
        followme_set(session, did_by_number(session, did), destination, mode, timeout)
    click.echo("siga-me ligado")


@followme.command("off")
@click.option("--did", required=True, help="O DID, em E.164 (ex.: 5598987654321).")
@pass_app
def followme_off_cmd(app: AppContext, did: str) -> None:
    """Desliga o siga-me.

    \b
    Exemplo:
      painel followme off --did 5598987654321
    """
    from painel.db import transaction
    from painel.routing import did_by_number, followme_off

    with transaction(app.sessions) as session:
        followme_off(session, did_by_number(session, did))
    click.echo("siga-me desligado")


@click.group(cls=PainelGroup)
def acb() -> None:
    """ACB: aceitar chamadas a cobrar num DID.

    \b
    Exemplo:
      painel acb on --did 5598987654321
    """


def _acb(app: AppContext, did: str, on: bool) -> None:
    from painel.db import transaction
    from painel.routing import acb_set, did_by_number

    with transaction(app.sessions) as session:
        acb_set(session, did_by_number(session, did), on)
    click.echo("ACB ligado" if on else "ACB desligado")


@acb.command("on")
@click.option("--did", required=True, help="O DID, em E.164 (ex.: 5598987654321).")
@pass_app
def acb_on(app: AppContext, did: str) -> None:
    """Aceita chamadas a cobrar neste DID.

    \b
    Exemplo:
      painel acb on --did 5598987654321
    """
    _acb(app, did, True)


@acb.command("off")
@click.option("--did", required=True, help="O DID, em E.164 (ex.: 5598987654321).")
@pass_app
def acb_off(app: AppContext, did: str) -> None:
    """Recusa chamadas a cobrar neste DID.

    \b
    Exemplo:
      painel acb off --did 5598987654321
    """
    _acb(app, did, False)
