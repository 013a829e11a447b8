"""``painel simulate``: a pretend FreeSWITCH that sends live calls through the router and posts their CDRs.

For newcomers and demos (``painel run --simulate``): every few seconds a call arrives on one
of the database's DIDs and goes through the dialplan of ``fs-config`` as FreeSWITCH would run
it (the safe defaults, then ``socket`` to the router over the real outbound Event Socket
protocol, played by :mod:`esl_router.simulator`); the router's decision (blacklist, collect
call refused or accepted, follow-me, the circuit) shapes the call, and when it ends its
mod_json_cdr documents are POSTed to the CDR receiver exactly as the module does
(``encode=false``: the JSON itself, ``?uuid=`` on the URL, retries, then the ``err-log-dir``
spool). Some calls are the circuits' own outbound calls, which reach the receiver without
the router, as in the ``painel_outbound`` dialplan. The portal then shows them as they land.

The calls use the circuits, DIDs and blacklists in the database (the demo's, or any other),
reloaded every 30 s. Talk time is not waited for: a call is reported as having just ended.

The pieces are usable one by one (the end-to-end test and ``bench/soak.py`` do):
:meth:`Driver.inbound_call` and :meth:`Driver.outbound_call` place a chosen call (caller, DID,
collect marking, outcome, talk time, start time), :meth:`Driver.random_call` one of the mix,
:meth:`Driver.post_call` posts a call's legs with the module's retries and spool, and
:meth:`Driver.post_document` makes one POST and returns the receiver's answer.
"""
from __future__ import annotations

import asyncio
import base64
import logging
import math
import random
import signal
import time
import urllib.error
import urllib.request
import uuid as uuidlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from painel.clikit import AppContext, pass_app
from painel.errors import ConfigError
from painel.settings import Settings

if TYPE_CHECKING:
    from cdr_ingest.synth import SynthCall
    from esl_router.simulator import SimResult

log = logging.getLogger("painel.simulate")

#: the dialed categories of the circuits' outbound calls, and how often each is dialed
OUTBOUND_MIX = (("local_fixo", 35), ("movel_local", 30), ("ldn_fixo", 12), ("movel_ldn", 10),
                ("0800", 3), ("especial", 3), ("internacional", 2))
#: mod_json_cdr's retries and delay between them (fs-config/autoload_configs/json_cdr.conf.xml)
POST_RETRIES = 3
POST_DELAY = 5.0


@dataclass(frozen=True)
class Target:
    """A circuit calls can be made for: its DIDs and the callers it blocks."""

    circuit: str
    home_ddd: str
    dids: tuple[str, ...]       # E.164 digits, no "+"
    blacklist: tuple[str, ...]  # exact numbers it blocks (E.164 digits)


@dataclass
class PlacedCall:
    """A simulated call: the legs the switch reports (None: no CDR names a circuit) and what decided it."""

    call: SynthCall | None
    rule: str                        # the router's painel_rule, or "outbound" for the circuit's own calls
    result: SimResult | None = None  # the router session (None: an outbound call, no router involved)


@dataclass
class Stats:
    calls: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)
    posted: int = 0
    spooled: int = 0

    def summary(self) -> str:
        rules = " ".join(f"{k}={v}" for k, v in sorted(self.by_rule.items()))
        return f"chamadas={self.calls} cdrs_enviados={self.posted} cdrs_no_spool={self.spooled} {rules}".rstrip()


def connect_host(host: str) -> str:
    """Where to connect for a server listening on ``host`` (a wildcard means this machine)."""
    host = host.strip("[]")
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def split_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"endereço inválido: {listen!r} (use HOST:PORTA, ex.: 127.0.0.1:8084)")
    return host.strip("[]") or "127.0.0.1", int(port)


