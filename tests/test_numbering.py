"""Numbering plan (Anatel): one table of dial forms, one of rejects; every id names the rule."""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import NamedTuple

import phonenumbers
import pytest

# The repository has no packaging or conftest.py yet, so make its root importable for a bare
# `.venv/bin/pytest tests/test_numbering.py`. Drop this once setup.cfg sets `pythonpath = .`.
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from painel import numbering  # noqa: E402
from painel.categories import Category  # noqa: E402
from painel.errors import InvalidNumber  # noqa: E402
from painel.numbering import (  # noqa: E402
    NumberInfo,
    NumberKind,
    classify,
    is_valid_ddd,
    normalize,
    normalize_and_classify,
)

FIXED = NumberKind.FIXED
MOBILE = NumberKind.MOBILE
TOLLFREE = NumberKind.TOLLFREE
SPECIAL = NumberKind.SPECIAL
NONGEO = NumberKind.NON_GEOGRAPHIC
PUBLIC = NumberKind.PUBLIC_SERVICE
INTL = NumberKind.INTERNATIONAL

LOCAL = Category.LOCAL_FIXO
LDN = Category.LDN_FIXO
VC1 = Category.MOVEL_VC1
VC2 = Category.MOVEL_VC2
VC3 = Category.MOVEL_VC3
LDI = Category.LDI
ESPECIAL = Category.ESPECIAL
GRATUITA = Category.GRATUITA


class Want(NamedTuple):
    """The expected reading of one dialed string."""

    e164: str
    national: str
    kind: NumberKind
    category: Category
    ddd: str | None = None
    csp: str | None = None
    collect: bool = False
    country_code: int = 55


def case(raw: str, home: str, want: Want, rule: str) -> pytest.ParameterSet:
    """One row: ``rule`` names the Anatel rule the row illustrates and becomes the test id."""
    return pytest.param(raw, home, want, id=f"{home}:{rule}")


