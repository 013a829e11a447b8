"""CDR parsers against real FreeSWITCH output (tests/data/third_party/freeswitch/).

The lab_1.10.12 captures come from a real FreeSWITCH 1.10.12; their README's table is the oracle
for the per-leg values, so the expectations here are read from it rather than retyped.
"""
from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import pytest

from cdr_ingest.parse_csv import CsvCdrParser, split_line
from cdr_ingest.parse_json import decode_post_body, parse_json_cdr
from cdr_ingest.records import CdrRecord
from cdr_ingest.templates import (
    DEFAULT_CDR_CSV_CONF,
    detect_template,
    load_csv_templates,
    template_columns,
)
from painel.errors import CdrParseError, ConfigError, InputError

UTC = timezone.utc
FS = Path(__file__).resolve().parents[1] / "data" / "third_party" / "freeswitch"
LAB = FS / "lab_1.10.12"
LAB_JSON = sorted((LAB / "json_cdr").glob("*.cdr.json"))
ALL_JSON = sorted((FS / "json_cdr").glob("*.json")) + LAB_JSON + [LAB / "json_cdr_socket_leg.json"]
FILE_RE = re.compile(r"^(s\d+[a-g]?)_.*_([ab])_([0-9a-f-]{36})\.cdr\.json$")


# -- the lab README's per-file table ------------------------------------------------------------


