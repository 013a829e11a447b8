"""pt-BR presentation: money as ``R$ 1.234,56``, dates as dd/mm/aaaa, durations as h:mm:ss."""
from __future__ import annotations

import functools
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def brl(amount: Decimal | int | str) -> str:
    """``Decimal('1234.5')`` -> ``'R$ 1.234,50'`` (negative: ``'-R$ 10,00'``)."""
    value = Decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP)
    sign = "-" if value < 0 else ""
    units, cents = f"{abs(value):.2f}".split(".")
    groups = []
    while len(units) > 3:
        groups.insert(0, units[-3:])
        units = units[:-3]
    groups.insert(0, units)
    return f"{sign}R$ {'.'.join(groups)},{cents}"


#: ``brl`` memoized, for pages that show the same amounts on every view (a pure function of
#: the value; bounded). ``typed``: an ``int`` and a ``Decimal`` are kept apart, though equal
#: values give the same text anyway.
brl_cached = functools.lru_cache(maxsize=4096, typed=True)(brl)


def data_br(value: date | datetime) -> str:
    return value.strftime("%d/%m/%Y")


def data_hora_br(value: datetime) -> str:
    return value.strftime("%d/%m/%Y %H:%M:%S")


def duracao(seconds: int) -> str:
    """Seconds as ``m:ss`` or ``h:mm:ss``."""
    h, rest = divmod(int(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def mes_ref(month: str) -> str:
    """``'2025-08'`` -> ``'08/2025'`` (the seed's MM/AAAA)."""
    year, mon = month.split("-")
    return f"{mon}/{year}"


def preco(amount: Decimal) -> str:
    """A unit price with its own precision (at least 2 decimals): ``R$ 0,085``, ``R$ 1,50``."""
    value = Decimal(amount).normalize()
    decimals = max(2, -value.as_tuple().exponent) if value.as_tuple().exponent < 0 else 2  # type: ignore[operator]
    text = f"{abs(value):.{decimals}f}"
    units, frac = text.split(".")
    whole = brl(Decimal(units)).rsplit(",", 1)[0]
    return f"{'-' if value < 0 else ''}{whole},{frac}"
