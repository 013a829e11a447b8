"""esl_router.modpython inside FreeSWITCH, with a fake session that records what is set."""
from __future__ import annotations

import time

from sqlalchemy.orm import Session

from esl_router import modpython
from painel.demo import ensure_operator


class FakeSession:
    def __init__(self, **variables: str) -> None:
        self.variables = dict(variables)
        self.set: list[tuple[str, str]] = []

    def getVariable(self, name: str) -> str | None:  # noqa: N802 - FreeSWITCH's API
        return self.variables.get(name)

    def setVariable(self, name: str, value: str) -> None:  # noqa: N802
        self.set.append((name, value))
        self.variables[name] = value


def _state(engine) -> modpython._State:  # type: ignore[no-untyped-def]
    state = modpython._State()
    state.engine = engine
    return state


def test_same_decisions_as_the_socket_router(engine):  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        ensure_operator(session)
        session.commit()
    state = _state(engine)
    blocked = FakeSession(uuid="u1", destination_number="5598987654321", caller_id_number="5511988887777")
    assert modpython.route(blocked, state).rule == "blacklist"
    assert dict(blocked.set)["painel_hangup_cause"] == "CALL_REJECTED"
    collect = FakeSession(uuid="u2", destination_number="5598987654321", caller_id_number="5598981110002",
                          **{"sip_h_X-Siemens-Call-Type": "collect call"})
    d = modpython.route(collect, state)
    assert (d.rule, dict(collect.set)["painel_direction"]) == ("default", "collect")
    forwarded = FakeSession(uuid="u3", destination_number="5598987654321", caller_id_number="5521977776666")
    assert modpython.route(forwarded, state).rule == "follow_me"
    assert "sofia/gateway/carrier/0218632221234" in dict(forwarded.set)["painel_bridge"]
    # nothing empty is ever set
    for s in (blocked, collect, forwarded):
        assert all(v for _, v in s.set)


def test_handler_never_raises_and_leaves_defaults(engine):  # type: ignore[no-untyped-def]
    class Broken(FakeSession):
        def setVariable(self, name: str, value: str) -> None:  # noqa: N802
            raise RuntimeError("boom")

    state = _state(engine)
    assert modpython.route(Broken(destination_number="5598987654321", caller_id_number="1"), state) is None


def test_database_down_keeps_the_last_rules(engine, tmp_path):  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        ensure_operator(session)
        session.commit()
    state = _state(engine)
    assert state.current() is not None
    rules = state.rules
    from painel.db import create_engine

    # a PostgreSQL server that is not there: every query fails at once
    state.engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1})
    state.loaded_at = time.monotonic() - 10
    assert state.current() is rules  # the failed reload kept what it had
    # with nothing ever loaded: the fallback, so the dialplan's defaults route the call
    empty = _state(state.engine)
    s = FakeSession(destination_number="5598987654321", caller_id_number="5586999990000")
    assert modpython.route(s, empty).rule == "fallback"
    assert dict(s.set) == {"painel_rule": "fallback", "painel_action": "bridge", "painel_did": "5598987654321"}