VALID = [
    # --- FreeSWITCH lab fixtures, home DDD 98 (São Luís, MA) ---
    case("32221234", "98", Want("+559832221234", "9832221234", FIXED, LOCAL, "98"), "lab-fixo-8-digitos-local"),
    case("981234567", "98", Want("+5598981234567", "98981234567", MOBILE, VC1, "98"), "lab-movel-9-digitos-vc1"),
    case("02111981234567", "98", Want("+5511981234567", "11981234567", MOBILE, VC3, "11", "21"), "lab-0-csp-ddd-movel-vc3"),
    case("002112125551234", "98", Want("+12125551234", "2125551234", INTL, LDI, None, "21", country_code=1), "lab-00-csp-pais-ldi"),
    case("08007271234", "98", Want("+558007271234", "8007271234", TOLLFREE, GRATUITA), "lab-0800-gratuita"),
    case("0218632221234", "98", Want("+558632221234", "8632221234", FIXED, LDN, "86", "21"), "lab-0-csp-ddd-fixo-ldn"),
    case("5598987654321", "98", Want("+5598987654321", "98987654321", MOBILE, VC1, "98"), "lab-e164-sem-mais-vc1"),
    case("5511988887777", "98", Want("+5511988887777", "11988887777", MOBILE, VC3, "11"), "lab-e164-sem-mais-vc3-sp"),
    case("5586999990000", "98", Want("+5586999990000", "86999990000", MOBILE, VC3, "86"), "lab-e164-sem-mais-vc3-teresina"),
    case("5521977776666", "98", Want("+5521977776666", "21977776666", MOBILE, VC3, "21"), "lab-e164-sem-mais-vc3-rio"),
    # --- local dialing: fixed 8 digits starting 2-5, mobile 9 digits starting 9 ---
    case("22221234", "98", Want("+559822221234", "9822221234", FIXED, LOCAL, "98"), "fixo-comeca-2"),
    case("42221234", "98", Want("+559842221234", "9842221234", FIXED, LOCAL, "98"), "fixo-comeca-4-nao-4003"),
    case("52221234", "98", Want("+559852221234", "9852221234", FIXED, LOCAL, "98"), "fixo-comeca-5"),
    case("30041234", "98", Want("+559830041234", "9830041234", FIXED, LOCAL, "98"), "fixo-3004-nao-e-nao-geografico"),
    case("3222-1234", "98", Want("+559832221234", "9832221234", FIXED, LOCAL, "98"), "fixo-com-hifen"),
    case("98123-4567", "98", Want("+5598981234567", "98981234567", MOBILE, VC1, "98"), "movel-com-hifen"),
    case("  32221234  ", "98", Want("+559832221234", "9832221234", FIXED, LOCAL, "98"), "espacos-nas-pontas"),
    case("3222.1234", "98", Want("+559832221234", "9832221234", FIXED, LOCAL, "98"), "fixo-com-ponto"),
    # --- DDD + number (10/11 digits) ---
    case("9832221234", "98", Want("+559832221234", "9832221234", FIXED, LOCAL, "98"), "ddd-proprio-fixo-local"),
    case("98981234567", "98", Want("+5598981234567", "98981234567", MOBILE, VC1, "98"), "ddd-proprio-movel-vc1"),
    case("(98) 3222-1234", "98", Want("+559832221234", "9832221234", FIXED, LOCAL, "98"), "ddd-entre-parenteses"),
    case("8632221234", "98", Want("+558632221234", "8632221234", FIXED, LDN, "86"), "ddd-outro-fixo-ldn"),
    case("99981234567", "98", Want("+5599981234567", "99981234567", MOBILE, VC2, "99"), "movel-vc2-mesmo-primeiro-digito-99"),
    case("91981234567", "98", Want("+5591981234567", "91981234567", MOBILE, VC2, "91"), "movel-vc2-mesmo-primeiro-digito-91"),
    case("11981234567", "98", Want("+5511981234567", "11981234567", MOBILE, VC3, "11"), "movel-vc3-outro-primeiro-digito-11"),
    case("86999990000", "98", Want("+5586999990000", "86999990000", MOBILE, VC3, "86"), "movel-vc3-outro-primeiro-digito-86"),
    case("1132221234", "98", Want("+551132221234", "1132221234", FIXED, LDN, "11"), "ddd-11-fixo-ldn"),
    case("5532221234", "98", Want("+555532221234", "5532221234", FIXED, LDN, "55"), "ddd-55-10-digitos-nao-e-e164"),
    case("55991234567", "98", Want("+5555991234567", "55991234567", MOBILE, VC3, "55"), "ddd-55-11-digitos-nao-e-e164"),
    # --- trunk prefix 0 + DDD, no CSP (11/12 digits) ---
    case("09832221234", "98", Want("+559832221234", "9832221234", FIXED, LOCAL, "98"), "0-ddd-proprio-fixo"),
    case("08632221234", "98", Want("+558632221234", "8632221234", FIXED, LDN, "86"), "0-ddd-fixo-ldn"),
    case("011981234567", "98", Want("+5511981234567", "11981234567", MOBILE, VC3, "11"), "0-ddd-movel-vc3"),
    case("099981234567", "98", Want("+5599981234567", "99981234567", MOBILE, VC2, "99"), "0-ddd-movel-vc2"),
    case("0 98 98123-4567", "98", Want("+5598981234567", "98981234567", MOBILE, VC1, "98"), "0-ddd-proprio-movel-vc1"),
    # --- national long distance 0 + CSP + DDD + number (13/14 digits) ---
    case("0159932221234", "98", Want("+559932221234", "9932221234", FIXED, LDN, "99", "15"), "0-csp15-ddd99-fixo-ldn"),
    case("01499981234567", "98", Want("+5599981234567", "99981234567", MOBILE, VC2, "99", "14"), "0-csp14-movel-vc2"),
    case("0 41 11 3222-1234", "98", Want("+551132221234", "1132221234", FIXED, LDN, "11", "41"), "0-csp41-ddd11-fixo-ldn"),
    case("0219832221234", "98", Want("+559832221234", "9832221234", FIXED, LOCAL, "98", "21"), "0-csp-para-o-proprio-ddd-e-local"),
    case("02155981234567", "98", Want("+5555981234567", "55981234567", MOBILE, VC3, "55", "21"), "0-csp-ddd55-movel-vc3"),
    # --- E.164 with + ---
    case("+5598981234567", "98", Want("+5598981234567", "98981234567", MOBILE, VC1, "98"), "e164-movel-vc1"),
    case("+559832221234", "98", Want("+559832221234", "9832221234", FIXED, LOCAL, "98"), "e164-fixo-local"),
    case("+55 11 98888-7777", "98", Want("+5511988887777", "11988887777", MOBILE, VC3, "11"), "e164-formatado-vc3"),
    case("+5586999990000", "98", Want("+5586999990000", "86999990000", MOBILE, VC3, "86"), "e164-movel-86-vc3"),
    case("+559932221234", "98", Want("+559932221234", "9932221234", FIXED, LDN, "99"), "e164-fixo-ldn"),
    # --- E.164 without + (12/13 digits starting 55) ---
    case("559832221234", "98", Want("+559832221234", "9832221234", FIXED, LOCAL, "98"), "e164-sem-mais-fixo-12-digitos"),
    case("5599991234567", "98", Want("+5599991234567", "99991234567", MOBILE, VC2, "99"), "e164-sem-mais-vc2"),
    # --- SIP-style input: the user part ---
    case("sip:5598981234567@host", "98", Want("+5598981234567", "98981234567", MOBILE, VC1, "98"), "sip-uri-parte-usuario"),
    case("5598981234567@127.0.0.1", "98", Want("+5598981234567", "98981234567", MOBILE, VC1, "98"), "usuario-arroba-ip"),
    case("sip:+5511988887777@gw.example.com:5060", "98", Want("+5511988887777", "11988887777", MOBILE, VC3, "11"), "sip-uri-e164"),
    case("<sip:32221234@10.0.0.1;transport=udp>", "98", Want("+559832221234", "9832221234", FIXED, LOCAL, "98"), "sip-uri-com-parametros"),
    case('"Fulano" <sip:+5598981234567;user=phone@host>', "98", Want("+5598981234567", "98981234567", MOBILE, VC1, "98"), "sip-nome-exibicao"),
    case("tel:+55-98-3222-1234", "98", Want("+559832221234", "9832221234", FIXED, LOCAL, "98"), "tel-uri"),
    # --- international: E.164 with + or 00 + CSP + country code ---
    case("+12125551234", "98", Want("+12125551234", "2125551234", INTL, LDI, country_code=1), "ldi-eua-e164"),
    case("+1 (212) 555-1234", "98", Want("+12125551234", "2125551234", INTL, LDI, country_code=1), "ldi-eua-formatado"),
    case("+351212345678", "98", Want("+351212345678", "212345678", INTL, LDI, country_code=351), "ldi-portugal-fixo"),
    case("+351912345678", "98", Want("+351912345678", "912345678", INTL, LDI, country_code=351), "ldi-portugal-movel"),
    case("00 21 351 912 345 678", "98", Want("+351912345678", "912345678", INTL, LDI, None, "21", country_code=351), "ldi-00-csp-portugal"),
    case("0021541143215678", "98", Want("+541143215678", "1143215678", INTL, LDI, None, "21", country_code=54), "ldi-00-csp-argentina-fixo"),
    case("00155491143215678", "98", Want("+5491143215678", "91143215678", INTL, LDI, None, "15", country_code=54), "ldi-00-csp-argentina-movel"),
    case("+34612345678", "98", Want("+34612345678", "612345678", INTL, LDI, country_code=34), "ldi-espanha-movel"),
    case("+44 20 7946 0000", "98", Want("+442079460000", "2079460000", INTL, LDI, country_code=44), "ldi-reino-unido"),
    case("00215598981234567", "98", Want("+5598981234567", "98981234567", MOBILE, VC1, "98", "21"), "00-csp-55-volta-ao-brasil"),
    # --- special 0XXX + 7 digits, also as +55 / 55 ---
    case("0800 727 1234", "98", Want("+558007271234", "8007271234", TOLLFREE, GRATUITA), "0800-formatado-gratuita"),
    case("+558007271234", "98", Want("+558007271234", "8007271234", TOLLFREE, GRATUITA), "0800-em-e164"),
    case("558007271234", "98", Want("+558007271234", "8007271234", TOLLFREE, GRATUITA), "0800-e164-sem-mais"),
    case("03001234567", "98", Want("+553001234567", "3001234567", SPECIAL, ESPECIAL), "0300-especial"),
    case("+553001234567", "98", Want("+553001234567", "3001234567", SPECIAL, ESPECIAL), "0300-em-e164"),
    case("03031234567", "98", Want("+553031234567", "3031234567", SPECIAL, ESPECIAL), "0303-telemarketing"),
    case("553031234567", "98", Want("+553031234567", "3031234567", SPECIAL, ESPECIAL), "0303-e164-sem-mais"),
    case("05001234567", "98", Want("+555001234567", "5001234567", SPECIAL, ESPECIAL), "0500-especial"),
    case("+555001234567", "98", Want("+555001234567", "5001234567", SPECIAL, ESPECIAL), "0500-em-e164"),
    case("09001234567", "98", Want("+559001234567", "9001234567", SPECIAL, ESPECIAL), "0900-tarifa-premium"),
    case("559001234567", "98", Want("+559001234567", "9001234567", SPECIAL, ESPECIAL), "0900-e164-sem-mais"),
    # --- non-geographic 3003/4003/4004 + 4 digits: the service wins over fixed 3/4 ---
    case("30031234", "98", Want("30031234", "30031234", NONGEO, ESPECIAL), "nao-geografico-3003"),
    case("40031234", "98", Want("40031234", "40031234", NONGEO, ESPECIAL), "nao-geografico-4003"),
    case("40041234", "98", Want("40041234", "40041234", NONGEO, ESPECIAL), "nao-geografico-4004"),
    case("4004-1234", "98", Want("40041234", "40041234", NONGEO, ESPECIAL), "nao-geografico-4004-com-hifen"),
    case("+5540041234", "98", Want("40041234", "40041234", NONGEO, ESPECIAL), "nao-geografico-em-e164"),
    case("1140041234", "98", Want("40041234", "40041234", NONGEO, ESPECIAL), "nao-geografico-atras-de-ddd"),
    # --- public-service short codes: free for the caller ---
    case("190", "98", Want("190", "190", PUBLIC, GRATUITA), "utilidade-publica-190-policia"),
    case("191", "98", Want("191", "191", PUBLIC, GRATUITA), "utilidade-publica-191-prf"),
    case("192", "98", Want("192", "192", PUBLIC, GRATUITA), "utilidade-publica-192-samu"),
    case("193", "98", Want("193", "193", PUBLIC, GRATUITA), "utilidade-publica-193-bombeiros"),
    case("199", "98", Want("199", "199", PUBLIC, GRATUITA), "utilidade-publica-199-defesa-civil"),
    case("180", "98", Want("180", "180", PUBLIC, GRATUITA), "utilidade-publica-180-mulher"),
    case("100", "98", Want("100", "100", PUBLIC, GRATUITA), "utilidade-publica-100-direitos-humanos"),
    # --- collect: 9090 + number (local), 90 + CSP + DDD + number ---
    case("909032221234", "98", Want("+559832221234", "9832221234", FIXED, LOCAL, "98", None, True), "cobrar-local-9090-fixo"),
    case("9090981234567", "98", Want("+5598981234567", "98981234567", MOBILE, VC1, "98", None, True), "cobrar-local-9090-movel"),
    case("90 21 98 32221234", "98", Want("+559832221234", "9832221234", FIXED, LOCAL, "98", "21", True), "cobrar-90-csp-ddd-proprio"),
    case("90218632221234", "98", Want("+558632221234", "8632221234", FIXED, LDN, "86", "21", True), "cobrar-90-csp-fixo-ldn"),
    case("902111981234567", "98", Want("+5511981234567", "11981234567", MOBILE, VC3, "11", "21", True), "cobrar-90-csp-movel-vc3"),
    case("901499981234567", "98", Want("+5599981234567", "99981234567", MOBILE, VC2, "99", "14", True), "cobrar-90-csp-movel-vc2"),
    # --- home DDD 86 (Teresina, PI) ---
    case("32221234", "86", Want("+558632221234", "8632221234", FIXED, LOCAL, "86"), "fixo-local-teresina"),
    case("999990000", "86", Want("+5586999990000", "86999990000", MOBILE, VC1, "86"), "movel-vc1-teresina"),
    case("89981234567", "86", Want("+5589981234567", "89981234567", MOBILE, VC2, "89"), "movel-vc2-86-para-89"),
    case("5598987654321", "86", Want("+5598987654321", "98987654321", MOBILE, VC3, "98"), "movel-vc3-86-para-98"),
    case("0219832221234", "86", Want("+559832221234", "9832221234", FIXED, LDN, "98", "21"), "fixo-ldn-86-para-98"),
    case("909032221234", "86", Want("+558632221234", "8632221234", FIXED, LOCAL, "86", None, True), "cobrar-local-teresina"),
    # --- home DDD 11 (São Paulo, SP) ---
    case("988887777", "11", Want("+5511988887777", "11988887777", MOBILE, VC1, "11"), "movel-vc1-sao-paulo"),
    case("32221234", "11", Want("+551132221234", "1132221234", FIXED, LOCAL, "11"), "fixo-local-sao-paulo"),
    case("19981234567", "11", Want("+5519981234567", "19981234567", MOBILE, VC2, "19"), "movel-vc2-11-para-19"),
    case("5598987654321", "11", Want("+5598987654321", "98987654321", MOBILE, VC3, "98"), "movel-vc3-11-para-98"),
    case("0218632221234", "11", Want("+558632221234", "8632221234", FIXED, LDN, "86", "21"), "fixo-ldn-11-para-86"),
    case("08007271234", "11", Want("+558007271234", "8007271234", TOLLFREE, GRATUITA), "0800-gratuita-sao-paulo"),
    case("+12125551234", "11", Want("+12125551234", "2125551234", INTL, LDI, country_code=1), "ldi-sao-paulo"),
    case("40041234", "11", Want("40041234", "40041234", NONGEO, ESPECIAL), "nao-geografico-sao-paulo"),
]