def load_targets(engine: Engine) -> list[Target]:
    """Active circuits that have DIDs, or none (outbound calls only need the circuit)."""
    from painel.models import BlacklistEntry, Circuit, Did

    with Session(engine) as session:
        circuits = list(session.scalars(select(Circuit).where(Circuit.active.is_(True)).order_by(Circuit.number)))
        dids: dict[int, list[str]] = {}
        for circuit_id, e164 in session.execute(select(Did.circuit_id, Did.e164).order_by(Did.e164)):
            if circuit_id is not None:
                dids.setdefault(circuit_id, []).append(e164.lstrip("+"))
        blocked: dict[int, list[str]] = {}
        for circuit_id, number in session.execute(
                select(BlacklistEntry.circuit_id, BlacklistEntry.number).where(BlacklistEntry.is_prefix.is_(False))):
            if len(number) >= 12:  # a whole E.164 number a caller can present
                blocked.setdefault(circuit_id, []).append(number)
    return [Target(c.number, c.home_ddd, tuple(dids.get(c.id, ())), tuple(blocked.get(c.id, ())))
            for c in circuits]


def forward_destination(dial_string: str) -> str:
    """The number a follow-me dial string sends to the carrier (the last leg's last path part)."""
    last = dial_string.split("|")[-1]
    return last.rsplit("/", 1)[-1]


def leg_variables(dial_string: str) -> dict[str, str]:
    """The painel_* of a dial string's ``{...}`` or ``[...]`` (the forwarded leg's variables)."""
    last = dial_string.split("|")[-1]
    if last[:1] not in ("{", "["):
        return {}
    inner = last[1:last.index("}" if last[0] == "{" else "]")]
    pairs = (item.split("=", 1) for item in inner.split(",") if "=" in item)
    return {k: v for k, v in pairs if k.startswith("painel_") and v}


