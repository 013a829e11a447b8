"""The outbound Event Socket server FreeSWITCH hands every DID call to.

Built on greenswitch's ``OutboundSession`` (the protocol) under a gevent
``StreamServer`` (one greenlet per call). Per call: ``connect`` (channel data),
``myevents``, one ``sendmsg`` executing ``multiset`` with ``event-lock``, wait for its
CHANNEL_EXECUTE_COMPLETE, ``exit``. Every send and wait is bounded by the call
timeout; whatever goes wrong, the socket closes and FreeSWITCH's dialplan continues
with the defaults it set before ``socket`` (DESIGN.md): calls never die because
Painel did.
"""
from __future__ import annotations

import logging
import signal
import socket
import time
from collections.abc import Mapping
from urllib.parse import unquote
from datetime import datetime, timezone
from typing import Any

import gevent
import gevent.event
from gevent.server import StreamServer
from greenswitch.esl import ESLEvent, NotConnectedError, OutboundSession, OutboundSessionHasGoneAway
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from esl_router.cache import RulesCache
from esl_router.engine import CallInfo, Decision, RouterConfig, decide, did_digits, fallback

log = logging.getLogger("painel.router")

#: multiset delimiter: '^^:' breaks on host:port values and '|' is bridge failover (DESIGN.md)
MULTISET_DELIMITER = "~"
#: the longest value the router accepts from FreeSWITCH's channel data
MAX_FIELD = 256
#: the largest event body (Content-Length) the router reads; FreeSWITCH's are a few KB (a
#: CHANNEL_EXECUTE_COMPLETE with every channel variable is 6 KB in the lab capture)
MAX_BODY = 1024 * 1024


class SafeEvent(ESLEvent):
    """An Event Socket header block, split into lines BEFORE URL-decoding each value.

    greenswitch decodes the whole block first, so a caller-controlled value carrying an
    encoded newline (a SIP header with %0A) would become a header line of its own and
    could forge Caller-Caller-ID-Number past the blacklist. Here a value stays a value.
    """

    def parse_data(self, data: str) -> None:
        # every call brings three blocks of ~200 headers (the connect reply, two events): this is
        # the router's hottest loop, so it decodes only values that carry a %-escape
        headers = self.headers
        last = None
        for line in data.splitlines():
            key, sep, value = line.partition(": ")
            if sep:
                last = key.strip()
                headers[last] = (unquote(value) if "%" in value else value).strip()
            elif last is not None and line.strip():
                headers[last] += "\n" + unquote(line).strip()


