"""Brazilian numbering plan (Anatel): normalize a dialed or received number, then classify it.

Pure functions, no I/O. The CDR ingester calls this for every call, so the Brazilian path is plain
digit logic behind an LRU cache; ``phonenumbers`` is used only for foreign numbers, where its
per-country metadata is worth the cost.

How a cleaned digit string is read (``home_ddd`` is the circuit's own area code). Length and the
leading digits decide; the table is checked in this order:

=====================  ======  ===============================================================
leading digits         length  reading
=====================  ======  ===============================================================
``+`` (any)            any     E.164: ``+55`` -> Brazilian national number, else foreign
``00``                 any     international: ``00 + CSP + country code + number``
``0800/0300/0303``...  11      special ``0XXX + 7 digits`` (0500, 0900 too)
``0``                  11, 12  trunk prefix without CSP: ``0 + DDD + 8 (fixed) / 9 (mobile)``
``0``                  13, 14  national long distance: ``0 + CSP + DDD + 8 / 9``
``9090``               12, 13  local collect: ``9090 + 8 / 9`` (home DDD)
``90``                 14, 15  collect: ``90 + CSP + DDD + 8 / 9``
``55``                 12, 13  E.164 without ``+``: ``55 + DDD + 8 / 9`` or ``55 + 800...``
``1``                  3       public-service short code (100, 180, 190-199)
``3003/4003/4004``     8       non-geographic (wins over a fixed number starting 3 or 4)
(other)                8, 9    local fixed / local mobile (home DDD)
(other)                10, 11  ``DDD + 8 / 9``
=====================  ======  ===============================================================

No two rows overlap: a real DDD never ends in 0, so ``0 + DDD`` cannot look like ``0X00``; a CSP
never starts with 0, so ``00`` is always international; ``55`` as a DDD (Rio Grande do Sul) gives
10/11 digits, ``55`` as a country code 12/13. A 3003/4003/4004 subscriber part is non-geographic
even behind a DDD or ``+55``: Anatel reserves those prefixes nationwide, so no geographic line has
them. Foreign numbers must carry ``+`` or ``00 + CSP``: a bare ``12125551234`` reads as DDD 12.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import NamedTuple

import phonenumbers

from painel.categories import Category
from painel.errors import InvalidNumber

BRAZIL = 55

#: the area codes (DDD) in service in Brazil; 11-99 but with gaps (10, 20, 23, 25, 26, ...)
VALID_DDDS: frozenset[str] = frozenset(
    "11 12 13 14 15 16 17 18 19 21 22 24 27 28 31 32 33 34 35 37 38 41 42 43 44 45 46 47 48 49 "
    "51 53 54 55 61 62 63 64 65 66 67 68 69 71 73 74 75 77 79 81 82 83 84 85 86 87 88 89 "
    "91 92 93 94 95 96 97 98 99".split()
)

#: public-service short codes the design names; all free to the caller
PUBLIC_SERVICE_CODES: frozenset[str] = frozenset(
    ["100", "180"] + [str(code) for code in range(190, 200)]
)

#: non-geographic prefixes (8 digits, dialed without DDD from anywhere in Brazil)
NON_GEOGRAPHIC_PREFIXES: tuple[str, ...] = ("3003", "4003", "4004")


class NumberKind(str, Enum):
    """What a number is, before any pricing: the classifier maps it to a ``Category``."""

    FIXED = "fixo"
    MOBILE = "movel"
    TOLLFREE = "0800"
    SPECIAL = "especial"  # 0300/0303/0500/0900
    NON_GEOGRAPHIC = "nao_geografico"  # 3003/4003/4004
    PUBLIC_SERVICE = "utilidade_publica"  # 1XX short codes
    INTERNATIONAL = "internacional"


#: 0XXX special prefixes (national digits, without the 0) and their kind
SPECIAL_PREFIXES: dict[str, NumberKind] = {
    "800": NumberKind.TOLLFREE,
    "300": NumberKind.SPECIAL,
    "303": NumberKind.SPECIAL,
    "500": NumberKind.SPECIAL,
    "900": NumberKind.SPECIAL,
}


@dataclass(frozen=True, slots=True)
class NumberInfo:
    """A number as normalized: the raw text kept, plus the forms billing and routing need."""

    raw: str  # exactly as given
    e164: str  # "+5598981234567"; short codes and 3003/4003/4004: national digits, no "+"
    national: str  # "98981234567", "8007271234", "190"; foreign: the national number
    kind: NumberKind
    country_code: int  # 55 for Brazil
    ddd: str | None  # geographic Brazilian numbers only
    csp: str | None  # carrier selection code, when dialed
    collect: bool  # dialed with a collect prefix (90 / 9090)


class _Parsed(NamedTuple):
    """Everything of a ``NumberInfo`` but ``raw``, so one cache entry serves every spelling."""

    e164: str
    national: str
    kind: NumberKind
    country_code: int
    ddd: str | None
    csp: str | None
    collect: bool
    category: Category


class _Reject(Exception):
    """Raised inside the parser with the pt-BR reason; ``normalize`` attaches the raw text."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


