"""Fuzz pass over the CDR parsers and the ingest pipeline (issue 7).

Inputs: arbitrary bytes and text, and the real FreeSWITCH CDRs under
tests/data/third_party/freeswitch/ (mod_json_cdr, mod_xml_cdr, mod_cdr_csv) mutated: truncated,
bytes flipped or inserted (bad UTF-8, NUL, escapes), fields dropped / duplicated / given the wrong
type or absurd values, deep nesting, XML entity tricks.

Properties:
* a parser returns a ``CdrRecord`` that can be stored as it is, or raises ``CdrParseError``
  (painel.errors) with a pt-BR message; never another exception, never a hang;
* the pipeline loses nothing: every input record becomes exactly one row or one quarantine entry,
  and every one of them fits the database's columns (checked without a database against the
  schema, then end to end on SQLite and PostgreSQL with the conftest fixtures);
* a DTD (billion laughs, external entities) is refused before parsing: nothing expands, nothing is
  fetched.
"""
from __future__ import annotations

import json
import re
import shutil
import socket
import time
import urllib.request
import uuid as uuidlib
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from cdr_ingest.parse_csv import CsvCdrParser, split_line
from cdr_ingest.parse_json import decode_post_body, parse_json_cdr
from cdr_ingest.parse_xml import parse_xml_cdr
from cdr_ingest.pipeline import Ingester, _csv_items, _lines, prepare
from cdr_ingest.records import CdrRecord
from cdr_ingest.store import CDR_COLUMNS, QUARANTINE_COLUMNS
from cdr_ingest.templates import load_csv_templates
from painel.catalog import Catalog, load_catalog
from painel.db import create_engine
from painel.errors import CdrParseError
from painel.models import Cdr, QuarantinedCdr
from painel.settings import load_settings

UTC = timezone.utc
FS = Path(__file__).resolve().parents[1] / "data" / "third_party" / "freeswitch"
LAB = FS / "lab_1.10.12"

# derandomized: the same examples on every run (CI reproducibility); a generous deadline, since
# examples take milliseconds and a pathological input (a hang, an expansion) takes seconds every time
FUZZ = settings(derandomize=True, database=None, max_examples=150, deadline=5000,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.large_base_example])

# -- the real CDRs the mutations start from ----------------------------------------------------------

JSON_FILES = sorted((FS / "json_cdr").glob("*.json")) + [
    LAB / "json_cdr" / name for name in (
        "s1_default_bridge_a_8db9e041-9245-4f93-8d14-91d4aeac9deb.cdr.json",
        "s1_default_bridge_b_127b340e-683a-4931-9c56-367ea090fe80.cdr.json",
        "s4_collect_accept_a_23c5c1e1-78d0-4618-9ce0-8a0c05d362ce.cdr.json",
        "s5_followme_forward_b_c53c337d-4fae-4aa6-a9bc-90d6841d61c2.cdr.json",
        "s6d_out_international_a_1e039ecd-2b20-4340-82d6-f703ff45b8c5.cdr.json",
        "s6f_out_noanswer_a_30214e2d-b9db-4552-acee-309b9b3fc324.cdr.json",
    )
] + [LAB / "json_cdr_socket_leg.json"]
JSON_SEEDS = [p.read_bytes() for p in JSON_FILES]
JSON_DOCS = [json.loads(b) for b in JSON_SEEDS]
XML_SEED = (FS / "xml_cdr" / "fsdocs_a_leg_unanswered_send_refuse.cdr.xml").read_bytes()
TEMPLATES = load_csv_templates()
CSV_SEEDS = {
    "painel": (LAB / "cdr_csv" / "Master_painel.csv").read_text(encoding="utf-8").splitlines(),
    "example": (LAB / "cdr_csv" / "Master_example.csv").read_text(encoding="utf-8").splitlines()
    + (FS / "cdr_csv" / "fsdocs_Master.csv").read_text(encoding="utf-8").splitlines(),
}
#: parsers are built once and reused, as the ingester does (their timestamp caches included);
#: Asia/Tokyo puts a switch east of UTC, where a year-9999 stamp leaves datetime's range
SWITCH_ZONES = ("UTC", "America/Sao_Paulo", "Asia/Tokyo")
CSV_PARSERS = {(name, tz): CsvCdrParser(TEMPLATES[name], tz, template_name=name)
               for name in CSV_SEEDS for tz in SWITCH_ZONES}

# -- invariants --------------------------------------------------------------------------------------


def _width(table: sa.Table, column: str) -> int | None:
    return getattr(table.c[column].type, "length", None)


CDR_WIDTHS = {c: _width(Cdr.__table__, c) for c in CDR_COLUMNS}
QUARANTINE_WIDTHS = {c: _width(QuarantinedCdr.__table__, c) for c in QUARANTINE_COLUMNS}
INT32 = 2**31 - 1
#: Integer columns of ``cdrs`` (int4 on PostgreSQL); ``amount`` is BigInteger centavos
CDR_INT32 = {"duration", "billsec", "billable_seconds", "circuit_id", "plan_version_id"}