class PainelSession(OutboundSession):
    """greenswitch's outbound session with a stricter reader.

    Besides SafeEvent, a connection that breaks (reset, EOF, bytes that are not UTF-8)
    wakes every command and event still waited for, instead of leaving them to the
    call timeout: a crashed FreeSWITCH must not hold router capacity.
    """

    def receive_events(self) -> None:
        # Header blocks are cut out of what the socket has, not read line by line: the connect
        # reply and each event are ~200 lines, and a Python round per line was a good part of
        # the router's CPU per call. Same frames as greenswitch's line reader: a block ends at
        # the first empty line, empty lines between blocks are skipped, bytes that are not UTF-8
        # end the session as soon as a whole line of them arrived.
        buf = self._inbuf = bytearray()
        read1 = self.sock_file.read1
        while self._run:
            skip = 0
            while skip < len(buf) and buf[skip] == 10:  # empty lines before a block
                skip += 1
            if skip:
                del buf[:skip]
            end = buf.find(b"\n\n")
            if end < 0:
                try:
                    chunk = read1(65536)
                except Exception:  # reset, closed file: the session is over
                    chunk = b""
                if chunk:
                    buf += chunk
                    if buf.find(b"\n\n") >= 0 or self._decodes(buf[:buf.rfind(b"\n") + 1]):
                        continue
                else:  # end of stream: a partial block is dropped, but bad bytes in it are still reported
                    self._decodes(buf)
                break
            block = bytes(buf[:end + 1])
            del buf[:end + 2]
            try:
                text = block.decode("utf-8")
            except UnicodeDecodeError as exc:
                self._protocol_error(exc)
                break
            try:
                self.handle_event(SafeEvent(text))
            except Exception as exc:  # a malformed block (no Content-Type...) ends the session
                self._protocol_error(exc)
                break
        self._run = False
        self.connected = False
        self._fail_pending()
        try:
            self.sock.close()
        except OSError:
            pass

    def start_event_handlers(self) -> None:
        """One greenlet per call, not greenswitch's two: the reader dispatches each event itself
        (``handle_event``) instead of handing it through a queue to an event-processing greenlet
        that polls it every second. Every call saves a greenlet, a queue and their switches."""
        self._receive_events_greenlet = gevent.spawn(self.receive_events)

    def handle_event(self, event: ESLEvent) -> None:
        super().handle_event(event)  # replies wake their command; events land in the queue...
        queue = self._esl_event_queue
        while queue.qsize():  # ...and are dispatched here, in order, without switching greenlets
            self._dispatch(queue.get_nowait())

    def _dispatch(self, event: ESLEvent) -> None:
        """greenswitch's ``process_events`` choice of handlers for one event."""
        headers = event.headers
        handlers = self.event_handlers.get(headers.get("Event-Subclass") if headers.get("Event-Name") == "CUSTOM"
                                           else headers.get("Event-Name"))
        content_type = headers.get("Content-Type")
        if content_type == "text/disconnect-notice":
            handlers = self.event_handlers.get("DISCONNECT")
        if not handlers and content_type == "log/data":
            handlers = self.event_handlers.get("log")
        if not handlers:
            handlers = self.event_handlers.get("*")
        for handler in list(handlers or ()):
            self._safe_exec_handler(handler, event)

    def connect(self) -> None:
        """greenswitch's, minus its ``stop()`` when the connection is gone: that joins the event
        processor, which waits up to 1 s on its queue, so a FreeSWITCH that hung up during
        ``connect`` held the call's slot for a second (and ran into the call timeout).
        ``Router._close`` frees the session at once instead."""
        if self._outbound_connected:
            return
        self.session_data = self.send("connect").headers
        self._outbound_connected = True

    def _decodes(self, data: bytes | bytearray) -> bool:
        """False (and the session's end logged) when ``data`` is not UTF-8."""
        try:
            bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            self._protocol_error(exc)
            return False
        return True

    def _protocol_error(self, exc: Exception) -> None:
        """Say why the session ends: otherwise it looks like the caller hung up."""
        uuid = (self.session_data or {}).get("Unique-ID") or "-"
        log.warning("uuid=%s o FreeSWITCH enviou um bloco inválido do Event Socket (%s: %s); sessão encerrada, "
                    "o dialplan segue o padrão", uuid, type(exc).__name__, exc)

    def _read_socket(self, sock_file: Any, length: int) -> str:
        """The body after a header block: exactly ``length`` bytes of UTF-8, or an exception.

        Replaces greenswitch's, which loops forever when the connection ends inside a body:
        ``read`` returns b"" at EOF without yielding to the gevent hub, so not even the call's
        timeout can stop it and the whole router hangs. It also trusted any Content-Length
        (negative: read until EOF; huge: allocate it all at once).
        """
        if not 0 <= length <= MAX_BODY:
            raise ValueError(f"Content-Length fora do intervalo: {length}")
        buf = getattr(self, "_inbuf", None)  # what the block reader took from the socket already
        data = b""
        if buf:
            data = bytes(buf[:length])
            del buf[:length]
        if len(data) < length:
            data += sock_file.read(length - len(data))
        if len(data) != length:
            raise EOFError(f"conexão encerrada no meio do corpo ({len(data)} de {length} bytes)")
        return data.decode("utf-8")

    def _fail_pending(self) -> None:
        for pending in list(self._commands_sent):
            if not pending.ready():
                pending.set_exception(OutboundSessionHasGoneAway())
        for waits in self.expected_events.values():
            for _var, _value, result in waits:
                if not result.ready():
                    result.set_exception(OutboundSessionHasGoneAway())