def _readme_rows() -> dict[str, dict[str, object]]:
    """file name -> the README row (run, leg, caller, destination, ..., painel_* decoded)."""
    text = (LAB / "README.md").read_text(encoding="utf-8")
    rows: dict[str, dict[str, object]] = {}
    for line in text.splitlines():
        if not line.startswith("| `s"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        (name, run, scenario, leg, direction, profile, caller, dest, context, billsec, duration,
         cause, disposition, originate, painel_text) = cells
        painel: dict[str, str] = {}
        if painel_text != "(none)":
            for item in painel_text.split("; "):
                key, _, val = item.partition("=")
                painel[f"painel_{key}"] = val
        rows[name.strip("`")] = {
            "run": run, "scenario": scenario, "leg": leg, "direction": direction,
            "caller": caller, "destination_number": dest, "context": context,
            "billsec": int(billsec), "duration": int(duration), "hangup_cause": cause,
            "originate_disposition": originate, "painel": painel,
        }
    return rows


README_ROWS = _readme_rows()


def _load(path: Path) -> CdrRecord:
    return parse_json_cdr(path.read_bytes())


def test_readme_table_covers_every_lab_file() -> None:
    assert len(LAB_JSON) == 48
    assert sorted(README_ROWS) == sorted(p.name for p in LAB_JSON)


# -- JSON ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ALL_JSON, ids=lambda p: p.name)
def test_every_json_fixture_parses(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    record = parse_json_cdr(text)
    doc = json.loads(text)
    assert record.uuid == doc["variables"]["uuid"]
    assert record.source_format == "json"
    assert record.raw == text  # kept exactly as received
    assert record.leg in ("a", "b")
    assert record.start.tzinfo is not None and record.start.utcoffset() == timedelta(0)
    assert record.end is not None and record.end >= record.start
    assert record.billsec <= record.duration + 1
    # bytes in, same record out
    assert parse_json_cdr(path.read_bytes()) == record


@pytest.mark.parametrize("path", LAB_JSON, ids=lambda p: p.name)
def test_lab_json_matches_readme(path: Path) -> None:
    expected = README_ROWS[path.name]
    scenario, leg, uuid = FILE_RE.match(path.name).groups()  # type: ignore[union-attr]
    record = _load(path)
    assert record.uuid == uuid
    assert record.leg == leg == expected["leg"]
    assert record.caller_id_number == expected["caller"]
    assert record.destination_number == expected["destination_number"]
    assert record.context == expected["context"]
    assert record.billsec == expected["billsec"]
    assert record.duration == expected["duration"]
    assert record.hangup_cause == expected["hangup_cause"]
    assert record.painel == expected["painel"]
    if record.billsec == 0:
        assert record.answer is None  # answer_epoch 0: never answered
    else:
        assert record.answer is not None and record.end is not None
        assert int((record.end - record.answer).total_seconds()) == record.billsec
    if leg == "a":
        assert record.originating_leg_uuid is None
        # FreeSWITCH names the b-leg on the a-leg only after a successful bridge
        assert (record.bleg_uuid is not None) == (expected["originate_disposition"] == "SUCCESS")
    else:
        assert record.bleg_uuid is None
        assert record.originating_leg_uuid is not None


def test_lab_legs_link_to_each_other() -> None:
    records = {r.uuid: r for r in map(_load, LAB_JSON)}
    b_legs = [r for r in records.values() if r.leg == "b"]
    assert len(b_legs) == 22
    for b in b_legs:
        a = records[b.originating_leg_uuid]  # type: ignore[index]
        assert a.leg == "a"
        if a.bleg_uuid is not None:
            assert a.bleg_uuid == b.uuid
        assert a.billsec == b.billsec
    # the forwarded b-leg carries only what its dial string set
    forwarded = records["c53c337d-4fae-4aa6-a9bc-90d6841d61c2"]
    assert forwarded.painel == {"painel_direction": "forwarded", "painel_circuit": "8011441"}


def test_url_encoded_values_are_decoded() -> None:
    s4_a = _load(LAB / "json_cdr" / "s4_collect_accept_a_4fbb138f-0a3f-453d-8d97-039ffa3df0cd.cdr.json")
    assert s4_a.sip_headers["X-Siemens-Call-Type"] == "collect call"
    assert s4_a.painel["painel_bridge"] == "sofia/internal/8011441@127.0.0.1:5090"
    s4_b = _load(LAB / "json_cdr" / "s4_collect_accept_b_0f7f15ec-36e1-40c9-888a-8061164fa331.cdr.json")
    assert s4_b.sip_headers["X-Siemens-Call-Type"] == "collect call"  # copied to the b-leg
    s5_a = _load(LAB / "json_cdr" / "s5_followme_forward_a_80ea7d78-3bc4-4b05-a2e2-562700a46488.cdr.json")
    assert s5_a.painel["painel_bridge"] == (
        "{painel_direction=forwarded,painel_circuit=8011441}sofia/gateway/carrier/0218632221234"
    )
    s6a = _load(LAB / "json_cdr" / "s6a_out_local_fixed_a_f68bceb4-3a5d-4631-9639-486d399b171a.cdr.json")
    assert s6a.user_name == "8011441" and s6a.sip_from_user == "8011441"


CGRATES = {
    "cgrates_2013_a_leg_answered_1001_to_1002_url_encoded_values.json":
        ("c8ccef5e-34c2-4fd2-9a2e-fa6f295f3a1e", 21, 24, "1002", dict),
    "cgrates_2014_a_leg_answered_bridged_1001_to_1002.json":
        ("86cfd6e2-dbda-45a3-b59d-f683ec368e8b", 15, 21, "1002", dict),
    "cgrates_2015_a_leg_answered_bridged_1001_to_1003.json":
        ("e3133bf7-dcde-4daf-9663-9a79ffcef5ad", 66, 66, "1003", dict),
    "cgrates_2018_a_leg_answered_bridged_1001_to_1002_callstats.json":
        ("5a3a1d91-90d3-4db4-af5c-cc3ae15d93a4", 21, 30, "1002", list),
    "cgrates_2018_a_leg_answered_with_hold_1001_to_1002_pretty.json":
        ("3da8bf84-c133-4959-9e24-e72875cb33a1", 68, 71, "1002", list),
}


@pytest.mark.parametrize("name", sorted(CGRATES))
def test_cgrates_documents(name: str) -> None:
    uuid, billsec, duration, dest, callflow_type = CGRATES[name]
    path = FS / "json_cdr" / name
    assert isinstance(json.loads(path.read_text())["callflow"], callflow_type)
    record = _load(path)
    assert (record.uuid, record.billsec, record.duration) == (uuid, billsec, duration)
    assert record.destination_number == dest
    assert record.caller_id_number == "1001"
    assert record.context == "default"
    assert record.leg == "a"
    assert record.bleg_uuid is not None
    assert record.answer is not None and record.end is not None
    assert int((record.end - record.answer).total_seconds()) == billsec
    assert record.painel == {}


def test_cgrates_2013_epochs_decoded() -> None:
    record = _load(FS / "json_cdr" / "cgrates_2013_a_leg_answered_1001_to_1002_url_encoded_values.json")
    assert record.start == datetime(2013, 5, 16, 12, 33, 28, tzinfo=UTC)
    assert record.accountcode == "1001" and record.sip_from_user == "1001"


def test_callflow_array_uses_the_most_recent_profile() -> None:
    path = FS / "json_cdr" / "cgrates_2018_a_leg_answered_bridged_1001_to_1002_callstats.json"
    doc = json.loads(path.read_text())
    assert doc["callflow"][0]["profile_index"] == "2"  # FreeSWITCH writes the newest first
    doc["callflow"][1]["caller_profile"]["destination_number"] = "park_before_transfer"
    record = parse_json_cdr(json.dumps(doc))
    assert record.destination_number == "1002"


def test_old_layout_with_repeated_callflow_keys_uses_the_first() -> None:
    # FreeSWITCH before the array layout wrote one "callflow" key per profile, newest first
    path = FS / "json_cdr" / "cgrates_2014_a_leg_answered_bridged_1001_to_1002.json"
    doc = json.loads(path.read_text())
    newest = doc.pop("callflow")
    older = json.loads(json.dumps(newest))
    older["caller_profile"]["destination_number"] = "old_extension"
    body = json.dumps(doc)[:-1] + ', "callflow": ' + json.dumps(newest) + ', "callflow": ' + json.dumps(older) + "}"
    assert parse_json_cdr(body).destination_number == "1002"


def _with_variables(path: Path, **extra: str) -> str:
    doc = json.loads(path.read_text())
    doc["variables"].update(extra)
    return json.dumps(doc)


def test_plain_values_are_not_decoded() -> None:
    # encode-values=false (CGRateS 2014): a value that looks percent-encoded stays as sent
    path = FS / "json_cdr" / "cgrates_2014_a_leg_answered_bridged_1001_to_1002.json"
    record = parse_json_cdr(
        _with_variables(path, painel_rule="100%", sip_h_X_Test="50%41 off", painel_did="+5598987654321")
    )
    assert record.painel == {"painel_rule": "100%", "painel_did": "+5598987654321"}
    assert record.sip_headers == {"X_Test": "50%41 off"}


def test_encoded_values_tolerate_invalid_percent() -> None:
    path = LAB / "json_cdr" / "s1_default_bridge_a_8db9e041-9245-4f93-8d14-91d4aeac9deb.cdr.json"
    record = parse_json_cdr(_with_variables(path, painel_rule="100%", painel_did="%2B5598987654321"))
    assert record.painel["painel_rule"] == "100%"
    assert record.painel["painel_did"] == "+5598987654321"


def test_empty_painel_values_are_dropped() -> None:
    path = LAB / "json_cdr" / "s1_default_bridge_a_8db9e041-9245-4f93-8d14-91d4aeac9deb.cdr.json"
    record = parse_json_cdr(_with_variables(path, painel_hangup_cause=""))
    assert "painel_hangup_cause" not in record.painel


def test_unanswered_socket_leg() -> None:
    record = _load(LAB / "json_cdr_socket_leg.json")
    assert record.uuid == "9fc4b8a7-652d-48fc-bf19-642db7c44037"
    assert record.answer is None and record.billsec == 0 and record.duration == 2
    assert record.painel == {"painel_action": "bridge", "painel_rule": "default"}


# -- JSON: malformed ----------------------------------------------------------------------------

S1_A = LAB / "json_cdr" / "s1_default_bridge_a_8db9e041-9245-4f93-8d14-91d4aeac9deb.cdr.json"


def _mutated(mutate) -> str:
    doc = json.loads(S1_A.read_text())
    mutate(doc)
    return json.dumps(doc)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(S1_A.read_text()[:500], id="truncated"),
        pytest.param("", id="empty"),
        pytest.param("[1, 2]", id="not-an-object"),
        pytest.param(_mutated(lambda d: d.pop("variables")), id="no-variables"),
        pytest.param(_mutated(lambda d: d["variables"].pop("uuid")), id="no-uuid"),
        pytest.param(_mutated(lambda d: d["variables"].update(start_epoch="abc")), id="bad-start"),
        pytest.param(_mutated(lambda d: d["variables"].update(answer_epoch="-5")), id="bad-answer"),
        pytest.param(
            _mutated(lambda d: [d["variables"].pop(k) for k in ("start_epoch", "start_uepoch")]),
            id="no-start",
        ),
        pytest.param(_mutated(lambda d: d["variables"].update(billsec="20s")), id="bad-billsec"),
        pytest.param(b"\x00\x01garbage", id="binary"),
    ],
)
def test_malformed_json_raises(body: str | bytes) -> None:
    with pytest.raises(CdrParseError) as info:
        parse_json_cdr(body)
    assert info.value.reason == "malformed"
    assert info.value.message  # pt-BR text for the operator