# ---------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------


def is_valid_ddd(ddd: str) -> bool:
    """True for an area code in service in Brazil; 11-99 has gaps (10, 20, 23, 30 ...)."""
    return ddd in VALID_DDDS


def normalize(raw: str, home_ddd: str) -> NumberInfo:
    """Read ``raw`` as dialed from (or received on) a circuit of ``home_ddd``; raise if unclear."""
    return normalize_and_classify(raw, home_ddd)[0]


def classify(info: NumberInfo, home_ddd: str) -> Category:
    """Rating category of ``info`` for a circuit of ``home_ddd`` (same DDD, VC1/2/3 and so on)."""
    if not isinstance(home_ddd, str) or home_ddd not in VALID_DDDS:
        raise InvalidNumber(info.raw, f"DDD de origem inválido: {home_ddd!r}")
    if info.kind in (NumberKind.FIXED, NumberKind.MOBILE) and info.ddd not in VALID_DDDS:
        raise InvalidNumber(info.raw, "número geográfico sem DDD válido")
    return _category(info.kind, info.ddd, home_ddd)


def normalize_and_classify(raw: str, home_ddd: str) -> tuple[NumberInfo, Category]:
    """Both at once from one cache lookup: what the CDR ingester calls per call."""
    if not isinstance(raw, str):
        raise InvalidNumber(repr(raw), "número ausente")
    if not isinstance(home_ddd, str) or home_ddd not in VALID_DDDS:
        raise InvalidNumber(raw, f"DDD de origem inválido: {home_ddd!r}")
    try:
        parsed = _parse(_clean(raw), home_ddd)
    except _Reject as exc:
        raise InvalidNumber(raw, exc.why) from None
    info = NumberInfo(
        raw,
        parsed.e164,
        parsed.national,
        parsed.kind,
        parsed.country_code,
        parsed.ddd,
        parsed.csp,
        parsed.collect,
    )
    return info, parsed.category


def cache_clear() -> None:
    """Empty the parse cache (tests; or after a ``phonenumbers`` metadata upgrade)."""
    _parse.cache_clear()


# ---------------------------------------------------------------------------------------------
# input cleanup
# ---------------------------------------------------------------------------------------------

#: separators people and switches put inside numbers
_SEPARATORS = str.maketrans("", "", " \t-.()/")

#: what switches and carriers send when the caller withholds the number
_ANONYMOUS = frozenset(
    {
        "anonymous",
        "anonimo",
        "anônimo",
        "restricted",
        "restrito",
        "private",
        "privado",
        "unknown",
        "desconhecido",
        "unavailable",
        "indisponivel",
        "indisponível",
        "withheld",
        "oculto",
    }
)


