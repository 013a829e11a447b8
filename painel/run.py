"""``painel run``: the whole system in one command, each part a supervised child process.

The router (``painel router``), the CDR receiver (``painel cdr serve``) and the portal
(``painel web``), and with ``--simulate`` a pretend FreeSWITCH (``painel simulate``), each run
as ``python -m painel …`` in a session of its own, so a Ctrl-C in the terminal reaches only
this supervisor, which then stops them in order. Their output is relayed line by line with
the child's name in front (``router | …``).

A child that dies is logged (``processo router (pid 123) terminou pelo sinal SIGKILL; …``)
and started again after a backoff that doubles with each recent crash; after
``--max-crashes`` crashes within ``--crash-window`` seconds the supervisor gives up, stops
everything and exits 1. Ctrl-C or SIGTERM stops every child (SIGTERM, then SIGKILL to its
whole process group after ``--stop-timeout``, or at once on a second Ctrl-C) and exits 0.

This is for a laptop, a demo or a single small machine; production runs each part as its
own systemd unit (``deploy/``), where systemd does this job.
"""
from __future__ import annotations

import collections
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO

import click

from painel.clikit import AppContext, pass_app
from painel.errors import EXIT_FAILURE, ConfigError
from painel.simulate import connect_host, split_listen

log = logging.getLogger("painel.run")


@dataclass(frozen=True)
class Service:
    """One supervised command."""

    name: str                   # as logged and as the prefix of its output: router, cdr, web, simulate
    label: str                  # what it is, in pt-BR
    argv: tuple[str, ...]
    #: host and port that accept a TCP connection once it is up (None: nothing to wait for)
    check: tuple[str, int] | None = None
    #: started only once every other service answers (the simulator needs the router and the receiver)
    late: bool = False
    #: niceness relative to the supervisor's (``nice -n``): the router keeps the CPU it needs to decide
    #: within its deadline, the parts whose clients can wait (CDR receiver, portal) yield it
    nice: int = 0


