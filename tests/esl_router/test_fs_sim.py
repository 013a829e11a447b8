"""The FreeSWITCH outbound-socket simulator (tests/fs_sim.py) against the real lab capture.

A tiny scripted router (plain sockets, one thread per connection) replays the PY->FS side of
``lab_1.10.12/outbound_session_transcript.txt``; what the simulator answers must match the
FS->PY side: identical bytes for the short replies and the disconnect-notice, the same headers
in the same order (and the same values, except clocks and random ids) for the connect reply
and the events. greenswitch's OutboundSession is checked against it too.
"""
from __future__ import annotations

import asyncio
import re
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fs_sim import (  # noqa: E402
    GOODBYE, LAB_DIR, FreeSwitchSim, SimCall, fs_separate_string, fs_url_encode, gevent_thread, multiset_split,
)

LAB_UUID = "9fc4b8a7-652d-48fc-bf19-642db7c44037"
LAB_CALL = dict(did="5598987654321", caller="5511999990000", uuid=LAB_UUID, caller_name="Probe")
# values that differ on every run (clocks, random ids, the router's port)
VOLATILE = {"Core-UUID", "Event-Date-Local", "Event-Date-GMT", "Event-Date-Timestamp", "Event-Sequence",
            "Channel-Profile-Created-Time", "Channel-Channel-Created-Time", "Caller-Profile-Created-Time",
            "Caller-Channel-Created-Time", "variable_session_id", "variable_sip_call_id",
            "variable_sip_invite_stamp", "variable_sip_from_tag", "variable_current_application_data",
            "Application-UUID", "Content-Length"}


def lab_blocks() -> list[tuple[str, bytes]]:
    """The transcript as (direction, exact bytes); each header states its byte count."""
    text = (LAB_DIR / "outbound_session_transcript.txt").read_bytes()
    header = re.compile(rb"===== (\S+)(?: \S+)? [\d.]+ \((\d+) bytes\) =====\n")
    blocks, pos = [], 0
    while m := header.search(text, pos):
        size = int(m.group(2))
        blocks.append((m.group(1).decode(), text[m.end():m.end() + size]))
        pos = m.end() + size
    return blocks


LAB = lab_blocks()
LAB_FS = [data for who, data in LAB if who == "FS->PY"]


def lab_script() -> list[tuple[bytes, int]]:
    """PY->FS blocks, each with the number of FS->PY messages that followed it."""
    script: list[tuple[bytes, int]] = []
    for who, data in LAB:
        if who == "PY->FS":
            script.append((data, 0))
        elif who == "FS->PY":
            script[-1] = (script[-1][0], script[-1][1] + 1)
    return script


def read_message(f) -> bytes | None:  # type: ignore[no-untyped-def]
    """One ESL message: a header block, plus its Content-Length body if it has one."""
    head = b""
    while True:
        line = f.readline()
        if not line:
            return head or None
        head += line
        if line == b"\n":
            break
    m = re.search(rb"(?m)^Content-Length: (\d+)$", head)
    return head + (f.read(int(m.group(1))) if m else b"")


def headers(message: bytes) -> list[tuple[str, str]]:
    return [tuple(line.split(": ", 1)) for line in message.decode().split("\n") if ": " in line]  # type: ignore[misc]


Step = tuple[bytes, "int | bytes"]  # send, then read N messages or until one contains the marker


@contextmanager
def scripted_router(script: list[Step]) -> Iterator[tuple[int, list[list[bytes]]]]:
    """A plain-socket router: per connection, send each step and read its replies; then read to EOF.
    Yields (port, one list of received messages per connection)."""
    conversations: list[list[bytes]] = []

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            got: list[bytes] = []
            conversations.append(got)
            f = self.request.makefile("rb")
            self.request.settimeout(5)
            try:
                for data, expect in script:
                    self.request.sendall(data)
                    if isinstance(expect, int):
                        for _ in range(expect):
                            got.append(read_message(f) or b"")
                    else:
                        while (msg := read_message(f)) is not None:
                            got.append(msg)
                            if expect in msg:
                                break
                while (msg := read_message(f)) is not None:
                    got.append(msg)
            except OSError:
                pass

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 1024  # 200 simultaneous connects must not overflow the backlog

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1], conversations
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens here any more: connecting is refused
    return port