def _clean(raw: str) -> str:
    """Digits of ``raw``, a leading ``+`` kept as the E.164 marker; a SIP URI gives its user."""
    text = raw.strip()
    if text.isdigit() and text.isascii():  # the common case from FreeSWITCH: plain digits
        return text
    if not text:
        raise _Reject("número vazio")
    if "<" in text and ">" in text:  # '"Fulano" <sip:5598...@host>'
        text = text[text.index("<") + 1 : text.index(">")]
    lowered = text.lower()
    for scheme in ("sip:", "sips:", "tel:"):
        if lowered.startswith(scheme):
            text = text[len(scheme) :]
            break
    text = text.split("@", 1)[0].split(";", 1)[0].strip()
    if text.lower() in _ANONYMOUS:
        raise _Reject("número anônimo ou restrito")
    text = text.translate(_SEPARATORS)
    plus = text.startswith("+")
    digits = text[1:] if plus else text
    if not digits:
        raise _Reject("número vazio")
    if not (digits.isdigit() and digits.isascii()):
        raise _Reject("contém caracteres que não são dígitos")
    return "+" + digits if plus else digits


# ---------------------------------------------------------------------------------------------
# parsing (cached)
# ---------------------------------------------------------------------------------------------

#: longest thing worth reading: 00 + CSP + 15-digit E.164
_MAX_DIGITS = 19
#: ITU-T E.164: country code plus national number, at most 15 digits
_E164_MAX_DIGITS = 15


@lru_cache(maxsize=100_000)
def _parse(digits: str, home_ddd: str) -> _Parsed:
    """Read cleaned ``digits`` (maybe with a leading ``+``); see the module docstring's table."""
    if len(digits) > _MAX_DIGITS + 1:  # + 1 for a leading "+"
        raise _Reject(f"número longo demais ({len(digits)} dígitos)")
    if digits.startswith("+"):
        return _e164(digits[1:], home_ddd, csp=None)
    size = len(digits)
    if digits.startswith("00"):
        return _international(digits[2:], home_ddd)
    if digits.startswith("0"):
        return _zero_prefixed(digits, size, home_ddd)
    if digits.startswith("9090") and size in (12, 13):
        return _collect(_subscriber(digits[4:], home_ddd, home_ddd), csp=None)
    if digits.startswith("90") and size in (14, 15):
        csp = _csp(digits[2:4])
        return _collect(_geographic(digits[4:6], digits[6:], home_ddd), csp)
    if digits.startswith("55") and size in (12, 13):
        return _brazilian_nsn(digits[2:], home_ddd, csp=None)
    if size == 3:
        return _public_service(digits)
    if size in (8, 9):
        return _subscriber(digits, home_ddd, home_ddd)
    if size in (10, 11):
        return _geographic(digits[:2], digits[2:], home_ddd)
    raise _Reject(f"{size} dígitos não correspondem a nenhuma forma de discagem")


def _zero_prefixed(digits: str, size: int, home_ddd: str) -> _Parsed:
    """``0XXX`` specials, ``0 + DDD + number`` (11/12 digits), ``0 + CSP + DDD + ...`` (13/14)."""
    special = SPECIAL_PREFIXES.get(digits[1:4])
    if special is not None:
        # No real DDD ends in 0, so 0800/0300/0500/0900 never collide with "0 + DDD"; 0303 is
        # "0 + 30", also not a DDD. Their only valid length is 11.
        if size != 11:
            raise _Reject(f"número 0{digits[1:4]} deve ter 11 dígitos (0{digits[1:4]} + 7)")
        return _special(digits[1:], special)
    if size in (11, 12):
        return _geographic(digits[1:3], digits[3:], home_ddd)
    if size in (13, 14):
        return _geographic(digits[3:5], digits[5:], home_ddd, csp=_csp(digits[1:3]))
    raise _Reject(f"{size} dígitos não correspondem a nenhuma forma de discagem com 0")


