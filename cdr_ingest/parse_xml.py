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
(defusedxml is not a dependency), and so are documents with a NUL character: expat takes a
leading ``<\0`` for UTF-16, where the DOCTYPE check could not see the markup. Without a DTD, expat cannot define entities, and ElementTree
never fetches external ones, so nothing can expand.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from cdr_ingest.parse_json import CallerProfile, _to_text, _value_reader, record_from_variables
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
    if "\x00" in body:
        # XML has no NUL; and expat reads "<\0" as the start of a UTF-16 document whatever the
        # declared encoding, so a DOCTYPE spelled in UTF-16 would slip past the check below
        raise CdrParseError("CDR XML com caractere NUL (documento UTF-16 ou danificado) recusado")
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

    el = root.find("callflow/caller_profile")  # the first callflow: the current profile
    profile = None
    if el is not None:
        profile = CallerProfile(
            caller=_child(el, "caller_id_number"),
            destination=_child(el, "destination_number"),
            context=_child(el, "context"),
            has_originator=el.find("originator") is not None,
            originator_uuid=_child(el, "originator/originator_caller_profile/uuid") or None,
        )
    return record_from_variables(variables, value, uuid, raw, "xml", profile)


def _child(el: ET.Element, path: str) -> str:
    """The text of the first element at ``path`` under ``el`` ("" when absent or empty)."""
    found = el.find(path)
    return (found.text or "") if found is not None else ""