class Driver:
    """Places one call at a time at random intervals, posting each call's CDRs when it ends."""

    def __init__(self, engine: Engine, settings: Settings, router: tuple[str, int], cdr_url: str, *,
                 rate_per_minute: float = 12.0, seed: int | None = None, credentials: str = "",
                 spool_dir: Path | None = None, post_retries: int = POST_RETRIES,
                 post_delay: float = POST_DELAY) -> None:
        from esl_router.simulator import FreeSwitchSim

        self.engine = engine
        self.settings = settings
        self.sim = FreeSwitchSim(router[0], router[1], timeout=5.0)
        self.cdr_url = cdr_url
        self.rate = rate_per_minute
        self.rng = random.Random(seed)
        self.credentials = credentials
        self.spool_dir = spool_dir or Path(settings.var_dir) / "simulate" / "json_cdr_err"
        self.post_retries = post_retries
        self.post_delay = post_delay
        self.stats = Stats()
        self._targets: list[Target] = []
        self._loaded_at = -math.inf
        self._profiles: dict[str, object] = {}
        self._posts: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ the loop
    async def run(self, stop: asyncio.Event, max_calls: int = 0) -> Stats:
        log.info("simulador: %.1f chamadas por minuto para o roteador %s:%d, CDRs para %s",
                 self.rate, self.sim.router_host, self.sim.router_port, self.cdr_url)
        while not stop.is_set() and not (max_calls and self.stats.calls >= max_calls):
            targets = self.targets()
            if not targets:
                log.warning("simulador: nenhum circuito ativo no banco; nada a simular (rode `painel demo`)")
                await _wait(stop, 30.0)
                continue
            try:
                await self.one_call(self.rng.choice(targets))
            except Exception:  # one bad call must not end the simulation
                log.exception("simulador: falha ao simular uma chamada")
            if max_calls and self.stats.calls >= max_calls:
                break
            await _wait(stop, self.rng.expovariate(self.rate / 60.0) if self.rate > 0 else 3600.0)
        if self._posts:  # the CDRs of calls already made still go out (or to the spool)
            await asyncio.wait(self._posts, timeout=self.post_delay * (self.post_retries + 1) + 15)
        log.info("simulador parado: %s", self.stats.summary())
        return self.stats

    def targets(self) -> list[Target]:
        if time.monotonic() - self._loaded_at > 30.0:
            try:
                self._targets = load_targets(self.engine)
            except SQLAlchemyError as exc:
                log.warning("simulador: banco indisponível, usando os circuitos já lidos: %s",
                            str(exc).splitlines()[0])
            self._loaded_at = time.monotonic()
        return self._targets

    def profile(self, target: Target):  # type: ignore[no-untyped-def]
        from cdr_ingest.synth import traffic_profile

        key = target.circuit
        if key not in self._profiles:
            self._profiles[key] = traffic_profile({"number": target.circuit, "home_ddd": target.home_ddd,
                                                   "dids": list(target.dids), "blacklist": list(target.blacklist)},
                                                  seed=1)
        return self._profiles[key]

    # ------------------------------------------------------------------ one call
    async def one_call(self, target: Target) -> str:
        """Simulate one call of ``target``; returns the rule that decided it (``outbound`` for its own calls)."""
        placed = await self.random_call(target)
        self.stats.calls += 1
        self.stats.by_rule[placed.rule] = self.stats.by_rule.get(placed.rule, 0) + 1
        if placed.call is not None:
            task = asyncio.ensure_future(self.post_call(placed.call))
            self._posts.add(task)
            task.add_done_callback(self._posts.discard)
        return placed.rule

    async def random_call(self, target: Target, *, inbound_only: bool = False) -> PlacedCall:
        """One call of the simulation's mix for ``target`` (nothing posted): 40 % its own calls, the
        rest received through the router (10 % from its blacklist, 8 % collect); ``inbound_only``
        keeps only the received ones (every call meets the router)."""
        rng = self.rng
        seed = f"painel-simulate:{uuidlib.uuid4()}"
        outcome = rng.choices(("answered", "no_answer", "busy"), (80, 15, 5))[0]
        talk = max(3, min(900, round(math.exp(rng.gauss(math.log(45), 0.8)))))
        ring = rng.randint(2, 8)
        prof = self.profile(target)
        if not target.dids or (not inbound_only and rng.random() < 0.4):
            category = rng.choices([c for c, _ in OUTBOUND_MIX], [w for _, w in OUTBOUND_MIX])[0]
            dialed = rng.choice(prof.frequent_dialed[category])
            return self.outbound_call(target.circuit, dialed, outcome=outcome, talk=talk, ring=ring, seed=seed)
        did = rng.choice(target.dids)
        x = rng.random()
        collect = False
        if x < 0.10 and target.blacklist:
            caller = rng.choice(target.blacklist)
        else:
            caller = rng.choices(prof.callers, prof.caller_weights)[0]
            collect = x > 0.92  # the carrier marks a collect call (DESIGN: X-Siemens-Call-Type)
        return await self.inbound_call(target.circuit, did, caller, collect=collect, outcome=outcome, talk=talk,
                                       ring=ring, seed=seed)

    def outbound_call(self, circuit: str, dialed: str, *, outcome: str = "answered", talk: int = 60,
                      ring: int = 3, start_epoch: int | None = None, seed: str | None = None) -> PlacedCall:
        """One of the circuit's own calls (the ``painel_outbound`` dialplan: no router involved).

        ``start_epoch`` None: the call has just ended. Nothing is posted: see :meth:`post_call`.
        """
        from cdr_ingest.synth import scenario_call

        seed = seed or f"painel-simulate:{uuidlib.uuid4()}"
        call = scenario_call("outbound", circuit=circuit, did=None, other=dialed,
                             start_epoch=_start(start_epoch, outcome, talk, ring, 15), talk_seconds=talk,
                             ring_seconds=ring, uuid_seed=seed, outcome=outcome)
        log.info("chamada simulada %s: circuito %s ligou para %s (%s)", call.a.uuid, circuit, dialed,
                 _OUTCOME_PT[outcome])
        return PlacedCall(call, "outbound")

    async def inbound_call(self, circuit: str, did: str, caller: str, *, collect: bool = False,
                           outcome: str = "answered", talk: int = 60, ring: int = 3, start_epoch: int | None = None,
                           seed: str | None = None) -> PlacedCall:
        """A call from ``caller`` to ``did`` (a DID of ``circuit``) through the inbound dialplan and the router.

        The router's decision (or the dialplan's defaults when it is down) shapes the call and
        its CDRs; ``collect`` marks it as the carrier marks a collect call. ``start_epoch`` None:
        the call has just ended. Nothing is posted: see :meth:`post_call`.
        """
        from cdr_ingest.synth import call_uuid, scenario_call
        from esl_router.simulator import SimCall

        seed = seed or f"painel-simulate:{uuidlib.uuid4()}"
        a_uuid = call_uuid(seed + ":a")
        variables = {"sip_h_X-Siemens-Call-Type": "collect call"} if collect else {}
        circuit_leg = self.settings.router_circuit_dial_string.format(circuit=circuit)
        # what the inbound dialplan sets before `socket` (fs-config/dialplan/public/00_painel_inbound.xml)
        defaults = {"painel_did": did, "painel_direction": "inbound", "painel_action": "bridge",
                    "painel_rule": "fallback", "painel_circuit": circuit, "painel_bridge": circuit_leg}
        result = await self.sim.run_dialplan_async(SimCall(did=did, caller=caller, variables=variables, uuid=a_uuid,
                                                           defaults=defaults))
        v = result.variables
        painel = {k: val for k, val in v.items() if k.startswith("painel_") and val}
        action, rule = v.get("painel_action", "bridge"), v.get("painel_rule", "fallback")
        if result.refused or result.error:
            log.warning("chamada simulada %s: roteador indisponível (%s); o dialplan seguiu com os padrões",
                        a_uuid, "conexão recusada" if result.refused else result.error)
        log.info("chamada simulada %s: %s -> %s regra=%s ação=%s%s", a_uuid, caller, did, rule, action,
                 f" ({_OUTCOME_PT[outcome]})" if action != "reject" else "")
        header = ("X-Siemens-Call-Type", variables.get("sip_h_X-Siemens-Call-Type") or "collect call")

        def started(timeout: int) -> int:
            return _start(start_epoch, outcome, talk, ring, timeout)

        if action == "reject":
            kind = {"blacklist": "blacklisted", "collect": "collect_rejected"}.get(rule)
            if kind is None:  # unallocated: FreeSWITCH's CDR would name no circuit; nothing to bill
                return PlacedCall(None, rule, result)
            call = scenario_call(kind, circuit=circuit, did=did, other=caller, start_epoch=started(0),
                                 talk_seconds=0, uuid_seed=seed, collect_header=header)
            call.a.painel = painel
            return PlacedCall(call, rule, result)
        if action == "forward":
            dial = v.get("painel_forward") or v.get("painel_bridge", "")
            call = scenario_call("forwarded", circuit=circuit, did=did, other=forward_destination(dial),
                                 caller=caller, start_epoch=started(60), talk_seconds=talk, ring_seconds=ring,
                                 uuid_seed=seed, outcome=outcome)
            call.a.painel = painel
            if call.b is not None:
                call.b.painel = leg_variables(dial) or {"painel_direction": "forwarded", "painel_circuit": circuit}
            return PlacedCall(call, rule, result)
        if v.get("painel_direction") == "collect":
            kind = "collect_accepted"
        elif rule == "fallback":
            kind = "fallback"
        else:
            kind = "inbound"
        call = scenario_call(kind, circuit=circuit, did=did, other=caller, start_epoch=started(60), talk_seconds=talk,
                             ring_seconds=ring, uuid_seed=seed, outcome=outcome, collect_header=header)
        call.a.painel = painel
        return PlacedCall(call, rule, result)

    # ------------------------------------------------------------------ mod_json_cdr
    async def post_call(self, call) -> None:  # type: ignore[no-untyped-def]
        from cdr_ingest.synth import json_cdr

        for leg in call.hangup_order():  # each leg is posted when it hangs up
            doc = json_cdr(leg, switch_tz=self.settings.switch_timezone)
            name = f"a_{leg.uuid}.cdr.json" if leg.leg == "a" else f"{leg.uuid}.cdr.json"
            await self.post(leg.uuid, doc, name)

    async def post(self, uuid: str, doc: str, name: str) -> bool:
        """POST as mod_json_cdr does (encode=false); after the retries, write the err-log-dir file."""
        last = ""
        for attempt in range(self.post_retries + 1):
            if attempt:
                await asyncio.sleep(self.post_delay)
            try:
                status = await asyncio.to_thread(self._post_once, uuid, doc)
            except (OSError, urllib.error.URLError) as exc:
                last = str(getattr(exc, "reason", exc))
                continue
            if 200 <= status < 300:
                self.stats.posted += 1
                return True
            last = f"HTTP {status}"
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        (self.spool_dir / name).write_text(doc, encoding="utf-8")
        self.stats.spooled += 1
        log.warning("CDR %s não entregue ao receptor (%s); gravado em %s (use `painel cdr ingest %s`)",
                    uuid, last, self.spool_dir / name, self.spool_dir)
        return False

    def _post_once(self, uuid: str, doc: str) -> int:
        return self.post_document(uuid, doc)[0]

    def post_document(self, uuid: str, doc: str) -> tuple[int, str]:
        """One POST as mod_json_cdr sends it (no retry, no spool): the HTTP status and the reply's body."""
        request = urllib.request.Request(f"{self.cdr_url}?uuid={uuid}", data=doc.encode("utf-8"), method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "User-Agent": "freeswitch-json/1.0"})
        if self.credentials:
            token = base64.b64encode(self.credentials.encode("utf-8")).decode("ascii")
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.read().decode("utf-8", "replace")


