"""The same router inside FreeSWITCH, through mod_python3.

Dialplan: ``<action application="python" data="esl_router.modpython"/>`` where the
inbound extension would run ``socket``. It reads the channel from the session, calls
the same ``decide()`` and sets the same painel_* variables; the dialplan acts on them
exactly as after the socket. Rules are read from the database through a small cache
refreshed at most every ``REFRESH_SECONDS`` (the process is FreeSWITCH's, so no
gevent here). Any failure leaves the dialplan's defaults in place.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from typing import Any

from esl_router.engine import CallInfo, Decision, RouterConfig, decide, did_digits, fallback

log = logging.getLogger("painel.router.modpython")

REFRESH_SECONDS = 2.0
#: channel variables read for collect-call detection and privacy, besides the collect rules'
_EXTRA_VARIABLES = ("uuid", "caller_id_number", "destination_number", "privacy_hide_number")


class _State:
    """Rules shared by every call in the FreeSWITCH process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.engine: Any = None
        self.config = RouterConfig()
        self.rules: dict | None = None
        self.loaded_at = 0.0
        self.last_error_log = 0.0

    def setup(self) -> None:
        if self.engine is None:
            from painel.db import create_engine
            from painel.settings import load_settings

            settings = load_settings()
            self.engine = create_engine(settings.database_url, pool_size=2, max_overflow=2)
            self.config = RouterConfig.from_settings(settings)

    def current(self) -> dict | None:
        """The rules, reloaded when older than REFRESH_SECONDS; the last good ones on errors."""
        if self.rules is not None and time.monotonic() - self.loaded_at < REFRESH_SECONDS:
            return self.rules
        with self.lock:
            if self.rules is not None and time.monotonic() - self.loaded_at < REFRESH_SECONDS:
                return self.rules
            try:
                from sqlalchemy.orm import Session

                from painel.routing import load_did_rules

                self.setup()
                with Session(self.engine) as session:
                    self.rules = load_did_rules(session)
                self.loaded_at = time.monotonic()
            except Exception as exc:
                now = time.monotonic()
                if now - self.last_error_log > 60:
                    self.last_error_log = now
                    log.error("regras indisponíveis (%s); usando as últimas carregadas", exc)
            return self.rules


STATE = _State()


def _get(session: Any, name: str) -> str:
    try:
        value = session.getVariable(name)
    except Exception:
        return ""
    return value or ""


def call_from_session(session: Any, config: RouterConfig) -> CallInfo:
    names = {rule.variable for rule in config.collect_rules} | set(_EXTRA_VARIABLES)
    variables = {n: v for n in names if (v := _get(session, n))}
    return CallInfo(
        uuid=variables.get("uuid", ""),
        destination=variables.get("destination_number", ""),
        caller=variables.get("caller_id_number", ""),
        variables=variables,
        privacy_hide_number=variables.get("privacy_hide_number", "").lower() == "true",
    )


def route(session: Any, state: _State = STATE) -> Decision | None:
    """Decide and set the variables; None when nothing could be decided (defaults stay)."""
    try:
        call = call_from_session(session, state.config)
        rules = state.current()
        if not call.destination or rules is None:
            decision = fallback(call, None, state.config)
        else:
            decision = decide(call, rules.get(did_digits(call.destination)), datetime.now(timezone.utc),
                              state.config)
        for key, value in decision.variables.items():
            if value:  # never an empty value: it would unset the dialplan's default
                session.setVariable(key, value)
        log.info("uuid=%s rule=%s action=%s", call.uuid, decision.rule, decision.action)
        return decision
    except Exception:
        log.exception("falha no roteamento; o dialplan segue o padrão")
        return None


def handler(session: Any, args: str) -> None:
    """mod_python3's entry point."""
    route(session)
