"""Billing months ("AAAA-MM"), as the CLI, re-rating and the month close take them."""
from __future__ import annotations

import re

from painel.errors import ValidationError

MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def check_month(month: str) -> str:
    """``month`` if it is a valid ``AAAA-MM``; a pt-BR ``ValidationError`` otherwise."""
    if not isinstance(month, str) or not MONTH_RE.match(month):
        raise ValidationError(f"mês inválido {month!r}: use AAAA-MM (ex.: 2025-08)")
    return month
