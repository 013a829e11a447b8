"""The monthly chart: counts of calls by type (``billing.chart``)."""
from __future__ import annotations

import io
from datetime import datetime, timezone

from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing.chart import (
    FinishedMonthCounts,
    PALETTE,
    ChartData,
    chart_data,
    group_of,
    last_months,
    month_label,
    monthly_counts,
    render_png,
)
from painel.categories import CHART_GROUPS, Category
from painel.demo import run_demo
from painel.models import BILLED_DIRECTIONS, Cdr, Circuit

NOW = datetime(2026, 11, 20, 15, tzinfo=timezone.utc)


def test_last_months_cross_the_year() -> None:
    assert last_months("2026-02", 4) == ("2025-11", "2025-12", "2026-01", "2026-02")
    assert len(last_months("2026-10")) == 12 and last_months("2026-10")[0] == "2025-11"
    assert month_label("2026-10") == "10/26"


def test_every_category_has_a_group_and_unknowns_go_to_outros() -> None:
    assert {group_of(c.value) for c in Category} == set(CHART_GROUPS)
    assert group_of("movel_vc3") == "movel" and group_of("ldi") == "ldi"
    assert group_of(None) == "outros" and group_of("nova_categoria") == "outros"


def test_chart_data_folds_rows_and_ignores_months_outside() -> None:
    months = last_months("2026-10", 3)
    data = chart_data([("2026-10", "local_fixo", 4), ("2026-10", "movel_vc1", 2), ("2026-10", "movel_vc2", 1),
                       ("2026-09", "ldn_fixo", 3), ("2026-08", "especial", 5), ("2026-08", None, 1),
                       ("2026-07", "local_fixo", 99), ("2026-11", "ldi", 99)], months)
    assert data.months == ("2026-08", "2026-09", "2026-10")
    assert data.counts == {"local": (0, 0, 4), "ldn": (0, 3, 0), "ldi": (0, 0, 0), "movel": (0, 0, 3),
                           "outros": (6, 0, 0)}
    assert data.total == 16 and data.month_total(2) == 7


def test_monthly_counts_are_answered_calls_placed_by_the_circuit(demo_db, settings) -> None:  # type: ignore[no-untyped-def]
    run_demo(settings, demo_db, now=NOW, calls_per_day=1.0)
    with Session(demo_db) as s:
        circuit_id = s.scalar(select(Circuit.id).where(Circuit.number == "8011441"))
        data = monthly_counts(s, [circuit_id], "2026-11")
        for i, month in enumerate(data.months):
            expected = s.scalar(select(func.count()).select_from(Cdr).where(
                Cdr.circuit_id == circuit_id, Cdr.bill_month == month, Cdr.role == "call",
                Cdr.direction.in_(BILLED_DIRECTIONS), Cdr.billsec > 0))
            assert data.month_total(i) == expected
        received = s.scalar(select(func.count()).select_from(Cdr).where(
            Cdr.circuit_id == circuit_id, Cdr.direction == "inbound", Cdr.bill_month == "2026-10"))
        assert received > 0, "received calls exist but are not counted"
        assert data.months[-4:] == ("2026-08", "2026-09", "2026-10", "2026-11")
        assert all(data.month_total(i) > 0 for i in range(8, 12))
        assert all(data.month_total(i) == 0 for i in range(0, 8))
        assert monthly_counts(s, [], "2026-11").total == 0


