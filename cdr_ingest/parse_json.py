"""mod_json_cdr documents (HTTP posts and spooled files) -> CdrRecord.

FreeSWITCH behaviour this relies on (v1.10.12 source and the lab captures in
tests/data/third_party/freeswitch/lab_1.10.12/):

* ``variables`` holds every non-empty channel variable. With ``encode-values=true`` (the default)
  each *value* is URL-encoded by switch_url_encode; keys, ``callflow`` and ``app_log`` never are.
* ``destination_number``, ``caller_id_number`` and ``context`` are not variables: they live in the
  caller profile of ``callflow``. Newer FreeSWITCH writes ``callflow`` as an array, the current
  (most recent) profile first; older versions wrote one ``"callflow"`` object per profile under the
  same key, also most recent first. Painel uses the most recent profile, i.e. the number finally
  dialed after a transfer, which is also what mod_cdr_csv writes for ``${destination_number}``.
* A b-leg has ``originator`` / ``originating_leg_uuid`` variables and an ``originator`` block in
  its caller profile. ``bridge_uuid`` / ``signal_bond`` / ``last_bridge_to`` name the *other* leg
  on either side, so they become ``bleg_uuid`` on an a-leg and ``originating_leg_uuid`` on a b-leg.
"""
from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, unquote, unquote_to_bytes

from cdr_ingest.records import LATEST_EPOCH, MAX_LEG_SECONDS, MAX_UUID_LENGTH, CdrRecord
from painel.errors import CdrParseError

UTC = timezone.utc

#: on an a-leg these name the b-leg (bridge_uuid is set only by a successful bridge)
_A_LEG_PEER = ("bridge_uuid", "last_bridge_to", "signal_bond")
#: on a b-leg these name the a-leg that originated it
_B_LEG_PEER = ("originating_leg_uuid", "originator", "bridge_uuid", "signal_bond", "last_bridge_to")


def parse_json_cdr(text: str | bytes) -> CdrRecord:
    """Parse one mod_json_cdr document; ``raw`` keeps the text exactly as given."""
    raw = _to_text(text)
    try:
        doc = json.loads(raw)
        if isinstance(doc, dict) and raw.count('"callflow"') > 1:
            # old FreeSWITCH: one "callflow" key per profile, most recent first; json.loads keeps
            # the last (oldest), so read the document again keeping the first of each duplicated key
            doc = json.loads(raw, object_pairs_hook=_first_key_wins)
    except ValueError as exc:  # JSONDecodeError and bad surrogates alike
        raise CdrParseError(f"JSON do CDR inválido: {exc}") from None
    except RecursionError:  # nesting deeper than the interpreter's stack ([[[[...]]]])
        raise CdrParseError("JSON do CDR inválido: aninhamento profundo demais") from None
    if not isinstance(doc, dict):
        raise CdrParseError("o CDR JSON não é um objeto")

    variables = doc.get("variables")
    if not isinstance(variables, dict) or not variables:
        raise CdrParseError("CDR JSON sem 'variables'")
    value = _value_reader(variables)

    uuid = value("uuid")
    if not uuid:
        raise CdrParseError("CDR JSON sem uuid em 'variables'")

    profile = _current_caller_profile(doc.get("callflow"))
    if profile is not None:
        found: CallerProfile | None = CallerProfile(
            caller=_text(profile.get("caller_id_number")),
            destination=_text(profile.get("destination_number")),
            context=_text(profile.get("context")),
            has_originator=isinstance(profile.get("originator"), dict),
            originator_uuid=_originator_from_profile(profile),
        )
    else:
        found = None
    return record_from_variables(variables, value, uuid, raw, "json", found)


@dataclass(frozen=True, slots=True)
class CallerProfile:
    """What the ingester needs of the current caller profile of a callflow."""

    caller: str
    destination: str
    context: str
    #: the profile names an originator (the leg is a b-leg)
    has_originator: bool
    originator_uuid: str | None


