"""deploy/: the systemd units, the crontab alternative and the nginx site.

Every ``painel`` command the units and the crontab run must exist with those options
(``painel <command> --help`` succeeds for each); the units carry the settings the
deployment guide promises; ``systemd-analyze verify`` accepts them (skipped only where
systemd-analyze is not installed); ``nginx -t`` accepts the site (skipped without nginx).
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from painel.cli import main

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SYSTEMD = DEPLOY / "systemd"
PAINEL = "/opt/painel/.venv/bin/painel"
SERVICES = sorted(SYSTEMD.glob("*.service"))
TIMERS = sorted(SYSTEMD.glob("*.timer"))
LONG_RUNNING = {"painel-router.service", "painel-cdr.service", "painel-web.service"}
EXEC_KEYS = ("ExecStartPre", "ExecStart", "ExecStartPost", "ExecReload", "ExecStop", "ExecStopPost")


def directives(unit: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) of a unit file, in order (comments and blank lines skipped)."""
    out, section = [], ""
    for line in unit.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


def values(unit: Path, key: str) -> list[str]:
    return [v for _, k, v in directives(unit) if k == key]


def exec_argv(value: str) -> list[str]:
    """An Exec*= value as argv, without systemd's prefixes (-, @, +, !, :)."""
    return shlex.split(value.lstrip("-@+!:"))


def painel_commands() -> list[tuple[str, list[str]]]:
    """Every `painel …` invocation in the units and the crontab: (where, arguments)."""
    found = []
    for unit in SERVICES:
        for key in EXEC_KEYS:
            for value in values(unit, key):
                argv = exec_argv(value)
                if argv[0] == PAINEL:
                    found.append((f"{unit.name} {key}", argv[1:]))
    for line in (DEPLOY / "cron" / "painel").read_text().splitlines():
        if line.startswith("#"):
            continue
        for match in re.finditer(re.escape(PAINEL) + r"((?: [^ >&|;]+)*)", line):
            found.append((f"cron/painel: {match.group(0)[:60]}", match.group(1).split()))
    return found


COMMANDS = painel_commands()


def test_the_deployment_runs_the_three_services_and_the_nightly_billing() -> None:
    assert {u.name for u in SERVICES} == LONG_RUNNING | {"painel-billing.service"}
    assert [t.name for t in TIMERS] == ["painel-billing.timer"]
    ran = {" ".join(args[:2]) for _, args in COMMANDS}
    assert {"router --metrics", "cdr serve", "web", "bill close", "bill pdf"} <= ran
    # the timer's job and the crontab's are the same two steps, in that order
    billing = [exec_argv(v)[1:] for v in values(SYSTEMD / "painel-billing.service", "ExecStart")]
    assert billing == [["bill", "close", "--previous-month", "--no-progress"],
                       ["bill", "pdf", "--previous-month", "--no-progress"]]
    cron = [args for where, args in COMMANDS if where.startswith("cron/")]
    assert cron == billing


