"""Invoice lines and totals: pure functions over plain data (no session, no clock).

An invoice prints one line per call category present, the plan's monthly fee and one
adjustment line per earlier month whose calls arrived after that month was closed.
Each line's amount is the exact sum of the call amounts it stands for (every call was
already rounded to the centavo when rated), and the invoice total is the exact sum of
the printed lines (DESIGN.md, "Charging").
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType
from typing import Any

from painel.categories import Category
from painel.errors import ValidationError
from painel.fmt import mes_ref

ZERO = Decimal("0.00")
CENT = Decimal("0.01")

MONTHLY_FEE_DESCRIPTION = "Mensalidade do plano"
OTHER_CALLS_DESCRIPTION = "Outras chamadas"

#: category order on the invoice (the enum's order); unknown categories go last
_ORDER = {c.value: i for i, c in enumerate(Category)}


@dataclass(frozen=True, slots=True)
class Call:
    """A billed call as the invoice sees it."""

    category: str | None
    billable_seconds: int
    amount: Decimal


@dataclass(frozen=True, slots=True)
class LateCall:
    """A call of an earlier, already closed month that arrived after the close."""

    ref_month: str  # YYYY-MM
    category: str | None
    billable_seconds: int
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Line:
    """A printed line: ``kind`` is ``category``, ``monthly_fee`` or ``adjustment``."""

    kind: str
    description: str
    amount: Decimal
    category: str | None = None
    calls: int = 0
    billable_seconds: int = 0
    ref_month: str | None = None

    @property
    def billable_minutes(self) -> Decimal:
        """Billable time in minutes, to the hundredth (for display only)."""
        return (Decimal(self.billable_seconds) / 60).quantize(CENT, rounding=ROUND_HALF_UP)


def category_label(category: str | None) -> str:
    if category is None:
        return OTHER_CALLS_DESCRIPTION
    try:
        return Category(category).label
    except ValueError:
        return category


def adjustment_description(ref_month: str) -> str:
    return f"Ajuste: chamadas de {mes_ref(ref_month)} recebidas após o fechamento"


def _as_decimal(value: Decimal | int | str) -> Decimal:
    if isinstance(value, float):
        raise ValidationError("valores monetários devem ser Decimal, nunca float")
    return Decimal(value)


def _category_key(category: str | None) -> tuple[int, str]:
    if category is None:
        return (len(_ORDER) + 1, "")
    return (_ORDER.get(category, len(_ORDER)), category)


@dataclass(frozen=True, slots=True)
class Sums:
    """Calls added up: how many, their billable seconds and their amount."""

    calls: int
    billable_seconds: int
    amount: Decimal


def _add(acc: dict[Any, list], key: object, seconds: int, amount: Decimal | int | str) -> None:
    entry = acc.get(key)
    if entry is None:
        acc[key] = [1, int(seconds), _as_decimal(amount)]
    else:
        entry[0] += 1
        entry[1] += int(seconds)
        entry[2] += _as_decimal(amount)


def _sums(acc: dict[Any, list]) -> dict[Any, Sums]:
    return {key: Sums(n, seconds, amount) for key, (n, seconds, amount) in acc.items()}


def invoice_lines(
    calls: Iterable[Call | tuple],
    monthly_fee: Decimal | None,
    adjustments: Iterable[LateCall | tuple] = (),
) -> list[Line]:
    """The printed lines of an invoice, in order: categories, monthly fee, adjustments.

    ``calls`` are ``(category, billable_seconds, amount)``; ``adjustments`` are
    ``(ref_month, category, billable_seconds, amount)``. A zero or missing monthly fee
    prints no fee line.
    """
    by_category: dict[str | None, list] = {}
    for call in calls:
        category, seconds, amount = (
            (call.category, call.billable_seconds, call.amount) if isinstance(call, Call) else tuple(call))
        _add(by_category, category, seconds, amount)
    by_month: dict[str, list] = {}
    for late in adjustments:
        ref_month, _category, seconds, amount = (
            (late.ref_month, late.category, late.billable_seconds, late.amount) if isinstance(late, LateCall)
            else tuple(late))
        _add(by_month, ref_month, seconds, amount)
    return lines_from_sums(_sums(by_category), monthly_fee, _sums(by_month))


def lines_from_sums(by_category: Mapping[str | None, Sums], monthly_fee: Decimal | None,
                    by_month: Mapping[str, Sums] = MappingProxyType({})) -> list[Line]:
    """``invoice_lines`` from calls already added up per category and, for late calls, per month
    (what a GROUP BY in the database gives)."""
    lines = [
        Line("category", category_label(cat), Decimal(acc.amount), category=cat, calls=acc.calls,
             billable_seconds=acc.billable_seconds)
        for cat, acc in sorted(by_category.items(), key=lambda kv: _category_key(kv[0]))
    ]
    if monthly_fee is not None:
        fee = _as_decimal(monthly_fee)
        if fee != 0:
            lines.append(Line("monthly_fee", MONTHLY_FEE_DESCRIPTION, fee))
    for ref_month, acc in sorted(by_month.items()):
        lines.append(Line("adjustment", adjustment_description(ref_month), Decimal(acc.amount), calls=acc.calls,
                          billable_seconds=acc.billable_seconds, ref_month=ref_month))
    return lines


def invoice_total(lines: Iterable[Line]) -> Decimal:
    """The exact sum of the printed lines."""
    return sum((line.amount for line in lines), ZERO)
