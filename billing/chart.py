"""The "Gráfico Mensal dos Planos": how many calls of each type, month by month.

The seed's FAQ is explicit: the chart shows quantities of calls, not money. A call is
counted when the circuit placed it and was answered (outbound, forwarded by follow-me,
or an accepted collect call): the calls the invoice itemizes. Categories are grouped as
the chart's five types (local, LDN, LDI, móvel, outros).

``chart_data`` is pure; ``monthly_counts`` reads the database; ``render_png`` draws with
matplotlib's Agg backend and returns the same bytes for the same data (no timestamp in
the PNG), so an invoice's PDF checksum depends only on its data.
"""
from __future__ import annotations

import io
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from painel.categories import CHART_GROUPS, Category
from painel.fmt import mes_ref
from painel.models import Cdr, billed_calls

#: Okabe & Ito's palette, distinguishable with the common colour-vision deficiencies,
#: in the order of CHART_GROUPS (local, LDN, LDI, móvel, outros)
PALETTE: dict[str, str] = {
    "local": "#0072B2",  # blue
    "ldn": "#E69F00",  # orange
    "ldi": "#009E73",  # bluish green
    "movel": "#CC79A7",  # reddish purple
    "outros": "#999999",  # grey
}

Y_LABEL = "Quantidade de ligações"
TITLE = "Gráfico Mensal dos Planos"


@dataclass(frozen=True, slots=True)
class ChartData:
    """Call counts per month (oldest first) and chart group."""

    months: tuple[str, ...]  # YYYY-MM
    counts: dict[str, tuple[int, ...]]  # group -> one count per month

    @property
    def total(self) -> int:
        return sum(sum(values) for values in self.counts.values())

    def month_total(self, index: int) -> int:
        return sum(values[index] for values in self.counts.values())


def last_months(end_month: str, count: int = 12) -> tuple[str, ...]:
    """The ``count`` months ending with ``end_month``, oldest first."""
    year, mon = (int(x) for x in end_month.split("-"))
    out = []
    for _ in range(count):
        out.append(f"{year:04d}-{mon:02d}")
        year, mon = (year - 1, 12) if mon == 1 else (year, mon - 1)
    return tuple(reversed(out))


def group_of(category: str | None) -> str:
    try:
        return Category(category).group if category else "outros"
    except ValueError:
        return "outros"


def chart_data(rows: Iterable[tuple[str, str | None, int]], months: Sequence[str]) -> ChartData:
    """Fold ``(month, category, calls)`` rows into counts per chart group for ``months``."""
    index = {m: i for i, m in enumerate(months)}
    acc = {group: [0] * len(months) for group in CHART_GROUPS}
    for month, category, calls in rows:
        i = index.get(month)
        if i is not None:
            acc[group_of(category)][i] += int(calls)
    return ChartData(tuple(months), {g: tuple(v) for g, v in acc.items()})


