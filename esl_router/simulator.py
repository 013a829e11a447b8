"""FreeSWITCH's side of an OUTBOUND Event Socket, over real TCP: a simulator the router can be driven by.

The dialplan app ``socket 127.0.0.1:8084 async full`` makes FreeSWITCH *connect* to the
router; the router then sends commands. :class:`FreeSwitchSim` plays FreeSWITCH 1.10.12 as
the lab captures and its source show (``mod_event_socket.c``, ``switch_ivr.c``,
``switch_core_session.c``, ``mod_dptools.c``, ``mod_commands.c`` at tag v1.10.12):

* the ``connect`` reply is built from the lab's real reply (``esl_router/data/outbound_connect_reply.txt``,
  a copy of ``tests/data/third_party/freeswitch/lab_1.10.12/outbound_connect_reply.txt``): same
  headers in the same order, values URL-encoded like FreeSWITCH's ``switch_url_encode``,
  with the call's uuid, caller, DID, context and channel variables substituted;
* ``myevents``, ``linger``, ``nolinger``, ``event``, ``filter``, ``getvar``, ``api``,
  ``bgapi``, ``sendmsg``, ``exit`` ... answer byte for byte as FreeSWITCH does;
* ``sendmsg`` applications run on a simulated channel (``set``, ``multiset`` with the
  ``^^X`` delimiter rule and "empty value unsets", ``export``, ``unset``, ``hangup``,
  ``answer``, ``bridge`` ...), firing CHANNEL_EXECUTE / CHANNEL_EXECUTE_COMPLETE with the
  variable order the lab transcript shows;
* far-end hangups, linger, slow replies and broken channel data on demand.

Everything the router sends is checked as strictly as FreeSWITCH parses it; what FreeSWITCH
would silently ignore or reject is recorded in ``SimResult.problems`` / ``error``.

Use :meth:`FreeSwitchSim.place_call` for one call, :meth:`FreeSwitchSim.place_call_async` for
thousands of concurrent calls, :meth:`FreeSwitchSim.run_dialplan` for "what does the
dialplan end up with, router up or down". It lives in the package (not under ``tests/``)
because ``painel simulate`` / ``painel run --simulate`` drive a running router with it;
``tests/fs_sim.py`` re-exports it for the tests and adds their gevent helper.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import re
import socket
import string
import struct
import threading
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

log = logging.getLogger("painel.simulator")

#: the reply a real FreeSWITCH 1.10.12 gave to `connect` (lab capture, byte for byte)
CONNECT_TEMPLATE = Path(__file__).resolve().parent / "data" / "outbound_connect_reply.txt"

# identities of the lab call, replaced per simulated call
_LAB_UUID = "9fc4b8a7-652d-48fc-bf19-642db7c44037"
_LAB_CALLER = "5511999990000"
_LAB_DID = "5598987654321"
_LAB_CREATED = "1795829021859942"
_LAB_CALLER_NAME = "Probe"

#: mod_event_socket's goodbye (send_disconnect), 67 bytes
GOODBYE = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
#: FreeSWITCH waits this long for the router's first command (read_packet(listener, &ievent, 25))
FS_FIRST_COMMAND_TIMEOUT = 25.0

# switch_utils.h: SWITCH_URL_UNSAFE; hex digits are upper case only in switch_url_encode_opt
_URL_UNSAFE = frozenset(b"\r\n #%&+:;<=>?@[\\]^`{|}\"")
_HEX = frozenset(b"0123456789ABCDEF")
_END_OF_COMMAND = re.compile(rb"\n\r*\n")  # read_packet: two '\n' with only '\r' between
_MAX_COMMAND = 10485760  # read_packet's max_len

# events `myevents` subscribes to (parse_command), of those the simulator produces
_MYEVENTS = frozenset({"CHANNEL_ANSWER", "CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_HANGUP",
                       "CHANNEL_PROGRESS_MEDIA", "CHANNEL_DATA", "CHANNEL_STATE", "CHANNEL_PARK"})
_EVENT_NAMES = _MYEVENTS | {"BACKGROUND_JOB", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_CREATE", "CHANNEL_DESTROY",
                            "CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE", "CHANNEL_PROGRESS", "CHANNEL_ORIGINATE",
                            "CHANNEL_UUID", "CHANNEL_OUTGOING", "CHANNEL_UNPARK", "CHANNEL_APPLICATION",
                            "DTMF", "CUSTOM", "HEARTBEAT", "ALL"}

# Event-Calling-File / Function / Line-Number per event (v1.10.12 source lines; 2021/2944/2967 as in the lab)
_CALLING = {
    "CHANNEL_DATA": ("mod_event_socket.c", "parse_command", "2021"),
    "CHANNEL_EXECUTE": ("switch_core_session.c", "switch_core_session_exec", "2944"),
    "CHANNEL_EXECUTE_COMPLETE": ("switch_core_session.c", "switch_core_session_exec", "2967"),
    "CHANNEL_HANGUP": ("switch_channel.c", "switch_channel_perform_hangup", "3445"),
    "CHANNEL_ANSWER": ("switch_channel.c", "switch_channel_perform_mark_answered", "3846"),
    "CHANNEL_PROGRESS_MEDIA": ("switch_channel.c", "switch_channel_perform_mark_pre_answered", "3560"),
    "BACKGROUND_JOB": ("mod_event_socket.c", "api_exec", "1579"),
}


@dataclass(frozen=True)
class _App:
    zombie: bool = False  # SAF_ZOMBIE_EXEC: runs even after hangup
    media: bool = False   # not SAF_SUPPORT_NOMEDIA: an inbound channel is pre-answered first
    sets_vars: bool = False


# the dialplan applications the simulator knows (flags from mod_dptools' SWITCH_ADD_APP lines);
# any other name is "Invalid Application" and FreeSWITCH hangs up with DESTINATION_OUT_OF_ORDER
_APPS: dict[str, _App] = {
    **{n: _App(zombie=True, sets_vars=True) for n in (
        "set", "multiset", "unset", "multiunset", "export", "bridge_export", "push", "unshift")},
    **{n: _App(zombie=True) for n in ("log", "info", "event", "set_global", "set_profile_var")},
    **{n: _App() for n in ("answer", "pre_answer", "ring_ready", "hangup", "bridge", "park", "sleep", "transfer",
                           "respond", "redirect", "deflect", "sched_hangup", "acknowledge_call", "socket")},
    **{n: _App(media=True) for n in ("playback", "gentones", "echo", "play_and_get_digits", "say", "speak",
                                     "record", "read")},
}

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_LOG_LEVELS = {"console": 0, "alert": 1, "crit": 2, "err": 3, "error": 3, "warning": 4, "notice": 5, "info": 6,
               "debug": 7}


# --------------------------------------------------------------------------- public API
@dataclass
class SimCall:
    """What a test asks for: one inbound call that meets ``socket``."""

    did: str                      # Caller-Destination-Number (e.g. "5598987654321")
    caller: str                   # Caller-Caller-ID-Number
    variables: dict[str, str] = field(default_factory=dict)  # extra channel variables (sip_h_* ...)
    uuid: str | None = None
    privacy_hide_number: bool = False
    #: "connect" | "myevents" | "sendmsg" (right after that reply) or seconds after the TCP connect
    hangup_after: str | float | None = None
    #: "no_destination" | "huge_headers" | "bad_encoding" | "raw_bytes" | "header_injection"
    #: | "close_after_connect" (reply, then RST) | "close_on_connect" (RST instead of the reply)
    garbage: str | None = None
    defaults: dict[str, str] | None = None  # what the dialplan `set` BEFORE `socket`
    caller_name: str | None = None          # Caller-Caller-ID-Name (default: the caller number)
    context: str = "public"


@dataclass
class SimResult:
    uuid: str
    variables: dict[str, str] = field(default_factory=dict)   # channel variables at the end (decoded)
    commands: list[str] = field(default_factory=list)         # first line of every router command
    multisets: list[str] = field(default_factory=list)        # every multiset argument, as sent
    apps: list[tuple[str, str]] = field(default_factory=list)  # executed (or attempted) (app, arg)
    connected_at: float = 0.0                                  # time.monotonic() of the TCP connect
    decided_at: float | None = None  # monotonic: last variable-setting app/API applied (its EXECUTE_COMPLETE)
    closed_by_router: bool = False   # the router sent `exit` or closed the socket first
    refused: bool = False            # nothing listening (Connection refused)
    error: str | None = None         # "; ".join(problems), None when the router behaved
    problems: list[str] = field(default_factory=list)
    hangup_cause: str | None = None  # set when the channel hung up during the session
    events: list[str] = field(default_factory=list)           # Event-Name of every event sent
    transcript: list[tuple[str, bytes]] = field(default_factory=list)  # ("PY->FS"|"FS->PY", exact bytes)
    log: list[str] = field(default_factory=list)               # FreeSWITCH-style log lines

    @property
    def latency(self) -> float | None:
        """Seconds from the TCP connect to the router's variables being applied."""
        return None if self.decided_at is None else self.decided_at - self.connected_at

    @property
    def bridges(self) -> list[str]:
        return [arg for app, arg in self.apps if app == "bridge"]


