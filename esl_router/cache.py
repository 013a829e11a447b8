"""The router's in-process copy of the routing rules, refreshed from the database.

Each instance polls the rules version (one tiny query) every ``refresh_interval``
seconds and reloads everything when it moved, plus a full reload every
``full_reload`` seconds as a safety net. Database work runs in gevent's thread pool,
so a slow or dead database never blocks a call: calls are decided from the last rules
loaded, and with nothing ever loaded the router answers the fallback decision.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from datetime import datetime, timezone

import gevent
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from painel.routing import DidRules, add_blacklist_hits, load_did_rules, rules_version

log = logging.getLogger("painel.router.cache")


class RulesCache:
    def __init__(self, engine: Engine, *, refresh_interval: float = 1.0, full_reload: float = 30.0,
                 error_log_interval: float = 60.0) -> None:
        self.engine = engine
        self.refresh_interval = refresh_interval
        self.full_reload = full_reload
        self.error_log_interval = error_log_interval
        self._rules: dict[str, DidRules] = {}
        self.version: int | None = None
        self.loaded_at: float | None = None  # monotonic time of the last successful load
        self.last_error: str | None = None
        self._last_error_log = 0.0
        self._hits: Counter[int] = Counter()
        self._greenlet: gevent.Greenlet | None = None

    # ------------------------------------------------------------------ reads (hot path)
    def get(self, did: str) -> DidRules | None:
        return self._rules.get(did)

    @property
    def loaded(self) -> bool:
        return self.loaded_at is not None

    @property
    def age(self) -> float | None:
        """Seconds since the rules were last confirmed current (None: never loaded)."""
        return None if self.loaded_at is None else time.monotonic() - self.loaded_at

    def count_hit(self, entry_id: int) -> None:
        self._hits[entry_id] += 1

    # ------------------------------------------------------------------ refresh
    def refresh(self, force: bool = False) -> bool:
        """Check the version and reload if needed; True when the rules are current."""
        try:
            changed = gevent.get_hub().threadpool.apply(self._refresh_blocking, (force,))
        except Exception as exc:  # the database is down or failing: keep the last rules
            self._failed(exc)
            return False
        self.last_error = None
        return changed is not None

    def _refresh_blocking(self, force: bool) -> bool:
        with Session(self.engine) as session:
            version = rules_version(session)
            due = self.loaded_at is None or force or version != self.version or (
                time.monotonic() - self.loaded_at > self.full_reload)
            if due:
                rules = load_did_rules(session)
                self._rules = rules  # one assignment: readers see the old or the new dict
                self.version = version
                log.info("regras carregadas: %d DIDs (versão %s)", len(rules), version)
            self.loaded_at = time.monotonic()
            if self._hits:
                hits, self._hits = dict(self._hits), Counter()
                try:
                    add_blacklist_hits(session, hits, datetime.now(timezone.utc))
                    session.commit()
                except Exception:
                    self._hits.update(hits)  # count them next time
                    raise
            return due

    def _failed(self, exc: Exception) -> None:
        self.last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        now = time.monotonic()
        # once per interval, not once per call: an outage must not flood the log
        if now - self._last_error_log >= self.error_log_interval:
            self._last_error_log = now
            if self.loaded:
                log.error("banco indisponível; decidindo com as regras de %.0f s atrás: %s",
                          self.age or 0, self.last_error)
            else:
                log.error("banco indisponível e nenhuma regra carregada; chamadas seguem o padrão "
                          "(fallback): %s", self.last_error)

    def _loop(self) -> None:
        while True:
            self.refresh()
            gevent.sleep(self.refresh_interval)

    def start(self) -> None:
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._loop)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill()
            self._greenlet = None