def test_uepoch_used_when_epoch_missing() -> None:
    record = parse_json_cdr(_mutated(lambda d: d["variables"].pop("start_epoch")))
    assert record.start == _load(S1_A).start


# -- decode_post_body ---------------------------------------------------------------------------

_FS_UNSAFE = "\r\n #%&+:;<=>?@[\\]^`{|}\""


def fs_url_encode(text: str) -> str:
    """What switch_url_encode does (v1.10.12): unsafe and non-printable bytes -> %XX, no double-encoding."""
    data = text.encode("utf-8")
    out: list[str] = []
    hexdigits = b"0123456789ABCDEF"
    for i, byte in enumerate(data):
        if byte == 0x25 and i + 2 < len(data) and data[i + 1] in hexdigits and data[i + 2] in hexdigits:
            out.append("%")
        elif byte < 0x20 or byte > 0x7E or chr(byte) in _FS_UNSAFE:
            out.append(f"%{byte:02X}")
        else:
            out.append(chr(byte))
    return "".join(out)


PLAIN_DOC = LAB / "json_cdr_socket_leg.json"  # encode-values false, as with encode=true


def test_decode_raw_json_body() -> None:
    body = PLAIN_DOC.read_bytes()
    text = decode_post_body(body, "application/json")
    assert parse_json_cdr(text) == parse_json_cdr(body.decode().strip())