class FreeSwitchSim:
    """FreeSWITCH running ``socket <router_host>:<router_port> async full`` for each call."""

    def __init__(self, router_host: str, router_port: int, *, execute_delay: float = 0.0,
                 reply_delay: float = 0.0, timeout: float = 5.0) -> None:
        self.router_host = router_host
        self.router_port = router_port
        self.execute_delay = execute_delay  # time the parked session takes to pick up a sendmsg
        self.reply_delay = reply_delay      # added before every reply (a slow FreeSWITCH)
        self.timeout = timeout              # bound on a whole session (real FreeSWITCH: none after connect)
        self.core_uuid = str(uuidlib.uuid4())
        self._sequence = itertools.count(483)
        self._session_ids = itertools.count(1)

    # sync wrappers run a private event loop (a thread of their own if one is already running)
    def place_call(self, call: SimCall) -> SimResult:
        return _run_sync(self.place_call_async(call))

    def run_dialplan(self, call: SimCall) -> SimResult:
        return _run_sync(self.run_dialplan_async(call))

    async def place_call_async(self, call: SimCall) -> SimResult:
        """One call through the socket app; the result says what the router did to the channel."""
        return await self._call(call, dialplan=False)

    async def run_dialplan_async(self, call: SimCall) -> SimResult:
        """The inbound dialplan: ``set`` the defaults, ``socket``; on refusal, error or timeout
        FreeSWITCH logs it and the dialplan continues with what the channel has (lab s7)."""
        return await self._call(call, dialplan=True)

    async def _call(self, call: SimCall, *, dialplan: bool) -> SimResult:
        channel = _Channel.build(self, call)
        result = SimResult(uuid=channel.uuid)
        name = channel.basic["Channel-Name"]
        for key, value in (call.defaults or {}).items():
            result.log.append(f"EXECUTE [depth=0] {name} set({key}={value})")
        result.log.append(f"EXECUTE [depth=0] {name} socket({self.router_host}:{self.router_port} async full)")
        result.log.append(f"[NOTICE] mod_event_socket.c:452 Trying host: {self.router_host}:{self.router_port}")
        result.connected_at = time.monotonic()
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.router_host, self.router_port), self.timeout)
        except ConnectionRefusedError:
            result.refused = True
            result.log += ["[ERR] mod_event_socket.c:486 Socket Error: Connection refused",
                           "[ERR] mod_event_socket.c:490 Socket Error!"]
        except (OSError, asyncio.TimeoutError) as exc:
            result.problems.append(f"connect failed: {exc!r}")
            result.log += [f"[ERR] mod_event_socket.c:486 Socket Error: {exc}",
                           "[ERR] mod_event_socket.c:490 Socket Error!"]
        else:
            result.connected_at = time.monotonic()
            session = _Session(self, call, channel, result, reader, writer)
            await session.run()
        result.variables = dict(channel.variables)
        result.error = "; ".join(result.problems) or None
        if dialplan:
            v = result.variables
            result.log.append(
                f"[INFO] dialplan continues: action={v.get('painel_action', '')} rule={v.get('painel_rule', '')} "
                f"bridge={v.get('painel_bridge', '')} cause={v.get('painel_hangup_cause', '')}"
                + (f" (channel hung up: {result.hangup_cause})" if result.hangup_cause else ""))
            for line in result.log:
                log.debug("%s %s", channel.uuid, line)
            if result.refused or result.error:
                log.info("%s router unusable (%s); dialplan continues with its defaults", channel.uuid,
                         "refused" if result.refused else result.error)
        return result

    def _next_sequence(self) -> str:
        return str(next(self._sequence))


# --------------------------------------------------------------------------- helpers
def fs_url_encode(value: str) -> str:
    """``switch_url_encode``: bytes outside ' '..'~' and SWITCH_URL_UNSAFE become %XX; an existing
    %XX (upper-case hex) is kept as is (no double encoding). Non-UTF-8 bytes ride as surrogates."""
    data = value.encode("utf-8", "surrogateescape")
    out = bytearray()
    n = len(data)
    for i, c in enumerate(data):
        keep = c == 0x25 and n - 1 - i > 1 and data[i + 1] in _HEX and data[i + 2] in _HEX
        if not keep and (c < 0x20 or c > 0x7E or c in _URL_UNSAFE):
            out += b"%%%02X" % c
        else:
            out.append(c)
    return out.decode("ascii")