def sendmsg(app: str, arg: str, extra: str = "") -> bytes:
    return f"sendmsg\ncall-command: execute\nexecute-app-name: {app}\nexecute-app-arg: {arg}\n{extra}\n".encode()


CONNECT, MYEVENTS, EXIT = (b"connect\n\n", 1), (b"myevents\n\n", 1), (b"exit\n\n", 2)


def multiset_script(arg: str) -> list[Step]:
    return [CONNECT, MYEVENTS, (sendmsg("multiset", arg, "event-lock: true\n"), b"CHANNEL_EXECUTE_COMPLETE"), EXIT]


# --------------------------------------------------------------------------- the lab replay
def test_lab_session_replayed_matches_the_real_freeswitch() -> None:
    with scripted_router(lab_script()) as (port, conversations):
        result = FreeSwitchSim("127.0.0.1", port).place_call(SimCall(**LAB_CALL))
    got = conversations[0]
    assert len(got) == len(LAB_FS)
    for mine, real in zip(got, LAB_FS):
        assert [k for k, _ in headers(mine)] == [k for k, _ in headers(real)]  # same names, same order
        for (name, value), (_, lab_value) in zip(headers(mine), headers(real)):
            if name not in VOLATILE:
                assert value == lab_value, name
    connect, myevents, linger, ok, execute, complete, bye, notice = got
    # connect reply: one header block, no Content-Length, reply headers last
    assert b"Content-Length" not in connect and connect.endswith(
        b"Content-Type: command/reply\nReply-Text: %2BOK%0A\nSocket-Mode: async\nControl: full\n\n")
    assert [myevents, linger, ok, bye, notice] == [LAB_FS[1], LAB_FS[2], LAB_FS[3], LAB_FS[6], LAB_FS[7]]
    assert notice.endswith(b"Content-Length: 67\n\n" + GOODBYE.encode())
    assert len(execute) == len(LAB_FS[4]) and len(complete) == len(LAB_FS[5])
    assert result.variables["painel_action"] == "bridge" and result.variables["painel_rule"] == "default"
    assert "current_loop" not in result.variables  # switch_ivr_parse_event unsets them afterwards
    assert result.commands == ["connect", "myevents", "linger", "sendmsg", "exit"]
    assert result.multisets == ["^^:painel_action=bridge:painel_rule=default"]
    assert result.apps == [("multiset", "^^:painel_action=bridge:painel_rule=default")]
    assert result.events == ["CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE"]
    assert result.closed_by_router and result.error is None and not result.refused
    assert result.decided_at is not None and 0 <= result.latency < 1  # type: ignore[operator]
    assert [who for who, _ in result.transcript] == [who for who, _ in LAB if who != "CLOSED"]


def test_connect_reply_carries_the_call_url_encoded() -> None:
    call = SimCall(did="5598987654321", caller="5598981110002", privacy_hide_number=True,
                   variables={"sip_h_X-Siemens-Call-Type": "collect call"}, caller_name="José")
    with scripted_router([CONNECT, EXIT]) as (port, conversations):
        result = FreeSwitchSim("127.0.0.1", port).place_call(call)
    reply = conversations[0][0]
    fields = dict(headers(reply))
    assert fields["Caller-Destination-Number"] == "5598987654321"
    assert fields["Caller-Caller-ID-Number"] == fields["Channel-Caller-ID-Number"] == "5598981110002"
    assert fields["Caller-Caller-ID-Name"] == "Jos%C3%A9"
    assert fields["Caller-Privacy-Hide-Number"] == fields["Channel-Privacy-Hide-Number"] == "true"
    assert fields["Unique-ID"] == fields["variable_uuid"] == result.uuid
    assert fields["Channel-Name"] == "sofia/internal/5598981110002%40127.0.0.1"
    assert fields["variable_sip_h_X-Siemens-Call-Type"] == "collect%20call"
    names = [k for k, _ in headers(reply)]
    assert names.index("variable_sip_h_X-Siemens-Call-Type") == names.index("variable_max_forwards") + 1
    assert result.variables["sip_h_X-Siemens-Call-Type"] == "collect call"


