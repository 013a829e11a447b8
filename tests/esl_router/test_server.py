"""The router's per-connection admission, in process (no FreeSWITCH, no database).

A call's deadline counts from the accept: a connection whose greenlet only gets to run when
half of it is gone is let go at once (the dialplan's defaults), so that under overload the
calls behind it still meet theirs instead of every call timing out.
"""
from __future__ import annotations

import time

import gevent
import gevent.socket

from esl_router.server import Router


class NoRules:
    loaded = False

    def get(self, did: str) -> None:
        return None

    def count_hit(self, entry_id: int) -> None:
        pass


def fallbacks(router: Router, reason: str) -> float | None:
    return router.metrics.registry.get_sample_value("painel_router_fallbacks_total", {"reason": reason})


def test_a_call_accepted_long_before_its_greenlet_ran_is_let_go_at_once() -> None:
    router = Router(NoRules(), call_timeout=1.0)  # type: ignore[arg-type]
    ours, freeswitch = gevent.socket.socketpair()
    router.handle(ours, ("127.0.0.1", 1), time.perf_counter() - 0.9)
    assert freeswitch.recv(100) == b""  # closed without a word: the dialplan goes on with its defaults
    assert fallbacks(router, "late") == 1.0
    assert router.active == 0


def test_a_fresh_call_is_served() -> None:
    router = Router(NoRules(), call_timeout=1.0)  # type: ignore[arg-type]
    ours, freeswitch = gevent.socket.socketpair()
    handler = gevent.spawn(router.handle, ours, ("127.0.0.1", 1), time.perf_counter())
    assert freeswitch.recv(100) == b"connect\n\n"  # the session began
    freeswitch.close()  # FreeSWITCH hangs up
    handler.join(timeout=5)
    assert handler.dead
    assert fallbacks(router, "late") is None
    assert router.active == 0