_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t", "s": " "}


def _cleanup_separated(s: str, delim: str | None) -> str:
    """switch_utils.c cleanup_separated_string: strip quotes, escapes, leading/trailing spaces."""
    i, n = 0, len(s)
    while i < n and s[i] == " ":
        i += 1
    out: list[str] = []
    end: int | None = None
    inside = False
    while i < n:
        c = s[i]
        esc = False
        if c == "\\" and i + 1 < n:
            e = s[i + 1]
            if e in ("'", '"', "\\") or (delim and e == delim) or _UNESCAPE.get(e, e) != e:
                i += 1
                out.append(_UNESCAPE.get(e, e))
                end = len(out)
                esc = True
        if not esc:
            if c == "'" and (inside or "'" in s[i + 1:]):
                inside = not inside
                if inside:
                    end = len(out)
            else:
                out.append(c)
                if c != " " or inside:
                    end = len(out)
        i += 1
    return "".join(out if end is None else out[:end])


def fs_separate_string(buf: str, delim: str, limit: int = 256) -> list[str]:
    """``switch_separate_string``: FreeSWITCH's tokenizer (a leading ``^^X`` picks delimiter X;
    single quotes group, backslash escapes; a space delimiter collapses runs of spaces)."""
    if buf.startswith("^^") and len(buf) >= 4:
        delim, buf = buf[2], buf[3:]
    starts: list[int] = []
    ends: list[int] = []
    i, n = 0, len(buf)
    inside = False
    blank = delim == " "
    state = "start"
    # `while (*ptr && count < arraylen)`: once the last allowed token starts, it takes the rest
    while i < n and len(starts) < limit:
        if state == "start":
            starts.append(i)
            ends.append(n)
            state = "skip_initial" if blank else "find"
            if len(starts) >= limit:
                break
            continue
        c = buf[i]
        if state == "skip_initial":
            if c == " ":
                i += 1
            else:
                state = "find"
            continue
        if state == "skip_ending":
            if c == " ":
                i += 1
            else:
                state = "start"
            continue
        if c == "\\":
            i += 1
        elif c == "'" and (inside or blank or "'" in buf[i + 1:]):
            inside = not inside
        elif c == delim and not inside:
            ends[-1] = i
            state = "skip_ending" if blank else "start"
        i += 1
    if blank:
        return [_cleanup_separated(buf[s:e], None) for s, e in zip(starts, ends)]
    return [_cleanup_separated(buf[s:e], delim) for s, e in zip(starts, ends)]


def multiset_split(data: str | None) -> list[str]:
    """The ``k=v`` items ``multiset`` sets, by mod_dptools' rule: ``^^X`` makes X the delimiter,
    otherwise spaces separate."""
    if data is None:
        return []
    delim, arg = " ", data
    if arg.startswith("^^") and len(arg) >= 3:
        delim, arg = arg[2], arg[3:]
    return fs_separate_string(arg, delim)


def _atoi(value: str | None) -> int:
    m = re.match(r"\s*([+-]?\d+)", value or "")
    return int(m.group(1)) if m else 0


def _now_us() -> int:
    return int(time.time() * 1_000_000)


def _event_dates(us: int) -> tuple[str, str]:
    local = time.localtime(us / 1e6)
    gmt = time.gmtime(us / 1e6)
    return (time.strftime("%Y-%m-%d %H:%M:%S", local),
            f"{_DAYS[gmt.tm_wday]}, {gmt.tm_mday:02d} {_MONTHS[gmt.tm_mon - 1]} {gmt.tm_year} "
            f"{gmt.tm_hour:02d}:{gmt.tm_min:02d}:{gmt.tm_sec:02d} GMT")


@dataclass(frozen=True)
class _Template:
    event: list[tuple[str, str]]     # Event-Name .. Event-Sequence
    profile: list[tuple[str, str]]   # caller profile, names without the Caller-/Channel- prefix
    basic: list[tuple[str, str]]     # Channel-State .. Channel-Write-Codec-Bit-Rate
    variables: list[tuple[str, str]]  # without the variable_ prefix
    tail: list[tuple[str, str]]      # Content-Type, Reply-Text, Socket-Mode, Control


@lru_cache(maxsize=1)
def connect_template() -> _Template:
    """The lab's connect reply, split into the blocks FreeSWITCH assembles it from (decoded)."""
    text = CONNECT_TEMPLATE.read_bytes().decode("ascii")
    headers = [(k, unquote(v)) for k, v in (line.split(": ", 1) for line in text.rstrip("\n").split("\n"))]
    names = [k for k, _ in headers]
    i_profile = names.index("Channel-Direction")
    i_basic = names.index("Channel-State")
    i_caller = names.index("Caller-Direction")
    i_vars = next(i for i, k in enumerate(names) if k.startswith("variable_"))
    i_tail = names.index("Content-Type")
    chan_profile = [(k[len("Channel-"):], v) for k, v in headers[i_profile:i_basic]]
    caller_profile = [(k[len("Caller-"):], v) for k, v in headers[i_caller:i_vars]]
    if [k for k, _ in chan_profile] != [k for k, _ in caller_profile]:
        raise ValueError("connect template: Channel-* and Caller-* profile blocks differ")
    return _Template(headers[:i_profile], caller_profile, headers[i_basic:i_caller],
                     [(k[len("variable_"):], v) for k, v in headers[i_vars:i_tail]], headers[i_tail:])


def _serialize(headers: list[tuple[str, str]], raw: frozenset[str] = frozenset()) -> bytes:
    """switch_event_serialize(encode=TRUE); names in ``raw`` go on the wire unencoded (fault injection)."""
    out = bytearray()
    for name, value in headers:
        if name in raw:
            out += name.encode() + b": " + value.encode("utf-8", "surrogateescape") + b"\n"
        else:
            out += f"{name}: {fs_url_encode(value) or '_undef_'}\n".encode("ascii")
    out += b"\n"
    return bytes(out)