_OUTCOME_PT = {"answered": "atendida", "no_answer": "não atendida", "busy": "ocupado"}


def _start(start_epoch: int | None, outcome: str, talk: int, ring: int, timeout: int) -> int:
    """``start_epoch``, or a start such that the call has just ended (the dialplan's ``timeout`` unanswered)."""
    if start_epoch is not None:
        return start_epoch
    length = {"answered": ring + talk, "no_answer": timeout, "busy": 1}[outcome]
    return int(time.time()) - length - 1


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except asyncio.TimeoutError:
        pass


def run_driver(driver: Driver, max_calls: int = 0) -> Stats:
    """Run until SIGTERM/SIGINT (or ``max_calls`` calls), then let the last CDRs go out."""

    async def main() -> Stats:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        return await driver.run(stop, max_calls)

    return asyncio.run(main())


@click.command("simulate")
@click.option("--router", "router_listen", default=None,
              help="Endereço:porta do roteador (padrão: router_listen, 127.0.0.1:8084).")
@click.option("--cdr-url", default=None,
              help="URL do receptor de CDRs (padrão: http://<cdr_listen>/cdr, como no json_cdr.conf.xml).")
@click.option("--rate", type=click.FloatRange(min=0.1, max=6000), default=12.0, show_default=True,
              help="Chamadas por minuto, em média (intervalos aleatórios).")
