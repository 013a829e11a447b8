"""The router's decision: a pure function of the call, the DID's rules and the time.

``decide(call, rules, now, config)`` returns the painel_* channel variables the
dialplan acts on (DESIGN.md's contract). Order: unknown DID or inactive circuit,
blacklist, collect call, follow-me, default. No socket, no database, no clock here:
the ESL server, the mod_python adapter and ``painel router check`` all call it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from painel.dialing import check_destination
from painel.routing import BlacklistRule, DidRules
from painel.errors import InvalidNumber
from painel.numbering import normalize

#: causes after which mode "unavailable" forwards (busy, unregistered, unreachable)
UNAVAILABLE_CAUSES = ("USER_BUSY", "USER_NOT_REGISTERED", "SUBSCRIBER_ABSENT", "NO_ROUTE_DESTINATION",
                      "DESTINATION_OUT_OF_ORDER", "NETWORK_OUT_OF_ORDER")


@dataclass(frozen=True, slots=True)
class CollectRule:
    """A collect call is recognised when ``variable`` contains (or equals) ``value``, any case."""

    variable: str
    value: str
    match: str = "contains"  # contains | equals

    def matches(self, variables: Mapping[str, str]) -> bool:
        got = variables.get(self.variable)
        if not got:
            return False
        got, want = got.lower(), self.value.lower()
        return want in got if self.match == "contains" else got == want


#: carriers mark collect calls differently (DESIGN.md); these are the defaults, per trunk configurable
DEFAULT_COLLECT_RULES = (
    CollectRule("sip_h_X-Siemens-Call-Type", "collect"),
    CollectRule("sip_full_from", "cpc=collect"),
    CollectRule("sip_from_params", "cpc=collect"),
    CollectRule("sip_P-Asserted-Identity", "cpc=collect"),
    CollectRule("sip_h_P-Asserted-Identity", "cpc=collect"),
    # a gateway maps R2 calling category II-8 / ISDN reverse charging to this variable
    CollectRule("painel_collect_category", "collect", "equals"),
)


def parse_collect_rules(text: str) -> tuple[CollectRule, ...]:
    """``"sip_h_X-Call-Type~collect;painel_collect_category=collect"`` -> rules (empty: defaults).

    ``~`` means "contains" and ``=`` "equals", case-insensitive, over channel variables.
    """
    rules = []
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        if "~" in part:
            variable, value = part.split("~", 1)
            rules.append(CollectRule(variable.strip(), value.strip(), "contains"))
        elif "=" in part:
            variable, value = part.split("=", 1)
            rules.append(CollectRule(variable.strip(), value.strip(), "equals"))
        else:
            raise ValueError(f"regra de chamada a cobrar inválida: {part!r} (use variável~texto ou variável=texto)")
        if not rules[-1].variable or not rules[-1].value:
            raise ValueError(f"regra de chamada a cobrar incompleta: {part!r}")
    return tuple(rules) or DEFAULT_COLLECT_RULES


@dataclass(frozen=True, slots=True)
class RouterConfig:
    circuit_dial_string: str = "user/{circuit}"
    gateway_dial_string: str = "sofia/gateway/carrier/{number}"
    unallocated_cause: str = "UNALLOCATED_NUMBER"
    blacklist_cause: str = "CALL_REJECTED"
    collect_cause: str = "CALL_REJECTED"
    collect_rules: tuple[CollectRule, ...] = DEFAULT_COLLECT_RULES

    @classmethod
    def from_settings(cls, settings: Any) -> "RouterConfig":
        """The router's configuration from ``painel.settings.Settings``."""
        from painel.errors import ConfigError

        try:
            collect = parse_collect_rules(settings.router_collect_rules)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        return cls(circuit_dial_string=settings.router_circuit_dial_string,
                   gateway_dial_string=settings.router_gateway_dial_string,
                   unallocated_cause=settings.router_unallocated_cause,
                   blacklist_cause=settings.router_blacklist_cause,
                   collect_cause=settings.router_collect_cause, collect_rules=collect)


@dataclass(frozen=True, slots=True)
class CallInfo:
    uuid: str
    destination: str  # the DID as it arrived
    caller: str
    variables: Mapping[str, str] = field(default_factory=dict)
    privacy_hide_number: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    action: str  # bridge | forward | reject
    rule: str  # unallocated | blacklist | collect | follow_me | default | fallback
    variables: dict[str, str]
    #: the blacklist entry that matched (its hit counter goes up)
    blacklist_id: int | None = None
    #: why a rule did not apply as configured (logged with the call uuid)
    note: str | None = None


ANONYMOUS = frozenset({"", "anonymous", "anonimo", "anônimo", "restricted", "private", "unknown",
                       "unavailable", "0000000000"})


def did_digits(number: str) -> str:
    """The DID as E.164 digits: '+5598…', '5598…' and 'sip:5598…@host' all give '5598…'."""
    number = number.strip()
    if number.lower().startswith("sip:"):
        number = number[4:]
    number = number.split("@", 1)[0]
    return "".join(ch for ch in number if ch.isdigit())