# --------------------------------------------------------------------------- multiset semantics
def test_pipe_delimiter_keeps_host_port_values() -> None:
    arg = "^^|painel_action=bridge|painel_bridge=sofia/internal/8011441@127.0.0.1:5090|painel_rule=default"
    with scripted_router(multiset_script(arg)) as (port, _):
        result = FreeSwitchSim("127.0.0.1", port).place_call(SimCall(did="5598987654321", caller="5586999990000"))
    assert result.variables["painel_bridge"] == "sofia/internal/8011441@127.0.0.1:5090"
    assert result.variables["painel_action"] == "bridge" and result.error is None


def test_colon_delimiter_breaks_host_port_as_the_lab_found() -> None:
    arg = "^^:painel_action=bridge:painel_bridge=sofia/internal/8011441@127.0.0.1:5090"
    with scripted_router(multiset_script(arg)) as (port, _):
        result = FreeSwitchSim("127.0.0.1", port).place_call(SimCall(did="5598987654321", caller="5586999990000"))
    assert result.variables["painel_bridge"] == "sofia/internal/8011441@127.0.0.1"
    assert "5090" not in result.variables


def test_empty_value_unsets_a_dialplan_default() -> None:
    defaults = {"painel_action": "bridge", "painel_rule": "fallback", "painel_bridge": "sofia/internal/8011441@127.0.0.1:5090"}
    arg = "^^|painel_action=reject|painel_bridge=|painel_hangup_cause=CALL_REJECTED|painel_rule=blacklist"
    with scripted_router(multiset_script(arg)) as (port, conversations):
        result = FreeSwitchSim("127.0.0.1", port).run_dialplan(
            SimCall(did="5598987654321", caller="5511988887777", defaults=defaults))
    assert "painel_bridge" not in result.variables
    assert result.variables["painel_action"] == "reject" and result.variables["painel_rule"] == "blacklist"
    # the defaults were on the channel before `socket`: the router saw them in the connect reply
    assert dict(headers(conversations[0][0]))["variable_painel_rule"] == "fallback"


@pytest.mark.parametrize(("arg", "items"), [
    ("a=1 b=2", ["a=1", "b=2"]),
    ("a=1   b=2 ", ["a=1", "b=2"]),
    ("^^:a=1:b=2", ["a=1", "b=2"]),
    ("^^|a=x:y|b=", ["a=x:y", "b="]),
    ("^^~a=1~~b=2~", ["a=1", "", "b=2"]),
    ("a='one two' b=3", ["a=one two", "b=3"]),
    ("^^,a=1\\,2,b=3", ["a=1,2", "b=3"]),
])
def test_multiset_split_follows_freeswitch(arg: str, items: list[str]) -> None:
    assert multiset_split(arg) == items


def test_separate_string_limit_keeps_the_rest() -> None:
    assert fs_separate_string("uuid var a value with spaces", " ", 3) == ["uuid", "var", "a value with spaces"]


@pytest.mark.parametrize(("raw", "wire"), [
    ("+OK\n", "%2BOK%0A"), ("2026-11-28 01:23:41", "2026-11-28%2001%3A23%3A41"), ("collect call", "collect%20call"),
    ("PCMU@8000h", "PCMU%408000h"), ("1.10.12-release~64bit", "1.10.12-release~64bit"), ("a,b/c", "a,b/c"),
    ("50%", "50%25"), ("x%0Ay", "x%0Ay"), ("x%0ay", "x%250ay"), ("ã", "%C3%A3"),
])
def test_url_encode_like_switch_url_encode(raw: str, wire: str) -> None:
    assert fs_url_encode(raw) == wire


# --------------------------------------------------------------------------- router down / slow / broken
def test_run_dialplan_with_nothing_listening_keeps_the_defaults() -> None:
    defaults = {"painel_did": "5598987654321", "painel_circuit": "8011441", "painel_direction": "inbound",
                "painel_action": "bridge", "painel_bridge": "sofia/internal/8011441@127.0.0.1:5090",
                "painel_rule": "fallback"}
    result = FreeSwitchSim("127.0.0.1", free_port()).run_dialplan(
        SimCall(did="5598981110007", caller="5598981110007", defaults=defaults))
    assert result.refused and not result.closed_by_router and result.commands == []
    assert {k: result.variables[k] for k in defaults} == defaults
    assert result.variables["socket_host"] == "127.0.0.1"
    assert "[ERR] mod_event_socket.c:486 Socket Error: Connection refused" in result.log
    assert result.log[-1].startswith("[INFO] dialplan continues: action=bridge rule=fallback")