def _international(rest: str, home_ddd: str) -> _Parsed:
    """``00 + CSP + country code + number``: Anatel requires the CSP after the 00."""
    if len(rest) < 3:
        raise _Reject("discagem internacional incompleta (00 + CSP + país + número)")
    csp = _csp(rest[:2])
    return _e164(rest[2:], home_ddd, csp)


def _e164(digits: str, home_ddd: str, csp: str | None) -> _Parsed:
    """Country code first: Brazil by plain digit logic, anything else through ``phonenumbers``."""
    if not digits:
        raise _Reject("falta o código de país")
    if digits.startswith("55"):
        return _brazilian_nsn(digits[2:], home_ddd, csp)
    return _foreign(digits, csp)


def _foreign(digits: str, csp: str | None) -> _Parsed:
    """A foreign number, checked by its country's possible lengths (not by range metadata)."""
    # Length, not is_valid_number: the metadata lags newly opened ranges, and an answered call to
    # one must still be billed as LDI. Length alone catches typos like +34 688 886 46444.
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            raise _Reject(f"código de país inexistente em +{digits[:3]}") from None
        raise _Reject(f"número internacional incompleto: +{digits}") from None
    country = number.country_code
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason != phonenumbers.ValidationResult.IS_POSSIBLE:
        why = _FOREIGN_REASONS.get(reason, "comprimento inválido")
        raise _Reject(f"número internacional {why} para o país +{country}")
    national = phonenumbers.national_significant_number(number)
    total = len(str(country)) + len(national)
    if total > _E164_MAX_DIGITS:
        # phonenumbers calls some of these "possible" (long German, Indonesian, Japanese ranges),
        # but an E.164 number has at most 15 digits: no carrier can route the rest
        raise _Reject(f"número internacional longo demais ({total} dígitos; o E.164 admite 15)")
    return _Parsed(
        e164=f"+{country}{national}",
        national=national,
        kind=NumberKind.INTERNATIONAL,
        country_code=country,
        ddd=None,
        csp=csp,
        collect=False,
        category=Category.LDI,
    )


_FOREIGN_REASONS = {
    phonenumbers.ValidationResult.TOO_LONG: "longo demais",
    phonenumbers.ValidationResult.TOO_SHORT: "curto demais",
    phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "sem código de área",
    phonenumbers.ValidationResult.INVALID_LENGTH: "com comprimento inválido",
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "com código de país inválido",
}


def _brazilian_nsn(nsn: str, home_ddd: str, csp: str | None) -> _Parsed:
    """A national significant number after ``55``: DDD + 8/9, 800... + 7, or 3003/4003/4004 + 4."""
    size = len(nsn)
    if size == 10 and nsn[:3] in SPECIAL_PREFIXES:
        return _special(nsn, SPECIAL_PREFIXES[nsn[:3]])
    if size == 8 and nsn.startswith(NON_GEOGRAPHIC_PREFIXES):
        return _non_geographic(nsn)
    if size in (10, 11):
        return _geographic(nsn[:2], nsn[2:], home_ddd, csp=csp)
    raise _Reject(f"após o 55 vêm DDD + 8 ou 9 dígitos, não {size} dígitos")


def _geographic(ddd: str, subscriber: str, home_ddd: str, csp: str | None = None) -> _Parsed:
    """``DDD + subscriber``, whatever prefix (0, 0 + CSP, 55, 90 + CSP) came before."""
    if ddd not in VALID_DDDS:
        raise _Reject(f"DDD {ddd} não existe")
    return _subscriber(subscriber, ddd, home_ddd, csp)


