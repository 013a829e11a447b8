"""TOTP one-time codes (RFC 6238 over RFC 4226 HOTP), for the operators' second factor.

Pure functions over the standard library: a base32 secret, a time, a code. A code is
accepted one step (30 s) before or after the current one, to forgive clock drift; the
caller stores the step it matched and passes it back as ``last_step``, so a code already
used (or an older one) is refused while it is still inside its window.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

STEP_SECONDS = 30
DIGITS = 6
#: steps accepted before and after the current one
WINDOW = 1


def new_secret() -> str:
    """A random 160-bit secret, base32 without padding (what authenticator apps expect)."""
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii").rstrip("=")


def _key(secret: str) -> bytes:
    cleaned = secret.replace(" ", "").upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def hotp(key: bytes, counter: int, digits: int = DIGITS, digest: str = "sha1") -> str:
    """RFC 4226: the ``digits``-digit code of ``counter`` under ``key``."""
    mac = hmac.new(key, struct.pack(">Q", counter), getattr(hashlib, digest)).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10 ** digits).zfill(digits)


def step_of(unix_time: float, step_seconds: int = STEP_SECONDS) -> int:
    return int(unix_time // step_seconds)


def code_at(secret: str, unix_time: float, digits: int = DIGITS) -> str:
    """The code an authenticator shows at ``unix_time``."""
    return hotp(_key(secret), step_of(unix_time), digits)


def match_step(secret: str, code: str, unix_time: float, last_step: int | None = None) -> int | None:
    """The step ``code`` belongs to (within ±WINDOW of now and after ``last_step``), else None."""
    code = (code or "").replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    try:
        key = _key(secret)
    except (ValueError, TypeError):
        return None
    now = step_of(unix_time)
    found = None
    for step in range(now - WINDOW, now + WINDOW + 1):
        # compare every candidate: the time taken does not say which step matched
        if hmac.compare_digest(hotp(key, step), code) and found is None:
            found = step
    if found is None or (last_step is not None and found <= last_step):
        return None
    return found


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads (usually from a QR code)."""
    label = quote(f"{issuer}:{account}", safe="")
    query = urlencode({"secret": secret, "issuer": issuer, "algorithm": "SHA1", "digits": DIGITS,
                       "period": STEP_SECONDS}, quote_via=quote)
    return f"otpauth://totp/{label}?{query}"