def test_decode_raw_json_mislabelled_as_form() -> None:
    # disable-100-continue=true drops the module's Content-Type; curl then says form-urlencoded
    body = S1_A.read_bytes()
    assert decode_post_body(body, "application/x-www-form-urlencoded") == body.decode().strip()


def test_decode_form_encoded_body() -> None:
    text = PLAIN_DOC.read_text().strip()
    body = ("cdr=" + fs_url_encode(text)).encode("ascii")
    assert decode_post_body(body, "application/x-www-form-urlencoded") == text
    assert decode_post_body(body, None) == text


def test_decode_form_encoded_body_from_other_clients() -> None:
    text = PLAIN_DOC.read_text().strip()
    body = ("cdr=" + quote(text, safe="")).encode("ascii")
    assert decode_post_body(body, "application/x-www-form-urlencoded; charset=utf-8") == text


def test_decode_base64_body() -> None:
    text = S1_A.read_text().strip()
    body = b"cdr=" + base64.b64encode(text.encode())
    assert decode_post_body(body, "application/x-www-form-base64-encoded") == text
    assert decode_post_body(body, None) == text  # without the header, still recognised


def test_decode_spooled_encoded_files() -> None:
    # err-log-dir files hold the encoded text without "cdr=" when encode is true/base64
    text = PLAIN_DOC.read_text().strip()
    assert decode_post_body(fs_url_encode(text).encode() + b"\n", None) == text
    assert decode_post_body(base64.b64encode(text.encode()) + b"\n", None) == text


