"""``painel web``: the portal under gunicorn, several worker processes with threads each.

Python runs one thread at a time per process, so one process serves at most one core's
worth of pages however many threads it has; gunicorn forks ``--workers`` processes that
share the listening socket. Each worker builds its own app and database engine after the
fork (connections are never shared across processes). The session key is created once,
before the fork, so every worker signs cookies with the same key.
"""
from __future__ import annotations

import logging
import os
from typing import Any

import click

from painel.clikit import AppContext, pass_app
from painel.errors import ConfigError
from painel.settings import Settings

log = logging.getLogger("painel.web")


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"endereço inválido para --listen: {listen!r} (use HOST:PORTA, ex.: 127.0.0.1:8000)")
    return host.strip("[]") or "127.0.0.1", int(port)


def default_workers() -> int:
    """One worker per core, at least two (a worker busy with a PDF does not stall the others)."""
    return max(2, os.cpu_count() or 1)


def serve(settings: Settings, host: str, port: int, *, workers: int, threads: int) -> None:
    """Run gunicorn in this process (the master) until SIGTERM/SIGINT."""
    from gunicorn.app.base import BaseApplication

    from webui import ensure_secret_key

    ensure_secret_key(settings)

    class PortalServer(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            options: dict[str, Any] = {
                "bind": bind, "workers": workers, "threads": threads,
                "worker_class": "gthread" if threads > 1 else "sync",
                "proc_name": "painel-web", "timeout": 60, "graceful_timeout": 20, "keepalive": 5,
                # the access log is the worker's, in the common format, to stderr
                "accesslog": None, "errorlog": "-", "loglevel": logging.getLevelName(log.getEffectiveLevel()).lower(),
                # X-Forwarded-* only from the local reverse proxy (nginx)
                "forwarded_allow_ips": "127.0.0.1,::1",
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):  # type: ignore[no-untyped-def]
            # called in each worker after the fork: its own engine and connection pool
            from webui import create_app

            return create_app(settings)

    PortalServer().run()


@click.command("web")
@click.option("--listen", default=None, help="Endereço HOST:PORTA (padrão: web_listen, 127.0.0.1:8000).")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Processos do servidor (padrão: web_workers, ou um por núcleo, no mínimo 2).")
@click.option("--threads", type=click.IntRange(1, 256), default=None,
              help="Threads por processo (padrão: web_threads, 8).")
@pass_app
def web(app: AppContext, listen: str | None, workers: int | None, threads: int | None) -> None:
    """Serve o Painel do Assinante (Flask sob gunicorn: processos com threads).

    Atrás de um proxy HTTPS (nginx), ligue web_secure_cookies para cookies Secure e HSTS.
    O limite de tentativas de login conta por processo com o armazenamento padrão
    (memory://); para um limite exato entre processos, use web_limiter_storage com Redis
    ou Memcached.

    \b
    Exemplo:
      painel web
      painel web --listen 0.0.0.0:8000 --workers 4 --threads 8
    """
    host, port = parse_listen(listen or app.settings.web_listen)
    workers = workers or app.settings.web_workers or default_workers()
    threads = threads or app.settings.web_threads
    click.echo(f"Painel do Assinante em http://{host}:{port}/entrar ({workers} processos x {threads} threads)",
               err=True)
    log.info("portal escutando em %s:%s workers=%d threads=%d", host, port, workers, threads)
    serve(app.settings, host, port, workers=workers, threads=threads)
