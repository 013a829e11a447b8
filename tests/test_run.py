"""`painel run`: the whole system in one command, supervised.

The real command in a temporary directory on free ports (SQLite, the default engine): every
part answers; a child killed with SIGKILL is logged and started again; SIGTERM stops
everything and exits 0 with no process left; a child that keeps crashing makes the whole run
give up with exit 1; and, with the demo and --simulate, simulated calls reach the database
through the router and the CDR receiver.
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from painel.cli import main
from painel.run import describe_exit
from painel.simulate import forward_destination, leg_variables

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def http_get(port: int, path: str) -> tuple[int, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return response.status, response.read().decode("utf-8", "replace")


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class PainelRun:
    """`python -m painel run …` in ``tmp_path``, its stdout and stderr in files."""

    def __init__(self, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.ports = {name: free_port() for name in ("router", "metrics", "cdr", "web")}
        self.tmp_path = tmp_path
        self.db = tmp_path / "painel.db"
        environ = {k: v for k, v in os.environ.items() if not k.startswith("PAINEL_")}
        environ.update({"PAINEL_DATABASE_URL": f"sqlite:///{self.db}", "PAINEL_VAR_DIR": str(tmp_path / "var"),
                        "PAINEL_LOG_LEVEL": "INFO", **(env or {})})
        self.out_path, self.err_path = tmp_path / "run.out", tmp_path / "run.err"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "painel", "run",
                 "--router-listen", f"127.0.0.1:{self.ports['router']}",
                 "--metrics-listen", f"127.0.0.1:{self.ports['metrics']}",
                 "--cdr-listen", f"127.0.0.1:{self.ports['cdr']}",
                 "--web-listen", f"127.0.0.1:{self.ports['web']}",
                 "--web-workers", "1", "--stop-timeout", "10", *args],
                cwd=tmp_path, env=environ, stdout=out, stderr=err, stdin=subprocess.DEVNULL)

    @property
    def stdout(self) -> str:
        return self.out_path.read_text(encoding="utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, check: Callable[[], object], timeout: float, what: str) -> object:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"{what}: not within {timeout} s (exit {self.proc.poll()})\n"
                             f"--- stdout\n{self.stdout[-4000:]}\n--- stderr\n{self.stderr[-4000:]}")

    def wait_log(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        return self.wait_for(lambda: re.search(pattern, self.stderr), timeout, f"log line {pattern!r}")  # type: ignore[return-value]

    def wait_ready(self, timeout: float = 60) -> None:
        self.wait_for(lambda: "Painel está no ar" in self.stdout, timeout, "the banner")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=40)


@pytest.fixture
def runs() -> Iterator[list[PainelRun]]:
    started: list[PainelRun] = []
    yield started
    for r in started:  # a failed test must not leave a supervisor (and its children) behind
        if r.proc.poll() is None:
            family = descendants(r.proc.pid)
            r.proc.kill()
            r.proc.wait()
            for pid in family:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass


def test_run_serves_everything_restarts_a_dead_child_and_stops_cleanly(tmp_path: Path, runs) -> None:  # type: ignore[no-untyped-def]
    r = PainelRun(tmp_path, "--no-demo")
    runs.append(r)
    r.wait_ready()
    ports = r.ports
    banner = r.stdout
    assert f"http://127.0.0.1:{ports['web']}/entrar" in banner
    assert f"http://127.0.0.1:{ports['web']}/admin/entrar" in banner
    assert f"127.0.0.1:{ports['router']}" in banner
    assert f"http://127.0.0.1:{ports['metrics']}/metrics" in banner
    assert f"http://127.0.0.1:{ports['cdr']}/cdr" in banner
    assert "8011441" not in banner  # --no-demo: no demo logins to show
    # every part answers
    socket.create_connection(("127.0.0.1", ports["router"]), timeout=2).close()
    assert "painel_router" in http_get(ports["metrics"], "/metrics")[1]
    assert json.loads(http_get(ports["cdr"], "/health")[1]) == {"status": "ok"}
    assert http_get(ports["web"], "/entrar")[0] == 200
    assert r.db.exists()  # migrated

    # a child that dies is logged (name, signal) and started again
    router_pid = int(r.wait_log(r"processo router iniciado \(pid (\d+)\)").group(1))
    os.kill(router_pid, signal.SIGKILL)
    r.wait_log(rf"processo router \(pid {router_pid}\) terminou pelo sinal SIGKILL; reiniciando em 0\.5 s "
               r"\(queda 1 de 5 em 60 s\)")
    new_pid = int(r.wait_log(r"processo router reiniciado \(pid (\d+)\)").group(1))
    assert new_pid != router_pid

    def metrics_answer() -> bool:
        try:
            return "painel_router" in http_get(ports["metrics"], "/metrics")[1]
        except OSError:
            return False

    r.wait_for(metrics_answer, 30, "the restarted router")

    # the router keeps the supervisor's CPU priority (restarted too); the CDR receiver and the
    # portal (the gunicorn master and its worker) yield it: nice +5 and +10 by default
    base = os.getpriority(os.PRIO_PROCESS, r.proc.pid)
    cdr_pid = int(r.wait_log(r"processo cdr iniciado \(pid (\d+)\)").group(1))
    web_pid = int(r.wait_log(r"processo web iniciado \(pid (\d+)\)").group(1))
    assert os.getpriority(os.PRIO_PROCESS, new_pid) == base
    assert os.getpriority(os.PRIO_PROCESS, cdr_pid) == min(19, base + 5)
    web_family = {web_pid} | descendants(web_pid)
    assert len(web_family) >= 2
    assert {os.getpriority(os.PRIO_PROCESS, pid) for pid in web_family} == {min(19, base + 10)}

    # SIGTERM: every child stopped, exit 0, nothing left, every port free again
    family = descendants(r.proc.pid)
    assert new_pid in family and len(family) >= 4  # router, cdr, web master and its worker
    assert r.stop() == 0, r.stderr
    assert "painel run terminado: todos os processos parados" in r.stderr
    deadline = time.monotonic() + 5
    while any(running(pid) for pid in family) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in family if running(pid)]
    assert all(port_free(port) for port in ports.values())


def test_a_child_that_keeps_crashing_makes_the_run_give_up(tmp_path: Path, runs) -> None:  # type: ignore[no-untyped-def]
    # a setting only the router reads, and it cannot start with: it crashes at every start
    r = PainelRun(tmp_path, "--no-demo", "--max-crashes", "3", env={"PAINEL_ROUTER_COLLECT_RULES": "sem-sentido"})
    runs.append(r)
    r.wait_for(lambda: descendants(r.proc.pid), 20, "the children")
    family: set[int] = set()
    deadline = time.monotonic() + 60
    while r.proc.poll() is None and time.monotonic() < deadline:
        family |= descendants(r.proc.pid)
        time.sleep(0.1)
    assert r.proc.wait(timeout=30) == 1, r.stderr
    err = r.stderr
    # the router's configuration error is exit 2 (painel.errors.ConfigError)
    assert re.search(r"processo router \(pid \d+\) terminou com código 2; reiniciando em 0\.5 s \(queda 1 de 3 em 60 s\)",
                     err), err
    assert re.search(r"processo router \(pid \d+\) terminou com código 2; reiniciando em 1\.0 s \(queda 2 de 3", err)
    assert re.search(r"processo router \(pid \d+\) terminou com código 2; 3 quedas em 60 s: desistindo", err)
    assert ("erro: o processo router (roteador de chamadas (Event Socket de saída)) caiu 3 vezes em 60 s "
            "(a última com código 2); todos os processos foram parados") in err
    # the router's own last words, relayed with its name
    assert "router | erro: regra de chamada a cobrar inválida: 'sem-sentido'" in r.stdout
    time.sleep(0.5)
    assert not [pid for pid in family if running(pid)]


@pytest.mark.slow
def test_run_with_the_demo_and_the_simulator_shows_live_calls(tmp_path: Path, runs) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from painel.db import create_engine
    from painel.demo import DEMO_PASSWORD
    from painel.models import Cdr

    r = PainelRun(tmp_path, "--simulate", "--simulate-rate", "240")
    runs.append(r)
    r.wait_ready(timeout=120)  # the demo loads four months of CDRs and bills them first
    banner = r.stdout
    assert f"usuário 8011441, senha {DEMO_PASSWORD}" in banner
    import painel.demo

    if "admin" in dict(getattr(painel.demo, "DEMO_ADMINS", ())):  # the demo's staff account, when it has one
        assert f"usuário admin, senha {DEMO_PASSWORD}" in banner
    assert "FreeSWITCH simulado" in banner
    r.wait_for(lambda: re.search(r"simulate \| .*chamada simulada \S+: \d+ -> \d+ regra=", r.stdout), 60,
               "a call through the router")
    engine = create_engine(f"sqlite:///{r.db}")
    try:
        def posted() -> int:
            with Session(engine) as session:
                return session.scalar(select(func.count()).select_from(Cdr)
                                      .where(Cdr.source_ref.like("http:%"))) or 0

        r.wait_for(posted, 30, "a CDR posted to the receiver")
    finally:
        engine.dispose()
    assert "painel_router_calls_total" in http_get(r.ports["metrics"], "/metrics")[1]
    assert r.stop() == 0, r.stderr
    assert re.search(r"simulador parado: chamadas=\d+ cdrs_enviados=\d+", r.stdout)


def test_a_port_in_use_is_refused_before_anything_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner(env={"PAINEL_CONFIG": None, "PAINEL_DATABASE_URL": None, "PAINEL_LOG_LEVEL": "WARNING"})
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = runner.invoke(main, ["--database-url", f"sqlite:///{tmp_path / 'x.db'}", "run", "--no-demo",
                                      "--router-listen", f"127.0.0.1:{port}"])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("erro: ") and f"127.0.0.1:{port}" in result.stderr
    assert "--router-listen" in result.stderr
    assert not (tmp_path / "x.db").exists()  # nothing was started, not even the migrations


def test_exit_descriptions() -> None:
    assert describe_exit(1) == "com código 1"
    assert describe_exit(-signal.SIGKILL) == "pelo sinal SIGKILL"
    assert describe_exit(-signal.SIGTERM) == "pelo sinal SIGTERM"


def test_follow_me_dial_strings_as_the_simulator_reads_them() -> None:
    always = "{painel_direction=forwarded,painel_circuit=8011441}sofia/gateway/carrier/0218632221234"
    assert forward_destination(always) == "0218632221234"
    assert leg_variables(always) == {"painel_direction": "forwarded", "painel_circuit": "8011441"}
    no_answer = ("[leg_timeout=20]user/8011441|[painel_direction=forwarded,painel_circuit=8011441]"
                 "sofia/gateway/carrier/981234567")
    assert forward_destination(no_answer) == "981234567"
    assert leg_variables(no_answer) == {"painel_direction": "forwarded", "painel_circuit": "8011441"}
    assert leg_variables("user/8011441") == {}