def storable_text(value: str, what: str) -> None:
    """Text every engine accepts: PostgreSQL refuses NUL, both refuse lone surrogates."""
    assert "\x00" not in value, f"{what} has a NUL character: {value[:80]!r}"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # pragma: no cover - the assertion explains
        raise AssertionError(f"{what} is not encodable text (lone surrogate): {value[:80]!r}") from None


def check_record(rec: CdrRecord, raw: str | None = None) -> None:
    """A parsed leg is well formed and could be stored as it is."""
    assert isinstance(rec, CdrRecord)
    assert isinstance(rec.uuid, str) and rec.uuid
    assert len(rec.uuid) <= CDR_WIDTHS["uuid"]
    for name in ("bleg_uuid", "originating_leg_uuid"):
        value = getattr(rec, name)
        assert value is None or (isinstance(value, str) and 0 < len(value) <= CDR_WIDTHS["uuid"]), (name, value)
    assert rec.leg in ("a", "b", "")
    assert rec.source_format in ("json", "xml", "csv")
    if raw is not None:
        assert rec.raw == raw
    for name in ("start", "answer", "end"):
        value = getattr(rec, name)
        if name == "start" or value is not None:
            assert isinstance(value, datetime) and value.utcoffset() is not None and not value.utcoffset()
            # every time zone conversion downstream (bill month, bands) must stay in range
            assert 1970 <= value.year <= 9998, (name, value)
    for name in ("duration", "billsec"):
        value = getattr(rec, name)
        assert isinstance(value, int) and 0 <= value < INT32 // 2, (name, value)
    for name in ("uuid", "raw", "caller_id_number", "destination_number", "context", "hangup_cause",
                 "bleg_uuid", "originating_leg_uuid", "accountcode", "sip_from_user", "user_name"):
        value = getattr(rec, name)
        if value is not None:
            assert isinstance(value, str), (name, value)
            storable_text(value, name)
    for mapping in (rec.painel, rec.sip_headers):
        for key, value in mapping.items():
            assert isinstance(key, str) and isinstance(value, str) and value
            storable_text(value, key)


def check_error(exc: CdrParseError) -> None:
    assert isinstance(exc.message, str) and exc.message.strip()
    assert str(exc) == exc.message and exc.reason == "malformed"


def parse_or_error(parse: Callable[..., CdrRecord], *args: Any) -> CdrRecord | CdrParseError:
    """The property itself: a storable record or CdrParseError. Anything else propagates (a bug)."""
    try:
        rec = parse(*args)
    except CdrParseError as exc:
        check_error(exc)
        return exc
    check_record(rec, args[0] if isinstance(args[0], str) else None)
    return rec


# -- generic mutations -------------------------------------------------------------------------------

nasty_bytes = st.one_of(
    st.sampled_from([b"\xff", b"\xfe\xff", b"\xc3(", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x00", b"\x80",
                     b"\\u0000", b"\\ud800", b"\\udfff\\ud800", b'"', b'","', b",", b"\n", b"\r\n", b"\r", b"{",
                     b"}", b"[" * 64, b"<", b"</", b"&", b"&lol;", b"]]>", b"%", b"%0A", b"%00", b"%ZZ",
                     b"9" * 30, b"9" * 5000, b"-1", b"\xef\xbb\xbf", b"<!DOCTYPE x>", b"\t"]),
    st.binary(max_size=24),
)


@st.composite
def mutate_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    """Truncate, flip, insert, delete, duplicate: one to four times, anywhere."""
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "duplicate", "digits"]))
        at = draw(st.integers(0, len(buf)))
        if op == "truncate":
            del buf[at:]
        elif op == "flip" and buf:
            at = min(at, len(buf) - 1)
            buf[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            buf[at:at] = draw(nasty_bytes)
        elif op == "delete":
            del buf[at:at + draw(st.integers(1, 64))]
        elif op == "duplicate":
            chunk = bytes(buf[at:at + draw(st.integers(1, 200))])
            buf[at:at] = chunk
        else:  # a run of digits made absurd: huge, negative, non-ASCII
            m = re.compile(rb"\d+").search(bytes(buf), at)
            if m:
                buf[m.start():m.end()] = draw(st.sampled_from(
                    [b"9" * 25, b"9" * 4400, b"-" + m.group(), "١٢".encode(), b"1e9", b"0x1F", b""]))
    return bytes(buf)


#: values of the wrong type or absurd content, for JSON variables and caller-profile fields
weird_value = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**18, max_value=10**40),
    st.floats(), st.text(max_size=20),
    st.text(min_size=65, max_size=120, alphabet="0123456789abcdef-"),  # longer than any uuid column
    st.sampled_from(["-5", " 12 ", "١٢", "²", "1e9", "0x10", "", "0", "%", "%ZZ", "%00", "%0A%0D", "%ED%A0%80",
                     "%FF", "\x00", "\ud800", "a\udfffb", "9" * 30, "9" * 5000, "253402300799", "253402300800",
                     "18446744073709551616", "99999999999999", "2147483648", "inbound", "collect", "8011441",
                     "5598987654321", "painel_actions", "0" * 70, "x" * 2000]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
)
VARIABLE_KEYS = ["uuid", "start_epoch", "start_uepoch", "start_stamp", "answer_epoch", "answer_uepoch",
                 "end_epoch", "end_uepoch", "duration", "billsec", "painel_circuit", "painel_direction",
                 "painel_did", "painel_rule", "painel_action", "painel_bridge", "bridge_uuid", "last_bridge_to",
                 "signal_bond", "originator", "originating_leg_uuid", "caller_id_number", "destination_number",
                 "hangup_cause", "sip_from_user", "user_name", "accountcode", "context",
                 "sip_h_X-Siemens-Call-Type"]
