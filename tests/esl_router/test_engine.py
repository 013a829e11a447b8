"""decide(): the rule order of the call router, as a table of cases (pure, no switch)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from esl_router.engine import CallInfo, RouterConfig, decide, fallback
from esl_router.server import MULTISET_DELIMITER, multiset_arg
from painel.dialing import check_destination
from painel.routing import BlacklistRule, DidRules, FollowMe

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
DID = "5598987654321"
ALL_FLAGS = frozenset({"web", "faturas", "blacklist", "sigame", "acb"})
CFG = RouterConfig(circuit_dial_string="sofia/internal/{circuit}@127.0.0.1:5090")


def rules(**kw) -> DidRules:  # type: ignore[no-untyped-def]
    base = dict(did=DID, circuit="8011441", circuit_active=True, home_ddd="98", flags=ALL_FLAGS,
                blacklist=(BlacklistRule(1, "5511988887777"), BlacklistRule(2, "0303", is_prefix=True),
                           BlacklistRule(3, "5598981119999", did="559832221100"),
                           BlacklistRule(4, "5521977770000", expires_at=NOW - timedelta(days=1))),
                acb=True, outbound_rules=("local", "ldn", "movel"), outbound_caller_id="+559832221100")
    base.update(kw)
    return DidRules(**base)  # type: ignore[arg-type]


def call(caller: str, did: str = DID, **variables: str) -> CallInfo:
    return CallInfo(uuid="u1", destination=did, caller=caller, variables=variables)


COLLECT = {"sip_h_X-Siemens-Call-Type": "collect call"}

CASES = [
    # id, call, rules, expected (action, rule, direction, hangup cause or bridge)
    ("unknown DID -> UNALLOCATED_NUMBER", call("5586999990000", did="5598900000000"), None,
     ("reject", "unallocated", "inbound", "UNALLOCATED_NUMBER")),
    ("inactive circuit -> UNALLOCATED_NUMBER", call("5586999990000"), rules(circuit_active=False),
     ("reject", "unallocated", "inbound", "UNALLOCATED_NUMBER")),
    ("blacklisted caller in E.164", call("5511988887777"), rules(), ("reject", "blacklist", "inbound", "CALL_REJECTED")),
    ("blacklisted caller with +", call("+5511988887777"), rules(), ("reject", "blacklist", "inbound", "CALL_REJECTED")),
    ("blacklisted caller dialed with 0 + DDD", call("011988887777"), rules(), ("reject", "blacklist", "inbound", "CALL_REJECTED")),
    ("prefix 0303 (telemarketing) in national form", call("03031234567"), rules(),
     ("reject", "blacklist", "inbound", "CALL_REJECTED")),
    ("prefix 0303 arriving in E.164", call("+553031234567"), rules(), ("reject", "blacklist", "inbound", "CALL_REJECTED")),
    ("entry scoped to another DID does not apply", call("5598981119999"), rules(),
     ("bridge", "default", "inbound", "sofia/internal/8011441@127.0.0.1:5090")),
    ("entry scoped to this DID applies", call("5598981119999", did="559832221100"), rules(did="559832221100"),
     ("reject", "blacklist", "inbound", "CALL_REJECTED")),
    ("expired entry ignored", call("5521977770000"), rules(), ("bridge", "default", "inbound",
                                                               "sofia/internal/8011441@127.0.0.1:5090")),
    ("local caller without DDD matches its E.164 entry", call("981119999"),
     rules(blacklist=(BlacklistRule(9, "5598981119999"),)), ("reject", "blacklist", "inbound", "CALL_REJECTED")),
    ("Blacklist flag off: list not applied", call("5511988887777"), rules(flags=ALL_FLAGS - {"blacklist"}),
     ("bridge", "default", "inbound", "sofia/internal/8011441@127.0.0.1:5090")),
    ("anonymous blocked when asked", call("anonymous"), rules(block_anonymous=True),
     ("reject", "blacklist", "inbound", "CALL_REJECTED")),
    ("anonymous allowed by default", call("anonymous"), rules(),
     ("bridge", "default", "inbound", "sofia/internal/8011441@127.0.0.1:5090")),
    ("collect with ACB: connects, billed as collect", call("5598981110002", **COLLECT), rules(),
     ("bridge", "default", "collect", "sofia/internal/8011441@127.0.0.1:5090")),
    ("collect without the DID's ACB toggle: rejected", call("5598981110001", **COLLECT), rules(acb=False),
     ("reject", "collect", "collect", "CALL_REJECTED")),
    ("collect without the ACB flag: rejected", call("5598981110001", **COLLECT), rules(flags=ALL_FLAGS - {"acb"}),
     ("reject", "collect", "collect", "CALL_REJECTED")),
    ("collect marked cpc=collect in From", call("5598981110001", sip_full_from='"x" <sip:5598981110001@h>;cpc=collect'),
     rules(acb=False), ("reject", "collect", "collect", "CALL_REJECTED")),
    ("collect marked in P-Asserted-Identity", call("5598981110001", **{"sip_P-Asserted-Identity": "<sip:1@h;cpc=collect>"}),
     rules(acb=False), ("reject", "collect", "collect", "CALL_REJECTED")),
    ("collect by the gateway's R2 II-8 / ISDN mapping", call("5598981110001", painel_collect_category="collect"),
     rules(acb=False), ("reject", "collect", "collect", "CALL_REJECTED")),
    ("blacklist before collect", call("5511988887777", **COLLECT), rules(), ("reject", "blacklist", "collect", "CALL_REJECTED")),
    ("follow-me always", call("5521977776666"), rules(follow_me=FollowMe("0218632221234")),
     ("forward", "follow_me", "inbound",
      "{painel_direction=forwarded,painel_circuit=8011441,origination_caller_id_number=+559832221100}"
      "sofia/gateway/carrier/0218632221234")),
    ("follow-me no answer after 15 s", call("5521977776666"), rules(follow_me=FollowMe("981234567", "no_answer", 15)),
     ("forward", "follow_me", "inbound",
      "[leg_timeout=15]sofia/internal/8011441@127.0.0.1:5090|[painel_direction=forwarded,painel_circuit=8011441,"
      "origination_caller_id_number=+559832221100]sofia/gateway/carrier/981234567")),
    ("follow-me unavailable rings the circuit first", call("5521977776666"),
     rules(follow_me=FollowMe("981234567", "unavailable")),
     ("forward", "follow_me", "inbound", "sofia/internal/8011441@127.0.0.1:5090")),
    ("follow-me to a destination the rules no longer allow rings the circuit", call("5521977776666"),
     rules(follow_me=FollowMe("002112125551234")), ("bridge", "default", "inbound", "sofia/internal/8011441@127.0.0.1:5090")),
    ("Siga-me flag off: not applied", call("5521977776666"), rules(follow_me=FollowMe("0218632221234"),
                                                                   flags=ALL_FLAGS - {"sigame"}),
     ("bridge", "default", "inbound", "sofia/internal/8011441@127.0.0.1:5090")),
    ("plain call", call("5586999990000"), rules(), ("bridge", "default", "inbound", "sofia/internal/8011441@127.0.0.1:5090")),
]


@pytest.mark.parametrize("c, r, expected", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_decide(c: CallInfo, r: DidRules | None, expected: tuple) -> None:
    d = decide(c, r, NOW, CFG)
    action, rule, direction, detail = expected
    assert (d.action, d.rule) == (action, rule)
    v = d.variables
    assert v["painel_action"] == action and v["painel_rule"] == rule and v["painel_direction"] == direction
    assert v["painel_did"] == c.destination.lstrip("+")
    if action == "reject":
        assert v["painel_hangup_cause"] == detail and "painel_bridge" not in v
    else:
        assert v["painel_bridge"] == detail and "painel_hangup_cause" not in v
    # never an empty value: it would unset a dialplan default on a real FreeSWITCH
    assert all(value for value in v.values())
    if r is not None:
        assert v["painel_circuit"] == r.circuit


def test_blacklist_hit_names_the_entry() -> None:
    assert decide(call("03031234567"), rules(), NOW, CFG).blacklist_id == 2
    assert decide(call("5586999990000"), rules(), NOW, CFG).blacklist_id is None


def test_unavailable_mode_carries_the_forward_leg_and_causes() -> None:
    v = decide(call("5521977776666"), rules(follow_me=FollowMe("981234567", "unavailable")), NOW, CFG).variables
    assert v["painel_forward"].startswith("{painel_direction=forwarded,painel_circuit=8011441")
    assert v["painel_forward"].endswith("sofia/gateway/carrier/981234567")
    assert "USER_BUSY" in v["painel_forward_on"] and "USER_NOT_REGISTERED" in v["painel_forward_on"]


def test_follow_me_refused_at_call_time_says_why() -> None:
    d = decide(call("5521977776666"), rules(follow_me=FollowMe("002112125551234")), NOW, CFG)
    assert d.note and "internacionais" in d.note


def test_fallback_sends_only_what_it_knows() -> None:
    d = fallback(CallInfo("u", "5598987654321", "x"), None, CFG)
    assert d.variables == {"painel_rule": "fallback", "painel_action": "bridge", "painel_did": "5598987654321"}
    d = fallback(CallInfo("u", "", "x"), "8011441", CFG)
    assert d.variables["painel_bridge"] == "sofia/internal/8011441@127.0.0.1:5090"


def test_multiset_argument_survives_host_port_and_failover() -> None:
    arg = multiset_arg({"painel_bridge": "[leg_timeout=15]sofia/internal/8011441@127.0.0.1:5090|x", "painel_rule": "follow_me",
                        "painel_hangup_cause": ""})
    assert arg.startswith("^^" + MULTISET_DELIMITER)
    assert arg.split(MULTISET_DELIMITER)[1:] == [
        "painel_bridge=[leg_timeout=15]sofia/internal/8011441@127.0.0.1:5090|x", "painel_rule=follow_me"]
    with pytest.raises(ValueError):
        multiset_arg({"painel_bridge": "a" + MULTISET_DELIMITER + "b"})


@pytest.mark.parametrize("number, allowed, rule", [
    ("32221234", True, "local"), ("0218632221234", True, "ldn"), ("981234567", True, "movel"),
    ("02111981234567", True, "movel"), ("002112125551234", False, None), ("08007271234", False, None),
    ("909032221234", False, None), ("abc", False, None),
], ids=lambda x: str(x))
def test_outbound_dialing_rules(number: str, allowed: bool, rule: str | None) -> None:
    check = check_destination(number, "98", ["local", "ldn", "movel"])
    assert (check.allowed, check.rule) == (allowed, rule)
    if not allowed:
        assert check.reason and check.reason.startswith("O número de destino precisa seguir os padrões de discagem")


def test_outbound_extra_pattern() -> None:
    assert check_destination("08007271234", "98", ["local", "padrao:^55800"]).rule == "padrao:^55800"


def test_collect_rules_from_settings() -> None:
    from esl_router.engine import DEFAULT_COLLECT_RULES, CollectRule, parse_collect_rules
    from painel.errors import ConfigError
    from painel.settings import load_settings

    assert parse_collect_rules("") == DEFAULT_COLLECT_RULES
    rules = parse_collect_rules("sip_h_X-Tipo~a cobrar; r2_category=II-8")
    assert rules == (CollectRule("sip_h_X-Tipo", "a cobrar", "contains"), CollectRule("r2_category", "II-8", "equals"))
    cfg = RouterConfig.from_settings(load_settings(environ={"PAINEL_ROUTER_COLLECT_RULES": "r2_category=II-8",
                                                            "PAINEL_ROUTER_COLLECT_CAUSE": "USER_BUSY"}))
    d = decide(call("5598981110001", r2_category="ii-8"), rules_(acb=False), NOW, cfg)
    assert (d.rule, d.variables["painel_hangup_cause"]) == ("collect", "USER_BUSY")
    # the defaults no longer apply once the operator configured the trunk's own marking
    assert decide(call("5598981110001", **COLLECT), rules_(acb=False), NOW, cfg).rule == "default"
    with pytest.raises(ConfigError):
        RouterConfig.from_settings(load_settings(environ={"PAINEL_ROUTER_COLLECT_RULES": "nonsense"}))


def rules_(**kw) -> DidRules:  # type: ignore[no-untyped-def]
    return rules(**kw)