class CallTimeout(Exception):
    """The call took longer than the router allows itself."""


class _Listener(StreamServer):
    """gevent's StreamServer, handing each connection its accept time (``time.perf_counter()``).

    A busy router accepts connections faster than it runs their greenlets; the call's deadline
    counts from the accept, which is when FreeSWITCH started waiting, not from when its
    greenlet got the CPU.
    """

    def do_handle(self, *args: Any) -> None:
        super().do_handle(*args, time.perf_counter())


def multiset_arg(variables: Mapping[str, str]) -> str:
    """``^^~k=v~k2=v2``: only non-empty values (an empty one would unset a dialplan default)."""
    parts = []
    for key, value in variables.items():
        if not value:
            continue
        # '${' would be expanded by FreeSWITCH: nothing the router sends is a template
        if MULTISET_DELIMITER in value or "\n" in value or "\r" in value or "${" in value:
            raise ValueError(f"valor impróprio para multiset em {key}: {value!r}")
        parts.append(f"{key}={value}")
    return "^^" + MULTISET_DELIMITER + MULTISET_DELIMITER.join(parts)


def _clip(value: str | None) -> str:
    return (value or "")[:MAX_FIELD]


def call_info(data: Mapping[str, str]) -> CallInfo:
    """The call as the decision needs it, from the connect reply's channel data."""
    variables = {k[9:]: _clip(v) for k, v in data.items() if k.startswith("variable_")}
    privacy = (data.get("Caller-Privacy-Hide-Number") or data.get("Channel-Privacy-Hide-Number") or "").lower()
    return CallInfo(
        uuid=_clip(data.get("Unique-ID") or variables.get("uuid")),
        destination=_clip(data.get("Caller-Destination-Number") or variables.get("destination_number")),
        caller=_clip(data.get("Caller-Caller-ID-Number") or variables.get("caller_id_number")),
        variables=variables,
        privacy_hide_number=privacy == "true",
    )


