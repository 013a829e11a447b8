"""Settings, built once and passed in: defaults, then a file, then PAINEL_* environment.

Nothing deeper in the code reads ``os.environ``; components receive a ``Settings``.
The file is TOML (``painel.toml``), found by ``--config``/``PAINEL_CONFIG`` or in the
working directory.
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from painel.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    #: SQLAlchemy URL; SQLite under var/ by default so the demo needs nothing else
    database_url: str = f"sqlite:///{PROJECT_ROOT / 'var' / 'painel.db'}"
    #: where generated files live (PDFs, charts, spools)
    var_dir: str = str(PROJECT_ROOT / "var")
    #: time zone FreeSWITCH writes *_stamp values in (CSV templates without epochs)
    switch_timezone: str = "UTC"
    #: default time zone of a circuit created without one
    default_timezone: str = "America/Sao_Paulo"
    #: the mod_cdr_csv configuration whose templates the CSV ingester reads
    cdr_csv_config: str = str(PROJECT_ROOT / "fs-config" / "autoload_configs" / "cdr_csv.conf.xml")
    #: template used for CSV files when the field count does not identify one
    cdr_csv_template: str = "painel"
    #: listen address of the mod_json_cdr HTTP receiver
    cdr_listen: str = "127.0.0.1:8090"
    #: optional HTTP basic credentials mod_json_cdr sends (``user:password``)
    cdr_http_credentials: str = ""
    #: rows per transaction when ingesting
    ingest_batch_size: int = 5000
    #: worker processes that parse and rate large CSV files while the main one writes
    ingest_workers: int = 2
    #: web portal
    web_listen: str = "127.0.0.1:8000"
    #: signs session cookies; empty: a random key kept in <var_dir>/secret_key
    secret_key: str = ""
    #: processes of `painel web` (0: one per core, at least 2) and threads in each
    web_workers: int = 0
    web_threads: int = 8
    #: idle minutes before a portal session expires, and its absolute limit in hours
    web_session_minutes: int = 30
    web_session_max_hours: int = 12
    #: reverse proxies in front of `painel web` (1 behind the nginx of deploy/) whose
    #: X-Forwarded-For/-Proto/-Host are trusted; 0 trusts none (a client could forge them)
    web_proxy_count: int = 0
    #: mark cookies Secure and send HSTS (set when the portal is served over HTTPS)
    web_secure_cookies: bool = False
    #: login attempts allowed per client address and per account (Flask-Limiter syntax)
    web_login_limit_address: str = "20/minute;100/hour"
    web_login_limit_account: str = "5/minute;30/hour"
    #: Flask-Limiter storage: memory:// for one process, redis://… for several
    web_limiter_storage: str = "memory://"
    #: seconds the portal keeps a customer's chart counts of finished months (0: not kept);
    #: a late CDR of a finished month shows on the chart at most this late
    web_chart_cache_seconds: int = 300
    #: router
    router_listen: str = "127.0.0.1:8084"
    #: metrics endpoints of every router instance, comma separated (the admin's status page)
    router_status_urls: str = "http://127.0.0.1:9184/metrics"
    #: how the router reaches a circuit's phone, and the carrier (FreeSWITCH dial strings)
    router_circuit_dial_string: str = "user/{circuit}"
    router_gateway_dial_string: str = "sofia/gateway/carrier/{number}"
    #: how the carrier marks collect calls: "variable~text" (contains) or "variable=text" (equals),
    #: separated by ";" (empty: the defaults of esl_router.engine.DEFAULT_COLLECT_RULES)
    router_collect_rules: str = ""
    #: hangup causes the router answers with (reject decisions)
    router_unallocated_cause: str = "UNALLOCATED_NUMBER"
    router_blacklist_cause: str = "CALL_REJECTED"
    router_collect_cause: str = "CALL_REJECTED"
    log_level: str = "INFO"
    #: the operator as printed on invoices (name, CNPJ digits, address, support contact)
    operator_name: str = "Operadora Painel Telecom"
    operator_document: str = ""
    operator_address: str = ""
    operator_contact: str = ""
    #: where invoice PDFs are written (empty: <var_dir>/faturas)
    pdf_dir: str = ""
    #: worker processes that render a month's PDFs (0: one per core)
    pdf_workers: int = 0

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def _coerce(name: str, value: Any) -> Any:
    kind = _FIELDS[name].type
    try:
        if kind in ("int", int):
            return int(value)
        if kind in ("bool", bool):
            if isinstance(value, bool):
                return value
            return str(value).strip().lower() in {"1", "true", "yes", "on", "sim"}
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"configuração inválida para {name}: {value!r}") from exc


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build settings from defaults, then the TOML file, then ``PAINEL_*`` variables."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = config_file or env.get("PAINEL_CONFIG")
    if path is None and Path("painel.toml").is_file():
        path = "painel.toml"
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(f"não foi possível ler o arquivo de configuração {path}: {exc}") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"arquivo de configuração inválido {path}: {exc}") from exc
        section = data.get("painel", data)
        if not isinstance(section, dict):
            raise ConfigError(f"arquivo de configuração inválido {path}: [painel] deve ser uma seção")
        for key, value in section.items():
            if key not in _FIELDS:
                raise ConfigError(f"chave desconhecida no arquivo de configuração: {key}")
            values[key] = _coerce(key, value)
    for key in _FIELDS:
        env_key = f"PAINEL_{key.upper()}"
        if env_key in env:
            values[key] = _coerce(key, env[env_key])
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = _coerce(key, value)
    return Settings(**values)