@pytest.mark.parametrize(
    "body",
    [b"", b"   ", b"cdr=", b"cdr=%%%", b"hello world", b"uuid=abc&cdr=notjson", b"cdr=bm90IGpzb24="],
)
def test_decode_rejects_garbage(body: bytes) -> None:
    with pytest.raises(CdrParseError):
        decode_post_body(body, "application/x-www-form-urlencoded")


def test_decode_then_parse_equals_file() -> None:
    text = PLAIN_DOC.read_text().strip()
    for body, ctype in (
        (text.encode(), "application/json"),
        (("cdr=" + fs_url_encode(text)).encode(), "application/x-www-form-urlencoded"),
        (b"cdr=" + base64.b64encode(text.encode()), "application/x-www-form-base64-encoded"),
    ):
        record = parse_json_cdr(decode_post_body(body, ctype))
        assert record.uuid == "9fc4b8a7-652d-48fc-bf19-642db7c44037"
        assert record.raw == text


# -- templates ----------------------------------------------------------------------------------

EXAMPLE_COLUMNS = [
    "caller_id_name", "caller_id_number", "destination_number", "context", "start_stamp",
    "answer_stamp", "end_stamp", "duration", "billsec", "hangup_cause", "uuid", "bleg_uuid",
    "accountcode", "read_codec", "write_codec",
]
PAINEL_EXTRA = [
    "painel_circuit", "painel_did", "painel_direction", "painel_rule", "uuid", "bleg_uuid",
    "billsec", "start_epoch", "answer_epoch", "end_epoch",
]


def test_shipped_cdr_csv_templates() -> None:
    assert DEFAULT_CDR_CSV_CONF.is_file()
    assert DEFAULT_CDR_CSV_CONF.parts[-3:] == ("fs-config", "autoload_configs", "cdr_csv.conf.xml")
    templates = load_csv_templates(DEFAULT_CDR_CSV_CONF)
    assert templates["example"] == EXAMPLE_COLUMNS
    assert templates["painel"] == EXAMPLE_COLUMNS + PAINEL_EXTRA
    assert len(templates["example"]) == 15 and len(templates["painel"]) == 25
    assert detect_template(25, templates) == "painel"
    assert detect_template(15, templates) == "example"
    assert detect_template(14, templates) is None


def test_shipped_template_is_the_lab_template() -> None:
    readme = (LAB / "README.md").read_text(encoding="utf-8")
    example = re.search(r"`default-template=example` \(the stock template\):\n  `([^`]*)`", readme)
    extra = re.search(r"followed by\n  `([^`]*)`", readme)
    assert example and extra
    assert load_csv_templates()["painel"] == template_columns(example.group(1) + extra.group(1))


def test_vanilla_templates() -> None:
    templates = load_csv_templates(FS / "conf" / "vanilla_cdr_csv.conf.xml")
    assert set(templates) == {"sql", "example", "snom", "linksys", "asterisk", "opencdrrate"}
    assert templates["example"] == EXAMPLE_COLUMNS
    assert templates["snom"][12] == "accountcode"  # the space after the comma does not matter
    assert len(templates["opencdrrate"]) == 13  # the ${regex(...)} column stays one column


def test_detect_template_ambiguous() -> None:
    assert detect_template(2, {"x": ["a", "b"], "y": ["c", "d"]}) is None


def test_detect_template_from_a_line() -> None:
    from cdr_ingest.parse_csv import detect_template as detect_from_parse_csv

    line = (LAB / "cdr_csv" / "Master_painel.csv").read_text().splitlines()[0]
    assert detect_from_parse_csv(len(split_line(line)), TEMPLATES) == "painel"