class RouterMetrics:
    """Prometheus metrics of one router (its own registry, so tests can run several)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.calls = Counter("painel_router_calls", "Calls by deciding rule and outcome", ["rule", "outcome"], registry=r)
        self.latency = Histogram("painel_router_decision_seconds", "From connection to decision applied",
                                 buckets=(.001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5), registry=r)
        self.fallbacks = Counter("painel_router_fallbacks", "Fallback decisions by reason", ["reason"], registry=r)
        self.errors = Counter("painel_router_errors", "Errors by kind", ["kind"], registry=r)
        self.active = Gauge("painel_router_active_calls", "Calls being decided now", registry=r)
        self.cache_age = Gauge("painel_router_cache_age_seconds", "Age of the routing rules in use", registry=r)
        self.last_error = Gauge("painel_router_last_error_timestamp_seconds", "Unix time of the last error by kind",
                                ["kind"], registry=r)
        self.started = Gauge("painel_router_start_time_seconds", "Unix time the router started", registry=r)
        self.started.set_to_current_time()

    def error(self, kind: str) -> None:
        """Count an error and remember when the last one of its kind happened (the admin's status page)."""
        self.errors.labels(kind).inc()
        self.last_error.labels(kind).set_to_current_time()


class Router:
    """Decides and applies one call per connection; bounded concurrency, graceful drain."""

    def __init__(self, cache: RulesCache, config: RouterConfig = RouterConfig(), *, max_calls: int = 2000,
                 call_timeout: float = 1.0, max_wait: float | None = None,
                 metrics: RouterMetrics | None = None) -> None:
        self.cache = cache
        self.config = config
        self.max_calls = max_calls
        self.call_timeout = call_timeout
        #: a call whose greenlet first runs this long after its accept is let go at once (the
        #: dialplan's defaults): it would most likely miss its deadline anyway, and serving it
        #: would make the calls behind it late too (under overload, every call would time out)
        self.max_wait = call_timeout / 2 if max_wait is None else max_wait
        self.metrics = metrics or RouterMetrics()
        self.active = 0
        self.server: StreamServer | None = None
        self._draining = False
        self._idle = gevent.event.Event()
        self._idle.set()

    # ------------------------------------------------------------------ decision
    def decide(self, call: CallInfo) -> tuple[Decision, str | None]:
        """The decision, and the fallback reason when the rules could not be used."""
        did = did_digits(call.destination) if call.destination else ""
        if not did:
            return fallback(call, None, self.config), "no_destination"
        if not self.cache.loaded:
            return fallback(call, None, self.config), "no_rules"
        rules = self.cache.get(did)
        decision = decide(call, rules, datetime.now(timezone.utc), self.config)
        if decision.blacklist_id is not None:
            self.cache.count_hit(decision.blacklist_id)
        return decision, None

    # ------------------------------------------------------------------ per call
    def handle(self, sock: Any, address: Any, accepted: float | None = None) -> None:
        now = time.perf_counter()
        started = now if accepted is None else min(now, accepted)
        waited = now - started
        if self._draining or self.active >= self.max_calls or waited > self.max_wait:
            # over capacity, or already late: close at once; the dialplan's defaults route the call
            reason = "draining" if self._draining else "overload" if self.active >= self.max_calls else "late"
            self.metrics.fallbacks.labels(reason).inc()
            sock.close()
            return
        self.active += 1
        self._idle.clear()
        self.metrics.active.set(self.active)
        session: PainelSession | None = None
        uuid = "-"
        rule, outcome = "fallback", "ok"
        try:
            with gevent.Timeout(self.call_timeout - waited, CallTimeout):  # the deadline counts from the accept
                session = PainelSession(address, sock)
                session.connect()
                call = call_info(session.session_data or {})
                uuid = call.uuid or "-"
                try:
                    decision, reason = self.decide(call)
                except Exception:  # a bug or hostile data must not cost the call its route
                    log.exception("uuid=%s erro ao decidir; usando o padrão", uuid)
                    self.metrics.error("decide")
                    decision, reason = fallback(call, None, self.config), "error"
                if reason:
                    self.metrics.fallbacks.labels(reason).inc()
                rule = decision.rule
                self._apply(session, decision)
            elapsed = time.perf_counter() - started
            self.metrics.latency.observe(elapsed)
            log.info("uuid=%s did=%s caller=%s rule=%s action=%s ms=%.1f%s", uuid, call.destination,
                     call.caller, decision.rule, decision.action, elapsed * 1000,
                     f" nota={decision.note}" if decision.note else "")
        except CallTimeout:
            outcome = "timeout"
            self.metrics.error("timeout")
            log.warning("uuid=%s sem resposta do FreeSWITCH em %.1f s; o dialplan segue o padrão", uuid,
                        self.call_timeout)
        except (OutboundSessionHasGoneAway, NotConnectedError, OSError):
            outcome = "hangup"
            log.info("uuid=%s a chamada terminou antes da decisão", uuid)
        except Exception:
            outcome = "error"
            self.metrics.error("session")
            log.exception("uuid=%s erro na sessão; o dialplan segue o padrão", uuid)
        finally:
            self.metrics.calls.labels(rule, outcome).inc()
            self._close(session, sock)
            self.active -= 1
            self.metrics.active.set(self.active)
            if self.active == 0:
                self._idle.set()

    def _apply(self, session: OutboundSession, decision: Decision) -> None:
        """One multiset round trip, confirmed by its CHANNEL_EXECUTE_COMPLETE."""
        session.send("myevents")
        done = gevent.event.AsyncResult()
        session.register_expected_event("CHANNEL_EXECUTE_COMPLETE", "current_application", "multiset", done)
        session.send("sendmsg\ncall-command: execute\nexecute-app-name: multiset\n"
                     f"execute-app-arg: {multiset_arg(decision.variables)}\nevent-lock: true")
        done.get()

    def _close(self, session: OutboundSession | None, sock: Any) -> None:
        """Say goodbye (``exit``) and free everything, never waiting long."""
        if session is not None:
            try:
                if session.connected:
                    with gevent.Timeout(0.5, False):
                        session.send("exit")
            except Exception:  # the far end is gone already: nothing to say goodbye to
                pass
            session._run = False  # greenswitch's reader/processor loops
            greenlets = [g for g in (session._receive_events_greenlet, session._process_events_greenlet) if g]
            gevent.killall(greenlets, block=False)
            try:
                session.sock_file.close()
            except Exception:
                pass
            # greenswitch's session refers to itself (handlers are its bound methods, its
            # greenlets run its methods): break the cycles so reference counting frees it
            # now, and no garbage-collector pass ever lands on a call in progress
            session.event_handlers.clear()
            session.expected_events.clear()
            session._commands_sent.clear()
            session._receive_events_greenlet = session._process_events_greenlet = None
        try:
            # the reader greenlet may still be inside sock_file.readline(): then closing the file
            # fails ("reentrant call"), and close() leaves the socket open until the session is
            # garbage collected, while FreeSWITCH's dialplan waits for it; shutdown ends it now
            sock.shutdown(socket.SHUT_RDWR)
        except Exception:
            pass
        try:
            sock.close()
        except Exception:
            pass

    # ------------------------------------------------------------------ lifecycle
    def start(self, host: str, port: int) -> StreamServer:
        self.server = _Listener((host, port), self.handle, backlog=2048)
        self.server.start()
        return self.server

    def drain(self, timeout: float = 30.0) -> bool:
        """Stop accepting calls and wait for the ones in progress; True if all finished."""
        self._draining = True
        if self.server is not None:
            self.server.close()
        finished = self._idle.wait(timeout)
        return bool(finished)


def serve_forever(router: Router, host: str, port: int, metrics_listen: str | None = None,
                  drain_timeout: float = 30.0) -> None:
    """Run until SIGTERM/SIGINT, then drain: finish calls in progress, accept no new ones."""
    from gevent.pywsgi import WSGIServer
    from prometheus_client import make_wsgi_app

    import gc

    router.cache.start()
    # a long-lived server: move what start-up allocated out of the collector's way (freeze),
    # and collect the young generation in small, regular steps; with each session's cycles
    # broken in _close there is little for a pass to do, so no pause spoils a call's latency
    gc.collect()
    gc.freeze()
    gc.set_threshold(5_000, 20, 20)  # measured: p99 at 500 calls/s 3.4 ms (700: 4.5-7.3; 50,000: up to 14)
    router.start(host, port)
    metrics_server = None
    if metrics_listen:
        mhost, _, mport = metrics_listen.rpartition(":")
        metrics_server = WSGIServer((mhost or "127.0.0.1", int(mport)), make_wsgi_app(router.metrics.registry),
                                    log=None)
        metrics_server.start()

    def cache_age() -> None:
        while True:
            router.metrics.cache_age.set(router.cache.age if router.cache.age is not None else -1)
            gevent.sleep(1)

    gevent.spawn(cache_age)
    stop = gevent.event.Event()
    gevent.signal_handler(signal.SIGTERM, stop.set)
    gevent.signal_handler(signal.SIGINT, stop.set)
    log.info("roteador ouvindo em %s:%d%s", host, router.server.server_port if router.server else port,
             f"; métricas em http://{metrics_listen}/metrics" if metrics_listen else "")
    stop.wait()
    log.info("encerrando: não aceita novas chamadas, aguardando %d em andamento", router.active)
    finished = router.drain(drain_timeout)
    log.info("encerrado (%s)", "todas as chamadas concluídas" if finished else "tempo de espera esgotado")
    router.cache.stop()
    if metrics_server is not None:
        metrics_server.stop()
