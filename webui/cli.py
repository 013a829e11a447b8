"""``painel web``: the portal under waitress (a production WSGI server)."""
from __future__ import annotations

import logging

import click

from painel.clikit import AppContext, pass_app
from painel.errors import ConfigError

log = logging.getLogger("painel.web")


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"endereço inválido para --listen: {listen!r} (use HOST:PORTA, ex.: 127.0.0.1:8000)")
    return host.strip("[]") or "127.0.0.1", int(port)


@click.command("web")
@click.option("--listen", default=None, help="Endereço HOST:PORTA (padrão: web_listen, 127.0.0.1:8000).")
@click.option("--threads", type=int, default=None, help="Threads do servidor (padrão: web_threads, 8).")
@pass_app
def web(app: AppContext, listen: str | None, threads: int | None) -> None:
    """Serve o Painel do Assinante (Flask sob waitress).

    Atrás de um proxy HTTPS (nginx), ligue web_secure_cookies para cookies Secure e HSTS.

    \b
    Exemplo:
      painel web
      painel web --listen 0.0.0.0:8000 --threads 16
    """
    import waitress

    from webui import create_app

    host, port = parse_listen(listen or app.settings.web_listen)
    flask_app = create_app(app.settings, app.engine)
    click.echo(f"Painel do Assinante em http://{host}:{port}/entrar", err=True)
    log.info("portal escutando em %s:%s", host, port)
    waitress.serve(flask_app, host=host, port=port, threads=threads or app.settings.web_threads, ident="painel",
                   clear_untrusted_proxy_headers=True)
