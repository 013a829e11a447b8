"""Fuzz pass over the number normalizer (painel.numbering), issue 7.

Whatever text arrives as a caller or dialed number (plain digits, E.164, SIP URIs, unicode
digits, separators, carrier and collect prefixes, absurd lengths), ``normalize`` either gives a
well-formed result that keeps the raw text, or raises ``InvalidNumber`` (the project's error,
pt-BR message). Never another exception. The normalized form is a fixed point: normalizing it
again (from any home DDD, for E.164 forms) gives itself.
"""
from __future__ import annotations

import re
import string

import phonenumbers
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from painel.categories import Category
from painel.errors import InvalidNumber, PainelError, ValidationError
from painel.numbering import (
    PUBLIC_SERVICE_CODES,
    VALID_DDDS,
    NumberInfo,
    NumberKind,
    classify,
    normalize,
    normalize_and_classify,
)

# derandomized: the same examples on every run (CI reproducibility); a generous deadline, since an
# example takes microseconds and only something pathological would come near it
FUZZ = settings(derandomize=True, database=None, max_examples=400, deadline=5000,
                suppress_health_check=[HealthCheck.too_slow])

DDDS = sorted(VALID_DDDS)
E164 = re.compile(r"\+[1-9][0-9]{1,14}")  # ITU-T E.164: at most 15 digits, no leading 0
SHORT_FORMS = (NumberKind.PUBLIC_SERVICE, NumberKind.NON_GEOGRAPHIC)  # national digits, no "+"

# -- strategies ----------------------------------------------------------------------------------

ascii_digits = st.text(alphabet=string.digits, min_size=0, max_size=22)
#: any Unicode decimal digit (Arabic-Indic, fullwidth, Devanagari ...): never a valid number
unicode_digits = st.characters(categories=["Nd"])
separator = st.sampled_from([" ", "-", ".", "(", ")", "/", "\t", "\u00a0", "\u2009", "_", ",", "*", "#", "+"])
prefix = st.sampled_from(["", "+", "+55", "55", "0", "00", "90", "9090", "0800", "0300", "0303", "0500",
                          "0900", "3003", "4003", "4004", "1", "+1", "+44", "+351", "+49", "+800", "+0"])
csp = st.sampled_from(["", "12", "14", "15", "21", "31", "41", "85", "0", "00", "01", "9"])
ddd = st.sampled_from(DDDS + ["10", "20", "00", "01", "1", "123", ""])
subscriber = st.one_of(
    st.builds(lambda first, rest: first + rest, st.sampled_from("23459"),
              st.text(alphabet=string.digits, min_size=6, max_size=9)),
    ascii_digits,
)
wrapper = st.sampled_from([
    "{}", " {} ", "sip:{}@10.0.0.1", "SIP:{}@host:5060", "sips:{}@h;user=phone", "tel:{}",
    "tel:{};phone-context=+55", '"Fulano" <sip:{}@10.0.0.1>', "<{}>", "{};cpc=collect", "{}@",
    "<sip:{}", "sip:{}>", ">{}<",
])


@st.composite
def dialed(draw: st.DrawFn) -> str:
    """Plausible dial forms, assembled from the pieces the numbering plan knows, then mangled."""
    parts = [draw(prefix), draw(csp), draw(ddd), draw(subscriber)]
    keep = draw(st.lists(st.booleans(), min_size=4, max_size=4))
    text = "".join(p for p, k in zip(parts, keep) if k or p == parts[-1])
    # separators anywhere, the way people and switches write numbers
    chars = list(text)
    for _ in range(draw(st.integers(0, 4))):
        chars.insert(draw(st.integers(0, len(chars))), draw(separator))
    text = "".join(chars)
    if text and draw(st.integers(0, 9)) == 0:  # one digit swapped for a non-ASCII decimal digit
        i = draw(st.integers(0, len(text) - 1))
        text = text[:i] + draw(unicode_digits) + text[i + 1:]
    return draw(wrapper).format(text)