@dataclass
class Child:
    service: Service
    proc: subprocess.Popen[bytes] | None = None
    crashes: collections.deque[float] = field(default_factory=collections.deque)
    restart_at: float | None = None
    starts: int = 0
    partial: bytes = b""
    ready: bool = False

    @property
    def name(self) -> str:
        return self.service.name

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def describe_exit(returncode: int) -> str:
    """``com código 1`` or ``pelo sinal SIGKILL``: how a child ended, for the log."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return f"pelo sinal {name}"
    return f"com código {returncode}"


def _parent_death_signal() -> Callable[[], None] | None:
    """Linux: make a child get SIGTERM if this supervisor is killed outright (prctl PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def setup() -> None:  # runs in the child between fork and exec
        prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the supervisor died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return setup


def _child_setup(death_signal: Callable[[], None] | None, nice: int) -> Callable[[], None] | None:
    """What runs in a child between fork and exec: the parent-death signal, then its niceness.

    A niceness below the supervisor's needs privilege (CAP_SYS_NICE, or root); without it the
    child keeps the supervisor's and :meth:`Supervisor._spawn` says so. Nothing is logged here:
    between fork and exec only async-signal-safe work belongs.
    """
    if not nice:
        return death_signal

    def setup() -> None:
        if death_signal is not None:
            death_signal()
        try:
            os.setpriority(os.PRIO_PROCESS, 0, min(19, max(-20, os.getpriority(os.PRIO_PROCESS, 0) + nice)))
        except OSError:
            pass

    return setup


def process_nice(pid: int) -> int | None:
    """A process's niceness (None when it is gone)."""
    try:
        return os.getpriority(os.PRIO_PROCESS, pid)
    except OSError:
        return None


class Supervisor:
    """Starts the services, restarts the ones that die, stops them all on a signal."""

    def __init__(self, services: Sequence[Service], *, env: dict[str, str] | None = None,
                 out: IO[str] | None = None, max_crashes: int = 5, crash_window: float = 60.0,
                 stop_timeout: float = 15.0, backoff: float = 0.5, backoff_max: float = 15.0,
                 ready_timeout: float = 60.0, on_ready: Callable[[list[str]], None] | None = None) -> None:
        self.children = [Child(s) for s in services]
        self.env = env
        self.out = out or sys.stdout
        self.max_crashes = max_crashes
        self.crash_window = crash_window
        self.stop_timeout = stop_timeout
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.ready_timeout = ready_timeout
        self.on_ready = on_ready
        self.selector = selectors.DefaultSelector()
        self.stop_signal: int | None = None
        self.failure: str | None = None
        self._announced = False
        self._started_at = 0.0
        self._force = False  # a second Ctrl-C while stopping: SIGKILL at once
        self._preexec = _parent_death_signal()

    # ------------------------------------------------------------------ main loop
    def run(self) -> int:
        """Supervise until a signal (exit 0) or a service crashes too often (exit 1)."""
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._started_at = time.monotonic()
            for child in self.children:
                if not child.service.late:
                    self._spawn(child)
            while self.stop_signal is None and self.failure is None:
                self._pump(0.2)
                now = time.monotonic()
                for child in self.children:
                    if child.proc is not None and child.proc.poll() is not None:
                        self._died(child, now)
                        if self.failure:
                            break
                    elif child.proc is None and child.restart_at is not None and now >= child.restart_at:
                        self._spawn(child)
                self._check_ready(now)
            if self.stop_signal is not None:
                log.info("recebido %s: parando todos os processos", signal.Signals(self.stop_signal).name)
        finally:
            self.stop_all()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        if self.failure:
            click.echo(f"erro: {self.failure}", err=True)
            return EXIT_FAILURE
        log.info("painel run terminado: todos os processos parados")
        return 0

    def _on_signal(self, signum: int, frame: object) -> None:
        if self.stop_signal is None:
            self.stop_signal = signum
        else:
            self._force = True

    # ------------------------------------------------------------------ children
    def _spawn(self, child: Child) -> None:
        child.restart_at = None
        child.partial = b""
        nice = child.service.nice
        proc = subprocess.Popen(child.service.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=self.env, start_new_session=True,
                                preexec_fn=_child_setup(self._preexec, nice))
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        self.selector.register(proc.stdout.fileno(), selectors.EVENT_READ, child)
        child.proc = proc
        child.starts += 1
        if child.starts == 1:
            log.info("processo %s iniciado (pid %d): %s", child.name, proc.pid, child.service.label)
        else:
            log.info("processo %s reiniciado (pid %d)", child.name, proc.pid)
        if nice:
            mine, got = process_nice(os.getpid()), process_nice(proc.pid)
            wanted = None if mine is None else min(19, max(-20, mine + nice))
            if got is not None and wanted is not None and got != wanted and child.starts == 1:
                log.warning("processo %s: sem permissão para a prioridade (nice) %d; segue com %d "
                            "(prioridade acima da do supervisor exige root ou CAP_SYS_NICE)", child.name, wanted, got)

    def _died(self, child: Child, now: float) -> None:
        proc = child.proc
        assert proc is not None and proc.returncode is not None
        self._drain(child)
        self._kill_group(proc.pid, signal.SIGKILL)  # what it left behind (gunicorn workers) holds its port
        child.proc = None
        how = describe_exit(proc.returncode)
        while child.crashes and now - child.crashes[0] > self.crash_window:
            child.crashes.popleft()
        child.crashes.append(now)
        count = len(child.crashes)
        if count >= self.max_crashes:
            log.error("processo %s (pid %d) terminou %s; %d quedas em %g s: desistindo", child.name, proc.pid, how,
                      count, self.crash_window)
            self.failure = (f"o processo {child.name} ({child.service.label}) caiu {count} vezes em "
                            f"{self.crash_window:g} s (a última {how}); todos os processos foram parados. "
                            f"Veja as linhas '{child.name} |' acima.")
            return
        delay = min(self.backoff_max, self.backoff * 2 ** (count - 1))
        child.restart_at = now + delay
        log.warning("processo %s (pid %d) terminou %s; reiniciando em %.1f s (queda %d de %d em %g s)",
                    child.name, proc.pid, how, delay, count, self.max_crashes, self.crash_window)

    def _check_ready(self, now: float) -> None:
        if self._announced:
            return
        early = [c for c in self.children if not c.service.late]
        for child in early:
            if not child.ready and child.alive() and child.service.check is not None:
                child.ready = _answers(*child.service.check)
        waiting = [c.name for c in early if c.service.check is not None and not c.ready]
        if waiting and now - self._started_at < self.ready_timeout:
            return
        if waiting:
            log.warning("ainda sem resposta depois de %g s: %s", self.ready_timeout, ", ".join(waiting))
        self._announced = True
        if self.on_ready is not None:
            self.on_ready(waiting)
        for child in self.children:
            if child.service.late and child.proc is None:
                self._spawn(child)

    # ------------------------------------------------------------------ output
    def _pump(self, timeout: float) -> None:
        for key, _ in self.selector.select(timeout):
            self._read(key.data, key.fd)

    def _read(self, child: Child, fd: int) -> bool:
        """Relay what ``fd`` has; False at end of file (the fd is then closed)."""
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return True
        except OSError:
            data = b""
        if not data:
            self._emit(child, child.partial, final=True)
            child.partial = b""
            self._unregister(fd)
            return False
        lines = (child.partial + data).split(b"\n")
        child.partial = lines.pop()
        for line in lines:
            self._emit(child, line)
        return True

    def _drain(self, child: Child) -> None:
        """Relay what a dead child left in its pipe (its last words: a traceback)."""
        proc = child.proc
        if proc is None or proc.stdout is None or proc.stdout.closed:
            return
        fd = proc.stdout.fileno()
        for _ in range(1000):
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:  # a grandchild still holds the pipe open: take what is there
                break
            except OSError:
                break
            if not data:
                break
            lines = (child.partial + data).split(b"\n")
            child.partial = lines.pop()
            for line in lines:
                self._emit(child, line)
        self._emit(child, child.partial, final=True)
        child.partial = b""
        self._unregister(fd)
        proc.stdout.close()

    def _unregister(self, fd: int) -> None:
        try:
            self.selector.unregister(fd)
        except (KeyError, ValueError):
            pass

    def _emit(self, child: Child, line: bytes, final: bool = False) -> None:
        if final and not line:
            return
        text = line.decode("utf-8", "replace").rstrip("\r")
        try:
            self.out.write(f"{child.name:>8} | {text}\n")
            self.out.flush()
        except (OSError, ValueError):  # our own output is gone (a closed terminal): keep supervising
            pass

    # ------------------------------------------------------------------ stopping
    def stop_all(self) -> None:
        """SIGTERM each child (the simulator first), wait, SIGKILL the stragglers' process groups."""
        for phase in ([c for c in self.children if c.service.late], [c for c in self.children if not c.service.late]):
            alive = [c for c in phase if c.alive()]
            for child in alive:
                assert child.proc is not None
                log.info("parando processo %s (pid %d)", child.name, child.proc.pid)
                try:
                    child.proc.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + self.stop_timeout
            while any(c.alive() for c in alive) and time.monotonic() < deadline and not self._force:
                self._pump(0.1)
            for child in phase:
                proc = child.proc
                if proc is None:
                    continue
                if proc.poll() is None:
                    log.warning("processo %s (pid %d) não parou %s: SIGKILL", child.name, proc.pid,
                                "(segundo sinal)" if self._force else f"em {self.stop_timeout:g} s")
                    self._kill_group(proc.pid, signal.SIGKILL)
                    try:
                        proc.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        log.error("processo %s (pid %d) não terminou nem com SIGKILL", child.name, proc.pid)
                else:
                    self._kill_group(proc.pid, signal.SIGKILL)  # leftovers only: the leader is gone
                self._drain(child)
                if proc.returncode is not None:
                    log.info("processo %s (pid %d) parado (%s)", child.name, proc.pid, describe_exit(proc.returncode))
                child.proc = None
                child.restart_at = None
        self.selector.close()

    @staticmethod
    def _kill_group(pgid: int, signum: int) -> None:
        try:
            os.killpg(pgid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((connect_host(host), port), timeout=0.3):
            return True
    except OSError:
        return False


def check_port_free(host: str, port: int, what: str, option: str) -> None:
    """Refuse to start when another process already listens where a service would."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"não dá para usar {host}:{port} para o {what}: {exc.strerror} "
                              f"(outro painel rodando? escolha outra porta com {option})") from None


def _url_host(host: str) -> str:
    host = connect_host(host)
    return f"[{host}]" if ":" in host else host


def _demo_logins() -> list[tuple[str, str, str]]:
    """(who, user, password) of the demo: the subscriber 8011441 and, when the demo has one, the admin."""
    from painel import demo

    password = demo.DEMO_PASSWORD
    logins = [("assinante", "8011441", password)]
    admins = dict(getattr(demo, "DEMO_ADMINS", ()))
    if "admin" in admins:
        logins.append(("admin", "admin", password))
    return logins


def _run_step(argv: list[str], env: dict[str, str], what: str) -> None:
    """A preparation step (migrations, demo) in the foreground; its failure ends the run with its code."""
    log.info("%s: %s", what, " ".join(argv[2:]))
    proc = subprocess.Popen(argv, env=env)
    try:
        code = proc.wait()
    except BaseException:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        raise
    if code != 0:
        click.echo(f"erro: {what} falhou ({describe_exit(code)}); nenhum serviço foi iniciado", err=True)
        click.get_current_context().exit(code if code > 0 else EXIT_FAILURE)


class _Stopped(Exception):
    pass


def _raise_stopped(signum: int, frame: object) -> None:
    raise _Stopped(signum)


@click.command("run")
@click.option("--no-demo", is_flag=True,
              help="Não carrega a operadora de demonstração: só aplica as migrações (banco vazio ou o seu).")
@click.option("--simulate", is_flag=True,
              help="Também simula um FreeSWITCH: chamadas pelo roteador e CDRs no receptor, ao vivo no portal.")
@click.option("--simulate-rate", type=click.FloatRange(min=0.1, max=6000), default=12.0, show_default=True,
              help="Com --simulate: chamadas por minuto, em média.")
@click.option("--router-listen", default=None, help="HOST:PORTA do roteador (padrão: router_listen, 127.0.0.1:8084).")
@click.option("--metrics-listen", default="127.0.0.1:9184", show_default=True,
              help="HOST:PORTA das métricas Prometheus do roteador ('' desliga).")
@click.option("--cdr-listen", default=None,
              help="HOST:PORTA do receptor de CDRs (padrão: cdr_listen, 127.0.0.1:8090).")
@click.option("--web-listen", default=None, help="HOST:PORTA do portal (padrão: web_listen, 127.0.0.1:8000).")
@click.option("--web-workers", type=click.IntRange(1, 64), default=None,
              help="Processos do portal (padrão: web_workers, ou um por núcleo, no mínimo 2).")
@click.option("--router-nice", type=click.IntRange(-20, 19), default=0, show_default=True,
              help="Prioridade (nice, relativa à deste comando) do roteador; negativa exige root ou CAP_SYS_NICE.")
@click.option("--cdr-nice", type=click.IntRange(-20, 19), default=5, show_default=True,
              help="Prioridade (nice, relativa) do receptor de CDRs: cede a CPU ao roteador (o FreeSWITCH reenvia).")
@click.option("--web-nice", type=click.IntRange(-20, 19), default=10, show_default=True,
              help="Prioridade (nice, relativa) do portal: cede a CPU ao roteador e ao receptor de CDRs.")
@click.option("--max-crashes", type=click.IntRange(1, 1000), default=5, show_default=True,
              help="Quedas de um processo dentro de --crash-window que fazem desistir de tudo (sai com 1).")
@click.option("--crash-window", type=click.FloatRange(min=1), default=60.0, show_default=True,
              help="Janela, em segundos, em que as quedas são contadas.")
@click.option("--stop-timeout", type=click.FloatRange(min=0.1), default=15.0, show_default=True,
              help="Segundos de espera depois do SIGTERM antes do SIGKILL, ao parar (um segundo Ctrl-C não espera).")
@pass_app
def run(app: AppContext, no_demo: bool, simulate: bool, simulate_rate: float, router_listen: str | None,
        metrics_listen: str, cdr_listen: str | None, web_listen: str | None, web_workers: int | None,
        router_nice: int, cdr_nice: int, web_nice: int, max_crashes: int, crash_window: float,
        stop_timeout: float) -> None:
    """Roda o sistema inteiro: roteador, receptor de CDRs e portal, supervisionados.

    Aplica as migrações e (sem --no-demo) carrega a operadora de demonstração, como
    `make demo` (idempotente: rodar de novo não duplica nada). Cada parte é um processo
    filho; um processo que cai é registrado no log ("processo router (pid …) terminou …")
    e reiniciado com espera crescente; depois de --max-crashes quedas em --crash-window
    segundos, tudo é parado e o comando sai com código 1. Ctrl-C ou SIGTERM param todos
    os processos (SIGTERM, espera, SIGKILL) e o comando sai com 0.

    O roteador decide cada chamada dentro do prazo do dialplan (1 s), então tem a CPU
    primeiro: o receptor de CDRs roda com nice +5 e o portal com +10 (--cdr-nice,
    --web-nice), cujos clientes podem esperar um pouco numa máquina ocupada.

    Em produção use as units do systemd de deploy/ (uma por parte), não este comando.

    \b
    Exemplo:
      painel run
      painel run --simulate
      painel run --no-demo --web-listen 0.0.0.0:8000
      PAINEL_DATABASE_URL=postgresql://painel@localhost/painel painel run --no-demo
    """
    settings = app.settings
    router_host, router_port = split_listen(router_listen or settings.router_listen)
    cdr_host, cdr_port = split_listen(cdr_listen or settings.cdr_listen)
    web_host, web_port = split_listen(web_listen or settings.web_listen)
    metrics = split_listen(metrics_listen) if metrics_listen else None
    checks = [(router_host, router_port, "roteador", "--router-listen"),
              (cdr_host, cdr_port, "receptor de CDRs", "--cdr-listen"),
              (web_host, web_port, "portal", "--web-listen")]
    if metrics:
        checks.append((metrics[0], metrics[1], "endpoint de métricas", "--metrics-listen"))
    taken: dict[int, str] = {}
    for host, port, what, option in checks:
        if port in taken:
            raise ConfigError(f"a porta {port} foi pedida para o {taken[port]} e para o {what}")
        taken[port] = what
        check_port_free(host, port, what, option)

    # the children read the same settings: the resolved database and the same config file
    root = click.get_current_context().find_root()
    env = {**os.environ, "PAINEL_DATABASE_URL": settings.database_url, "PYTHONUNBUFFERED": "1"}
    if root.params.get("config_file"):
        env["PAINEL_CONFIG"] = os.path.abspath(root.params["config_file"])
    painel = [sys.executable, "-m", "painel"]

    previous = {s: signal.signal(s, _raise_stopped) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        _run_step([*painel, "db", "upgrade"], env, "migrações")
        if not no_demo:
            _run_step([*painel, "demo"], env, "demonstração")
    except _Stopped:
        click.echo("interrompido antes de iniciar os serviços", err=True)
        return
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    router_addr = f"{router_host}:{router_port}"
    cdr_url = f"http://{_url_host(cdr_host)}:{cdr_port}/cdr"
    services = [
        Service("router", "roteador de chamadas (Event Socket de saída)",
                (*painel, "router", "--listen", router_addr, "--metrics",
                 f"{metrics[0]}:{metrics[1]}" if metrics else ""),
                # the metrics endpoint opens with the listener; probing the ESL port would log a call
                metrics or (router_host, router_port), nice=router_nice),
        Service("cdr", "receptor de CDRs do mod_json_cdr",
                (*painel, "cdr", "serve", "--listen", f"{cdr_host}:{cdr_port}"),
                (cdr_host, cdr_port), nice=cdr_nice),
        Service("web", "Painel do Assinante e administração",
                (*painel, "web", "--listen", f"{web_host}:{web_port}",
                 *(("--workers", str(web_workers)) if web_workers else ())),
                (web_host, web_port), nice=web_nice),
    ]
    if simulate:
        services.append(Service("simulate", "FreeSWITCH simulado",
                                (*painel, "simulate", "--router", f"{connect_host(router_host)}:{router_port}",
                                 "--cdr-url", cdr_url, "--rate", f"{simulate_rate:g}"), late=True))

    web_url = f"http://{_url_host(web_host)}:{web_port}"

    def banner(waiting: list[str]) -> None:
        from sqlalchemy.engine import make_url

        database = make_url(settings.database_url).render_as_string(hide_password=True)
        lines = ["", f"Painel está no ar (banco: {database})"]
        logins = {} if no_demo else {who: (user, password) for who, user, password in _demo_logins()}
        lines.append(f"  Painel do Assinante:      {web_url}/entrar")
        if "assinante" in logins:
            lines.append("    login de demonstração:  usuário {}, senha {}".format(*logins["assinante"]))
        lines.append(f"  Administração:            {web_url}/admin/entrar")
        if "admin" in logins:
            lines.append("    login de demonstração:  usuário {}, senha {}".format(*logins["admin"]))
        lines.append(f"  Roteador (Event Socket):  {router_addr}   (no dialplan: socket {router_addr} async full)")
        if metrics:
            lines.append(f"  Métricas do roteador:     http://{_url_host(metrics[0])}:{metrics[1]}/metrics")
        lines.append(f"  Receptor de CDRs:         {cdr_url}   (saúde: http://{_url_host(cdr_host)}:{cdr_port}/health)")
        if simulate:
            lines.append(f"  FreeSWITCH simulado:      {simulate_rate:g} chamadas/min pelo roteador; "
                         "veja as Ligações no portal")
        if waiting:
            lines.append(f"  (ainda sem resposta: {', '.join(waiting)}; veja as linhas acima)")
        lines.append("Ctrl-C para parar tudo.")
        lines.append("")
        click.echo("\n".join(lines))

    supervisor = Supervisor(services, env=env, max_crashes=max_crashes, crash_window=crash_window,
                            stop_timeout=stop_timeout, on_ready=banner)
    code = supervisor.run()
    if code:
        click.get_current_context().exit(code)