def test_silent_router_times_out_and_defaults_stay() -> None:
    with scripted_router([]) as (port, _):  # accepts, says nothing, waits for EOF
        result = FreeSwitchSim("127.0.0.1", port, timeout=0.3).run_dialplan(
            SimCall(did="5598987654321", caller="5586999990000", defaults={"painel_rule": "fallback"}))
    assert result.variables["painel_rule"] == "fallback"
    assert "no command" in (result.error or "") or "timeout" in (result.error or "")
    assert not result.closed_by_router


def test_reply_delay_slows_every_reply() -> None:
    with scripted_router(multiset_script("^^|painel_rule=default")) as (port, _):
        result = FreeSwitchSim("127.0.0.1", port, reply_delay=0.05, execute_delay=0.05).place_call(
            SimCall(did="5598987654321", caller="5586999990000"))
    # connect + myevents replies, then the sendmsg reply and the execution overlap (async: queued first)
    assert result.latency is not None and result.latency >= 0.05 * 3 - 0.005


def test_unknown_command_and_malformed_sendmsg_are_recorded() -> None:
    script: list[Step] = [CONNECT, (b"frobnicate\n\n", 1), (b"sendmsg\ncall-command execute\n\n", 1), EXIT]
    with scripted_router(script) as (port, conversations):
        result = FreeSwitchSim("127.0.0.1", port).place_call(SimCall(did="5598987654321", caller="1"))
    assert conversations[0][1] == b"Content-Type: command/reply\nReply-Text: -ERR command not found\n\n"
    assert conversations[0][2] == b"Content-Type: command/reply\nReply-Text: +OK\n\n"  # FreeSWITCH still says +OK
    assert "unknown command 'frobnicate'" in result.error  # type: ignore[operator]
    assert "header line without ':'" in result.error and "without call-command" in result.error  # type: ignore[operator]


def test_invalid_application_hangs_the_call_up() -> None:
    script: list[Step] = [CONNECT, MYEVENTS, (sendmsg("multi_set", "a=1"), b"disconnect-notice")]
    with scripted_router(script) as (port, conversations):
        result = FreeSwitchSim("127.0.0.1", port).place_call(SimCall(did="5598987654321", caller="1"))
    assert result.hangup_cause == "DESTINATION_OUT_OF_ORDER" and result.events == ["CHANNEL_HANGUP"]
    assert b"Hangup-Cause: DESTINATION_OUT_OF_ORDER" in conversations[0][3]
    assert conversations[0][-1].endswith(GOODBYE.encode()) and not result.closed_by_router


def test_sendmsg_body_form_and_set() -> None:
    body = "painel_bridge=sofia/gateway/carrier/0218632221234"
    msg = (f"sendmsg\ncall-command: execute\nexecute-app-name: set\ncontent-type: text/plain\n"
           f"content-length: {len(body)}\n\n{body}").encode()
    with scripted_router([CONNECT, MYEVENTS, (msg, b"CHANNEL_EXECUTE_COMPLETE"), EXIT]) as (port, _):
        result = FreeSwitchSim("127.0.0.1", port).place_call(SimCall(did="5598987654321", caller="1"))
    assert result.variables["painel_bridge"] == "sofia/gateway/carrier/0218632221234"
    assert result.apps == [("set", body)] and result.error is None and result.decided_at is not None


def test_api_commands() -> None:
    uuid = "11111111-2222-3333-4444-555555555555"
    script: list[Step] = [CONNECT,
                          (f"api uuid_setvar_multi {uuid} painel_action=bridge;painel_rule=default\n\n".encode(), 1),
                          (f"api uuid_getvar {uuid} painel_rule\n\n".encode(), 1),
                          (f"api uuid_setvar {uuid} painel_rule\n\n".encode(), 1),
                          (b"api show channels\n\n", 1), EXIT]
    with scripted_router(script) as (port, conversations):
        result = FreeSwitchSim("127.0.0.1", port).place_call(SimCall(did="5598987654321", caller="1", uuid=uuid))
    replies = conversations[0][1:5]
    assert replies[0] == b"Content-Type: api/response\nContent-Length: 4\n\n+OK\n"
    assert replies[1] == b"Content-Type: api/response\nContent-Length: 7\n\ndefault"
    assert replies[3].endswith(b"-ERR show Command not found!\n")
    assert result.variables["painel_action"] == "bridge" and "painel_rule" not in result.variables