def _variables(rules: DidRules, did: str, direction: str, action: str, rule: str, **extra: str) -> dict[str, str]:
    out = {"painel_circuit": rules.circuit, "painel_did": did, "painel_direction": direction,
           "painel_action": action, "painel_rule": rule}
    out.update({k: v for k, v in extra.items() if v})
    return out


def is_anonymous(call: CallInfo) -> bool:
    return call.privacy_hide_number or call.caller.strip().lower() in ANONYMOUS


def caller_matches(caller: str, home_ddd: str, entry: BlacklistRule) -> bool:
    """Exact entries compare normalized E.164; prefixes compare against every form of the caller."""
    if entry.is_prefix:
        digits = "".join(ch for ch in caller if ch.isdigit())
        forms = {digits}
        try:
            info = normalize(caller, home_ddd)
        except InvalidNumber:
            pass
        else:
            forms.update({info.e164.lstrip("+"), info.national, "0" + info.national})
        return any(f.startswith(entry.number) for f in forms)
    try:
        return normalize(caller, home_ddd).e164.lstrip("+") == entry.number
    except InvalidNumber:
        return "".join(ch for ch in caller if ch.isdigit()) == entry.number


def is_collect(call: CallInfo, config: RouterConfig) -> bool:
    return any(rule.matches(call.variables) for rule in config.collect_rules)


def decide(call: CallInfo, rules: DidRules | None, now: datetime, config: RouterConfig = RouterConfig()) -> Decision:
    """What the subscriber asked for this call (see the module docstring for the order)."""
    did = did_digits(call.destination)
    # 1. unknown DID or inactive circuit
    if rules is None or not rules.circuit_active:
        variables = {"painel_did": did, "painel_direction": "inbound", "painel_action": "reject",
                     "painel_hangup_cause": config.unallocated_cause, "painel_rule": "unallocated"}
        if rules is not None:
            variables["painel_circuit"] = rules.circuit
        return Decision("reject", "unallocated", variables)
    collect = is_collect(call, config)
    direction = "collect" if collect else "inbound"
    # 2. blacklist
    if "blacklist" in rules.flags:
        if rules.block_anonymous and is_anonymous(call):
            return Decision("reject", "blacklist", _variables(
                rules, did, direction, "reject", "blacklist", painel_hangup_cause=config.blacklist_cause))
        for entry in rules.blacklist:
            if entry.expires_at is not None and entry.expires_at <= now:
                continue
            if entry.did is not None and entry.did != did:
                continue
            if caller_matches(call.caller, rules.home_ddd, entry):
                return Decision("reject", "blacklist", _variables(
                    rules, did, direction, "reject", "blacklist", painel_hangup_cause=config.blacklist_cause),
                    blacklist_id=entry.id)
    # 3. collect calls: only with ACB (the flag and the DID's toggle) they connect, billed to the circuit
    if collect and not ("acb" in rules.flags and rules.acb):
        return Decision("reject", "collect", _variables(
            rules, did, "collect", "reject", "collect", painel_hangup_cause=config.collect_cause))
    circuit_leg = config.circuit_dial_string.format(circuit=rules.circuit)
    # 4. follow-me
    note = None
    if rules.follow_me is not None and "sigame" in rules.flags and not collect:
        fm = rules.follow_me
        check = check_destination(fm.destination, rules.home_ddd, rules.outbound_rules)
        if check.allowed:
            leg_vars = ["painel_direction=forwarded", f"painel_circuit={rules.circuit}"]
            if rules.outbound_caller_id:
                leg_vars.append(f"origination_caller_id_number={rules.outbound_caller_id}")
            forwarded = config.gateway_dial_string.format(number=fm.destination)
            if fm.mode == "no_answer":
                bridge = (f"[leg_timeout={fm.timeout}]{circuit_leg}|[{','.join(leg_vars)}]{forwarded}")
                return Decision("forward", "follow_me", _variables(
                    rules, did, direction, "forward", "follow_me", painel_bridge=bridge))
            if fm.mode == "unavailable":
                return Decision("forward", "follow_me", _variables(
                    rules, did, direction, "forward", "follow_me", painel_bridge=circuit_leg,
                    painel_forward="{" + ",".join(leg_vars) + "}" + forwarded,
                    painel_forward_on=",".join(UNAVAILABLE_CAUSES)))
            return Decision("forward", "follow_me", _variables(
                rules, did, direction, "forward", "follow_me",
                painel_bridge="{" + ",".join(leg_vars) + "}" + forwarded))
        note = f"siga-me ignorado: {check.reason}"
    # 5. the circuit's phone
    return Decision("bridge", "default", _variables(
        rules, did, direction, "bridge", "default", painel_bridge=circuit_leg), note=note)


def fallback(call: CallInfo, circuit: str | None, config: RouterConfig = RouterConfig()) -> Decision:
    """When the router cannot decide (no rules, bad data): what the dialplan would do anyway."""
    variables = {"painel_rule": "fallback", "painel_action": "bridge"}
    did = did_digits(call.destination) if call.destination else ""
    if did:
        variables["painel_did"] = did
    if circuit:
        variables["painel_circuit"] = circuit
        variables["painel_bridge"] = config.circuit_dial_string.format(circuit=circuit)
    return Decision("bridge", "fallback", variables)