csp_ok = st.sampled_from(["12", "14", "15", "21", "31", "41", "85"])
fixed = st.builds(lambda a, b: a + b, st.sampled_from("2345"), st.text(alphabet=string.digits, min_size=7, max_size=7))
mobile = st.builds(lambda b: "9" + b, st.text(alphabet=string.digits, min_size=8, max_size=8))
line = st.one_of(fixed, mobile)
seven = st.text(alphabet=string.digits, min_size=7, max_size=7)
#: foreign numbers phonenumbers knows, as (country code, national number)
FOREIGN = [
    (cc, phonenumbers.national_significant_number(n))
    for region in ("US", "PT", "AR", "DE", "JP", "IT", "GB", "FR", "CN", "ID", "AO", "PY")
    for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE)
    if (n := phonenumbers.example_number_for_type(region, kind)) is not None
    for cc in (n.country_code,)
]


@st.composite
def plan_forms(draw: st.DrawFn) -> str:
    """Every dial form of the module's table, well built, then spelled with separators and URIs."""
    d, sub = draw(ddd), draw(line)
    text = draw(st.sampled_from([
        sub, d + sub, "0" + d + sub, "0" + draw(csp_ok) + d + sub, "+55" + d + sub, "55" + d + sub,
        "90" + draw(csp_ok) + d + sub, "9090" + sub,
        draw(st.sampled_from(["0800", "0300", "0303", "0500", "0900"])) + draw(seven),
        "+55" + draw(st.sampled_from(["800", "300", "303", "500", "900"])) + draw(seven),
        draw(st.sampled_from(["3003", "4003", "4004"])) + draw(seven)[:4],
        draw(st.sampled_from(sorted(PUBLIC_SERVICE_CODES) + ["101", "911", "112"])),
        "+{}{}".format(*draw(st.sampled_from(FOREIGN))),
        "00{}{}{}".format(draw(csp_ok), *draw(st.sampled_from(FOREIGN))),
    ]))
    if draw(st.booleans()):
        chars = list(text)
        for _ in range(draw(st.integers(1, 3))):
            chars.insert(draw(st.integers(1, len(chars))), draw(st.sampled_from(" -.()/")))
        text = "".join(chars)
    return draw(wrapper).format(text)


raw_numbers = st.one_of(
    plan_forms(),
    dialed(),
    st.text(max_size=40),
    st.text(alphabet=string.digits + "+ -().", max_size=40),
    st.text(alphabet=unicode_digits, min_size=1, max_size=20),
    st.builds(lambda p, d: p + d, st.sampled_from(["", "+", "00", "0"]),
              st.text(alphabet=string.digits, min_size=20, max_size=5000)),  # very long
    st.sampled_from(["anonymous", "Anônimo", "restricted", "", "   ", "+", "sip:@host", "<>", "tel:",
                     '"" <sip:anonymous@anonymous.invalid>', "0" * 19, "+" + "9" * 15]),
)
home_ddds = st.sampled_from(DDDS)


# -- the property ----------------------------------------------------------------------------------


def check_normalized(raw: object, home: str) -> NumberInfo | InvalidNumber:
    """Run the normalizer; assert the result is well formed or the error is the project's own."""
    try:
        info, category = normalize_and_classify(raw, home)  # type: ignore[arg-type]
    except InvalidNumber as exc:
        assert isinstance(exc, ValidationError) and isinstance(exc, PainelError)
        assert exc.reason == "bad_number"
        assert isinstance(exc.message, str) and exc.message.startswith("número inválido")
        assert exc.why and isinstance(exc.why, str)
        assert exc.raw == (raw if isinstance(raw, str) else repr(raw))
        return exc

    assert isinstance(raw, str)
    assert info.raw is raw  # the raw form is kept exactly
    assert isinstance(category, Category)
    assert classify(info, home) is category
    if info.kind in SHORT_FORMS:
        assert re.fullmatch(r"[0-9]{3,8}", info.e164), info
        assert info.e164 == info.national and info.country_code == 55 and info.ddd is None
        if info.kind is NumberKind.PUBLIC_SERVICE:
            assert info.e164 in PUBLIC_SERVICE_CODES
    else:
        assert E164.fullmatch(info.e164), f"not E.164 (+, at most 15 digits): {info.e164!r} from {raw!r}"
        assert info.e164 == f"+{info.country_code}{info.national}"
        assert info.national.isascii() and info.national.isdigit()
    if info.kind is NumberKind.INTERNATIONAL:
        assert info.country_code != 55 and category is Category.LDI
    else:
        assert info.country_code == 55
    if info.kind in (NumberKind.FIXED, NumberKind.MOBILE):
        assert info.ddd in VALID_DDDS and info.national.startswith(info.ddd)
        assert len(info.national) == (10 if info.kind is NumberKind.FIXED else 11)
    else:
        assert info.ddd is None
    if info.csp is not None:
        assert re.fullmatch(r"[1-9][0-9]", info.csp)
    if info.collect:
        assert info.kind in (NumberKind.FIXED, NumberKind.MOBILE)
    return info