PROFILE_KEYS = ["caller_id_number", "destination_number", "context", "originator", "uuid"]


@st.composite
def mutated_json(draw: st.DrawFn) -> bytes:
    """A real mod_json_cdr document with structural damage, then maybe byte-level damage."""
    doc = json.loads(json.dumps(draw(st.sampled_from(JSON_DOCS))))  # a private deep copy
    variables = doc.get("variables")
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["drop_var", "set_var", "set_var", "set_top", "drop_top", "profile"]))
        if op in ("drop_var", "set_var") and isinstance(variables, dict):
            key = draw(st.sampled_from(VARIABLE_KEYS + sorted(variables)[:40]))
            if op == "drop_var":
                variables.pop(key, None)
            else:
                variables[key] = draw(weird_value)
        elif op == "set_top":
            doc[draw(st.sampled_from(["variables", "callflow", "channel_data", "app_log"]))] = draw(weird_value)
        elif op == "drop_top":
            doc.pop(draw(st.sampled_from(["variables", "callflow"])), None)
        else:
            flow = doc.get("callflow")
            entry = flow[0] if isinstance(flow, list) and flow else flow
            profile = entry.get("caller_profile") if isinstance(entry, dict) else None
            if isinstance(profile, dict):
                profile[draw(st.sampled_from(PROFILE_KEYS))] = draw(weird_value)
    text = json.dumps(doc, ensure_ascii=draw(st.booleans()), allow_nan=True)
    form = draw(st.sampled_from(["plain", "plain", "dup_key", "dup_callflow", "deep"]))
    if form == "dup_key":  # a duplicated key: the first (or the last) one must not win silently wrong
        text = text.replace('"variables": {', '"variables": {"uuid": %s, ' % json.dumps(draw(weird_value)), 1)
    elif form == "dup_callflow":  # the old layout: one "callflow" key per profile
        text = text[:-1] + ', "callflow": %s}' % json.dumps(draw(weird_value))
    elif form == "deep":  # nesting deeper than any recursion limit
        depth = draw(st.sampled_from([50, 1000, 100_000]))
        text = text[:-1] + ', "callflow": ' + "[" * depth + "]" * depth + "}"
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        data = draw(mutate_bytes(data))
    return data


@st.composite
def mutated_xml(draw: st.DrawFn) -> bytes:
    """The real mod_xml_cdr document with elements dropped, emptied, duplicated or filled with junk."""
    root = ET.fromstring(XML_SEED)
    variables = root.find("variables")
    assert variables is not None
    depth = 0
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["drop", "text", "text", "dup", "nest", "profile", "root"]))
        if op == "drop":
            target = draw(st.sampled_from(["variables", "callflow", "variables/uuid", "variables/start_epoch",
                                           "variables/start_uepoch", "variables/billsec", "callflow/caller_profile"]))
            parent_path, _, name = target.rpartition("/")
            parent = root.find(parent_path) if parent_path else root
            el = parent.find(name) if parent is not None else None
            if el is not None:
                parent.remove(el)  # type: ignore[union-attr]
        elif op in ("text", "dup"):
            key = draw(st.sampled_from(VARIABLE_KEYS))
            el = variables.find(key)
            if el is None or op == "dup":
                el = ET.SubElement(variables, key)
                if op == "dup":  # an array variable repeats its element; put the new one first
                    variables.remove(el)
                    variables.insert(0, el)
            value = draw(weird_value)
            el.text = value if isinstance(value, str) else json.dumps(value)
        elif op == "nest":  # written as text below: ElementTree's own writer recurses
            depth = draw(st.sampled_from([10, 5000, 50_000]))
        elif op == "profile":
            profile = root.find("callflow/caller_profile")
            if profile is not None:
                key = draw(st.sampled_from(PROFILE_KEYS))
                el = profile.find(key)
                if el is None:
                    el = ET.SubElement(profile, key)
                value = draw(weird_value)
                el.text = value if isinstance(value, str) else json.dumps(value)
        else:
            root.tag = draw(st.sampled_from(["cdr", "CDR", "{urn:x}cdr", "xml_cdr"]))
    try:
        data = ET.tostring(root, encoding="unicode").encode("utf-8", "surrogatepass")
    except ValueError:  # a lone surrogate ET cannot serialize: write it raw
        data = XML_SEED
    if depth:
        data = data.replace(b"<variables>", b"<variables>" + b"<n>" * depth + b"</n>" * depth, 1)
    if draw(st.booleans()):
        data = b'<?xml version="1.0"?>\n' + data
    if draw(st.booleans()):
        data = draw(mutate_bytes(data))
    return data


