"""Synthetic but faithful FreeSWITCH 1.10.12 CDRs: mod_json_cdr documents and mod_cdr_csv lines.

Used by ``painel demo`` (months of plausible traffic), by the 1,000,000-row ingest benchmark and
by the FreeSWITCH simulator. The output copies what a real FreeSWITCH 1.10.12 wrote in the lab
(``tests/data/third_party/freeswitch/lab_1.10.12/``, README findings 1-13):

* JSON layout: ``core-uuid``, ``switchname``, ``channel_data``, ``callStats``, ``variables``,
  ``app_log`` (a-legs only), ``callflow`` (an array of one element with ``caller_profile``, its
  ``originatee`` / ``originator`` sub-profiles, and ``times``); compact, newline-terminated.
* ``variables`` come in the order FreeSWITCH keeps them (setting a variable again moves it to the
  end, which is why e.g. ``sip_user_agent`` sits late on the leg that received the BYE). Values
  are URL-encoded exactly as switch_url_encode does (``encode-values=true``); keys never are.
  Empty values are absent, as in the module.
* ``destination_number`` / ``caller_id_number`` exist only in the caller profile.
* painel_* ride on the a-leg only; the forwarded b-leg has ``painel_direction=forwarded`` and
  ``painel_circuit`` from the ``{...}`` of its dial string.
* Unanswered legs: billsec 0, answer_epoch 0, no answer_stamp; the circuit's a-leg of an outbound
  NO_ANSWER ends NORMAL_CLEARING; busy is USER_BUSY on both legs after 1 s; rejects last 0-1 s.
* An answered a-leg can last 1 s longer than its b-leg (created ~100 ms earlier, whole seconds).

Pure functions over plain data: no clock, no I/O. Everything is deterministic: uuids come from
``call_uuid(seed)`` and per-leg details (SIP tags, ports, SSRCs) from the leg's uuid.
"""
from __future__ import annotations

import hashlib
from bisect import bisect_right
import heapq
import json
import math
import random
import uuid as _uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from operator import itemgetter
from zoneinfo import ZoneInfo

__all__ = [
    "SynthLeg",
    "SynthCall",
    "TrafficProfile",
    "KINDS",
    "OUTCOMES",
    "call_uuid",
    "fs_url_encode",
    "scenario_call",
    "json_cdr",
    "leg_variables",
    "csv_line",
    "traffic_profile",
    "generate_traffic",
    "bench_csv_rows",
]

UTC = timezone.utc

# -- the lab's addresses and names (README "Lab layout"); the documents keep them ---------------

SIP_HOST = "127.0.0.1"
EXTERNAL_PORT = 5080  # sofia profile "external": the carrier's calls to the DIDs
INTERNAL_PORT = 5070  # sofia profile "internal": the circuits register/call here
PEER_PORT = 5090  # the far end (carrier and circuit phones)
GATEWAY = "carrier"
ROUTER_ADDRESS = "127.0.0.1:8084"
SWITCH_IPV4 = "192.0.2.2"
SWITCH_IPV6 = "fd00::2"
USER_AGENT = "FreeSWITCH-mod_sofia/1.10.12-release~64bit"
SIP_ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, MESSAGE, INFO, UPDATE, REFER, NOTIFY"
#: the painel_outbound dialplan's call_timeout (s6f: NO_ANSWER after 15 s)
OUTBOUND_CALL_TIMEOUT = 15
#: the inbound dialplan sets no call_timeout, so bridge uses FreeSWITCH's originate default
INBOUND_CALL_TIMEOUT = 60

KINDS = ("inbound", "blacklisted", "collect_rejected", "collect_accepted", "forwarded", "outbound",
         "fallback")
OUTCOMES = ("answered", "no_answer", "busy")

#: hangup cause -> Q.850 code (hangup_cause_q850 / sip_reason)
Q850 = {
    "UNALLOCATED_NUMBER": 1,
    "NORMAL_CLEARING": 16,
    "USER_BUSY": 17,
    "NO_USER_RESPONSE": 18,
    "NO_ANSWER": 19,
    "CALL_REJECTED": 21,
    "NUMBER_CHANGED": 22,
    "NORMAL_TEMPORARY_FAILURE": 41,
    "ORIGINATOR_CANCEL": 487,
}
#: hangup cause -> (SIP status, phrase) the far end answered an INVITE with
_SIP_FAILURE = {
    "USER_BUSY": (486, "Busy Here"),
    "NO_ANSWER": (487, "CANCEL"),
    "NO_USER_RESPONSE": (480, "Temporarily Unavailable"),
    "CALL_REJECTED": (603, "Decline"),
    "UNALLOCATED_NUMBER": (404, "Not Found"),
}
#: DIALSTATUS as bridge/originate reports it for the failure causes
_DIALSTATUS = {"SUCCESS": "SUCCESS", "NO_ANSWER": "NOANSWER", "USER_BUSY": "BUSY",
               "CALL_REJECTED": "CONGESTION", "NO_USER_RESPONSE": "NOANSWER"}

# channel_data.flags, per kind of leg, as the lab recorded them
_FLAGS_A_ANSWERED = "0=1;1=1;22=1;39=1;40=1;42=1;45=1;50=1;55=1;113=1;114=1;123=1;160=1;165=1;166=1"
_FLAGS_A_ANSWERED_RECV_BYE = (
    "0=1;1=1;22=1;39=1;40=1;42=1;45=1;50=1;55=1;107=1;113=1;114=1;123=1;160=1;165=1;166=1")
_FLAGS_B_ANSWERED = (
    "0=1;1=1;2=1;22=1;39=1;40=1;42=1;45=1;50=1;55=1;107=1;113=1;114=1;123=1;160=1;165=1;166=1")
_FLAGS_A_REJECTED = "0=1;40=1;42=1;55=1;114=1;160=1"
_FLAGS_A_NO_ANSWER = "0=1;22=1;40=1;42=1;55=1;114=1;123=1;160=1;165=1"
_FLAGS_A_BUSY = "0=1;40=1;42=1;55=1;114=1;160=1;165=1"
_FLAGS_B_NO_ANSWER = "0=1;2=1;22=1;40=1;42=1;45=1;113=1;114=1"
_FLAGS_B_BUSY = "0=1;2=1;30=1;40=1;42=1;113=1;114=1"
_CAPS = "1=1;2=1;3=1;4=1;5=1;6=1;8=1;9=1;10=1"

# sofia's msg_random_token alphabet (tags, branches)
_TOKEN = "aBcDeFgHjKmNpQrStUvXyZ0123456789"


# -- URL encoding ---------------------------------------------------------------------------------

#: switch_utils.h SWITCH_URL_UNSAFE; plus control characters and anything above '~'
_URL_UNSAFE = "\r\n #%&+:;<=>?@[\\]^`{|}\""
_URL_TABLE = {c: f"%{c:02X}" for c in range(128) if c < 32 or c == 127 or chr(c) in _URL_UNSAFE}
_HEX_UPPER = frozenset("0123456789ABCDEF")


def fs_url_encode(value: str) -> str:
    """``value`` as switch_url_encode writes it (mod_json_cdr ``encode-values=true``).

    Unsafe ASCII and every byte of a non-ASCII character become ``%XX``; ``/ , . - _ ~`` and
    letters stay. Like FreeSWITCH (no double encoding) an existing ``%XX`` with upper-case hex
    digits is kept as is.
    """
    if value.isascii() and "%" not in value:
        return value.translate(_URL_TABLE)
    data = value.encode("utf-8")
    out: list[str] = []
    i = 0
    n = len(data)
    while i < n:
        b = data[i]
        if b == 0x25 and i + 2 < n and chr(data[i + 1]) in _HEX_UPPER and chr(data[i + 2]) in _HEX_UPPER:
            out.append("%")
        elif b < 32 or b > 126 or chr(b) in _URL_UNSAFE:
            out.append(f"%{b:02X}")
        else:
            out.append(chr(b))
        i += 1
    return "".join(out)


# -- data -----------------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class SynthLeg:
    """One leg as FreeSWITCH would report it.

    ``start_epoch`` / ``answer_epoch`` / ``end_epoch`` are what the CDR says (whole seconds);
    the ``*_usec`` fields are their sub-second parts (0..999999), used for the ``*_uepoch``,
    ``mduration`` and friends of the JSON document. ``peer`` is the other leg of the call (set by
    ``scenario_call``); the a-leg needs it to write ``originated_legs`` even when the bridge failed.
    """

    uuid: str
    leg: str  # "a" | "b"
    caller: str
    destination: str
    context: str
    channel_direction: str  # FreeSWITCH's: "inbound" | "outbound"
    profile: str  # sofia profile: "external" | "internal"
    start_epoch: int
    answer_epoch: int  # 0 = unanswered
    end_epoch: int
    hangup_cause: str
    painel: dict[str, str]  # painel_* with non-empty values only
    bleg_uuid: str | None = None
    originating_leg_uuid: str | None = None
    sip_headers: dict[str, str] = field(default_factory=dict)
    user_name: str | None = None  # the circuit, on its outbound a-legs (sip_authorized user)
    start_usec: int = 0
    answer_usec: int = 0
    end_usec: int = 0
    #: when the leg heard ringing (180), in microseconds since the epoch; 0 = never
    progress_uepoch: int = 0
    #: sip_hangup_disposition: recv_bye, send_bye, send_refuse, recv_refuse, send_cancel
    hangup_disposition: str = ""
    peer: SynthLeg | None = field(default=None, repr=False)

    @property
    def answered(self) -> bool:
        return self.answer_epoch > 0

    @property
    def billsec(self) -> int:
        return self.end_epoch - self.answer_epoch if self.answer_epoch else 0

    @property
    def duration(self) -> int:
        return self.end_epoch - self.start_epoch

    @property
    def start_uepoch(self) -> int:
        return self.start_epoch * 1_000_000 + self.start_usec

    @property
    def answer_uepoch(self) -> int:
        return self.answer_epoch * 1_000_000 + self.answer_usec if self.answer_epoch else 0

    @property
    def end_uepoch(self) -> int:
        return self.end_epoch * 1_000_000 + self.end_usec


@dataclass(slots=True, eq=False)
class SynthCall:
    """One call: its a-leg, its b-leg when a bridge was attempted, and the scenario's name."""

    scenario: str
    a: SynthLeg
    b: SynthLeg | None

    @property
    def legs(self) -> list[SynthLeg]:
        return [self.a] if self.b is None else [self.a, self.b]

    def hangup_order(self) -> list[SynthLeg]:
        """The legs in the order mod_cdr_csv writes them: the b-leg usually first (README)."""
        if self.b is None:
            return [self.a]
        return [self.b, self.a] if self.b.end_uepoch <= self.a.end_uepoch else [self.a, self.b]


_UUID_NAMESPACE = _uuid.UUID("6f0b3c1e-2a47-5d59-9a3e-70a1b2c3d4e5")


def call_uuid(seed: str) -> str:
    """A deterministic uuid for ``seed`` (uuid5): regenerating traffic gives the same uuids."""
    return str(_uuid.uuid5(_UUID_NAMESPACE, seed))


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


# -- scenarios ------------------------------------------------------------------------------------


def _did_dial_string(circuit: str) -> str:
    return f"sofia/internal/{circuit}@{SIP_HOST}:{PEER_PORT}"