@click.option("--calls", type=click.IntRange(min=0), default=0, show_default=True,
              help="Para depois de N chamadas (0: até Ctrl-C ou SIGTERM).")
@click.option("--seed", type=int, default=None, help="Semente do sorteio (a mesma semente repete as escolhas).")
@pass_app
def simulate(app: AppContext, router_listen: str | None, cdr_url: str | None, rate: float, calls: int,
             seed: int | None) -> None:
    """Simula um FreeSWITCH: chamadas reais pelo roteador e os CDRs delas no receptor.

    Para demonstração e testes de ponta a ponta, nunca contra uma central real. As
    chamadas usam os circuitos, DIDs e blacklists do banco: cada chamada recebida passa
    pelo roteador (Event Socket, como o dialplan do fs-config) e a decisão dele molda a
    chamada; parte das chamadas são chamadas de saída dos circuitos. Ao terminar, cada
    perna é enviada ao receptor como o mod_json_cdr envia; se o receptor não aceitar
    depois de 3 novas tentativas, o CDR vai para var/simulate/json_cdr_err/.

    \b
    Exemplo:
      painel simulate --rate 30
      painel simulate --router 127.0.0.1:8084 --cdr-url http://127.0.0.1:8090/cdr --calls 10
    """
    settings = app.settings
    host, port = split_listen(router_listen or settings.router_listen)
    if cdr_url is None:
        cdr_host, cdr_port = split_listen(settings.cdr_listen)
        cdr_host = connect_host(cdr_host)
        cdr_url = f"http://{'[' + cdr_host + ']' if ':' in cdr_host else cdr_host}:{cdr_port}/cdr"
    driver = Driver(app.engine, settings, (connect_host(host), port), cdr_url, rate_per_minute=rate, seed=seed,
                    credentials=settings.cdr_http_credentials)
    stats = run_driver(driver, calls)
    click.echo(stats.summary())