# -- JSON ---------------------------------------------------------------------------------------------


@FUZZ
@given(data=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass"))))
@example(data=b"[" * 100_000 + b"]" * 100_000)  # found: RecursionError escaped json.loads
@example(data=b'{"variables": {"uuid": "u", "start_epoch": "' + b"9" * 5000 + b'"}}')  # found: int() limit
def test_json_arbitrary_bytes(data: bytes) -> None:
    parse_or_error(parse_json_cdr, data)
    parse_or_error(parse_json_cdr, data.decode("utf-8", "surrogateescape"))


@FUZZ
@given(data=mutated_json())
# found by this test (each raised something other than CdrParseError, or made a record no database stores)
@example(data=b'{"variables": {"uuid": "u", "start_epoch": "100"}, "callflow": ' + b"[" * 100_000
         + b"]" * 100_000 + b"}")
@example(data=b'{"variables": {"uuid": "u", "start_epoch": "100", "duration": "' + b"9" * 5000 + b'"}}')
@example(data=b'{"variables": {"uuid": "u", "start_epoch": "100", "end_epoch": "50"}}')  # negative duration
@example(data=b'{"variables": {"uuid": "u", "start_epoch": "100", "billsec": "99999999999999"}}')
@example(data=b'{"variables": {"uuid": "u", "start_epoch": "253402300799"}}')  # 9999-12-31
@example(data=b'{"variables": {"uuid": "\\ud800", "start_epoch": "100"}}')  # lone surrogate
@example(data=b'{"variables": {"uuid": "u", "start_epoch": "100", "caller_id_number": "1\\u00002"}}')
@example(data=b'{"variables": {"uuid": "' + b"f" * 65 + b'", "start_epoch": "100"}}')  # uuid > 64
@example(data=b'{"variables": {"uuid": "u", "start_epoch": "100", "bridge_uuid": "' + b"f" * 65 + b'"}}')
def test_json_mutated_real_cdrs(data: bytes) -> None:
    parse_or_error(parse_json_cdr, data)


@FUZZ
@given(body=st.one_of(st.binary(max_size=200), mutated_json()),
       encoding=st.sampled_from(["raw", "form", "base64", "spool-url", "spool-b64"]),
       ctype=st.sampled_from([None, "application/json", "application/x-www-form-urlencoded",
                              "application/x-www-form-base64-encoded", "text/plain; charset=latin-1", ""]))
def test_json_post_bodies(body: bytes, encoding: str, ctype: str | None) -> None:
    """mod_json_cdr's three POST encodings (and spooled files) of damaged documents."""
    import base64
    from urllib.parse import quote_from_bytes

    wrapped = {"raw": body, "form": b"cdr=" + quote_from_bytes(body).encode(),
               "base64": b"cdr=" + base64.b64encode(body), "spool-url": quote_from_bytes(body).encode(),
               "spool-b64": base64.b64encode(body)}[encoding]
    try:
        text = decode_post_body(wrapped, ctype)
    except CdrParseError as exc:
        check_error(exc)
        return
    assert isinstance(text, str)
    parse_or_error(parse_json_cdr, text)


# -- XML ----------------------------------------------------------------------------------------------


@FUZZ
@given(data=st.one_of(st.binary(max_size=300), mutated_xml()))
@example(data=b"<cdr><variables><uuid>u</uuid><start_epoch>" + b"9" * 5000 + b"</start_epoch></variables></cdr>")
@example(data=b"<cdr><variables><uuid>u</uuid><start_stamp>x</start_stamp><start_epoch>1</start_epoch>"
              b"<duration>99999999999</duration></variables></cdr>")
@example(data=b"<cdr>" + b"<a>" * 100_000 + b"</a>" * 100_000 + b"</cdr>")
def test_xml_mutated_real_cdrs(data: bytes) -> None:
    parse_or_error(parse_xml_cdr, data)
    parse_or_error(parse_xml_cdr, data.decode("utf-8", "replace"))


LAUGHS = "".join(f'<!ENTITY lol{i} "{("&lol%d;" % (i - 1)) * 10}">' for i in range(1, 10))
ENTITY_TRICKS = [
    # billion laughs: nine levels of ten
    '<!DOCTYPE cdr [<!ENTITY lol0 "lol">' + LAUGHS + ']>',
    # external entities: a local file, a URL, a parameter entity pulling a remote DTD
    '<!DOCTYPE cdr [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
    '<!DOCTYPE cdr [<!ENTITY xxe SYSTEM "http://127.0.0.1:9/evil.xml">]>',
    '<!DOCTYPE cdr [<!ENTITY % dtd SYSTEM "http://127.0.0.1:9/evil.dtd"> %dtd;]>',
    '<!DOCTYPE cdr SYSTEM "http://127.0.0.1:9/evil.dtd">',
    '<!DOCTYPE cdr PUBLIC "-//X//EN" "file:///etc/passwd">',
    # quadratic blow-up: one big entity used many times
    '<!DOCTYPE cdr [<!ENTITY a "' + "x" * 50_000 + '">]>',
    # spellings the refusal must not miss
    '<!doctype cdr [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
    '<!DOCTYPE\ncdr\t[\n<!ENTITY\txxe SYSTEM "file:///etc/passwd">]>',
    '<!-- a comment first --><!DOCTYPE cdr [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
    '<!ENTITY xxe SYSTEM "file:///etc/passwd">',
]
ENTITY_USES = ["&lol9;", "&xxe;", "&a;&a;&a;&a;&a;&a;&a;&a;", "", "&amp;", "&#x41;"]


@st.composite
def entity_documents(draw: st.DrawFn) -> bytes:
    dtd = draw(st.sampled_from(ENTITY_TRICKS))
    use = draw(st.sampled_from(ENTITY_USES))
    lead = draw(st.sampled_from(["", '<?xml version="1.0"?>\n', '<?xml version="1.0" encoding="UTF-8"?>',
                                 "\ufeff", "\n\n  ", '<?xml version="1.0" encoding="UTF-7"?>']))
    body = (f"<cdr><variables><uuid>{use or 'u'}</uuid><start_epoch>1795829825</start_epoch>"
            f"<caller_id_number>{use}</caller_id_number></variables>"
            f"<callflow><caller_profile><destination_number>{use}</destination_number></caller_profile>"
            f"</callflow></cdr>")
    where = draw(st.sampled_from(["before", "inside"]))
    text = lead + (dtd + body if where == "before" else body.replace("<variables>", "<variables>" + dtd, 1))
    codec = draw(st.sampled_from(["utf-8", "utf-8", "utf-16", "utf-16-le", "utf-7", "latin-1"]))
    return text.encode(codec, "replace")


@settings(FUZZ, max_examples=80)
@given(data=entity_documents())
@example(data=('<?xml version="1.0" encoding="UTF-7"?>+ADw-!DOCTYPE cdr +AFs-+ADw-!ENTITY xxe SYSTEM '
               '+ACI-file:///etc/passwd+ACI-+AD4-+AF0-+AD4-<cdr><variables><uuid>&xxe;</uuid></variables></cdr>'
               ).encode())
def test_xml_entities_never_expand_nor_fetch(data: bytes) -> None:
    """Refused (CdrParseError) quickly; no socket opened, no URL fetched, no file content read in."""
    fetched: list[Any] = []
    started = time.perf_counter()
    with mock.patch.object(socket.socket, "connect", side_effect=lambda *a: fetched.append(a)), \
            mock.patch.object(urllib.request, "urlopen", side_effect=lambda *a, **k: fetched.append(a)):
        result = parse_or_error(parse_xml_cdr, data)
    assert time.perf_counter() - started < 1.0
    assert not fetched
    if isinstance(result, CdrRecord):  # only possible when nothing declared an entity
        assert "root:" not in result.raw.replace(data.decode("utf-8", "replace"), "")
        for value in (result.uuid, result.caller_id_number, result.destination_number):
            assert "lol" not in value and "root:" not in value and len(value) < 1000
    text = data.decode("utf-8", "replace")
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        assert isinstance(result, CdrParseError)


# -- CSV ----------------------------------------------------------------------------------------------

csv_value = st.one_of(
    st.text(max_size=20),
    st.sampled_from([
        '"', '""', '\\"', ",", '","', "\r", "\x00", "\t", " ", "-1", "-0", "١٢", "1_0", " 7 ", "1e3",
        "9" * 25, "9" * 5000, "2147483648", "99999999999", "253402300799", "253402300800", "0",
        "0001-01-01 00:00:00", "9999-12-31 23:59:59", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-14:00",
        "2026-02-30 00:00:00", "2026-11-28T01:37:23Z", "1969-12-31 23:59:59", "1970-01-01 00:00:00",
        "2026-11-28 01:37:23.123456", "2026-11-28", "x" * 300, "f" * 65, "painel_actions", "inbound",
        "forwarded", "bogus", "8011441", "5598987654321", "a" * 40,
    ]),
    st.integers(-10**3, 10**13).map(str),
    st.datetimes(timezones=st.none() | st.just(UTC) | st.timezones()).map(lambda d: d.isoformat(" ")),
)


@st.composite
def mutated_csv_line(draw: st.DrawFn) -> tuple[str, str]:
    """(template, line): a real mod_cdr_csv line with fields changed, dropped, duplicated, requoted."""
    template = draw(st.sampled_from(sorted(CSV_SEEDS)))
    fields = split_line(draw(st.sampled_from(CSV_SEEDS[template])))
    names = TEMPLATES[template]
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["set", "set", "set_named", "drop", "dup"]))
        at = draw(st.integers(0, max(len(fields) - 1, 0)))
        if op == "set" and fields:
            fields[at] = draw(csv_value)
        elif op == "set_named":
            name = draw(st.sampled_from(["uuid", "bleg_uuid", "start_epoch", "start_stamp", "end_stamp",
                                         "answer_epoch", "end_epoch", "duration", "billsec", "painel_circuit",
                                         "painel_direction", "painel_did", "painel_rule"]))
            for i, n in enumerate(names):
                if n == name and i < len(fields):
                    fields[i] = draw(csv_value)
        elif op == "drop" and fields:
            del fields[at]
        elif op == "dup" and fields:
            fields.insert(at, fields[at])
    style = draw(st.sampled_from(["freeswitch", "freeswitch", "unquoted", "spaced", "escaped"]))
    if style == "freeswitch":
        line = '"' + '","'.join(fields) + '"'
    elif style == "unquoted":
        line = ",".join(fields)
    elif style == "spaced":
        line = '"' + '", "'.join(fields) + '"'
    else:
        line = ",".join('"' + f.replace('"', '""') + '"' for f in fields)
    if draw(st.integers(0, 3)) == 0:
        line = draw(mutate_bytes(line.encode("utf-8"))).decode("utf-8", "replace")
    return template, line


