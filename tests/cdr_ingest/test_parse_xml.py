"""mod_xml_cdr documents: the FreeSWITCH docs sample, hand-made variants, hostile input."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from cdr_ingest.parse_json import parse_json_cdr
from cdr_ingest.parse_xml import parse_xml_cdr
from cdr_ingest.pipeline import Ingester, file_kind
from painel.errors import CdrParseError

UTC = timezone.utc
FS = Path(__file__).resolve().parents[1] / "data" / "third_party" / "freeswitch"
SAMPLE = FS / "xml_cdr" / "fsdocs_a_leg_unanswered_send_refuse.cdr.xml"


def _doc(variables: str, callflows: str = "") -> str:
    """A minimal mod_xml_cdr document (compact, as FreeSWITCH writes it)."""
    return (
        '<?xml version="1.0"?>\n<cdr core-uuid="c0c0c0c0-0000-4000-8000-000000000000">'
        "<channel_data><state>CS_REPORTING</state><direction>inbound</direction></channel_data>"
        f"<variables>{variables}</variables><app_log></app_log>{callflows}</cdr>"
    )


def _callflow(dest: str, caller: str = "1001", context: str = "public", extra: str = "") -> str:
    return (
        '<callflow dialplan="XML" profile_index="1"><caller_profile>'
        f"<caller_id_number>{caller}</caller_id_number><destination_number>{dest}</destination_number>"
        f"<context>{context}</context>{extra}</caller_profile>"
        "<times><created_time>1700000000000000</created_time></times></callflow>"
    )


ENCODED_VARS = (
    "<uuid>11111111-2222-4333-8444-555555555555</uuid>"
    "<sip_from_user>1001</sip_from_user>"
    "<start_stamp>2023-11-14%2022%3A13%3A20</start_stamp>"
    "<start_epoch>1700000000</start_epoch><answer_epoch>1700000005</answer_epoch>"
    "<end_epoch>1700000065</end_epoch><duration>65</duration><billsec>60</billsec>"
    "<hangup_cause>NORMAL_CLEARING</hangup_cause>"
    "<bridge_uuid>99999999-8888-4777-8666-555555555555</bridge_uuid>"
    "<accountcode>cliente%20A</accountcode>"
    "<painel_did>%2B551140040000</painel_did>"
    "<painel_rule>in%3Ddid%3Bcircuit%3D7</painel_rule>"
    "<painel_circuit></painel_circuit>"
    "<sip_h_X-Collect>sim%2C%20a%20cobrar</sip_h_X-Collect>"
)


# -- the FreeSWITCH docs sample ---------------------------------------------------------------


def test_docs_sample() -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    record = parse_xml_cdr(text)
    doc_uuid = ET.fromstring(text).findtext("variables/uuid")
    assert record.uuid == doc_uuid == "80183ec8-d424-11e3-8fb2-65b6c3cdac7d"
    assert record.source_format == "xml"
    assert record.raw == text  # kept exactly as received
    assert record.leg == "a"
    assert record.billsec == 0 and record.duration == 0
    assert record.answer is None
    assert record.start == record.end == datetime(2014, 5, 5, 7, 11, 38, tzinfo=UTC)
    assert record.destination_number == "003468888646444"
    assert record.caller_id_number == "8009"
    assert record.context == "public"
    assert record.hangup_cause == "NORMAL_CLEARING"
    assert record.bleg_uuid is None and record.originating_leg_uuid is None
    assert record.sip_from_user == "8009"
    assert record.painel == {} and record.sip_headers == {}
    # bytes in, same record out
    assert parse_xml_cdr(SAMPLE.read_bytes()) == record


# -- hand-made documents ----------------------------------------------------------------------


def test_encoded_variables_are_decoded() -> None:
    record = parse_xml_cdr(_doc(ENCODED_VARS, _callflow("5511999990000")))
    assert record.uuid == "11111111-2222-4333-8444-555555555555"
    assert record.leg == "a"
    assert record.start == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert record.answer == datetime(2023, 11, 14, 22, 13, 25, tzinfo=UTC)
    assert record.end == datetime(2023, 11, 14, 22, 14, 25, tzinfo=UTC)
    assert (record.duration, record.billsec) == (65, 60)
    assert record.bleg_uuid == "99999999-8888-4777-8666-555555555555"
    assert record.accountcode == "cliente A"
    # empty painel_* values are dropped, the others decoded
    assert record.painel == {"painel_did": "+551140040000", "painel_rule": "in=did;circuit=7"}
    assert record.sip_headers == {"X-Collect": "sim, a cobrar"}
    assert record.destination_number == "5511999990000"
    assert record.caller_id_number == "1001"


def test_same_call_as_json_gives_the_same_fields() -> None:
    """The XML and JSON forms of one leg differ only in source_format and raw."""
    xml_record = parse_xml_cdr(_doc(ENCODED_VARS, _callflow("5511999990000")))
    variables = {el.tag: el.text or "" for el in ET.fromstring(_doc(ENCODED_VARS)).find("variables")}
    json_doc = {
        "variables": variables,
        "callflow": [{"caller_profile": {
            "caller_id_number": "1001", "destination_number": "5511999990000", "context": "public"}}],
    }
    json_record = parse_json_cdr(json.dumps(json_doc))
    for name in xml_record.__slots__:
        if name not in ("source_format", "raw"):
            assert getattr(xml_record, name) == getattr(json_record, name), name


def test_plain_values_are_not_decoded() -> None:
    """A document whose start_stamp is plain (encoding off) keeps a literal '%'."""
    plain = (
        "<uuid>u-plain</uuid><start_stamp>2023-11-14 22:13:20</start_stamp>"
        "<start_epoch>1700000000</start_epoch><end_epoch>1700000000</end_epoch>"
        "<painel_rule>desconto 100%25</painel_rule>"
    )
    record = parse_xml_cdr(_doc(plain))
    assert record.painel == {"painel_rule": "desconto 100%25"}


def test_first_callflow_is_the_current_profile() -> None:
    """After a transfer FreeSWITCH writes the newest callflow first."""
    flows = _callflow("2000", context="default") + _callflow("1000", context="public")
    record = parse_xml_cdr(_doc(ENCODED_VARS, flows))
    assert record.destination_number == "2000"
    assert record.context == "default"


def test_without_callflow_the_variables_are_used() -> None:
    variables = ENCODED_VARS + (
        "<destination_number>5511999990000</destination_number><context>public</context>"
    )
    record = parse_xml_cdr(_doc(variables))
    assert record.destination_number == "5511999990000"
    assert record.caller_id_number == "1001"  # sip_from_user
    assert record.context == "public"


def test_array_variable_keeps_the_first_element() -> None:
    repeated = "<painel_action>rota%201</painel_action><painel_action>x</painel_action>"
    record = parse_xml_cdr(_doc(ENCODED_VARS + repeated))
    assert record.painel["painel_action"] == "rota 1"


def test_b_leg_from_originating_leg_uuid() -> None:
    variables = (
        "<uuid>b-leg</uuid><start_stamp>2023-11-14%2022%3A13%3A20</start_stamp>"
        "<start_epoch>1700000000</start_epoch><answer_epoch>0</answer_epoch><end_epoch>1700000003</end_epoch>"
        "<originating_leg_uuid>a-leg</originating_leg_uuid><bridge_uuid>a-leg</bridge_uuid>"
        "<hangup_cause>ORIGINATOR_CANCEL</hangup_cause>"
    )
    record = parse_xml_cdr(_doc(variables, _callflow("1002")))
    assert record.leg == "b"
    assert record.originating_leg_uuid == "a-leg"
    assert record.bleg_uuid is None
    assert record.answer is None and record.billsec == 0 and record.duration == 3


def test_b_leg_from_the_profile_originator_block() -> None:
    variables = (
        "<uuid>b-leg</uuid><start_stamp>2023-11-14%2022%3A13%3A20</start_stamp>"
        "<start_epoch>1700000000</start_epoch><end_epoch>1700000003</end_epoch>"
    )
    originator = (
        "<originator><originator_caller_profile><uuid>a-leg-from-profile</uuid>"
        "</originator_caller_profile></originator>"
    )
    record = parse_xml_cdr(_doc(variables, _callflow("1002", extra=originator)))
    assert record.leg == "b"
    assert record.originating_leg_uuid == "a-leg-from-profile"


def test_bom_and_leading_whitespace_are_tolerated() -> None:
    text = "\ufeff\n" + _doc(ENCODED_VARS)
    record = parse_xml_cdr(text)
    assert record.uuid == "11111111-2222-4333-8444-555555555555"
    assert record.raw == text


# -- hostile and broken input -----------------------------------------------------------------


BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE cdr [\n<!ENTITY lol "lol">\n'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n]>\n'
    "<cdr><variables><uuid>&lol2;</uuid></variables></cdr>"
)


@pytest.mark.parametrize(
    "text",
    [
        BILLION_LAUGHS,
        '<!DOCTYPE cdr SYSTEM "file:///etc/passwd"><cdr><variables><uuid>x</uuid></variables></cdr>',
        "<cdr><!ENTITY x 'y'><variables><uuid>x</uuid></variables></cdr>",
        "<!doctype cdr><cdr/>",
    ],
    ids=["billion-laughs", "external-dtd", "bare-entity", "lowercase-doctype"],
)
def test_dtd_and_entities_are_refused(text: str) -> None:
    with pytest.raises(CdrParseError, match="DOCTYPE ou ENTITY"):
        parse_xml_cdr(text)
    with pytest.raises(CdrParseError, match="DOCTYPE ou ENTITY"):
        parse_xml_cdr(text.encode("utf-8"))


def test_truncated_document() -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    with pytest.raises(CdrParseError, match="XML do CDR inválido"):
        parse_xml_cdr(text[: len(text) // 2])


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "XML do CDR inválido"),
        ("not xml at all", "XML do CDR inválido"),
        ("<cdr><variables><uuid>&nope;</uuid></variables></cdr>", "XML do CDR inválido"),
        ("<event><variables><uuid>x</uuid></variables></event>", "não é um CDR"),
        ("<cdr><channel_data/></cdr>", "sem <variables>"),
        ("<cdr><variables></variables></cdr>", "sem <variables>"),
        ("<cdr><variables><start_epoch>1700000000</start_epoch></variables></cdr>", "sem uuid"),
        ("<cdr><variables><uuid>x</uuid></variables></cdr>", "sem horário de início"),
        ("<cdr><variables><uuid>x</uuid><start_epoch>ontem</start_epoch></variables></cdr>",
         "horário de início inválido"),
        ("<cdr><variables><uuid>x</uuid><start_epoch>1700000000</start_epoch><billsec>-1</billsec>"
         "</variables></cdr>", "billsec não numérico"),
    ],
)
def test_malformed_documents(text: str, message: str) -> None:
    with pytest.raises(CdrParseError, match=message):
        parse_xml_cdr(text)


def test_non_text_input() -> None:
    with pytest.raises(CdrParseError, match="texto ou bytes"):
        parse_xml_cdr(None)  # type: ignore[arg-type]


# -- routing in the pipeline ------------------------------------------------------------------


def test_file_kind(tmp_path: Path) -> None:
    assert file_kind(SAMPLE) == "xml"
    assert file_kind(Path("a_80183ec8.cdr.XML")) == "xml"  # by name: the file is not opened
    bare = tmp_path / "a_80183ec8"
    bare.write_text(_doc(ENCODED_VARS))
    assert file_kind(bare) == "xml"
    bare.write_text("{}")
    assert file_kind(bare) == "json"
    bare.write_text('"a","b"\n')
    assert file_kind(bare) == "csv"


def test_json_item_routes_xml_documents(tmp_path: Path) -> None:
    ingester = Ingester(sa.create_engine("sqlite://"), settings=None)  # type: ignore[arg-type]
    text = SAMPLE.read_text(encoding="utf-8")
    item = ingester.json_item(text, "a.cdr.xml")
    assert item.source == "xml"
    assert not isinstance(item.parsed, CdrParseError)
    assert item.parsed.uuid == "80183ec8-d424-11e3-8fb2-65b6c3cdac7d"
    broken = ingester.json_item(text[:200], "b.cdr.xml")
    assert broken.source == "xml" and isinstance(broken.parsed, CdrParseError)
    json_item = ingester.json_item('{"variables": {}}', "c.json")
    assert json_item.source == "json" and isinstance(json_item.parsed, CdrParseError)


def test_ingest_json_files_stores_xml_with_source_xml(engine, settings, tmp_path):  # type: ignore[no-untyped-def]
    """The docs sample goes through the JSON-files batch path and is stored as source 'xml'."""
    path = tmp_path / SAMPLE.name
    path.write_bytes(SAMPLE.read_bytes())
    stats = Ingester(engine, settings).ingest_json_files([path])
    assert stats.total == 1
    assert "malformed" not in stats.reasons  # parsed; whatever happened next was attribution
    with engine.connect() as conn:
        sources = conn.execute(sa.text(
            "SELECT source, uuid FROM cdrs UNION ALL SELECT source, uuid FROM cdr_quarantine")).all()
    assert [tuple(r) for r in sources] == [("xml", "80183ec8-d424-11e3-8fb2-65b6c3cdac7d")]