@pytest.mark.parametrize(("where", "args"), COMMANDS, ids=[w for w, _ in COMMANDS])
def test_every_painel_command_of_the_deployment_exists(where: str, args: list[str], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """`painel <command> <its options> --help`: the command exists and takes those options."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner(env={"PAINEL_CONFIG": None, "PAINEL_DATABASE_URL": None})
    result = runner.invoke(main, [*args, "--help"])
    assert result.exit_code == 0, f"{where}: painel {' '.join(args)} --help\n{result.output}"
    assert "Usage:" in result.stdout


@pytest.mark.parametrize("unit", SERVICES, ids=[u.name for u in SERVICES])
def test_every_service_runs_as_painel_with_the_env_file_and_hardening(unit: Path) -> None:
    settings = {(k, v) for _, k, v in directives(unit)}
    for expected in [("User", "painel"), ("Group", "painel"), ("EnvironmentFile", "/etc/painel/painel.env"),
                     ("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("ReadWritePaths", "/var/lib/painel"),
                     ("PrivateTmp", "yes"), ("ProtectHome", "yes")]:
        assert expected in settings, f"{unit.name}: missing {expected[0]}={expected[1]}"
    if unit.name in LONG_RUNNING:
        assert ("Restart", "on-failure") in settings
        assert values(unit, "WantedBy") == ["multi-user.target"]
    else:
        assert ("Type", "oneshot") in settings
        assert not values(unit, "WantedBy")  # started by its timer only
    for key in EXEC_KEYS:
        for value in values(unit, key):
            argv = exec_argv(value)
            assert argv[0] == PAINEL or (key == "ExecReload" and argv[0] == "/bin/kill"), value


def test_the_router_comes_first_for_the_cpu() -> None:
    """FreeSWITCH waits for each routing decision (1 s, then the dialplan's defaults); the CDR
    receiver's and the portal's clients can wait: the router has the lowest Nice= and the highest
    CPUWeight=, then the CDR receiver, the portal, and the nightly billing last."""
    order = ["painel-router.service", "painel-cdr.service", "painel-web.service", "painel-billing.service"]
    units = {u.name: u for u in SERVICES}
    assert sorted(units) == sorted(order)
    nice = [int(values(units[name], "Nice")[0]) for name in order]
    weight = [int(values(units[name], "CPUWeight")[0]) for name in order]
    assert nice == sorted(nice) and len(set(nice)) == len(nice), nice
    assert weight == sorted(weight, reverse=True) and len(set(weight)) == len(weight), weight
    assert nice[0] < 0 < nice[1] and weight[0] > 100 > weight[1]  # systemd's defaults: Nice=0, CPUWeight=100


def test_the_timer_starts_the_billing_job_every_night() -> None:
    timer = SYSTEMD / "painel-billing.timer"
    assert values(timer, "Unit") == ["painel-billing.service"]
    assert values(timer, "OnCalendar") == ["*-*-* 03:30:00"]
    assert values(timer, "Persistent") == ["true"]
    assert values(timer, "WantedBy") == ["timers.target"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed here, so systemd itself did not verify the unit "
                           "files (their painel commands and settings are still checked by the other tests)")
def test_systemd_analyze_verify_accepts_the_units(tmp_path: Path) -> None:
    # the units name the production path; verify wants an executable there, so point it at this venv
    painel = Path(sys.executable).with_name("painel")
    if not painel.exists():
        painel = Path(sys.executable)
    copies = []
    for unit in [*SERVICES, *TIMERS]:
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text().replace(PAINEL, str(painel)))
        copies.append(str(copy))
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", *copies], capture_output=True, text=True,
                            timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # systemd-analyze only warns (exit 0) about unknown keys or bad values: none of those either
    ours = [line for line in output.splitlines() if any(u.name in line for u in [*SERVICES, *TIMERS])]
    assert not ours, output


# scripts/system-deps.sh (the README's test command) installs nginx-light and openssl
NGINX = os.environ.get("PAINEL_TEST_NGINX") or shutil.which("nginx") or "/usr/sbin/nginx"


def test_nginx_accepts_the_site(tmp_path: Path) -> None:
    assert Path(NGINX).exists() and shutil.which("openssl"), \
        "nginx and openssl are needed (scripts/system-deps.sh installs them; PAINEL_TEST_NGINX names another nginx)"
    site = (DEPLOY / "nginx" / "painel.conf").read_text()
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=painel.example.com.br",
                    "-days", "1", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    for placeholder, real in (("/etc/letsencrypt/live/painel.example.com.br/fullchain.pem", str(cert)),
                              ("/etc/letsencrypt/live/painel.example.com.br/privkey.pem", str(key)),
                              ("/var/cache/nginx/painel", str(tmp_path / "cache")),
                              ("/var/log/nginx", str(tmp_path))):
        assert placeholder in site
        site = site.replace(placeholder, real)
    (tmp_path / "site.conf").write_text(site)
    temp = "\n".join(f"    {kind}_temp_path {tmp_path / kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                              "uwsgi", "scgi"))
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path / 'nginx.pid'};\nerror_log {tmp_path / 'error.log'};\nevents {{}}\nhttp {{\n{temp}\n"
        f"    access_log {tmp_path / 'access.log'};\n    include {tmp_path / 'site.conf'};\n}}\n")
    result = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"),
                             "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_the_env_file_example_holds_real_settings_and_reads_the_same_in_systemd_and_sh() -> None:
    from painel.settings import Settings, load_settings

    example = DEPLOY / "painel.env.example"
    parsed: dict[str, str] = {}  # as systemd's EnvironmentFile= reads it (a quoted value loses its quotes)
    for line in example.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, _, value = line.partition("=")
        parsed[key] = value[1:-1] if len(value) > 1 and value[0] == value[-1] == '"' else value
    fields = {f"PAINEL_{name.upper()}" for name in Settings.__dataclass_fields__}
    assert set(parsed) <= fields, set(parsed) - fields
    settings = load_settings(environ=parsed)
    assert settings.var_dir == "/var/lib/painel" and settings.web_secure_cookies is True
    assert settings.database_url.startswith("postgresql+psycopg://painel_app:")
    assert settings.router_circuit_dial_string == "user/{circuit}"
    # the crontab sources it with /bin/sh: the same values come out
    shell = subprocess.run(["sh", "-c", f'set -a; . "{example}"; env -0'], capture_output=True, text=True,
                           env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, check=True)
    env = dict(item.split("=", 1) for item in shell.stdout.split("\0") if "=" in item)
    assert {k: env.get(k) for k in parsed} == parsed