@FUZZ
@given(case=mutated_csv_line(), tz=st.sampled_from(SWITCH_ZONES))
def test_csv_mutated_real_lines(case: tuple[str, str], tz: str) -> None:
    template, line = case
    line = line.split("\n", 1)[0]  # one line, as the readers hand it over
    parse_or_error(CSV_PARSERS[(template, tz)].parse_line, line)


def _painel_line(**values: str) -> str:
    fields = split_line(CSV_SEEDS["painel"][1])
    for i, name in enumerate(TEMPLATES["painel"]):
        if name in values:
            fields[i] = values[name]
    return '"' + '","'.join(fields) + '"'


@FUZZ
@given(line=st.text(max_size=300), tz=st.sampled_from(SWITCH_ZONES), template=st.sampled_from(sorted(CSV_SEEDS)))
# found by this test: each escaped as ValueError / OverflowError, or made a record no database stores
@example(line=_painel_line(start_epoch="9" * 5000), tz="UTC", template="painel")
@example(line=_painel_line(start_epoch="", start_stamp="9999-12-31 23:00:00"), tz="America/Sao_Paulo",
         template="painel")
@example(line=_painel_line(start_epoch="", start_stamp="0001-01-01T00:00:00+01:00"), tz="UTC", template="painel")
@example(line=_painel_line(start_epoch="", start_stamp="0001-01-01 00:00:00"), tz="UTC", template="painel")
@example(line=_painel_line(start_epoch="", start_stamp="9999-12-31 23:59:59"), tz="Asia/Tokyo", template="painel")
@example(line=_painel_line(start_epoch="253402300799"), tz="UTC", template="painel")
@example(line=_painel_line(duration="99999999999", billsec="99999999999"), tz="UTC", template="painel")
@example(line=_painel_line(uuid="f" * 65), tz="UTC", template="painel")
@example(line=_painel_line(bleg_uuid="f" * 65), tz="UTC", template="painel")
@example(line=_painel_line(caller_id_name="\x00\x00"), tz="UTC", template="painel")
def test_csv_arbitrary_lines(line: str, tz: str, template: str) -> None:
    line = line.split("\n", 1)[0]
    parse_or_error(CSV_PARSERS[(template, tz)].parse_line, line)


