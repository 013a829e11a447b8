"""The FreeSWITCH outbound-socket simulator, as the tests import it.

The simulator itself lives in the package (:mod:`esl_router.simulator`) so that
``painel simulate`` and ``painel run --simulate`` can drive a running router with it; this
module re-exports it under its old name and adds what only tests need: ``LAB_DIR`` (the lab
captures) and :func:`gevent_thread`, which runs a gevent server (the router) in its own thread
and hub, so tests never monkey-patch the interpreter.
"""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from esl_router.simulator import (  # noqa: F401  (re-exported for the tests and bench/)
    CONNECT_TEMPLATE, FS_FIRST_COMMAND_TIMEOUT, GOODBYE, FreeSwitchSim, SimCall, SimResult, connect_template,
    fs_separate_string, fs_url_encode, multiset_split,
)

__all__ = ["CONNECT_TEMPLATE", "FS_FIRST_COMMAND_TIMEOUT", "GOODBYE", "LAB_DIR", "FreeSwitchSim", "SimCall",
           "SimResult", "connect_template", "fs_separate_string", "fs_url_encode", "gevent_thread", "multiset_split"]

LAB_DIR = Path(__file__).resolve().parent / "data" / "third_party" / "freeswitch" / "lab_1.10.12"


@contextlib.contextmanager
def gevent_thread(start: Callable[[], Any], stop: Callable[[Any], None] | None = None, *,
                  timeout: float = 5.0) -> Iterator[Any]:
    """Run a gevent server in a thread with its own hub, without monkey-patching anything.

    ``start()`` runs inside that thread (create and start a ``StreamServer``, or
    ``Router.start(host, 0)``) and its return value is yielded; on exit ``stop(value)`` runs
    there too (default: ``value.stop(timeout=1)``), then the hub is destroyed. Code using
    gevent's own sockets (greenswitch, gevent.server) works in that thread; the simulator keeps
    the test's thread and its asyncio loop.
    """
    import gevent
    import gevent.event

    ready = threading.Event()
    box: dict[str, Any] = {}

    def run() -> None:
        hub = gevent.get_hub()
        finished = gevent.event.Event()
        try:
            box["value"] = start()
            box["wake"] = lambda: hub.loop.run_callback_threadsafe(finished.set)
        except BaseException as exc:
            box["error"] = exc
            ready.set()
            hub.destroy(destroy_loop=True)
            return
        ready.set()
        finished.wait()
        try:
            (stop or (lambda server: server.stop(timeout=1)))(box["value"])
        except BaseException as exc:
            box["stop_error"] = exc
        hub.destroy(destroy_loop=True)

    thread = threading.Thread(target=run, name="gevent-hub", daemon=True)
    thread.start()
    if not ready.wait(timeout):
        raise TimeoutError("gevent thread did not start")
    if "error" in box:
        raise box["error"]
    try:
        yield box["value"]
    finally:
        box["wake"]()
        thread.join(timeout)
        if thread.is_alive():
            raise TimeoutError("gevent thread did not stop")
        if "stop_error" in box:
            raise box["stop_error"]