def test_finished_months_come_from_the_cache_and_the_current_month_is_live(demo_db, settings) -> None:  # type: ignore[no-untyped-def]
    from cdr_ingest.pipeline import Ingester
    from cdr_ingest.synth import json_cdr, scenario_call

    run_demo(settings, demo_db, now=NOW, calls_per_day=1.0)
    clock = [1000.0]
    cache = FinishedMonthCounts(ttl=300, clock=lambda: clock[0])
    ingester = Ingester(demo_db, settings)

    def place(start: datetime, seed: str) -> None:
        call = scenario_call("outbound", circuit="8011441", did=None, other="0218632221234",
                             start_epoch=int(start.timestamp()), talk_seconds=60, uuid_seed=seed)
        assert ingester.ingest_items([ingester.json_item(json_cdr(call.a), seed)]).rated == 1

    with Session(demo_db) as s:
        cid = s.scalar(select(Circuit.id).where(Circuit.number == "8011441"))
        plain = monthly_counts(s, [cid], "2026-11")
        cached = monthly_counts(s, [cid], "2026-11", current_month="2026-11", cache=cache)
        assert cached == plain
    place(datetime(2026, 10, 10, 15, tzinfo=timezone.utc), "late-october")
    place(datetime(2026, 11, 19, 15, tzinfo=timezone.utc), "this-month")
    with Session(demo_db) as s:
        fresh = monthly_counts(s, [cid], "2026-11")
        seen = monthly_counts(s, [cid], "2026-11", current_month="2026-11", cache=cache)
        # November is counted now; October comes from the cache until the entry expires
        assert seen.month_total(11) == fresh.month_total(11) == plain.month_total(11) + 1
        assert seen.month_total(10) == plain.month_total(10) == fresh.month_total(10) - 1
        clock[0] += 301
        assert monthly_counts(s, [cid], "2026-11", current_month="2026-11", cache=cache) == fresh
        # a year in the past is all finished months: one cached entry, no live query needed
        assert monthly_counts(s, [cid], "2025-12", current_month="2026-11", cache=cache) == \
            monthly_counts(s, [cid], "2025-12")
    small = FinishedMonthCounts(ttl=300, max_entries=2, clock=lambda: clock[0])
    with Session(demo_db) as s:
        for end in ("2026-08", "2026-09", "2026-10"):
            monthly_counts(s, [cid], end, current_month="2026-11", cache=small)
    assert len(small._entries) == 2  # the oldest entry was dropped


def test_png_is_deterministic_sized_and_uses_the_palette() -> None:
    months = last_months("2026-10")
    data = chart_data([("2026-10", "local_fixo", 40), ("2026-09", "ldi", 3), ("2026-08", "movel_vc1", 12)], months)
    first, second = render_png(data), render_png(data)
    assert first == second and first.startswith(b"\x89PNG\r\n\x1a\n")
    assert b"Software" not in first and b"matplotlib" not in first  # no version stamp: same bytes on upgrade
    image = Image.open(io.BytesIO(first)).convert("RGB")
    assert image.size == (792, 275)
    colours = {rgb for _count, rgb in image.getcolors(maxcolors=1 << 20)}
    for group in ("local", "ldi", "movel"):
        rgb = tuple(int(PALETTE[group][i:i + 2], 16) for i in (1, 3, 5))
        assert rgb in colours, f"{group} bar drawn in {PALETTE[group]}"
    other = chart_data([("2026-10", "local_fixo", 41)], months)
    assert render_png(other) != first


def test_empty_chart_still_renders() -> None:
    data = ChartData(last_months("2026-10"), {g: (0,) * 12 for g in CHART_GROUPS})
    png = render_png(data, title="Gráfico Mensal dos Planos")
    assert png.startswith(b"\x89PNG") and Image.open(io.BytesIO(png)).size == (792, 275)


def test_reused_figure_gives_the_bytes_of_a_fresh_process() -> None:
    """The figure is reused between renders: earlier charts must leave no trace."""
    import subprocess
    import sys

    script = ("import sys; from billing.chart import chart_data, last_months, render_png; "
              "sys.stdout.buffer.write(render_png(chart_data([('2026-10', 'ldi', 7), ('2026-03', 'local_fixo', 2)], "
              "last_months('2026-10'))))")
    fresh = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True).stdout
    months = last_months("2026-10")
    render_png(chart_data([("2026-10", "local_fixo", 400), ("2026-01", "movel_vc1", 90)], months))
    render_png(chart_data([], months))
    assert render_png(chart_data([("2026-10", "ldi", 7), ("2026-03", "local_fixo", 2)], months)) == fresh