def _forward_dial_string(circuit: str, destination: str) -> str:
    return f"{{painel_direction=forwarded,painel_circuit={circuit}}}sofia/gateway/{GATEWAY}/{destination}"


def scenario_call(
    kind: str,
    *,
    circuit: str,
    did: str | None,
    other: str,
    start_epoch: int,
    talk_seconds: int,
    ring_seconds: int = 3,
    uuid_seed: str,
    outcome: str = "answered",
    caller: str | None = None,
    hangup_by: str | None = None,
    collect_header: tuple[str, str] = ("X-Siemens-Call-Type", "collect call"),
) -> SynthCall:
    """One call of a lab scenario, with the lab's timing (README findings 6-8).

    ``other`` is the remote party: the caller for DID calls, the number dialed for ``outbound``,
    the follow-me destination for ``forwarded`` (whose caller is ``caller``, or one derived from
    the seed). ``outcome`` applies to calls that bridge: ``answered``, ``no_answer`` (rings until
    the dialplan's timeout: 15 s outbound, 60 s inbound) or ``busy`` (486 after 1 s).
    ``hangup_by`` is ``"caller"`` or ``"callee"`` (who sent the BYE); by default it follows the
    seed, about one call in three ended by the caller.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}; expected one of {', '.join(OUTCOMES)}")
    if kind != "outbound" and not did:
        raise ValueError(f"a {kind} call needs the DID it was made to")
    if talk_seconds < 0 or ring_seconds < 0:
        raise ValueError("talk_seconds and ring_seconds must not be negative")

    h = _digest(uuid_seed)
    a_uuid = call_uuid(uuid_seed + ":a")
    b_uuid = call_uuid(uuid_seed + ":b")
    if hangup_by is None:
        hangup_by = "caller" if (h >> 20) % 3 == 0 else "callee"
    if hangup_by not in ("caller", "callee"):
        raise ValueError("hangup_by must be 'caller' or 'callee'")
    frac = h % 1_000_000

    if kind == "outbound":
        return _outbound_call(circuit, other, start_epoch, talk_seconds, ring_seconds, outcome,
                              a_uuid, b_uuid, frac, hangup_by)

    assert did is not None
    if kind == "forwarded":
        src = caller or _fallback_caller(h)
    else:
        src = caller or other
    headers = {collect_header[0]: collect_header[1]} if kind.startswith("collect") else {}
    direction = "collect" if kind.startswith("collect") else "inbound"
    painel = {"painel_circuit": circuit, "painel_did": did, "painel_direction": direction}

    if kind in ("blacklisted", "collect_rejected"):
        painel.update(painel_action="reject", painel_hangup_cause="CALL_REJECTED",
                      painel_rule="blacklist" if kind == "blacklisted" else "collect")
        t0 = start_epoch * 1_000_000 + frac
        t_end = t0 + 100_000 + (h >> 40) % 20_000
        a = _leg(a_uuid, "a", src, did, "public", "inbound", "external", t0, 0, t_end,
                 "CALL_REJECTED", painel, sip_headers=headers, disposition="send_refuse")
        return SynthCall(kind, a, None)

    if kind == "forwarded":
        dial = _forward_dial_string(circuit, other)
        painel.update(painel_action="forward", painel_bridge=dial, painel_rule="follow_me")
        b_dest, b_context, b_profile = other, "painel_actions", "external"
        b_painel = {"painel_direction": "forwarded", "painel_circuit": circuit}
    else:
        painel.update(painel_action="bridge", painel_bridge=_did_dial_string(circuit),
                      painel_rule="fallback" if kind == "fallback" else "default")
        b_dest, b_context, b_profile = circuit, "painel_actions", "internal"
        b_painel = {}
    # the router takes ~100 ms before the bridge starts; with the router down, none
    setup = 0 if kind == "fallback" else 100_000
    timeout = INBOUND_CALL_TIMEOUT
    return _bridged_call(kind, a_uuid, b_uuid, src, did, "public", "external", painel, headers,
                         b_dest, b_context, b_profile, b_painel, headers,
                         start_epoch, frac, setup, talk_seconds, ring_seconds, timeout, outcome,
                         hangup_by, a_user=None)


def _fallback_caller(h: int) -> str:
    return f"55{_OTHER_DDDS[h % len(_OTHER_DDDS)]}9{8 + (h >> 8) % 2}{(h >> 16) % 10_000_000:07d}"


def _outbound_call(circuit: str, dialed: str, start_epoch: int, talk: int, ring: int, outcome: str,
                   a_uuid: str, b_uuid: str, frac: int, hangup_by: str) -> SynthCall:
    painel = {"painel_circuit": circuit, "painel_direction": "outbound"}
    return _bridged_call("outbound", a_uuid, b_uuid, circuit, dialed, "painel_outbound", "internal",
                         painel, {}, dialed, "painel_outbound", "external", {}, {},
                         start_epoch, frac, 20_000, talk, ring, OUTBOUND_CALL_TIMEOUT, outcome,
                         hangup_by, a_user=circuit)


def _bridged_call(scenario: str, a_uuid: str, b_uuid: str, caller: str, a_dest: str, a_context: str,
                  a_profile: str, painel: dict[str, str], a_headers: dict[str, str], b_dest: str,
                  b_context: str, b_profile: str, b_painel: dict[str, str], b_headers: dict[str, str],
                  start_epoch: int, frac: int, setup: int, talk: int, ring: int, timeout: int,
                  outcome: str, hangup_by: str, a_user: str | None) -> SynthCall:
    """An a-leg that bridges to a b-leg; timings in microseconds, as the lab measured them."""
    if outcome == "answered":
        # answer lands ~setup+20 ms after a whole number of seconds from the start; keep the
        # answer's sub-second part clear of the 40 ms until hangup, so both legs get billsec ==
        # talk (README finding 8), while the a-leg's duration may still be 1 s longer
        lead = setup if setup else 20_000
        if (frac + lead) % 1_000_000 >= 960_000:
            frac = (frac + 60_000) % 1_000_000
        t0 = start_epoch * 1_000_000 + frac
        b0 = t0 + setup
        b_answer = t0 + lead + ring * 1_000_000
        a_answer = b_answer + 20_000
        t_end = a_answer + talk * 1_000_000 + 20_000
        a = _leg(a_uuid, "a", caller, a_dest, a_context, "inbound", a_profile, t0, a_answer, t_end,
                 "NORMAL_CLEARING", painel, sip_headers=a_headers, user_name=a_user,
                 disposition="recv_bye" if hangup_by == "caller" else "send_bye", progress=b0)
        b = _leg(b_uuid, "b", caller, b_dest, b_context, "outbound", b_profile, b0, b_answer, t_end,
                 "NORMAL_CLEARING", b_painel, sip_headers=b_headers,
                 disposition="send_bye" if hangup_by == "caller" else "recv_bye", progress=b0)
        a.bleg_uuid = b_uuid
    elif outcome == "no_answer":
        # the a-leg must last exactly `timeout` seconds: keep its start clear of the boundary
        frac = 100_000 + frac % 880_000
        t0 = start_epoch * 1_000_000 + frac
        b0 = t0 + setup
        t_end = t0 + timeout * 1_000_000 - 100_000
        a_cause = "NORMAL_CLEARING"  # NO_ANSWER continues the dialplan (README finding 7)
        a = _leg(a_uuid, "a", caller, a_dest, a_context, "inbound", a_profile, t0, 0, t_end,
                 a_cause, painel, sip_headers=a_headers, user_name=a_user,
                 disposition="send_refuse", progress=b0)
        b = _leg(b_uuid, "b", caller, b_dest, b_context, "outbound", b_profile, b0, 0, t_end,
                 "NO_ANSWER", b_painel, sip_headers=b_headers, disposition="send_cancel",
                 progress=b0 + 20_000)
    else:  # busy: 486 after 1 s, both legs USER_BUSY
        frac = frac % 960_000
        t0 = start_epoch * 1_000_000 + frac
        b0 = t0 + setup // 5
        t_end = b0 + 1_020_000
        a = _leg(a_uuid, "a", caller, a_dest, a_context, "inbound", a_profile, t0, 0, t_end,
                 "USER_BUSY", painel, sip_headers=a_headers, user_name=a_user,
                 disposition="send_refuse")
        b = _leg(b_uuid, "b", caller, b_dest, b_context, "outbound", b_profile, b0, 0, t_end,
                 "USER_BUSY", b_painel, sip_headers=b_headers, disposition="recv_refuse")
    b.originating_leg_uuid = a_uuid
    a.peer, b.peer = b, a
    return SynthCall(scenario, a, b)


def _leg(uuid: str, leg: str, caller: str, dest: str, context: str, direction: str, profile: str,
         t_start: int, t_answer: int, t_end: int, cause: str, painel: dict[str, str], *,
         sip_headers: dict[str, str] | None = None, user_name: str | None = None,
         disposition: str = "", progress: int = 0) -> SynthLeg:
    s_epoch, s_usec = divmod(t_start, 1_000_000)
    a_epoch, a_usec = divmod(t_answer, 1_000_000) if t_answer else (0, 0)
    e_epoch, e_usec = divmod(t_end, 1_000_000)
    return SynthLeg(uuid, leg, caller, dest, context, direction, profile, s_epoch, a_epoch, e_epoch,
                    cause, dict(painel), sip_headers=dict(sip_headers or {}), user_name=user_name,
                    start_usec=s_usec, answer_usec=a_usec, end_usec=e_usec, progress_uepoch=progress,
                    hangup_disposition=disposition)


# -- channel variables ----------------------------------------------------------------------------


class _Rand:
    """Per-leg deterministic details (tags, ports, SSRC) derived from the leg's uuid."""

    __slots__ = ("_r",)

    def __init__(self, seed: str) -> None:
        self._r = random.Random(seed)

    def token(self, n: int = 13) -> str:
        r = self._r
        return "".join(_TOKEN[r.getrandbits(5)] for _ in range(n))

    def port(self) -> int:
        return 16384 + 2 * self._r.randrange(0, 1024)

    def between(self, lo: int, hi: int) -> int:
        return self._r.randint(lo, hi)

    def hex(self, digits: int) -> str:
        return f"{self._r.getrandbits(4 * digits):0{digits}x}"


