"""mod_xml_cdr documents (``a_<uuid>.cdr.xml`` files) -> CdrRecord.

The document is ``<cdr core-uuid=…>`` with ``channel_data``, ``variables``, ``app_log`` and one
``callflow`` per caller profile. FreeSWITCH behaviour this relies on (switch_ivr.c,
switch_ivr_generate_xml_cdr, and the sample in
tests/data/third_party/freeswitch/xml_cdr/):

* ``variables`` has one element per channel variable, named after it. The core URL-encodes each
  *value* (switch_url_encode); element names, ``caller_profile`` and ``times`` are plain XML text.
  (mod_xml_cdr's own ``encode`` setting only changes how the whole document is POSTed.) Values
  are decoded exactly as parse_json.py decodes mod_json_cdr values: ``start_stamp`` tells an
  encoded document from a plain one. An array variable is written as repeated elements; the
  first one is kept.
* ``callflow`` elements come most recent first, like mod_json_cdr's array, so the first one's
  ``caller_profile`` gives ``destination_number``, ``caller_id_number`` and ``context``.
* A b-leg has ``originator`` / ``originating_leg_uuid`` variables and a
  ``caller_profile/originator/originator_caller_profile`` block; the peer variables are read as
  in parse_json.py.

Entity expansion: documents with ``<!DOCTYPE`` or ``<!ENTITY`` are refused before parsing
(defusedxml is not a dependency). Without a DTD, expat cannot define entities, and ElementTree
never fetches external ones, so nothing can expand.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from cdr_ingest.parse_json import (
    _A_LEG_PEER,
    _B_LEG_PEER,
    _first,
    _seconds,
    _time,
    _to_text,
    _value_reader,
)
from cdr_ingest.records import CdrRecord
from painel.errors import CdrParseError

#: markup that could declare entities; FreeSWITCH never writes it
_DTD_MARKUP = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
#: a byte-order mark and whitespace before the XML declaration, which expat rejects
_LEADING = "\ufeff \t\r\n"


def parse_xml_cdr(text: str | bytes) -> CdrRecord:
    """Parse one mod_xml_cdr document; ``raw`` keeps the text exactly as given."""
    if not isinstance(text, (str, bytes, bytearray)):
        raise CdrParseError("CDR XML deve ser texto ou bytes")
    raw = _to_text(text)
    body = raw.lstrip(_LEADING)
    if _DTD_MARKUP.search(body):
        raise CdrParseError("CDR XML com DOCTYPE ou ENTITY recusado (risco de expansão de entidades)")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise CdrParseError(f"XML do CDR inválido: {exc}") from None
    if root.tag != "cdr":
        raise CdrParseError(f"o documento XML não é um CDR: raiz <{root.tag}>, esperado <cdr>")

    var_el = root.find("variables")
    variables: dict[str, str] = {}
    if var_el is not None:
        for el in var_el:
            if el.tag not in variables:  # an array variable repeats its element: keep the first
                variables[el.tag] = el.text or ""
    if not variables:
        raise CdrParseError("CDR XML sem <variables>")
    value = _value_reader(variables)

    uuid = value("uuid")
    if not uuid:
        raise CdrParseError("CDR XML sem uuid em <variables>")

    start = _time(value, "start", "início", uuid)
    if start is None:
        raise CdrParseError(f"CDR XML sem horário de início (uuid {uuid})")
    answer = _time(value, "answer", "atendimento", uuid)
    end = _time(value, "end", "término", uuid)

    duration = _seconds(value, "duration", uuid)
    if duration is None:
        duration = int((end - start).total_seconds()) if end else 0
    billsec = _seconds(value, "billsec", uuid)
    if billsec is None:
        billsec = int((end - answer).total_seconds()) if end and answer else 0

    profile = root.find("callflow/caller_profile")  # the first callflow: the current profile
    if profile is not None:
        caller = _child(profile, "caller_id_number")
        dest = _child(profile, "destination_number")
        context = _child(profile, "context")
    else:  # no callflow at all: take what the variables offer
        caller = value("caller_id_number") or value("sip_from_user")
        dest = value("destination_number")
        context = value("context")

    is_b = bool(
        value("originating_leg_uuid")
        or value("originator")
        or (profile is not None and profile.find("originator") is not None)
    )
    bleg_uuid = None
    originating = None
    if is_b:
        originating = _first(value, _B_LEG_PEER) or (
            _child(profile, "originator/originator_caller_profile/uuid") if profile is not None else ""
        ) or None
    else:
        bleg_uuid = _first(value, _A_LEG_PEER)

    painel: dict[str, str] = {}
    sip_headers: dict[str, str] = {}
    for key in variables:
        if key.startswith("painel_"):
            v = value(key)
            if v:
                painel[key] = v
        elif key.startswith("sip_h_"):
            v = value(key)
            if v:
                sip_headers[key[6:]] = v

    return CdrRecord(
        uuid=uuid,
        leg="b" if is_b else "a",
        source_format="xml",
        raw=raw,
        caller_id_number=caller,
        destination_number=dest,
        context=context,
        start=start,
        answer=answer,
        end=end,
        duration=duration,
        billsec=billsec,
        hangup_cause=value("hangup_cause"),
        bleg_uuid=bleg_uuid,
        originating_leg_uuid=originating,
        accountcode=value("accountcode") or None,
        sip_from_user=value("sip_from_user") or None,
        user_name=value("user_name") or None,
        painel=painel,
        sip_headers=sip_headers,
    )


def _child(el: ET.Element, path: str) -> str:
    """The text of the first element at ``path`` under ``el`` ("" when absent or empty)."""
    found = el.find(path)
    return (found.text or "") if found is not None else ""