@pytest.mark.parametrize(("raw", "home", "want"), VALID)
def test_normalize_and_classify(raw: str, home: str, want: Want) -> None:
    info, category = normalize_and_classify(raw, home)
    got = Want(
        info.e164, info.national, info.kind, category, info.ddd, info.csp, info.collect,
        info.country_code,
    )
    assert got == want
    assert info.raw == raw


@pytest.mark.parametrize(("raw", "home", "want"), VALID)
def test_normalize_keeps_raw_and_classify_agrees(raw: str, home: str, want: Want) -> None:
    info = normalize(raw, home)
    assert info.raw == raw
    assert classify(info, home) is want.category


# (raw, home DDD, a fragment of the pt-BR reason, rule)
INVALID = [
    ("", "98", "vazio", "vazio"),
    ("   ", "98", "vazio", "so-espacos"),
    ("+", "98", "vazio", "so-mais"),
    ("anonymous", "98", "anônimo", "anonymous"),
    ("Anonymous", "98", "anônimo", "anonymous-maiuscula"),
    ("sip:anonymous@anonymous.invalid", "98", "anônimo", "sip-anonymous-rfc3323"),
    ("restricted", "98", "anônimo", "restricted"),
    ("unknown", "98", "anônimo", "unknown"),
    ("private", "98", "anônimo", "private"),
    ("abc", "98", "não são dígitos", "letras"),
    ("98a81234567", "98", "não são dígitos", "letra-no-meio"),
    ("*21", "98", "não são dígitos", "codigo-de-servico-com-asterisco"),
    ("55+98981234567", "98", "não são dígitos", "mais-no-meio"),
    ("٣٢٢٢١٢٣٤", "98", "não são dígitos", "digitos-arabes-nao-ascii"),
    ("1032221234", "98", "DDD 10 não existe", "ddd-10-inexistente"),
    ("2032221234", "98", "DDD 20 não existe", "ddd-20-inexistente"),
    ("2332221234", "98", "DDD 23 não existe", "ddd-23-inexistente"),
    ("26981234567", "98", "DDD 26 não existe", "ddd-26-inexistente-movel"),
    ("01032221234", "98", "DDD 10 não existe", "0-ddd-10-inexistente"),
    ("0212332221234", "98", "DDD 23 não existe", "0-csp-ddd-23-inexistente"),
    ("+552332221234", "98", "DDD 23 não existe", "e164-ddd-23-inexistente"),
    ("90215032221234", "98", "DDD 50 não existe", "cobrar-ddd-50-inexistente"),
    ("12221234", "98", "começando por 2 a 5", "fixo-comeca-1"),
    ("62221234", "98", "começando por 2 a 5", "fixo-comeca-6"),
    ("9862221234", "98", "começando por 2 a 5", "ddd-fixo-comeca-6"),
    ("98123456", "98", "começando por 2 a 5", "movel-antigo-8-digitos"),
    ("881234567", "98", "começando por 9", "movel-nao-comeca-9"),
    ("98881234567", "98", "começando por 9", "ddd-movel-nao-comeca-9"),
    ("12125551234", "98", "começando por 9", "estrangeiro-sem-mais-le-se-ddd-12"),
    ("1234", "98", "4 dígitos", "curto-4-digitos"),
    ("3222123", "98", "7 dígitos", "curto-7-digitos"),
    ("12", "98", "2 dígitos", "curto-2-digitos"),
    ("1234567890123456", "98", "16 dígitos", "longo-16-digitos"),
    ("32221234567890123456789", "98", "longo demais", "longo-23-digitos"),
    ("0800727123", "98", "0800 deve ter 11 dígitos", "0800-curto"),
    ("080072712345", "98", "0800 deve ter 11 dígitos", "0800-longo"),
    ("0300123456", "98", "0300 deve ter 11 dígitos", "0300-curto"),
    ("101", "98", "serviço 101 desconhecido", "codigo-1xx-desconhecido"),
    ("911", "98", "serviço 911 desconhecido", "911-nao-e-brasileiro"),
    ("0021999123456", "98", "país inexistente", "00-csp-pais-999-inexistente"),
    ("0021", "98", "incompleta", "00-csp-sem-pais"),
    ("002154", "98", "incompleto", "00-csp-pais-sem-numero"),
    ("00034688886392", "98", "CSP) inválido: 03", "00-csp-comeca-com-0"),
    ("+999123456", "98", "país inexistente", "e164-pais-inexistente"),
    ("+34 688 886 46444", "98", "longo demais", "e164-espanha-longo-demais"),
    ("00 31 34 688 886 46444", "98", "longo demais", "00-csp-espanha-longo-demais"),
    ("+1 212 555 12345", "98", "longo demais", "e164-eua-longo-demais"),
    ("+1212555", "98", "+1", "e164-eua-curto"),
    ("+55", "98", "após o 55", "e164-so-codigo-do-brasil"),
    ("+5532221234", "98", "após o 55", "e164-brasil-sem-ddd"),
    ("909040041234", "98", "a cobrar só para", "cobrar-nao-geografico"),
    ("098", "98", "3 dígitos", "0-curto"),
    ("32221234", "10", "DDD de origem inválido", "ddd-origem-10"),
    ("32221234", "9", "DDD de origem inválido", "ddd-origem-1-digito"),
    ("32221234", "098", "DDD de origem inválido", "ddd-origem-3-digitos"),
]