def _subscriber(sub: str, ddd: str, home_ddd: str, csp: str | None = None) -> _Parsed:
    """An 8-digit fixed or 9-digit mobile number in ``ddd``; 3003/4003/4004 are non-geographic."""
    size = len(sub)
    if size == 8:
        if sub.startswith(NON_GEOGRAPHIC_PREFIXES):
            return _non_geographic(sub)
        if sub[0] in "2345":
            kind = NumberKind.FIXED
        else:
            raise _Reject("número fixo deve ter 8 dígitos começando por 2 a 5")
    elif size == 9:
        if sub[0] == "9":
            kind = NumberKind.MOBILE
        else:
            raise _Reject("número móvel deve ter 9 dígitos começando por 9")
    else:
        raise _Reject("número deve ter 8 dígitos (fixo) ou 9 dígitos (móvel) após o DDD")
    national = ddd + sub
    return _Parsed(
        e164=f"+55{national}",
        national=national,
        kind=kind,
        country_code=BRAZIL,
        ddd=ddd,
        csp=csp,
        collect=False,
        category=_category(kind, ddd, home_ddd),
    )


def _special(national: str, kind: NumberKind) -> _Parsed:
    """0800/0300/0303/0500/0900 + 7 digits, given without the leading 0."""
    return _Parsed(
        e164=f"+55{national}",
        national=national,
        kind=kind,
        country_code=BRAZIL,
        ddd=None,
        csp=None,
        collect=False,
        category=_FLAT_CATEGORIES[kind],
    )


def _non_geographic(number: str) -> _Parsed:
    """3003/4003/4004 + 4 digits: one number for the whole country, so no DDD and no ``+``."""
    return _Parsed(
        e164=number,
        national=number,
        kind=NumberKind.NON_GEOGRAPHIC,
        country_code=BRAZIL,
        ddd=None,
        csp=None,
        collect=False,
        category=Category.ESPECIAL,
    )


def _public_service(code: str) -> _Parsed:
    """Short codes of public services and emergencies (free for the caller)."""
    if code not in PUBLIC_SERVICE_CODES:
        raise _Reject(f"código de serviço {code} desconhecido")
    return _Parsed(
        e164=code,
        national=code,
        kind=NumberKind.PUBLIC_SERVICE,
        country_code=BRAZIL,
        ddd=None,
        csp=None,
        collect=False,
        category=Category.GRATUITA,
    )


def _collect(target: _Parsed, csp: str | None) -> _Parsed:
    """Mark a collect dial form; only fixed and mobile lines can be called collect."""
    if target.kind not in (NumberKind.FIXED, NumberKind.MOBILE):
        raise _Reject("chamada a cobrar só para número fixo ou móvel")
    return target._replace(csp=csp, collect=True)


def _csp(code: str) -> str:
    """A carrier selection code: two digits, never starting with 0 (00 means international)."""
    if len(code) != 2 or code[0] == "0":
        raise _Reject(f"código de prestadora (CSP) inválido: {code}")
    return code


#: categories that do not depend on where the call comes from
_FLAT_CATEGORIES: dict[NumberKind, Category] = {
    NumberKind.INTERNATIONAL: Category.LDI,
    NumberKind.TOLLFREE: Category.GRATUITA,
    NumberKind.PUBLIC_SERVICE: Category.GRATUITA,
    NumberKind.SPECIAL: Category.ESPECIAL,
    NumberKind.NON_GEOGRAPHIC: Category.ESPECIAL,
}


def _category(kind: NumberKind, ddd: str | None, home_ddd: str) -> Category:
    """Anatel's rules: same DDD is local/VC1; a mobile whose DDD shares the first digit is VC2."""
    flat = _FLAT_CATEGORIES.get(kind)
    if flat is not None:
        return flat
    if kind is NumberKind.FIXED:
        return Category.LOCAL_FIXO if ddd == home_ddd else Category.LDN_FIXO
    if ddd == home_ddd:
        return Category.MOVEL_VC1
    if ddd is not None and ddd[0] == home_ddd[0]:
        return Category.MOVEL_VC2
    return Category.MOVEL_VC3