def test_unreadable_template_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_csv_templates(tmp_path / "missing.xml")
    broken = tmp_path / "broken.xml"
    broken.write_text("<configuration><templates><template name='x'>")
    with pytest.raises(ConfigError):
        load_csv_templates(broken)
    empty = tmp_path / "empty.xml"
    empty.write_text("<configuration/>")
    with pytest.raises(ConfigError):
        load_csv_templates(empty)


# -- CSV ----------------------------------------------------------------------------------------

TEMPLATES = load_csv_templates()
RUN_OF_CSV = {"Master_example.csv": ("A", "example"), "Master_painel.csv": ("B", "painel")}


@pytest.fixture(scope="module")
def lab_json() -> dict[str, CdrRecord]:
    return {r.uuid: r for r in map(_load, LAB_JSON)}


@pytest.mark.parametrize("csv_name", sorted(RUN_OF_CSV))
def test_lab_csv_matches_json(csv_name: str, lab_json: dict[str, CdrRecord]) -> None:
    run, template = RUN_OF_CSV[csv_name]
    parser = CsvCdrParser(TEMPLATES[template], "UTC", template_name=template)
    results = list(parser.parse_file(LAB / "cdr_csv" / csv_name))
    assert len(results) == 24
    raw_lines = (LAB / "cdr_csv" / csv_name).read_text().splitlines()
    seen = set()
    for number, raw, record in results:
        assert isinstance(record, CdrRecord), record
        assert raw == raw_lines[number - 1] == record.raw
        assert record.source_format == "csv" and record.leg == ""
        js = lab_json[record.uuid]
        json_name = next(n for n in README_ROWS if record.uuid in n)
        assert README_ROWS[json_name]["run"] == run  # same run as the CSV
        assert record.billsec == js.billsec
        assert record.duration == js.duration
        assert record.destination_number == js.destination_number
        assert record.caller_id_number == js.caller_id_number
        assert record.context == js.context
        assert record.hangup_cause == js.hangup_cause
        assert (record.start, record.answer, record.end) == (js.start, js.answer, js.end)
        if js.leg == "a":
            assert record.bleg_uuid == js.bleg_uuid
        else:
            assert record.bleg_uuid is None
        assert record.has_painel_fields == (template == "painel")
        if template == "painel":
            columns = set(PAINEL_EXTRA[:4])
            assert record.painel == {k: v for k, v in js.painel.items() if k in columns}
        else:
            assert record.painel == {}
        seen.add(record.uuid)
    assert seen == {u for u, r in lab_json.items() if README_ROWS[_name_of(u)]["run"] == run}


def _name_of(uuid: str) -> str:
    return next(n for n in README_ROWS if uuid in n)


def test_painel_csv_prefers_epochs() -> None:
    # with a wrong switch zone the stamps would shift; the epochs keep the painel template right
    parser = CsvCdrParser(TEMPLATES["painel"], "America/Sao_Paulo", template_name="painel")
    utc_parser = CsvCdrParser(TEMPLATES["painel"], template_name="painel")
    path = LAB / "cdr_csv" / "Master_painel.csv"
    for (_, _, a), (_, _, b) in zip(parser.parse_file(path), utc_parser.parse_file(path)):
        assert a == b


def test_probe_line_matches_its_json() -> None:
    parser = CsvCdrParser(TEMPLATES["example"], template_name="example")
    [(number, raw, record)] = list(parser.parse_file(LAB / "cdr_csv_example_template_line.csv"))
    js = _load(LAB / "json_cdr_socket_leg.json")
    assert isinstance(record, CdrRecord)
    assert record.uuid == js.uuid
    assert (record.billsec, record.duration) == (js.billsec, js.duration) == (0, 2)
    assert record.destination_number == js.destination_number
    assert record.caller_id_number == js.caller_id_number
    assert (record.start, record.answer, record.end) == (js.start, js.answer, js.end)


