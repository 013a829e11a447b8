"""TOTP (RFC 6238) and HOTP (RFC 4226) against the RFCs' own test vectors, the ±1 step
window, replay refusal and the otpauth URI."""
from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pytest

from painel import totp

RFC_KEY = b"12345678901234567890"
RFC_SECRET = base64.b32encode(RFC_KEY).decode()


@pytest.mark.parametrize("counter, code", list(enumerate(
    ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"])))
def test_hotp_rfc4226_vectors(counter: int, code: str) -> None:
    assert totp.hotp(RFC_KEY, counter) == code


@pytest.mark.parametrize("unix_time, code", [
    (59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"), (1234567890, "89005924"),
    (2000000000, "69279037"), (20000000000, "65353130"),
])
def test_totp_rfc6238_sha1_vectors(unix_time: int, code: str) -> None:
    assert totp.code_at(RFC_SECRET, unix_time, digits=8) == code


def test_six_digit_code_is_the_last_six_of_the_eight() -> None:
    assert totp.code_at(RFC_SECRET, 1234567890) == "005924"


def test_window_accepts_one_step_either_side_and_no_more() -> None:
    secret = totp.new_secret()
    now = 1_700_000_000
    step = totp.step_of(now)
    for delta in (-1, 0, 1):
        code = totp.hotp(base64.b32decode(secret + "=" * (-len(secret) % 8)), step + delta)
        assert totp.match_step(secret, code, now) == step + delta
    for delta in (-3, -2, 2, 3):
        code = totp.hotp(base64.b32decode(secret + "=" * (-len(secret) % 8)), step + delta)
        assert totp.match_step(secret, code, now) is None


def test_a_used_code_is_refused_within_its_window() -> None:
    secret = totp.new_secret()
    now = 1_700_000_000
    code = totp.code_at(secret, now)
    used = totp.match_step(secret, code, now)
    assert used == totp.step_of(now)
    assert totp.match_step(secret, code, now, last_step=used) is None
    assert totp.match_step(secret, code, now + 29, last_step=used) is None  # still inside the window
    older = totp.code_at(secret, now - 30)  # an older code after a newer one was used
    assert totp.match_step(secret, older, now, last_step=used) is None
    newer = totp.code_at(secret, now + 30)
    assert totp.match_step(secret, newer, now + 30, last_step=used) == used + 1


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12 34 5x"])
def test_malformed_codes_are_refused(code: str) -> None:
    assert totp.match_step(totp.new_secret(), code, 1_700_000_000) is None


def test_spaces_inside_a_code_are_forgiven() -> None:
    secret = totp.new_secret()
    code = totp.code_at(secret, 1_700_000_000)
    assert totp.match_step(secret, f"{code[:3]} {code[3:]}", 1_700_000_000) is not None


def test_new_secrets_are_random_base32_of_160_bits() -> None:
    secrets = {totp.new_secret() for _ in range(20)}
    assert len(secrets) == 20
    for secret in secrets:
        assert len(base64.b32decode(secret + "=" * (-len(secret) % 8))) == 20


def test_provisioning_uri() -> None:
    uri = totp.provisioning_uri("JBSWY3DPEHPK3PXP", "maria.silva", "Painel")
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    assert parts.path == "/Painel%3Amaria.silva"
    query = parse_qs(parts.query)
    assert query == {"secret": ["JBSWY3DPEHPK3PXP"], "issuer": ["Painel"], "algorithm": ["SHA1"], "digits": ["6"],
                     "period": ["30"]}