def check_fixed_point(info: NumberInfo, home: str, other_home: str) -> None:
    """The normalized form normalizes to itself (and, for E.164, from any home DDD)."""
    again = normalize(info.e164, home)
    assert (again.e164, again.national, again.kind) == (info.e164, info.national, info.kind)
    assert again.raw == info.e164
    if info.e164.startswith("+"):
        elsewhere = normalize(info.e164, other_home)
        assert (elsewhere.e164, elsewhere.kind) == (info.e164, info.kind)
        assert normalize(f"sip:{info.e164}@10.0.0.1", other_home).e164 == info.e164


@FUZZ
@given(raw=raw_numbers, home=home_ddds, other_home=home_ddds)
# found by this test: phonenumbers calls these "possible" for DE/ID/JP, but E.164 stops at 15 digits
@example(raw="+4922222222222222", home="98", other_home="11")
@example(raw="+6222222222222222222", home="98", other_home="11")
@example(raw="0014" + "81" + "2" * 15, home="98", other_home="11")
@example(raw="+5598981234567", home="98", other_home="11")
@example(raw='"Fulano" <sip:+55 (98) 98123-4567@10.0.0.1;user=phone>', home="11", other_home="98")
@example(raw="٥٥٩٨٩٨١٢٣٤٥٦٧", home="98", other_home="11")  # Arabic-Indic digits
@example(raw="５５９８９８１２３４５６７", home="98", other_home="11")  # fullwidth digits
@example(raw="9" * 5000, home="98", other_home="11")
@example(raw="a>b<c", home="98", other_home="11")
def test_normalize_gives_e164_or_invalid_number(raw: str, home: str, other_home: str) -> None:
    result = check_normalized(raw, home)
    if isinstance(result, NumberInfo):
        check_fixed_point(result, home, other_home)


@FUZZ
@given(raw=st.one_of(plan_forms(), dialed()), home=home_ddds, other_home=home_ddds)
def test_dial_forms_normalize_or_raise(raw: str, home: str, other_home: str) -> None:
    """A second run focused on the structured dial forms (prefix + CSP + DDD + number)."""
    result = check_normalized(raw, home)
    if isinstance(result, NumberInfo):
        check_fixed_point(result, home, other_home)


@settings(FUZZ, max_examples=150)
@given(raw=st.one_of(st.none(), st.integers(), st.binary(max_size=20), st.floats(allow_nan=True),
                     st.lists(st.text(max_size=3), max_size=2)),
       home=st.one_of(home_ddds, st.none(), st.integers(), st.text(max_size=4)))
@example(raw=b"5598981234567", home="98")
@example(raw=None, home="98")
def test_wrong_types_are_invalid_numbers(raw: object, home: object) -> None:
    """Anything that is not text (or a home DDD that is not a DDD) is an InvalidNumber too."""
    try:
        normalize_and_classify(raw, home)  # type: ignore[arg-type]
    except InvalidNumber as exc:
        assert exc.message
    else:  # pragma: no cover - the assertion explains
        raise AssertionError(f"accepted {raw!r} with home DDD {home!r}")


@settings(FUZZ, max_examples=200)
@given(raw=raw_numbers, home=st.text(max_size=4))
@example(raw="5598981234567", home="٩٨")
@example(raw="5598981234567", home="")
def test_any_home_ddd_string(raw: str, home: str) -> None:
    """A home DDD that is not one in service gives InvalidNumber, whatever the number."""
    result = check_normalized(raw, home) if home in VALID_DDDS else None
    if home not in VALID_DDDS:
        try:
            normalize(raw, home)
        except InvalidNumber:
            pass
        else:  # pragma: no cover
            raise AssertionError(f"home DDD {home!r} accepted")
    assert result is None or isinstance(result, (NumberInfo, InvalidNumber))