def test_fsdocs_master_csv() -> None:
    parser = CsvCdrParser(TEMPLATES["example"], template_name="example")
    results = list(parser.parse_file(FS / "cdr_csv" / "fsdocs_Master.csv"))
    assert [n for n, _, _ in results] == [1, 2, 3, 4, 5]
    records = [r for _, _, r in results]
    assert all(isinstance(r, CdrRecord) for r in records)
    first = records[0]
    assert first.uuid == "a5c9f6c0-e752-11e3-8bfb-65b6c3cdac7d"
    assert first.destination_number == "0034688886392" and first.caller_id_number == "9007"
    assert first.start == datetime(2014, 5, 29, 16, 59, 50, tzinfo=UTC)
    for r in records:
        assert r.answer is None and r.billsec == 0 and r.start == r.end
        assert r.bleg_uuid is None and r.accountcode is None
    # stamps are the switch's local time: the zone moves them to UTC
    sp = CsvCdrParser(TEMPLATES["example"], "America/Sao_Paulo", template_name="example")
    local = next(sp.parse_file(FS / "cdr_csv" / "fsdocs_Master.csv"))[2]
    assert local.start == datetime(2014, 5, 29, 19, 59, 50, tzinfo=UTC)


PAINEL_LINE = (LAB / "cdr_csv" / "Master_painel.csv").read_text().splitlines()[1]


def _painel_parser() -> CsvCdrParser:
    return CsvCdrParser(TEMPLATES["painel"], template_name="painel")


def test_csv_wrong_field_count() -> None:
    fields = split_line(PAINEL_LINE)[:14]
    with pytest.raises(CdrParseError, match="linha com 14 campos; o modelo 'painel' tem 25"):
        _painel_parser().parse_row(fields, "x")


@pytest.mark.parametrize(
    ("index", "value", "message"),
    [
        (8, "dez", "billsec"),  # billsec (and its copy below)
        (7, "", "duration"),
        (10, "", "uuid"),
        (22, "ontem", "início"),
        (24, "1.5", "término"),
        (19, "other-uuid", "divergem"),  # the uuid copy disagrees
    ],
)
def test_csv_malformed_fields(index: int, value: str, message: str) -> None:
    fields = split_line(PAINEL_LINE)
    fields[index] = value
    if index == 8:
        fields[21] = value
    if index == 10:
        fields[19] = value
    with pytest.raises(CdrParseError, match=message):
        _painel_parser().parse_row(fields, "x")


def test_csv_bad_stamp() -> None:
    parser = CsvCdrParser(TEMPLATES["example"], template_name="example")
    fields = split_line((LAB / "cdr_csv" / "Master_example.csv").read_text().splitlines()[0])
    fields[4] = "29/05/2014 16:59"
    with pytest.raises(CdrParseError, match="início"):
        parser.parse_row(fields, "x")


def test_parse_file_continues_after_bad_lines(tmp_path: Path) -> None:
    lines = (LAB / "cdr_csv" / "Master_painel.csv").read_text().splitlines()
    bad_billsec = lines[2].replace('"0","CALL_REJECTED"', '"x","CALL_REJECTED"')
    path = tmp_path / "Master.csv"
    path.write_text(
        "\n".join([lines[0], '"only","three","fields"', bad_billsec, "", lines[1]]) + "\n"
    )
    results = list(_painel_parser().parse_file(path))
    assert [n for n, _, _ in results] == [1, 2, 3, 5]  # the blank line is skipped
    assert isinstance(results[0][2], CdrRecord)
    assert isinstance(results[1][2], CdrParseError)
    assert "3 campos" in results[1][2].message
    assert results[1][1] == '"only","three","fields"'
    assert isinstance(results[2][2], CdrParseError) and results[2][1] == bad_billsec
    assert isinstance(results[3][2], CdrRecord) and results[3][2].raw == lines[1]


