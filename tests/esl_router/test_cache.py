"""The router's rules cache when the database fails: last rules kept, one log line per interval."""
from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from esl_router.cache import RulesCache
from esl_router.engine import CallInfo
from esl_router.server import Router
from painel.db import create_engine
from painel.demo import ensure_operator

DEAD = "postgresql+psycopg://nobody@127.0.0.1:1/none"


def test_database_down_decides_from_the_last_rules(engine, caplog):  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        ensure_operator(s)
        s.commit()
    cache = RulesCache(engine, error_log_interval=60)
    assert cache.refresh() and cache.loaded
    router = Router(cache)
    blocked = CallInfo("u1", "5598987654321", "5511988887777")
    assert router.decide(blocked)[0].rule == "blacklist"
    cache.engine = create_engine(DEAD, connect_args={"connect_timeout": 1})
    with caplog.at_level(logging.ERROR, logger="painel.router.cache"):
        for _ in range(3):
            assert cache.refresh(force=True) is False
    assert cache.last_error
    # logged once, not once per attempt (or per call)
    assert len([r for r in caplog.records if "banco indisponível" in r.getMessage()]) == 1
    decision, reason = router.decide(blocked)
    assert (decision.rule, reason) == ("blacklist", None)  # still the subscriber's rules


def test_nothing_ever_loaded_means_the_fallback(caplog):  # type: ignore[no-untyped-def]
    cache = RulesCache(create_engine(DEAD, connect_args={"connect_timeout": 1}))
    with caplog.at_level(logging.ERROR, logger="painel.router.cache"):
        assert cache.refresh() is False
    assert "nenhuma regra carregada" in caplog.text
    decision, reason = Router(cache).decide(CallInfo("u1", "5598987654321", "5511988887777"))
    assert (decision.rule, reason) == ("fallback", "no_rules")
    assert decision.variables == {"painel_rule": "fallback", "painel_action": "bridge", "painel_did": "5598987654321"}