def _stamp(uepoch: int, zone: ZoneInfo | None) -> str:
    dt = datetime.fromtimestamp(uepoch // 1_000_000, UTC)
    if zone is not None:
        dt = dt.astimezone(zone)
    return dt.strftime("%Y-%m-%d %H:%M:%S")


def _zone(switch_tz: str) -> ZoneInfo | None:
    return None if switch_tz in ("UTC", "Etc/UTC", "Zulu", "UTC0") else ZoneInfo(switch_tz)


_SDP_OFFER = (
    "v=0\r\no=FreeSWITCH {o} {o1} IN IP4 127.0.0.1\r\ns=FreeSWITCH\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio {port} RTP/AVP 0 8 101 13\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=rtpmap:13 CN/8000\r\na=ptime:20\r\n"
)
_SDP_ANSWER = (
    "v=0\r\no=FreeSWITCH {o} {o1} IN IP4 {ip}\r\ns=FreeSWITCH\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio {port} RTP/AVP 0 101 13\r\na=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=rtpmap:13 CN/8000\r\na=ptime:20\r\n"
)


def _sdp_offer(o: int, port: int) -> str:
    return _SDP_OFFER.format(o=o, o1=o + 1, port=port)


def _sdp_answer(o: int, port: int, ip: str = SWITCH_IPV4, sendrecv: bool = False) -> str:
    text = _SDP_ANSWER.format(o=o, o1=o + 1, port=port, ip=ip)
    return text + "a=sendrecv\r\n" if sendrecv else text


class _Shape:
    """What kind of leg this is, derived once from the SynthLeg (and its peer)."""

    __slots__ = ("leg", "peer", "is_a", "outbound_a", "did_a", "gateway_b", "answered", "rejected",
                 "failed_cause", "recv_bye", "forward", "fallback", "dial", "chan", "peer_chan",
                 "progress")

    def __init__(self, leg: SynthLeg) -> None:
        self.leg = leg
        peer = self.peer = leg.peer
        self.is_a = leg.leg == "a"
        self.outbound_a = self.is_a and (leg.context == "painel_outbound" or leg.user_name is not None)
        self.did_a = self.is_a and not self.outbound_a
        self.gateway_b = not self.is_a and leg.profile == "external"
        self.answered = leg.answer_epoch > 0
        self.rejected = self.is_a and peer is None and not self.answered
        if self.answered or self.rejected:
            self.failed_cause = ""
        elif self.is_a:
            self.failed_cause = peer.hangup_cause if peer is not None else leg.hangup_cause
        else:
            self.failed_cause = leg.hangup_cause
        disp = leg.hangup_disposition
        self.recv_bye = disp == "recv_bye" if disp else (not self.is_a)
        action = (leg.painel.get("painel_action") if self.is_a else
                  (peer.painel.get("painel_action") if peer is not None else None))
        self.forward = action == "forward" or bool(leg.painel.get("painel_direction") == "forwarded")
        self.fallback = self.is_a and leg.painel.get("painel_rule") == "fallback"
        a = leg if self.is_a else peer
        self.dial = _dial_string(a) if a is not None else ""
        self.chan = _channel_name(leg)
        self.peer_chan = _channel_name(peer) if peer is not None else ""
        self.progress = leg.progress_uepoch


def _dial_string(a: SynthLeg) -> str:
    """What the a-leg bridged to."""
    if a.context == "painel_outbound" or a.user_name is not None:
        return f"sofia/gateway/{GATEWAY}/{a.destination}"
    bridge = a.painel.get("painel_bridge")
    if bridge:
        return bridge
    circuit = a.painel.get("painel_circuit", "")
    return _did_dial_string(circuit)


def _channel_name(leg: SynthLeg | None) -> str:
    if leg is None:
        return ""
    if leg.leg == "a":
        if leg.context == "painel_outbound" or leg.user_name is not None:
            return f"sofia/internal/{leg.caller}@{SIP_HOST}"
        return f"sofia/{leg.profile}/{leg.caller}@{SIP_HOST}"
    if leg.profile == "external":
        return f"sofia/external/{leg.destination}"
    return f"sofia/internal/{leg.destination}@{SIP_HOST}:{PEER_PORT}"


def leg_variables(leg: SynthLeg, *, switchname: str = "fs1", switch_tz: str = "UTC") -> list[tuple[str, str]]:
    """The leg's channel variables, unencoded, in the order FreeSWITCH reports them."""
    return _variables(_Shape(leg), switchname, _zone(switch_tz))


def _variables(s: _Shape, switchname: str, zone: ZoneInfo | None) -> list[tuple[str, str]]:
    if s.is_a:
        out = _a_leg_variables(s, switchname, zone)
    else:
        out = _b_leg_variables(s, switchname, zone)
    # an empty value is no variable at all (switch_ivr_set_json_chan_vars skips them)
    return [(k, v) for k, v in out if v]


def _times(leg: SynthLeg, out: list[tuple[str, str]], zone: ZoneInfo | None, *, bridge_u: int,
           progress_u: int) -> None:
    """stamps, epochs and durations, in FreeSWITCH's order."""
    add = out.append
    start_u = leg.start_uepoch
    answer_u = leg.answer_uepoch
    end_u = leg.end_uepoch
    add(("digits_dialed", "none"))
    start_stamp = _stamp(start_u, zone)
    add(("start_stamp", start_stamp))
    add(("profile_start_stamp", start_stamp))
    if answer_u:
        add(("answer_stamp", _stamp(answer_u, zone)))
        add(("bridge_stamp", _stamp(bridge_u, zone)))
    if progress_u:
        add(("progress_stamp", _stamp(progress_u, zone)))
    add(("end_stamp", _stamp(end_u, zone)))
    sec = lambda u: str(u // 1_000_000)  # noqa: E731
    add(("start_epoch", str(leg.start_epoch)))
    add(("start_uepoch", str(start_u)))
    add(("profile_start_epoch", str(leg.start_epoch)))
    add(("profile_start_uepoch", str(start_u)))
    add(("answer_epoch", str(leg.answer_epoch)))
    add(("answer_uepoch", str(answer_u)))
    add(("bridge_epoch", sec(bridge_u)))
    add(("bridge_uepoch", str(bridge_u)))
    for k in ("last_hold_epoch", "last_hold_uepoch", "hold_accum_seconds", "hold_accum_usec",
              "hold_accum_ms", "resurrect_epoch", "resurrect_uepoch"):
        add((k, "0"))
    add(("progress_epoch", sec(progress_u)))
    add(("progress_uepoch", str(progress_u)))
    add(("progress_media_epoch", "0"))
    add(("progress_media_uepoch", "0"))
    add(("end_epoch", str(leg.end_epoch)))
    add(("end_uepoch", str(end_u)))


def _durations(leg: SynthLeg, out: list[tuple[str, str]], *, bridge_u: int, progress_u: int) -> None:
    add = out.append
    start_u = leg.start_uepoch
    answer_u = leg.answer_uepoch
    end_u = leg.end_uepoch
    answered = answer_u > 0
    dur_u = end_u - start_u
    bill_u = end_u - answer_u if answered else 0
    prog_u = progress_u - start_u if progress_u else 0
    ans_u = answer_u - start_u if answered else 0
    wait_u = bridge_u - start_u if bridge_u else 0
    flow_u = dur_u if answered else 0
    prog_s = (progress_u // 1_000_000 - leg.start_epoch) if progress_u else 0
    ans_s = leg.answer_epoch - leg.start_epoch if answered else 0
    wait_s = (bridge_u // 1_000_000 - leg.start_epoch) if bridge_u else 0
    add(("duration", str(leg.duration)))
    add(("billsec", str(leg.billsec)))
    add(("progresssec", str(prog_s)))
    add(("answersec", str(ans_s)))
    add(("waitsec", str(wait_s)))
    add(("progress_mediasec", "0"))
    add(("flow_billsec", str(leg.duration if answered else 0)))
    add(("mduration", str(dur_u // 1000)))
    add(("billmsec", str(bill_u // 1000)))
    add(("progressmsec", str(prog_u // 1000)))
    add(("answermsec", str(ans_u // 1000)))
    add(("waitmsec", str(wait_u // 1000)))
    add(("progress_mediamsec", "0"))
    add(("flow_billmsec", str(flow_u // 1000)))
    add(("uduration", str(dur_u)))
    add(("billusec", str(bill_u)))
    add(("progressusec", str(prog_u)))
    add(("answerusec", str(ans_u)))
    add(("waitusec", str(wait_u)))
    add(("progress_mediausec", "0"))
    add(("flow_billusec", str(flow_u)))


def _packets(leg: SynthLeg) -> int:
    bill_ms = (leg.end_uepoch - leg.answer_uepoch) // 1000 if leg.answer_epoch else 0
    return max(bill_ms // 20 - 2, 0)


def _rtp_stats(leg: SynthLeg, is_a: bool) -> dict[str, dict[str, int | float]]:
    """callStats.audio: the lab's far ends sent audio toward the caller only."""
    p = _packets(leg)
    if is_a:
        inbound_packets, skip, outbound_packets, mean = 0, p + 2, p, 0
    else:
        inbound_packets, skip, outbound_packets, mean = p + 2, 2, 0, 20
    return {
        "inbound": {
            "raw_bytes": 172 * inbound_packets, "media_bytes": 172 * inbound_packets,
            "packet_count": inbound_packets, "media_packet_count": inbound_packets,
            "skip_packet_count": skip, "jitter_packet_count": 0, "dtmf_packet_count": 0,
            "cng_packet_count": 0, "flush_packet_count": 0, "largest_jb_size": 0,
            "jitter_min_variance": 0, "jitter_max_variance": 0, "jitter_loss_rate": 0,
            "jitter_burst_rate": 0, "mean_interval": mean, "flaw_total": 0,
            "quality_percentage": 100, "mos": 4.5,
        },
        "outbound": {
            "raw_bytes": 172 * outbound_packets, "media_bytes": 172 * outbound_packets,
            "packet_count": outbound_packets, "media_packet_count": outbound_packets,
            "skip_packet_count": 0, "dtmf_packet_count": 0, "cng_packet_count": 0,
            "rtcp_packet_count": 0, "rtcp_octet_count": 0,
        },
    }


def _rtp_variables(stats: dict[str, dict[str, int | float]], out: list[tuple[str, str]]) -> None:
    add = out.append
    for key, value in stats["inbound"].items():
        if key in ("jitter_min_variance", "jitter_max_variance", "jitter_loss_rate",
                   "jitter_burst_rate", "mean_interval", "quality_percentage", "mos"):
            add((f"rtp_audio_in_{key}", f"{value:.2f}"))
        else:
            add((f"rtp_audio_in_{key}", str(value)))
    for key, value in stats["outbound"].items():
        if key.startswith("rtcp_"):
            add((f"rtp_audio_{key}", str(value)))
        else:
            add((f"rtp_audio_out_{key}", str(value)))


def _codec_block(out: list[tuple[str, str]], *, offer: bool) -> None:
    add = out.append
    if offer:  # the leg that received the offer (PCMU and PCMA offered)
        add(("ep_codec_string", "CORE_PCM_MODULE.PCMU@8000h@20i@64000b,CORE_PCM_MODULE.PCMA@8000h@20i@64000b"))
        add(("rtp_use_codec_string", "PCMU,PCMA"))
    else:
        add(("ep_codec_string", "CORE_PCM_MODULE.PCMU@8000h@20i@64000b"))
        add(("rtp_use_codec_string", "PCMU@8000h@20i"))
    add(("remote_video_media_flow", "inactive"))
    add(("remote_text_media_flow", "inactive"))
    add(("remote_audio_media_flow", "sendrecv"))


def _codec_tail(out: list[tuple[str, str]]) -> None:
    add = out.append
    add(("rtp_audio_recv_pt", "0"))
    add(("rtp_use_codec_name", "PCMU"))
    add(("rtp_use_codec_rate", "8000"))
    add(("rtp_use_codec_ptime", "20"))
    add(("rtp_use_codec_channels", "1"))
    add(("rtp_last_audio_codec_string", "PCMU@8000h@20i@1c"))
    add(("read_codec", "PCMU"))
    add(("original_read_codec", "PCMU"))
    add(("read_rate", "8000"))
    add(("original_read_rate", "8000"))
    add(("write_codec", "PCMU"))
    add(("write_rate", "8000"))
    add(("dtmf_type", "rfc2833"))


def _local_media(out: list[tuple[str, str]], r: _Rand, local_port: int, remote_port: int) -> None:
    add = out.append
    add(("local_media_ip", SIP_HOST))
    add(("local_media_port", str(local_port)))
    add(("advertised_media_ip", SIP_HOST))
    add(("rtp_use_timer_name", "soft"))
    add(("rtp_use_pt", "0"))
    add(("rtp_use_ssrc", str(r.between(1, 4_294_967_295))))
    add(("rtp_2833_send_payload", "101"))
    add(("rtp_2833_recv_payload", "101"))
    add(("remote_media_ip", SIP_HOST))
    add(("remote_media_port", str(remote_port)))


def _painel_block(leg: SynthLeg, fallback: bool, out: list[tuple[str, str]]) -> None:
    """The dialplan's defaults, then the router's multiset moving each variable to the end."""
    p = leg.painel
    add = out.append
    if fallback:
        for key in ("painel_did", "painel_circuit", "painel_direction", "painel_action",
                    "painel_bridge", "painel_hangup_cause", "painel_rule"):
            if p.get(key):
                add((key, p[key]))
        add(("hangup_after_bridge", "true"))
        add(("socket_host", SIP_HOST))
        return
    add(("hangup_after_bridge", "true"))
    add(("socket_host", SIP_HOST))
    for key in ("painel_circuit", "painel_did", "painel_direction", "painel_action",
                "painel_bridge", "painel_hangup_cause", "painel_rule"):
        if p.get(key):
            add((key, p[key]))
    for key, value in p.items():  # anything beyond the contract, kept rather than dropped
        if key not in _PAINEL_ORDER and value:
            add((key, value))


_PAINEL_ORDER = frozenset(("painel_circuit", "painel_did", "painel_direction", "painel_action",
                           "painel_bridge", "painel_hangup_cause", "painel_rule"))


def _call_id(r: _Rand, switchname: str) -> str:
    return f"{r.hex(8)}-{r.hex(4)}-1240-{r.hex(4)}-{_switch_suffix(switchname)}"


def _switch_suffix(switchname: str) -> str:
    return f"{_digest('callid:' + switchname) & 0xFFFFFFFFFFFF:012x}"


def _core_uuid(switchname: str) -> str:
    return call_uuid("core:" + switchname)


def _gmt(uepoch: int) -> str:
    return datetime.fromtimestamp(uepoch // 1_000_000, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def _a_leg_variables(s: _Shape, switchname: str, zone: ZoneInfo | None) -> list[tuple[str, str]]:
    leg = s.leg
    peer = s.peer
    r = _Rand(leg.uuid)
    out: list[tuple[str, str]] = []
    add = out.append
    caller = leg.caller
    dest = leg.destination
    host_port = INTERNAL_PORT if s.outbound_a else EXTERNAL_PORT
    profile = "internal" if s.outbound_a else leg.profile
    answered = s.answered
    start_u = leg.start_uepoch
    o_base = leg.start_epoch - 17_000
    remote_port = r.port()
    local_port = r.port()
    from_tag = r.token()
    to_tag = r.token()
    # the INVITE came from the carrier, or from the circuit's phone
    call_id = _call_id(r, "carrier" if s.did_a else f"phone:{caller}")
    branch = "z9hG4bK" + r.token()
    cseq = str(123_361_000 + r.between(0, 200))
    unanswered_header = not answered  # rejected and failed legs keep the INVITE-time order
    invite_u = start_u - 20_000 if s.outbound_a else start_u
    full_from = f'"{caller}" <sip:{caller}@{SIP_HOST}>;tag={from_tag}'
    full_via = f"SIP/2.0/UDP {SIP_HOST}:{PEER_PORT};rport={PEER_PORT};branch={branch}"
    to_uri = f"{dest}@{SIP_HOST}:{host_port}"

    add(("direction", "inbound"))
    add(("uuid", leg.uuid))
    add(("session_id", str(1 + _digest(leg.uuid) % 99_999)))
    add(("sip_from_user", caller))
    add(("sip_from_uri", f"{caller}@{SIP_HOST}"))
    add(("sip_from_host", SIP_HOST))
    if unanswered_header:
        add(("video_media_flow", "disabled"))
        add(("text_media_flow", "disabled"))
    add(("channel_name", s.chan))
    if unanswered_header:
        add(("sip_call_id", call_id))
    add(("sip_local_network_addr", SIP_HOST))
    add(("sip_network_ip", SIP_HOST))
    add(("sip_network_port", str(PEER_PORT)))
    add(("sip_invite_stamp", str(invite_u)))
    add(("sip_received_ip", SIP_HOST))
    add(("sip_received_port", str(PEER_PORT)))
    add(("sip_via_protocol", "udp"))
    if s.outbound_a:
        user = leg.user_name or caller
        add(("sip_authorized", "true"))
        add(("Event-Name", "REQUEST_PARAMS"))
        add(("Core-UUID", _core_uuid(switchname)))
        add(("FreeSWITCH-Hostname", switchname))
        add(("FreeSWITCH-Switchname", switchname))
        add(("FreeSWITCH-IPv4", SWITCH_IPV4))
        add(("FreeSWITCH-IPv6", SWITCH_IPV6))
        add(("Event-Date-Local", _stamp(invite_u, zone)))
        add(("Event-Date-GMT", _gmt(invite_u)))
        add(("Event-Date-Timestamp", str(invite_u)))
        add(("Event-Calling-File", "sofia.c"))
        add(("Event-Calling-Function", "sofia_handle_sip_i_invite"))
        add(("Event-Calling-Line-Number", "10723"))
        add(("Event-Sequence", str(r.between(500, 99_999))))
        add(("sip_number_alias", user))
        add(("sip_auth_username", user))
        add(("sip_auth_realm", SIP_HOST))
        add(("number_alias", user))
        add(("requested_user_name", user))
        add(("requested_domain_name", SIP_HOST))
        add(("user_context", "painel_outbound"))
        add(("user_name", user))
        add(("domain_name", SIP_HOST))
    add(("sip_from_user_stripped", caller))
    if unanswered_header:
        add(("sip_from_tag", from_tag))
    add(("sofia_profile_name", profile))
    add(("sofia_profile_url", f"sip:mod_sofia@{SIP_HOST}:{host_port}"))
    add(("recovery_profile_name", profile))
    add(("sip_Remote-Party-ID", f'"{caller}" <sip:{caller}@{SIP_HOST}>;party=calling;screen=yes;privacy=off'))
    add(("sip_cid_type", "rpid"))
    if unanswered_header:
        add(("sip_full_via", full_via))
        add(("sip_from_display", caller))
        add(("sip_full_from", full_from))
        add(("sip_full_to", f"<sip:{to_uri}>"))
    add(("sip_allow", SIP_ALLOW))
    add(("sip_req_user", dest))
    add(("sip_req_port", str(host_port)))
    add(("sip_req_uri", to_uri))
    add(("sip_req_host", SIP_HOST))
    add(("sip_to_user", dest))
    add(("sip_to_port", str(host_port)))
    add(("sip_to_uri", to_uri))
    add(("sip_to_host", SIP_HOST))
    add(("sip_contact_user", "mod_sofia"))
    add(("sip_contact_port", str(PEER_PORT)))
    add(("sip_contact_uri", f"mod_sofia@{SIP_HOST}:{PEER_PORT}"))
    add(("sip_contact_host", SIP_HOST))
    if not (answered and s.recv_bye):  # a BYE received later sets (moves) it again
        add(("sip_user_agent", USER_AGENT))
    add(("sip_via_host", SIP_HOST))
    add(("sip_via_port", str(PEER_PORT)))
    add(("sip_via_rport", str(PEER_PORT)))
    add(("max_forwards", "70"))
    for name, value in leg.sip_headers.items():
        add((f"sip_h_{name}", value))
    add(("switch_r_sdp", _sdp_offer(o_base + r.between(0, 999), remote_port)))
    _codec_block(out, offer=True)
    if unanswered_header:
        add(("audio_media_flow", "sendrecv"))
        add(("remote_media_ip", SIP_HOST))
        add(("remote_media_port", str(remote_port)))
    _codec_tail(out)

    did_dp_match = f"ARRAY::{dest}|:{dest}"
    if s.outbound_a:
        if unanswered_header:
            add(("endpoint_disposition", "RECEIVED"))
        add(("DP_MATCH", did_dp_match))
        add(("call_uuid", leg.uuid))
        add(("painel_circuit", leg.painel.get("painel_circuit", leg.user_name or caller)))
        if leg.painel.get("painel_direction"):
            add(("painel_direction", leg.painel["painel_direction"]))
        for key, value in leg.painel.items():
            if key not in ("painel_circuit", "painel_direction") and value:
                add((key, value))
        add(("call_timeout", str(OUTBOUND_CALL_TIMEOUT)))
        add(("hangup_after_bridge", "true"))
        add(("current_application_data", s.dial))
        add(("current_application", "bridge"))
    elif s.rejected:
        add(("endpoint_disposition", "RECEIVED"))
        add(("DP_MATCH", did_dp_match))
        add(("call_uuid", leg.uuid))
        _painel_block(leg, s.fallback, out)
        add(("current_application_data", leg.painel.get("painel_hangup_cause", leg.hangup_cause)))
        add(("current_application", "hangup"))
    else:
        action = "forward" if s.forward else "bridge"
        if unanswered_header:
            add(("endpoint_disposition", "RECEIVED"))
        add(("call_uuid", leg.uuid))
        _painel_block(leg, s.fallback, out)
        add(("DP_MATCH", f"ARRAY::painel_{action}|:{action}"))
        if not (unanswered_header and leg.hangup_cause == "NORMAL_CLEARING"):
            add(("current_application_data", s.dial))
            add(("current_application", "bridge"))
        # else the final `hangup` (no data) unset current_application_data and moved
        # current_application to the end; see below

    if s.rejected:
        _a_hangup(s, out)
        _times(leg, out, zone, bridge_u=0, progress_u=0)
        add(("last_app", "hangup"))
        add(("last_arg", leg.painel.get("painel_hangup_cause", leg.hangup_cause)))
        add(("caller_id", f'"{caller}" <{caller}>'))
        _durations(leg, out, bridge_u=0, progress_u=0)
        add(("sip_hangup_disposition", leg.hangup_disposition or "send_refuse"))
        return out

    assert peer is not None
    b_uuid = peer.uuid
    b_dest = peer.destination
    if not answered:
        cause = s.failed_cause or "NO_ANSWER"
        add(("originate_signal_bond", b_uuid))
        add(("originated_legs", f"{b_uuid};Outbound Call;{b_dest}"))
        if cause == "NO_ANSWER":
            add(("sip_to_tag", to_tag))
            add(("last_bridge_hangup_cause", cause))
        else:
            status, phrase = _SIP_FAILURE.get(cause, (480, "Temporarily Unavailable"))
            add(("sip_invite_failure_status", str(status)))
            add(("sip_invite_failure_phrase", phrase))
            add(("sip_hangup_phrase", phrase))
            add(("last_bridge_hangup_cause", cause))
            add(("last_bridge_proto_specific_hangup_cause", f"sip:{status}"))
        add(("originate_disposition", cause))
        add(("DIALSTATUS", _DIALSTATUS.get(cause, cause)))
        add(("originate_causes", f"{b_uuid};{cause}"))
        add(("originate_failed_cause", cause))
        continues = leg.hangup_cause == "NORMAL_CLEARING" and s.did_a
        if continues:  # the dialplan went on to its final `hangup` (no argument)
            add(("current_application", "hangup"))
        add(("hangup_cause", leg.hangup_cause))
        add(("hangup_cause_q850", str(Q850.get(leg.hangup_cause, 16))))
        progress_u = s.progress if cause != "USER_BUSY" else 0
        _times(leg, out, zone, bridge_u=0, progress_u=progress_u)
        add(("last_app", "hangup" if continues else "bridge"))
        add(("last_arg", "" if continues else s.dial))
        add(("caller_id", f'"{caller}" <{caller}>'))
        _durations(leg, out, bridge_u=0, progress_u=progress_u)
        add(("sip_hangup_disposition", leg.hangup_disposition or "send_refuse"))
        return out

    add(("originated_legs", f"{b_uuid};Outbound Call;{b_dest}"))
    add(("switch_m_sdp", _sdp_answer(o_base + 700 + r.between(0, 999), r.port())))
    add(("video_media_flow", "inactive"))
    add(("text_media_flow", "inactive"))
    add(("audio_media_flow", "sendrecv"))
    add(("rtp_local_sdp_str", _sdp_answer(o_base - 200 + r.between(0, 999), local_port, SIP_HOST, True)))
    _local_media(out, r, local_port, remote_port)
    add(("endpoint_disposition", "ANSWER"))
    add(("originate_disposition", "SUCCESS"))
    add(("DIALSTATUS", "SUCCESS"))
    add(("originate_causes", f"{b_uuid};NONE"))
    add(("sip_to_tag", to_tag))
    add(("sip_from_tag", from_tag))
    add(("sip_cseq", cseq))
    add(("sip_call_id", call_id))
    add(("sip_full_via", full_via))
    add(("sip_from_display", caller))
    add(("sip_full_from", full_from))
    add(("sip_full_to", f"<sip:{to_uri}>;tag={to_tag}"))
    add(("last_bridge_to", b_uuid))
    add(("bridge_channel", s.peer_chan))
    add(("bridge_uuid", leg.bleg_uuid or b_uuid))
    add(("signal_bond", b_uuid))
    add(("last_sent_callee_id_name", b_dest))
    add(("last_sent_callee_id_number", b_dest))
    add(("sip_reason", 'Q.850;cause=16;text="NORMAL_CLEARING"'))
    if s.recv_bye:
        add(("sip_term_status", "200"))
        add(("proto_specific_hangup_cause", "sip:200"))
        add(("sip_term_cause", "16"))
        add(("last_bridge_role", "originator"))
        add(("sip_user_agent", USER_AGENT))
        add(("sip_hangup_disposition", "recv_bye"))
    else:
        add(("sip_hangup_phrase", "OK"))
        add(("last_bridge_hangup_cause", "NORMAL_CLEARING"))
        add(("last_bridge_proto_specific_hangup_cause", "sip:200"))
    add(("bridge_hangup_cause", "NORMAL_CLEARING"))
    add(("hangup_cause", leg.hangup_cause))
    add(("hangup_cause_q850", str(Q850.get(leg.hangup_cause, 16))))
    bridge_u = leg.answer_uepoch
    _times(leg, out, zone, bridge_u=bridge_u, progress_u=s.progress)
    add(("last_app", "bridge"))
    add(("last_arg", s.dial))
    add(("caller_id", f'"{caller}" <{caller}>'))
    _durations(leg, out, bridge_u=bridge_u, progress_u=s.progress)
    if not s.recv_bye:
        add(("sip_hangup_disposition", leg.hangup_disposition or "send_bye"))
    _rtp_variables(_rtp_stats(leg, True), out)
    return out


def _a_hangup(s: _Shape, out: list[tuple[str, str]]) -> None:
    leg = s.leg
    out.append(("hangup_cause", leg.hangup_cause))
    out.append(("hangup_cause_q850", str(Q850.get(leg.hangup_cause, 21))))


def _b_leg_variables(s: _Shape, switchname: str, zone: ZoneInfo | None) -> list[tuple[str, str]]:
    leg = s.leg
    a = s.peer
    r = _Rand(leg.uuid)
    out: list[tuple[str, str]] = []
    add = out.append
    caller = leg.caller
    dest = leg.destination
    a_uuid = leg.originating_leg_uuid or (a.uuid if a is not None else "")
    gateway = s.gateway_b
    profile_port = EXTERNAL_PORT if gateway else INTERNAL_PORT
    answered = s.answered
    o_base = leg.start_epoch - 17_000
    local_port = r.port()
    remote_port = r.port()
    from_tag = r.token()
    to_tag = r.token()
    branch = "z9hG4bK" + r.token()
    call_id = _call_id(r, switchname)  # this switch sent the INVITE
    cseq = str(123_361_000 + r.between(0, 200))
    uri = f"{dest}@{SIP_HOST}:{PEER_PORT}"
    failed = not answered
    busy = failed and leg.hangup_cause != "NO_ANSWER"
    a_offer = _sdp_offer(o_base + r.between(0, 999), r.port())

    add(("direction", "outbound"))
    add(("is_outbound", "true"))
    add(("uuid", leg.uuid))
    add(("session_id", str(1 + _digest(leg.uuid) % 99_999)))
    if gateway:
        add(("sip_gateway_name", GATEWAY))
        add(("sip_profile_name", "gateway"))
    else:
        add(("sip_profile_name", "internal"))
    add(("text_media_flow", "disabled"))
    add(("channel_name", s.chan))
    add(("sip_destination_url", f"sip:{uri}"))
    for name, value in leg.sip_headers.items():
        add((f"sip_h_{name}", value))
    if not gateway:
        add(("sip_cid_type", "rpid"))
    add(("max_forwards", "69"))
    add(("originator_codec", "PCMU@8000h@20i"))
    add(("originator", a_uuid))
    if failed:
        add(("signal_bond", a_uuid))
    add(("switch_m_sdp", a_offer))
    # variables from the {...} of the dial string (the forwarded leg's painel_*)
    for key in ("painel_direction", "painel_circuit"):
        if leg.painel.get(key):
            add((key, leg.painel[key]))
    for key, value in leg.painel.items():
        if key not in ("painel_direction", "painel_circuit") and value:
            add((key, value))
    if failed:
        add(("call_uuid", a_uuid))
    add(("originate_early_media", "true"))
    add(("originating_leg_uuid", a_uuid))
    add(("originate_endpoint", "sofia"))
    if failed:
        add(("rtp_use_codec_string", "PCMU@8000h@20i"))
        add(("local_media_ip", SIP_HOST))
        add(("local_media_port", str(local_port)))
        add(("advertised_media_ip", SIP_HOST))
    add(("audio_media_flow", "sendrecv"))
    add(("video_media_flow", "inactive"))
    add(("rtp_local_sdp_str", _sdp_answer(o_base + 150 + r.between(0, 999), local_port, SIP_HOST, True)))
    contact = (f"<sip:gw+{GATEWAY}@{SIP_HOST}:{EXTERNAL_PORT};transport=udp;gw={GATEWAY}>" if gateway
               else f"<sip:mod_sofia@{SIP_HOST}:{INTERNAL_PORT}>")
    add(("sip_outgoing_contact_uri", contact))
    add(("sip_req_uri", uri))
    profile = "external" if gateway else "internal"
    if busy:
        add(("sip_to_host", f"{SIP_HOST}:{PEER_PORT}"))
        add(("sip_from_host", SIP_HOST))
    add(("sofia_profile_name", profile))
    add(("recovery_profile_name", profile))
    add(("sofia_profile_url", f"sip:mod_sofia@{SIP_HOST}:{profile_port}"))
    if busy:
        add(("sip_call_id", call_id))
    add(("sip_local_network_addr", SIP_HOST))
    add(("sip_reply_host", SIP_HOST))
    add(("sip_reply_port", str(PEER_PORT)))
    add(("sip_network_ip", SIP_HOST))
    add(("sip_network_port", str(PEER_PORT)))
    if busy:
        status, phrase = _SIP_FAILURE.get(leg.hangup_cause, (480, "Temporarily Unavailable"))
        add(("sip_hangup_disposition", leg.hangup_disposition or "recv_refuse"))
        add(("sip_invite_failure_status", str(status)))
        add(("sip_invite_failure_phrase", phrase))
        add(("sip_term_status", str(status)))
        add(("proto_specific_hangup_cause", f"sip:{status}"))
        add(("sip_term_cause", str(Q850.get(leg.hangup_cause, 17))))
    else:
        if failed or not s.recv_bye:
            add(("sip_user_agent", USER_AGENT))
        add(("sip_allow", SIP_ALLOW))
        add(("sip_recover_contact", f"<sip:{uri};transport=udp>"))
        via = f"SIP/2.0/UDP {SIP_HOST}:{profile_port};rport={profile_port};branch={branch}"
        add(("sip_full_via", via))
        add(("sip_recover_via", via))
        add(("sip_from_display", caller))
        add(("sip_full_from", f'"{caller}" <sip:{caller}@{SIP_HOST}>;tag={from_tag}'))
        add(("sip_full_to", f"<sip:{uri}>;tag={to_tag}"))
        add(("sip_from_user", caller))
        add(("sip_from_uri", f"{caller}@{SIP_HOST}"))
        add(("sip_from_host", SIP_HOST))
        add(("sip_to_user", dest))
        add(("sip_to_port", str(PEER_PORT)))
        add(("sip_to_uri", uri))
        add(("sip_to_host", SIP_HOST))
        add(("sip_contact_params", "transport=udp"))
        add(("sip_contact_user", dest))
        add(("sip_contact_port", str(PEER_PORT)))
        add(("sip_contact_uri", uri))
        add(("sip_contact_host", SIP_HOST))
        add(("sip_to_tag", to_tag))
        add(("sip_from_tag", from_tag))
        add(("sip_cseq", cseq))
        add(("sip_call_id", call_id))

    if failed:
        add(("hangup_cause", leg.hangup_cause))
        add(("hangup_cause_q850", str(Q850.get(leg.hangup_cause, 19))))
        progress_u = 0 if busy else (s.progress or leg.start_uepoch)
        _times(leg, out, zone, bridge_u=0, progress_u=progress_u)
        add(("caller_id", f'"{caller}" <{caller}>'))
        _durations(leg, out, bridge_u=0, progress_u=progress_u)
        if not busy:
            status, phrase = _SIP_FAILURE.get(leg.hangup_cause, (487, "CANCEL"))
            add(("sip_hangup_disposition", leg.hangup_disposition or "send_cancel"))
            add(("sip_invite_failure_status", str(status)))
            add(("sip_invite_failure_phrase", phrase))
        return out

    add(("switch_r_sdp", _sdp_answer(o_base + 600 + r.between(0, 999), remote_port)))
    _codec_block(out, offer=False)
    _codec_tail(out)
    _local_media(out, r, local_port, remote_port)
    add(("endpoint_disposition", "ANSWER"))
    if s.recv_bye:
        add(("call_uuid", a_uuid))
    add(("last_bridge_to", a_uuid))
    add(("bridge_channel", s.peer_chan))
    add(("bridge_uuid", a_uuid))
    add(("signal_bond", a_uuid))
    add(("last_sent_callee_id_name", caller))
    add(("last_sent_callee_id_number", caller))
    add(("sip_reason", 'Q.850;cause=16;text="NORMAL_CLEARING"'))
    if s.recv_bye:
        add(("sip_term_status", "200"))
        add(("proto_specific_hangup_cause", "sip:200"))
        add(("sip_term_cause", "16"))
        add(("last_bridge_role", "originatee"))
        add(("sip_user_agent", USER_AGENT))
        add(("sip_hangup_disposition", "recv_bye"))
    else:
        add(("sip_hangup_phrase", "OK"))
        add(("last_bridge_hangup_cause", "NORMAL_CLEARING"))
        add(("last_bridge_proto_specific_hangup_cause", "sip:200"))
    add(("hangup_cause", leg.hangup_cause))
    add(("hangup_cause_q850", str(Q850.get(leg.hangup_cause, 16))))
    bridge_u = a.answer_uepoch if a is not None and a.answer_epoch else leg.answer_uepoch
    progress_u = s.progress or leg.start_uepoch
    _times(leg, out, zone, bridge_u=bridge_u, progress_u=progress_u)
    add(("caller_id", f'"{caller}" <{caller}>'))
    _durations(leg, out, bridge_u=bridge_u, progress_u=progress_u)
    if not s.recv_bye:
        add(("sip_hangup_disposition", leg.hangup_disposition or "send_bye"))
    _rtp_variables(_rtp_stats(leg, False), out)
    if not s.recv_bye:
        add(("bridge_hangup_cause", "NORMAL_CLEARING"))
        add(("call_uuid", leg.uuid))
    return out


# -- app_log and callflow -------------------------------------------------------------------------


def _app_log(s: _Shape) -> dict[str, list[dict[str, str]]]:
    leg = s.leg
    t0 = leg.start_uepoch
    apps: list[dict[str, str]] = []

    def app(name: str, data: str, at: int) -> None:
        apps.append({"app_name": name, "app_data": data, "app_stamp": str(at)})

    if s.outbound_a:
        circuit = leg.painel.get("painel_circuit", leg.user_name or leg.caller)
        at = t0 + 1_760
        for data in (f"painel_circuit={circuit}", "painel_direction=outbound",
                     f"call_timeout={OUTBOUND_CALL_TIMEOUT}", "hangup_after_bridge=true"):
            app("set", data, at)
            at += 260
        app("bridge", s.dial, at)
        return {"applications": apps}

    p = leg.painel
    circuit = p.get("painel_circuit", "")
    did = p.get("painel_did", leg.destination)
    at = t0 + 15_000
    for data in (f"painel_did={did}", f"painel_circuit={circuit}", "painel_direction=inbound",
                 "painel_action=bridge", f"painel_bridge={_did_dial_string(circuit)}",
                 "painel_rule=fallback", "hangup_after_bridge=true"):
        app("set", data, at)
        at += 220
    app("socket", f"{ROUTER_ADDRESS} async full", t0 + 16_800)
    action = p.get("painel_action", "bridge")
    if s.fallback:
        at = t0 + 17_100
    else:
        fields = "|".join(f"{k}={p.get(k, '')}" for k in (
            "painel_circuit", "painel_did", "painel_direction", "painel_action", "painel_bridge",
            "painel_hangup_cause", "painel_rule"))
        app("multiset", f"^^|{fields}", t0 + 55_000)
        at = t0 + 97_000
    app("log", (f"INFO painel after socket: action={action} rule={p.get('painel_rule', '')} "
                f"direction={p.get('painel_direction', '')} circuit={circuit} "
                f"bridge={p.get('painel_bridge', '')} cause={p.get('painel_hangup_cause', '')}"), at)
    app("execute_extension", f"painel_{action} XML painel_actions", at + 200)
    if s.rejected:
        app("hangup", p.get("painel_hangup_cause", leg.hangup_cause), at + 500)
    else:
        app("bridge", s.dial, at + 500)
        if not s.answered and leg.hangup_cause == "NORMAL_CLEARING":
            app("hangup", "", leg.end_uepoch - 500)
    return {"applications": apps}


_DID_EXTENSION_APPS = (
    ("set", "painel_did={did}"),
    ("set", "painel_circuit={circuit}"),
    ("set", "painel_direction=inbound"),
    ("set", "painel_action=bridge"),
    ("set", "painel_bridge={bridge}"),
    ("set", "painel_rule=fallback"),
    ("set", "hangup_after_bridge=true"),
    ("socket", ROUTER_ADDRESS + " async full"),
    ("log", "INFO painel after socket: action=${painel_action} rule=${painel_rule} "
            "direction=${painel_direction} circuit=${painel_circuit} bridge=${painel_bridge} "
            "cause=${painel_hangup_cause}"),
    ("execute_extension", "painel_${painel_action} XML painel_actions"),
)


def _extension(s: _Shape) -> dict[str, object]:
    leg = s.leg
    if s.outbound_a:
        return {
            "name": "painel_outbound_carrier",
            "number": leg.destination,
            "applications": [
                {"app_name": "set", "app_data": "painel_circuit=${user_name}"},
                {"app_name": "set", "app_data": "painel_direction=outbound"},
                {"app_name": "set", "app_data": f"call_timeout={OUTBOUND_CALL_TIMEOUT}"},
                {"app_name": "set", "app_data": "hangup_after_bridge=true"},
                {"app_name": "bridge", "app_data": s.dial},
            ],
        }
    p = leg.painel
    circuit = p.get("painel_circuit", "")
    values = {"did": p.get("painel_did", leg.destination), "circuit": circuit,
              "bridge": _did_dial_string(circuit)}
    apps: list[dict[str, str]] = [
        {"app_name": name, "app_data": data.format(**values) if "{" in data and "${" not in data else data}
        for name, data in _DID_EXTENSION_APPS
    ]
    apps.append({"last_executed": "true", "app_name": "hangup", "app_data": ""})
    action = p.get("painel_action", "bridge")
    if action == "reject":
        sub = {"name": "painel_reject", "number": "painel_reject", "dialplan": "XML",
               "applications": [{"app_name": "hangup", "app_data": "${painel_hangup_cause}"}]}
    else:
        sub = {"name": "painel_bridge_or_forward", "number": f"painel_{action}", "dialplan": "XML",
               "applications": [{"app_name": "bridge", "app_data": "${painel_bridge}"}]}
    return {
        "name": "painel_inbound",
        "number": leg.destination,
        "applications": apps,
        "current_app": "hangup",
        "sub_extensions": [sub],
    }


def _profile(caller: str, destination: str, uuid: str, context: str, chan: str) -> dict[str, object]:
    return {
        "username": caller,
        "dialplan": "XML",
        "caller_id_name": caller,
        "ani": caller,
        "aniii": "",
        "caller_id_number": caller,
        "network_addr": SIP_HOST,
        "rdnis": "",
        "destination_number": destination,
        "uuid": uuid,
        "source": "mod_sofia",
        "context": context,
        "chan_name": chan,
    }


def _callflow(s: _Shape) -> list[dict[str, object]]:
    leg = s.leg
    peer = s.peer
    flow: dict[str, object] = {"dialplan": "XML", "profile_index": "1"}
    if s.is_a:
        flow["extension"] = _extension(s)
    profile = _profile(leg.caller, leg.destination, leg.uuid, leg.context, s.chan)
    if s.is_a and s.answered and peer is not None:
        profile["originatee"] = {"originatee_caller_profiles": [
            _profile(peer.caller, peer.destination, peer.uuid, peer.context, s.peer_chan)]}
    elif not s.is_a:
        if peer is not None:
            a_uuid = peer.uuid
            if peer.context == "painel_outbound" or peer.user_name is not None:
                a_dest, a_context = peer.destination, peer.context
            else:
                a_dest = f"painel_{peer.painel.get('painel_action', 'bridge')}"
                a_context = "painel_actions"
            a_caller = peer.caller
        else:
            a_uuid = leg.originating_leg_uuid or ""
            a_dest, a_context, a_caller = leg.destination, leg.context, leg.caller
        profile["originator"] = {"originator_caller_profiles": [
            _profile(a_caller, a_dest, a_uuid, a_context, s.peer_chan)]}
    flow["caller_profile"] = profile
    answer_u = leg.answer_uepoch
    if s.is_a:
        bridge_u = answer_u
    else:
        bridge_u = peer.answer_uepoch if peer is not None and answer_u else answer_u
    progress_u = _progress_of(s)
    flow["times"] = {
        "created_time": str(leg.start_uepoch),
        "profile_created_time": str(leg.start_uepoch),
        "progress_time": str(progress_u),
        "progress_media_time": "0",
        "answered_time": str(answer_u),
        "bridged_time": str(bridge_u),
        "last_hold_time": "0",
        "hold_accum_time": "0",
        "hangup_time": str(leg.end_uepoch),
        "resurrect_time": "0",
        "transfer_time": "0",
    }
    return [flow]


def _progress_of(s: _Shape) -> int:
    leg = s.leg
    if s.rejected:
        return 0
    if s.is_a:
        if not s.answered and s.failed_cause == "USER_BUSY":
            return 0
        return s.progress
    if not s.answered and leg.hangup_cause != "NO_ANSWER":
        return 0
    return s.progress or leg.start_uepoch


def _channel_data(s: _Shape) -> dict[str, str]:
    leg = s.leg
    if s.is_a:
        if s.answered:
            flags = _FLAGS_A_ANSWERED_RECV_BYE if s.recv_bye else _FLAGS_A_ANSWERED
        elif s.rejected:
            flags = _FLAGS_A_REJECTED
        else:
            flags = _FLAGS_A_BUSY if s.failed_cause == "USER_BUSY" else _FLAGS_A_NO_ANSWER
    elif s.answered:
        flags = _FLAGS_B_ANSWERED
    else:
        flags = _FLAGS_B_NO_ANSWER if leg.hangup_cause == "NO_ANSWER" else _FLAGS_B_BUSY
    return {"state": "CS_REPORTING", "direction": leg.channel_direction, "state_number": "11",
            "flags": flags, "caps": _CAPS}


def json_cdr(leg: SynthLeg, *, encode_values: bool = True, switchname: str = "fs1",
             switch_tz: str = "UTC") -> str:
    """One mod_json_cdr document for ``leg``: compact JSON ending in a newline, as the module's
    log-dir files are. ``encode_values`` mirrors the module's ``encode-values`` setting."""
    s = _Shape(leg)
    zone = _zone(switch_tz)
    variables = _variables(s, switchname, zone)
    if encode_values:
        enc = fs_url_encode
        var_obj = {k: enc(v) for k, v in variables}
    else:
        var_obj = dict(variables)
    doc: dict[str, object] = {
        "core-uuid": _core_uuid(switchname),
        "switchname": switchname,
        "channel_data": _channel_data(s),
        "callStats": {"audio": _rtp_stats(leg, s.is_a)} if s.answered else {},
        "variables": var_obj,
    }
    if s.is_a:
        doc["app_log"] = _app_log(s)
    doc["callflow"] = _callflow(s)
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False) + "\n"


# -- mod_cdr_csv ----------------------------------------------------------------------------------


def _csv_values(leg: SynthLeg, switch_tz: str) -> dict[str, str]:
    s = _Shape(leg)
    values: dict[str, str] = dict(_variables(s, "fs1", _zone(switch_tz)))
    # switch_channel_get_variable falls back to the caller profile's fields, and to the
    # originatee's / originator's for a bleg_ / aleg_ prefix (so ${bleg_uuid} is set only
    # on an a-leg whose bridge succeeded)
    prof = _callflow(s)[0]["caller_profile"]
    assert isinstance(prof, dict)
    for key, value in prof.items():
        if isinstance(value, str):
            values.setdefault(key, value)
    for block, prefix in (("originatee", "bleg_"), ("originator", "aleg_")):
        sub = prof.get(block)
        if isinstance(sub, dict):
            for other in sub.get(f"{block}_caller_profiles", [])[:1]:
                for key, value in other.items():
                    values.setdefault(prefix + key, value)
    return values


def csv_line(leg: SynthLeg, template_fields: Sequence[str], switch_tz: str = "UTC") -> str:
    """One mod_cdr_csv line (no newline): every field quoted, values verbatim as FreeSWITCH
    expands them (no escaping), unknown variables empty; stamps in ``switch_tz``."""
    values = _csv_values(leg, switch_tz)
    get = values.get
    return '"' + '","'.join([get(name, "") for name in template_fields]) + '"'


# -- traffic --------------------------------------------------------------------------------------

#: DDDs of other areas that callers come from and long-distance calls go to
_OTHER_DDDS = ("11", "21", "31", "41", "51", "61", "71", "81", "85", "86", "98", "99", "27", "48",
               "62", "91", "92", "19", "47", "83")
_CSPS = ("21", "15", "41")
#: ddd prefix -> UTC offset in hours (Brazil has no DST since 2019)
_DDD_OFFSET = {"65": -4, "66": -4, "67": -4, "68": -5, "69": -4, "92": -4, "95": -4, "97": -4}

_OUT_CATEGORIES = (
    ("local_fixo", 35), ("movel_local", 30), ("ldn_fixo", 12), ("movel_ldn", 10),
    ("0800", 3), ("especial", 3), ("internacional", 2),
)
_HOUR_WEIGHTS_WEEKDAY = (0.1, 0.05, 0.05, 0.05, 0.05, 0.1, 0.3, 0.8, 1.8, 2.8, 3.2, 3.0,
                         1.8, 2.0, 2.9, 3.1, 2.9, 2.3, 1.5, 1.0, 0.8, 0.6, 0.4, 0.2)
_HOUR_WEIGHTS_WEEKEND = (0.15, 0.1, 0.05, 0.05, 0.05, 0.1, 0.2, 0.4, 0.8, 1.2, 1.5, 1.6,
                         1.5, 1.3, 1.2, 1.2, 1.2, 1.2, 1.2, 1.1, 1.0, 0.8, 0.5, 0.3)
#: Mon..Sun multipliers of the daily volume (weekends lighter); the mean over a week is ~1
_WEEKDAY_FACTOR = (1.12, 1.15, 1.15, 1.12, 1.08, 0.6, 0.35)
#: fixed national holidays (month, day): traffic like a Sunday
_HOLIDAYS = frozenset({(1, 1), (4, 21), (5, 1), (9, 7), (10, 12), (11, 2), (11, 15), (11, 20),
                       (12, 25)})
#: international destinations: country code + national number pattern ("#" any digit)
_INTERNATIONAL = (
    ("1", ("212", "305", "407", "617", "718", "786", "954", "415"), "[2-9]######"),
    ("351", ("21", "22"), "#######"),
    ("351", ("91", "93", "96"), "#######"),
    ("54", ("11",), "4#######"),
    ("34", ("91", "93"), "#######"),
    ("39", ("06",), "########"),
    ("49", ("30",), "########"),
    ("33", ("1",), "4#######"),
    ("44", ("20",), "7#######"),
    ("595", ("21",), "######"),
)


@dataclass(slots=True)
class TrafficProfile:
    """Who calls a circuit and whom it calls: the pools generate_traffic draws from."""

    circuit: str
    home_ddd: str
    dids: list[str]
    followme: str | None
    callers: list[str]  # E.164 without "+", most frequent first
    caller_weights: list[float]
    blacklist: list[str]  # callers the circuit blocks (E.164 without "+")
    frequent_dialed: dict[str, list[str]]  # category -> numbers it calls often, as dialed
    acb: bool  # accepts collect calls
    utc_offset: int  # hours


def _rand_fixed(rng: random.Random) -> str:
    return f"{rng.randint(2, 5)}{rng.randrange(0, 10_000_000):07d}"


def _rand_mobile(rng: random.Random) -> str:
    return f"9{rng.randint(6, 9)}{rng.randrange(0, 10_000_000):07d}"


def _other_ddd(rng: random.Random, home: str) -> str:
    while True:
        ddd = rng.choice(_OTHER_DDDS)
        if ddd != home:
            return ddd


def _rand_caller(rng: random.Random, home: str) -> str:
    ddd = home if rng.random() < 0.6 else _other_ddd(rng, home)
    number = _rand_mobile(rng) if rng.random() < 0.6 else _rand_fixed(rng)
    return f"55{ddd}{number}"


def _pattern(rng: random.Random, pattern: str) -> str:
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "#":
            out.append(str(rng.randrange(10)))
        elif ch == "[":
            j = pattern.index("]", i)
            lo, hi = pattern[i + 1:j].split("-")
            out.append(str(rng.randint(int(lo), int(hi))))
            i = j
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _dialed(rng: random.Random, category: str, home: str) -> str:
    """A number as a subscriber of DDD ``home`` dials it, for one call category."""
    if category == "local_fixo":
        return _rand_fixed(rng)
    if category == "movel_local":
        return _rand_mobile(rng)
    if category == "ldn_fixo":
        return f"0{rng.choice(_CSPS)}{_other_ddd(rng, home)}{_rand_fixed(rng)}"
    if category == "movel_ldn":
        return f"0{rng.choice(_CSPS)}{_other_ddd(rng, home)}{_rand_mobile(rng)}"
    if category == "0800":
        return f"0800{rng.randint(2, 9)}{rng.randrange(0, 1_000_000):06d}"
    if category == "especial":
        if rng.random() < 0.5:
            return f"0300{rng.randint(2, 9)}{rng.randrange(0, 1_000_000):06d}"
        return f"{rng.choice(('4004', '3003', '4003'))}{rng.randrange(0, 10_000):04d}"
    if category == "internacional":
        country, areas, rest = rng.choice(_INTERNATIONAL)
        return f"00{rng.choice(_CSPS)}{country}{rng.choice(areas)}{_pattern(rng, rest)}"
    raise ValueError(f"unknown category {category!r}")


def traffic_profile(circuit: dict, *, seed: int = 1) -> TrafficProfile:
    """The caller pool, blacklist and frequent destinations generate_traffic uses for a circuit.

    ``circuit`` is ``{"number", "home_ddd", "dids", "followme_destination"}``; optional keys:
    ``"blacklist"`` (numbers in E.164 without "+", to use instead of generated ones) and ``"acb"``
    (accepts collect calls; by default decided by the seed).
    """
    number = str(circuit["number"])
    home = str(circuit["home_ddd"])
    rng = random.Random(f"profile:{seed}:{number}")
    size = rng.randint(25, 60)
    callers: list[str] = []
    seen: set[str] = set()
    while len(callers) < size:
        c = _rand_caller(rng, home)
        if c not in seen:
            seen.add(c)
            callers.append(c)
    weights = [1.0 / (i + 1) ** 0.9 for i in range(len(callers))]
    given = [str(n).lstrip("+") for n in circuit.get("blacklist") or () if len(str(n).lstrip("+")) >= 12]
    if given:
        blacklist = given
    else:
        blacklist = []
        while len(blacklist) < 3:  # insistent callers, often from São Paulo's telemarketing
            c = f"55{rng.choice(('11', '11', '21', home))}{_rand_mobile(rng) if rng.random() < 0.5 else _rand_fixed(rng)}"
            if c not in seen:
                seen.add(c)
                blacklist.append(c)
    # a few numbers per category that the circuit calls again and again
    frequent = {cat: [_dialed(rng, cat, home) for _ in range(1 + rng.randrange(max(1, w // 5)))]
                for cat, w in _OUT_CATEGORIES}
    acb = circuit.get("acb")
    if acb is None:
        acb = rng.random() < 0.5
    return TrafficProfile(
        circuit=number,
        home_ddd=home,
        dids=[str(d) for d in circuit.get("dids") or ()],
        followme=circuit.get("followme_destination") or None,
        callers=callers,
        caller_weights=weights,
        blacklist=blacklist,
        frequent_dialed=frequent,
        acb=bool(acb),
        utc_offset=_DDD_OFFSET.get(home, -3),
    )


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit = math.exp(-lam)
    k = 0
    p = rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _talk_seconds(rng: random.Random) -> int:
    """Log-normal, median ~60 s, long tail capped at 1 h; a few 1-10 s calls."""
    if rng.random() < 0.06:
        return rng.randint(1, 10)
    return max(1, min(3600, round(math.exp(rng.gauss(math.log(60), 1.0)))))


def _ring_seconds(rng: random.Random) -> int:
    return max(1, min(30, round(math.exp(rng.gauss(math.log(6), 0.5)))))


def _outcome(rng: random.Random) -> str:
    x = rng.random()
    if x < 0.15:
        return "no_answer"
    if x < 0.20:
        return "busy"
    return "answered"


def _circuit_stream(prof: TrafficProfile, start: datetime, end: datetime, seed: int,
                    rate: float) -> Iterator[tuple[int, str, SynthCall]]:
    """One circuit's calls in [start, end), sorted, one local day at a time."""
    rng = random.Random(f"traffic:{seed}:{prof.circuit}")
    start_s = int(start.timestamp())
    end_s = int(end.timestamp())
    off = prof.utc_offset * 3600
    has_dids = bool(prof.dids)
    kinds: list[str] = []
    weights: list[float] = []
    for kind, weight in (("inbound", 46), ("fallback", 1), ("outbound", 43), ("collect", 3),
                         ("blacklisted", 3), ("forwarded", 4)):
        if kind != "outbound" and not has_dids:
            continue
        if kind == "forwarded" and not prof.followme:
            kind, weight = "inbound", weight  # without follow-me those calls simply ring
        kinds.append(kind)
        weights.append(weight)
    did_weights = [3.0] + [1.0] * (len(prof.dids) - 1) if has_dids else []
    cats = [c for c, _ in _OUT_CATEGORIES]
    cat_w = [w for _, w in _OUT_CATEGORIES]

    day = datetime.fromtimestamp(start_s + off, UTC).date()
    last_day = datetime.fromtimestamp(end_s - 1 + off, UTC).date() if end_s > start_s else day
    while day <= last_day:
        day_start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) - off
        weekend = day.weekday() >= 5 or (day.month, day.day) in _HOLIDAYS
        factor = 0.35 if (day.month, day.day) in _HOLIDAYS else _WEEKDAY_FACTOR[day.weekday()]
        hours = _HOUR_WEIGHTS_WEEKEND if weekend else _HOUR_WEIGHTS_WEEKDAY
        day_rng = random.Random(f"{seed}:{prof.circuit}:{day.isoformat()}:{rng.random()}")
        count = _poisson(day_rng, rate * factor)
        calls: list[tuple[int, str, SynthCall]] = []
        for i in range(count):
            hour = day_rng.choices(range(24), hours)[0]
            t = day_start + hour * 3600 + day_rng.randrange(3600)
            kind = day_rng.choices(kinds, weights)[0]
            # decide everything before the window check so the stream does not depend on it
            call = _make_call(day_rng, prof, kind, t, f"{seed}:{prof.circuit}:{day.isoformat()}:{i}",
                              did_weights, cats, cat_w)
            if start_s <= t < end_s:
                calls.append((t, call.a.uuid, call))
        calls.sort(key=itemgetter(0, 1))
        yield from calls
        day += timedelta(days=1)


def _make_call(rng: random.Random, prof: TrafficProfile, kind: str, t: int, seed: str,
               did_weights: list[float], cats: list[str], cat_w: list[int]) -> SynthCall:
    talk = _talk_seconds(rng)
    ring = _ring_seconds(rng)
    outcome = _outcome(rng)
    hangup_by = "caller" if rng.random() < 0.4 else "callee"
    if kind == "outbound":
        category = rng.choices(cats, cat_w)[0]
        frequent = prof.frequent_dialed.get(category)
        if frequent and rng.random() < 0.45:
            other = rng.choice(frequent)
        else:
            other = _dialed(rng, category, prof.home_ddd)
        return scenario_call("outbound", circuit=prof.circuit, did=None, other=other, start_epoch=t,
                             talk_seconds=talk, ring_seconds=ring, uuid_seed=seed, outcome=outcome,
                             hangup_by=hangup_by)
    did = rng.choices(prof.dids, did_weights)[0]
    caller = rng.choices(prof.callers, prof.caller_weights)[0]
    if kind == "blacklisted":
        caller = rng.choice(prof.blacklist)
        return scenario_call("blacklisted", circuit=prof.circuit, did=did, other=caller, start_epoch=t,
                             talk_seconds=0, uuid_seed=seed)
    if kind == "collect":
        kind = "collect_accepted" if prof.acb else "collect_rejected"
        if kind == "collect_rejected":
            return scenario_call(kind, circuit=prof.circuit, did=did, other=caller, start_epoch=t,
                                 talk_seconds=0, uuid_seed=seed)
    if kind == "forwarded":
        assert prof.followme
        return scenario_call("forwarded", circuit=prof.circuit, did=did, other=prof.followme,
                             caller=caller, start_epoch=t, talk_seconds=talk, ring_seconds=ring,
                             uuid_seed=seed, outcome=outcome, hangup_by=hangup_by)
    return scenario_call(kind, circuit=prof.circuit, did=did, other=caller, start_epoch=t,
                         talk_seconds=talk, ring_seconds=ring, uuid_seed=seed, outcome=outcome,
                         hangup_by=hangup_by)


def generate_traffic(circuits: list[dict], start: datetime, end: datetime, *, seed: int = 1,
                     calls_per_circuit_per_day: float = 6.0) -> Iterator[SynthCall]:
    """Plausible Brazilian traffic for ``circuits`` between ``start`` and ``end``, by start time.

    Deterministic for a seed. Per circuit and local day a Poisson number of calls (weekdays and
    business hours heavier, weekends and national holidays lighter). Mix: ~46% received on a DID,
    ~43% outbound (local fixo 35%, móvel local 30%, LDN fixo 12%, móvel LDN 10%, 0800 3%,
    0300/400x 3%, international 2%), 3% collect (accepted or refused per the circuit's ACB),
    3% from blacklisted callers, 4% follow-me when the circuit has a destination, ~1% with the
    router down. Of the calls that ring: 15% unanswered, 5% busy. Talk time is log-normal
    (median ~60 s, up to 1 h). Received calls come from a per-circuit pool of callers, so the
    same numbers call again (see ``traffic_profile``).
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    streams = [
        _circuit_stream(traffic_profile(c, seed=seed), start, end, seed, calls_per_circuit_per_day)
        for c in circuits
    ]
    for _, _, call in heapq.merge(*streams, key=itemgetter(0, 1)):
        yield call


# -- benchmark rows -------------------------------------------------------------------------------

#: the per-row values bench_csv_rows fills in; every other column is constant per kind of leg
_BENCH_DYNAMIC = (
    "uuid", "bleg_uuid", "originating_leg_uuid", "originator", "caller_id_number",
    "caller_id_name", "destination_number", "start_stamp", "answer_stamp", "end_stamp",
    "duration", "billsec", "start_epoch", "answer_epoch", "end_epoch", "painel_circuit",
    "painel_did", "sip_from_user", "user_name", "ani", "username", "call_uuid",
)
_BENCH_KINDS = (
    # (kind, outcome, weight in calls)
    ("inbound", "answered", 36), ("inbound", "no_answer", 6), ("inbound", "busy", 2),
    ("outbound", "answered", 32), ("outbound", "no_answer", 7), ("outbound", "busy", 3),
    ("blacklisted", "answered", 3), ("collect_rejected", "answered", 2),
    ("collect_accepted", "answered", 2), ("forwarded", "answered", 4), ("fallback", "answered", 1),
)


def _bench_template(fields: Sequence[str], leg: SynthLeg) -> tuple[str, itemgetter | None]:
    """A %-format line for one kind of leg and the getter of its dynamic values."""
    static = _csv_values(leg, "UTC")
    parts: list[str] = []
    idx: list[int] = []
    for name in fields:
        if name in _BENCH_DYNAMIC:
            parts.append("%s")
            idx.append(_BENCH_DYNAMIC.index(name))
        else:
            parts.append(static.get(name, "").replace("%", "%%"))
    fmt = '"' + '","'.join(parts) + '"'
    if not idx:
        return fmt, None
    return fmt, itemgetter(*idx) if len(idx) > 1 else _single(idx[0])


def _single(i: int) -> Callable[[tuple[str, ...]], tuple[str]]:
    """itemgetter of one index returns a bare value; the format wants a 1-tuple."""
    return lambda t: (t[i],)


def bench_csv_rows(n: int, circuits: list[dict], template_fields: list[str], *,
                   seed: int = 7) -> Iterator[str]:
    """``n`` mod_cdr_csv lines (a- and b-legs each count) for the ingest benchmark; fast.

    The legs have the same shape as ``scenario_call``'s (painel columns on a-legs and the
    forwarded b-leg only, b-leg first as FreeSWITCH writes them), but each kind of leg is
    rendered once into a format string and only uuids, numbers and times vary per row.
    """
    if n <= 0:
        return
    if not circuits:
        raise ValueError("bench_csv_rows needs at least one circuit")
    rng = random.Random(seed)
    fields = list(template_fields)
    profs = [traffic_profile(c, seed=seed) for c in circuits]

    # one rendered template per (kind, outcome, leg)
    templates: dict[tuple[str, str], tuple[tuple[str, object], ...]] = {}
    for kind, outcome, _ in _BENCH_KINDS:
        call = scenario_call(kind, circuit="8011441", did="5598987654321", other="5586999990000",
                             caller="5586999990000", start_epoch=1_700_000_000, talk_seconds=30,
                             uuid_seed=f"bench:{kind}:{outcome}", outcome=outcome,
                             hangup_by="callee")
        rendered = tuple((leg.leg, _bench_template(fields, leg)) for leg in call.hangup_order())
        templates[(kind, outcome)] = rendered  # type: ignore[assignment]
    kinds = [(k, o) for k, o, _ in _BENCH_KINDS]
    cum: list[float] = []
    total = 0.0
    for _, _, w in _BENCH_KINDS:
        total += w
        cum.append(total)

    # stamps: one "YYYY-MM-DD " prefix per day, one "HH:MM:SS" per second of the day
    hms = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]
    day_prefix: dict[int, str] = {}

    def stamp(epoch: int) -> str:
        d, sec = divmod(epoch, 86_400)
        p = day_prefix.get(d)
        if p is None:
            p = day_prefix[d] = datetime.fromtimestamp(d * 86_400, UTC).strftime("%Y-%m-%d ")
        return p + hms[sec]

    getbits = rng.getrandbits
    rand = rng.random
    t = int(datetime(2025, 8, 1, tzinfo=UTC).timestamp())
    emitted = 0
    # pre-drawn pools keep the inner loop to lookups
    cats = [c for c, _ in _OUT_CATEGORIES]
    cat_w = [w for _, w in _OUT_CATEGORIES]
    pool_dialed = [[_dialed(rng, c, p.home_ddd) for c in rng.choices(cats, cat_w, k=64)]
                   for p in profs]
    talks = [_talk_seconds(rng) for _ in range(4096)]
    rings = [_ring_seconds(rng) for _ in range(256)]
    nprof = len(profs)


    while emitted < n:
        t += 1 + (getbits(4))  # ~8 s between calls, over the whole platform
        x = rand() * total
        kind, outcome = kinds[bisect_right(cum, x)]
        i = getbits(20) % nprof
        prof = profs[i]
        circuit = prof.circuit
        u = f"{getbits(128):032x}"
        a_uuid = f"{u[:8]}-{u[8:12]}-4{u[13:16]}-a{u[17:20]}-{u[20:]}"
        u = f"{getbits(128):032x}"
        b_uuid = f"{u[:8]}-{u[8:12]}-4{u[13:16]}-b{u[17:20]}-{u[20:]}"
        talk = talks[getbits(12)]
        ring = rings[getbits(8)]
        if kind == "outbound":
            caller = circuit
            dest = pool_dialed[i][getbits(6)]
            did = ""
            b_dest = dest
        else:
            did = prof.dids[getbits(8) % len(prof.dids)] if prof.dids else "5598987654321"
            if kind == "blacklisted":
                caller = prof.blacklist[getbits(4) % len(prof.blacklist)]
            else:
                caller = prof.callers[getbits(6) % len(prof.callers)]
            dest = did
            b_dest = (prof.followme or "0218632221234") if kind == "forwarded" else circuit
        start = t
        if kind in ("blacklisted", "collect_rejected"):
            answer, end = 0, t
        elif outcome == "answered":
            answer = t + ring
            end = answer + talk
        elif outcome == "no_answer":
            answer = 0
            end = t + (OUTBOUND_CALL_TIMEOUT if kind == "outbound" else INBOUND_CALL_TIMEOUT)
        else:
            answer, end = 0, t + 1
        start_s = stamp(start)
        end_s = stamp(end)
        answer_s = stamp(answer) if answer else ""
        dur = str(end - start)
        bill = str(end - answer) if answer else "0"
        se, ae, ee = str(start), str(answer), str(end)
        for leg, (fmt, getter) in templates[(kind, outcome)]:
            if leg == "a":
                vals = (a_uuid, b_uuid if answer else "", "", "", caller, caller, dest, start_s,
                        answer_s, end_s, dur, bill, se, ae, ee, circuit, did,
                        caller, circuit if kind == "outbound" else "", caller, caller, a_uuid)
            else:
                fwd = kind == "forwarded"
                vals = (b_uuid, "", a_uuid, a_uuid, caller, caller, b_dest, start_s, answer_s,
                        end_s, dur, bill, se, ae, ee, circuit if fwd else "", "",
                        caller, "", caller, caller, a_uuid)
            yield fmt % getter(vals) if getter is not None else fmt
            emitted += 1
            if emitted >= n:
                return