def record_from_variables(
    variables: dict[str, Any], value: Callable[[str], str], uuid: str, raw: str, source_format: str,
    profile: CallerProfile | None,
) -> CdrRecord:
    """The CdrRecord of a leg from its (decoded) variables and its caller profile.

    Shared by mod_json_cdr and mod_xml_cdr, which carry the same variables and profile
    in two syntaxes. ``source_format`` names the syntax in error messages and the record.
    """
    label = source_format.upper()
    if len(uuid) > MAX_UUID_LENGTH or not _storable(uuid):  # before any message quotes it
        raise CdrParseError(f"CDR {label} com uuid inválido ({len(uuid)} caracteres): {uuid[:80]!r}")
    start = _time(value, "start", "início", uuid)
    if start is None:
        raise CdrParseError(f"CDR {label} sem horário de início (uuid {uuid})")
    answer = _time(value, "answer", "atendimento", uuid)
    end = _time(value, "end", "término", uuid)

    duration = _seconds(value, "duration", uuid)
    if duration is None:
        duration = int((end - start).total_seconds()) if end else 0
    billsec = _seconds(value, "billsec", uuid)
    if billsec is None:
        billsec = int((end - answer).total_seconds()) if end and answer else 0
    if not (0 <= duration <= MAX_LEG_SECONDS and 0 <= billsec <= MAX_LEG_SECONDS):
        raise CdrParseError(f"CDR {label} com duration/billsec fora do intervalo: {duration}/{billsec} (uuid {uuid})")

    if profile is not None:
        caller, dest, context = profile.caller, profile.destination, profile.context
    else:  # no callflow at all: take what the variables offer
        caller = value("caller_id_number") or value("sip_from_user")
        dest = value("destination_number")
        context = value("context")

    is_b = bool(value("originating_leg_uuid") or value("originator")
                or (profile is not None and profile.has_originator))
    bleg_uuid = None
    originating = None
    if is_b:
        originating = _first(value, _B_LEG_PEER) or (profile.originator_uuid if profile else None) or None
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

    record = CdrRecord(
        uuid=uuid,
        leg="b" if is_b else "a",
        source_format=source_format,
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
    _check_storable(record, label)
    return record


def _check_storable(rec: CdrRecord, label: str) -> None:
    """Refuse what no database stores: peer uuids longer than the columns, NUL (PostgreSQL has
    none in text) or lone surrogates (no encoding has them). JSON can carry both, as ``\\u0000``
    and ``\\ud800`` escapes; FreeSWITCH never writes them."""
    for peer in (rec.bleg_uuid, rec.originating_leg_uuid):
        if peer and len(peer) > MAX_UUID_LENGTH:
            raise CdrParseError(f"CDR {label} com uuid do outro trecho longo demais: {peer[:80]!r}")
    texts = [rec.uuid, rec.caller_id_number, rec.destination_number, rec.context, rec.hangup_cause,
             rec.bleg_uuid, rec.originating_leg_uuid, rec.accountcode, rec.sip_from_user, rec.user_name,
             *rec.painel.values(), *rec.sip_headers.values()]
    for text in texts:
        if text and not _storable(text):
            raise CdrParseError(f"CDR {label} com caractere NUL ou inválido: {text[:80]!r} (uuid {rec.uuid})")


def _storable(text: str) -> bool:
    """No NUL and no lone surrogate."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def decode_post_body(body: bytes, content_type: str | None) -> str:
    """The JSON document inside a mod_json_cdr HTTP POST body (or a spooled error file).

    mod_json_cdr posts, depending on its ``encode`` setting: the JSON itself
    (``application/json``), ``cdr=<url-encoded JSON>`` (``application/x-www-form-urlencoded``) or
    ``cdr=<base64 JSON>`` (``application/x-www-form-base64-encoded``). The header is only a hint:
    with ``disable-100-continue=true`` the module drops its Content-Type, so curl labels every
    body form-urlencoded. The body itself decides; spooled files (the same text without ``cdr=``)
    are accepted too.
    """
    if not isinstance(body, (bytes, bytearray)):
        raise CdrParseError("corpo do POST de CDR deve ser bytes")
    data = bytes(body).strip()
    if not data:
        raise CdrParseError("corpo do POST de CDR vazio")
    ctype = (content_type or "").split(";", 1)[0].strip().lower()

    if data[:1] == b"{":
        return _to_text(data)

    candidates: list[bytes] = []
    if data.startswith(b"cdr="):
        payload = data[4:]
        if ctype == "application/x-www-form-base64-encoded":
            candidates = [_from_base64(payload), _from_form(data)]
        else:
            candidates = [_from_form(data), _from_base64(payload)]
    elif data[:3].upper() == b"%7B":  # a spooled url-encoded document
        candidates = [unquote_to_bytes(data)]
    else:  # a spooled base64 document
        candidates = [_from_base64(data)]

    for candidate in candidates:
        if candidate.lstrip()[:1] == b"{":
            return _to_text(candidate)
    raise CdrParseError(
        "corpo do POST de CDR não reconhecido: esperado JSON, cdr=<JSON codificado em URL> "
        f"ou cdr=<JSON em base64> (Content-Type {content_type or 'ausente'!s})"
    )


# -- helpers ---------------------------------------------------------------------------------


def _to_text(data: str | bytes | bytearray) -> str:
    """Bytes as UTF-8; an invalid byte (plain values from an old phone) falls back to Latin-1."""
    if isinstance(data, str):
        return data
    if not isinstance(data, (bytes, bytearray)):
        raise CdrParseError("CDR JSON deve ser texto ou bytes")
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        return bytes(data).decode("latin-1")


def _from_form(data: bytes) -> bytes:
    """``cdr=...`` form body -> the decoded value (b'' when there is no cdr field)."""
    for key, val in parse_qsl(data.decode("latin-1"), keep_blank_values=True, encoding="latin-1"):
        if key == "cdr":
            return val.encode("latin-1")
    return b""


def _from_base64(data: bytes) -> bytes:
    """Base64 text -> bytes (b'' when it is not base64); tolerates a body that was form-decoded."""
    text = data.strip()
    if b"%" in text:
        text = unquote_to_bytes(text)
    text = text.replace(b" ", b"+").replace(b"\n", b"").replace(b"\r", b"")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return b""


def _first_key_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """object_pairs_hook: keep the first value of a duplicated key (old callflow layout)."""
    out: dict[str, Any] = {}
    for key, val in pairs:
        if key not in out:
            out[key] = val
    return out


def _value_reader(variables: dict[str, Any]) -> Callable[[str], str]:
    """A getter for decoded variable values; decides once whether the values are URL-encoded.

    ``start_stamp`` is always present and always contains a space and colons, which
    switch_url_encode turns into %20/%3A; so it tells encoded documents from plain ones, and a
    plain value that merely looks percent-encoded is not decoded. Without it, values are decoded
    (the module default); unquote leaves invalid sequences such as ``100%`` as they are.
    """
    stamp = variables.get("start_stamp")
    encoded = not (isinstance(stamp, str) and (" " in stamp or ":" in stamp))

    def value(key: str) -> str:
        v = variables.get(key)
        if v is None:
            return ""
        if not isinstance(v, str):
            return str(v)
        if encoded and "%" in v:
            return unquote(v)
        return v

    return value


def _first(value: Callable[[str], str], keys: tuple[str, ...]) -> str | None:
    """The first non-empty variable among ``keys``."""
    for key in keys:
        v = value(key)
        if v:
            return v
    return None


def _time(value: Callable[[str], str], prefix: str, what: str, uuid: str) -> datetime | None:
    """``<prefix>_epoch`` (whole seconds, as billsec and the CSV use), else ``<prefix>_uepoch``.

    0 means the moment never happened (answer_epoch of an unanswered leg) and gives None.
    """
    raw = value(f"{prefix}_epoch")
    divisor = 1
    if not raw:
        raw = value(f"{prefix}_uepoch")
        divisor = 1_000_000
        if not raw:
            return None
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()):
        raise CdrParseError(f"horário de {what} inválido: {raw[:80]!r} (uuid {uuid})")
    # int() refuses more than 4300 digits; any epoch past LATEST is out of range anyway
    if len(raw) > 26 or int(raw) // divisor > LATEST_EPOCH:
        raise CdrParseError(f"horário de {what} fora do intervalo: {raw[:80]!r} (uuid {uuid})")
    seconds = int(raw) // divisor
    if not seconds:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise CdrParseError(f"horário de {what} fora do intervalo: {raw!r} (uuid {uuid})") from None


def _seconds(value: Callable[[str], str], key: str, uuid: str) -> int | None:
    """A whole-seconds variable (duration, billsec); None when absent."""
    raw = value(key)
    if not raw:
        return None
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()):
        raise CdrParseError(f"{key} não numérico: {raw[:80]!r} (uuid {uuid})")
    if len(raw) > 20:  # int() refuses more than 4300 digits; the range is checked by the caller
        raise CdrParseError(f"{key} fora do intervalo: {raw[:80]!r} (uuid {uuid})")
    return int(raw)


def _current_caller_profile(callflow: Any) -> dict[str, Any] | None:
    """The caller_profile of the most recent callflow entry (the first one FreeSWITCH writes)."""
    entry = callflow[0] if isinstance(callflow, list) and callflow else callflow
    if not isinstance(entry, dict):
        return None
    profile = entry.get("caller_profile")
    return profile if isinstance(profile, dict) else None


def _originator_from_profile(profile: dict[str, Any] | None) -> str | None:
    """The a-leg uuid from a b-leg's caller_profile.originator block."""
    if not profile:
        return None
    block = profile.get("originator")
    if not isinstance(block, dict):
        return None
    profiles = block.get("originator_caller_profiles")
    if isinstance(profiles, list) and profiles and isinstance(profiles[0], dict):
        return _text(profiles[0].get("uuid")) or None
    return None


def _text(v: Any) -> str:
    """Caller-profile values as text (they are strings in every FreeSWITCH seen)."""
    if v is None:
        return ""
    return v if isinstance(v, str) else str(v)
