"""fs-config: the FreeSWITCH 1.10 XML that meets the router (DESIGN.md, "How the router meets FreeSWITCH").

Three layers:

* the files parse, have the shape FreeSWITCH loads (``<include>`` fragments: a bare
  ``<extension>`` for ``dialplan/public/``, ``<context>`` for ``dialplan/``, a ``<user>`` for the
  directory, a ``<configuration>`` for autoload_configs) and survive FreeSWITCH's line-based
  preprocessor;
* the channel-variable contract: every variable the router sets is read by the dialplan, every
  ``${painel_*}`` the dialplan reads is set by the router or the dialplan, the inbound defaults
  come before ``socket``;
* a small interpreter of the XML dialplan, written after ``mod_dialplan_xml.c`` (conditions,
  anti-actions, ``break``, ``continue``, ``auto_hunt``, ``$1`` substitution at hunt time and
  ``${var}`` expansion at execution time) and ``switch_channel_handle_cause``
  (``continue_on_fail``) of v1.10.12, plays the calls: router down / hung / answering, follow-me
  modes, unknown DID, outbound.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FS = ROOT / "fs-config"
DIALPLAN = FS / "dialplan"
PUBLIC = DIALPLAN / "public"
INBOUND = PUBLIC / "00_painel_inbound.xml"
PRE_EXISTING = {FS / "autoload_configs" / "cdr_csv.conf.xml", FS / "autoload_configs" / "json_cdr.conf.xml"}

#: the variables the router sets (one multiset, non-empty values only)
ROUTER_VARS = frozenset({
    "painel_circuit", "painel_did", "painel_direction", "painel_action", "painel_bridge",
    "painel_hangup_cause", "painel_rule", "painel_forward", "painel_forward_on",
})
ACTIONS = ("bridge", "forward", "reject")
RULES = {"unallocated", "blacklist", "collect", "follow_me", "default", "fallback"}
DIRECTIONS = {"inbound", "outbound", "forwarded", "collect"}
DID = "5598987654321"
CIRCUIT = "8011441"
FORWARD = ("[painel_direction=forwarded,painel_circuit=8011441,"
           "origination_caller_id_number=+559832221100]sofia/gateway/carrier/0218632221234")
UNAVAILABLE = "USER_BUSY,USER_NOT_REGISTERED,SUBSCRIBER_ABSENT,NO_ROUTE_DESTINATION,DESTINATION_OUT_OF_ORDER"

VAR_RE = re.compile(r"\$\{([^{}]+)\}")


def xml_files() -> list[Path]:
    return sorted(FS.rglob("*.xml"))


def dialplan_files() -> list[Path]:
    return sorted(DIALPLAN.rglob("*.xml"))


def parse(path: Path) -> ET.Element:
    return ET.parse(path).getroot()


def contexts() -> dict[str, list[ET.Element]]:
    """context name -> extensions, as FreeSWITCH assembles them (public/*.xml go into 'public')."""
    out: dict[str, list[ET.Element]] = {"public": []}
    for path in dialplan_files():
        root = parse(path)
        if path.parent == PUBLIC:
            out["public"].extend(root.findall("extension"))
        else:
            for ctx in root.findall("context"):
                assert ctx.get("name") not in out, f"context {ctx.get('name')} defined twice"
                out[ctx.get("name")] = ctx.findall("extension")
    return out


def app_steps(ext: ET.Element) -> list[tuple[str, str, str]]:
    """(kind, application, data) of every action and anti-action of an extension, in file order."""
    return [(el.tag, el.get("application", ""), el.get("data", ""))
            for cond in ext.findall("condition") for el in cond if el.tag in ("action", "anti-action")]


def extension(context: str, name: str) -> ET.Element:
    matches = [e for e in contexts()[context] if e.get("name") == name]
    assert len(matches) == 1, f"{context}/{name}: {len(matches)} extensions"
    return matches[0]


# ----------------------------------------------------------------------------- files and shape
def test_expected_files_exist():
    for rel in ("dialplan/public/00_painel_inbound.xml", "dialplan/painel_did_map.xml",
                "dialplan/painel_actions.xml", "dialplan/painel_outbound.xml",
                "dialplan/painel_router_timeout.xml", "autoload_configs/event_socket.conf.xml",
                "directory/painel_circuit_example.xml", "README.md"):
        assert (FS / rel).is_file(), rel


@pytest.mark.parametrize("path", xml_files(), ids=lambda p: str(p.relative_to(FS)))
def test_every_xml_file_parses(path: Path):
    parse(path)


@pytest.mark.parametrize("path", xml_files(), ids=lambda p: str(p.relative_to(FS)))
def test_survives_the_freeswitch_preprocessor(path: Path):
    """switch_xml.c preprocess(): a line containing <include>, </include> or <? is dropped, a line
    containing X-PRE-PROCESS is executed or dropped (comments too), <!--# is a command."""
    text = path.read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), 1):
        where = f"{path.name}:{number}"
        if "<include>" in line or "</include>" in line:
            assert line.strip() in ("<include>", "</include>"), where
        assert "<?" not in line, where
        assert "x-pre-process" not in line.lower(), where
        assert "<!--#" not in line, where
        if path not in PRE_EXISTING:
            assert "$${" not in line, f"{where}: no global variables needed"


@pytest.mark.parametrize("path", dialplan_files(), ids=lambda p: str(p.relative_to(FS)))
def test_dialplan_file_structure(path: Path):
    root = parse(path)
    assert root.tag == "include"
    if path.parent == PUBLIC:  # included inside <context name="public"> by vanilla public.xml
        assert [c.tag for c in root] == ["extension"] * len(root) and len(root) >= 1
        extensions = root.findall("extension")
    else:
        assert [c.tag for c in root] == ["context"] * len(root) and len(root) >= 1
        for ctx in root:
            assert ctx.get("name") and ctx.findall("extension")
            assert {c.tag for c in ctx} == {"extension"}
        extensions = root.findall("context/extension")
    for ext in extensions:
        assert ext.get("name"), path.name
        assert ext.get("continue", "false") in ("true", "false")
        conditions = list(ext)
        assert conditions and {c.tag for c in conditions} == {"condition"}, ext.get("name")
        for cond in conditions:
            assert (cond.get("field") is None) == (cond.get("expression") is None)
            assert cond.get("break", "on-false") in ("on-false", "on-true", "always", "never")
            if cond.get("expression") is not None:
                re.compile(cond.get("expression"))
            for el in cond:
                assert el.tag in ("action", "anti-action"), el.tag
                assert el.get("application"), ext.get("name")


def test_no_context_is_defined_twice_and_the_names_are_the_ones_the_dialplan_uses():
    ctx = contexts()
    assert {"public", "painel_did_map", "painel_actions", "painel_router_timeout", "painel_outbound"} <= set(ctx)
    referenced = set()
    for extensions in ctx.values():
        for ext in extensions:
            for _, app, data in app_steps(ext):
                if app == "execute_extension":
                    referenced.add(data.split()[2])
                if app == "sched_transfer":
                    referenced.add(data.split()[3])
    assert referenced <= set(ctx), referenced - set(ctx)


# ----------------------------------------------------------------------------- the contract
def dialplan_reads() -> set[str]:
    names: set[str] = set()
    for path in dialplan_files():
        for el in parse(path).iter():
            for attr in ("data", "field", "expression"):
                names.update(VAR_RE.findall(el.get(attr, "")))
    return names


def dialplan_sets() -> set[str]:
    names: set[str] = set()
    for path in dialplan_files():
        for el in parse(path).iter():
            if el.tag in ("action", "anti-action") and el.get("application") in ("set", "export"):
                names.add(el.get("data", "").split("=", 1)[0])
    return names


def test_every_router_variable_is_read_by_the_dialplan():
    assert ROUTER_VARS - dialplan_reads() == set()


def test_every_painel_variable_the_dialplan_reads_is_set_by_someone():
    painel_reads = {n for n in dialplan_reads() if n.startswith("painel_")}
    assert painel_reads - (ROUTER_VARS | dialplan_sets()) == set()


def test_the_dialplan_sets_no_painel_variable_outside_the_contract():
    assert {n for n in dialplan_sets() if n.startswith("painel_")} <= ROUTER_VARS


def test_values_the_dialplan_sets_are_contract_values():
    for path in dialplan_files():
        for el in parse(path).iter():
            if el.tag in ("action", "anti-action") and el.get("application") == "set":
                name, _, value = el.get("data", "").partition("=")
                if name == "painel_direction" and "$" not in value:
                    assert value in DIRECTIONS, value
                if name == "painel_rule":
                    assert value in RULES, value
                if name == "painel_action":
                    assert value in ACTIONS, value


def test_inbound_extension_sets_every_default_before_the_socket():
    ext = extension("public", "painel_inbound")
    cond = ext.find("condition")
    assert cond.get("field") == "destination_number"
    steps = [(app, data) for _, app, data in app_steps(ext)]
    apps = [a for a, _ in steps]
    assert apps.count("socket") == 1
    i_socket = apps.index("socket")
    assert steps[i_socket][1] == "127.0.0.1:8084 async full"
    before = steps[:i_socket]
    sets = {d.split("=", 1)[0]: d.split("=", 1)[1] for a, d in before if a == "set"}
    assert sets["painel_did"] == "$1"
    assert sets["painel_direction"] == "inbound"
    assert sets["painel_action"] == "bridge"
    assert sets["painel_rule"] == "fallback"
    assert sets["hangup_after_bridge"] == "true"
    # painel_circuit / painel_bridge come from the DID map, looked up before the socket
    assert ("execute_extension", "$1 XML painel_did_map") in before
    for did_ext in contexts()["painel_did_map"]:
        did_sets = {d.split("=", 1)[0] for _, a, d in app_steps(did_ext) if a == "set"}
        assert {"painel_circuit", "painel_bridge"} <= did_sets, did_ext.get("name")
    # the watchdog is armed before the socket and cancelled right after it
    assert apps.index("sched_transfer") < i_socket
    assert steps[apps.index("sched_transfer")][1].split()[2:] == ["XML", "painel_router_timeout"]
    assert steps[i_socket + 1] == ("sched_cancel", "${last_sched_id}")
    # then act, then hang up
    assert ("execute_extension", "painel_${painel_action} XML painel_actions") in steps[i_socket:]
    assert apps[-1] == "hangup"


@pytest.mark.parametrize("number, did", [
    ("5598987654321", "5598987654321"), ("+5598987654321", "5598987654321"),
    ("551132221234", "551132221234"), ("+5511987654321", "5511987654321"),
    ("8011441", None), ("0218632221234", None), ("98987654321", None), ("55989876543210", None),
])
def test_inbound_extension_matches_e164_brazilian_dids(number, did):
    expr = extension("public", "painel_inbound").find("condition").get("expression")
    m = re.search(expr, number)
    assert (m.group(1) if m else None) == did


def test_did_map_entries_are_named_after_their_did():
    for ext in contexts()["painel_did_map"]:
        name = ext.get("name")
        assert re.fullmatch(r"55\d{10,11}", name), name
        (cond,) = ext.findall("condition")
        assert cond.get("field") == "destination_number" and cond.get("expression") == f"^{name}$"
        values = dict(d.split("=", 1) for _, a, d in app_steps(ext) if a == "set")
        assert values["painel_bridge"] == f"user/{values['painel_circuit']}"


def test_painel_actions_has_one_extension_per_action():
    names = [e.get("name") for e in contexts()["painel_actions"]]
    assert sorted(names) == ["painel_bridge", "painel_forward", "painel_reject"]
    for action in ACTIONS:
        first = extension("painel_actions", f"painel_{action}").find("condition")
        assert (first.get("field"), first.get("expression")) == ("destination_number", f"^painel_{action}$")


def test_painel_forward_uses_continue_on_fail_for_unavailable():
    steps = [(kind, app, data) for kind, app, data in app_steps(extension("painel_actions", "painel_forward"))]
    actions = [(a, d) for k, a, d in steps if k == "action"]
    assert actions == [
        ("set", "continue_on_fail=${painel_forward_on}"),
        ("bridge", "${painel_bridge}"),
        ("set", "continue_on_fail=false"),
        ("bridge", "${painel_forward}"),
    ]
    assert ("anti-action", "bridge", "${painel_bridge}") in steps


def test_painel_reject_hangs_up_with_the_routers_cause():
    steps = app_steps(extension("painel_actions", "painel_reject"))
    assert ("action", "hangup", "${painel_hangup_cause}") in steps


def test_outbound_context_tags_the_call_and_bridges_the_number_unchanged():
    steps = [(a, d) for k, a, d in app_steps(extension("painel_outbound", "painel_outbound")) if k == "action"]
    assert steps[:4] == [("set", "painel_circuit=${user_name}"), ("set", "painel_direction=outbound"),
                         ("set", "call_timeout=60"), ("set", "hangup_after_bridge=true")]
    assert steps[-1] == ("bridge", "sofia/gateway/carrier/$1")


def test_event_socket_listens_on_loopback_with_a_changed_password():
    root = parse(FS / "autoload_configs" / "event_socket.conf.xml")
    assert root.tag == "include"
    (conf,) = root.findall("configuration")
    assert conf.get("name") == "event_socket.conf"
    params = {p.get("name"): p.get("value") for p in conf.findall("settings/param")}
    assert params["listen-ip"] == "127.0.0.1"
    assert params["listen-port"] == "8021"
    assert params["password"] and params["password"] != "ClueCon"
    assert "stop-on-bind-error" not in params


def test_directory_example_user():
    root = parse(FS / "directory" / "painel_circuit_example.xml")
    assert root.tag == "include"
    (user,) = root.findall("user")
    assert user.get("id") == CIRCUIT
    variables = {v.get("name"): v.get("value") for v in user.findall("variables/variable")}
    assert variables["user_context"] == "painel_outbound"
    assert variables["accountcode"] == CIRCUIT
    params = {p.get("name"): p.get("value") for p in user.findall("params/param")}
    assert params["password"] and params["password"] not in ("1234", "$${default_password}")


def test_readme_documents_the_contract():
    text = (FS / "README.md").read_text(encoding="utf-8")
    for name in ROUTER_VARS:
        assert f"`{name}`" in text, name
    for needle in ("reloadxml", "reload mod_event_socket", "xml_locate dialplan", "originate",
                   "Socket Error: Connection refused", "painel router export-dids", "cdr_csv.conf.xml"):
        assert needle in text, needle


# ----------------------------------------------------------------------------- dialplan interpreter
CONTINUE_ALWAYS = {"NO_ANSWER", "NO_USER_RESPONSE", "ORIGINATOR_CANCEL"}
KNOWN_CAUSES = {"NORMAL_CLEARING", "CALL_REJECTED", "USER_BUSY", "NO_ANSWER", "UNALLOCATED_NUMBER",
                "USER_NOT_REGISTERED", "SUBSCRIBER_ABSENT", "NO_ROUTE_DESTINATION",
                "DESTINATION_OUT_OF_ORDER", "INVALID_NUMBER_FORMAT", "NORMAL_TEMPORARY_FAILURE"}


class Hangup(Exception):
    def __init__(self, cause: str):
        super().__init__(cause)
        self.cause = cause


class Transfer(Exception):
    def __init__(self, destination: str, context: str):
        super().__init__(destination)
        self.destination, self.context = destination, context


@dataclass
class Call:
    destination: str
    variables: dict[str, str] = field(default_factory=dict)
    bridges: list[str] = field(default_factory=list)
    apps: list[tuple[int, str, str]] = field(default_factory=list)
    contexts: list[str] = field(default_factory=list)
    scheduled: tuple[str, str] | None = None
    cause: str = ""


def expand(text: str, variables: dict[str, str]) -> str:
    previous = None
    while previous != text and "${" in text:  # innermost first, like painel_${painel_action}
        previous, text = text, VAR_RE.sub(lambda m: variables.get(m.group(1), ""), text)
    return text


def str2cause(data: str) -> str:
    if not data:
        return "NORMAL_CLEARING"
    if data.isdigit():
        return data
    return data.upper() if data.upper() in KNOWN_CAUSES else "NORMAL_CLEARING"


class Dialplan:
    """The XML dialplan of fs-config, hunted and executed like mod_dialplan_xml / mod_dptools do."""

    def __init__(self, router: Callable[[Call], object] | None, far_end: Callable[[str], str]):
        self.contexts = contexts()
        self.router = router
        self.far_end = far_end

    # -- hunting: conditions and $N at hunt time
    def hunt(self, context: str, destination: str, call: Call) -> list[tuple[str, str]] | None:
        extensions = self.contexts.get(context)
        if extensions is None:
            return None  # "Context ... not found": no extension
        start = 0
        if call.variables.get("auto_hunt") == "true":
            start = next((i for i, e in enumerate(extensions) if e.get("name") == destination), 0)
        found: list[tuple[str, str]] = []
        for ext in extensions[start:]:
            if self._parse_exten(ext, destination, call, found) and ext.get("continue") != "true":
                break
        return found or None  # like FreeSWITCH: whatever actions were collected

    @staticmethod
    def _parse_exten(ext: ET.Element, destination: str, call: Call, found: list) -> bool:
        proceed = False
        for cond in ext.findall("condition"):
            fld, expr = cond.get("field"), cond.get("expression")
            if fld is None:
                match, ok = None, True
            else:
                data = expand(fld, call.variables) if "$" in fld else {"destination_number": destination}[fld]
                match = re.search(expand(expr, call.variables), data)
                ok = match is not None
            proceed = ok
            if ok:
                for el in cond.findall("action"):
                    data = el.get("data", "")
                    if match is not None and "(" in expr:
                        data = re.sub(r"\$(\d)", lambda m: match.group(int(m.group(1))) or "", data)
                    found.append((el.get("application"), data))
            else:
                antis = cond.findall("anti-action")
                found.extend((el.get("application"), el.get("data", "")) for el in antis)
                proceed = bool(antis)
            brk = cond.get("break", "on-false")
            if (not ok and brk == "on-false") or (ok and brk == "on-true") or brk == "always":
                break
        return proceed

    # -- execution: ${var} at execution time
    def run(self, steps: list[tuple[str, str]], call: Call, depth: int = 0) -> None:
        v = call.variables
        for app, raw in steps:
            data = expand(raw, v)
            call.apps.append((depth, app, data))
            if app in ("set", "export"):
                name, _, value = data.partition("=")
                if value:
                    v[name] = value
                else:
                    v.pop(name, None)  # an empty value unsets
            elif app == "execute_extension":
                exten, _, context = data.split(" ", 2)
                sub = self.hunt(context, exten, call)
                if sub:
                    self.run(sub, call, depth + 1)
            elif app == "sched_transfer":
                _, exten, _, context = data.split()
                call.scheduled = (exten, context)
                v["last_sched_id"] = "7"
            elif app == "sched_cancel":
                if data in ("7", ""):
                    call.scheduled = None
            elif app == "socket":
                self._socket(call)
            elif app == "bridge":
                call.bridges.append(data)
                outcome = self.far_end(data)
                if outcome == "ANSWER":
                    if v.get("hangup_after_bridge") == "true":
                        raise Hangup("NORMAL_CLEARING")
                else:
                    self._handle_cause(outcome, call)
            elif app == "hangup":
                raise Hangup(str2cause(data))
            elif app == "log":
                pass
            else:
                raise AssertionError(f"application the test does not model: {app}")

    def _socket(self, call: Call) -> None:
        answer = self.router(call) if self.router else None
        if answer is None:
            return  # refused: "Socket Error: Connection refused", the dialplan goes on
        hung = isinstance(answer, tuple) and answer[0] == "hang"
        variables = answer[1] if hung else answer
        for name, value in (variables or {}).items():
            assert value, "the router sends only non-empty values"
            call.variables[name] = value
        if hung:
            assert call.scheduled, "the call would stay parked: no watchdog"
            exten, context = call.scheduled
            call.scheduled = None
            raise Transfer(exten, context)

    @staticmethod
    def _handle_cause(cause: str, call: Call) -> None:
        cof = call.variables.get("continue_on_fail")
        if cof is None:
            if cause in CONTINUE_ALWAYS:
                return
        elif cof.lower() == "true" or cause in {c.strip().upper() for c in cof.split(",")}:
            return
        raise Hangup(cause)

    def place(self, destination: str, context: str = "public", **variables: str) -> Call:
        call = Call(destination, dict(variables))
        for _ in range(3):
            call.contexts.append(context)
            steps = self.hunt(context, destination, call)
            if steps is None:
                call.cause = "NO_ROUTE_DESTINATION"
                return call
            try:
                self.run(steps, call)
                call.cause = "NORMAL_CLEARING"  # end of the dialplan
                return call
            except Hangup as h:
                call.cause = h.cause
                return call
            except Transfer as t:
                destination, context = t.destination, t.context
        raise AssertionError("transfer loop")


def answers(dial: str) -> str:
    return "ANSWER"


def far_end(**outcomes: str) -> Callable[[str], str]:
    """outcome per dial-string prefix: circuit=..., forward=..."""
    def play(dial: str) -> str:
        if dial.startswith("user/") or dial.startswith("[leg_timeout"):
            return outcomes.get("circuit", "ANSWER")
        return outcomes.get("forward", "ANSWER")
    return play


def router_says(**variables: str) -> Callable[[Call], dict[str, str]]:
    def router(call: Call) -> dict[str, str]:
        assert call.variables["painel_did"] == DID
        base = {"painel_circuit": CIRCUIT, "painel_did": DID, "painel_direction": "inbound"}
        return {**base, **variables}
    return router


def test_router_down_the_call_rings_its_circuit_from_the_did_map():
    call = Dialplan(None, answers).place(DID)
    assert call.bridges == [f"user/{CIRCUIT}"]
    assert call.cause == "NORMAL_CLEARING"
    v = call.variables
    assert (v["painel_rule"], v["painel_action"], v["painel_direction"]) == ("fallback", "bridge", "inbound")
    assert (v["painel_circuit"], v["painel_did"]) == (CIRCUIT, DID)
    assert call.scheduled is None, "watchdog cancelled after the socket"


def test_router_down_plus_prefixed_did_is_normalised():
    call = Dialplan(None, answers).place("+" + DID)
    assert call.variables["painel_did"] == DID and call.bridges == [f"user/{CIRCUIT}"]


def test_router_down_unknown_did_is_refused_as_unallocated():
    call = Dialplan(None, answers).place("5511999998888")
    assert call.bridges == []
    assert call.cause == "UNALLOCATED_NUMBER"
    assert call.variables["painel_action"] == "reject"
    assert call.variables["painel_rule"] == "fallback"
    assert "painel_circuit" not in call.variables


def test_a_number_that_is_not_a_did_does_not_reach_painel():
    call = Dialplan(None, answers).place(CIRCUIT)
    assert call.cause == "NO_ROUTE_DESTINATION" and call.bridges == []


def test_router_default_bridge():
    call = Dialplan(router_says(painel_action="bridge", painel_rule="default",
                                painel_bridge=f"user/{CIRCUIT}"), answers).place(DID)
    assert call.bridges == [f"user/{CIRCUIT}"]
    assert call.variables["painel_rule"] == "default"


def test_circuit_not_answering_ends_the_call_without_forwarding():
    call = Dialplan(None, far_end(circuit="NO_ANSWER")).place(DID)
    assert call.bridges == [f"user/{CIRCUIT}"]
    assert call.cause == "NORMAL_CLEARING"  # lab s6f: the a-leg ends normally after NO_ANSWER


def test_circuit_busy_hangs_up_with_busy():
    call = Dialplan(None, far_end(circuit="USER_BUSY")).place(DID)
    assert call.cause == "USER_BUSY"


@pytest.mark.parametrize("cause", ["CALL_REJECTED", "USER_BUSY", "UNALLOCATED_NUMBER", "21"])
def test_router_reject(cause):
    call = Dialplan(router_says(painel_action="reject", painel_rule="blacklist",
                                painel_hangup_cause=cause), answers).place(DID)
    assert call.bridges == []
    assert call.cause == cause
    assert call.variables["painel_bridge"] == f"user/{CIRCUIT}", "no empty value wiped the default"


def test_router_reject_without_a_cause_still_rejects():
    call = Dialplan(router_says(painel_action="reject", painel_rule="blacklist"), answers).place(DID)
    assert call.cause == "CALL_REJECTED"


def test_collect_call_accepted():
    call = Dialplan(router_says(painel_action="bridge", painel_direction="collect", painel_rule="default",
                                painel_bridge=f"user/{CIRCUIT}"), answers).place(DID)
    assert call.variables["painel_direction"] == "collect" and call.bridges == [f"user/{CIRCUIT}"]


def test_follow_me_always():
    dial = "{" + FORWARD[1:-len("]sofia/gateway/carrier/0218632221234")] + "}sofia/gateway/carrier/0218632221234"
    call = Dialplan(router_says(painel_action="forward", painel_rule="follow_me", painel_bridge=dial),
                    answers).place(DID)
    assert call.bridges == [dial]
    assert call.variables["painel_action"] == "forward"


def test_follow_me_no_answer_is_one_failover_dial_string():
    dial = f"[leg_timeout=20]user/{CIRCUIT}|{FORWARD}"
    call = Dialplan(router_says(painel_action="forward", painel_rule="follow_me", painel_bridge=dial),
                    answers).place(DID)
    assert call.bridges == [dial]
    assert call.variables["originate_continue_on_timeout"] == "true"


def unavailable_router(**extra: str) -> Callable[[Call], dict[str, str]]:
    return router_says(painel_action="forward", painel_rule="follow_me", painel_bridge=f"user/{CIRCUIT}",
                       painel_forward=FORWARD, **extra)


@pytest.mark.parametrize("cause", ["USER_NOT_REGISTERED", "USER_BUSY", "SUBSCRIBER_ABSENT",
                                   "NO_ROUTE_DESTINATION", "DESTINATION_OUT_OF_ORDER"])
def test_follow_me_unavailable_forwards_on_the_listed_causes(cause):
    call = Dialplan(unavailable_router(painel_forward_on=UNAVAILABLE), far_end(circuit=cause)).place(DID)
    assert call.bridges == [f"user/{CIRCUIT}", FORWARD]
    assert call.cause == "NORMAL_CLEARING"


@pytest.mark.parametrize("cause", ["NO_ANSWER", "NORMAL_TEMPORARY_FAILURE", "CALL_REJECTED"])
def test_follow_me_unavailable_does_not_forward_on_other_causes(cause):
    call = Dialplan(unavailable_router(painel_forward_on=UNAVAILABLE), far_end(circuit=cause)).place(DID)
    assert call.bridges == [f"user/{CIRCUIT}"]
    assert call.cause == cause


def test_follow_me_unavailable_circuit_answers():
    call = Dialplan(unavailable_router(painel_forward_on=UNAVAILABLE), answers).place(DID)
    assert call.bridges == [f"user/{CIRCUIT}"]


def test_follow_me_unavailable_forwarded_leg_busy_is_reported_as_busy():
    call = Dialplan(unavailable_router(painel_forward_on=UNAVAILABLE),
                    far_end(circuit="USER_NOT_REGISTERED", forward="USER_BUSY")).place(DID)
    assert call.bridges == [f"user/{CIRCUIT}", FORWARD]
    assert call.cause == "USER_BUSY"


def test_follow_me_unavailable_without_cause_list_uses_the_documented_one():
    dp = Dialplan(unavailable_router(), far_end(circuit="NO_ANSWER"))
    call = dp.place(DID)
    assert call.bridges == [f"user/{CIRCUIT}"], "NO_ANSWER must not forward"
    assert call.variables["continue_on_fail"] == UNAVAILABLE
    call = Dialplan(unavailable_router(), far_end(circuit="USER_BUSY")).place(DID)
    assert call.bridges == [f"user/{CIRCUIT}", FORWARD]


def test_hung_router_the_watchdog_completes_the_call_with_the_defaults():
    call = Dialplan(lambda c: ("hang", None), answers).place(DID)
    assert call.contexts == ["public", "painel_router_timeout"]
    assert call.bridges == [f"user/{CIRCUIT}"]
    assert call.variables["painel_rule"] == "fallback"
    assert call.cause == "NORMAL_CLEARING"


def test_late_router_answer_that_arrived_before_the_watchdog_is_honoured():
    late = router_says(painel_action="reject", painel_rule="blacklist", painel_hangup_cause="CALL_REJECTED")
    call = Dialplan(lambda c: ("hang", late(c)), answers).place(DID)
    assert call.contexts[-1] == "painel_router_timeout"
    assert call.bridges == [] and call.cause == "CALL_REJECTED"


def test_outbound_call_of_a_circuit():
    call = Dialplan(None, answers).place("02111981234567", "painel_outbound", user_name=CIRCUIT,
                                         outbound_caller_id_number="+559832221100")
    assert call.bridges == ["sofia/gateway/carrier/02111981234567"]
    v = call.variables
    assert (v["painel_circuit"], v["painel_direction"]) == (CIRCUIT, "outbound")
    assert v["hangup_after_bridge"] == "true" and v["call_timeout"].isdigit()
    assert v["effective_caller_id_number"] == "+559832221100"


def test_outbound_without_outbound_caller_id_keeps_the_phones():
    call = Dialplan(None, answers).place("32221234", "painel_outbound", user_name=CIRCUIT)
    assert call.bridges == ["sofia/gateway/carrier/32221234"]
    assert "effective_caller_id_number" not in call.variables


@pytest.mark.parametrize("number, user", [("32221234;transport=tcp", CIRCUIT), ("abc", CIRCUIT),
                                          ("12", CIRCUIT), ("32221234", "")])
def test_outbound_refuses_what_is_not_a_number_or_not_a_circuit(number, user):
    variables = {"user_name": user} if user else {}
    call = Dialplan(None, answers).place(number, "painel_outbound", **variables)
    assert call.bridges == [] and call.cause == "INVALID_NUMBER_FORMAT"
    assert "painel_direction" not in call.variables