class FinishedMonthCounts:
    """The chart's counts of finished months, kept per process for ``ttl`` seconds.

    A finished month changes only when a late CDR arrives for it, and the chart may show
    that a few minutes late; the running month is never cached. Keys are the customer's
    circuits and the month range, so one entry serves every page view of a customer.
    At most ``max_entries`` are kept (the oldest is dropped first). Thread-safe.
    """

    def __init__(self, ttl: float = 300.0, max_entries: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.max_entries, self.clock = ttl, max_entries, clock
        self._entries: OrderedDict[tuple, tuple[float, list[tuple[str, str | None, int]]]] = OrderedDict()
        self._lock = threading.Lock()

    def rows(self, session: Session, circuit_ids: Sequence[int], first: str, last: str
             ) -> list[tuple[str, str | None, int]]:
        key = (tuple(sorted(circuit_ids)), first, last)
        now = self.clock()
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and now - hit[0] < self.ttl:
                return hit[1]
        rows = [(m, c, int(n)) for m, c, n in _counts(session, circuit_ids, first, last)]
        with self._lock:
            self._entries[key] = (now, rows)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return rows


def _counts_select(columns: Any, circuit_ids: Any, first_month: Any, last_month: Any):  # type: ignore[no-untyped-def]
    c = columns
    return (select(c.bill_month, c.category, func.count())
            .where(c.circuit_id.in_(circuit_ids), billed_calls(), c.billsec > 0,
                   c.bill_month >= first_month, c.bill_month <= last_month)
            .group_by(c.bill_month, c.category))


def counts_query(circuit_ids: Sequence[int], first_month: str, last_month: str):  # type: ignore[no-untyped-def]
    """Answered calls placed per (billing month, category), found through ix_cdrs_billed."""
    return _counts_select(Cdr, list(circuit_ids), first_month, last_month)


#: ``counts_query`` built once on the table's columns with bind parameters (``circuit_ids``,
#: ``first``, ``last``): the compiled cache serves it and the rows are plain Core rows
COUNTS = _counts_select(Cdr.__table__.c, bindparam("circuit_ids", expanding=True), bindparam("first"),
                        bindparam("last"))


def _counts(session: Session, circuit_ids: Sequence[int], first_month: str, last_month: str):  # type: ignore[no-untyped-def]
    conn = session.connection() if isinstance(session, Session) else session
    return conn.execute(COUNTS, {"circuit_ids": list(circuit_ids), "first": first_month,
                                                 "last": last_month})


def monthly_counts(session: Session, circuit_ids: Sequence[int], end_month: str, count: int = 12, *,
                   current_month: str | None = None, cache: FinishedMonthCounts | None = None) -> ChartData:
    """Answered calls placed by ``circuit_ids`` per month and group, for the ``count`` months to ``end_month``.

    Months are the billing months (the circuit's time zone), as on the invoices. With a
    ``cache`` and the ``current_month``, the months before it come from the cache and
    only the current month (and any later) is counted now.
    """
    months = last_months(end_month, count)
    if not circuit_ids:
        return chart_data((), months)
    if cache is None or current_month is None:
        rows = [tuple(r) for r in _counts(session, circuit_ids, months[0], months[-1])]
        return chart_data(rows, months)
    past = [m for m in months if m < current_month]
    rows = cache.rows(session, circuit_ids, past[0], past[-1]) if past else []
    if months[-1] >= current_month:
        live = _counts(session, circuit_ids, max(months[0], current_month), months[-1])
        rows = [*rows, *(tuple(r) for r in live)]
    return chart_data(rows, months)


def month_label(month: str) -> str:
    """``2026-10`` -> ``10/26`` (the axis has no room for four-digit years)."""
    return mes_ref(month)[:3] + month[2:4]


_lock = threading.Lock()
_canvases: dict[tuple, "_Canvas"] = {}


class _Canvas:
    """A figure built once per process and size; each render only moves the bars.

    Building the axes, ticks and legend is most of matplotlib's cost for a chart this
    small; reusing them halves the time of an invoice's chart. Every render sets all
    that depends on the data (bar heights and bottoms, month labels, y limits, the
    empty-chart note), so the bytes depend on the data alone, not on earlier renders.
    """

    def __init__(self, months: int, width_in: float, height_in: float, dpi: int, title: str | None) -> None:
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        fig = Figure(figsize=(width_in, height_in), dpi=dpi)
        fig.subplots_adjust(left=0.08, right=0.99, bottom=0.13, top=0.80 if title else 0.86)
        ax = fig.add_subplot()
        positions = list(range(months))
        self.bars = {
            group: ax.bar(positions, [0] * months, 0.7, label=label, color=PALETTE[group],
                          edgecolor="white", linewidth=0.4)
            for group, label in CHART_GROUPS.items()
        }
        ax.tick_params(axis="both", labelsize=7)
        ax.set_ylabel(Y_LABEL, fontsize=7)
        ax.set_xlim(-0.6, months - 0.4)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.legend(ncols=len(CHART_GROUPS), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False,
                  fontsize=7, handlelength=1.2, columnspacing=1.2)
        if title:
            fig.suptitle(title, fontsize=9, y=0.99)
        self.empty_note = ax.text(0.5, 0.5, "Nenhuma ligação no período", transform=ax.transAxes, ha="center",
                                  va="center", fontsize=8, color="#555555")
        self.fig, self.ax, self.positions = fig, ax, positions

    def render(self, data: ChartData) -> bytes:
        bottom = [0] * len(self.positions)
        for group in CHART_GROUPS:
            values = data.counts.get(group, (0,) * len(self.positions))
            for rect, base, value in zip(self.bars[group], bottom, values):
                rect.set_y(base)
                rect.set_height(value)
            bottom = [b + v for b, v in zip(bottom, values)]
        self.ax.set_xticks(self.positions, [month_label(m) for m in data.months])
        top = max(bottom, default=0)
        self.empty_note.set_visible(top == 0)
        self.ax.set_ylim(0, top * 1.05 if top else 1)
        buffer = io.BytesIO()
        self.fig.savefig(buffer, format="png", metadata={"Software": None}, pil_kwargs={"compress_level": 1})
        return buffer.getvalue()


def render_png(data: ChartData, *, width_in: float = 7.2, height_in: float = 2.5, dpi: int = 110,
               title: str | None = None) -> bytes:
    """Stacked bars of ``data`` as PNG bytes (deterministic: the same data, the same bytes)."""
    key = (len(data.months), width_in, height_in, dpi, title)
    with _lock:  # matplotlib figures are not thread-safe
        canvas = _canvases.get(key)
        if canvas is None:
            canvas = _canvases[key] = _Canvas(*key)
        return canvas.render(data)