def test_parse_file_unreadable(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        _painel_parser().parse_file(tmp_path / "nope.csv")


def test_csv_values_with_quotes_and_commas() -> None:
    parser = CsvCdrParser(TEMPLATES["example"], template_name="example")
    base = split_line((LAB / "cdr_csv" / "Master_example.csv").read_text().splitlines()[1])

    def line(first: str, sep: str = '","') -> str:
        return '"' + sep.join([first] + base[1:]) + '"'

    # FreeSWITCH writes values verbatim (no escaping): read them back verbatim
    for name in ('Joe "Boss", Ltd', '"5598981110002" <5598981110002>', 'a,b', '""'):
        assert split_line(line(name), 15)[0] == name
        assert parser.parse_line(line(name)).uuid == base[10]
    # other writers: RFC 4180 doubling and backslash escapes. When the verbatim split already
    # gives the template's field count it wins (FreeSWITCH is the writer Painel reads), so the
    # record is intact and the escape is kept as written.
    rfc = line('Joe ""Boss"", Ltd')
    backslash = line('Joe \\"Boss\\", Ltd')
    assert parser.parse_line(rfc).uuid == parser.parse_line(backslash).uuid == base[10]
    # ... and when it does not, the csv module reads the line
    assert split_line('"a"",""b","x"', 2) == ['a","b', "x"]
    assert split_line('say \\"hi\\","x"', 2) == ['say "hi"', "x"]
    # the stock snom/sql templates put a space after one comma; unquoted columns also work
    spaced = '"' + '","'.join(base[:12]) + '", "' + '","'.join(base[12:]) + '"'
    assert parser.parse_line(spaced).uuid == base[10]
    unquoted = ",".join(base)
    assert parser.parse_line(unquoted).billsec == int(base[8])


def test_crlf_and_latin1_lines(tmp_path: Path) -> None:
    parser = CsvCdrParser(TEMPLATES["example"], template_name="example")
    line = (LAB / "cdr_csv" / "Master_example.csv").read_text().splitlines()[1]
    latin = line.replace('"5598981110007"', '"Jos\xe9"', 1)
    path = tmp_path / "Master.csv"
    path.write_bytes(line.encode() + b"\r\n" + latin.encode("latin-1") + b"\n")
    (_, raw1, r1), (_, raw2, r2) = list(parser.parse_file(path))
    assert raw1 == line and isinstance(r1, CdrRecord)
    assert raw2 == latin and isinstance(r2, CdrRecord)


def test_csv_leg_from_originator_column() -> None:
    fields = ["uuid", "originating_leg_uuid", "start_epoch", "billsec", "duration"]
    parser = CsvCdrParser(fields)
    a = parser.parse_line('"u1","","1795829825","0","1"')
    b = parser.parse_line('"u2","u1","1795829825","0","1"')
    assert (a.leg, a.originating_leg_uuid) == ("a", None)
    assert (b.leg, b.originating_leg_uuid) == ("b", "u1")
    assert a.start == datetime.fromtimestamp(1795829825, UTC) and a.answer is None


def test_template_without_uuid_is_rejected() -> None:
    with pytest.raises(ConfigError):
        CsvCdrParser(["caller_id_number", "start_stamp"])
    with pytest.raises(ConfigError):
        CsvCdrParser(EXAMPLE_COLUMNS, "Mars/Olympus_Mons")


def test_from_config() -> None:
    parser = CsvCdrParser.from_config("painel")
    assert parser.field_count == 25 and parser.template_name == "painel"
    with pytest.raises(ConfigError):
        CsvCdrParser.from_config("nonexistent")


# -- fs-config/json_cdr.conf.xml ----------------------------------------------------------------


def test_json_cdr_config() -> None:
    import xml.etree.ElementTree as ET

    path = DEFAULT_CDR_CSV_CONF.parent / "json_cdr.conf.xml"
    params = {p.get("name"): p.get("value") for p in ET.parse(path).iter("param")}
    assert params["url"] == "http://127.0.0.1:8090/cdr"
    assert params["log-b-leg"] == params["prefix-a-leg"] == params["encode-values"] == "true"
    assert params["log-http-and-disk"] == "false"
    assert params["err-log-dir"] == "$${log_dir}/json_cdr_err"
    assert (params["retries"], params["delay"], params["timeout"]) == ("3", "5", "10")
    assert params["encode"] == "false"
    assert "log-dir" not in params  # an empty log-dir would turn file logging on