# --------------------------------------------------------------------------- the channel
class _Channel:
    """One simulated a-leg: caller profile, state, and its ordered variables (setting one moves it
    to the end, as switch_channel_set_variable does: EF_UNIQ_HEADERS deletes, then appends)."""

    def __init__(self) -> None:
        self.uuid = ""
        self.profile: dict[str, str] = {}
        self.basic: dict[str, str] = {}
        self.variables: dict[str, str] = {}
        self.raw: set[str] = set()  # wire header names written unencoded (garbage modes)
        self.answer_state = "ringing"
        self.call_state = "RINGING"
        self.down = False
        self.hangup_cause: str | None = None
        self.globals: dict[str, str] = {}

    @classmethod
    def build(cls, sim: FreeSwitchSim, call: SimCall) -> _Channel:
        tpl = connect_template()
        ch = cls()
        ch.uuid = call.uuid or str(uuidlib.uuid4())
        created = str(_now_us())
        name = call.caller_name if call.caller_name is not None else call.caller
        subs = {_LAB_UUID: ch.uuid, _LAB_CREATED: created, _LAB_CALLER: call.caller, _LAB_DID: call.did,
                _LAB_CALLER_NAME: name}
        pattern = re.compile("|".join(re.escape(k) for k in subs))

        def sub(value: str) -> str:
            return pattern.sub(lambda m: subs[m.group(0)], value)

        ch.profile = {k: sub(v) for k, v in tpl.profile}
        ch.profile["Context"] = call.context
        if call.privacy_hide_number:
            ch.profile["Privacy-Hide-Number"] = "true"
        ch.basic = {k: sub(v) for k, v in tpl.basic}
        variables = {k: sub(v) for k, v in tpl.variables}
        variables["session_id"] = str(next(sim._session_ids))
        variables["sip_call_id"] = str(uuidlib.uuid4())
        variables["sip_from_tag"] = "".join(random.choices(string.ascii_letters + string.digits, k=13))
        variables["current_application_data"] = f"{sim.router_host}:{sim.router_port} async full"
        variables["socket_host"] = sim.router_host
        extra = dict(call.variables)
        raw: set[str] = set()
        garbage = call.garbage
        if garbage == "no_destination":
            del ch.profile["Destination-Number"]
        elif garbage == "huge_headers":
            extra["sip_h_X-Huge"] = "A" * 1_048_576
            ch.profile["Caller-ID-Name"] = ch.profile["Orig-Caller-ID-Name"] = "B" * 65_536
        elif garbage == "bad_encoding":
            # all ASCII on the wire, but decoding gives invalid UTF-8 or hits invalid %-sequences
            ch.profile["Caller-ID-Name"] = "Jo\udce3o Silva"  # Latin-1 'ã' from a carrier -> Jo%E3o
            extra["sip_h_X-Invalid-Percent"] = "100%ZZ%"
            extra["sip_h_X-Invalid-UTF8"] = "%FF%FE%C3%28"
            raw |= {"variable_sip_h_X-Invalid-Percent", "variable_sip_h_X-Invalid-UTF8"}
        elif garbage == "raw_bytes":
            # raw non-UTF-8 bytes on the wire (FreeSWITCH itself would %-encode them)
            ch.profile["Caller-ID-Name"] = "Jo\udce3o"
            raw |= {"Caller-Caller-ID-Name", "Channel-Caller-ID-Name"}
        elif garbage == "header_injection":
            # a SIP header carrying a literal %0A: switch_url_encode keeps valid %XX sequences, so a
            # client that URL-decodes the whole block before splitting lines sees an extra header
            extra["sip_h_X-Inject"] = "x%0ACaller-Caller-ID-Number%3A%200000000000%0AUnique-ID%3A%20injected"
        elif garbage not in (None, "close_after_connect", "close_on_connect"):
            raise ValueError(f"unknown garbage mode {garbage!r}")
        ch.raw = raw
        # extra channel variables (sip_h_* ...) sit with the SIP ones, after max_forwards (davec82, fsdocs)
        ordered: dict[str, str] = {}
        for key, value in variables.items():
            if key in extra:
                continue
            if key == "current_application_data":
                for dkey, dvalue in (call.defaults or {}).items():  # `set` before `socket`
                    if dvalue:
                        ordered.pop(dkey, None)
                        ordered[dkey] = dvalue
            ordered[key] = value
            if key == "max_forwards":
                for ekey, evalue in extra.items():
                    if evalue:
                        ordered[ekey] = evalue
        ch.variables = ordered
        return ch

    def set(self, name: str, value: str | None) -> None:
        if not name:
            return
        self.variables.pop(name, None)
        if value:
            self.variables[name] = value

    def expand(self, text: str | None) -> str | None:
        """switch_channel_expand_variables, the common part: ``${var}`` -> its value or ''."""
        if text is None or "$" not in text:
            return text
        return re.sub(r"\$\{([^}]*)\}", lambda m: self.variables.get(m.group(1), ""), text)

    def event_headers(self, name: str, seq: str, core_uuid: str, *, connect: bool = False) -> list[tuple[str, str]]:
        us = _now_us()
        local, gmt = _event_dates(us)
        calling = _CALLING.get(name, ("switch_event.c", "switch_event_fire_detailed", "0"))
        dynamic = {"Event-Name": name, "Core-UUID": core_uuid, "Event-Date-Local": local, "Event-Date-GMT": gmt,
                   "Event-Date-Timestamp": str(us), "Event-Calling-File": calling[0],
                   "Event-Calling-Function": calling[1], "Event-Calling-Line-Number": calling[2],
                   "Event-Sequence": seq}
        headers = [(k, dynamic.get(k, v)) for k, v in connect_template().event]
        if connect:
            headers += [(f"Channel-{k}", v) for k, v in self.profile.items()]
        basic = dict(self.basic)
        basic["Channel-Call-State"] = self.call_state
        basic["Answer-State"] = "hangup" if self.down else self.answer_state
        if self.down:
            basic["Channel-State-Number"] = "10"
        for k, v in basic.items():
            headers.append((k, v))
            if k == "Answer-State" and self.down:
                headers.append(("Hangup-Cause", self.hangup_cause or "NORMAL_CLEARING"))
        headers += [(f"Caller-{k}", v) for k, v in self.profile.items()]
        headers += [(f"variable_{k}", v) for k, v in self.variables.items()]
        return headers


# --------------------------------------------------------------------------- one socket session
@dataclass
class _Packet:
    command: str
    headers: list[tuple[str, str]]
    body: str | None
    raw: bytes

    def get(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)


class _RouterClosed(Exception):
    pass