@st.composite
def csv_files(draw: st.DrawFn) -> tuple[str, bytes]:
    """(template, file bytes): real and mutated lines, blank lines, CRLF, bad UTF-8, NUL padding."""
    template = draw(st.sampled_from(sorted(CSV_SEEDS)))
    lines: list[bytes] = []
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["real", "mutated", "mutated", "blank", "junk"]))
        if kind == "real":
            lines.append(draw(st.sampled_from(CSV_SEEDS[template])).encode())
        elif kind == "mutated":
            t, line = draw(mutated_csv_line())
            lines.append(line.encode("utf-8", "surrogateescape"))
        elif kind == "blank":
            lines.append(draw(st.sampled_from([b"", b"   ", b"\r", b"\t"])))
        else:
            lines.append(draw(st.binary(max_size=60)).replace(b"\n", b""))
    data = b"".join(line.replace(b"\n", b" ") + draw(st.sampled_from([b"\n", b"\r\n"])) for line in lines)
    if draw(st.booleans()):
        data = draw(mutate_bytes(data))
    if draw(st.integers(0, 5)) == 0:
        data += b"\x00" * draw(st.integers(1, 600))  # a file cut by a crash: NUL-padded tail
    return template, data


def _non_blank_lines(data: bytes) -> list[str]:
    """The lines the pipeline must account for, as it decodes them (pipeline._lines)."""
    return [ln for ln in _lines(data) if ln.strip()]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-cdr")