@pytest.mark.parametrize(
    ("raw", "home", "why"), [pytest.param(r, h, w, id=i) for r, h, w, i in INVALID]
)
def test_invalid_numbers_raise(raw: str, home: str, why: str) -> None:
    with pytest.raises(InvalidNumber) as caught:
        normalize_and_classify(raw, home)
    assert why in caught.value.why
    assert caught.value.raw == raw
    assert caught.value.reason == "bad_number"
    with pytest.raises(InvalidNumber):
        normalize(raw, home)


def test_non_string_input_raises() -> None:
    with pytest.raises(InvalidNumber, match="ausente"):
        normalize(None, "98")  # type: ignore[arg-type]


def test_cache_does_not_change_results() -> None:
    numbering.cache_clear()
    first = [normalize_and_classify(raw, home) for raw, home, _ in (p.values for p in VALID)]
    hits_before = numbering._parse.cache_info().hits
    second = [normalize_and_classify(raw, home) for raw, home, _ in (p.values for p in VALID)]
    assert second == first
    assert numbering._parse.cache_info().hits - hits_before == len(VALID)
    numbering.cache_clear()
    third = [normalize_and_classify(raw, home) for raw, home, _ in (p.values for p in VALID)]
    assert third == first


def test_cache_entry_shared_by_spellings_keeps_each_raw() -> None:
    spellings = ["3222-1234", "3222 1234", "32221234", "(3222) 1234"]
    infos = [normalize(raw, "98") for raw in spellings]
    assert [info.raw for info in infos] == spellings
    assert {dataclasses.replace(info, raw="") for info in infos} == {
        dataclasses.replace(infos[0], raw="")
    }


