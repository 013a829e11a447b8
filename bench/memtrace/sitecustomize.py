"""Debugging aid for ``bench/soak.py --tracemalloc``: allocation snapshots of every Painel process.

Not part of Painel: this directory is put on ``PYTHONPATH`` only by the soak run that asks for
it, so Python imports this module at the start of every process of that run (the supervisor,
the router, the CDR receiver, the gunicorn master, and through the fork hook its workers).
With ``PAINEL_TRACEMALLOC_DIR`` set, each process traces its allocations (``tracemalloc``,
``PAINEL_TRACEMALLOC_FRAMES`` frames, 10 by default) from ``PAINEL_TRACEMALLOC_DELAY`` seconds
after it starts (20 by default: tracing the imports would make start-up minutes long, and
only what grows later matters), and a thread of its own writes ``<pid>-<n>.snap`` every
``PAINEL_TRACEMALLOC_EVERY`` seconds (30 by default), plus
``<pid>.cmd`` (its command line) and ``<pid>.traced`` (seconds, traced bytes, RSS KiB, one
line every 5 s). ``bench/soak.py`` compares the snapshots after the run.
"""
from __future__ import annotations

import os

_DIR = os.environ.get("PAINEL_TRACEMALLOC_DIR")


def _rss_kib() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _start() -> None:
    import sys
    import threading
    import time
    import tracemalloc

    assert _DIR is not None
    every = float(os.environ.get("PAINEL_TRACEMALLOC_EVERY", "30"))
    delay = float(os.environ.get("PAINEL_TRACEMALLOC_DELAY", "20"))
    pid = os.getpid()
    started = time.monotonic()

    def loop() -> None:
        # a fork followed by exec (subprocess with preexec_fn) also runs the fork hook: the
        # first write comes after a pause, by when such a child is another program already
        time.sleep(1)
        if os.getpid() != pid:
            return
        time.sleep(max(0.0, started + delay - time.monotonic()))
        if not tracemalloc.is_tracing():  # a forked worker of a traced master traces already
            tracemalloc.start(int(os.environ.get("PAINEL_TRACEMALLOC_FRAMES", "10")))
        os.makedirs(_DIR, exist_ok=True)
        with open(os.path.join(_DIR, f"{pid}.cmd"), "w") as fh:
            fh.write(" ".join(sys.argv))
        n = 0
        next_snap = time.monotonic() + every
        while True:
            time.sleep(5)
            now = time.monotonic()
            current, _peak = tracemalloc.get_traced_memory()
            with open(os.path.join(_DIR, f"{pid}.traced"), "a") as fh:
                fh.write(f"{now - started:.0f} {current} {_rss_kib()}\n")
            if now >= next_snap:
                next_snap += every
                n += 1
                snap = tracemalloc.take_snapshot().filter_traces(
                    (tracemalloc.Filter(False, tracemalloc.__file__),))
                path = os.path.join(_DIR, f"{pid}-{n:03d}.snap")
                snap.dump(path + ".tmp")
                os.replace(path + ".tmp", path)

    threading.Thread(target=loop, name="painel-tracemalloc", daemon=True).start()


if _DIR:
    _start()
    os.register_at_fork(after_in_child=_start)  # gunicorn's workers, forked from its master