class _Session:
    """mod_event_socket's listener thread plus the parked session thread, for one call."""

    def __init__(self, sim: FreeSwitchSim, call: SimCall, channel: _Channel, result: SimResult,
                 reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sim, self.call, self.ch, self.result = sim, call, channel, result
        self.reader, self.writer = reader, writer
        self.buf = bytearray()
        self.connected = asyncio.Event()   # LFLAG_CONNECTED: the socket app parks after this
        self.done = asyncio.Event()
        self.closed = False
        self.subscribed: set[str] = set()
        self.myevents = False
        self.linger: int | None = None     # None: no linger; -1: forever; N: seconds
        self.filters: list[tuple[str, str]] = []
        self.queue: asyncio.Queue[_Packet | None] = asyncio.Queue()
        self.accepting = True              # private events still reach the parked session
        self.may_execute = asyncio.Event()  # cleared while a hangup must win the race (hangup_after="sendmsg")
        self.may_execute.set()
        self.disco_handled = False
        self.tasks: list[asyncio.Task[Any]] = []
        self.kill_cause: str | None = None  # set by api uuid_kill, acted on after its response
        self.logging = False

    # ----------------------------------------------------------- plumbing
    def problem(self, text: str) -> None:
        self.result.problems.append(text)

    async def send(self, data: bytes) -> bool:
        if self.closed:
            return False
        self.result.transcript.append(("FS->PY", data))
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, OSError):
            self.closed = True
            return False
        return True

    async def reply(self, text: str) -> None:
        if self.sim.reply_delay:
            await asyncio.sleep(self.sim.reply_delay)
        if text.startswith("~"):
            await self.send(f"Content-Type: command/reply\n{text[1:]}".encode())
        else:
            await self.send(f"Content-Type: command/reply\nReply-Text: {text}\n\n".encode())

    async def emit(self, name: str, extra: list[tuple[str, str]] | None = None, body: str | None = None) -> None:
        """Fire a channel event; sent only if the router subscribed to it."""
        if self.closed or not ({name, "ALL"} & self.subscribed):
            return
        headers = self.ch.event_headers(name, self.sim._next_sequence(), self.sim.core_uuid) + (extra or [])
        data = _serialize(headers, frozenset(self.ch.raw))
        if body:
            data = data[:-1] + f"Content-Length: {len(body.encode())}\n\n{body}".encode()
        self.result.events.append(name)
        await self.send(f"Content-Length: {len(data)}\nContent-Type: text/event-plain\n\n".encode() + data)

    async def goodbye_and_close(self, by_router: bool) -> None:
        """listener_run's end: send_disconnect(goodbye), close the socket."""
        uuid = self.ch.uuid
        await self.send((f"Content-Type: text/disconnect-notice\nControlled-Session-UUID: {uuid}\n"
                         f"Content-Disposition: disconnect\nContent-Length: {len(GOODBYE)}\n\n{GOODBYE}").encode())
        self.finish(by_router)

    def finish(self, by_router: bool, *, abort: bool = False) -> None:
        if self.done.is_set():
            return
        self.result.closed_by_router = by_router
        self.closed = True
        if abort:  # RST, no FIN: FreeSWITCH crashed / restarted
            sock = self.writer.get_extra_info("socket")
            with contextlib.suppress(OSError):
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.writer.transport.abort()
        else:
            self.writer.close()
        self.done.set()

    # ----------------------------------------------------------- main
    async def run(self) -> None:
        executor = asyncio.create_task(self.execute_loop())
        self.tasks = [asyncio.create_task(self.listen())]
        if isinstance(self.call.hangup_after, (int, float)) and not isinstance(self.call.hangup_after, bool):
            self.tasks.append(asyncio.create_task(self.hangup_timer(float(self.call.hangup_after))))
        elif self.call.hangup_after not in (None, "connect", "myevents", "sendmsg"):
            raise ValueError(f"hangup_after: {self.call.hangup_after!r}")
        try:
            await asyncio.wait_for(self.done.wait(), self.sim.timeout)
        except asyncio.TimeoutError:
            self.problem(f"timeout: the router did not finish within {self.sim.timeout:g} s "
                         "(a real FreeSWITCH waits 25 s for the first command and forever after "
                         "`connect`: the call stays parked until the caller gives up)")
            if not self.ch.down:  # the caller gives up
                await self.hangup("ORIGINATOR_CANCEL" if self.ch.answer_state != "answered" else "NORMAL_CLEARING")
            await self.goodbye_and_close(by_router=False)
        finally:
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            # after the socket closes the socket app runs switch_ivr_parse_all_events: what was queued
            # still executes (after a hangup only zombie-exec apps such as set/multiset), unheard
            self.queue.put_nowait(None)
            self.may_execute.set()
            try:
                await asyncio.wait_for(executor, self.sim.timeout)
            except asyncio.TimeoutError:
                self.problem("an application was still running when the session ended")
            if not self.writer.is_closing():
                self.writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.writer.wait_closed(), 1)

    async def hangup_timer(self, delay: float) -> None:
        await asyncio.sleep(max(0.0, self.result.connected_at + delay - time.monotonic()))
        await self.far_end_hangup()

    async def far_end_hangup(self) -> None:
        """The caller hangs up: CANCEL while ringing, BYE once answered."""
        if self.ch.down or self.done.is_set():
            return
        await self.hangup("NORMAL_CLEARING" if self.ch.answer_state == "answered" else "ORIGINATOR_CANCEL")
        await self.disconnect_if_down()

    async def hangup(self, cause: str) -> None:
        if self.ch.down:
            return
        self.ch.down = True
        self.ch.hangup_cause = cause
        self.accepting = False
        self.ch.profile["Channel-Hangup-Time"] = str(_now_us())
        self.result.hangup_cause = cause
        self.result.log.append(f"[NOTICE] Hangup {self.ch.basic['Channel-Name']} [CS_EXECUTE] [{cause}]")
        await self.emit("CHANNEL_HANGUP")

    async def disconnect_if_down(self) -> None:
        """read_packet's check once the channel is down: linger notice, or goodbye and close."""
        if not self.ch.down or self.disco_handled or self.done.is_set():
            return
        self.disco_handled = True
        if self.linger is None:
            await self.goodbye_and_close(by_router=False)
            return
        await self.send((f"Content-Type: text/disconnect-notice\nControlled-Session-UUID: {self.ch.uuid}\n"
                         f"Content-Disposition: linger\nChannel-Name: {self.ch.basic['Channel-Name']}\n"
                         f"Linger-Time: {self.linger}\nContent-Length: 0\n\n").encode())
        # the parked socket app returns on hangup: its EXECUTE_COMPLETE still reaches a lingering router
        await self.emit("CHANNEL_EXECUTE_COMPLETE", [
            ("Application", "socket"), ("Application-Data", f"{self.sim.router_host}:{self.sim.router_port} async full"),
            ("Application-Response", "_none_"), ("Application-UUID", str(uuidlib.uuid4()))])
        if self.linger >= 0:
            self.tasks.append(asyncio.create_task(self.linger_timeout(self.linger)))

    async def linger_timeout(self, seconds: int) -> None:
        await asyncio.sleep(seconds)
        if not self.done.is_set():
            await self.goodbye_and_close(by_router=False)

    # ----------------------------------------------------------- reading commands (read_packet)
    async def read_packet(self) -> _Packet | None:
        while True:
            while self.buf[:1] in (b"\r", b"\n"):  # "bah": leading CR/LF are dropped
                del self.buf[:1]
            m = _END_OF_COMMAND.search(self.buf)
            if m is None and len(self.buf) >= _MAX_COMMAND:
                self.problem(f"command longer than {_MAX_COMMAND} bytes without an empty line")
                head, rest = bytes(self.buf), b""
                self.buf.clear()
            elif m is not None:
                head, rest = bytes(self.buf[:m.start()]), bytes(self.buf[m.start():m.end()])
                del self.buf[:m.end()]
            else:
                chunk = await self.reader.read(65536)
                if not chunk:
                    if self.buf.strip(b"\r\n"):
                        self.problem(f"connection closed in the middle of a command: {bytes(self.buf[:80])!r}")
                    return None
                self.buf += chunk
                continue
            return await self.parse_packet(head, rest)

    async def parse_packet(self, head: bytes, terminator: bytes) -> _Packet:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError:
            self.problem(f"command is not UTF-8: {head[:80]!r}")
            text = head.decode("utf-8", "surrogateescape")
        lines = text.split("\n")
        command = lines[0].split("\r", 1)[0]
        headers: list[tuple[str, str]] = []
        body: str | None = None
        raw = head + terminator
        for line in lines[1:]:
            line = line.split("\r", 1)[0]
            if not line:
                continue
            if ":" not in line:
                self.problem(f"{command.split(' ', 1)[0]}: header line without ':' (FreeSWITCH ignores it): {line[:80]!r}")
                continue
            name, value = line.split(":", 1)
            headers.append((name, value.lstrip(" ")))
            if name.lower() == "content-length":
                length = _atoi(value)
                if not value.strip().isdigit():
                    self.problem(f"{command}: bad Content-Length {value!r}")
                if length > 0:
                    while len(self.buf) < length:
                        chunk = await self.reader.read(65536)
                        if not chunk:
                            self.problem(f"{command}: connection closed inside a {length}-byte body")
                            break
                        self.buf += chunk
                    data = bytes(self.buf[:length])
                    del self.buf[:length]
                    raw += data
                    body = data.decode("utf-8", "surrogateescape")
        self.result.transcript.append(("PY->FS", raw))
        self.result.commands.append(command)
        return _Packet(command, headers, body, raw)

    async def listen(self) -> None:
        first = True
        try:
            while not self.done.is_set():
                timeout = min(self.sim.timeout, FS_FIRST_COMMAND_TIMEOUT) if first else None
                try:
                    packet = await asyncio.wait_for(self.read_packet(), timeout)
                except asyncio.TimeoutError:
                    self.result.log.append("[CRIT] mod_event_socket.c:2707 Socket Error!")
                    self.problem("the router sent no command after the TCP connect")
                    await self.goodbye_and_close(by_router=False)
                    return
                if packet is None:
                    if first:
                        self.result.log.append("[CRIT] mod_event_socket.c:2707 Socket Error!")
                    await self.goodbye_and_close(by_router=True)
                    return
                if first and not packet.command.lower().startswith("connect"):
                    self.problem(f"first command was {packet.command!r}, not 'connect'")
                first = False
                await self.dispatch(packet)
        except (ConnectionError, OSError):
            self.finish(by_router=True)

    # ----------------------------------------------------------- parse_command
    async def dispatch(self, p: _Packet) -> None:
        cmd = p.command
        low = cmd.lower()
        if low.startswith("exit") or low.startswith("..."):
            await self.reply("+OK bye")
            await self.goodbye_and_close(by_router=True)
        elif low.startswith("filter "):
            await self.reply(self.filter(cmd[7:]))
        elif low.startswith("resume"):
            self.ch.set("socket_resume", "true")
            await self.reply("+OK")
        elif low.startswith("connect"):
            await self.connect()
        elif low.startswith("getvar"):
            _, _, name = cmd.partition(" ")
            await self.reply(self.ch.variables.get(name, "") if name else "")
        elif low.startswith("myevents"):
            if self.myevents:
                await self.reply("-ERR aready enabled.")  # sic, mod_event_socket.c
                return
            if "xml" in low or "json" in low:
                self.problem(f"{cmd!r}: only the plain event format is simulated")
            self.myevents = True
            self.subscribed |= _MYEVENTS
            await self.reply("+OK Events Enabled")
            if self.call.hangup_after == "myevents":
                await self.far_end_hangup()
        elif low.startswith("divert_events"):
            onoff = cmd[13:].strip()
            await self.reply("-ERR missing value." if not onoff else
                             "+OK events diverted" if onoff.lower() == "on" else "+OK events not diverted")
        elif low.startswith("sendmsg"):
            await self.sendmsg(p)
        elif low.startswith("sendevent"):
            await self.reply(f"+OK {uuidlib.uuid4()}")
        elif low.startswith("api "):
            text = self.api(cmd[4:])
            if self.sim.reply_delay:
                await asyncio.sleep(self.sim.reply_delay)
            await self.send(f"Content-Type: api/response\nContent-Length: {len(text.encode())}\n\n{text}".encode())
            await self.after_api()
        elif low.startswith("bgapi "):
            job = p.get("job-uuid") or str(uuidlib.uuid4())
            await self.reply(f"~Reply-Text: +OK Job-UUID: {job}\nJob-UUID: {job}\n\n")
            api_cmd, _, arg = cmd[6:].partition(" ")
            text = self.api(cmd[6:])
            await self.emit("BACKGROUND_JOB", [("Job-UUID", job), ("Job-Owner-UUID", self.ch.uuid),
                                               ("Job-Command", api_cmd)] + ([("Job-Command-Arg", arg)] if arg else []),
                            body=text)
            await self.after_api()
        elif low.startswith("log"):
            level_s = cmd[3:].strip().split(" ", 1)[0]
            level = 7 if not level_s else int(level_s) if level_s.isdigit() else _LOG_LEVELS.get(level_s.lower())
            self.logging = self.logging or level is not None
            await self.reply("-ERR invalid log level" if level is None else f"+OK log level {level_s} [{level}]")
        elif low.startswith("linger"):
            self.linger = _atoi(cmd[7:]) if cmd[6:7] == " " and cmd[7:8] else -1
            await self.reply("+OK will linger" if self.linger == -1 else f"+OK will linger {self.linger} seconds")
        elif low.startswith("nolinger"):
            self.linger = None
            await self.reply("+OK will not linger")
        elif low.startswith("nolog"):
            await self.reply("+OK no longer logging" if self.logging else "-ERR not loging")  # sic
            self.logging = False
        elif low.startswith("event"):
            await self.reply(self.event_command(cmd))
        elif low.startswith("nixevent"):
            names = cmd.split(" ")[1:]
            for name in names:
                self.subscribed.discard(name.upper())
            await self.reply("+OK events nixed" if names else "-ERR no keywords supplied")
        elif low.startswith("noevents"):
            had = bool(self.subscribed)
            self.subscribed.clear()
            self.myevents = False
            await self.reply("+OK no longer listening for events" if had else "-ERR not listening for events")
        else:
            self.problem(f"unknown command {cmd!r}")
            await self.reply("-ERR command not found")

    async def connect(self) -> None:
        if self.sim.reply_delay:
            await asyncio.sleep(self.sim.reply_delay)
        if self.call.garbage == "close_on_connect":
            self.finish(by_router=False, abort=True)
            return
        tpl = connect_template()
        headers = self.ch.event_headers("CHANNEL_DATA", self.sim._next_sequence(), self.sim.core_uuid, connect=True)
        tail = {"Content-Type": "command/reply", "Reply-Text": "+OK\n", "Socket-Mode": "async", "Control": "full"}
        headers += [(k, tail.get(k, v)) for k, v in tpl.tail]
        await self.send(_serialize(headers, frozenset(self.ch.raw)))
        self.connected.set()
        if self.call.garbage == "close_after_connect":
            self.finish(by_router=False, abort=True)
        elif self.call.hangup_after == "connect":
            await self.far_end_hangup()

    def filter(self, arg: str) -> str:
        name, _, value = arg.strip().partition(" ")
        if name.lower() == "delete" and value:
            name, _, value = value.partition(" ")
            if name.lower() == "all":
                self.filters.clear()
            else:
                self.filters = [(k, v) for k, v in self.filters if not (k == name and (not value or v == value))]
            return f"+OK filter deleted. [{name}][{value or '(null)'}]"
        if value:
            if name.lower() == "add":
                name, _, value = value.partition(" ")
            self.filters.append((name, value))
            return f"+OK filter added. [{name}]=[{value or '(null)'}]"
        return "-ERR invalid syntax"

    def event_command(self, cmd: str) -> str:
        words = cmd.split(" ")[1:]
        fmt = "plain"
        keys = 0
        for i, word in enumerate(words):
            if i == 0 and word.lower() in ("plain", "xml", "json"):
                fmt = word.lower()
                continue
            if word.upper() in _EVENT_NAMES or word.upper().startswith("CHANNEL_"):
                keys += 1
                self.subscribed.add(word.upper())
        if fmt != "plain":
            self.problem(f"{cmd!r}: only the plain event format is simulated")
        if not keys:
            return "-ERR no keywords supplied"
        return f"+OK event listener enabled {fmt}"

    async def sendmsg(self, p: _Packet) -> None:
        target = p.command[7:].strip() or (p.get("session-id") or "")
        if target and target != self.ch.uuid:
            await self.reply(f"-ERR invalid session id [{target}]")
            return
        if not self.connected.is_set():
            self.problem("sendmsg before connect (the socket app only parks after `connect`)")
        hang = self.call.hangup_after == "sendmsg" and not self.ch.down
        if hang:  # the caller hangs up before the parked session picks the message up
            self.may_execute.clear()
        if self.accepting:
            self.queue.put_nowait(p)
        else:
            self.result.log.append(f"[DEBUG] sendmsg after hangup not executed: {p.get('execute-app-name')}")
        await self.reply("+OK")
        if hang:
            await self.far_end_hangup()
            self.may_execute.set()

    async def after_api(self) -> None:
        if self.kill_cause is not None:
            cause, self.kill_cause = self.kill_cause, None
            await self.hangup(cause)
        await self.disconnect_if_down()

    # ----------------------------------------------------------- the parked session (switch_ivr_parse_event)
    async def execute_loop(self) -> None:
        """The parked session: runs queued sendmsg's in order, once `connect` was answered."""
        while True:
            packet = await self.queue.get()
            if packet is None:
                return
            await self.may_execute.wait()
            if not self.connected.is_set():
                waiters = [asyncio.create_task(self.connected.wait()), asyncio.create_task(self.done.wait())]
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                for waiter in waiters:
                    waiter.cancel()
                if not self.connected.is_set():
                    self.result.log.append("[DEBUG] never connected: queued sendmsg not executed")
                    continue
            await self.parse_event(packet)
            await self.disconnect_if_down()

    async def parse_event(self, p: _Packet) -> None:
        command = p.get("call-command")
        if not command:
            self.problem("sendmsg without call-command (FreeSWITCH logs 'Invalid Command!')")
            return
        if command == "execute":
            app = p.get("execute-app-name")
            arg = p.get("execute-app-arg")
            content_type = p.get("content-type")
            if not arg and content_type and content_type.lower() == "text/plain":
                arg = p.body
            elif p.body is not None:
                self.problem(f"sendmsg {app}: body ignored (needs 'content-type: text/plain' and no execute-app-arg)")
            if app is None:
                self.problem("sendmsg execute without execute-app-name (FreeSWITCH does nothing)")
                return
            loops = _atoi(p.get("loops")) if p.get("loops") is not None else 1
            for x in itertools.count():
                if not (x < loops or loops < 0):
                    break
                started = time.monotonic()
                if p.get("event-uuid"):
                    self.ch.set("app_uuid", p.get("event-uuid"))
                self.ch.set("current_loop", str(x + 1))
                self.ch.set("total_loops", str(loops))
                if not await self.execute_application(app, arg):
                    break
                if self.ch.down or time.monotonic() - started < 0.5:
                    break
            self.ch.set("current_loop", None)
            self.ch.set("total_loops", None)
        elif command == "hangup":
            await self.hangup(p.get("hangup-cause") or "NORMAL_CLEARING")
        elif command in ("nomedia", "unicast", "xferext"):
            self.result.apps.append((command, ""))
        else:
            self.problem(f"sendmsg: unknown call-command {command!r} (FreeSWITCH ignores it)")

    async def execute_application(self, app: str, arg: str | None) -> bool:
        """switch_core_session_execute_application_get_flags + switch_core_session_exec."""
        if self.sim.execute_delay:
            await asyncio.sleep(self.sim.execute_delay)
        spec = _APPS.get(app)
        if self.ch.down:
            if spec is None or not spec.zombie:
                self.result.log.append(f"[DEBUG] Channel is hungup and application '{app}' does not have the "
                                       "zombie_exec flag.")
                return False
        elif spec is None:
            self.result.apps.append((app, arg or ""))
            self.result.log.append(f"[ERR] switch_core_session.c:2767 Invalid Application {app}")
            self.problem(f"Invalid Application {app!r}: FreeSWITCH hangs up with DESTINATION_OUT_OF_ORDER")
            await self.hangup("DESTINATION_OUT_OF_ORDER")
            return False
        elif spec.media and self.ch.answer_state == "ringing":
            await self.pre_answer()
        ch = self.ch
        app_uuid = ch.variables.pop("app_uuid", None) or str(uuidlib.uuid4())
        expanded = ch.expand(arg)
        ch.set("current_application", app)
        ch.set("current_application_data", expanded)
        ch.set("current_application_response", None)
        data_header = [("Application-Data", expanded)] if expanded is not None else []
        await self.emit("CHANNEL_EXECUTE", [("Application", app), *data_header, ("Application-UUID", app_uuid)])
        ch.set("current_application", app)
        self.result.log.append(f"EXECUTE [depth=0] {ch.basic['Channel-Name']} {app}({expanded or ''})")
        self.result.apps.append((app, arg or ""))
        if app == "multiset":
            self.result.multisets.append(arg or "")
        await self.run_app(app, expanded)
        response = ch.variables.get("current_application_response") or "_none_"
        await self.emit("CHANNEL_EXECUTE_COMPLETE", [("Application", app), *data_header,
                                                     ("Application-Response", response),
                                                     ("Application-UUID", app_uuid)])
        if spec.sets_vars:
            self.result.decided_at = time.monotonic()
        return True

    async def run_app(self, app: str, data: str | None) -> None:
        ch = self.ch
        if app == "multiset":
            for item in multiset_split(data):
                self.base_set(item)
        elif app in ("set", "push", "unshift"):
            self.base_set(data)
        elif app == "unset":
            ch.set(data or "", None)
        elif app == "multiunset":
            for name in multiset_split(data):
                ch.set(name, None)
        elif app in ("export", "bridge_export"):
            name, sep, value = (data or "").partition("=")
            local = not name.startswith("nolocal:")
            name = name.removeprefix("nolocal:")
            if name:
                if local and app == "export":
                    ch.set(name, value or None)
                key = "export_vars" if app == "export" else "bridge_export_vars"
                names = [n for n in ch.variables.get(key, "").split(",") if n]
                if name not in names:
                    ch.set(key, ",".join(names + [name]))
        elif app == "set_global":
            name, _, value = (data or "").partition("=")
            ch.globals[name] = value
        elif app == "hangup":
            await self.hangup((data or "").strip() or "NORMAL_CLEARING")
        elif app == "answer":
            await self.answer()
        elif app == "pre_answer":
            await self.pre_answer()
        elif app == "sleep":
            await asyncio.sleep(_atoi(data) / 1000)

    def base_set(self, data: str | None) -> None:
        """mod_dptools base_set: ``k=v`` (or ``k,v``); an empty value unsets ``k``."""
        if not data:
            self.result.log.append("[ERR] mod_dptools.c No variable name specified.")
            return
        sep = data.find("=")
        if sep < 0:
            sep = data.find(",")
        name, value = (data[:sep], data[sep + 1:]) if sep >= 0 else (data, "")
        self.ch.set(name, self.ch.expand(value) if value else None)

    async def answer(self) -> None:
        if self.ch.answer_state == "answered" or self.ch.down:
            return
        self.ch.answer_state, self.ch.call_state = "answered", "ACTIVE"
        self.ch.profile["Channel-Answered-Time"] = str(_now_us())
        await self.emit("CHANNEL_ANSWER")

    async def pre_answer(self) -> None:
        if self.ch.answer_state != "ringing" or self.ch.down:
            return
        self.ch.answer_state, self.ch.call_state = "early", "EARLY"
        self.ch.profile["Channel-Progress-Media-Time"] = str(_now_us())
        await self.emit("CHANNEL_PROGRESS_MEDIA")

    # ----------------------------------------------------------- api (mod_commands, the few that matter)
    def api(self, line: str) -> str:
        command, _, arg = line.partition(" ")
        out = self._api(command, arg)
        return out or "-ERR no reply\n"

    def _api(self, command: str, arg: str) -> str:
        ch = self.ch
        if command == "uuid_setvar":
            argv = fs_separate_string(arg, " ", 3) if arg else []
            if len(argv) in (2, 3) and argv[0]:
                if argv[0] != ch.uuid:
                    return "-ERR No such channel!\n"
                if not argv[1]:
                    return "-ERR No variable specified\n"
                ch.set(argv[1], argv[2] if len(argv) == 3 else None)
                self.result.decided_at = time.monotonic()
                return "+OK\n"
            return "-USAGE: <uuid> <var> [value]\n"
        if command == "uuid_setvar_multi":
            target, sep, rest = arg.partition(" ")
            if not arg or not sep:
                return ""  # mod_commands writes nothing: "-ERR no reply"
            if target != ch.uuid:
                return "-ERR No such channel!\n-USAGE: <uuid> <var>=<value>;<var>=<value>...\n"
            out, count = "", 0
            for item in fs_separate_string(rest, ";", 64):
                name, _, value = item.partition("=")
                if not name:
                    out += "-ERR No variable specified\n"
                    continue
                ch.set(name, value or None)
                count += 1
            if count:
                self.result.decided_at = time.monotonic()
                return out + "+OK\n"
            return out + "-USAGE: <uuid> <var>=<value>;<var>=<value>...\n"
        if command == "uuid_getvar":
            argv = fs_separate_string(arg, " ", 4) if arg else []
            if len(argv) >= 2 and argv[0]:
                if argv[0] != ch.uuid:
                    return "-ERR No such channel!\n"
                return ch.variables.get(argv[1], "_undef_")
            return "-USAGE: <uuid> <var>\n"
        if command == "uuid_exists":
            return "true" if arg == ch.uuid and not ch.down else "false"
        if command == "uuid_kill":
            target, _, cause = arg.partition(" ")
            if target != ch.uuid or ch.down:
                return "-ERR No such channel!\n"
            self.kill_cause = cause.strip() or "NORMAL_CLEARING"
            return "+OK\n"
        return f"-ERR {command} Command not found!\n"


# --------------------------------------------------------------------------- running things
def _run_sync(coro: Any) -> Any:
    """asyncio.run, or in a thread of its own when this thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="fs-simulator")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