@FUZZ
@given(case=csv_files(), tz=st.sampled_from(SWITCH_ZONES))
def test_csv_files_lose_no_line(scratch: Path, case: tuple[str, bytes], tz: str) -> None:
    """parse_file and parse_lines yield one record or error per non-blank line, in order."""
    template, data = case
    parser = CSV_PARSERS[(template, tz)]
    path = scratch / "Master.csv"
    path.write_bytes(data)
    from_file = list(parser.parse_file(path))
    assert [n for n, _, _ in from_file] == _numbered_lines(data.split(b"\n"))
    for _number, line, parsed in from_file:
        if isinstance(parsed, CdrParseError):
            check_error(parsed)
        else:
            check_record(parsed, line)
    pieces = data.decode("utf-8", "replace").split("\n")
    text_lines = [piece + "\n" for piece in pieces[:-1]] + ([pieces[-1]] if pieces[-1] else [])
    from_text = list(parser.parse_lines(text_lines))
    assert [n for n, _, _ in from_text] == _numbered_lines(pieces)


def _numbered_lines(pieces: list[Any]) -> list[int]:
    """Numbers of the lines a reader must yield: all but those empty once \\n / \\r\\n is dropped."""
    numbers = []
    for number, piece in enumerate(pieces, 1):
        last = number == len(pieces)
        if last and not piece:  # the text after the final newline is not a line
            break
        cr = "\r" if isinstance(piece, str) else b"\r"
        if (piece[:-1] if not last and piece.endswith(cr) else piece):
            numbers.append(number)
    return numbers


# -- the pipeline, without a database --------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_catalog(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Catalog, Ingester]]:
    """The demo operator's catalog (circuit 8011441, its DIDs and plan), loaded once."""
    from painel.demo import ensure_operator

    path = tmp_path_factory.mktemp("fuzz-catalog") / "painel.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    with Session(engine) as session:
        ensure_operator(session)
        session.commit()
        catalog = load_catalog(session)
    settings_ = load_settings(environ={}, overrides={"database_url": url,
                                                     "var_dir": str(tmp_path_factory.mktemp("fuzz-var"))})
    yield catalog, Ingester(engine, settings_, catalog=catalog)
    engine.dispose()


def check_prepared_rows(prep: Any) -> None:
    """Every row and quarantine entry fits the schema: widths, int4 ranges, storable text."""
    for row in prep.rows:
        assert len(row) == len(CDR_COLUMNS)
        for column, value in zip(CDR_COLUMNS, row):
            if isinstance(value, str):
                storable_text(value, f"cdrs.{column}")
                width = CDR_WIDTHS[column]
                assert width is None or len(value) <= width, f"cdrs.{column} ({width}): {value[:80]!r}"
            elif isinstance(value, int) and column in CDR_INT32:
                assert -INT32 - 1 <= value <= INT32, f"cdrs.{column}: {value}"
            elif column == "amount":
                assert -(2**63) <= value < 2**63
    for row in prep.quarantine:
        assert len(row) == len(QUARANTINE_COLUMNS)
        for column, value in zip(QUARANTINE_COLUMNS, row):
            if isinstance(value, str):
                storable_text(value, f"cdr_quarantine.{column}")
                width = QUARANTINE_WIDTHS[column]
                assert width is None or len(value) <= width, f"cdr_quarantine.{column} ({width}): {value[:80]!r}"


@FUZZ
@given(case=csv_files(), sqlite=st.booleans())
def test_pipeline_accounts_for_every_csv_line(demo_catalog: tuple[Catalog, Ingester],
                                              case: tuple[str, bytes], sqlite: bool) -> None:
    catalog, ingester = demo_catalog
    template, data = case
    lines = _lines(data)
    items = _csv_items(ingester.csv_parser(template), lines, "fuzz.csv", template)
    assert [it.raw for it in items] == _non_blank_lines(data)
    prep = prepare(items, catalog, sqlite, want_outcomes=True)
    assert len(prep.rows) + len(prep.quarantine) == len(items)
    assert len(prep.outcomes) == len(items)
    check_prepared_rows(prep)


@FUZZ
@given(data=st.one_of(mutated_json(), mutated_xml(), st.binary(max_size=200)), sqlite=st.booleans())
@example(data=b'{"variables": {"uuid": "u", "start_epoch": "100", "painel_direction": "inbound", '
              b'"painel_circuit": "8011441", "painel_rule": "' + b"r" * 17 + b'"}}', sqlite=False)
@example(data=b'{"variables": {"uuid": "u", "start_epoch": "100", "painel_direction": "inbound", '
              b'"painel_circuit": "8011441", "painel_did": "' + b"5" * 33 + b'"}}', sqlite=False)