def test_invalid_number_is_not_cached_as_valid() -> None:
    for _ in range(2):
        with pytest.raises(InvalidNumber, match="DDD 10"):
            normalize("1032221234", "98")


def test_classify_against_another_home_ddd() -> None:
    """A number normalized once can be rated for circuits in other DDDs."""
    info = normalize("+5598981234567", "98")
    assert classify(info, "98") is VC1
    assert classify(info, "99") is VC2
    assert classify(info, "11") is VC3
    fixed = normalize("32221234", "98")
    assert classify(fixed, "98") is LOCAL
    assert classify(fixed, "86") is LDN


def test_classify_rejects_bad_home_ddd_and_geographic_without_ddd() -> None:
    info = normalize("32221234", "98")
    with pytest.raises(InvalidNumber, match="DDD de origem inválido"):
        classify(info, "20")
    broken = dataclasses.replace(info, ddd=None)
    with pytest.raises(InvalidNumber, match="sem DDD"):
        classify(broken, "98")


def test_number_info_is_frozen() -> None:
    info = normalize("32221234", "98")
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.ddd = "11"  # type: ignore[misc]


REAL_DDDS = (
    "11 12 13 14 15 16 17 18 19 21 22 24 27 28 31 32 33 34 35 37 38 41 42 43 44 45 46 47 48 49 "
    "51 53 54 55 61 62 63 64 65 66 67 68 69 71 73 74 75 77 79 81 82 83 84 85 86 87 88 89 "
    "91 92 93 94 95 96 97 98 99"
).split()