# --------------------------------------------------------------------------- hangups and linger
def test_caller_hangs_up_after_myevents() -> None:
    with scripted_router([CONNECT, MYEVENTS]) as (port, conversations):
        result = FreeSwitchSim("127.0.0.1", port).place_call(
            SimCall(did="5598987654321", caller="1", hangup_after="myevents"))
    hangup, notice = conversations[0][2:]
    fields = dict(headers(hangup))
    assert fields["Event-Name"] == "CHANNEL_HANGUP" and fields["Hangup-Cause"] == "ORIGINATOR_CANCEL"
    assert fields["Answer-State"] == "hangup"
    assert b"Content-Disposition: disconnect" in notice and not result.closed_by_router


def test_hangup_during_sendmsg_without_linger_still_applies_zombie_multiset() -> None:
    script: list[Step] = [CONNECT, MYEVENTS, (sendmsg("multiset", "^^|painel_rule=default"), b"disconnect-notice")]
    with scripted_router(script) as (port, conversations):
        result = FreeSwitchSim("127.0.0.1", port).place_call(
            SimCall(did="5598987654321", caller="1", hangup_after="sendmsg"))
    assert [dict(headers(m)).get("Event-Name") for m in conversations[0][2:]] == [None, "CHANNEL_HANGUP", None]
    assert result.events == ["CHANNEL_HANGUP"]  # the router never hears the EXECUTE_COMPLETE...
    assert result.variables["painel_rule"] == "default"  # ...yet multiset (zombie_exec) ran and reaches the CDR


def test_linger_delivers_events_after_hangup_until_exit() -> None:
    script: list[Step] = [CONNECT, MYEVENTS, (b"linger\n\n", 1),
                          (sendmsg("multiset", "^^|painel_rule=default"), b"Application: multiset\nApplication-Data"),
                          (b"exit\n\n", 2)]
    with scripted_router(script) as (port, conversations):
        result = FreeSwitchSim("127.0.0.1", port).place_call(
            SimCall(did="5598987654321", caller="1", hangup_after="sendmsg"))
    got = conversations[0]
    linger_notice = next(m for m in got if b"Content-Disposition: linger" in m)
    assert b"Linger-Time: -1\nContent-Length: 0\n\n" in linger_notice
    assert b"Channel-Name: sofia/internal/1@127.0.0.1\n" in linger_notice  # not URL-encoded here
    assert result.events == ["CHANNEL_HANGUP", "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE"]
    assert got[-2] == b"Content-Type: command/reply\nReply-Text: +OK bye\n\n" and result.closed_by_router


def test_linger_with_seconds_closes_by_itself() -> None:
    with scripted_router([CONNECT, (b"linger 0\n\n", 1)]) as (port, conversations):
        result = FreeSwitchSim("127.0.0.1", port).place_call(SimCall(did="1", caller="1", hangup_after=0.05))
    assert conversations[0][1] == b"Content-Type: command/reply\nReply-Text: +OK will linger 0 seconds\n\n"
    assert b"Linger-Time: 0" in conversations[0][2] and conversations[0][3].endswith(GOODBYE.encode())
    assert result.hangup_cause == "ORIGINATOR_CANCEL" and not result.closed_by_router


# --------------------------------------------------------------------------- garbage channel data
@pytest.mark.parametrize("mode", ["no_destination", "huge_headers", "bad_encoding", "raw_bytes", "header_injection"])
def test_garbage_channel_data(mode: str) -> None:
    with scripted_router([CONNECT, EXIT]) as (port, conversations):
        result = FreeSwitchSim("127.0.0.1", port).place_call(SimCall(did="5598987654321", caller="1", garbage=mode))
    reply = conversations[0][0]
    assert reply.endswith(b"Control: full\n\n") and result.closed_by_router
    if mode == "no_destination":
        assert b"Destination-Number" not in reply
    elif mode == "huge_headers":
        assert len(reply) > 1_048_576
    elif mode == "bad_encoding":
        assert reply.isascii() and b"Caller-Caller-ID-Name: Jo%E3o%20Silva\n" in reply and b"100%ZZ%\n" in reply
    elif mode == "raw_bytes":
        assert b"Caller-Caller-ID-Name: Jo\xe3o\n" in reply
    else:
        assert b"variable_sip_h_X-Inject: x%0ACaller-Caller-ID-Number%3A%200000000000" in reply