@example(data=b'{"variables": {"uuid": "u", "start_epoch": "100", "painel_direction": "inbound", '
              b'"painel_circuit": "80\\u00001"}}', sqlite=False)
@example(data=b'{"variables": {"uuid": "u", "start_stamp": "x", "start_epoch": "1", "billsec": "2147483647", '
              b'"painel_direction": "outbound", "painel_circuit": "8011441", "destination_number": "32221234"}}',
         sqlite=False)
@example(data=b'{"variables": \x00}', sqlite=False)  # NUL in a body that never parses
def test_pipeline_accounts_for_every_json_and_xml_document(demo_catalog: tuple[Catalog, Ingester],
                                                           data: bytes, sqlite: bool) -> None:
    catalog, ingester = demo_catalog
    text = data.decode("utf-8", "replace")
    item = ingester.json_item(text, "fuzz")
    assert isinstance(item.parsed, (CdrRecord, CdrParseError))
    prep = prepare([item], catalog, sqlite, want_outcomes=True)
    assert len(prep.rows) + len(prep.quarantine) == 1
    check_prepared_rows(prep)


# -- the pipeline, end to end on SQLite and PostgreSQL -------------------------------------------------------

DB_FUZZ = settings(FUZZ, max_examples=25, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                          HealthCheck.function_scoped_fixture, HealthCheck.large_base_example])


def _stored(engine: sa.Engine) -> tuple[set[str], set[str], set[str]]:
    with engine.connect() as conn:
        cdr = conn.execute(sa.text("SELECT uuid, raw FROM cdrs")).all()
        quarantined = {r[0] for r in conn.execute(sa.text("SELECT raw FROM cdr_quarantine"))}
    return {r[0] for r in cdr}, {r[1] for r in cdr}, quarantined


@DB_FUZZ
@given(case=csv_files(), salt=st.uuids())
def test_ingest_csv_file_loses_nothing(demo_db: sa.Engine, settings: Any, tmp_path: Path,
                                       case: tuple[str, bytes], salt: uuidlib.UUID) -> None:
    """rated + duplicate + quarantined == the file's non-blank lines, and each line is in the database."""
    template, data = case
    path = tmp_path / f"Master-{salt}.csv"
    path.write_bytes(data)
    stats = Ingester(demo_db, settings).ingest_csv_file(path, template=template, force=True)
    lines = _non_blank_lines(data)
    assert stats.rated + stats.duplicate + stats.quarantined == len(lines) == stats.total
    uuids, cdr_raws, quarantined = _stored(demo_db)
    parser = CsvCdrParser(TEMPLATES[template], settings.switch_timezone)
    for line in lines:
        if line in cdr_raws or line.replace("\x00", "\ufffd") in quarantined or line in quarantined:
            continue
        try:  # a duplicate: its uuid is stored (from an earlier line or example)
            assert parser.parse_line(line).uuid in uuids
        except CdrParseError:  # pragma: no cover - the assertion explains
            raise AssertionError(f"line lost: {line[:120]!r}") from None


@DB_FUZZ
@given(data=st.one_of(mutated_json(), mutated_xml(), st.binary(max_size=200)))
@example(data=b'{"variables": {"uuid": "' + b"f" * 65 + b'", "start_epoch": "100"}}')
@example(data=b'{"variables": {"uuid": "u-nul", "start_epoch": "100", "painel_direction": "inbound", '
              b'"painel_circuit": "8011441", "caller_id_number": "\\u0000"}}')
@example(data=b'{"cdr": "\x00"}')
def test_http_receiver_stores_or_quarantines_every_post(demo_db: sa.Engine, settings: Any, data: bytes) -> None:
    """Through the real WSGI receiver: 2xx/400 with the CDR committed; never 500, never an exception."""
    import io

    from cdr_ingest.http import CdrReceiver

    ingester = Ingester(demo_db, settings)
    with demo_db.connect() as conn:
        before = conn.execute(sa.text(
            "SELECT (SELECT COUNT(*) FROM cdrs) + (SELECT COUNT(*) FROM cdr_quarantine)")).scalar()
    statuses: list[str] = []
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/cdr", "CONTENT_LENGTH": str(len(data)),
               "CONTENT_TYPE": "application/json", "wsgi.input": io.BytesIO(data), "REMOTE_ADDR": "127.0.0.1"}
    body = b"".join(CdrReceiver(ingester)(environ, lambda status, headers: statuses.append(status)))
    status = statuses[0]
    assert status.split()[0] in ("200", "202", "400"), (status, body)
    reply = json.loads(body)
    with demo_db.connect() as conn:
        after = conn.execute(sa.text(
            "SELECT (SELECT COUNT(*) FROM cdrs) + (SELECT COUNT(*) FROM cdr_quarantine)")).scalar()
    # one more row or quarantine entry, unless the very same CDR (uuid or raw) was stored already
    assert after - before in (0, 1)
    if after == before:
        assert reply.get("resultado") in ("duplicado", "quarentena"), reply