def test_is_valid_ddd_accepts_exactly_the_real_ddds() -> None:
    valid = [f"{n:02d}" for n in range(100) if is_valid_ddd(f"{n:02d}")]
    assert valid == REAL_DDDS
    assert len(valid) == 67


@pytest.mark.parametrize("ddd", ["", "1", "011", "1a", " 98", "98 "])
def test_is_valid_ddd_rejects_malformed(ddd: str) -> None:
    assert not is_valid_ddd(ddd)


_PHONENUMBERS_TYPE = {
    FIXED: phonenumbers.PhoneNumberType.FIXED_LINE,
    MOBILE: phonenumbers.PhoneNumberType.MOBILE,
    TOLLFREE: phonenumbers.PhoneNumberType.TOLL_FREE,
}


@pytest.mark.parametrize(
    ("raw", "home", "want"),
    [p for p in VALID if p.values[2].country_code == 55 and p.values[2].kind in _PHONENUMBERS_TYPE],
)
def test_brazilian_fast_path_agrees_with_phonenumbers(raw: str, home: str, want: Want) -> None:
    """The pure-digit Brazilian path gives what libphonenumber's BR metadata says."""
    info = normalize(raw, home)
    number = phonenumbers.parse(info.e164, None)
    assert phonenumbers.is_valid_number(number)
    assert phonenumbers.number_type(number) == _PHONENUMBERS_TYPE[info.kind]
    assert phonenumbers.region_code_for_number(number) == "BR"


def test_table_is_big_enough() -> None:
    assert len(VALID) + len(INVALID) >= 90
    ids = [p.id for p in VALID] + [i for *_, i in INVALID]
    assert len(ids) == len(set(ids))


def test_public_names() -> None:
    assert {k.value for k in NumberKind} == {
        "fixo", "movel", "0800", "especial", "nao_geografico", "utilidade_publica", "internacional",
    }
    assert [f.name for f in dataclasses.fields(NumberInfo)] == [
        "raw", "e164", "national", "kind", "country_code", "ddd", "csp", "collect",
    ]