@pytest.mark.parametrize(("mode", "replies"), [("close_after_connect", 1), ("close_on_connect", 0)])
def test_abrupt_close(mode: str, replies: int) -> None:
    with scripted_router([(b"connect\n\n", replies)]) as (port, conversations):
        result = FreeSwitchSim("127.0.0.1", port).place_call(SimCall(did="1", caller="1", garbage=mode))
    got = [m for m in conversations[0] if m]
    assert len(got) == replies and not result.closed_by_router


# --------------------------------------------------------------------------- greenswitch interop
def test_greenswitch_outbound_session_interoperates() -> None:
    """greenswitch speaks through gevent's own sockets; the router's StreamServer runs in a thread
    with its own gevent hub (fs_sim.gevent_thread), the simulator in this thread with asyncio.
    Nothing is monkey-patched, so the rest of the suite keeps plain threads and sockets."""
    import gevent.monkey
    from gevent.server import StreamServer
    from greenswitch.esl import OutboundSession

    captured: dict[str, object] = {}

    def handle(sock, address) -> None:  # type: ignore[no-untyped-def]
        session = OutboundSession(address, sock)
        try:
            session.connect()
            session.myevents()
            event = session.call_command("multiset", "^^|painel_action=bridge|painel_rule=default",
                                         block=True, response_timeout=3)
            captured["data"] = dict(session.session_data)
            captured["complete"] = dict(event.headers)
        except Exception as exc:  # reported by the assertions below
            captured["error"] = repr(exc)
        finally:
            session.stop()

    def start() -> StreamServer:
        server = StreamServer(("127.0.0.1", 0), handle)
        server.start()
        return server

    call = SimCall(did="5598987654321", caller="5598981110002", variables={"sip_h_X-Siemens-Call-Type": "collect call"})
    with gevent_thread(start) as server:
        result = FreeSwitchSim("127.0.0.1", server.server_port).place_call(call)
    assert not gevent.monkey.is_anything_patched()
    assert "error" not in captured, captured.get("error")
    data = captured["data"]
    assert data["Caller-Destination-Number"] == "5598987654321"  # type: ignore[index]
    assert data["Caller-Caller-ID-Number"] == "5598981110002"  # type: ignore[index]
    assert data["Unique-ID"] == result.uuid and data["variable_sip_h_X-Siemens-Call-Type"] == "collect call"  # type: ignore[index]
    assert captured["complete"]["variable_painel_rule"] == "default"  # type: ignore[index]
    assert result.commands == ["connect", "myevents", "sendmsg", "exit"]
    assert result.variables["painel_action"] == "bridge" and result.closed_by_router and result.error is None


# --------------------------------------------------------------------------- concurrency
def test_200_simultaneous_calls() -> None:
    sim = FreeSwitchSim("127.0.0.1", 0, timeout=5)

    async def burst(port: int) -> list:  # type: ignore[type-arg]
        sim.router_port = port
        calls = [SimCall(did="5598987654321", caller=f"55119{i:08d}") for i in range(200)]
        return await asyncio.gather(*(sim.place_call_async(c) for c in calls))

    with scripted_router(multiset_script("^^|painel_action=bridge|painel_rule=default")) as (port, conversations):
        started = time.monotonic()
        results = asyncio.run(burst(port))
        elapsed = time.monotonic() - started
    assert len(conversations) == 200 and len({r.uuid for r in results}) == 200
    assert all(r.error is None and r.closed_by_router and r.variables["painel_rule"] == "default" for r in results)
    assert all(r.latency is not None for r in results) and elapsed < 5


def test_the_package_copy_of_the_connect_reply_is_the_lab_capture() -> None:
    """esl_router/simulator.py (used by `painel simulate`) ships its own copy of the lab's reply."""
    from esl_router.simulator import CONNECT_TEMPLATE

    assert CONNECT_TEMPLATE.read_bytes() == (LAB_DIR / "outbound_connect_reply.txt").read_bytes()
